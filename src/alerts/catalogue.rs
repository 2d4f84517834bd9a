//! The data of the alert catalogue: the contract alerts with their default
//! thresholds, and the recording rules. The types and the placeholders are
//! described in the parent module.

use std::time::Duration;

use super::{Alert, AlertId, Cmp, RecordingRule, Scope, Severity, Spike, Threshold, Variant};

const fn minutes(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

const fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

/// The trend window of the exhaustion forecast and of the recording rules
/// named `…:6h`.
pub const FORECAST_WINDOW: Duration = Duration::from_secs(6 * 3600);

/// The window of the exhaustion forecast's rate (`{rate_window}`): the
/// average use of the last day, chosen by the backtest in docs/performance.md.
pub const FORECAST_RATE_WINDOW: Duration = Duration::from_secs(86_400);

/// The window of the rates the rules watching the exporter take
/// (`{watch_window}`): long enough to hold a failing receiver's attempts (a retry
/// at most 30 s after a transient failure, a refused notification again at the
/// group's next flush, every 5 minutes by default) and a failing store's
/// operations (at every poll and evaluation), shorter than their 15 minutes of
/// `for`, so that one failure that is not repeated cannot fire them.
pub const WATCH_WINDOW: Duration = Duration::from_secs(10 * 60);

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
    USAGE_SPIKE,
    EXPORTER_DOWN,
    EXPORTER_RELOAD_FAILED,
    EXPORTER_NOTIFICATIONS_FAILING,
    EXPORTER_STORE_DOWN,
];

/// Every recording rule, in the order of the rule file.
pub const RECORDING_RULES: &[RecordingRule] = &[
    RecordingRule {
        record: "proxy:traffic_consumption_bytes_per_second:6h",
        expr: "clamp_min(-deriv(proxy_traffic_remaining_bytes[{window}]), 0)",
        help: "Traffic consumed per second, over the last 6 h (0 when nothing is used or the pool grew).",
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
    RecordingRule {
        record: "proxy:traffic_consumed_bytes",
        expr: "proxy_traffic_purchased_bytes - proxy_traffic_remaining_bytes",
        help: "Traffic consumed of what was purchased: a counter that a top-up (purchased and \
               remaining grow alike) leaves alone and a new package resets, which \
               ProxyUsageSpike reads with increase().",
    },
    RecordingRule {
        record: "proxy:traffic_consumption_bytes_per_second:24h",
        expr: "\
rate(proxy:traffic_consumed_bytes[{rate_window}])
  and on(provider, target, pool) proxy:traffic_consumed_bytes offset {rate_window}",
        help: "Traffic consumed per second, on average over the last day; absent until the \
               pool has a day of history.",
    },
    RecordingRule {
        record: "proxy:traffic_consumption_bytes_per_second:forecast",
        expr: "\
proxy:traffic_consumption_bytes_per_second:24h
  or (
    proxy:traffic_consumption_bytes_per_second:6h
      unless on(provider, target, pool) (changes(proxy_traffic_purchased_bytes[{window}]) > 0)
  )",
        help: "The forecast's rate: the last day's average, or the last 6 h trend while the pool \
               has less than a day of history (absent after a top-up within those 6 h).",
    },
    RecordingRule {
        record: "proxy:traffic_days_left",
        expr: "\
proxy_traffic_remaining_bytes
  / on(provider, target, pool) (proxy:traffic_consumption_bytes_per_second:forecast > 0)
  / 86400",
        help: "Days until the pool runs dry at the forecast's rate; absent without consumption.",
    },
];

/// `ProxyUsageSpike`'s default figures: the contract's
/// `{factor: 3, window: 1h, baseline: 7d, min_history: 24h, min_bytes: 1GiB}`.
pub const USAGE_SPIKE_DEFAULTS: Spike = Spike {
    factor: 3.0,
    window: Duration::from_secs(3600),
    baseline: days(7),
    min_history: days(1),
    min_bytes: 1024.0 * 1024.0 * 1024.0,
};

/// Remaining traffic of a pool below a share of what was purchased.
pub const TRAFFIC_LOW: Alert = Alert {
    id: AlertId::TrafficLow,
    name: "ProxyTrafficLow",
    scope: Scope::Everywhere,
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

/// At the forecast's rate (the last day's average use, or the last
/// [`FORECAST_WINDOW`]'s trend while the pool is younger than a day), the pool
/// runs dry within the threshold.
pub const TRAFFIC_EXHAUSTION_FORECAST: Alert = Alert {
    id: AlertId::TrafficExhaustionForecast,
    name: "ProxyTrafficExhaustionForecast",
    scope: Scope::Everywhere,
    expr: "\
proxy_traffic_remaining_bytes
  / on(provider, target, pool) (proxy:traffic_consumption_bytes_per_second:forecast > 0)
  < {threshold}",
    note: Some(
        "The rate is the last day's average use of the consumed figure, which a top-up leaves \
         alone and a new package resets (docs/performance.md has the backtest that chose it). \
         A pool with less than a day of history is forecast at its last 6 h trend, unless a \
         top-up or an expired package changed proxy_traffic_purchased_bytes within those 6 h.",
    ),
    variants: &[
        Variant {
            severity: Severity::Warning,
            threshold: Some(Threshold::Within(days(3))),
            for_: minutes(30),
            summary: "{{ $labels.provider }} {{ $labels.target }}: pool {{ $labels.pool }} runs dry within {threshold}",
            description: "At its recent rate of use, pool {{ $labels.pool }} of {{ $labels.provider }} target {{ $labels.target }} runs out of traffic in {{ $value | humanizeDuration }}. Top up or slow down.",
        },
        Variant {
            severity: Severity::Critical,
            threshold: Some(Threshold::Within(days(1))),
            for_: minutes(15),
            summary: "{{ $labels.provider }} {{ $labels.target }}: pool {{ $labels.pool }} runs dry within {threshold}",
            description: "At its recent rate of use, pool {{ $labels.pool }} of {{ $labels.provider }} target {{ $labels.target }} runs out of traffic in {{ $value | humanizeDuration }}. Top up now.",
        },
    ],
};

/// Unused traffic in packages that expire within 7 days (the window of
/// `proxy_traffic_expiring_bytes`, not a threshold of the alert).
pub const TRAFFIC_EXPIRING_SOON: Alert = Alert {
    id: AlertId::TrafficExpiringSoon,
    name: "ProxyTrafficExpiringSoon",
    scope: Scope::Everywhere,
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
    scope: Scope::Everywhere,
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
    scope: Scope::Everywhere,
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
    scope: Scope::Everywhere,
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
    scope: Scope::Everywhere,
    expr: "proxy_static_ips{status=~\"{statuses}\"} > 0",
    note: None,
    variants: &[Variant {
        severity: Severity::Warning,
        threshold: None,
        for_: minutes(30),
        summary: "{{ $labels.provider }} {{ $labels.target }}: {{ $value }} static IP{{ if ne $value 1.0 }}s{{ end }} {{ $labels.status }}",
        description: "{{ $value }} {{ $labels.product }} static IP{{ if ne $value 1.0 }}s{{ end }} of {{ $labels.provider }} target {{ $labels.target }} {{ if eq $value 1.0 }}has{{ else }}have{{ end }} been in status {{ $labels.status }} for {for}. Ask the provider or replace them.",
    }],
};

/// A target's polls fail; the description says so when the credential is
/// rejected.
pub const TARGET_DOWN: Alert = Alert {
    id: AlertId::TargetDown,
    name: "ProxyTargetDown",
    scope: Scope::Everywhere,
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
    scope: Scope::PrometheusOnly,
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

/// A pool's or a sub-account's consumption over the last window is over
/// `factor` times its average over the baseline before, and over `min_bytes`.
pub const USAGE_SPIKE: Alert = Alert {
    id: AlertId::UsageSpike,
    name: "ProxyUsageSpike",
    scope: Scope::Everywhere,
    expr: "\
(
  increase(proxy:traffic_consumed_bytes[{spike_window}])
    > {factor}
      * increase(proxy:traffic_consumed_bytes[{baseline}] offset {spike_window})
      / count_over_time(proxy:traffic_consumed_bytes[{baseline}] offset {spike_window})
      * count_over_time(proxy:traffic_consumed_bytes[{spike_window}])
  and increase(proxy:traffic_consumed_bytes[{spike_window}]) > {min_bytes}
  and proxy:traffic_consumed_bytes offset {min_history}
)
or
(
  increase(proxy_account_used_bytes[{spike_window}])
    > {factor}
      * increase(proxy_account_used_bytes[{baseline}] offset {spike_window})
      / count_over_time(proxy_account_used_bytes[{baseline}] offset {spike_window})
      * count_over_time(proxy_account_used_bytes[{spike_window}])
  and increase(proxy_account_used_bytes[{spike_window}]) > {min_bytes}
  and proxy_account_used_bytes offset {min_history}
)",
    note: Some(
        "Consumption is increase() of a figure that only grows with use: a pool's purchased \
         minus remaining traffic (a top-up raises both), a sub-account's used traffic. A fall \
         (a new package, a monthly reset of used) is a counter reset, never consumption. The \
         baseline is the average per sample over the 7 days before the window, times the \
         window's samples: with less than 7 days of history it is the average of what there \
         is, and nothing is evaluated before 24 h of history (a sample 24 h ago).",
    ),
    variants: &[Variant {
        severity: Severity::Warning,
        threshold: Some(Threshold::Spike(USAGE_SPIKE_DEFAULTS)),
        for_: minutes(15),
        summary: "{{ $labels.provider }} {{ $labels.target }}: usage spike on {{ with $labels.pool }}pool {{ . }}{{ end }}{{ with $labels.account }}sub-account {{ . }}{{ end }}",
        description: "{{ with $labels.pool }}Pool {{ . }}{{ end }}{{ with $labels.account }}Sub-account {{ . }} ({{ $labels.product }}){{ end }} of {{ $labels.provider }} target {{ $labels.target }} consumed {{ $value | humanize1024 }}B within {spike_window}, over {factor} times its usual consumption within {spike_window} (the average of the {baseline} before). A leaked credential, a runaway job or a retry storm? Find who uses it; rotate the sub-account's password or cap its limit.",
    }],
};

/// The exporter refused its last configuration reload and runs on the
/// configuration it had.
pub const EXPORTER_RELOAD_FAILED: Alert = Alert {
    id: AlertId::ExporterReloadFailed,
    name: "ProxyExporterReloadFailed",
    scope: Scope::PrometheusOnly,
    expr: "proxy_exporter_config_last_reload_successful == 0",
    note: None,
    variants: &[Variant {
        severity: Severity::Warning,
        threshold: None,
        for_: minutes(5),
        summary: "proxy-quota-exporter {{ $labels.instance }}: configuration reload failed",
        description: r#"proxy-quota-exporter {{ $labels.instance }} refused its last configuration reload and still runs on the configuration it loaded{{ with printf `time() - proxy_exporter_config_last_reload_success_timestamp_seconds{instance="%s"}` $labels.instance | query }} {{ . | first | value | humanizeDuration }} ago{{ end }}. The changes are not applied, and a restart would fail on the same file: its log says why ("configuration reload refused")."#,
    }],
};

/// A receiver of the alerting agent refuses or does not take its notifications:
/// a share of the attempts fail, or notifications wait.
pub const EXPORTER_NOTIFICATIONS_FAILING: Alert = Alert {
    id: AlertId::ExporterNotificationsFailing,
    name: "ProxyExporterNotificationsFailing",
    scope: Scope::PrometheusOnly,
    expr: "\
(
  sum without (result) (rate(proxy_exporter_notifications_total{result=\"failure\"}[{watch_window}]))
    / sum without (result) (rate(proxy_exporter_notifications_total[{watch_window}]))
  {cmp} {threshold}
)
  or (proxy_exporter_notifications_pending > 0)",
    note: Some(
        "Every delivery attempt counts as a success or a failure (retries included), so the \
         share is of attempts over the last 10 minutes: a transient failure is retried within \
         30 s and a refused notification is tried again at its group's next flush, so a failing \
         receiver fails in every window, while a single failure that the next attempt repairs \
         leaves the window before the 15 minutes of `for`. Notifications still waiting after 15 \
         minutes fire it too, whatever the share.",
    ),
    variants: &[Variant {
        severity: Severity::Critical,
        threshold: Some(Threshold::Ratio(Cmp::Above, 0.10)),
        for_: minutes(15),
        summary: "proxy-quota-exporter {{ $labels.instance }}: notifications to {{ $labels.receiver }} failing",
        description: r#"The alerting agent of proxy-quota-exporter {{ $labels.instance }} fails to deliver to receiver {{ $labels.receiver }}: for {for}, over {threshold} of its attempts failed or notifications waited.{{ with printf `sum without (result) (rate(proxy_exporter_notifications_total{result="failure",instance="%s",receiver="%s"}[{watch_window}])) / sum without (result) (rate(proxy_exporter_notifications_total{instance="%s",receiver="%s"}[{watch_window}])) > 0` $labels.instance $labels.receiver $labels.instance $labels.receiver | query }} Failed attempts (rate over {watch_window}): {{ . | first | value | humanizePercentage }}.{{ end }}{{ with printf `proxy_exporter_notifications_pending{instance="%s",receiver="%s"} > 0` $labels.instance $labels.receiver | query }} Waiting: {{ . | first | value }}.{{ end }} Alerts routed only to this receiver reach nobody; the exporter's log says why ("notification failed")."#,
    }],
};

/// The embedded store is configured but could not be opened, or its
/// operations fail.
pub const EXPORTER_STORE_DOWN: Alert = Alert {
    id: AlertId::ExporterStoreDown,
    name: "ProxyExporterStoreDown",
    scope: Scope::PrometheusOnly,
    expr: "proxy_exporter_storage_open == 0 or increase(proxy_exporter_storage_errors_total[{watch_window}]) > 0",
    note: Some(
        "The value is 0 when the store could not be opened and the number of failed operations \
         of the last 10 minutes otherwise; the store is written at every poll and evaluation, so \
         a broken one fails in every window, while one failed operation leaves the window \
         before the 15 minutes of `for`. Without a store (`--storage.path \"\"`) neither series \
         exists.",
    ),
    variants: &[Variant {
        severity: Severity::Warning,
        threshold: None,
        for_: minutes(15),
        summary: "proxy-quota-exporter {{ $labels.instance }}: store {{ if eq $value 0.0 }}not open{{ else }}failing{{ end }}",
        description: r#"The embedded store of proxy-quota-exporter {{ $labels.instance }} {{ if eq $value 0.0 }}could not be opened{{ else }}failed {{ $value | printf "%.0f" }} operations in the last {watch_window}{{ end }}, for {for}: no pool history is kept (the forecast goes blind), and alert state and silences are not saved (a restart forgets them). The exporter's log names the failing operation ("store operation failed", "running without a store")."#,
    }],
};
