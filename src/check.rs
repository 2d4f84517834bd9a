//! `proxy-quota-exporter check`: polls every target once and tells a person, in
//! a table or as JSON, what is about to run out. The alert catalogue's
//! ([`crate::alerts`]) thresholds, with the configuration's `alerting.rules`
//! overrides, decide the exit code (Nagios convention): 0 ok, 1 warning,
//! 2 critical, 3 unknown (a target could not be read).
//!
//! Days left come from the same forecast as the agent's alert
//! ([`crate::forecast`]): the last day's average use in the store's history plus
//! this poll (the last 6 h trend while the pool is younger than a day). Without
//! either (no store, or a pool too new) `check` falls back to yesterday's
//! usage, and says so.
//!
//! Usage spikes are read as the agent reads them ([`crate::spike`]): the
//! store's history plus this poll.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::alerts::rules::RuleSet;
use crate::alerts::{self, Threshold};
use crate::config::{Config, Target};
use crate::forecast::{self, History};
use crate::http::Reason;
use crate::providers::Client;
use crate::readings::{
    AccountReading, PackageReading, PoolReading, Reading, StaticIpReading, STATIC_IP_STATUSES,
};
use crate::scheduler::poll_endpoints;
use crate::spike;
use crate::units::{format_bytes, format_duration};

/// How bad a finding is; the order is the exit code's precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warning,
    Unknown,
    Critical,
}

impl Verdict {
    /// The Nagios exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Ok => 0,
            Verdict::Warning => 1,
            Verdict::Critical => 2,
            Verdict::Unknown => 3,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Warning => "WARNING",
            Verdict::Unknown => "UNKNOWN",
            Verdict::Critical => "CRITICAL",
        }
    }
}

/// Everything `check` found.
#[derive(Debug, Serialize)]
pub struct Report {
    pub status: Verdict,
    pub exit_code: u8,
    pub targets: Vec<TargetReport>,
}

/// What a pool's "days left" was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DaysLeftBasis {
    /// The last day's average use in the stored history, as the alert's.
    LastDay,
    /// The trend of the stored history of the last 6 h, as the alert's while
    /// the pool has less than a day of history.
    Trend,
    /// Yesterday's usage: no trend yet.
    Yesterday,
}

#[derive(Debug, Serialize)]
pub struct TargetReport {
    pub target: String,
    pub provider: String,
    /// The target's own `display_name`, shown instead of `provider` when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub pools: Vec<PoolLine>,
    pub findings: Vec<Finding>,
    pub errors: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct PoolLine {
    pub pool: String,
    pub remaining_bytes: Option<f64>,
    pub purchased_bytes: Option<f64>,
    /// used / purchased, 0..1.
    pub used_ratio: Option<f64>,
    /// Days left at the recent rate ([`DaysLeftBasis`]); `None` while nothing
    /// is consumed or nothing tells the rate. Yesterday's usage is reported for
    /// the whole account, so it counts only for a target with a single pool.
    pub days_left: Option<f64>,
    pub days_left_basis: Option<DaysLeftBasis>,
    pub expiring_bytes: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Finding {
    pub severity: Verdict,
    pub message: String,
}

impl From<alerts::Severity> for Verdict {
    fn from(severity: alerts::Severity) -> Self {
        match severity {
            alerts::Severity::Warning => Verdict::Warning,
            alerts::Severity::Critical => Verdict::Critical,
        }
    }
}

const SECONDS_PER_DAY: f64 = 86_400.0;

/// Polls every target of `config` once, all targets at the same time, and
/// reads the pools' recent trend from `history`.
pub async fn run(config: &Config, history: &dyn History) -> Report {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let rules = config
        .alerting
        .as_ref()
        .map_or_else(RuleSet::default, |a| a.rules.clone());
    let limiter = Arc::new(Semaphore::new(config.max_concurrent_requests));
    let polled =
        futures::future::join_all(config.targets.iter().map(|t| poll(t, Arc::clone(&limiter))))
            .await;
    let context = Context {
        rules: &rules,
        history,
        now,
    };
    let targets: Vec<_> = config
        .targets
        .iter()
        .zip(polled)
        .map(|(target, (readings, errors))| context.check_target(target, &readings, errors))
        .collect();
    let status = targets
        .iter()
        .map(TargetReport::status)
        .max()
        .unwrap_or(Verdict::Ok);
    Report {
        status,
        exit_code: status.exit_code(),
        targets,
    }
}

/// Polls every endpoint of `target` once: the readings, and a line for each
/// endpoint that failed (or for the HTTP client that could not be set up).
async fn poll(target: &Target, limiter: Arc<Semaphore>) -> (Vec<Reading>, Vec<String>) {
    let client = match Client::for_target(&target.connection(), limiter) {
        Ok(client) => client,
        Err(e) => {
            return (
                Vec::new(),
                vec![format!("cannot set up HTTP: {}", e.without_url())],
            )
        }
    };
    let results = poll_endpoints(target, &client, &target.endpoints).await;
    let mut readings = Vec::new();
    let mut errors = Vec::new();
    let mut unreachable = Vec::new();
    for (endpoint, poll) in target.endpoints.iter().zip(results) {
        match poll.result {
            Ok(reading) => readings.push(reading),
            Err(e) => {
                if e.reason == Reason::Connect {
                    unreachable.push(connect_cause(&e.message).to_owned());
                }
                errors.push(format!(
                    "{} {endpoint}: {} ({})",
                    target.display_name(),
                    e.message,
                    e.reason
                ));
            }
        }
    }
    // An unreachable host fails every endpoint alike: one line naming it.
    if readings.is_empty()
        && errors.len() > 1
        && unreachable.len() == errors.len()
        && unreachable.iter().all(|cause| *cause == unreachable[0])
    {
        let url = &target.base_url;
        errors = vec![format!(
            "{} {}:{}: cannot connect: {} (connect; all {} endpoints)",
            target.display_name(),
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default(),
            unreachable[0],
            errors.len()
        )];
    }
    (readings, errors)
}

/// The cause of a connection failure without the request's path and the HTTP
/// client's wrapping: `tcp connect error: Connection refused (os error 111)`.
fn connect_cause(message: &str) -> &str {
    let cause = match message.split_once(": ") {
        Some((request, cause)) if request.starts_with("GET ") => cause,
        _ => message,
    };
    cause
        .split_once("client error (Connect): ")
        .map_or(cause, |(_, rest)| rest)
}

/// Yesterday's usage, when it says how long a pool lasts: usage is reported for
/// the whole account, so only when the account has a single pool.
fn yesterday_usage(readings: &[Reading]) -> Option<f64> {
    let single_pool = readings
        .iter()
        .any(|r| matches!(r, Reading::Summary(pools) if pools.len() == 1));
    readings
        .iter()
        .find_map(|r| match r {
            Reading::Usage(u) if u.yesterday_bytes > 0.0 => Some(u.yesterday_bytes),
            _ => None,
        })
        .filter(|_| single_pool)
}

impl TargetReport {
    /// The worst finding; unknown when an endpoint could not be read.
    fn status(&self) -> Verdict {
        self.findings
            .iter()
            .map(|f| f.severity)
            .chain((!self.errors.is_empty()).then_some(Verdict::Unknown))
            .max()
            .unwrap_or(Verdict::Ok)
    }

    fn warn(&mut self, severity: impl Into<Verdict>, message: String) {
        self.findings.push(Finding {
            severity: severity.into(),
            message,
        });
    }
}

/// What every target's readings are held against.
struct Context<'a> {
    rules: &'a RuleSet,
    history: &'a dyn History,
    /// Unix seconds.
    now: i64,
}

impl Context<'_> {
    /// Holds one target's readings against the rules.
    fn check_target(
        &self,
        target: &Target,
        readings: &[Reading],
        errors: Vec<String>,
    ) -> TargetReport {
        let mut report = TargetReport {
            target: target.name.clone(),
            provider: target.provider.name.to_owned(),
            display_name: target.display_name.clone(),
            pools: Vec::new(),
            findings: Vec::new(),
            errors,
        };
        let yesterday = yesterday_usage(readings);
        for reading in readings {
            match reading {
                Reading::Summary(pools) => self.check_pools(&mut report, pools, yesterday),
                Reading::Accounts(accounts) => self.check_accounts(&mut report, accounts),
                Reading::StaticIps(ips) => self.check_static_ips(&mut report, ips),
                Reading::Packages(packages) => self.check_packages(&mut report, packages),
                // Nothing here runs out: a recharge or an order is something a
                // person does (an old one is no fault while the pools last, which
                // the summary already tells), and the allow-list and the stock
                // have no bound.
                Reading::Usage(_)
                | Reading::Customers(_)
                | Reading::NniUsage(_)
                | Reading::Recharges(_)
                | Reading::Allowlist(_)
                | Reading::Stock(_)
                | Reading::Orders(_) => {}
            }
        }
        report
            .findings
            .sort_by_key(|f| std::cmp::Reverse(f.severity));
        report
    }

    /// The most severe evaluated level of `alert` whose threshold `met` accepts.
    fn level(&self, alert: &alerts::Alert, met: impl Fn(Threshold) -> bool) -> Option<Verdict> {
        self.rules.level(alert.name, met).map(Verdict::from)
    }

    /// `ProxyTrafficLow`, `ProxyUsageSpike`, `ProxyTrafficExhaustionForecast`
    /// and `ProxyTrafficExpiringSoon`, and a table line per pool.
    fn check_pools(
        &self,
        report: &mut TargetReport,
        pools: &[PoolReading],
        yesterday: Option<f64>,
    ) {
        for p in pools {
            let ratio = p.remaining_share();
            if let (Some(ratio), Some(left)) = (ratio, p.remaining_bytes) {
                if let Some(level) = self.level(&alerts::TRAFFIC_LOW, |t| t.met(ratio)) {
                    report.warn(
                        level,
                        format!(
                            "pool {}: only {} left ({} of purchased)",
                            p.pool,
                            format_bytes(left),
                            percent(ratio)
                        ),
                    );
                }
            }
            let latest = p
                .purchased_bytes
                .zip(p.remaining_bytes)
                .map(|(bought, left)| (self.now as f64, bought - left));
            let key = (
                report.provider.as_str(),
                report.target.as_str(),
                p.pool.as_str(),
            );
            if let Some((level, r, rule)) =
                self.spike(|rule| spike::pool(self.history, key, latest, self.now as f64, rule))
            {
                report.warn(level, format!("pool {}: {}", p.pool, spike_text(&r, &rule)));
            }
            let (days_left, days_left_basis) = match p.remaining_bytes {
                Some(remaining) => self.days_left(report, p, remaining, yesterday),
                None => (None, None),
            };
            if let Some(expiring) = p.expiring_bytes.filter(|b| *b > 0.0) {
                let level = self.level(&alerts::TRAFFIC_EXPIRING_SOON, |t| t.met(expiring));
                if let Some(level) = level {
                    report.warn(
                        level,
                        format!(
                            "pool {}: {} of unused traffic expires within 7 days",
                            p.pool,
                            format_bytes(expiring)
                        ),
                    );
                }
            }
            report.pools.push(PoolLine {
                pool: p.pool.clone(),
                remaining_bytes: p.remaining_bytes,
                purchased_bytes: p.purchased_bytes,
                used_ratio: p.used_share(),
                days_left,
                days_left_basis,
                expiring_bytes: p.expiring_bytes,
            });
        }
    }

    /// One pool's days left, and `ProxyTrafficExhaustionForecast`: the forecast
    /// of the stored history plus this poll, read exactly as the agent's alert
    /// reads it; without one, yesterday's usage.
    fn days_left(
        &self,
        report: &mut TargetReport,
        p: &PoolReading,
        remaining: f64,
        yesterday: Option<f64>,
    ) -> (Option<f64>, Option<DaysLeftBasis>) {
        let now = self.now as f64;
        let this_poll = forecast::Point {
            at: now,
            remaining,
            purchased: p.purchased_bytes.unwrap_or(f64::NAN),
        };
        let forecast = forecast::forecast(
            self.history,
            &report.provider,
            &report.target,
            &p.pool,
            now,
            Some(this_poll),
        );
        if let Some(forecast) = forecast {
            let days = forecast.days_left(remaining);
            let level = self.level(&alerts::TRAFFIC_EXHAUSTION_FORECAST, |t| {
                matches!(t, Threshold::Within(horizon) if forecast.runs_dry_within(remaining, horizon))
            });
            let (basis, words) = match forecast.basis {
                forecast::Basis::LastDay => (
                    DaysLeftBasis::LastDay,
                    "the last day's average use".to_owned(),
                ),
                forecast::Basis::Trend => (
                    DaysLeftBasis::Trend,
                    format!(
                        "the trend of the last {}",
                        humantime::format_duration(forecast::FORECAST_WINDOW)
                    ),
                ),
            };
            if let (Some(level), Some(days)) = (level, days) {
                report.warn(
                    level,
                    format!("pool {}: runs dry in {days:.1} days at {words}", p.pool),
                );
            }
            return (days, Some(basis));
        }
        let Some(per_day) = yesterday else {
            return (None, None);
        };
        let window = humantime::format_duration(forecast::FORECAST_WINDOW);
        let days = remaining / per_day;
        let seconds = days * SECONDS_PER_DAY;
        let level = self.level(&alerts::TRAFFIC_EXHAUSTION_FORECAST, |t| t.met(seconds));
        if let Some(level) = level {
            report.warn(
                level,
                format!(
                    "pool {}: runs dry in {days:.1} days at yesterday's usage (no {window} history in the store yet)",
                    p.pool
                ),
            );
        }
        (Some(days), Some(DaysLeftBasis::Yesterday))
    }

    /// The most severe level of `ProxyUsageSpike` that `read` finds spiking
    /// with its figures, the reading and those figures.
    fn spike(
        &self,
        read: impl Fn(&alerts::Spike) -> Option<spike::Reading>,
    ) -> Option<(Verdict, spike::Reading, alerts::Spike)> {
        let found = Cell::new(None);
        let level = self.level(&alerts::USAGE_SPIKE, |t| match t {
            Threshold::Spike(rule) => match read(&rule).filter(|r| r.spiking) {
                Some(r) => {
                    found.set(Some((r, rule)));
                    true
                }
                None => false,
            },
            _ => false,
        })?;
        let (r, rule) = found.get()?;
        Some((level, r, rule))
    }

    /// `ProxyAccountNearLimit` (unlimited sub-accounts have no limit to near)
    /// and `ProxyUsageSpike`.
    fn check_accounts(&self, report: &mut TargetReport, accounts: &[AccountReading]) {
        for a in accounts {
            let key = (
                report.provider.as_str(),
                report.target.as_str(),
                a.product.as_str(),
                a.account.as_str(),
            );
            let latest = (self.now as f64, a.used_bytes);
            if let Some((level, r, rule)) =
                self.spike(|rule| spike::account(self.history, key, latest, self.now as f64, rule))
            {
                report.warn(
                    level,
                    format!(
                        "sub-account {} ({}): {}",
                        a.account,
                        a.product,
                        spike_text(&r, &rule)
                    ),
                );
            }
            let (Some(ratio), Some(limit)) = (a.used_share(), a.limit_bytes) else {
                continue;
            };
            if let Some(level) = self.level(&alerts::ACCOUNT_NEAR_LIMIT, |t| t.met(ratio)) {
                report.warn(
                    level,
                    format!(
                        "sub-account {}: {} of its {} limit used ({})",
                        a.account,
                        format_bytes(a.used_bytes),
                        format_bytes(limit),
                        percent(ratio)
                    ),
                );
            }
        }
    }

    /// `ProxyStaticIPExpiringSoon`, soonest first, and `ProxyStaticIPUnhealthy`.
    fn check_static_ips(&self, report: &mut TargetReport, ips: &StaticIpReading) {
        let now = self.now;
        let mut soonest: Vec<_> = ips
            .ips
            .iter()
            .filter(|ip| ip.expiry_timestamp > now)
            .collect();
        soonest.sort_by_key(|ip| ip.expiry_timestamp);
        for ip in soonest {
            let left = ip.expiry_timestamp - now;
            let Some(level) = self.level(&alerts::STATIC_IP_EXPIRING_SOON, |t| t.met(left as f64))
            else {
                break;
            };
            report.warn(
                level,
                format!(
                    "static IP {} ({}, {}) expires in {}",
                    ip.ip,
                    ip.product,
                    ip.country,
                    format_duration(left)
                ),
            );
        }
        for (product, counts) in &ips.status_counts {
            for (status, count) in STATIC_IP_STATUSES.iter().zip(counts) {
                if *count == 0 || !alerts::UNHEALTHY_STATIC_IP_STATUSES.contains(status) {
                    continue;
                }
                if let Some(level) =
                    self.level(&alerts::STATIC_IP_UNHEALTHY, |t| t.met(*count as f64))
                {
                    report.warn(
                        level,
                        format!(
                            "{count} {product} static IP{} in status {status}",
                            if *count == 1 { "" } else { "s" }
                        ),
                    );
                }
            }
        }
    }

    /// `ProxyPackageExpiringSoon`, soonest first.
    fn check_packages(&self, report: &mut TargetReport, packages: &[PackageReading]) {
        let now = self.now;
        let mut soonest: Vec<_> = packages
            .iter()
            .filter_map(|p| Some((p, p.expiry_timestamp?)))
            .filter(|(_, t)| *t > now)
            .collect();
        soonest.sort_by_key(|(_, t)| *t);
        for (p, expiry) in soonest {
            let Some(level) = self.level(&alerts::PACKAGE_EXPIRING_SOON, |t| {
                t.met((expiry - now) as f64)
            }) else {
                break;
            };
            report.warn(
                level,
                format!(
                    "package {} ({}) expires in {}",
                    p.package_id,
                    p.product,
                    format_duration(expiry - now)
                ),
            );
        }
    }
}

/// The report as a table for people; `color` adds ANSI colours.
pub fn render_table(report: &Report, color: bool) -> String {
    let mut out = String::new();
    for t in &report.targets {
        render_target(&mut out, t, color);
    }
    let mut pools = report.targets.iter().flat_map(|t| &t.pools);
    if pools.any(|p| p.days_left_basis == Some(DaysLeftBasis::Yesterday)) {
        let _ = writeln!(
            out,
            "* at yesterday's usage: the store (--storage.path) holds no {} trend of this pool yet\n",
            humantime::format_duration(forecast::FORECAST_WINDOW)
        );
    }
    let _ = writeln!(
        out,
        "{}",
        paint(
            color,
            report.status,
            &format!(
                "overall: {} (exit {})",
                report.status.label(),
                report.exit_code
            )
        )
    );
    out
}

/// One target's block of the table: its status, pools, findings and errors.
fn render_target(out: &mut String, t: &TargetReport, color: bool) {
    let status = t.status();
    let _ = writeln!(
        out,
        "{} ({})  {}",
        t.target,
        t.display_name.as_deref().unwrap_or(&t.provider),
        paint(color, status, status.label())
    );
    if !t.pools.is_empty() {
        let _ = writeln!(
            out,
            "  {:<24} {:>12} {:>7} {:>10} {:>16}",
            "pool", "remaining", "used", "days left", "expiring in 7d"
        );
        for p in &t.pools {
            let _ = writeln!(
                out,
                "  {:<24} {:>12} {:>7} {:>10} {:>16}",
                p.pool,
                p.remaining_bytes.map_or("-".into(), format_bytes),
                p.used_ratio.map_or("-".into(), percent),
                match (p.days_left, p.days_left_basis) {
                    (Some(d), Some(DaysLeftBasis::Yesterday)) => format!("{d:.1}*"),
                    (Some(d), _) => format!("{d:.1}"),
                    (None, _) => "-".into(),
                },
                p.expiring_bytes.map_or("-".into(), format_bytes),
            );
        }
    }
    for f in &t.findings {
        let _ = writeln!(
            out,
            "  {} {}",
            paint(color, f.severity, &format!("{:<8}", f.severity.label())),
            f.message
        );
    }
    for e in &t.errors {
        let _ = writeln!(
            out,
            "  {} {}",
            paint(color, Verdict::Unknown, &format!("{:<8}", "ERROR")),
            e
        );
    }
    out.push('\n');
}

/// `text` in the colour of `severity` when `color` is on.
fn paint(color: bool, severity: Verdict, text: &str) -> String {
    if !color {
        return text.to_owned();
    }
    let code = match severity {
        Verdict::Ok => "32",
        Verdict::Warning => "33",
        Verdict::Unknown => "35",
        Verdict::Critical => "31",
    };
    format!("\u{1b}[{code}m{text}\u{1b}[0m")
}

/// A usage spike in words: `usage spike: 5.0 GiB within 1h, over 3 times the
/// usual 0.5 GiB`.
fn spike_text(r: &spike::Reading, rule: &alerts::Spike) -> String {
    format!(
        "usage spike: {} within {}, over {} times the usual {} (the average of the {} before)",
        format_bytes(r.consumed),
        humantime::format_duration(rule.window),
        rule.factor,
        format_bytes(r.usual),
        humantime::format_duration(rule.baseline)
    )
}

fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_written_for_people() {
        assert_eq!(format_bytes(512.0 * 1024.0 * 1024.0 * 1024.0), "512.0 GiB");
        assert_eq!(format_bytes(1536.0), "1.5 KiB");
        assert_eq!(format_bytes(12.0), "12 B");
        assert_eq!(format_duration(90_000), "1d 1h");
        assert_eq!(format_duration(3_720), "1h 2m");
        assert_eq!(format_duration(59), "0m");
        assert_eq!(format_duration(-5), "0m");
        assert_eq!(percent(0.956), "95.6%");
    }

    #[test]
    fn severities_order_into_nagios_exit_codes() {
        assert!(Verdict::Critical > Verdict::Unknown && Verdict::Unknown > Verdict::Warning);
        assert_eq!(Verdict::Critical.exit_code(), 2);
        assert_eq!(Verdict::Unknown.exit_code(), 3);
    }
}
