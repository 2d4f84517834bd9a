//! The metric catalogue (names, types, HELP texts: the contract in code) and the
//! encoder that turns target snapshots into Prometheus text exposition bytes.

use std::collections::HashSet;
use std::hash::{BuildHasher as _, RandomState};
use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use crate::http::Reason;
use crate::poller::{ReloadStatus, TargetSnapshot};
use crate::providers::{AccountReading, PoolReading, Reading, STATIC_IP_STATUSES};

/// The Content-Type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

/// One metric family of the contract.
#[derive(Debug)]
pub struct MetricDef {
    pub name: &'static str,
    pub kind: Kind,
    /// Label names, in exposition order.
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

macro_rules! metrics {
    ($($id:ident = $name:literal, $kind:ident, [$($label:literal),*], $help:literal;)*) => {
        $(pub const $id: MetricDef = MetricDef { name: $name, kind: Kind::$kind, labels: &[$($label),*], help: $help };)*
        /// Every family the exporter writes itself, in exposition order.
        pub const CATALOGUE: &[&MetricDef] = &[$(&$id),*];
    };
}

metrics! {
    TRAFFIC_REMAINING = "proxy_traffic_remaining_bytes", Gauge, ["provider", "target", "pool"],
        "Traffic left in the pool, in bytes. Polled in the background every interval.";
    TRAFFIC_PURCHASED = "proxy_traffic_purchased_bytes", Gauge, ["provider", "target", "pool"],
        "Traffic purchased in the pool's valid packages, in bytes. Polled in the background every interval.";
    TRAFFIC_USED = "proxy_traffic_used_bytes", Gauge, ["provider", "target", "pool"],
        "Traffic used from the pool's valid packages, in bytes. Polled in the background every interval.";
    TRAFFIC_EXPIRING = "proxy_traffic_expiring_bytes", Gauge, ["provider", "target", "pool"],
        "Unused traffic in packages that expire within 7 days, in bytes. Polled in the background every interval.";
    TRAFFIC_EXPIRED = "proxy_traffic_expired_bytes", Gauge, ["provider", "target", "pool"],
        "Unused traffic lost to expired packages, in bytes. Polled in the background every interval.";
    TRAFFIC_LIFETIME_PURCHASED = "proxy_traffic_lifetime_purchased_bytes", Gauge, ["provider", "target", "pool"],
        "Traffic ever purchased in the pool, in bytes. Polled in the background every interval.";
    TRAFFIC_LIFETIME_USED = "proxy_traffic_lifetime_used_bytes", Gauge, ["provider", "target", "pool"],
        "Traffic ever used from the pool, in bytes. Polled in the background every interval.";
    PACKAGES = "proxy_packages", Gauge, ["provider", "target", "pool", "state"],
        "Number of packages in the pool by state (total, active, expiring within 7 days, expired). Polled in the background every interval.";
    PACKAGE_EXPIRY = "proxy_package_expiry_timestamp_seconds", Gauge, ["provider", "target", "package_id", "product"],
        "Expiry time of a purchased package, in Unix seconds. Polled in the background every interval.";
    USAGE_TODAY = "proxy_usage_today_bytes", Gauge, ["provider", "target"],
        "Traffic used so far today (provider's calendar day), in bytes. Polled in the background every interval.";
    USAGE_YESTERDAY = "proxy_usage_yesterday_bytes", Gauge, ["provider", "target"],
        "Traffic used yesterday (provider's calendar day), in bytes. Polled in the background every interval.";
    ACCOUNT_USED = "proxy_account_used_bytes", Gauge, ["provider", "target", "account", "product"],
        "Traffic used by a proxy sub-account, in bytes. Polled in the background every interval.";
    ACCOUNT_LIMIT = "proxy_account_limit_bytes", Gauge, ["provider", "target", "account", "product"],
        "Traffic limit of a proxy sub-account, in bytes; absent for unlimited accounts. Polled in the background every interval.";
    ACCOUNT_ENABLED = "proxy_account_enabled", Gauge, ["provider", "target", "account", "product"],
        "Whether a proxy sub-account is enabled (1) or disabled (0). Polled in the background every interval.";
    ACCOUNT_INFO = "proxy_account_info", Gauge, ["provider", "target", "account", "product", "remark"],
        "Proxy sub-account metadata; always 1. Polled in the background every interval.";
    STATIC_IP_EXPIRY = "proxy_static_ip_expiry_timestamp_seconds", Gauge, ["provider", "target", "ip", "product", "country"],
        "Expiry time of a static IP, in Unix seconds. Polled in the background every interval.";
    STATIC_IPS = "proxy_static_ips", Gauge, ["provider", "target", "product", "status"],
        "Number of static IPs by product and status. Polled in the background every interval.";
    CUSTOMER_USAGE_TODAY = "proxy_customer_usage_today_bytes", Gauge, ["provider", "target", "customer_id", "direction"],
        "Traffic used today by an agent's customer, by direction, in bytes. Polled in the background every interval.";
    UP = "proxy_up", Gauge, ["provider", "target"],
        "1 when the last poll of every enabled endpoint of the target succeeded, else 0. Polled in the background every interval.";
    POLL_SUCCESS = "proxy_exporter_poll_success", Gauge, ["provider", "target", "endpoint"],
        "Whether the last background poll of the endpoint succeeded (1) or failed (0).";
    POLL_DURATION = "proxy_exporter_poll_duration_seconds", Gauge, ["provider", "target", "endpoint"],
        "Duration of the last background poll of the endpoint, all pages and retries included, in seconds.";
    LAST_SUCCESS = "proxy_exporter_last_success_timestamp_seconds", Gauge, ["provider", "target", "endpoint"],
        "End of the last successful background poll of the endpoint, in Unix seconds.";
    POLL_ERRORS = "proxy_exporter_poll_errors_total", Counter, ["provider", "target", "endpoint", "reason"],
        "Failed background polls of the endpoint, by reason.";
    BUILD_INFO = "proxy_exporter_build_info", Gauge, ["version", "revision"],
        "Build information of proxy-quota-exporter; always 1.";
    CONFIG_RELOAD_SUCCESSFUL = "proxy_exporter_config_last_reload_successful", Gauge, [],
        "Whether the last configuration reload succeeded (1) or was refused (0).";
    CONFIG_RELOAD_TIMESTAMP = "proxy_exporter_config_last_reload_success_timestamp_seconds", Gauge, [],
        "Time of the last successful configuration load or reload, in Unix seconds.";
}

/// Build version and revision for `proxy_exporter_build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = env!("PQE_GIT_REVISION");

/// Writes one family: the header before its first sample, each label set once.
struct Family<'a> {
    out: &'a mut Vec<u8>,
    def: &'static MetricDef,
    header_written: bool,
    /// Hashes of the label sets written so far (a 64-bit keyed hash: storing
    /// every line would double the memory of a big exposition).
    seen: HashSet<u64>,
    hasher: RandomState,
    line: Vec<u8>,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut Vec<u8>, def: &'static MetricDef) -> Self {
        Family {
            out,
            def,
            header_written: false,
            seen: HashSet::new(),
            hasher: RandomState::new(),
            line: Vec::with_capacity(256),
        }
    }

    /// Adds a sample. A label set already written in this family is skipped, so
    /// an upstream listing the same account twice cannot break the exposition.
    fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        debug_assert!(
            labels
                .iter()
                .map(|(name, _)| *name)
                .eq(self.def.labels.iter().copied()),
            "{} written with labels {labels:?}, catalogue says {:?}",
            self.def.name,
            self.def.labels
        );
        self.line.clear();
        self.line.extend_from_slice(self.def.name.as_bytes());
        if !labels.is_empty() {
            self.line.push(b'{');
            for (i, (name, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.line.push(b',');
                }
                self.line.extend_from_slice(name.as_bytes());
                self.line.extend_from_slice(b"=\"");
                escape_label_value(&mut self.line, value);
                self.line.push(b'"');
            }
            self.line.push(b'}');
        }
        if !self.seen.insert(self.hasher.hash_one(&self.line)) {
            tracing::debug!(metric = self.def.name, "duplicate series skipped");
            return;
        }
        if !self.header_written {
            self.header_written = true;
            let kind = match self.def.kind {
                Kind::Gauge => "gauge",
                Kind::Counter => "counter",
            };
            let _ = writeln!(self.out, "# HELP {} {}", self.def.name, self.def.help);
            let _ = writeln!(self.out, "# TYPE {} {kind}", self.def.name);
        }
        self.out.extend_from_slice(&self.line);
        self.out.push(b' ');
        write_value(self.out, value);
        self.out.push(b'\n');
    }
}

fn escape_label_value(out: &mut Vec<u8>, value: &str) {
    for b in value.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

fn write_value(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if value.fract() == 0.0 && value.abs() < 9.0e15 {
        let _ = write!(out, "{}", value as i64);
    } else {
        let _ = write!(out, "{value}");
    }
}

/// Reads one value of a series from a reading; `None` writes no series.
type Field<T> = fn(&T) -> Option<f64>;

/// The per-pool traffic families and where each reads its value.
const POOL_FAMILIES: &[(&MetricDef, Field<PoolReading>)] = &[
    (&TRAFFIC_REMAINING, |p| p.remaining_bytes),
    (&TRAFFIC_PURCHASED, |p| p.purchased_bytes),
    (&TRAFFIC_USED, |p| p.used_bytes),
    (&TRAFFIC_EXPIRING, |p| p.expiring_bytes),
    (&TRAFFIC_EXPIRED, |p| p.expired_bytes),
    (&TRAFFIC_LIFETIME_PURCHASED, |p| p.lifetime_purchased_bytes),
    (&TRAFFIC_LIFETIME_USED, |p| p.lifetime_used_bytes),
];

/// The per-account families and where each reads its value.
const ACCOUNT_FAMILIES: &[(&MetricDef, Field<AccountReading>)] = &[
    (&ACCOUNT_USED, |a| Some(a.used_bytes)),
    (&ACCOUNT_LIMIT, |a| a.limit_bytes),
    (&ACCOUNT_ENABLED, |a| {
        Some(if a.enabled { 1.0 } else { 0.0 })
    }),
];

/// The readings of a target's endpoints that have current values.
/// Readings older than `max_staleness` (`stale_at` passed) are not served.
fn readings(t: &TargetSnapshot, now: Instant) -> impl Iterator<Item = &Reading> {
    t.endpoints
        .iter()
        .filter(move |e| e.stale_at.is_none_or(|at| at > now))
        .filter_map(|e| e.reading.as_deref())
}

/// The most series a reading adds to `/metrics` (what `sample_limit` counts).
pub fn series_in(reading: &Reading) -> usize {
    match reading {
        Reading::Usage(_) => 2,
        // Seven traffic families and four package states per pool.
        Reading::Summary(pools) => pools.len() * 11,
        Reading::Packages(packages) => packages.len(),
        // Used, limit, enabled and info per account.
        Reading::Accounts(accounts) => accounts.len() * 4,
        Reading::StaticIps(s) => s.ips.len() + s.status_counts.len() * STATIC_IP_STATUSES.len(),
        Reading::Customers(customers) => customers.len() * 2,
    }
}

/// Encodes every target's snapshot plus the exporter's own build and reload status.
pub fn encode(targets: &[Arc<TargetSnapshot>], reload: ReloadStatus, now: Instant) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 * 1024);

    for (def, value) in POOL_FAMILIES {
        let mut f = Family::new(&mut out, def);
        for t in targets {
            for reading in readings(t, now) {
                if let Reading::Summary(pools) = reading {
                    for p in pools {
                        if let Some(v) = value(p) {
                            f.sample(
                                &[
                                    ("provider", t.provider),
                                    ("target", &t.target),
                                    ("pool", &p.pool),
                                ],
                                v,
                            );
                        }
                    }
                }
            }
        }
    }

    let mut f = Family::new(&mut out, &PACKAGES);
    for t in targets {
        for reading in readings(t, now) {
            if let Reading::Summary(pools) = reading {
                for p in pools {
                    let states = [
                        ("total", p.packages_total),
                        ("active", p.packages_active),
                        ("expiring", p.packages_expiring),
                        ("expired", p.packages_expired),
                    ];
                    for (state, v) in states {
                        if let Some(v) = v {
                            f.sample(
                                &[
                                    ("provider", t.provider),
                                    ("target", &t.target),
                                    ("pool", &p.pool),
                                    ("state", state),
                                ],
                                v,
                            );
                        }
                    }
                }
            }
        }
    }

    let mut f = Family::new(&mut out, &PACKAGE_EXPIRY);
    for t in targets {
        for reading in readings(t, now) {
            if let Reading::Packages(packages) = reading {
                for p in packages {
                    if let Some(ts) = p.expiry_timestamp {
                        f.sample(
                            &[
                                ("provider", t.provider),
                                ("target", &t.target),
                                ("package_id", &p.package_id),
                                ("product", &p.product),
                            ],
                            ts as f64,
                        );
                    }
                }
            }
        }
    }

    for (def, today) in [(&USAGE_TODAY, true), (&USAGE_YESTERDAY, false)] {
        let mut f = Family::new(&mut out, def);
        for t in targets {
            for reading in readings(t, now) {
                if let Reading::Usage(u) = reading {
                    let v = if today {
                        u.today_bytes
                    } else {
                        u.yesterday_bytes
                    };
                    f.sample(&[("provider", t.provider), ("target", &t.target)], v);
                }
            }
        }
    }

    for (def, value) in ACCOUNT_FAMILIES {
        let mut f = Family::new(&mut out, def);
        for t in targets {
            for reading in readings(t, now) {
                if let Reading::Accounts(accounts) = reading {
                    for a in accounts {
                        if let Some(v) = value(a) {
                            f.sample(
                                &[
                                    ("provider", t.provider),
                                    ("target", &t.target),
                                    ("account", &a.account),
                                    ("product", &a.product),
                                ],
                                v,
                            );
                        }
                    }
                }
            }
        }
    }
    let mut f = Family::new(&mut out, &ACCOUNT_INFO);
    for t in targets {
        for reading in readings(t, now) {
            if let Reading::Accounts(accounts) = reading {
                for a in accounts {
                    f.sample(
                        &[
                            ("provider", t.provider),
                            ("target", &t.target),
                            ("account", &a.account),
                            ("product", &a.product),
                            ("remark", &a.remark),
                        ],
                        1.0,
                    );
                }
            }
        }
    }

    let mut f = Family::new(&mut out, &STATIC_IP_EXPIRY);
    for t in targets {
        for reading in readings(t, now) {
            if let Reading::StaticIps(s) = reading {
                for ip in &s.ips {
                    f.sample(
                        &[
                            ("provider", t.provider),
                            ("target", &t.target),
                            ("ip", &ip.ip),
                            ("product", &ip.product),
                            ("country", &ip.country),
                        ],
                        ip.expiry_timestamp as f64,
                    );
                }
            }
        }
    }

    let mut f = Family::new(&mut out, &STATIC_IPS);
    for t in targets {
        for reading in readings(t, now) {
            if let Reading::StaticIps(s) = reading {
                for (product, counts) in &s.status_counts {
                    for (status, count) in STATIC_IP_STATUSES.iter().zip(counts) {
                        f.sample(
                            &[
                                ("provider", t.provider),
                                ("target", &t.target),
                                ("product", product),
                                ("status", status),
                            ],
                            *count as f64,
                        );
                    }
                }
            }
        }
    }

    let mut f = Family::new(&mut out, &CUSTOMER_USAGE_TODAY);
    for t in targets {
        for reading in readings(t, now) {
            if let Reading::Customers(customers) = reading {
                for c in customers {
                    for (direction, v) in
                        [("upload", c.upload_bytes), ("download", c.download_bytes)]
                    {
                        f.sample(
                            &[
                                ("provider", t.provider),
                                ("target", &t.target),
                                ("customer_id", &c.customer_id),
                                ("direction", direction),
                            ],
                            v,
                        );
                    }
                }
            }
        }
    }

    let mut f = Family::new(&mut out, &UP);
    for t in targets {
        let up = t.endpoints.iter().all(|e| e.success);
        f.sample(
            &[("provider", t.provider), ("target", &t.target)],
            if up { 1.0 } else { 0.0 },
        );
    }
    let mut f = Family::new(&mut out, &POLL_SUCCESS);
    for t in targets {
        for e in &t.endpoints {
            f.sample(
                &[
                    ("provider", t.provider),
                    ("target", &t.target),
                    ("endpoint", e.endpoint.as_str()),
                ],
                if e.success { 1.0 } else { 0.0 },
            );
        }
    }
    let mut f = Family::new(&mut out, &POLL_DURATION);
    for t in targets {
        for e in &t.endpoints {
            f.sample(
                &[
                    ("provider", t.provider),
                    ("target", &t.target),
                    ("endpoint", e.endpoint.as_str()),
                ],
                e.duration_seconds,
            );
        }
    }
    let mut f = Family::new(&mut out, &LAST_SUCCESS);
    for t in targets {
        for e in &t.endpoints {
            if let Some(ts) = e.last_success_unix {
                f.sample(
                    &[
                        ("provider", t.provider),
                        ("target", &t.target),
                        ("endpoint", e.endpoint.as_str()),
                    ],
                    ts,
                );
            }
        }
    }
    let mut f = Family::new(&mut out, &POLL_ERRORS);
    for t in targets {
        for e in &t.endpoints {
            for reason in Reason::ALL {
                f.sample(
                    &[
                        ("provider", t.provider),
                        ("target", &t.target),
                        ("endpoint", e.endpoint.as_str()),
                        ("reason", reason.as_str()),
                    ],
                    e.errors[reason.index()] as f64,
                );
            }
        }
    }
    let mut f = Family::new(&mut out, &BUILD_INFO);
    f.sample(&[("version", VERSION), ("revision", REVISION)], 1.0);
    let mut f = Family::new(&mut out, &CONFIG_RELOAD_SUCCESSFUL);
    f.sample(&[], if reload.successful { 1.0 } else { 0.0 });
    let mut f = Family::new(&mut out, &CONFIG_RELOAD_TIMESTAMP);
    f.sample(&[], reload.success_timestamp);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = Vec::new();
        escape_label_value(&mut out, "a \"quoted\" \\ back\nslash");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"a \"quoted\" \\ back\nslash"#
        );
    }

    #[test]
    fn values_are_formatted_exactly() {
        let fmt = |v: f64| {
            let mut out = Vec::new();
            write_value(&mut out, v);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(fmt(1073741824.0), "1073741824");
        assert_eq!(fmt(611225.6), "611225.6");
        assert_eq!(fmt(f64::NAN), "NaN");
        assert_eq!(fmt(f64::INFINITY), "+Inf");
        assert_eq!(fmt(1.0e20), "100000000000000000000");
    }

    #[test]
    fn duplicate_series_are_written_once_and_headers_only_with_samples() {
        let mut out = Vec::new();
        let labels = |account| {
            [
                ("provider", "p"),
                ("target", "t"),
                ("account", account),
                ("product", "x"),
            ]
        };
        {
            let mut f = Family::new(&mut out, &ACCOUNT_USED);
            f.sample(&labels("a"), 1.0);
            f.sample(&labels("a"), 2.0);
            f.sample(&labels("b"), 3.0);
        }
        Family::new(&mut out, &ACCOUNT_LIMIT);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("proxy_account_used_bytes{").count(), 2);
        assert!(text.contains(
            "proxy_account_used_bytes{provider=\"p\",target=\"t\",account=\"a\",product=\"x\"} 1\n"
        ));
        assert!(!text.contains("proxy_account_limit_bytes"));
    }
}
