//! Reading a custom provider's answers: RFC 6901 JSON pointers, checked when the
//! configuration is read, and the values they find read as numbers, labels,
//! flags and timestamps, each strictly (anything else is a decode error naming
//! the pointer, never a 0).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::units::{Number, Zone};

/// An RFC 6901 JSON pointer: empty (the whole answer) or `/`-separated tokens,
/// `~0` for `~` and `~1` for `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer(String);

impl Pointer {
    /// Checks `text` as a pointer.
    pub fn parse(text: &str) -> Result<Pointer, String> {
        if !text.is_empty() && !text.starts_with('/') {
            return Err(format!(
                "{text:?} is not a JSON pointer (RFC 6901): it must start with `/`, as in \"{}\"",
                pointer_for(text)
            ));
        }
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                return Err(format!(
                    "{text:?} is not a JSON pointer (RFC 6901): `~` must be followed by 0 (for `~`) or 1 (for `/`)"
                ));
            }
        }
        Ok(Pointer(text.to_owned()))
    }

    /// What the pointer finds in `value`.
    pub fn find<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        value.pointer(&self.0)
    }

    /// What the pointer finds, or the decode error's text naming it.
    pub fn get<'v>(&self, value: &'v Value) -> Result<&'v Value, String> {
        self.find(value)
            .ok_or_else(|| format!("{} finds nothing", self.shown()))
    }

    /// The pointer as people read it in an error (the empty one as `""`).
    pub fn shown(&self) -> String {
        if self.0.is_empty() {
            "\"\" (the whole answer)".into()
        } else {
            self.0.clone()
        }
    }

    /// A number (integer, float or numeric string) at the pointer.
    pub fn number(&self, value: &Value) -> Result<f64, String> {
        let found = self.get(value)?;
        number(found).ok_or_else(|| self.not_a("a number", found))
    }

    /// Label text at the pointer: a non-empty string, or a number.
    pub fn label(&self, value: &Value) -> Result<String, String> {
        let found = self.get(value)?;
        match found {
            Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(self.not_a("a non-empty string or a number", found)),
        }
    }

    /// Label text at the pointer that may be empty or null (a remark).
    pub fn optional_label(&self, value: &Value) -> Result<String, String> {
        match self.get(value)? {
            Value::Null => Ok(String::new()),
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            found => Err(self.not_a("a string, a number or null", found)),
        }
    }

    /// A flag at the pointer: `true`/`false`, `1`/`0`, or those as strings.
    pub fn flag(&self, value: &Value) -> Result<bool, String> {
        let found = self.get(value)?;
        let flag = match found {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.trim() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
            other => number(other).and_then(|n| {
                if n == 1.0 {
                    Some(true)
                } else if n == 0.0 {
                    Some(false)
                } else {
                    None
                }
            }),
        };
        flag.ok_or_else(|| self.not_a("true/false or 1/0", found))
    }

    /// A time at the pointer, in Unix seconds: a number (Unix seconds), RFC
    /// 3339, or a zone-less `YYYY-MM-DD HH:MM:SS` read in `zone`.
    pub fn timestamp(&self, value: &Value, zone: Zone) -> Result<i64, String> {
        let found = self.get(value)?;
        let unix = match found {
            Value::String(s) => match s.trim().parse::<f64>() {
                Ok(n) if n.is_finite() => Some(n),
                _ => zone.parse_timestamp(s).map(|t| t as f64),
            },
            other => number(other),
        };
        let Some(unix) = unix else {
            return Err(self.not_a("Unix seconds, RFC 3339 or \"YYYY-MM-DD HH:MM:SS\"", found));
        };
        if !(0.0..=MAX_UNIX_SECONDS).contains(&unix) {
            return Err(format!(
                "{} is {unix}, not a time in Unix seconds (milliseconds?)",
                self.shown()
            ));
        }
        Ok(unix.round() as i64)
    }

    fn not_a(&self, expected: &str, found: &Value) -> String {
        format!("{} is {}, not {expected}", self.shown(), describe(found))
    }
}

/// The pointer a JSONPath-like text (`$.data.list[0]`) most likely means
/// (`/data/list/0`), for a hint.
fn pointer_for(text: &str) -> String {
    let path = text
        .trim_start_matches('$')
        .replace('[', ".")
        .replace(']', "");
    let tokens: Vec<_> = path.split('.').filter(|t| !t.is_empty()).collect();
    format!("/{}", tokens.join("/"))
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Pointer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Checked(
            "a JSON pointer such as /data/remaining",
            Pointer::parse,
        ))
    }
}

/// A visitor of a string that checks it as it reads it, so that the YAML reader
/// names the value's own path and line in a refusal.
pub(super) struct Checked<T>(pub &'static str, pub fn(&str) -> Result<T, String>);

impl<T> Visitor<'_> for Checked<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        (self.1)(text).map_err(E::custom)
    }
}

/// The latest time read as Unix seconds: the year 5138. Beyond it a number is
/// most likely in milliseconds.
const MAX_UNIX_SECONDS: f64 = 1e11;

/// A value for an error message: a scalar as its JSON text (shortened), an object
/// or an array by its size only, as it may hold anything (an account's password).
pub fn describe(value: &Value) -> String {
    match value {
        Value::Object(fields) => format!("an object with {} keys", fields.len()),
        Value::Array(items) => format!("an array of {} items", items.len()),
        scalar => shorten(&scalar.to_string()),
    }
}

/// A JSON integer, float or numeric string as a number.
pub fn number(value: &Value) -> Option<f64> {
    Number::deserialize(value).ok().map(|n| n.0)
}

/// Whether an answer's `value` is the configured `expected` one: numbers
/// (numeric strings included) by value, anything else exactly.
pub fn same(value: &Value, expected: &Value) -> bool {
    let numeric = |v: &Value| match v {
        Value::Number(_) | Value::String(_) => number(v),
        _ => None,
    };
    match (numeric(value), numeric(expected)) {
        (Some(a), Some(b)) => a == b,
        _ => value == expected,
    }
}

/// A value's JSON text for an error message, at most 60 characters.
pub fn shorten(text: &str) -> String {
    let mut short: String = text.chars().filter(|c| !c.is_control()).take(60).collect();
    if text.chars().count() > 60 {
        short.push('…');
    }
    short
}

/// What `discover` lists of one place in an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The RFC 6901 pointer to it.
    pub pointer: String,
    /// `number`, `numeric string`, `timestamp`, `list of N`.
    pub kind: String,
    /// The value as it reads (a number, a time); empty for a list.
    pub value: String,
}

/// Every number, numeric string, timestamp and list in `answer`, by pointer,
/// in the answer's order. A list's items are described by its first item only
/// (`/data/0/…`), so that a long list stays a short listing. Other strings,
/// booleans and nulls are left out: they are not figures, and a string may be
/// a secret.
pub fn discover(answer: &Value, zone: Zone) -> Vec<Found> {
    let mut found = Vec::new();
    walk(answer, &mut String::new(), zone, &mut found);
    found
}

fn walk(value: &Value, at: &mut String, zone: Zone, found: &mut Vec<Found>) {
    let mut push = |kind: String, value: String| {
        found.push(Found {
            pointer: if at.is_empty() {
                "\"\" (the whole answer)".into()
            } else {
                at.clone()
            },
            kind,
            value,
        })
    };
    match value {
        Value::Number(n) => push("number".into(), n.to_string()),
        Value::String(s) => {
            if s.trim().parse::<f64>().is_ok_and(f64::is_finite) {
                push("numeric string".into(), shorten(s));
            } else if let Some(t) = zone.parse_timestamp(s) {
                push("timestamp".into(), format!("{s} = {t} (Unix seconds)"));
            }
        }
        Value::Array(items) => {
            push(format!("list of {}", items.len()), String::new());
            if let Some(first) = items.first() {
                let len = at.len();
                at.push_str("/0");
                walk(first, at, zone, found);
                at.truncate(len);
            }
        }
        Value::Object(fields) => {
            for (key, child) in fields {
                let len = at.len();
                at.push('/');
                at.push_str(&key.replace('~', "~0").replace('/', "~1"));
                walk(child, at, zone, found);
                at.truncate(len);
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_follow_rfc_6901() {
        for good in ["", "/", "/data/list", "/a~1b", "/m~0n", "/items/0"] {
            assert!(Pointer::parse(good).is_ok(), "{good}");
        }
        for bad in ["data", "$.data", "/a~2", "/a~", ".data"] {
            assert!(Pointer::parse(bad).is_err(), "{bad}");
        }
        assert!(Pointer::parse("data.total")
            .unwrap_err()
            .contains("as in \"/data/total\""));
        assert!(Pointer::parse("$.data.list[0].ip")
            .unwrap_err()
            .contains("as in \"/data/list/0/ip\""));
        let big = json!({"ms": 1735787045000i64, "neg": -5, "o": {"password": "pw"}});
        let utc: Zone = "+00:00".parse().unwrap();
        assert!(Pointer::parse("/ms")
            .unwrap()
            .timestamp(&big, utc)
            .unwrap_err()
            .contains("milliseconds?"));
        assert!(Pointer::parse("/neg")
            .unwrap()
            .timestamp(&big, utc)
            .is_err());
        let error = Pointer::parse("/o").unwrap().number(&big).unwrap_err();
        assert_eq!(error, "/o is an object with 1 keys, not a number");
        let doc = json!({"a/b": 1, "m~n": 2, "items": [10, 20]});
        let at = |p: &str| Pointer::parse(p).unwrap().number(&doc);
        assert_eq!(at("/a~1b"), Ok(1.0));
        assert_eq!(at("/m~0n"), Ok(2.0));
        assert_eq!(at("/items/1"), Ok(20.0));
        assert_eq!(at("/items/2").unwrap_err(), "/items/2 finds nothing");
    }

    #[test]
    fn values_are_read_strictly() {
        let doc = json!({"n": "12.5", "b": true, "s": "x", "z": null, "o": {}, "t": "2025-01-02 03:04:05",
            "u": 1735787045, "r": "2025-01-02T03:04:05Z", "one": "1", "two": 2, "empty": " "});
        let p = |s: &str| Pointer::parse(s).unwrap();
        assert_eq!(p("/n").number(&doc), Ok(12.5));
        for not_number in ["/b", "/s", "/z", "/o"] {
            assert!(p(not_number)
                .number(&doc)
                .unwrap_err()
                .contains("not a number"));
        }
        assert_eq!(p("/b").flag(&doc), Ok(true));
        assert_eq!(p("/one").flag(&doc), Ok(true));
        assert!(p("/two").flag(&doc).is_err());
        assert!(p("/s").flag(&doc).is_err());
        assert_eq!(p("/s").label(&doc).unwrap(), "x");
        assert_eq!(p("/two").label(&doc).unwrap(), "2");
        assert!(p("/empty").label(&doc).is_err());
        assert!(p("/z").label(&doc).is_err());
        assert_eq!(p("/z").optional_label(&doc).unwrap(), "");
        let utc: Zone = "+00:00".parse().unwrap();
        let east: Zone = "+08:00".parse().unwrap();
        assert_eq!(p("/u").timestamp(&doc, east), Ok(1735787045));
        assert_eq!(p("/r").timestamp(&doc, east), Ok(1735787045));
        assert_eq!(p("/t").timestamp(&doc, utc), Ok(1735787045));
        assert_eq!(p("/t").timestamp(&doc, east), Ok(1735787045 - 8 * 3600));
        assert!(p("/s").timestamp(&doc, utc).is_err());
    }

    proptest::proptest! {
        /// Whatever the answer, reading it never panics: a value or an error.
        #[test]
        fn any_answer_reads_without_panicking(answer in crate::providers::arbitrary::json(), path in "(/[a-z_0-9]{0,6}){0,3}") {
            let pointer = Pointer::parse(&path).unwrap();
            let zone: Zone = "+08:00".parse().unwrap();
            let _ = pointer.number(&answer);
            let _ = pointer.label(&answer);
            let _ = pointer.optional_label(&answer);
            let _ = pointer.flag(&answer);
            let _ = pointer.timestamp(&answer, zone);
            if let Some(found) = pointer.find(&answer) {
                let _ = same(found, &answer);
            }
        }
    }

    #[test]
    fn discover_lists_figures_times_and_lists() {
        let answer = json!({"code": 200, "msg": "ok", "token": "s3cret-token", "data": {
            "a/b": "12.5", "expire": "2025-03-13 14:21", "list": [{"used": 1}, {"used": 2}], "on": true}});
        let zone: Zone = "+08:00".parse().unwrap();
        let found: Vec<(String, String)> = discover(&answer, zone)
            .into_iter()
            .map(|f| (f.pointer, f.kind))
            .collect();
        let expect = |p: &str, k: &str| (p.to_owned(), k.to_owned());
        assert_eq!(
            found,
            vec![
                expect("/code", "number"),
                expect("/data/a~1b", "numeric string"),
                expect("/data/expire", "timestamp"),
                expect("/data/list", "list of 2"),
                expect("/data/list/0/used", "number"),
            ]
        );
    }

    #[test]
    fn expected_values_match_numbers_by_value() {
        assert!(same(&json!("0"), &json!(0)));
        assert!(same(&json!(200.0), &json!(200)));
        assert!(same(&json!("ok"), &json!("ok")));
        assert!(same(&json!(true), &json!(true)));
        assert!(!same(&json!(1), &json!(true)));
        assert!(!same(&json!("OK"), &json!("ok")));
        assert!(!same(&json!(null), &json!(0)));
    }
}
