//! Unit and time conversions: provider traffic units to bytes, loosely typed JSON
//! numbers, and zone-less provider timestamps to Unix seconds.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone as _, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A traffic unit as a provider reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficUnit {
    Kb,
    Mb,
    Gb,
}

/// Converts `value` in `unit` to whole bytes, with `base` 1024 (binary, the
/// default) or 1000. Fractions of a byte (from MB with decimals) are rounded.
pub fn to_bytes(value: f64, unit: TrafficUnit, base: u32) -> f64 {
    let base = f64::from(base);
    let factor = match unit {
        TrafficUnit::Kb => base,
        TrafficUnit::Mb => base * base,
        TrafficUnit::Gb => base * base * base,
    };
    (value * factor).round()
}

/// A number that may arrive as a JSON integer, float or numeric string (`"2048"`).
/// Anything else (a boolean, `null`, `"abc"`, an object) is a decode error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number(pub f64);

impl Number {
    /// The value as an integer when it is one (product types, status codes).
    pub fn as_i64(self) -> Option<i64> {
        (self.0.fract() == 0.0 && self.0.abs() < 9.0e15).then_some(self.0 as i64)
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl Visitor<'_> for NumberVisitor {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a numeric string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                finite(v).ok_or_else(|| E::custom("number is not finite"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Number, E> {
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(finite)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(NumberVisitor)
    }
}

fn finite(v: f64) -> Option<Number> {
    v.is_finite().then_some(Number(v))
}

/// For `#[serde(default, deserialize_with = "units::optional_number")]`: a missing
/// field is `None`, but an explicit `null` is an error (a value was due).
pub fn optional_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Number>, D::Error> {
    Number::deserialize(d).map(Some)
}

/// The zone in which a target's zone-less timestamps are read: a fixed offset such
/// as `+08:00`, `UTC`, or an IANA name such as `Asia/Shanghai`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl Default for Zone {
    fn default() -> Self {
        Zone::Fixed(FixedOffset::east_opt(8 * 3600).expect("constant offset is valid"))
    }
}

impl FromStr for Zone {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("utc") || s == "Z" {
            return Ok(Zone::Fixed(FixedOffset::east_opt(0).expect("zero offset")));
        }
        if let Some(sign) = s.chars().next().filter(|c| *c == '+' || *c == '-') {
            let rest = &s[1..];
            let (h, m) = match rest.split_once(':') {
                Some((h, m)) => (h, m),
                None if rest.len() == 4 => rest.split_at(2),
                None => (rest, "0"),
            };
            let parsed = h.parse::<i32>().ok().zip(m.parse::<i32>().ok());
            let seconds = parsed
                .filter(|(h, m)| *h <= 23 && *m <= 59 && !h.to_string().is_empty())
                .map(|(h, m)| (h * 3600 + m * 60) * if sign == '-' { -1 } else { 1 });
            return seconds
                .and_then(FixedOffset::east_opt)
                .map(Zone::Fixed)
                .ok_or_else(|| format!("invalid UTC offset {s:?} (expected e.g. \"+08:00\")"));
        }
        s.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            format!("unknown timezone {s:?} (expected an offset like \"+08:00\" or an IANA name like \"Asia/Shanghai\")")
        })
    }
}

impl Zone {
    /// The calendar date in this zone at the Unix time `now`.
    pub fn date_at(self, now: DateTime<Utc>) -> NaiveDate {
        match self {
            Zone::Fixed(z) => now.with_timezone(&z).date_naive(),
            Zone::Named(z) => now.with_timezone(&z).date_naive(),
        }
    }

    /// Unix seconds of a local wall-clock time in this zone: the earlier of two
    /// readings in a DST overlap, `None` for a time that a DST gap skips.
    pub fn unix_seconds(self, local: NaiveDateTime) -> Option<i64> {
        match self {
            Zone::Fixed(z) => z.from_local_datetime(&local).earliest(),
            Zone::Named(z) => z
                .from_local_datetime(&local)
                .earliest()
                .map(|t| t.fixed_offset()),
        }
        .map(|t| t.timestamp())
    }

    /// Reads a provider timestamp: `2022-05-13 12:14:15` (zone-less, read in this
    /// zone), the same with `T`, a bare date (midnight), or RFC 3339 with its own zone.
    pub fn parse_timestamp(self, text: &str) -> Option<i64> {
        let text = text.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Some(t.timestamp());
        }
        for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
            if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
                return self.unix_seconds(local);
            }
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| self.unix_seconds(d.and_hms_opt(0, 0, 0)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_units_binary_and_decimal() {
        assert_eq!(to_bytes(1.0, TrafficUnit::Kb, 1024), 1024.0);
        assert_eq!(to_bytes(1048576.0, TrafficUnit::Kb, 1024), 1073741824.0);
        assert_eq!(to_bytes(5242880.0, TrafficUnit::Mb, 1024), 5497558138880.0);
        assert_eq!(to_bytes(2.0, TrafficUnit::Gb, 1024), 2147483648.0);
        assert_eq!(to_bytes(2.0, TrafficUnit::Gb, 1000), 2.0e9);
        assert_eq!(to_bytes(0.5, TrafficUnit::Kb, 1000), 500.0);
        assert_eq!(to_bytes(596.9, TrafficUnit::Mb, 1024), 625895014.0);
    }

    #[test]
    fn numbers_accept_integers_floats_and_numeric_strings_only() {
        let parse = |s: &str| serde_json::from_str::<Number>(s).map(|n| n.0);
        assert_eq!(parse("2048").unwrap(), 2048.0);
        assert_eq!(parse("20.5").unwrap(), 20.5);
        assert_eq!(parse("\"2048\"").unwrap(), 2048.0);
        assert_eq!(parse("\" 1.5 \"").unwrap(), 1.5);
        for bad in [
            "null", "true", "\"abc\"", "\"\"", "{}", "[]", "\"NaN\"", "\"inf\"",
        ] {
            assert!(parse(bad).is_err(), "{bad} must be rejected");
        }
    }

    #[test]
    fn zones_parse_offsets_and_iana_names() {
        assert_eq!("+08:00".parse::<Zone>().unwrap(), Zone::default());
        assert_eq!("+0800".parse::<Zone>().unwrap(), Zone::default());
        assert!(matches!(
            "Asia/Shanghai".parse::<Zone>(),
            Ok(Zone::Named(_))
        ));
        assert!("UTC".parse::<Zone>().is_ok());
        for bad in ["+25:00", "Mars/Olympus", "+8:99", ""] {
            assert!(bad.parse::<Zone>().is_err(), "{bad} must be rejected");
        }
    }

    #[test]
    fn zone_less_timestamps_are_read_in_the_target_zone() {
        // 2022-05-13 12:14:15 at +08:00 is 04:14:15 UTC.
        let utc = Zone::default()
            .parse_timestamp("2022-05-13 12:14:15")
            .unwrap();
        assert_eq!(utc, 1652415255);
        let shanghai: Zone = "Asia/Shanghai".parse().unwrap();
        assert_eq!(shanghai.parse_timestamp("2022-05-13 12:14:15"), Some(utc));
        let zulu: Zone = "UTC".parse().unwrap();
        assert_eq!(zulu.parse_timestamp("2022-05-13 04:14:15"), Some(utc));
        assert_eq!(zulu.parse_timestamp("2022-05-13T12:14:15+08:00"), Some(utc));
        assert_eq!(zulu.parse_timestamp("not a time"), None);
    }
}
