//! Label matchers, as Alertmanager writes and reads them: the `matchers:`,
//! `source_matchers:` and `target_matchers:` lists of routes and inhibition
//! rules, the `filter` of `GET /api/v2/alerts`, and the matchers of silences
//! (`{"name", "value", "isRegex", "isEqual"}` in API v2).
//!
//! This module owns the syntax and the meaning of one matcher ([`Matcher`]) and
//! of a list of them ([`Matchers`]): parsing (`name="value"`, `name!="v"`,
//! `name=~"re"`, `name!~"re"`, unquoted values, `\"`, `\\` and `\n` inside
//! quotes, the `{a="b", c=~"d"}` list), matching a label set (a missing label
//! is the empty string), and the canonical text (`name="value"`).
//!
//! Parsing follows Alertmanager's default mode (neither `classic-mode` nor
//! `utf8-strict-mode`): the classic parser (`pkg/labels/parse.go`) decides when
//! it accepts the input; what only the UTF-8 parser (`matcher/parse`) accepts,
//! such as a quoted label name (`"service.name"="x"`), is taken from that
//! parser; what neither accepts is refused with the classic parser's reason.
//!
//! Regular expressions are anchored as Alertmanager does (`^(?:re)$`) and read
//! with Go's RE2 meaning: `\d`, `\s`, `\w` and `\b` are ASCII-only as in Go
//! (the `regex` crate would make them Unicode-aware), `\Q…\E` quotes, octal
//! escapes work, and `&`, `~` and `[` inside a class are plain characters.

use std::collections::BTreeMap;
use std::fmt;

use regex::{Regex, RegexBuilder};

/// How a matcher compares a label's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchOp {
    /// `=`: the value equals.
    Equal,
    /// `!=`: the value differs.
    NotEqual,
    /// `=~`: the whole value matches the regular expression.
    Regex,
    /// `!~`: the whole value does not match the regular expression.
    NotRegex,
}

impl MatchOp {
    /// The operator as written: `=`, `!=`, `=~` or `!~`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }

    /// Whether the value is a regular expression (`=~`, `!~`): API v2's `isRegex`.
    pub fn is_regex(self) -> bool {
        matches!(self, MatchOp::Regex | MatchOp::NotRegex)
    }

    /// Whether the operator selects what matches (`=`, `=~`): API v2's `isEqual`.
    pub fn is_equal(self) -> bool {
        matches!(self, MatchOp::Equal | MatchOp::Regex)
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One label matcher: a label name, an operator and a value (a regular
/// expression for `=~` and `!~`, compiled once).
#[derive(Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// A matcher from its parts, as Alertmanager's `NewMatcher`: a regular
    /// expression is compiled anchored (`^(?:value)$`); the name is not checked.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Matcher, String> {
        let value = value.into();
        let regex = if op.is_regex() {
            Some(compile_anchored(&value)?)
        } else {
            None
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            regex,
        })
    }

    /// Parses one matcher (`severity="critical"`, `target=~"lite-.*"`,
    /// `severity=critical`), as Alertmanager reads one matcher (the API's
    /// `filter`): braces are refused here; [`Matchers::parse`] reads lists.
    pub fn parse(input: &str) -> Result<Matcher, String> {
        if input.starts_with('{') || input.ends_with('}') {
            return Err(format!("unexpected open or close brace: {input}"));
        }
        match parse_classic(input) {
            Ok(m) => Ok(m),
            Err(classic) => match utf8::matchers(input) {
                Some(mut one) if one.len() == 1 => Ok(one.remove(0)),
                _ => Err(classic),
            },
        }
    }

    /// A matcher in API v2's JSON form (`{"name", "value", "isRegex",
    /// "isEqual"}`; `isEqual` defaults to true, `isRegex` to false). The name
    /// must not be empty, a regular expression must compile.
    pub fn from_api(
        name: &str,
        value: &str,
        is_regex: bool,
        is_equal: bool,
    ) -> Result<Matcher, String> {
        if name.is_empty() {
            return Err(format!("invalid label name {}", go_quote(name)));
        }
        let op = match (is_regex, is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        };
        Matcher::new(name, op, value)
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The value as written (a regular expression without the anchors).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether the label set matches; a missing label is the empty string.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }

    /// Whether a label value matches.
    pub fn matches_value(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            (_, None) => unreachable!("regex matchers are built with their regex"),
        }
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Matcher({self})")
    }
}

/// The canonical text, as Alertmanager's `String()`: `name="value"` with `\`,
/// `"` and line feeds escaped; a name that the classic syntax cannot carry
/// (spaces, `{}!=~,\"'` or a backquote) is quoted, and then so is the value,
/// as Go's `strconv.Quote` does.
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.chars().any(is_reserved) {
            write!(
                f,
                "{}{}{}",
                go_quote(&self.name),
                self.op,
                go_quote(&self.value)
            )
        } else {
            let value = self
                .value
                .replace('\\', r"\\")
                .replace('\n', r"\n")
                .replace('"', "\\\"");
            write!(f, "{}{}\"{value}\"", self.name, self.op)
        }
    }
}

/// A list of matchers that all have to match (an empty list matches everything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matchers(Vec<Matcher>);

impl Matchers {
    /// Parses a comma-separated list, as Alertmanager reads each line of a
    /// `matchers:` list: `{foo="bar", baz=~"q.*"}`, `foo=bar,dings!=bums`, with
    /// optional braces and a trailing comma; commas inside double quotes do not
    /// separate. `{}` and the empty string are the empty list.
    pub fn parse(input: &str) -> Result<Matchers, String> {
        match parse_classic_list(input) {
            Ok(list) => Ok(Matchers(list)),
            Err(classic) => utf8::matchers(input).map(Matchers).ok_or(classic),
        }
    }

    /// Whether every matcher matches the label set.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|m| m.matches(labels))
    }

    /// Sorts as Alertmanager sorts a route's or a rule's matchers: by name,
    /// then value, then operator (`=`, `!=`, `=~`, `!~`).
    pub fn sort(&mut self) {
        self.0
            .sort_by(|a, b| (&a.name, &a.value, a.op).cmp(&(&b.name, &b.value, b.op)));
    }

    /// The matchers.
    pub fn as_slice(&self) -> &[Matcher] {
        &self.0
    }

    /// Whether the list is empty (it then matches every label set).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends a matcher.
    pub fn push(&mut self, matcher: Matcher) {
        self.0.push(matcher);
    }
}

impl From<Vec<Matcher>> for Matchers {
    fn from(list: Vec<Matcher>) -> Self {
        Matchers(list)
    }
}

impl IntoIterator for Matchers {
    type Item = Matcher;
    type IntoIter = std::vec::IntoIter<Matcher>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Matchers {
    type Item = &'a Matcher;
    type IntoIter = std::slice::Iter<'a, Matcher>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// `{a="b",c=~"d"}`, as Alertmanager writes a list (route keys use it).
impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

/// Characters that make a label name need quotes (Alertmanager's `isReserved`).
fn is_reserved(c: char) -> bool {
    c.is_whitespace() || "{}!=~,\\\"'`".contains(c)
}

/// Whitespace as Go's regexp `\s` (`[\t\n\f\r ]`), which the classic parser uses.
fn is_go_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// The classic list parser (`labels.ParseMatchers`): one optional leading `{`
/// and trailing `}` trimmed, split at commas outside double quotes.
fn parse_classic_list(input: &str) -> Result<Vec<Matcher>, String> {
    let s = input.strip_prefix('{').unwrap_or(input);
    let s = s.strip_suffix('}').unwrap_or(s);
    let mut tokens = Vec::new();
    let (mut inside_quotes, mut escaped) = (false, false);
    let mut token = String::new();
    for c in s.chars() {
        match c {
            ',' if !inside_quotes => {
                tokens.push(std::mem::take(&mut token));
                continue;
            }
            // A comma inside quotes leaves `escaped` as it was, as in Go.
            ',' => {}
            '"' if escaped => escaped = false,
            '"' => inside_quotes = !inside_quotes,
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
        token.push(c);
    }
    let last = token.trim();
    if !last.is_empty() {
        tokens.push(last.to_owned());
    }
    tokens.iter().map(|t| parse_classic(t)).collect()
}

/// The classic parser of one matcher (`labels.ParseMatcher`): a label name,
/// an operator, and a value that may be double-quoted, with `\"`, `\\` and `\n`
/// escapes; any other backslash is literal.
fn parse_classic(input: &str) -> Result<Matcher, String> {
    let bad = || format!("bad matcher format: {input}");
    let rest = input.trim_start_matches(is_go_space);
    let name_len = rest
        .char_indices()
        .find(|&(i, c)| {
            let ok =
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit());
            !ok
        })
        .map_or(rest.len(), |(i, _)| i);
    if name_len == 0 {
        return Err(bad());
    }
    let (name, rest) = rest.split_at(name_len);
    let rest = rest.trim_start_matches(is_go_space);
    let (op, rest) = if let Some(r) = rest.strip_prefix("=~") {
        (MatchOp::Regex, r)
    } else if let Some(r) = rest.strip_prefix('=') {
        (MatchOp::Equal, r)
    } else if let Some(r) = rest.strip_prefix("!=") {
        (MatchOp::NotEqual, r)
    } else if let Some(r) = rest.strip_prefix("!~") {
        (MatchOp::NotRegex, r)
    } else {
        return Err(bad());
    };
    let raw = rest.trim_matches(is_go_space);
    let unescaped_quote = || format!("matcher value contains unescaped double quote: {raw}");
    let (body, mut expect_trailing_quote) = match raw.strip_prefix('"') {
        Some(body) => (body, true),
        None => (raw, false),
    };
    let mut value = String::with_capacity(body.len());
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        let last = i + c.len_utf8() == body.len();
        if escaped {
            escaped = false;
            match c {
                'n' => value.push('\n'),
                '"' | '\\' => value.push(c),
                _ => {
                    value.push('\\');
                    value.push(c);
                }
            }
            continue;
        }
        match c {
            '\\' if !last => escaped = true,
            '"' if !expect_trailing_quote || !last => return Err(unescaped_quote()),
            '"' => expect_trailing_quote = false,
            _ => value.push(c),
        }
    }
    if expect_trailing_quote {
        return Err(unescaped_quote());
    }
    Matcher::new(name, op, value)
}

/// The UTF-8 parser (`matcher/parse`), asked only when the classic parser
/// refuses an input: its result when it accepts the input, `None` otherwise
/// (the classic parser's reason is the one reported).
mod utf8 {
    use super::{is_reserved, MatchOp, Matcher};

    #[derive(Debug, PartialEq)]
    enum Token {
        Open,
        Close,
        Comma,
        Op(MatchOp),
        Quoted(String),
        Unquoted(String),
    }

    fn lex(input: &str) -> Option<Vec<Token>> {
        let mut tokens = Vec::new();
        let mut chars = input.char_indices().peekable();
        while let Some((start, c)) = chars.next() {
            let token = match c {
                '{' => Token::Open,
                '}' => Token::Close,
                ',' => Token::Comma,
                '=' if chars.next_if(|&(_, c)| c == '~').is_some() => Token::Op(MatchOp::Regex),
                '=' => Token::Op(MatchOp::Equal),
                '!' => match chars.next()?.1 {
                    '=' => Token::Op(MatchOp::NotEqual),
                    '~' => Token::Op(MatchOp::NotRegex),
                    _ => return None,
                },
                '"' => {
                    let mut escaped = false;
                    let mut end = None;
                    for (i, c) in chars.by_ref() {
                        if escaped {
                            escaped = false;
                        } else if c == '\\' {
                            escaped = true;
                        } else if c == '"' {
                            end = Some(i);
                            break;
                        }
                    }
                    Token::Quoted(unquote(&input[start + 1..end?])?)
                }
                c if c.is_whitespace() => continue,
                c if !is_reserved(c) => {
                    let mut end = input.len();
                    while let Some(&(i, c)) = chars.peek() {
                        if is_reserved(c) {
                            end = i;
                            break;
                        }
                        chars.next();
                    }
                    Token::Unquoted(input[start..end].to_owned())
                }
                _ => return None,
            };
            tokens.push(token);
        }
        Some(tokens)
    }

    /// Go's `strconv.Unquote` of the inside of a double-quoted string.
    fn unquote(s: &str) -> Option<String> {
        if s.contains('\n') {
            return None;
        }
        let mut out = Vec::with_capacity(s.len());
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            let hex = |chars: &mut std::str::Chars, n: usize| -> Option<u32> {
                let digits: String = chars.by_ref().take(n).collect();
                (digits.len() == n).then_some(())?;
                u32::from_str_radix(&digits, 16).ok()
            };
            let simple = match chars.next()? {
                'a' => Some(0x07),
                'b' => Some(0x08),
                'f' => Some(0x0c),
                'n' => Some(b'\n'),
                'r' => Some(b'\r'),
                't' => Some(b'\t'),
                'v' => Some(0x0b),
                '\\' => Some(b'\\'),
                '"' => Some(b'"'),
                'x' => Some(u8::try_from(hex(&mut chars, 2)?).ok()?),
                d @ '0'..='7' => {
                    let rest: String = chars.by_ref().take(2).collect();
                    let digits = format!("{d}{rest}");
                    (digits.len() == 3).then_some(())?;
                    Some(u8::try_from(u32::from_str_radix(&digits, 8).ok()?).ok()?)
                }
                'u' => {
                    let c = char::from_u32(hex(&mut chars, 4)?)?;
                    out.extend_from_slice(c.to_string().as_bytes());
                    None
                }
                'U' => {
                    let c = char::from_u32(hex(&mut chars, 8)?)?;
                    out.extend_from_slice(c.to_string().as_bytes());
                    None
                }
                _ => return None,
            };
            out.extend(simple);
        }
        String::from_utf8(out).ok()
    }

    fn text(token: Option<Token>) -> Option<String> {
        match token? {
            Token::Quoted(s) | Token::Unquoted(s) => Some(s),
            _ => None,
        }
    }

    /// The matchers of `input`, or `None` when the UTF-8 parser refuses it.
    pub(super) fn matchers(input: &str) -> Option<Vec<Matcher>> {
        let mut tokens = lex(input)?.into_iter().peekable();
        let open = tokens.next_if_eq(&Token::Open).is_some();
        let mut matchers = Vec::new();
        loop {
            if tokens.peek().is_none() || tokens.peek() == Some(&Token::Close) {
                break;
            }
            let name = text(tokens.next())?;
            let Some(Token::Op(op)) = tokens.next() else {
                return None;
            };
            let value = text(tokens.next())?;
            matchers.push(Matcher::new(name, op, value).ok()?);
            match tokens.peek() {
                None | Some(Token::Close) => break,
                Some(Token::Comma) => {
                    tokens.next();
                }
                Some(_) => return None,
            }
        }
        let close = tokens.next_if_eq(&Token::Close).is_some();
        (open == close && tokens.next().is_none()).then_some(matchers)
    }
}

/// Compiles `value` as Alertmanager does, `^(?:value)$`, with Go's meaning.
fn compile_anchored(value: &str) -> Result<Regex, String> {
    RegexBuilder::new(&format!("^(?:{})$", go_regex(value)))
        .octal(true)
        .build()
        .map_err(|e| {
            let reason = match &e {
                // The syntax error's last line says what is wrong; the lines
                // before it draw the pattern, which the message names anyway.
                regex::Error::Syntax(s) => s
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim_start_matches("error: ")
                    .to_owned(),
                other => other.to_string(),
            };
            format!("invalid regular expression {}: {reason}", go_quote(value))
        })
}

/// A Go (RE2) regular expression rewritten for the `regex` crate, so that it
/// means what it means in Go: the Perl classes `\d \s \w` (and negations) and
/// word boundaries are ASCII-only, `\Q…\E` quotes literally, and inside a
/// bracket class `[`, `&` and `~` are plain characters (the crate reads them as
/// nested classes and set operations).
fn go_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    // Inside a bracket class, and whether nothing of it has been read yet (a
    // `]` there is a literal).
    let (mut in_class, mut class_start) = (false, false);
    while let Some(c) = chars.next() {
        if c == '\\' {
            let Some(e) = chars.next() else {
                out.push('\\');
                break;
            };
            let perl = |class: &str, negated: bool| match (in_class, negated) {
                (true, false) => class.to_owned(),
                (_, true) => format!("[^{class}]"),
                (false, false) => format!("[{class}]"),
            };
            match e {
                'd' | 'D' => out.push_str(&perl("0-9", e == 'D')),
                's' | 'S' => out.push_str(&perl(r"\t\n\f\r ", e == 'S')),
                'w' | 'W' => out.push_str(&perl("0-9A-Za-z_", e == 'W')),
                'b' | 'B' if !in_class => out.push_str(&format!("(?-u:\\{e})")),
                'Q' if !in_class => {
                    let mut literal = String::new();
                    while let Some(q) = chars.next() {
                        if q == '\\' && chars.peek() == Some(&'E') {
                            chars.next();
                            break;
                        }
                        literal.push(q);
                    }
                    out.push_str(&regex::escape(&literal));
                }
                _ => {
                    out.push('\\');
                    out.push(e);
                }
            }
            class_start = false;
        } else if in_class {
            match c {
                ']' if !class_start => {
                    in_class = false;
                    out.push(']');
                }
                ']' => out.push_str(r"\]"),
                '[' if chars.peek() == Some(&':') => {
                    // `[:alpha:]`, copied through its `:]`.
                    out.push('[');
                    let mut prev = '[';
                    for n in chars.by_ref() {
                        out.push(n);
                        if prev == ':' && n == ']' {
                            break;
                        }
                        prev = n;
                    }
                }
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                _ => out.push(c),
            }
            class_start = false;
        } else {
            out.push(c);
            if c == '[' {
                in_class = true;
                class_start = true;
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
            }
        }
    }
    out
}

/// `s` in double quotes as Go's `strconv.Quote` writes it: `"` and `\`
/// escaped, control and other non-printing characters as `\n`, `\t`, `\x1b`,
/// `\u00a0`. (Go's test for "printing" is Unicode's categories; this treats
/// control characters, whitespace other than the space and the common
/// invisible format characters as non-printing.)
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str(r"\\"),
            '\x07' => out.push_str(r"\a"),
            '\x08' => out.push_str(r"\b"),
            '\x0c' => out.push_str(r"\f"),
            '\n' => out.push_str(r"\n"),
            '\r' => out.push_str(r"\r"),
            '\t' => out.push_str(r"\t"),
            '\x0b' => out.push_str(r"\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control()
                || (c.is_whitespace() && c != ' ')
                || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}') =>
            {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
        Matcher::new(name, op, value).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    use MatchOp::{Equal as Eq, NotEqual as Ne, NotRegex as Nre, Regex as Re};

    /// A matcher's parts, for tables.
    type Parts<'a> = (&'a str, MatchOp, &'a str);

    /// Alertmanager's own table for `ParseMatchers` (pkg/labels/parse_test.go).
    #[test]
    fn lists_parse_as_alertmanagers_classic_parser() {
        let accepted: &[(&str, &[Parts])] = &[
            ("{}", &[]),
            ("", &[]),
            ("{foo='}", &[("foo", Eq, "'")]),
            ("{foo=`}", &[("foo", Eq, "`")]),
            ("{foo=\\\"}", &[("foo", Eq, "\"")]),
            ("{foo=bar}", &[("foo", Eq, "bar")]),
            (r#"{foo="bar"}"#, &[("foo", Eq, "bar")]),
            ("{foo=~bar.*}", &[("foo", Re, "bar.*")]),
            (r#"{foo=~"bar.*"}"#, &[("foo", Re, "bar.*")]),
            ("{foo!=bar}", &[("foo", Ne, "bar")]),
            (r#"{foo!="bar"}"#, &[("foo", Ne, "bar")]),
            ("{foo!~bar.*}", &[("foo", Nre, "bar.*")]),
            (r#"{foo!~"bar.*"}"#, &[("foo", Nre, "bar.*")]),
            (
                r#"{foo="bar", baz!="quux"}"#,
                &[("foo", Eq, "bar"), ("baz", Ne, "quux")],
            ),
            (
                r#"{foo="bar",baz!~".*quux", derp="wat"}"#,
                &[
                    ("foo", Eq, "bar"),
                    ("baz", Nre, ".*quux"),
                    ("derp", Eq, "wat"),
                ],
            ),
            (
                r#"{foo="bar", instance=~"some-api.*"}"#,
                &[("foo", Eq, "bar"), ("instance", Re, "some-api.*")],
            ),
            (r#"{foo=""}"#, &[("foo", Eq, "")]),
            (
                r#"{foo="bar,quux", job="job1"}"#,
                &[("foo", Eq, "bar,quux"), ("job", Eq, "job1")],
            ),
            (
                r#"{foo = "bar", dings != "bums", }"#,
                &[("foo", Eq, "bar"), ("dings", Ne, "bums")],
            ),
            (
                "foo=bar,dings!=bums",
                &[("foo", Eq, "bar"), ("dings", Ne, "bums")],
            ),
            (
                r#"{quote="She said: \"Hi, ladies! That's gender-neutral…\""}"#,
                &[(
                    "quote",
                    Eq,
                    r#"She said: "Hi, ladies! That's gender-neutral…""#,
                )],
            ),
            (r#"statuscode=~"5..""#, &[("statuscode", Re, "5..")]),
            ("tricky=~~~", &[("tricky", Re, "~~")]),
            (r#"trickier==\\=\=\""#, &[("trickier", Eq, r#"=\=\=""#)]),
            (
                r#"contains_quote != "\"" , contains_comma !~ "foo,bar" , "#,
                &[
                    ("contains_quote", Ne, "\""),
                    ("contains_comma", Nre, "foo,bar"),
                ],
            ),
            ("{foo=bar}}", &[("foo", Eq, "bar}")]),
            ("{foo=bar}},}", &[("foo", Eq, "bar}}")]),
            ("{foo=,bar=}}", &[("foo", Eq, ""), ("bar", Eq, "}")]),
            (r"{foo=bar\t}", &[("foo", Eq, r"bar\t")]),
            (r"{foo=bar\n}", &[("foo", Eq, "bar\n")]),
            (r"{foo=bar\}", &[("foo", Eq, "bar\\")]),
            (r"{foo=bar\\}", &[("foo", Eq, "bar\\")]),
            (r#"{foo=bar\"}"#, &[("foo", Eq, "bar\"")]),
            ("job=", &[("job", Eq, "")]),
            ("{foo=", &[("foo", Eq, "")]),
            ("{foo=}b", &[("foo", Eq, "}b")]),
            // Only the UTF-8 parser reads these; Alertmanager's default mode
            // falls back to it.
            (r#"{"service.name"="api"}"#, &[("service.name", Eq, "api")]),
            (
                r#"{invalid-name = "valid label"}"#,
                &[("invalid-name", Eq, "valid label")],
            ),
        ];
        for (input, want) in accepted {
            let want: Vec<Matcher> = want.iter().map(|(n, o, v)| m(n, *o, v)).collect();
            let got = Matchers::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got.as_slice(), &want[..], "{input}");
        }
    }

    /// The refused half of Alertmanager's table, with its error texts.
    #[test]
    fn lists_refused_as_by_alertmanagers_classic_parser() {
        let refused: &[(&str, &str)] = &[
            (",", "bad matcher format: "),
            ("{,}", "bad matcher format: "),
            (
                r#"job="value"#,
                r#"matcher value contains unescaped double quote: "value"#,
            ),
            (
                r#"job=value""#,
                r#"matcher value contains unescaped double quote: value""#,
            ),
            (
                r#"trickier==\\=\=\"""#,
                r#"matcher value contains unescaped double quote: =\\=\=\"""#,
            ),
            (
                r#"contains_unescaped_quote = foo"bar"#,
                r#"matcher value contains unescaped double quote: foo"bar"#,
            ),
            (r#""{foo=\"bar"}"#, r#"bad matcher format: "{foo=\"bar""#),
            (r#""foo=\"bar""#, r#"bad matcher format: "foo=\"bar""#),
            (r#""foo=\"bar\"""#, r#"bad matcher format: "foo=\"bar\"""#),
            (r#""foo=\"bar\""#, r#"bad matcher format: "foo=\"bar\""#),
            (
                r#""{foo=\"bar\"}""#,
                r#"bad matcher format: "{foo=\"bar\"}""#,
            ),
            (r#""foo="bar"""#, r#"bad matcher format: "foo="bar"""#),
            ("{{foo=", "bad matcher format: {foo="),
            ("foo=bar,,baz=qux", "bad matcher format: "),
        ];
        for (input, reason) in refused {
            assert_eq!(Matchers::parse(input).unwrap_err(), *reason, "{input}");
        }
        let bad_regex = Matchers::parse(r#"{foo=~"invalid[regexp"}"#).unwrap_err();
        assert!(
            bad_regex.starts_with(r#"invalid regular expression "invalid[regexp": "#),
            "{bad_regex}"
        );
        assert!(!bad_regex.contains('\n'), "{bad_regex}");
    }

    #[test]
    fn one_matcher_parses_without_braces() {
        let cases: &[(&str, Parts)] = &[
            (r#"severity="critical""#, ("severity", Eq, "critical")),
            ("severity=critical", ("severity", Eq, "critical")),
            (r#"target=~"lite-.*""#, ("target", Re, "lite-.*")),
            (r#"target!~"lite-.*""#, ("target", Nre, "lite-.*")),
            (r#"  pool != "res"  "#, ("pool", Ne, "res")),
            (r#"a="x\\y\n\"z\"""#, ("a", Eq, "x\\y\n\"z\"")),
            // One matcher is not split at commas, as labels.ParseMatcher.
            ("a=b,c=d", ("a", Eq, "b,c=d")),
            ("le:gacy=1", ("le:gacy", Eq, "1")),
            // `a` equal to `=` in the classic syntax.
            ("a==", ("a", Eq, "=")),
            // Not a classic name, but the UTF-8 parser's unquoted name.
            ("1a=b", ("1a", Eq, "b")),
            (r#""quoted name"="v""#, ("quoted name", Eq, "v")),
            (r#"a="\u00e9\x41""#, ("a", Eq, r"\u00e9\x41")),
        ];
        for (input, (n, o, v)) in cases {
            let got = Matcher::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got, m(n, *o, v), "{input}");
        }
        for (input, reason) in [
            (r#"{a="b"}"#, r#"unexpected open or close brace: {a="b"}"#),
            ("a=b}", "unexpected open or close brace: a=b}"),
            ("", "bad matcher format: "),
            ("=b", "bad matcher format: =b"),
            ("a b=c", "bad matcher format: a b=c"),
        ] {
            assert_eq!(Matcher::parse(input).unwrap_err(), reason, "{input}");
        }
        assert!(Matcher::parse("a~b").is_err());
        assert!(Matcher::parse(r#"a=~"(""#).unwrap_err().contains(r#""(""#));
    }

    #[test]
    fn utf8_only_inputs_decode_go_escapes() {
        // The classic parser refuses a quoted name; the UTF-8 parser unquotes
        // both parts as Go does.
        let got = Matcher::parse(r#""a b"="\u00e9\x41\101\t""#).unwrap();
        assert_eq!(got, m("a b", Eq, "éAA\t"));
        assert!(Matcher::parse(r#""a b"="\q""#).is_err());
        assert!(Matcher::parse(r#""a b"="x"#).is_err());
        assert!(Matchers::parse(r#"{"a b"="x""#).is_err());
        assert!(Matchers::parse(r#""a b"="x"}"#).is_err());
        assert_eq!(
            Matchers::parse(r#"{"a b"="x", c=~"d",}"#)
                .unwrap()
                .as_slice(),
            &[m("a b", Eq, "x"), m("c", Re, "d")]
        );
    }

    #[test]
    fn api_form() {
        assert_eq!(
            Matcher::from_api("a", "b", false, true).unwrap(),
            m("a", Eq, "b")
        );
        assert_eq!(
            Matcher::from_api("a", "b", false, false).unwrap(),
            m("a", Ne, "b")
        );
        assert_eq!(
            Matcher::from_api("a", "b.*", true, true).unwrap(),
            m("a", Re, "b.*")
        );
        assert_eq!(
            Matcher::from_api("a", "b.*", true, false).unwrap(),
            m("a", Nre, "b.*")
        );
        assert_eq!(
            Matcher::from_api("", "b", false, true).unwrap_err(),
            r#"invalid label name """#
        );
        let e = Matcher::from_api("a", "(", true, true).unwrap_err();
        assert!(e.starts_with(r#"invalid regular expression "(": "#), "{e}");
        let r = m("a", Nre, "x");
        assert!(r.op().is_regex() && !r.op().is_equal());
    }

    #[test]
    fn matching_reads_a_missing_label_as_empty() {
        let set = labels(&[
            ("severity", "critical"),
            ("target", "lite-1"),
            ("empty", ""),
        ]);
        let cases = [
            (m("severity", Eq, "critical"), true),
            (m("severity", Ne, "critical"), false),
            (m("target", Re, "lite-.*"), true),
            // Anchored: a part of the value does not match.
            (m("target", Re, "lite"), false),
            (m("target", Re, "ite-1"), false),
            (m("target", Nre, "lite"), true),
            (m("missing", Eq, ""), true),
            (m("missing", Ne, ""), false),
            (m("missing", Re, ".*"), true),
            (m("missing", Re, ".+"), false),
            (m("missing", Nre, ".+"), true),
            (m("empty", Eq, ""), true),
            (m("severity", Re, "warning|critical"), true),
            // The alternation stays inside the anchors.
            (m("severity", Re, "crit|warning"), false),
        ];
        for (matcher, want) in cases {
            assert_eq!(matcher.matches(&set), want, "{matcher}");
        }
        let list = Matchers::parse(r#"{severity="critical", target=~"lite-.*"}"#).unwrap();
        assert!(list.matches(&set));
        assert!(!list.matches(&labels(&[("severity", "critical")])));
        assert!(Matchers::default().matches(&set));
    }

    #[test]
    fn regexes_mean_what_they_mean_in_go() {
        let cases: &[(&str, &str, bool)] = &[
            // Perl classes and word boundaries are ASCII in Go.
            (r"\d+", "123", true),
            (r"\d+", "١٢٣", false),
            (r"\w+", "abc_1", true),
            (r"\w+", "账户", false),
            (r"\W+", "账户", true),
            (r"[\w-]+", "a-b", true),
            (r"[^\d]+", "ab", true),
            (r"\s", "\u{a0}", false),
            (r"\S", "\u{a0}", true),
            (r".*\bb", "a b", true),
            (r".*\bb", "éb", true),
            // `&`, `~` and `[` are plain inside a class.
            (r"[a&&b]", "&", true),
            (r"[~~]", "~", true),
            (r"[[]", "[", true),
            (r"[]a]", "]", true),
            (r"[[:alpha:]]+", "abc", true),
            (r"\Qa.b\E", "a.b", true),
            (r"\Qa.b\E", "axb", false),
            (r"\101", "A", true),
            ("(?i)CRIT", "crit", true),
            // Go's concatenation with the anchors: `a)|(b` is `^(?:a)|(b)$`.
            ("a)|(b", "axx", true),
        ];
        for (re, value, want) in cases {
            let matcher = m("x", Re, re);
            assert_eq!(matcher.matches_value(value), *want, "{re} on {value:?}");
        }
    }

    #[test]
    fn display_is_alertmanagers_string() {
        let cases = [
            (m("a", Eq, "b"), r#"a="b""#),
            (m("a", Ne, ""), r#"a!="""#),
            (m("a", Re, "x.*"), r#"a=~"x.*""#),
            (m("a", Nre, "x"), r#"a!~"x""#),
            (m("a", Eq, "q\"\\\n"), r#"a="q\"\\\n""#),
            (m("a", Eq, "tab\there"), "a=\"tab\there\""),
            (m("a b", Eq, "tab\t"), r#""a b"="tab\t""#),
            (m("a=b", Re, "\u{a0}"), r#""a=b"=~"\u00a0""#),
        ];
        for (matcher, want) in cases {
            assert_eq!(matcher.to_string(), want);
        }
        let mut list = Matchers::parse(r#"b="1", a!="2", a="2", a=~"1""#).unwrap();
        list.sort();
        assert_eq!(list.to_string(), r#"{a=~"1",a="2",a!="2",b="1"}"#);
        // The canonical text parses back to the same matcher.
        for text in [r#"a="q\"\\\n""#, r#"a=~"x,y""#] {
            let once = Matcher::parse(text).unwrap();
            assert_eq!(Matcher::parse(&once.to_string()).unwrap(), once);
        }
    }
}
