//! YAML with locations, for the configuration and web configuration files: a tree
//! of the document that keeps the line of every key and value,
//! and a serde `Deserializer` over it.
//!
//! serde-saphyr parses the text, without panics and with the line of every node
//! (`Spanned`). Its typed deserializer, though, neither names the path of an error
//! nor keeps the line of a key, and words type errors its own way; reading the raw
//! settings from the tree instead gives each error serde's wording, its path
//! (`targets[1].app_key`) and the line of its node, and the tree then gives the rules
//! checked after parsing the line of each key.

use std::collections::HashSet;
use std::fmt;

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde_saphyr::{MessageFormatter as _, Spanned};

/// A refusal: the 1-based line, and the message with its path.
pub struct Error {
    pub line: usize,
    pub message: String,
}

/// The deepest nesting of collections read; a configuration needs under ten.
const MAX_DEPTH: usize = 32;
/// The most parser events aliases may replay in one document.
const MAX_REPLAYED_EVENTS: usize = 50_000;

/// Parses `text` and reads a `T` from it; returns the tree too, for the lines
/// of keys.
pub(crate) fn parse<T: DeserializeOwned>(text: &str) -> Result<(Node, T), Error> {
    let options = serde_saphyr::options! {
        // A repeated key is refused by `At`, at its own line.
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        // `<<` stays an ordinary key, and so an unknown one, as before.
        merge_keys: serde_saphyr::MergeKeyPolicy::AsOrdinary,
        // Bounds far above any configuration's, far below harm: the tree is
        // built recursively, some 35 KiB of stack a level in a debug build, on
        // a 2 MiB worker thread for a reload; and an alias bomb stops at about
        // 15 MB of tree instead of the default's 80 MB.
        budget: serde_saphyr::budget! { max_depth: MAX_DEPTH },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_REPLAYED_EVENTS,
        },
    };
    let tree: Node = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let message = match e.without_snippet() {
            // Its own text names the library's functions.
            serde_saphyr::Error::MultipleDocuments { .. } => {
                "deserializing from YAML containing more than one document is not supported".into()
            }
            e => serde_saphyr::DefaultMessageFormatter
                .format_message(e)
                .into(),
        };
        let line = e.location().map_or(1, |l| line_of(&l));
        Error { line, message }
    })?;
    let at = At {
        node: &tree,
        path: Path::Root,
        source: text,
    };
    let value = T::deserialize(at).map_err(|e| Error {
        line: e.line.unwrap_or(1),
        message: hint(e.message),
    })?;
    Ok((tree, value))
}

/// One item of a top-level list in the tree (`targets[1]`), to be read again as
/// another type, such as a provider's own keys, with the same wording, paths and
/// lines as the first reading.
pub struct Entry<'a> {
    node: &'a Node,
    source: &'a str,
    list: &'static str,
    index: usize,
}

impl<'a> Entry<'a> {
    /// Item `index` of the top-level list `list`, if the tree has it.
    pub(crate) fn new(
        tree: &'a Node,
        source: &'a str,
        list: &'static str,
        index: usize,
    ) -> Option<Self> {
        let node = tree.entry(list)?.1.item(index)?;
        Some(Entry {
            node,
            source,
            list,
            index,
        })
    }

    /// Reads the whole item as a `T`; keys `T` does not name are skipped unless
    /// `T` denies unknown fields.
    pub fn read<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let list = Path::Key(&Path::Root, self.list);
        let at = At {
            node: self.node,
            path: Path::Index(&list, self.index),
            source: self.source,
        };
        T::deserialize(at).map_err(|e| Error {
            line: e.line.unwrap_or_else(|| self.node.line()),
            message: hint(e.message),
        })
    }

    /// Reads the value of `key` as a `T`; `None` when the item has no such key.
    pub fn read_key<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        let Some((_, value)) = self.node.entry(key) else {
            return Ok(None);
        };
        let list = Path::Key(&Path::Root, self.list);
        let item = Path::Index(&list, self.index);
        let at = At {
            node: value,
            path: Path::Key(&item, key),
            source: self.source,
        };
        T::deserialize(at).map(Some).map_err(|e| Error {
            line: e.line.unwrap_or_else(|| value.line()),
            message: hint(e.message),
        })
    }

    /// The line the item starts on.
    pub fn line(&self) -> usize {
        self.node.line()
    }

    /// The item's keys that are strings, with their lines, in the document's order.
    pub fn keys(&self) -> Vec<(&'a str, usize)> {
        match &self.node.0.value {
            Value::Map(entries) => entries
                .iter()
                .filter_map(|(k, _)| match &k.0.value {
                    Value::Str(name) => Some((name.as_str(), k.line())),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn line_of(location: &serde_saphyr::Location) -> usize {
    usize::try_from(location.line()).unwrap_or(1).max(1)
}

/// A node, with where it is used (an alias's own place) and where it is defined.
#[derive(serde::Deserialize)]
#[serde(transparent)]
pub struct Node(Spanned<Value>);

enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys and values in the document's order, repeated keys included.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The line the node starts on.
    pub fn line(&self) -> usize {
        line_of(&self.0.referenced)
    }

    /// The key and value of `key`, when this is a mapping that has it.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.0.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.0.value, Value::Str(s) if s == key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// Item `index`, when this is a sequence that has it.
    pub fn item(&self, index: usize) -> Option<&Node> {
        match &self.0.value {
            Value::Seq(items) => items.get(index),
            _ => None,
        }
    }

    /// A string's value, or another scalar as written in `source` (`0012`, `yes`,
    /// `~`); `None` for a sequence or a mapping.
    fn text<'a>(&'a self, source: &'a str) -> Option<&'a str> {
        match &self.0.value {
            Value::Str(s) => Some(s),
            Value::Seq(_) | Value::Map(_) => None,
            _ => {
                let span = self.0.defined.span();
                let start = usize::try_from(span.byte_offset()?).ok()?;
                let end = start.checked_add(usize::try_from(span.byte_len()?).ok()?)?;
                source.get(start..end)
            }
        }
    }
}

impl<'de> de::Deserialize<'de> for Value {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML node")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Int(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Int(n.into()))
    }
    fn visit_i128<E>(self, n: i128) -> Result<Value, E> {
        Ok(Value::Int(n))
    }
    fn visit_u128<E>(self, n: u128) -> Result<Value, E> {
        Ok(i128::try_from(n).map_or(Value::Float(n as f64), Value::Int))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(Value::Float(x))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(s.to_owned()))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Value::Map(entries))
    }
}

/// Where a node sits, written as serde_yaml did: `targets[1].app_key`.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, key) => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// An error on its way up; the innermost node that sees it gives it its line
/// and path.
#[derive(Debug)]
struct Located {
    line: Option<usize>,
    message: String,
}

impl de::Error for Located {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Located {
            line: None,
            message: message.to_string(),
        }
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Located {}

/// A node, its path and the text it was parsed from, read the way serde_yaml
/// read YAML: a scalar as written when a string is asked for, by its meaning
/// otherwise; an empty value as an empty list or mapping.
#[derive(Clone, Copy)]
struct At<'a> {
    node: &'a Node,
    path: Path<'a>,
    source: &'a str,
}

impl<'a> At<'a> {
    fn locate<T>(self, result: Result<T, Located>) -> Result<T, Located> {
        result.map_err(|mut e| {
            if e.line.is_none() {
                e.line = Some(self.node.line());
                if !matches!(self.path, Path::Root) {
                    e.message = format!("{}: {}", self.path, e.message);
                }
            }
            e
        })
    }

    fn text(self) -> Option<&'a str> {
        self.node.text(self.source)
    }

    fn is_empty(self) -> bool {
        matches!(self.node.0.value, Value::Null) && self.text() == Some("")
    }

    fn visit_int<'de, V: Visitor<'de>>(n: i128, v: V) -> Result<V::Value, Located> {
        match (u64::try_from(n), i64::try_from(n)) {
            (Ok(n), _) => v.visit_u64(n),
            (_, Ok(n)) => v.visit_i64(n),
            _ if n > 0 => v.visit_u128(n.unsigned_abs()),
            _ => v.visit_i128(n),
        }
    }

    fn visit_map<'de, V: Visitor<'de>>(
        self,
        entries: &[(Node, Node)],
        v: V,
    ) -> Result<V::Value, Located> {
        let key = |node| At { node, ..self };
        let mut seen = HashSet::new();
        if let Some((k, name)) = entries.iter().find_map(|(k, _)| {
            key(k)
                .text()
                .filter(|name| !seen.insert(*name))
                .map(|name| (k, name))
        }) {
            let repeated = de::Error::custom(format_args!("duplicate field `{name}`"));
            return key(k).locate(Err(repeated));
        }
        let path = &self.path;
        v.visit_map(MapDeserializer::new(entries.iter().map(|(k, value)| {
            let name = key(k).text().unwrap_or_default();
            let value = At {
                node: value,
                path: Path::Key(path, name),
                ..self
            };
            (key(k), value)
        })))
    }
}

impl<'de> IntoDeserializer<'de, Located> for At<'_> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for At<'_> {
    type Error = Located;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Located> {
        let result = match &self.node.0.value {
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(*b),
            Value::Int(n) => At::visit_int(*n, v),
            // YAML 1.2 reads `0012` as the integer 12.
            Value::Float(x) => match self.text().map(str::parse) {
                Some(Ok(n)) => At::visit_int(n, v),
                _ => v.visit_f64(*x),
            },
            Value::Str(s) => v.visit_str(s),
            Value::Seq(items) => {
                let path = &self.path;
                v.visit_seq(SeqDeserializer::new(items.iter().enumerate().map(
                    |(index, node)| At {
                        node,
                        path: Path::Index(path, index),
                        ..self
                    },
                )))
            }
            Value::Map(entries) => self.visit_map(entries, v),
        };
        self.locate(result)
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Located> {
        match self.text() {
            Some(text) => self.locate(v.visit_str(text)),
            None => self.deserialize_any(v),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Located> {
        self.deserialize_str(v)
    }

    /// Keys are strings as written: `1:` is the unknown field `1`.
    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Located> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Located> {
        match self.node.0.value {
            Value::Null => self.locate(v.visit_none()),
            _ => self.locate(v.visit_some(self)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Located> {
        match self.text() {
            Some(text) => self.locate(v.visit_enum(text.into_deserializer())),
            None => self.deserialize_any(v),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, Located> {
        self.locate(v.visit_newtype_struct(self))
    }

    /// A negative number is of the wrong type for an unsigned one, as serde_yaml said.
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Located> {
        match self.node.0.value {
            Value::Int(n) if n < 0 => {
                let n = i64::try_from(n).unwrap_or(i64::MIN);
                self.locate(Err(de::Error::invalid_type(de::Unexpected::Signed(n), &v)))
            }
            _ => self.deserialize_any(v),
        }
    }

    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Located> {
        self.deserialize_u64(v)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Located> {
        if self.is_empty() {
            return self.locate(v.visit_seq(SeqDeserializer::new(std::iter::empty::<At>())));
        }
        self.deserialize_any(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Located> {
        if self.is_empty() {
            return self.locate(self.visit_map(&[], v));
        }
        if let Value::Seq(_) = self.node.0.value {
            // A derived struct would take a list as its fields in order.
            return self.locate(Err(de::Error::invalid_type(de::Unexpected::Seq, &v)));
        }
        self.deserialize_any(v)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Located> {
        self.deserialize_map(v)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u128 f32 f64 char bytes byte_buf unit
        unit_struct tuple tuple_struct ignored_any
    }
}

/// Adds what helps to a refusal: the nearest known key to an unknown one
/// (`app_key_flie` → `app_key_file`), and the unit a bare number lacks where a
/// duration is expected (`60` → `60s`).
pub(crate) fn hint(message: String) -> String {
    if let Some(rest) = message.split("unknown field `").nth(1) {
        if let Some((unknown, expected)) = rest.split_once("`, expected one of ") {
            let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
            if let Some(near) = nearest(unknown, &known) {
                return format!("{message} (did you mean `{near}`?)");
            }
        }
    }
    if message.ends_with("expected a duration") {
        let number = message
            .split("string \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || c == '.'));
        return match number {
            Some(n) => format!("{message}: a duration has a unit, such as \"{n}s\" or \"{n}m\""),
            None => format!("{message} such as \"30s\", \"5m\" or \"1h30m\""),
        };
    }
    message
}

/// The known name closest to `unknown` by edit distance, if it is close enough
/// to be a slip: at most 2 edits, and fewer than a third of the name.
pub(crate) fn nearest<'a>(unknown: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(unknown, k), *k))
        .filter(|(d, k)| *d <= 2 && *d * 3 < k.chars().count().max(3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, with a swap of two neighbours counting as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_suggest_the_nearest_key_and_a_durations_unit() {
        let unknown =
            "unknown field `app_key_flie`, expected one of `name`, `app_key`, `app_key_file`"
                .to_owned();
        assert!(hint(unknown).ends_with("(did you mean `app_key_file`?)"));
        let far = "unknown field `colour`, expected one of `name`, `interval`".to_owned();
        assert_eq!(hint(far.clone()), far);
        let bare = "interval: invalid value: string \"60\", expected a duration".to_owned();
        assert!(hint(bare).ends_with(": a duration has a unit, such as \"60s\" or \"60m\""));
        let other = "interval: invalid value: string \"soon\", expected a duration".to_owned();
        assert!(hint(other).contains("such as \"30s\""));
        assert_eq!(
            nearest("intervall", &["interval", "timeout"]),
            Some("interval")
        );
        assert_eq!(
            nearest("tiemout", &["interval", "timeout"]),
            Some("timeout")
        );
        assert_eq!(nearest("x", &["y"]), None);
    }
}
