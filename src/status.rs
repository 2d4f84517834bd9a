//! What runs out next, per target: the figures of the front page (`/`) and of
//! `GET /api/v1/status`, built from the snapshot store, the agent's alerts, the
//! silences and the stored history. Every figure is the one `/metrics` serves (the same
//! fresh readings); "days left" is the forecast alert's ([`crate::forecast`]).

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use crate::alerts::Spike;
use crate::forecast::{self, History};
use crate::readings::{Order, OrderReading, Reading, StaticIp, ORDER_STATUSES};
use crate::silences::{self, Silence};
use crate::spike;
use crate::store::{TargetSnapshot, View};

/// How many packages, static IPs and customers a list shows.
pub const LIST_LENGTH: usize = 10;
/// Sub-accounts at or above this share of their limit are listed.
pub const NEAR_LIMIT: f64 = 0.8;
/// Expiries that passed longer ago than this are no longer listed.
const EXPIRED_SHOWN_FOR: i64 = 7 * 86_400;

/// The whole status.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Unix seconds.
    pub generated_at: f64,
    pub version: &'static str,
    pub revision: &'static str,
    /// Every target finished its first poll.
    pub ready: bool,
    /// The simulated-data notice of `--demo`.
    pub notice: Option<String>,
    /// `shard N of M` when the targets are sharded (`--total-shards` above 1).
    pub shard: Option<String>,
    /// Whether the alerting agent runs (an `alerting` section is configured).
    pub agent: bool,
    /// Whether a store holds history (for days left and charts).
    pub store: bool,
    /// The active and pending silences: active ones first, the soonest to
    /// end first, then pending ones, the soonest to start first.
    pub silences: Vec<SilenceStatus>,
    pub targets: Vec<TargetStatus>,
}

/// An active or pending silence.
#[derive(Debug, Clone, Serialize)]
pub struct SilenceStatus {
    pub id: String,
    /// `active` or `pending`.
    pub state: &'static str,
    /// As Alertmanager writes them: `alertname="X", target=~"lite-.*"`.
    pub matchers: String,
    /// Unix seconds.
    pub starts_at: f64,
    /// Unix seconds.
    pub ends_at: f64,
    pub created_by: String,
    pub comment: String,
}

/// One target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetStatus {
    pub name: String,
    pub provider: &'static str,
    pub provider_name: String,
    /// `proxy_up`.
    pub up: bool,
    /// Unix seconds of the end of the last poll.
    pub last_poll: f64,
    pub credential_in_clear: bool,
    pub pools: Vec<PoolStatus>,
    pub usage: Option<UsageStatus>,
    /// The soonest expiring first, expired ones of the last 7 days included.
    pub packages: Vec<Expiry>,
    pub packages_total: usize,
    pub static_ips: Vec<Expiry>,
    pub static_ips_total: usize,
    /// At or above [`NEAR_LIMIT`] of their limit, the fullest first.
    pub accounts_near_limit: Vec<AccountStatus>,
    pub accounts_total: usize,
    /// Sub-accounts whose usage spikes (`ProxyUsageSpike`'s condition, read as
    /// the agent reads it), the largest consumption first.
    pub accounts_spiking: Vec<AccountSpike>,
    /// An IPWeb agent's customers by today's traffic, the largest first.
    pub top_customers: Vec<CustomerStatus>,
    /// What a gateway-family target bought in the last 30 provider days;
    /// `null` without a fresh `orders` reading.
    pub orders: Option<OrdersStatus>,
    pub alerts: Vec<AlertStatus>,
    pub endpoints: Vec<EndpointStatus>,
}

/// One traffic pool.
#[derive(Debug, Clone, Serialize)]
pub struct PoolStatus {
    pub pool: String,
    pub remaining_bytes: Option<f64>,
    pub purchased_bytes: Option<f64>,
    pub used_bytes: Option<f64>,
    /// remaining / purchased.
    pub remaining_ratio: Option<f64>,
    /// At the last day's average use (the last 6 h trend while the pool has less
    /// than a day of history); `null` without enough history or while nothing
    /// is consumed.
    pub days_left: Option<f64>,
    pub expiring_bytes: Option<f64>,
    /// `ProxyUsageSpike`'s figures, as the agent reads them; `null` while the
    /// rule is not evaluated (less than `min_history` of history, no store, or
    /// the rule turned off).
    pub usage_spike: Option<SpikeStatus>,
    /// Unix seconds up to which (inclusive) the pool's stored history is
    /// simulated (`--demo` fills an empty store with a simulated week before it
    /// started: charts should mark those points); `null` when none of it is.
    pub simulated_until: Option<f64>,
}

/// A pool's consumption within the spike window against the usual.
#[derive(Debug, Clone, Serialize)]
pub struct SpikeStatus {
    /// Consumed within the window (the alert's value).
    pub consumed_bytes: f64,
    /// The baseline's average scaled to the window.
    pub usual_bytes: f64,
    /// Whether the alert's condition holds (it fires after its `for`).
    pub spiking: bool,
    /// The window, in seconds.
    pub window_seconds: f64,
}

/// A sub-account whose usage spikes.
#[derive(Debug, Clone, Serialize)]
pub struct AccountSpike {
    pub account: String,
    pub product: String,
    pub consumed_bytes: f64,
    pub usual_bytes: f64,
    /// The window, in seconds.
    pub window_seconds: f64,
}

/// Traffic used on the provider's calendar days.
#[derive(Debug, Clone, Serialize)]
pub struct UsageStatus {
    pub today_bytes: f64,
    pub yesterday_bytes: f64,
}

/// A package or a static IP and when it expires.
#[derive(Debug, Clone, Serialize)]
pub struct Expiry {
    /// The package id or the IP.
    pub name: String,
    pub product: String,
    /// The country of a static IP; empty for a package.
    pub country: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub expired: bool,
}

/// A sub-account near its limit.
#[derive(Debug, Clone, Serialize)]
pub struct AccountStatus {
    pub account: String,
    pub product: String,
    pub used_bytes: f64,
    pub limit_bytes: f64,
    pub used_ratio: f64,
}

/// An agent's customer and today's traffic.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerStatus {
    pub customer_id: String,
    pub upload_bytes: f64,
    pub download_bytes: f64,
    pub total_bytes: f64,
}

/// The orders created in the last 30 provider days, as `proxy_orders`,
/// `proxy_order_paid_30d` and `proxy_order_last_paid_timestamp_seconds` say.
#[derive(Debug, Clone, Serialize)]
pub struct OrdersStatus {
    /// Every product of the reading, the largest spend first.
    pub spend_30d: Vec<ProductSpend>,
    /// The newest paid order (by payment time, else by creation time).
    pub last_purchase: Option<OrderStatus>,
    /// Orders waiting for payment, the newest first (at most 20 listed).
    pub pending: Vec<OrderStatus>,
    /// Every order waiting for payment, listed or not.
    pub pending_total: u64,
}

/// What was paid for one product in the last 30 provider days.
#[derive(Debug, Clone, Serialize)]
pub struct ProductSpend {
    pub product: String,
    /// The sum of `pay_fee` of its paid orders, in the account's currency.
    pub paid: f64,
    /// Its orders by status: `pending`, `paid`, `cancelled`, `refunded`.
    pub orders: BTreeMap<&'static str, u64>,
    /// Unix seconds of the newest payment; `null` when none says.
    pub last_paid_at: Option<i64>,
}

/// One order: the last purchase, or one waiting for payment. Its invoice and
/// payment method are never read.
#[derive(Debug, Clone, Serialize)]
pub struct OrderStatus {
    pub product: String,
    /// The provider's order number.
    pub trade_no: String,
    /// `pay_fee`, in the account's currency.
    pub fee: Option<f64>,
    /// Unix seconds.
    pub created_at: Option<i64>,
    /// Unix seconds.
    pub paid_at: Option<i64>,
}

/// A pending or firing alert of the in-process agent.
#[derive(Debug, Clone, Serialize)]
pub struct AlertStatus {
    pub alertname: String,
    pub severity: String,
    /// `pending` or `firing`.
    pub state: &'static str,
    pub labels: BTreeMap<String, String>,
    /// Unix seconds since it has been in this state.
    pub since: f64,
    pub summary: String,
    /// The IDs of the silences that mute it (empty: not silenced).
    pub silenced_by: Vec<String>,
    /// The fingerprints of the alerts that inhibit it (empty: not inhibited).
    pub inhibited_by: Vec<String>,
}

/// The last poll of one endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointStatus {
    pub endpoint: &'static str,
    pub success: bool,
    /// Unix seconds.
    pub last_success: Option<f64>,
    pub reason: Option<&'static str>,
    pub error: Option<String>,
}

/// What the status is built from besides the store's view.
pub struct Sources<'a> {
    pub history: &'a dyn History,
    pub has_store: bool,
    pub notice: Option<&'a str>,
    /// Every silence (expired ones are left out of the status).
    pub silences: &'a [Silence],
    pub shard: Option<String>,
    /// `ProxyUsageSpike`'s figures (with the configuration's overrides);
    /// `None` when the rule is turned off.
    pub spike: Option<Spike>,
    /// Unix seconds, and the same moment for readings' staleness.
    pub now: f64,
    pub instant: Instant,
}

/// The status of every target of `view`, in the order of their names.
pub fn build(view: &View, sources: &Sources) -> Status {
    let targets = view
        .snapshots
        .iter()
        .map(|t| target(t, view, sources))
        .collect();
    Status {
        generated_at: sources.now,
        version: crate::metrics::VERSION,
        revision: crate::metrics::REVISION,
        ready: view.complete(),
        notice: sources.notice.map(str::to_owned),
        shard: sources.shard.clone(),
        agent: view.agent.running,
        store: sources.has_store,
        silences: silence_list(sources.silences, sources.now),
        targets,
    }
}

fn target(t: &TargetSnapshot, view: &View, sources: &Sources) -> TargetStatus {
    let now = sources.now;
    let mut status = TargetStatus {
        name: t.target.clone(),
        provider: t.provider,
        provider_name: t.display_name.clone(),
        up: t.up(),
        last_poll: t.polled_at,
        credential_in_clear: t.credential_in_clear,
        pools: Vec::new(),
        usage: None,
        packages: Vec::new(),
        packages_total: 0,
        static_ips: Vec::new(),
        static_ips_total: 0,
        accounts_near_limit: Vec::new(),
        accounts_total: 0,
        accounts_spiking: Vec::new(),
        top_customers: Vec::new(),
        orders: None,
        alerts: alerts(view, &t.target),
        endpoints: endpoints(t),
    };
    for reading in t.readings(sources.instant) {
        match reading {
            Reading::Summary(pools) => {
                status.pools = pools
                    .iter()
                    .map(|p| PoolStatus {
                        pool: p.pool.clone(),
                        remaining_bytes: p.remaining_bytes,
                        purchased_bytes: p.purchased_bytes,
                        used_bytes: p.used_bytes,
                        remaining_ratio: p.remaining_share(),
                        days_left: p.remaining_bytes.and_then(|remaining| {
                            days_left(sources.history, t, &p.pool, remaining, now)
                        }),
                        expiring_bytes: p.expiring_bytes,
                        usage_spike: sources.spike.and_then(|rule| {
                            let latest = p
                                .purchased_bytes
                                .zip(p.remaining_bytes)
                                .map(|(bought, left)| (t.polled_at, bought - left));
                            let key = (t.provider, t.target.as_str(), p.pool.as_str());
                            let r = spike::pool(sources.history, key, latest, now, &rule)?;
                            Some(SpikeStatus {
                                consumed_bytes: r.consumed,
                                usual_bytes: r.usual,
                                spiking: r.spiking,
                                window_seconds: rule.window.as_secs_f64(),
                            })
                        }),
                        simulated_until: sources
                            .history
                            .simulated_until(t.provider, &t.target, &p.pool),
                    })
                    .collect();
            }
            Reading::Usage(u) => {
                status.usage = Some(UsageStatus {
                    today_bytes: u.today_bytes,
                    yesterday_bytes: u.yesterday_bytes,
                });
            }
            Reading::Packages(packages) => {
                status.packages_total = packages.len();
                status.packages = soonest(
                    packages.iter().filter_map(|p| {
                        Some(expiry(
                            &p.package_id,
                            &p.product,
                            "",
                            p.expiry_timestamp?,
                            now,
                        ))
                    }),
                    now,
                );
            }
            Reading::StaticIps(ips) => {
                status.static_ips_total = ips.ips.len();
                status.static_ips = soonest(
                    ips.ips.iter().map(|ip: &StaticIp| {
                        expiry(&ip.ip, &ip.product, &ip.country, ip.expiry_timestamp, now)
                    }),
                    now,
                );
            }
            Reading::Accounts(accounts) => {
                status.accounts_total = accounts.len();
                let mut near: Vec<AccountStatus> = accounts
                    .iter()
                    .filter_map(|a| {
                        let limit = a.limit_bytes.filter(|l| *l > 0.0)?;
                        let used_ratio = a.used_share()?;
                        (used_ratio >= NEAR_LIMIT).then(|| AccountStatus {
                            account: a.account.clone(),
                            product: a.product.clone(),
                            used_bytes: a.used_bytes,
                            limit_bytes: limit,
                            used_ratio,
                        })
                    })
                    .collect();
                near.sort_by(|a, b| b.used_ratio.total_cmp(&a.used_ratio));
                status.accounts_near_limit = near;
                if let Some(rule) = sources.spike {
                    let mut spiking: Vec<AccountSpike> = accounts
                        .iter()
                        .filter_map(|a| {
                            let key = (
                                t.provider,
                                t.target.as_str(),
                                a.product.as_str(),
                                a.account.as_str(),
                            );
                            let latest = (t.polled_at, a.used_bytes);
                            let r = spike::account(sources.history, key, latest, now, &rule)?;
                            r.spiking.then(|| AccountSpike {
                                account: a.account.clone(),
                                product: a.product.clone(),
                                consumed_bytes: r.consumed,
                                usual_bytes: r.usual,
                                window_seconds: rule.window.as_secs_f64(),
                            })
                        })
                        .collect();
                    spiking.sort_by(|a, b| b.consumed_bytes.total_cmp(&a.consumed_bytes));
                    status.accounts_spiking = spiking;
                }
            }
            Reading::Customers(customers) => {
                let mut top: Vec<CustomerStatus> = customers
                    .iter()
                    .map(|c| CustomerStatus {
                        customer_id: c.customer_id.clone(),
                        upload_bytes: c.upload_bytes,
                        download_bytes: c.download_bytes,
                        total_bytes: c.upload_bytes + c.download_bytes,
                    })
                    .collect();
                top.sort_by(|a, b| b.total_bytes.total_cmp(&a.total_bytes));
                top.truncate(LIST_LENGTH);
                status.top_customers = top;
            }
            Reading::Orders(orders) => status.orders = Some(orders_status(orders)),
            Reading::NniUsage(_)
            | Reading::Recharges(_)
            | Reading::Allowlist(_)
            | Reading::Stock(_) => {}
        }
    }
    status
}

fn orders_status(reading: &OrderReading) -> OrdersStatus {
    let mut spend: Vec<ProductSpend> = reading
        .products
        .iter()
        .map(|p| ProductSpend {
            product: p.product.clone(),
            paid: p.paid,
            orders: ORDER_STATUSES.iter().copied().zip(p.counts).collect(),
            last_paid_at: p.last_paid_timestamp,
        })
        .collect();
    spend.sort_by(|a, b| b.paid.total_cmp(&a.paid).then(a.product.cmp(&b.product)));
    let order = |o: &Order| OrderStatus {
        product: o.product.clone(),
        trade_no: o.trade_no.clone(),
        fee: o.fee,
        created_at: o.created_timestamp,
        paid_at: o.paid_timestamp,
    };
    OrdersStatus {
        spend_30d: spend,
        last_purchase: reading.last_paid.as_ref().map(order),
        pending: reading.pending.iter().map(order).collect(),
        pending_total: reading.products.iter().map(|p| p.counts[0]).sum(),
    }
}

/// Days left at the forecast's rate ([`forecast::forecast`]: the last day's
/// average use, or the 6 h trend of a younger pool), as the forecast alert reads it.
fn days_left(
    history: &dyn History,
    t: &TargetSnapshot,
    pool: &str,
    remaining: f64,
    now: f64,
) -> Option<f64> {
    forecast::forecast(history, t.provider, &t.target, pool, now, None)?.days_left(remaining)
}

fn expiry(name: &str, product: &str, country: &str, expires_at: i64, now: f64) -> Expiry {
    Expiry {
        name: name.to_owned(),
        product: product.to_owned(),
        country: country.to_owned(),
        expires_at,
        expired: (expires_at as f64) <= now,
    }
}

/// The first [`LIST_LENGTH`] by expiry, leaving out what expired long ago.
fn soonest(items: impl Iterator<Item = Expiry>, now: f64) -> Vec<Expiry> {
    let oldest = now as i64 - EXPIRED_SHOWN_FOR;
    let mut items: Vec<Expiry> = items.filter(|e| e.expires_at >= oldest).collect();
    items.sort_by(|a, b| a.expires_at.cmp(&b.expires_at).then(a.name.cmp(&b.name)));
    items.truncate(LIST_LENGTH);
    items
}

fn alerts(view: &View, target: &str) -> Vec<AlertStatus> {
    view.agent
        .active
        .iter()
        .filter(|a| a.labels.get("target").map(String::as_str) == Some(target))
        .map(|a| AlertStatus {
            alertname: a.labels.get("alertname").cloned().unwrap_or_default(),
            severity: a.labels.get("severity").cloned().unwrap_or_default(),
            state: a.state,
            labels: a.labels.clone(),
            since: a.since,
            summary: a.summary.clone(),
            silenced_by: a.silenced_by.clone(),
            inhibited_by: a.inhibited_by.clone(),
        })
        .collect()
}

/// The silences that are not expired at `now`, in the order given.
fn silence_list(all: &[Silence], now: f64) -> Vec<SilenceStatus> {
    all.iter()
        .filter_map(|s| {
            let state = match s.state(now) {
                silences::State::Expired => return None,
                state => state.as_str(),
            };
            Some(SilenceStatus {
                id: s.id.clone(),
                state,
                matchers: s.matchers_text(),
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                created_by: s.created_by.clone(),
                comment: s.comment.clone(),
            })
        })
        .collect()
}

fn endpoints(t: &TargetSnapshot) -> Vec<EndpointStatus> {
    t.endpoints
        .iter()
        .map(|e| EndpointStatus {
            endpoint: e.endpoint.as_str(),
            success: e.success,
            last_success: e.last_success_unix,
            reason: e.last_error.as_ref().map(|e| e.reason.as_str()),
            error: e.last_error.as_ref().map(|e| e.message.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soonest_ten_leave_out_what_expired_long_ago() {
        let now = 1_000_000_000.0;
        let items = (0..30).map(|i| {
            let at = now as i64 - 10 * 86_400 + i * 86_400;
            expiry(&format!("p{i:02}"), "x", "", at, now)
        });
        let listed = soonest(items, now);
        assert_eq!(listed.len(), LIST_LENGTH);
        // 10 days ago .. 8 days ago are left out; 7 days ago is the first.
        assert_eq!(listed[0].name, "p03");
        assert!(listed[0].expired);
        assert!(!listed.iter().find(|e| e.name == "p11").unwrap().expired);
    }
}
