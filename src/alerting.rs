//! The configuration's optional `alerting` section: evaluation and notification
//! intervals, per-alert overrides of the catalogue, and the receivers. Read by
//! the configuration module; run by the agent ([`crate::agent`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::alerts::rules::{Figure, Override, RuleSet};
use crate::notify::{RawReceiver, ReceiverSpec};

/// Defaults of the contract.
pub const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_RESEND_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);

/// A validated `alerting` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerting {
    pub evaluation_interval: Duration,
    pub resend_interval: Duration,
    pub repeat_interval: Duration,
    pub rules: RuleSet,
    pub receivers: Vec<ReceiverSpec>,
}

/// The section as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerting {
    #[serde(default, with = "humantime_serde")]
    evaluation_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    resend_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    repeat_interval: Option<Duration>,
    #[serde(default)]
    rules: BTreeMap<String, RawRule>,
    #[serde(default)]
    receivers: Vec<RawReceiver>,
}

/// One alert's overrides as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    warning: Option<RawFigure>,
    critical: Option<RawFigure>,
    #[serde(default, rename = "for", with = "humantime_serde")]
    for_: Option<Duration>,
    enabled: Option<bool>,
}

/// A threshold as written: a number (a ratio) or a duration (`7d`).
struct RawFigure(Figure);

impl<'de> Deserialize<'de> for RawFigure {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FigureVisitor;
        impl serde::de::Visitor<'_> for FigureVisitor {
            type Value = RawFigure;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a ratio such as 0.1 or a duration such as 7d")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<RawFigure, E> {
                Ok(RawFigure(Figure::Ratio(v)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawFigure, E> {
                Ok(RawFigure(Figure::Ratio(v as f64)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawFigure, E> {
                Ok(RawFigure(Figure::Ratio(v as f64)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawFigure, E> {
                humantime::parse_duration(v)
                    .map(|d| RawFigure(Figure::Duration(d)))
                    .map_err(|e| E::custom(format!("invalid duration {v:?}: {e}")))
            }
        }
        d.deserialize_any(FigureVisitor)
    }
}

impl RawAlerting {
    /// Checks the section; an error is `(key path, message)`, for the caller to
    /// place at the key's line.
    pub fn validate(self, base_dir: &Path) -> Result<Alerting, (Vec<String>, String)> {
        let interval = |key: &str, value: Option<Duration>, default: Duration| match value {
            Some(d) if d.is_zero() => Err((
                vec!["alerting".into(), key.into()],
                format!("{key}: must be greater than 0"),
            )),
            value => Ok(value.unwrap_or(default)),
        };
        let evaluation_interval = interval(
            "evaluation_interval",
            self.evaluation_interval,
            DEFAULT_EVALUATION_INTERVAL,
        )?;
        let resend_interval = interval(
            "resend_interval",
            self.resend_interval,
            DEFAULT_RESEND_INTERVAL,
        )?;
        let repeat_interval = interval(
            "repeat_interval",
            self.repeat_interval,
            DEFAULT_REPEAT_INTERVAL,
        )?;
        let overrides: Vec<(String, Override)> = self
            .rules
            .into_iter()
            .map(|(name, r)| {
                let o = Override {
                    warning: r.warning.map(|f| f.0),
                    critical: r.critical.map(|f| f.0),
                    for_: r.for_,
                    enabled: r.enabled,
                };
                (name, o)
            })
            .collect();
        let rules = RuleSet::with(&overrides).map_err(|e| {
            let path = vec!["alerting".into(), "rules".into(), e.alert];
            (path, format!("rules: {}", e.message))
        })?;
        let mut receivers = Vec::with_capacity(self.receivers.len());
        for (index, raw) in self.receivers.into_iter().enumerate() {
            let name = raw.name.clone();
            if receivers.iter().any(|r: &ReceiverSpec| r.name == name) {
                return Err((
                    vec!["alerting".into(), "receivers".into(), format!("[{index}]")],
                    format!("receivers[{index}] ({name}): name: duplicate receiver name"),
                ));
            }
            let spec = raw.validate(base_dir).map_err(|m| {
                (
                    vec!["alerting".into(), "receivers".into(), format!("[{index}]")],
                    format!("receivers[{index}] ({name}): {m}"),
                )
            })?;
            receivers.push(spec);
        }
        Ok(Alerting {
            evaluation_interval,
            resend_interval,
            repeat_interval,
            rules,
            receivers,
        })
    }
}
