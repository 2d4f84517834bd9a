//! Unit and time conversions: provider traffic units to bytes, loosely typed JSON
//! numbers, time zones and zone-less provider timestamps to Unix seconds, sizes
//! (`16MiB`) in both directions, and the clock.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone as _, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A traffic unit as a provider reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficUnit {
    B,
    Kb,
    Mb,
    Gb,
}

/// Converts `value` in `unit` to whole bytes, with `base` 1024 (binary, the
/// default) or 1000. Fractions of a byte (from MB with decimals) are rounded.
pub fn to_bytes(value: f64, unit: TrafficUnit, base: u32) -> f64 {
    let base = f64::from(base);
    let factor = match unit {
        TrafficUnit::B => 1.0,
        TrafficUnit::Kb => base,
        TrafficUnit::Mb => base * base,
        TrafficUnit::Gb => base * base * base,
    };
    (value * factor).round()
}

impl FromStr for TrafficUnit {
    type Err = String;
    /// `B`, `KB`, `MB` or `GB`, as the configuration spells them.
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "B" => Ok(TrafficUnit::B),
            "KB" => Ok(TrafficUnit::Kb),
            "MB" => Ok(TrafficUnit::Mb),
            "GB" => Ok(TrafficUnit::Gb),
            other => Err(format!("unknown unit {other:?} (expected B, KB, MB or GB)")),
        }
    }
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

/// Seconds for people, to the minute: `3d 4h`, `5h 12m`, `42m`; a negative
/// duration reads `0m`.
pub fn format_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// Bytes in IEC units with one decimal: `512.0 GiB`.
pub fn format_bytes(value: f64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = value;
    let mut unit = 0;
    while v.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Reads a size from the configuration: a number of bytes (`1048576`) or a
/// number with a unit, IEC (`16MiB`, `512KiB`) or SI (`10MB`, `1GB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "MB" => 1000 * 1000,
        "GB" => 1000 * 1000 * 1000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => {
            return Err(format!(
                "invalid size {text:?} (expected e.g. 16MiB, 10MB or a number of bytes)"
            ))
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| {
            format!("invalid size {text:?} (expected e.g. 16MiB, 10MB or a number of bytes)")
        })
}

/// Now, in Unix seconds.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
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
        if let Some(rest) = s.strip_prefix('+') {
            return parse_offset(rest, 1, s);
        }
        if let Some(rest) = s.strip_prefix('-') {
            return parse_offset(rest, -1, s);
        }
        s.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            format!("unknown timezone {s:?} (expected an offset like \"+08:00\" or an IANA name like \"Asia/Shanghai\")")
        })
    }
}

/// Reads the part of a UTC offset after its sign: `HH:MM`, `H:MM`, `HHMM`, `HH` or
/// `H`, ASCII digits only, from -12:00 to +14:00 (the offsets in use on Earth).
fn parse_offset(rest: &str, sign: i32, whole: &str) -> Result<Zone, String> {
    let invalid = || {
        format!("invalid UTC offset {whole:?} (expected e.g. \"+08:00\", from -12:00 to +14:00)")
    };
    let digits = |part: &str, max_len: usize| -> Option<i32> {
        let ascii =
            !part.is_empty() && part.len() <= max_len && part.bytes().all(|b| b.is_ascii_digit());
        ascii.then(|| part.parse().ok()).flatten()
    };
    let (hours, minutes) = match rest.split_once(':') {
        Some((h, m)) if m.len() == 2 => (digits(h, 2), digits(m, 2)),
        Some(_) => (None, None),
        None if rest.len() == 4 && rest.is_ascii() => {
            (digits(&rest[..2], 2), digits(&rest[2..], 2))
        }
        None => (digits(rest, 2), Some(0)),
    };
    let (Some(hours), Some(minutes)) = (hours, minutes) else {
        return Err(invalid());
    };
    let seconds = sign * (hours * 3600 + minutes * 60);
    if minutes > 59 || !(-12 * 3600..=14 * 3600).contains(&seconds) {
        return Err(invalid());
    }
    FixedOffset::east_opt(seconds)
        .map(Zone::Fixed)
        .ok_or_else(invalid)
}

impl Zone {
    /// The calendar date in this zone at the Unix time `now`.
    pub fn date_at(self, now: DateTime<Utc>) -> NaiveDate {
        match self {
            Zone::Fixed(z) => now.with_timezone(&z).date_naive(),
            Zone::Named(z) => now.with_timezone(&z).date_naive(),
        }
    }

    /// Unix seconds of a local wall-clock time in this zone, resolved as
    /// java.time and Python (`fold=0`) do: in a DST overlap the earlier of the
    /// two instants; a time that a DST gap skips is shifted forward by the
    /// length of the gap (02:30 on a day that jumps from 02:00 to 03:00 is
    /// 03:30). `None` only beyond the range of dates chrono can represent.
    pub fn unix_seconds(self, local: NaiveDateTime) -> Option<i64> {
        use chrono::Offset as _;
        let zone = match self {
            Zone::Fixed(z) => {
                return z
                    .from_local_datetime(&local)
                    .earliest()
                    .map(|t| t.timestamp())
            }
            Zone::Named(z) => z,
        };
        match zone.from_local_datetime(&local) {
            chrono::LocalResult::None => {
                // Read in the offset in force before the gap: the offset at the
                // instant a day before `local` read as UTC, which lies before the
                // jump (offsets are well within a day) and after the one before.
                let day_before = local.checked_sub_days(chrono::Days::new(1))?;
                let before = zone.offset_from_utc_datetime(&day_before).fix();
                before.from_local_datetime(&local).earliest()
            }
            resolved => resolved.earliest().map(|t| t.fixed_offset()),
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
    fn offsets_are_strict() {
        let seconds = |s: &str| match s.parse::<Zone>() {
            Ok(Zone::Fixed(z)) => Some(z.local_minus_utc()),
            _ => None,
        };
        assert_eq!(seconds("+8"), Some(8 * 3600));
        assert_eq!(seconds("-03:30"), Some(-(3 * 3600 + 30 * 60)));
        assert_eq!(seconds("+14:00"), Some(14 * 3600));
        assert_eq!(seconds("-12:00"), Some(-12 * 3600));
        for bad in [
            "+-5:00", "+08:-30", "-+8", "+08:+3", "+1é1", "+é", "+0é:00", "+08:0", "+08:000",
            "+123", "+14:01", "-12:30", "+", "-", "+08:", "+:30", "+٨", "+ 8", "+0８:00",
        ] {
            assert_eq!(seconds(bad), None, "{bad:?} must be refused");
        }
    }

    #[test]
    fn sizes_parse_with_iec_and_si_units() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("10 MB"), Ok(10_000_000));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        for bad in [
            "",
            "MiB",
            "-1",
            "1.5MiB",
            "16 mib",
            "99999999999999GiB",
            "1é",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} must be refused");
        }
    }

    proptest::proptest! {
        #[test]
        fn zone_parsing_never_panics(text in "\\PC*") {
            let _ = text.parse::<Zone>();
            let _ = format!("+{text}").parse::<Zone>();
            let _ = format!("-{text}").parse::<Zone>();
            let _ = parse_size(&text);
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

    #[test]
    fn zone_less_times_in_a_dst_gap_or_overlap_resolve_like_time_libraries() {
        let zone = |name: &str| name.parse::<Zone>().unwrap();
        let ny = zone("America/New_York");
        // Gap: 02:30 is skipped and read as 03:30 EDT (2026-03-08T07:30:00Z).
        assert_eq!(ny.parse_timestamp("2026-03-08 02:30:00"), Some(1772955000));
        assert_eq!(
            ny.parse_timestamp("2026-03-08 02:30:00"),
            ny.parse_timestamp("2026-03-08 03:30:00")
        );
        // Overlap: 01:30 happens twice; the earlier, EDT (2026-11-01T05:30:00Z).
        assert_eq!(ny.parse_timestamp("2026-11-01 01:30:00"), Some(1793511000));
        let berlin = zone("Europe/Berlin");
        assert_eq!(berlin.parse_timestamp("2026-03-29 02:15"), Some(1774746900));
        assert_eq!(
            berlin.parse_timestamp("2026-10-25 02:15:00"),
            Some(1792887300)
        );
        // A bare date whose midnight is skipped: 01:00 CLST.
        assert_eq!(
            zone("America/Santiago").parse_timestamp("2026-09-06"),
            Some(1788667200)
        );
        // Samoa skipped 2011-12-30 entirely: a day-long gap, shifted by a day.
        assert_eq!(
            zone("Pacific/Apia").parse_timestamp("2011-12-30 12:00:00"),
            Some(1325282400)
        );
    }
}
