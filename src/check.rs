//! `proxy-quota-exporter check`: polls every target once and tells a person, in
//! a table or as JSON, what is about to run out. The alert catalogue's
//! ([`crate::alerts`]) thresholds decide the exit code (Nagios convention):
//! 0 ok, 1 warning, 2 critical, 3 unknown (a target could not be read).
//!
//! The rules forecast exhaustion from the trend of the last
//! [`alerts::FORECAST_WINDOW`]; one poll has no trend, so `check` forecasts from
//! yesterday's usage, against the same thresholds.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::alerts;
use crate::config::{Config, Target};
use crate::providers::Client;
use crate::readings::{
    AccountReading, PackageReading, PoolReading, Reading, StaticIpReading, STATIC_IP_STATUSES,
};
use crate::scheduler::poll_endpoints;

/// How bad a finding is; the order is the exit code's precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Warning,
    Unknown,
    Critical,
}

impl Severity {
    /// The Nagios exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Severity::Ok => 0,
            Severity::Warning => 1,
            Severity::Critical => 2,
            Severity::Unknown => 3,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Warning => "WARNING",
            Severity::Unknown => "UNKNOWN",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// Everything `check` found.
#[derive(Debug, Serialize)]
pub struct Report {
    pub status: Severity,
    pub exit_code: u8,
    pub targets: Vec<TargetReport>,
}

#[derive(Debug, Serialize)]
pub struct TargetReport {
    pub target: String,
    pub provider: String,
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
    /// Days left at yesterday's usage; only for a target with a single pool,
    /// since usage is reported for the whole account.
    pub days_left: Option<f64>,
    pub expiring_bytes: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
}

impl From<alerts::Severity> for Severity {
    fn from(severity: alerts::Severity) -> Self {
        match severity {
            alerts::Severity::Warning => Severity::Warning,
            alerts::Severity::Critical => Severity::Critical,
        }
    }
}

const SECONDS_PER_DAY: f64 = 86_400.0;

/// Polls every target of `config` once, all targets at the same time.
pub async fn run(config: &Config) -> Report {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let limiter = Arc::new(Semaphore::new(config.max_concurrent_requests));
    let targets = futures::future::join_all(
        config
            .targets
            .iter()
            .map(|t| check_target(t, now, Arc::clone(&limiter))),
    )
    .await;
    let status = targets
        .iter()
        .map(TargetReport::status)
        .max()
        .unwrap_or(Severity::Ok);
    Report {
        status,
        exit_code: status.exit_code(),
        targets,
    }
}

/// Polls `target` once and holds its figures against the alert catalogue's
/// thresholds.
async fn check_target(target: &Target, now: i64, limiter: Arc<Semaphore>) -> TargetReport {
    let (readings, errors) = poll(target, limiter).await;
    let mut report = TargetReport {
        target: target.name.clone(),
        provider: target.provider.name.to_owned(),
        pools: Vec::new(),
        findings: Vec::new(),
        errors,
    };
    let yesterday = yesterday_usage(&readings);
    for reading in &readings {
        match reading {
            Reading::Summary(pools) => report.check_pools(pools, yesterday),
            Reading::Accounts(accounts) => report.check_accounts(accounts),
            Reading::StaticIps(ips) => report.check_static_ips(ips, now),
            Reading::Packages(packages) => report.check_packages(packages, now),
            Reading::Usage(_) | Reading::Customers(_) => {}
        }
    }
    report
        .findings
        .sort_by_key(|f| std::cmp::Reverse(f.severity));
    report
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
    for (endpoint, poll) in target.endpoints.iter().zip(results) {
        match poll.result {
            Ok(reading) => readings.push(reading),
            Err(e) => errors.push(format!(
                "{} {endpoint}: {} ({})",
                target.provider.display_name, e.message, e.reason
            )),
        }
    }
    (readings, errors)
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
    fn status(&self) -> Severity {
        self.findings
            .iter()
            .map(|f| f.severity)
            .chain((!self.errors.is_empty()).then_some(Severity::Unknown))
            .max()
            .unwrap_or(Severity::Ok)
    }

    fn warn(&mut self, severity: impl Into<Severity>, message: String) {
        self.findings.push(Finding {
            severity: severity.into(),
            message,
        });
    }

    /// `ProxyTrafficLow`, `ProxyTrafficExhaustionForecast` (at yesterday's
    /// usage) and `ProxyTrafficExpiringSoon`, and a table line per pool.
    fn check_pools(&mut self, pools: &[PoolReading], yesterday: Option<f64>) {
        for p in pools {
            let ratio = p
                .remaining_bytes
                .zip(p.purchased_bytes.filter(|b| *b > 0.0))
                .map(|(r, b)| r / b);
            let days_left = p.remaining_bytes.zip(yesterday).map(|(r, y)| r / y);
            if let (Some(ratio), Some(left)) = (ratio, p.remaining_bytes) {
                if let Some(level) = alerts::TRAFFIC_LOW.level(ratio) {
                    self.warn(
                        level,
                        format!(
                            "pool {}: only {} left ({} of purchased)",
                            p.pool,
                            bytes(left),
                            percent(ratio)
                        ),
                    );
                }
            }
            if let Some(days) = days_left {
                let forecast = alerts::TRAFFIC_EXHAUSTION_FORECAST.level(days * SECONDS_PER_DAY);
                if let Some(level) = forecast {
                    self.warn(
                        level,
                        format!(
                            "pool {}: runs dry in {:.1} days at yesterday's usage",
                            p.pool, days
                        ),
                    );
                }
            }
            if let Some(expiring) = p.expiring_bytes.filter(|b| *b > 0.0) {
                if let Some(level) = alerts::TRAFFIC_EXPIRING_SOON.level(expiring) {
                    self.warn(
                        level,
                        format!(
                            "pool {}: {} of unused traffic expires within 7 days",
                            p.pool,
                            bytes(expiring)
                        ),
                    );
                }
            }
            self.pools.push(PoolLine {
                pool: p.pool.clone(),
                remaining_bytes: p.remaining_bytes,
                purchased_bytes: p.purchased_bytes,
                used_ratio: p
                    .used_bytes
                    .zip(p.purchased_bytes.filter(|b| *b > 0.0))
                    .map(|(u, b)| u / b),
                days_left,
                expiring_bytes: p.expiring_bytes,
            });
        }
    }

    /// `ProxyAccountNearLimit`; unlimited sub-accounts have no limit to near.
    fn check_accounts(&mut self, accounts: &[AccountReading]) {
        for a in accounts {
            let Some(limit) = a.limit_bytes else { continue };
            let ratio = a.used_bytes / limit;
            if let Some(level) = alerts::ACCOUNT_NEAR_LIMIT.level(ratio) {
                self.warn(
                    level,
                    format!(
                        "sub-account {}: {} of its {} limit used ({})",
                        a.account,
                        bytes(a.used_bytes),
                        bytes(limit),
                        percent(ratio)
                    ),
                );
            }
        }
    }

    /// `ProxyStaticIPExpiringSoon`, soonest first, and `ProxyStaticIPUnhealthy`.
    fn check_static_ips(&mut self, ips: &StaticIpReading, now: i64) {
        let mut soonest: Vec<_> = ips
            .ips
            .iter()
            .filter(|ip| ip.expiry_timestamp > now)
            .collect();
        soonest.sort_by_key(|ip| ip.expiry_timestamp);
        for ip in soonest {
            let left = ip.expiry_timestamp - now;
            let Some(level) = alerts::STATIC_IP_EXPIRING_SOON.level(left as f64) else {
                break;
            };
            self.warn(
                level,
                format!(
                    "static IP {} ({}, {}) expires in {}",
                    ip.ip,
                    ip.product,
                    ip.country,
                    duration(left)
                ),
            );
        }
        for (product, counts) in &ips.status_counts {
            for (status, count) in STATIC_IP_STATUSES.iter().zip(counts) {
                if *count == 0 || !alerts::UNHEALTHY_STATIC_IP_STATUSES.contains(status) {
                    continue;
                }
                if let Some(level) = alerts::STATIC_IP_UNHEALTHY.level(*count as f64) {
                    self.warn(
                        level,
                        format!("{count} {product} static IPs in status {status}"),
                    );
                }
            }
        }
    }

    /// `ProxyPackageExpiringSoon`, soonest first.
    fn check_packages(&mut self, packages: &[PackageReading], now: i64) {
        let mut soonest: Vec<_> = packages
            .iter()
            .filter_map(|p| Some((p, p.expiry_timestamp?)))
            .filter(|(_, t)| *t > now)
            .collect();
        soonest.sort_by_key(|(_, t)| *t);
        for (p, expiry) in soonest {
            let Some(level) = alerts::PACKAGE_EXPIRING_SOON.level((expiry - now) as f64) else {
                break;
            };
            self.warn(
                level,
                format!(
                    "package {} ({}) expires in {}",
                    p.package_id,
                    p.product,
                    duration(expiry - now)
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
        t.provider,
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
                p.remaining_bytes.map_or("-".into(), bytes),
                p.used_ratio.map_or("-".into(), percent),
                p.days_left.map_or("-".into(), |d| format!("{d:.1}")),
                p.expiring_bytes.map_or("-".into(), bytes),
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
            paint(color, Severity::Unknown, &format!("{:<8}", "ERROR")),
            e
        );
    }
    out.push('\n');
}

/// `text` in the colour of `severity` when `color` is on.
fn paint(color: bool, severity: Severity, text: &str) -> String {
    if !color {
        return text.to_owned();
    }
    let code = match severity {
        Severity::Ok => "32",
        Severity::Warning => "33",
        Severity::Unknown => "35",
        Severity::Critical => "31",
    };
    format!("\u{1b}[{code}m{text}\u{1b}[0m")
}

pub use crate::units::format_bytes as bytes;

fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// A duration in seconds for people: `1d 4h`, `5h 12m`, `42m`.
fn duration(seconds: i64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_written_for_people() {
        assert_eq!(bytes(512.0 * 1024.0 * 1024.0 * 1024.0), "512.0 GiB");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(12.0), "12 B");
        assert_eq!(duration(90_000), "1d 1h");
        assert_eq!(duration(3_720), "1h 2m");
        assert_eq!(duration(59), "0m");
        assert_eq!(percent(0.956), "95.6%");
    }

    #[test]
    fn severities_order_into_nagios_exit_codes() {
        assert!(Severity::Critical > Severity::Unknown && Severity::Unknown > Severity::Warning);
        assert_eq!(Severity::Critical.exit_code(), 2);
        assert_eq!(Severity::Unknown.exit_code(), 3);
    }
}
