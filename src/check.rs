//! `proxy-quota-exporter check`: polls every target once and tells a person, in
//! a table or as JSON, what is about to run out. The alert rules' conditions
//! decide the exit code (Nagios convention): 0 ok, 1 warning, 2 critical,
//! 3 unknown (a target could not be read).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::config::{Config, Target};
use crate::poller::poll_endpoints;
use crate::providers::Client;
use crate::readings::{Reading, STATIC_IP_STATUSES};

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

/// The severity of `value` against thresholds it must stay above: critical
/// below `critical`, warning below `warning`.
fn below(value: f64, critical: f64, warning: f64) -> Option<Severity> {
    if value < critical {
        Some(Severity::Critical)
    } else if value < warning {
        Some(Severity::Warning)
    } else {
        None
    }
}

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
        .flat_map(|t| {
            t.findings
                .iter()
                .map(|f| f.severity)
                .chain((!t.errors.is_empty()).then_some(Severity::Unknown))
        })
        .max()
        .unwrap_or(Severity::Ok);
    Report {
        status,
        exit_code: status.exit_code(),
        targets,
    }
}

async fn check_target(target: &Target, now: i64, limiter: Arc<Semaphore>) -> TargetReport {
    let mut report = TargetReport {
        target: target.name.clone(),
        provider: target.provider.name.to_owned(),
        pools: Vec::new(),
        findings: Vec::new(),
        errors: Vec::new(),
    };
    let client = match Client::for_target(target, limiter) {
        Ok(client) => client,
        Err(e) => {
            report
                .errors
                .push(format!("cannot set up HTTP: {}", e.without_url()));
            return report;
        }
    };
    let results = poll_endpoints(target, &client, &target.endpoints).await;
    let mut readings = Vec::new();
    for (endpoint, (_, result)) in target.endpoints.iter().zip(results) {
        match result {
            Ok(reading) => readings.push(reading),
            Err(e) => report.errors.push(format!(
                "{} {endpoint}: {} ({})",
                target.provider.display_name, e.message, e.reason
            )),
        }
    }
    // Usage is reported for the whole account, so it says how long a pool lasts
    // only when the account has a single pool.
    let single_pool = readings
        .iter()
        .any(|r| matches!(r, Reading::Summary(pools) if pools.len() == 1));
    let yesterday = readings
        .iter()
        .find_map(|r| match r {
            Reading::Usage(u) if u.yesterday_bytes > 0.0 => Some(u.yesterday_bytes),
            _ => None,
        })
        .filter(|_| single_pool);
    let mut warn = |severity, message: String| report.findings.push(Finding { severity, message });
    for reading in &readings {
        match reading {
            Reading::Summary(pools) => {
                for p in pools {
                    let ratio = p
                        .remaining_bytes
                        .zip(p.purchased_bytes.filter(|b| *b > 0.0))
                        .map(|(r, b)| r / b);
                    let days_left = p.remaining_bytes.zip(yesterday).map(|(r, y)| r / y);
                    if let (Some(ratio), Some(left)) = (ratio, p.remaining_bytes) {
                        if let Some(level) = below(ratio, 0.02, 0.10) {
                            warn(
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
                        if let Some(level) = below(days, 1.0, 3.0) {
                            warn(
                                level,
                                format!(
                                    "pool {}: runs dry in {:.1} days at yesterday's usage",
                                    p.pool, days
                                ),
                            );
                        }
                    }
                    if let Some(expiring) = p.expiring_bytes.filter(|b| *b > 0.0) {
                        warn(
                            Severity::Warning,
                            format!(
                                "pool {}: {} of unused traffic expires within 7 days",
                                p.pool,
                                bytes(expiring)
                            ),
                        );
                    }
                    report.pools.push(PoolLine {
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
            Reading::Accounts(accounts) => {
                for a in accounts {
                    let Some(limit) = a.limit_bytes else { continue };
                    let ratio = a.used_bytes / limit;
                    let level = if ratio >= 1.0 {
                        Some(Severity::Critical)
                    } else if ratio > 0.9 {
                        Some(Severity::Warning)
                    } else {
                        None
                    };
                    if let Some(level) = level {
                        warn(
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
            Reading::StaticIps(ips) => {
                let mut soonest: Vec<_> = ips
                    .ips
                    .iter()
                    .filter(|ip| ip.expiry_timestamp > now)
                    .collect();
                soonest.sort_by_key(|ip| ip.expiry_timestamp);
                for ip in soonest {
                    let left = ip.expiry_timestamp - now;
                    let Some(level) = below(left as f64, 2.0 * 86_400.0, 7.0 * 86_400.0) else {
                        break;
                    };
                    warn(
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
                        if *count > 0 && (*status == "invalid" || *status == "maintenance") {
                            warn(
                                Severity::Warning,
                                format!("{count} {product} static IPs in status {status}"),
                            );
                        }
                    }
                }
            }
            Reading::Packages(packages) => {
                let mut soonest: Vec<_> = packages
                    .iter()
                    .filter_map(|p| Some((p, p.expiry_timestamp?)))
                    .filter(|(_, t)| *t > now)
                    .collect();
                soonest.sort_by_key(|(_, t)| *t);
                for (p, expiry) in soonest
                    .into_iter()
                    .take_while(|(_, t)| t - now < 3 * 86_400)
                {
                    warn(
                        Severity::Warning,
                        format!(
                            "package {} ({}) expires in {}",
                            p.package_id,
                            p.product,
                            duration(expiry - now)
                        ),
                    );
                }
            }
            Reading::Usage(_) | Reading::Customers(_) => {}
        }
    }
    report
        .findings
        .sort_by_key(|f| std::cmp::Reverse(f.severity));
    report
}

/// The report as a table for people; `color` adds ANSI colours.
pub fn render_table(report: &Report, color: bool) -> String {
    let paint = |severity: Severity, text: &str| {
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
    };
    let mut out = String::new();
    for t in &report.targets {
        let status = t
            .findings
            .iter()
            .map(|f| f.severity)
            .chain((!t.errors.is_empty()).then_some(Severity::Unknown))
            .max()
            .unwrap_or(Severity::Ok);
        let _ = writeln!(
            out,
            "{} ({})  {}",
            t.target,
            t.provider,
            paint(status, status.label())
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
                paint(f.severity, &format!("{:<8}", f.severity.label())),
                f.message
            );
        }
        for e in &t.errors {
            let _ = writeln!(
                out,
                "  {} {}",
                paint(Severity::Unknown, &format!("{:<8}", "ERROR")),
                e
            );
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{}",
        paint(
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
