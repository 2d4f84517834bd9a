//! The alert catalogue: the one definition of the contract alerts (names,
//! severities, default thresholds, `for` durations, summary and description
//! templates, runbook anchors) and of the recording rules they use.
//!
//! Everything else reads it: `check` takes its thresholds from here,
//! [`rule_file`] generates `alerts/proxy-quota.rules.yml` from it (a test fails
//! when the committed file differs), and the alerting agent evaluates it
//! ([`crate::agent`]). An alert's [`Scope`] says who evaluates it: the alerts
//! that watch the exporter itself (`ProxyExporterDown` and the three of
//! "Watching the exporter") are rules for Prometheus only, which the agent and
//! `check` leave out: an exporter cannot report its own failure through itself.
//!
//! Templates hold placeholders filled from the variant they belong to. In an
//! expression they render as PromQL: `{threshold}` (`0.1`, `3 * 86400`), `{cmp}`
//! (`<`, `>`, `>=`), `{window}` ([`FORECAST_WINDOW`], `6h`), `{watch_window}`
//! ([`WATCH_WINDOW`], `10m`) and `{statuses}` ([`UNHEALTHY_STATIC_IP_STATUSES`],
//! `invalid|maintenance`). In a summary or description they render as words:
//! `{threshold}` (`10 %`, `3 days`, `a day`) and `{for}` (`30 minutes`), except
//! `{watch_window}`, which stays PromQL (`10m`) there too, as the query templates
//! of the descriptions need it. `{{ … }}` is Prometheus' own template syntax and
//! is left alone.

mod catalogue;
pub mod rule_file;
pub mod rules;

use std::time::Duration;

pub use catalogue::{
    ACCOUNT_NEAR_LIMIT, CATALOGUE, EXPORTER_DOWN, EXPORTER_NOTIFICATIONS_FAILING,
    EXPORTER_RELOAD_FAILED, EXPORTER_STORE_DOWN, FORECAST_RATE_WINDOW, FORECAST_WINDOW,
    PACKAGE_EXPIRING_SOON, RECORDING_RULES, STATIC_IP_EXPIRING_SOON, STATIC_IP_UNHEALTHY,
    TARGET_DOWN, TRAFFIC_EXHAUSTION_FORECAST, TRAFFIC_EXPIRING_SOON, TRAFFIC_LOW,
    UNHEALTHY_STATIC_IP_STATUSES, USAGE_SPIKE, USAGE_SPIKE_DEFAULTS, WATCH_WINDOW,
};

/// Where the shipped rule file's `runbook_url`s point unless another base is
/// given when generating: the runbook's path in this repository. Each alert
/// appends `#` and its anchor.
pub const DEFAULT_RUNBOOK_BASE_URL: &str = "docs/runbook.md";

/// The contract's alerts, one variant each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertId {
    TrafficLow,
    TrafficExhaustionForecast,
    TrafficExpiringSoon,
    PackageExpiringSoon,
    AccountNearLimit,
    StaticIpExpiringSoon,
    StaticIpUnhealthy,
    TargetDown,
    ExporterDown,
    ExporterReloadFailed,
    ExporterNotificationsFailing,
    ExporterStoreDown,
    UsageSpike,
}

/// Who evaluates an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Prometheus (the rule file) and the in-process agent alike; `check`
    /// holds a poll against those of them that read a target's figures.
    Everywhere,
    /// Prometheus only: the alert watches the exporter itself (its scrape, its
    /// reloads, its agent's deliveries, its store), which cannot report its own
    /// failure through itself. The agent's rule set and `check` leave it out.
    PrometheusOnly,
}

/// An alert's severity label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    /// The value of the `severity` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// How a figure is compared with a ratio threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// Strictly below.
    Below,
    /// Strictly above.
    Above,
    /// Equal or above.
    AtLeast,
}

impl Cmp {
    fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Cmp::Below => value < limit,
            Cmp::Above => value > limit,
            Cmp::AtLeast => value >= limit,
        }
    }

    fn promql(self) -> &'static str {
        match self {
            Cmp::Below => "<",
            Cmp::Above => ">",
            Cmp::AtLeast => ">=",
        }
    }
}

/// The default threshold of one severity of an alert: a ratio for
/// `ProxyTrafficLow` and `ProxyAccountNearLimit`, a duration for the expiry
/// alerts and the forecast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// A share (0..1) compared with the figure.
    Ratio(Cmp, f64),
    /// Met when the time left (until an expiry, or until the pool runs dry) is
    /// below this.
    Within(Duration),
    /// `ProxyUsageSpike`'s figures: the consumption of the last `window` over
    /// `factor` times the average over the `baseline` before it (scaled to the
    /// window), once `min_history` exists, and over `min_bytes`.
    Spike(Spike),
}

/// The figures of `ProxyUsageSpike` (each one an override of its own).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spike {
    pub factor: f64,
    pub window: Duration,
    pub baseline: Duration,
    pub min_history: Duration,
    /// Bytes.
    pub min_bytes: f64,
}

impl Threshold {
    /// Whether `value` meets the threshold: a ratio, or the time left in seconds.
    pub fn met(&self, value: f64) -> bool {
        match *self {
            Threshold::Ratio(cmp, limit) => cmp.holds(value, limit),
            Threshold::Within(limit) => value < limit.as_secs_f64(),
            // The value is the window's consumption; the rest of the condition
            // is the evaluator's (`agent::evaluate`).
            Threshold::Spike(s) => value > s.min_bytes,
        }
    }

    /// The threshold as a PromQL number: `0.1`, `3 * 86400`.
    pub fn promql(&self) -> String {
        match *self {
            Threshold::Ratio(_, ratio) => format!("{ratio}"),
            Threshold::Within(limit) => match limit.as_secs() {
                86_400 => "86400".to_owned(),
                secs if secs % 86_400 == 0 => format!("{} * 86400", secs / 86_400),
                secs => secs.to_string(),
            },
            Threshold::Spike(s) => format!("{}", s.factor),
        }
    }

    /// The threshold in words: `10 %`, `3 days`, `a day`.
    pub fn words(&self) -> String {
        match *self {
            Threshold::Ratio(_, ratio) => format!("{} %", (ratio * 1000.0).round() / 10.0),
            Threshold::Within(limit) => duration_words(limit),
            Threshold::Spike(s) => format!(
                "{} × the hourly average of the {} before, over {}, after {} of history",
                s.factor,
                duration_words(s.baseline),
                bytes_words(s.min_bytes),
                duration_words(s.min_history),
            ),
        }
    }
}

/// One severity of an alert: a rule of its own in the rule file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Variant {
    pub severity: Severity,
    /// `None` for an alert whose condition has no tunable figure.
    pub threshold: Option<Threshold>,
    /// How long the condition must hold before the alert fires (the rule's `for`).
    pub for_: Duration,
    /// The `summary` annotation's template.
    pub summary: &'static str,
    /// The `description` annotation's template.
    pub description: &'static str,
}

impl Variant {
    /// The `summary` annotation, placeholders filled.
    pub fn summary(&self) -> String {
        self.fill_words(self.summary)
    }

    /// The `description` annotation, placeholders filled.
    pub fn description(&self) -> String {
        self.fill_words(self.description)
    }

    fn fill_words(&self, template: &str) -> String {
        let threshold = self.threshold.map(|t| t.words()).unwrap_or_default();
        let text = template
            .replace("{threshold}", &threshold)
            .replace("{for}", &duration_words(self.for_))
            .replace("{watch_window}", &duration_promql(WATCH_WINDOW));
        match self.threshold {
            Some(Threshold::Spike(s)) => s.fill(&text, false),
            _ => text,
        }
    }
}

/// One contract alert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alert {
    /// Which alert of the contract it is: what code that treats alerts one by
    /// one matches on (exhaustively), never the name.
    pub id: AlertId,
    /// The `alertname`.
    pub name: &'static str,
    /// Who evaluates it.
    pub scope: Scope,
    /// The PromQL expression's template, shared by every variant.
    pub expr: &'static str,
    /// Why the expression is written as it is, for the rule file's readers.
    pub note: Option<&'static str>,
    /// One per severity, warning first.
    pub variants: &'static [Variant],
}

impl Alert {
    /// The anchor of the alert's section in `docs/runbook.md` (its heading is
    /// the alert's name).
    pub fn runbook_anchor(&self) -> String {
        self.name.to_ascii_lowercase()
    }

    /// The `runbook_url` annotation for the runbook at `base_url`.
    pub fn runbook_url(&self, base_url: &str) -> String {
        format!("{base_url}#{}", self.runbook_anchor())
    }

    /// The expression of `variant`, placeholders filled.
    pub fn expr(&self, variant: &Variant) -> String {
        let (cmp, threshold) = match variant.threshold {
            Some(Threshold::Ratio(cmp, _)) => (cmp.promql(), variant.threshold),
            other => ("<", other),
        };
        let text = self
            .expr
            .replace("{cmp}", cmp)
            .replace(
                "{threshold}",
                &threshold.map(|t| t.promql()).unwrap_or_default(),
            )
            .replace("{window}", &duration_promql(FORECAST_WINDOW))
            .replace("{watch_window}", &duration_promql(WATCH_WINDOW))
            .replace("{statuses}", &UNHEALTHY_STATIC_IP_STATUSES.join("|"));
        match variant.threshold {
            Some(Threshold::Spike(s)) => s.fill(&text, true),
            _ => text,
        }
    }

    /// The most severe variant whose threshold `value` meets (a ratio, or the
    /// time left in seconds); a variant without a threshold is always met, the
    /// caller having checked the alert's own condition.
    pub fn level(&self, value: f64) -> Option<Severity> {
        most_severe(self.variants, |t| t.met(value))
    }
}

/// The most severe of `variants` whose threshold `met` accepts; a variant
/// without a threshold is always met.
pub fn most_severe(variants: &[Variant], met: impl Fn(Threshold) -> bool) -> Option<Severity> {
    variants
        .iter()
        .filter(|v| v.threshold.is_none_or(&met))
        .map(|v| v.severity)
        .max()
}

impl Spike {
    /// Fills `{factor}`, `{spike_window}`, `{baseline}`, `{min_history}` and
    /// `{min_bytes}`: as PromQL (`1h`, `1073741824`) or as words (`an hour`,
    /// `1.00 GiB`).
    fn fill(&self, text: &str, promql: bool) -> String {
        let duration = |d: Duration| {
            if promql {
                duration_promql(d)
            } else {
                duration_words(d)
            }
        };
        let bytes = if promql {
            format!("{}", self.min_bytes)
        } else {
            bytes_words(self.min_bytes)
        };
        text.replace("{factor}", &format!("{}", self.factor))
            .replace("{spike_window}", &duration(self.window))
            .replace("{baseline}", &duration(self.baseline))
            .replace("{min_history}", &duration(self.min_history))
            .replace("{min_bytes}", &bytes)
    }
}

/// A recording rule the alerts (and the dashboards) use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordingRule {
    /// The recorded series' name.
    pub record: &'static str,
    /// The PromQL expression's template (`{window}` and `{rate_window}` are filled).
    pub expr: &'static str,
    /// What the series means.
    pub help: &'static str,
}

impl RecordingRule {
    /// The expression, placeholders filled.
    pub fn expr(&self) -> String {
        self.expr
            .replace("{window}", &duration_promql(FORECAST_WINDOW))
            .replace("{rate_window}", &duration_promql(FORECAST_RATE_WINDOW))
    }
}

/// The alert named `name`.
pub fn alert(name: &str) -> Option<&'static Alert> {
    CATALOGUE.iter().find(|a| a.name == name)
}

/// A duration as Prometheus writes one: `10m`, `1h`, `0s`.
pub fn duration_promql(d: Duration) -> String {
    match d.as_secs() {
        0 => "0s".to_owned(),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Bytes in words, in the largest binary unit (`1 GiB`, `1.5 GiB`).
fn bytes_words(bytes: f64) -> String {
    let mut value = bytes;
    let mut unit = 0;
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{} {}", (value * 100.0).round() / 100.0, UNITS[unit])
}

/// A duration in words, in its largest whole unit: `a day`, `3 days`,
/// `30 minutes`.
fn duration_words(d: Duration) -> String {
    let secs = d.as_secs();
    let (count, unit) = [(86_400, "day"), (3600, "hour"), (60, "minute")]
        .into_iter()
        .find(|(size, _)| secs > 0 && secs.is_multiple_of(*size))
        .map_or((secs, "second"), |(size, unit)| (secs / size, unit));
    match (count, unit) {
        (1, "hour") => "an hour".to_owned(),
        (1, unit) => format!("a {unit}"),
        (n, unit) => format!("{n} {unit}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_holds_the_contract_alerts_once_each() {
        let names: Vec<_> = CATALOGUE.iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            [
                "ProxyTrafficLow",
                "ProxyTrafficExhaustionForecast",
                "ProxyTrafficExpiringSoon",
                "ProxyPackageExpiringSoon",
                "ProxyAccountNearLimit",
                "ProxyStaticIPExpiringSoon",
                "ProxyStaticIPUnhealthy",
                "ProxyTargetDown",
                "ProxyUsageSpike",
                "ProxyExporterDown",
                "ProxyExporterReloadFailed",
                "ProxyExporterNotificationsFailing",
                "ProxyExporterStoreDown",
            ]
        );
        let mut ids: Vec<_> = CATALOGUE.iter().map(|a| a.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CATALOGUE.len(), "an AlertId used twice");
        for a in CATALOGUE {
            let severities: Vec<_> = a.variants.iter().map(|v| v.severity).collect();
            assert!(
                matches!(
                    severities[..],
                    [Severity::Warning]
                        | [Severity::Critical]
                        | [Severity::Warning, Severity::Critical]
                ),
                "{}: {severities:?}",
                a.name
            );
        }
    }

    #[test]
    fn thresholds_are_the_contract_defaults() {
        let t = |a: &Alert| -> Vec<_> {
            a.variants
                .iter()
                .map(|v| v.threshold.unwrap().promql())
                .collect()
        };
        assert_eq!(t(&TRAFFIC_LOW), ["0.1", "0.02"]);
        assert_eq!(t(&TRAFFIC_EXHAUSTION_FORECAST), ["3 * 86400", "86400"]);
        assert_eq!(t(&PACKAGE_EXPIRING_SOON), ["3 * 86400"]);
        assert_eq!(t(&ACCOUNT_NEAR_LIMIT), ["0.9", "1"]);
        assert_eq!(t(&STATIC_IP_EXPIRING_SOON), ["7 * 86400", "2 * 86400"]);
        assert_eq!(t(&EXPORTER_NOTIFICATIONS_FAILING), ["0.1"]);
        assert!(EXPORTER_NOTIFICATIONS_FAILING
            .expr(&EXPORTER_NOTIFICATIONS_FAILING.variants[0])
            .contains("[10m]))\n  > 0.1\n"));
        assert_eq!(
            ACCOUNT_NEAR_LIMIT.expr(&ACCOUNT_NEAR_LIMIT.variants[1]),
            "proxy:account_used:ratio >= 1"
        );
    }

    #[test]
    fn every_placeholder_is_filled() {
        for a in CATALOGUE {
            for v in a.variants {
                for text in [a.expr(v), v.summary(), v.description()] {
                    for placeholder in [
                        "{threshold}",
                        "{cmp}",
                        "{window}",
                        "{watch_window}",
                        "{statuses}",
                        "{for}",
                        "{factor}",
                        "{spike_window}",
                        "{baseline}",
                        "{min_history}",
                        "{min_bytes}",
                    ] {
                        assert!(
                            !text.contains(placeholder),
                            "{}: {placeholder} left in {text}",
                            a.name
                        );
                    }
                }
            }
        }
        for r in RECORDING_RULES {
            assert!(!r.expr().contains("{window}"), "{}", r.record);
        }
    }

    #[test]
    fn levels_pick_the_most_severe_threshold_met() {
        assert_eq!(TRAFFIC_LOW.level(0.05), Some(Severity::Warning));
        assert_eq!(TRAFFIC_LOW.level(0.01), Some(Severity::Critical));
        assert_eq!(TRAFFIC_LOW.level(0.10), None);
        assert_eq!(ACCOUNT_NEAR_LIMIT.level(0.9), None);
        assert_eq!(ACCOUNT_NEAR_LIMIT.level(1.0), Some(Severity::Critical));
        assert_eq!(
            STATIC_IP_EXPIRING_SOON.level(3.0 * 86_400.0),
            Some(Severity::Warning)
        );
        assert_eq!(TRAFFIC_EXPIRING_SOON.level(1.0), Some(Severity::Warning));
    }

    #[test]
    fn figures_are_written_as_promql_and_as_words() {
        assert_eq!(duration_promql(Duration::from_secs(3600)), "1h");
        assert_eq!(duration_promql(Duration::from_secs(600)), "10m");
        assert_eq!(duration_promql(Duration::ZERO), "0s");
        assert_eq!(duration_words(Duration::from_secs(86_400)), "a day");
        assert_eq!(duration_words(Duration::from_secs(7 * 86_400)), "7 days");
        assert_eq!(duration_words(Duration::from_secs(1800)), "30 minutes");
        assert_eq!(duration_words(Duration::from_secs(90)), "90 seconds");
        assert_eq!(Threshold::Ratio(Cmp::Below, 0.1).words(), "10 %");
        assert_eq!(Threshold::Ratio(Cmp::Below, 0.025).words(), "2.5 %");
    }

    #[test]
    fn recording_rule_names_carry_their_window() {
        for (placeholder, window) in [
            ("{window}", FORECAST_WINDOW),
            ("{rate_window}", FORECAST_RATE_WINDOW),
        ] {
            let suffix = format!(":{}", duration_promql(window));
            for r in RECORDING_RULES
                .iter()
                .filter(|r| r.expr.contains(placeholder) && !r.record.ends_with(":forecast"))
            {
                assert!(r.record.ends_with(&suffix), "{}", r.record);
            }
        }
    }

    /// docs/alerts.md describes the alerts in prose; its table must agree with
    /// the catalogue on severities, thresholds and `for`.
    #[test]
    fn the_alert_table_in_the_docs_matches_the_catalogue() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/alerts.md"))
            .expect("docs/alerts.md");
        for a in CATALOGUE {
            let prefix = format!("| `{}` |", a.name);
            let row = doc
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("docs/alerts.md has no table row for {}", a.name));
            let cells: Vec<_> = row.split('|').map(str::trim).collect();
            let joined = |f: &dyn Fn(&Variant) -> String| {
                let mut all: Vec<_> = a.variants.iter().map(f).collect();
                all.dedup();
                all.join(" / ")
            };
            assert_eq!(
                cells[2],
                joined(&|v| v.severity.as_str().to_owned()),
                "{row}"
            );
            assert_eq!(cells[4], joined(&|v| duration_promql(v.for_)), "{row}");
            let mut rest = cells[3];
            for words in a
                .variants
                .iter()
                .filter_map(|v| v.threshold.map(|t| t.words()))
            {
                let at = rest
                    .find(&words)
                    .unwrap_or_else(|| panic!("{row} does not say {words} (in order)"));
                rest = &rest[at + words.len()..];
            }
        }
    }

    #[test]
    fn every_alert_has_a_runbook_section() {
        let runbook =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/runbook.md"))
                .expect("docs/runbook.md");
        for a in CATALOGUE {
            assert!(
                runbook.lines().any(|l| l == format!("## {}", a.name)),
                "docs/runbook.md has no section ## {} (anchor #{})",
                a.name,
                a.runbook_anchor()
            );
        }
    }
}
