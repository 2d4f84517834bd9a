//! The metric catalogue: every family's name, type, label names and HELP text.
//! This is the contract in code; the encoder writes only what is listed here, in
//! this order, and docs/metrics.md is generated from it.

/// A Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Gauge,
    Counter,
}

/// One metric family of the contract.
#[derive(Debug)]
pub struct MetricDef {
    pub name: &'static str,
    pub kind: MetricType,
    /// Label names, in exposition order.
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

macro_rules! metrics {
    ($($id:ident = $name:literal, $kind:ident, [$($label:literal),*], $help:literal;)*) => {
        $(pub static $id: MetricDef = MetricDef { name: $name, kind: MetricType::$kind, labels: &[$($label),*], help: $help };)*
        /// Every family the exporter writes itself, in exposition order.
        pub static CATALOGUE: &[&MetricDef] = &[$(&$id),*];
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
    NNI_USAGE_TODAY = "proxy_nni_usage_today_bytes", Gauge, ["provider", "target"],
        "NNI traffic used so far today (provider's calendar day), in bytes. Polled in the background every interval.";
    NNI_USAGE_YESTERDAY = "proxy_nni_usage_yesterday_bytes", Gauge, ["provider", "target"],
        "NNI traffic used yesterday (provider's calendar day), in bytes. Polled in the background every interval.";
    RECHARGE_LAST_TIMESTAMP = "proxy_recharge_last_timestamp_seconds", Gauge, ["provider", "target", "direction"],
        "Time of the newest traffic recharge of the last 30 provider days, received (credited to the account) or given (to its customers), in Unix seconds; absent when there was none. Polled in the background every interval.";
    RECHARGE_LAST_30D = "proxy_recharge_last_30d_bytes", Gauge, ["provider", "target", "direction"],
        "Traffic recharged in the last 30 provider days (today and the 29 days before), received or given, in bytes. Polled in the background every interval.";
    ALLOWLIST_IPS = "proxy_allowlist_ips", Gauge, ["provider", "target", "product"],
        "Number of IPs on the proxy allow-list, by product. Polled in the background every interval.";
    STATIC_IP_STOCK = "proxy_static_ip_stock", Gauge, ["provider", "target", "country", "kind"],
        "Static IPs the provider has available to buy, by country and kind (datacenter, residential). Polled in the background every interval, at most once an hour.";
    HOST_POOL_IPS = "proxy_host_pool_ips", Gauge, ["provider", "target", "country"],
        "Datacenter IPs available in the provider's host pool, by country. Polled in the background every interval, at most once an hour.";
    ORDERS = "proxy_orders", Gauge, ["provider", "target", "product", "status"],
        "Orders created in the last 30 provider days (today and the 29 days before), by product and status (pending, paid, cancelled, refunded). Polled in the background every interval, at most once an hour.";
    ORDER_PAID_30D = "proxy_order_paid_30d", Gauge, ["provider", "target", "product"],
        "Amount paid (pay_fee) for the paid orders created in the last 30 provider days, by product, in the account's currency as the provider reports it. Polled in the background every interval, at most once an hour.";
    ORDER_LAST_PAID = "proxy_order_last_paid_timestamp_seconds", Gauge, ["provider", "target", "product"],
        "Payment time of the newest paid order created in the last 30 provider days, by product, in Unix seconds; absent when there was none. Polled in the background every interval, at most once an hour.";
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
    UPSTREAM_REQUESTS = "proxy_exporter_upstream_requests_total", Counter, ["provider", "target", "endpoint", "outcome"],
        "HTTP requests sent to the provider for the endpoint, every page and retry included, by outcome (success, rate_limited, error).";
    LABEL_VALUES_TRUNCATED = "proxy_exporter_label_values_truncated_total", Counter, ["provider", "target"],
        "Label values from the provider's answers cut to label_value_length_limit bytes (a hash of the whole kept at the end), counted at every poll.";
    BUILD_INFO = "proxy_exporter_build_info", Gauge, ["version", "revision"],
        "Build information of proxy-quota-exporter; always 1.";
    SHARD_INFO = "proxy_exporter_shard_info", Gauge, ["shard", "total_shards"],
        "The share of the configured targets this process polls and serves (--shard of --total-shards); always 1.";
    CONFIG_RELOAD_SUCCESSFUL = "proxy_exporter_config_last_reload_successful", Gauge, [],
        "Whether the last configuration reload succeeded (1) or was refused (0).";
    CONFIG_RELOAD_TIMESTAMP = "proxy_exporter_config_last_reload_success_timestamp_seconds", Gauge, [],
        "Time of the last successful configuration load or reload, in Unix seconds.";
    AGENT_ALERTS = "proxy_exporter_alerts", Gauge, ["alertname", "severity", "state"],
        "Alerts the in-process alerting agent holds, by state (pending, firing; suppressed: firing and muted by a silence or an inhibition).";
    NOTIFICATIONS = "proxy_exporter_notifications_total", Counter, ["receiver", "result"],
        "Attempts of the alerting agent to deliver a notification, by receiver and result: accepted (success) or not (failure: refused, unreachable, or dropped from a full queue).";
    NOTIFICATIONS_PENDING = "proxy_exporter_notifications_pending", Gauge, ["receiver"],
        "Notifications the alerting agent has not yet had accepted by the receiver (waiting, being sent or retried).";
    SILENCES = "proxy_exporter_silences", Gauge, ["state"],
        "Silences by state (active, pending, expired), as Alertmanager counts them; expired silences are kept 5 days.";
    STORAGE_OPEN = "proxy_exporter_storage_open", Gauge, [],
        "Whether the embedded store is open (1) or could not be opened (0); absent when the store is turned off.";
    STORAGE_ERRORS = "proxy_exporter_storage_errors_total", Counter, [],
        "Failed operations of the embedded store (opening, writing history, saving alert state); each is logged.";
}

/// Build version and revision for `proxy_exporter_build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = env!("PQE_GIT_REVISION");

impl MetricDef {
    /// Whether the family's series belong to a target (its first labels are
    /// `provider` and `target`), rather than to the exporter as a whole.
    pub fn per_target(&self) -> bool {
        self.labels.starts_with(&["provider", "target"])
    }

    /// Whether this is the family `other` (families are statics: compared by address).
    pub fn is(&self, other: &MetricDef) -> bool {
        std::ptr::eq(self, other)
    }
}
