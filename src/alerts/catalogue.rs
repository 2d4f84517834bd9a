//! The data of the alert catalogue: the nine contract alerts with their default
//! thresholds, and the recording rules. The types and the placeholders are
//! described in the parent module.

use std::time::Duration;

use super::{Alert, AlertId, Cmp, RecordingRule, Severity, Threshold, Variant};

const fn minutes(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

const fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

/// The trend window of the exhaustion forecast and of the recording rules
/// named `…:6h`.
pub const FORECAST_WINDOW: Duration = Duration::from_secs(6 * 3600);

/// The static IP statuses `ProxyStaticIPUnhealthy` fires for.
pub const UNHEALTHY_STATIC_IP_STATUSES: [&str; 2] = ["invalid", "maintenance"];

/// Every alert, in the order of the rule file.
pub const CATALOGUE: &[Alert] = &[
    TRAFFIC_LOW,
    TRAFFIC_EXHAUSTION_FORECAST,
    TRAFFIC_EXPIRING_SOON,
    PACKAGE_EXPIRING_SOON,
    ACCOUNT_NEAR_LIMIT,
    STATIC_IP_EXPIRING_SOON,
    STATIC_IP_UNHEALTHY,
    TARGET_DOWN,
    EXPORTER_DOWN,
];

/// Every recording rule, in the order of the rule file.
pub const RECORDING_RULES: &[RecordingRule] = &[
    RecordingRule {
        record: "proxy:traffic_consumption_bytes_per_second:6h",
        expr: "clamp_min(-deriv(proxy_traffic_remaining_bytes[{window}]), 0)",
        help: "Traffic consumed per second, over the last 6 h (0 when nothing is used or the pool grew).",
    },
    RecordingRule {
        record: "proxy:traffic_days_left:6h",
        expr: "\
proxy_traffic_remaining_bytes
  / on(provider, target, pool) (proxy:traffic_consumption_bytes_per_second:6h > 0)
  / 86400",
        help: "Days until the pool runs dry at the last 6 h rate; absent without consumption.",
    },
    RecordingRule {
        record: "proxy:traffic_remaining:ratio",
        expr: "\
proxy_traffic_remaining_bytes
  / on(provider, target, pool) (proxy_traffic_purchased_bytes > 0)",
        help: "Share of the purchased traffic still left; absent when nothing was purchased.",
    },
    RecordingRule {
        record: "proxy:account_used:ratio",
        expr: "\
proxy_account_used_bytes
  / on(provider, target, account, product) (proxy_account_limit_bytes > 0)",
        help: "Share of its limit a sub-account has used; absent for unlimited accounts \
               (they have no proxy_account_limit_bytes series).",
    },
];

/// Remaining traffic of a pool below a share of what was purchased.
pub const TRAFFIC_LOW: Alert = Alert {
    id: AlertId::TrafficLow,
    name: "ProxyTrafficLow",
    expr: "\
proxy_traffic_remaining_bytes
  and on(provider, target, pool) (proxy:traffic_remaining:ratio {cmp} {threshold})",
    note: None,
    variants: &[
        Variant {
            severity: Severity::Warning,
            threshold: Some(Threshold::Ratio(Cmp::Below, 0.10)),
            for_: minutes(10),
            summary: "{{ $labels.provider }} {{ $labels.target }}: pool {{ $labels.pool }} below {threshold} of its traffic",
            description: "Only {{ $value | humanize1024 }}B of traffic left in pool {{ $labels.pool }} of {{ $labels.provider }} target {{ $labels.target }}, less than {threshold} of what was purchased. Top up before it runs out.",
        },
        Variant {
            severity: Severity::Critical,
            threshold: Some(Threshold::Ratio(Cmp::Below, 0.02)),
            for_: minutes(5),
            summary: "{{ $labels.provider }} {{ $labels.target }}: pool {{ $labels.pool }} below {threshold} of its traffic",
            description: "Only {{ $value | humanize1024 }}B of traffic left in pool {{ $labels.pool }} of {{ $labels.provider }} target {{ $labels.target }}, less than {threshold} of what was purchased. Top up now.",
        },
    ],
};

/// At the trend of the last [`FORECAST_WINDOW`], the pool runs dry within the
/// threshold.
pub const TRAFFIC_EXHAUSTION_FORECAST: Alert = Alert {
    id: AlertId::TrafficExhaustionForecast,
    name: "ProxyTrafficExhaustionForecast",
    expr: "\
(
  proxy_traffic_remaining_bytes
    / on(provider, target, pool) (proxy:traffic_consumption_bytes_per_second:6h > 0)
)
  and on(provider, target, pool) (predict_linear(proxy_traffic_remaining_bytes[{window}], {threshold}) < 0)
  unless on(provider, target, pool) (changes(proxy_traffic_purchased_bytes[{window}]) > 0)",
    note: Some(
        "The forecast needs consumption (a falling pool) and a stable purchase: a top-up or a \
         package that expired in the last 6 h changes proxy_traffic_purchased_bytes and would \
         distort the trend, so the pool is left to ProxyTrafficLow until the window has passed.",
    ),
    variants: &[
        Variant {
            severity: Severity::Warning,
            threshold: Some(Threshold::Within(days(3))),
            for_: minutes(30),
            summary: "{{ $labels.provider }} {{ $labels.target }}: pool {{ $labels.pool }} runs dry within {threshold}",
            description: "At the last 6 h rate, pool {{ $labels.pool }} of {{ $labels.provider }} target {{ $labels.target }} runs out of traffic in {{ $value | humanizeDuration }}. Top up or slow down.",
        },
        Variant {
            severity: Severity::Critical,
            threshold: Some(Threshold::Within(days(1))),
            for_: minutes(15),
            summary: "{{ $labels.provider }} {{ $labels.target }}: pool {{ $labels.pool }} runs dry within {threshold}",
            description: "At the last 6 h rate, pool {{ $labels.pool }} of {{ $labels.provider }} target {{ $labels.target }} runs out of traffic in {{ $value | humanizeDuration }}. Top up now.",
        },
    ],
};

/// Unused traffic in packages that expire within 7 days (the window of
/// `proxy_traffic_expiring_bytes`, not a threshold of the alert).
pub const TRAFFIC_EXPIRING_SOON: Alert = Alert {
    id: AlertId::TrafficExpiringSoon,
    name: "ProxyTrafficExpiringSoon",
    expr: "proxy_traffic_expiring_bytes > 0",
    note: None,
    variants: &[Variant {
        severity: Severity::Warning,
        threshold: None,
        for_: minutes(60),
        summary: "{{ $labels.provider }} {{ $labels.target }}: unused traffic in pool {{ $labels.pool }} expires within 7 days",
        description: "{{ $value | humanize1024 }}B of traffic in packages of pool {{ $labels.pool }} ({{ $labels.provider }} target {{ $labels.target }}) expire within 7 days unused. Use it first or accept the loss.",
    }],
};

/// A package expires within the threshold.
pub const PACKAGE_EXPIRING_SOON: Alert = Alert {
    id: AlertId::PackageExpiringSoon,
    name: "ProxyPackageExpiringSoon",
    expr: "\
(proxy_package_expiry_timestamp_seconds - time() < {threshold})
  and (proxy_package_expiry_timestamp_seconds - time() > 0)",
    note: None,
    variants: &[Variant {
        severity: Severity::Warning,
        threshold: Some(Threshold::Within(days(3))),
        for_: minutes(10),
        summary: "{{ $labels.provider }} {{ $labels.target }}: package {{ $labels.package_id }} expires within {threshold}",
        description: "Package {{ $labels.package_id }} ({{ $labels.product }}) of {{ $labels.provider }} target {{ $labels.target }} expires in {{ $value | humanizeDuration }}. Renew it if it is still needed.",
    }],
};

/// A sub-account has used a share of its limit.
pub const ACCOUNT_NEAR_LIMIT: Alert = Alert {
    id: AlertId::AccountNearLimit,
    name: "ProxyAccountNearLimit",
    expr: "proxy:account_used:ratio {cmp} {threshold}",
    note: None,
    variants: &[
        Variant {
            severity: Severity::Warning,
            threshold: Some(Threshold::Ratio(Cmp::Above, 0.9)),
            for_: minutes(10),
            summary: "{{ $labels.provider }} {{ $labels.target }}: sub-account {{ $labels.account }} above {threshold} of its limit",
            description: "Sub-account {{ $labels.account }} ({{ $labels.product }}) of {{ $labels.provider }} target {{ $labels.target }} has used {{ $value | humanizePercentage }} of its traffic limit. Raise the limit or expect it to stop.",
        },
        Variant {
            severity: Severity::Critical,
            threshold: Some(Threshold::Ratio(Cmp::AtLeast, 1.0)),
            for_: minutes(5),
            summary: "{{ $labels.provider }} {{ $labels.target }}: sub-account {{ $labels.account }} reached its limit",
            description: "Sub-account {{ $labels.account }} ({{ $labels.product }}) of {{ $labels.provider }} target {{ $labels.target }} has used {{ $value | humanizePercentage }} of its traffic limit. Raise the limit now.",
        },
    ],
};

/// A static IP expires within the threshold.
pub const STATIC_IP_EXPIRING_SOON: Alert = Alert {
    id: AlertId::StaticIpExpiringSoon,
    name: "ProxyStaticIPExpiringSoon",
    expr: "\
(proxy_static_ip_expiry_timestamp_seconds - time() < {threshold})
  and (proxy_static_ip_expiry_timestamp_seconds - time() > 0)",
    note: None,
    variants: &[
        Variant {
            severity: Severity::Warning,
            threshold: Some(Threshold::Within(days(7))),
            for_: minutes(10),
            summary: "{{ $labels.provider }} {{ $labels.target }}: static IP {{ $labels.ip }} expires within {threshold}",
            description: "Static IP {{ $labels.ip }} ({{ $labels.product }}, {{ $labels.country }}) of {{ $labels.provider }} target {{ $labels.target }} expires in {{ $value | humanizeDuration }}. Renew it before allowlists break.",
        },
        Variant {
            severity: Severity::Critical,
            threshold: Some(Threshold::Within(days(2))),
            for_: minutes(10),
            summary: "{{ $labels.provider }} {{ $labels.target }}: static IP {{ $labels.ip }} expires within {threshold}",
            description: "Static IP {{ $labels.ip }} ({{ $labels.product }}, {{ $labels.country }}) of {{ $labels.provider }} target {{ $labels.target }} expires in {{ $value | humanizeDuration }}. Renew it now.",
        },
    ],
};

/// Static IPs in one of [`UNHEALTHY_STATIC_IP_STATUSES`].
pub const STATIC_IP_UNHEALTHY: Alert = Alert {
    id: AlertId::StaticIpUnhealthy,
    name: "ProxyStaticIPUnhealthy",
    expr: "proxy_static_ips{status=~\"{statuses}\"} > 0",
    note: None,
    variants: &[Variant {
        severity: Severity::Warning,
        threshold: None,
        for_: minutes(30),
        summary: "{{ $labels.provider }} {{ $labels.target }}: {{ $value }} static IPs {{ $labels.status }}",
        description: "{{ $value }} {{ $labels.product }} static IPs of {{ $labels.provider }} target {{ $labels.target }} have been in status {{ $labels.status }} for {for}. Ask the provider or replace them.",
    }],
};

/// A target's polls fail; the description says so when the credential is
/// rejected.
pub const TARGET_DOWN: Alert = Alert {
    id: AlertId::TargetDown,
    name: "ProxyTargetDown",
    expr: "proxy_up == 0",
    note: None,
    variants: &[Variant {
        severity: Severity::Critical,
        threshold: None,
        for_: minutes(15),
        summary: "{{ $labels.provider }} {{ $labels.target }}: polls failing for {for}",
        description: r#"The exporter cannot read {{ $labels.provider }} target {{ $labels.target }}; its figures are going stale and other alerts for it are blind.{{ with printf `increase(proxy_exporter_poll_errors_total{reason="auth",provider="%s",target="%s"}[15m]) > 0` $labels.provider $labels.target | query }} The provider rejects the credential (reason auth): check its credential (app_key, token or credential).{{ end }}"#,
    }],
};

/// Prometheus cannot scrape the exporter (scrape job `proxy-quota-exporter`).
pub const EXPORTER_DOWN: Alert = Alert {
    id: AlertId::ExporterDown,
    name: "ProxyExporterDown",
    expr: r#"up{job="proxy-quota-exporter"} == 0 or absent(up{job="proxy-quota-exporter"})"#,
    note: None,
    variants: &[Variant {
        severity: Severity::Critical,
        threshold: None,
        for_: minutes(5),
        summary: "proxy-quota-exporter is not scraped",
        description: "Prometheus cannot scrape proxy-quota-exporter (job proxy-quota-exporter): no proxy traffic, expiry or limit alert can fire.",
    }],
};
