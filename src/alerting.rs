//! The configuration's optional `alerting` section: evaluation and notification
//! intervals, per-alert overrides of the catalogue, external labels, the
//! runbook's address, the receivers, and Alertmanager's route tree and
//! inhibition rules. Read by the configuration module; run by the agent
//! ([`crate::agent`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::alerts::rules::{Figure, Override, RuleSet, SpikeOverride};
use crate::notify::inhibit::{validate_rules, InhibitRule, Inhibitor, RawInhibitRule};
use crate::notify::route::{RawRoute, Route, Timing};
use crate::notify::{RawReceiver, ReceiverSpec};

/// Defaults of the contract.
pub const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(30);
pub use crate::notify::settings::DEFAULT_RESEND_INTERVAL;
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);

/// A validated `alerting` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerting {
    pub evaluation_interval: Duration,
    pub resend_interval: Duration,
    pub repeat_interval: Duration,
    pub rules: RuleSet,
    pub receivers: Vec<ReceiverSpec>,
    /// Added to every alert the agent sends (an alert's own label wins).
    pub external_labels: BTreeMap<String, String>,
    /// `runbook_url` = this + `#anchor`.
    pub runbook_base_url: String,
    /// The route tree: as written, or the contract's default (every alert to
    /// every receiver, grouped by alertname and target, today's timing).
    pub route: Route,
    /// The inhibition rules: as written, or the default (a critical alert
    /// mutes its warning twin).
    pub inhibitor: Inhibitor,
    /// Per receiver: `send_resolved`.
    pub send_resolved: BTreeMap<String, bool>,
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
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    runbook_base_url: Option<String>,
    route: Option<RawRoute>,
    inhibit_rules: Option<Vec<RawInhibitRule>>,
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
    // ProxyUsageSpike's own figures.
    factor: Option<f64>,
    #[serde(default, with = "humantime_serde")]
    window: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    baseline: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    min_history: Option<Duration>,
    min_bytes: Option<RawSize>,
}

/// A size as written: bytes (`1073741824`) or with a unit (`1GiB`).
struct RawSize(u64);

impl<'de> Deserialize<'de> for RawSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl serde::de::Visitor<'_> for SizeVisitor {
            type Value = RawSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as 1GiB or a number of bytes")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawSize, E> {
                Ok(RawSize(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawSize, E> {
                u64::try_from(v)
                    .map(RawSize)
                    .map_err(|_| E::custom(format!("invalid size {v}: must not be negative")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawSize, E> {
                crate::units::parse_size(v).map(RawSize).map_err(E::custom)
            }
        }
        d.deserialize_any(SizeVisitor)
    }
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
    pub fn validate(self, base_dir: &Path) -> Result<Alerting, Refusal> {
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
        let overrides = overrides(self.rules);
        let rules = RuleSet::with(&overrides).map_err(|e| {
            let path = vec!["alerting".into(), "rules".into(), e.alert];
            (path, format!("rules: {}", e.message))
        })?;
        let receivers = receivers(self.receivers, base_dir)?;
        check_external_labels(&self.external_labels)?;
        let runbook_base_url = runbook_base_url(self.runbook_base_url)?;
        let names: Vec<&str> = receivers.iter().map(|r| r.name.as_str()).collect();
        let located = |e: crate::notify::route::RouteError| {
            let mut path = vec!["alerting".to_owned()];
            path.extend(e.path.iter().cloned());
            (path, e.to_string())
        };
        let route = match &self.route {
            Some(raw) => raw
                .validate(&names, Timing::ALERTMANAGER)
                .map_err(located)?,
            None => Route::without_config(
                &names,
                Timing {
                    group_wait: Duration::ZERO,
                    group_interval: evaluation_interval,
                    repeat_interval,
                },
            ),
        };
        let inhibitor = Inhibitor::new(match &self.inhibit_rules {
            Some(raw) => validate_rules(raw).map_err(located)?,
            None => InhibitRule::default_rules(),
        });
        let send_resolved = receivers
            .iter()
            .map(|r| (r.name.clone(), r.send_resolved))
            .collect();
        Ok(Alerting {
            evaluation_interval,
            resend_interval,
            repeat_interval,
            rules,
            receivers,
            external_labels: self.external_labels,
            runbook_base_url,
            route,
            inhibitor,
            send_resolved,
        })
    }
}

/// A key path into the configuration and what is wrong there.
pub type Refusal = (Vec<String>, String);

/// The rule overrides as the rule set takes them.
fn overrides(rules: BTreeMap<String, RawRule>) -> Vec<(String, Override)> {
    rules
        .into_iter()
        .map(|(name, r)| {
            let o = Override {
                warning: r.warning.map(|f| f.0),
                critical: r.critical.map(|f| f.0),
                for_: r.for_,
                enabled: r.enabled,
                spike: SpikeOverride {
                    factor: r.factor,
                    window: r.window,
                    baseline: r.baseline,
                    min_history: r.min_history,
                    min_bytes: r.min_bytes.map(|s| s.0 as f64),
                },
            };
            (name, o)
        })
        .collect()
}

/// Each receiver validated (its secret files read from `base_dir`), names unique.
fn receivers(raw: Vec<RawReceiver>, base_dir: &Path) -> Result<Vec<ReceiverSpec>, Refusal> {
    let mut receivers = Vec::with_capacity(raw.len());
    for (index, raw) in raw.into_iter().enumerate() {
        let name = raw.name.clone();
        let at = || vec!["alerting".into(), "receivers".into(), format!("[{index}]")];
        if receivers.iter().any(|r: &ReceiverSpec| r.name == name) {
            return Err((
                at(),
                format!("receivers[{index}] ({name}): name: duplicate receiver name"),
            ));
        }
        let spec = raw
            .validate(base_dir)
            .map_err(|m| (at(), format!("receivers[{index}] ({name}): {m}")))?;
        receivers.push(spec);
    }
    Ok(receivers)
}

/// External labels must be label names Alertmanager accepts, not reserved ones.
fn check_external_labels(labels: &BTreeMap<String, String>) -> Result<(), Refusal> {
    for name in labels.keys() {
        if !crate::notify::route::is_classic_label_name(name) || name.starts_with("__") {
            return Err((
                vec!["alerting".into(), "external_labels".into(), name.clone()],
                format!("external_labels: {name:?} is not a label name"),
            ));
        }
    }
    Ok(())
}

/// `runbook_base_url`, or the default: a URL each alert appends `#anchor` to.
fn runbook_base_url(url: Option<String>) -> Result<String, Refusal> {
    match url {
        None => Ok(crate::alerts::DEFAULT_RUNBOOK_BASE_URL.to_owned()),
        Some(url)
            if url.trim().is_empty() || url.contains('#') || url.chars().any(char::is_control) =>
        {
            Err((
                vec!["alerting".into(), "runbook_base_url".into()],
                "runbook_base_url: must be a URL without `#` (each alert appends `#` and its anchor)".into(),
            ))
        }
        Some(url) => Ok(url),
    }
}
