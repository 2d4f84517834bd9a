//! What runs out next, per target: the figures of the front page (`/`) and of
//! `GET /api/v1/status`, built from the snapshots, the agent's alerts, the
//! silences and the stored history. Every figure is the one `/metrics` serves (the same
//! fresh readings); "days left" is the forecast alert's ([`crate::forecast`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde::Serialize;

use crate::alerts::{Spike, USAGE_SPIKE};
use crate::forecast::{self, History};
use crate::lists::{ListWindow, LONG_LIST_LENGTH};
use crate::readings::{AccountReading, Order, OrderReading, Reading, StaticIp, ORDER_STATUSES};
use crate::silences::{self, Silence};
use crate::snapshots::{TargetSnapshot, View};
use crate::spike;

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
    /// Every sub-account near its limit (matching `q`), listed or not.
    pub accounts_near_limit_total: usize,
    pub accounts_total: usize,
    /// With `q`: the sub-accounts whose name holds it, by name, whatever their
    /// use; `null` without `q`.
    pub accounts_found: Option<Vec<AccountFound>>,
    /// Every sub-account `q` finds, listed or not.
    pub accounts_found_total: usize,
    /// Sub-accounts whose usage spikes (`ProxyUsageSpike`'s condition, read as
    /// the agent reads it), the largest consumption first.
    pub accounts_spiking: Vec<AccountSpike>,
    /// Every sub-account whose usage spikes (matching `q`), listed or not.
    pub accounts_spiking_total: usize,
    /// Sub-accounts' spikes were not read: the target has more than
    /// [`SPIKE_READS_WITHOUT_AGENT`] and no alerting agent runs (which finds
    /// them once per evaluation, not at each request).
    pub accounts_spiking_unread: bool,
    /// An IPWeb agent's customers by today's traffic, the largest first.
    pub top_customers: Vec<CustomerStatus>,
    /// Every customer (matching `q`), listed or not.
    pub top_customers_total: usize,
    /// What a gateway-family target bought in the last 30 provider days;
    /// `null` without a fresh `orders` reading.
    pub orders: Option<OrdersStatus>,
    pub alerts: Vec<AlertStatus>,
    /// Every pending or firing alert of the target (matching `q`), listed or not.
    pub alerts_total: usize,
    /// How many alerts of the target fire, by severity (all of them, whatever
    /// `q`, `limit` and `offset`).
    pub alerts_firing: BTreeMap<String, usize>,
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
    /// What `days_left` was computed from: `last_day` (the last day's average
    /// use) or `trend` (the last 6 h trend, while the pool has less than a day
    /// of history); `null` without days left.
    pub days_left_basis: Option<&'static str>,
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

/// A sub-account found by name (`q`).
#[derive(Debug, Clone, Serialize)]
pub struct AccountFound {
    pub account: String,
    pub product: String,
    pub used_bytes: f64,
    /// `null`: no limit.
    pub limit_bytes: Option<f64>,
    /// used / limit; `null` without a limit.
    pub used_ratio: Option<f64>,
    /// `null` where the provider does not say.
    pub enabled: Option<bool>,
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

/// What the status is built from besides the snapshots.
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
    /// Which entries of the long lists to hold (`q`, `limit`, `offset`).
    pub lists: ListWindow,
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
    let w = &sources.lists;
    let (alerts, alerts_total, alerts_firing) = alerts(view, &t.target, w);
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
        accounts_near_limit_total: 0,
        accounts_total: 0,
        accounts_found: None,
        accounts_found_total: 0,
        accounts_spiking: Vec::new(),
        accounts_spiking_total: 0,
        accounts_spiking_unread: false,
        top_customers: Vec::new(),
        top_customers_total: 0,
        orders: None,
        alerts,
        alerts_total,
        alerts_firing,
        endpoints: endpoints(t),
    };
    for reading in t.readings(sources.instant) {
        add_reading(&mut status, reading, t, view, sources);
    }
    status
}

/// Adds what one of the target's readings shows to its status.
fn add_reading(
    status: &mut TargetStatus,
    reading: &Reading,
    t: &TargetSnapshot,
    view: &View,
    sources: &Sources,
) {
    let w = &sources.lists;
    match reading {
        Reading::Summary(pools) => {
            status.pools = pools.iter().map(|p| pool(p, t, sources)).collect();
        }
        Reading::Usage(u) => {
            status.usage = Some(UsageStatus {
                today_bytes: u.today_bytes,
                yesterday_bytes: u.yesterday_bytes,
            });
        }
        Reading::Packages(packages) => {
            let items = packages.iter().filter_map(|p| {
                let at = p.expiry_timestamp?;
                Some(expiry(&p.package_id, &p.product, "", at, sources.now))
            });
            (status.packages, status.packages_total) = soonest(items, sources.now, w);
        }
        Reading::StaticIps(ips) => {
            let items = ips.ips.iter().map(|ip: &StaticIp| {
                expiry(
                    &ip.ip,
                    &ip.product,
                    &ip.country,
                    ip.expiry_timestamp,
                    sources.now,
                )
            });
            (status.static_ips, status.static_ips_total) = soonest(items, sources.now, w);
        }
        Reading::Accounts(accounts) => {
            let spiking = spiking_by_agent(view, &t.target);
            account_lists(status, accounts, t, sources, spiking.as_ref());
        }
        Reading::Customers(customers) => {
            let mut top: Vec<CustomerStatus> = customers
                .iter()
                .filter(|c| w.matches(&c.customer_id))
                .map(|c| CustomerStatus {
                    customer_id: c.customer_id.clone(),
                    upload_bytes: c.upload_bytes,
                    download_bytes: c.download_bytes,
                    total_bytes: c.upload_bytes + c.download_bytes,
                })
                .collect();
            top.sort_by(|a, b| b.total_bytes.total_cmp(&a.total_bytes));
            (status.top_customers, status.top_customers_total) = w.cut(top, LIST_LENGTH);
        }
        Reading::Orders(orders) => status.orders = Some(orders_status(orders)),
        Reading::NniUsage(_)
        | Reading::Recharges(_)
        | Reading::Allowlist(_)
        | Reading::Stock(_) => {}
    }
}

/// One pool's figures, days left and spike figures.
fn pool(p: &crate::readings::PoolReading, t: &TargetSnapshot, sources: &Sources) -> PoolStatus {
    let now = sources.now;
    // The forecast's rate ([`forecast::forecast`]: the last day's average use,
    // or the 6 h trend of a younger pool), as the forecast alert reads it.
    let forecast = forecast::forecast(sources.history, t.provider, &t.target, &p.pool, now, None);
    let days_left = forecast
        .zip(p.remaining_bytes)
        .and_then(|(f, left)| f.days_left(left));
    PoolStatus {
        pool: p.pool.clone(),
        remaining_bytes: p.remaining_bytes,
        purchased_bytes: p.purchased_bytes,
        used_bytes: p.used_bytes,
        remaining_ratio: p.remaining_share(),
        days_left,
        days_left_basis: days_left.and(forecast).map(|f| match f.basis {
            forecast::Basis::LastDay => "last_day",
            forecast::Basis::Trend => "trend",
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
    }
}

/// While the agent runs: the (product, account) pairs of the target's
/// `ProxyUsageSpike` alerts, the sub-accounts whose spike it found at its last
/// evaluation. Only their figures are read again: reading the history of
/// every sub-account at each request costs seconds at 100,000 of them.
fn spiking_by_agent<'a>(view: &'a View, target: &str) -> Option<BTreeSet<(&'a str, &'a str)>> {
    view.agent.running.then(|| {
        view.agent
            .active
            .iter()
            .filter(|a| {
                a.labels.get("alertname").map(String::as_str) == Some(USAGE_SPIKE.name)
                    && a.labels.get("target").map(String::as_str) == Some(target)
            })
            .filter_map(|a| {
                Some((
                    a.labels.get("product")?.as_str(),
                    a.labels.get("account")?.as_str(),
                ))
            })
            .collect()
    })
}

/// Without the agent, the most sub-accounts of a target whose spike history a
/// status request reads itself: reading 100,000 of them costs seconds at every
/// request (docs/performance.md), the agent reads them once per evaluation.
pub const SPIKE_READS_WITHOUT_AGENT: usize = 1_000;

/// The sub-accounts near their limit, spiking, and found by `q`. The spike
/// figures are read for the sub-accounts in `agent_spikes` only, when given
/// (see [`spiking_by_agent`]); for every one otherwise.
fn account_lists(
    status: &mut TargetStatus,
    accounts: &[AccountReading],
    t: &TargetSnapshot,
    sources: &Sources,
    agent_spikes: Option<&BTreeSet<(&str, &str)>>,
) {
    let w = &sources.lists;
    status.accounts_total = accounts.len();
    let matching = || accounts.iter().filter(|a| w.matches(&a.account));
    let mut near: Vec<AccountStatus> = matching()
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
    (status.accounts_near_limit, status.accounts_near_limit_total) = w.cut(near, LONG_LIST_LENGTH);
    if w.query().is_some() {
        let mut found: Vec<AccountFound> = matching()
            .map(|a| AccountFound {
                account: a.account.clone(),
                product: a.product.clone(),
                used_bytes: a.used_bytes,
                limit_bytes: a.limit_bytes.filter(|l| *l > 0.0),
                used_ratio: a.limit_bytes.filter(|l| *l > 0.0).and(a.used_share()),
                enabled: a.enabled,
            })
            .collect();
        found.sort_by(|a, b| a.account.cmp(&b.account).then(a.product.cmp(&b.product)));
        let (found, total) = w.cut(found, LONG_LIST_LENGTH);
        (status.accounts_found, status.accounts_found_total) = (Some(found), total);
    }
    let Some(rule) = sources.spike else {
        return;
    };
    if agent_spikes.is_none() && accounts.len() > SPIKE_READS_WITHOUT_AGENT {
        status.accounts_spiking_unread = true;
        return;
    }
    let mut spiking: Vec<AccountSpike> = matching()
        .filter(|a| {
            agent_spikes.is_none_or(|set| set.contains(&(a.product.as_str(), a.account.as_str())))
        })
        .filter_map(|a| {
            let key = (
                t.provider,
                t.target.as_str(),
                a.product.as_str(),
                a.account.as_str(),
            );
            let latest = (t.polled_at, a.used_bytes);
            let r = spike::account(sources.history, key, latest, sources.now, &rule)?;
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
    (status.accounts_spiking, status.accounts_spiking_total) = w.cut(spiking, LONG_LIST_LENGTH);
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

fn expiry(name: &str, product: &str, country: &str, expires_at: i64, now: f64) -> Expiry {
    Expiry {
        name: name.to_owned(),
        product: product.to_owned(),
        country: country.to_owned(),
        expires_at,
        expired: (expires_at as f64) <= now,
    }
}

/// The window's slice (the first [`LIST_LENGTH`] by default) of the
/// expiries matching `q`, by expiry, leaving out what expired long ago; and how
/// many match `q`.
fn soonest(items: impl Iterator<Item = Expiry>, now: f64, w: &ListWindow) -> (Vec<Expiry>, usize) {
    let oldest = now as i64 - EXPIRED_SHOWN_FOR;
    let mut total = 0;
    let mut items: Vec<Expiry> = items
        .filter(|e| w.matches(&e.name))
        .inspect(|_| total += 1)
        .filter(|e| e.expires_at >= oldest)
        .collect();
    items.sort_by(|a, b| a.expires_at.cmp(&b.expires_at).then(a.name.cmp(&b.name)));
    (w.cut(items, LIST_LENGTH).0, total)
}

/// The target's alerts matching `q` (by any label value), cut to the
/// window; how many match; and how many fire, by severity.
fn alerts(
    view: &View,
    target: &str,
    w: &ListWindow,
) -> (Vec<AlertStatus>, usize, BTreeMap<String, usize>) {
    let mut firing = BTreeMap::new();
    let mine: Vec<_> = view
        .agent
        .active
        .iter()
        .filter(|a| a.labels.get("target").map(String::as_str) == Some(target))
        .inspect(|a| {
            if a.state == "firing" {
                let severity = a.labels.get("severity").cloned().unwrap_or_default();
                *firing.entry(severity).or_insert(0) += 1;
            }
        })
        .filter(|a| w.query().is_none() || a.labels.values().any(|v| w.matches(v)))
        .collect();
    let (listed, total) = w.cut(mine, LONG_LIST_LENGTH);
    let listed = listed
        .into_iter()
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
        .collect();
    (listed, total, firing)
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
        let (listed, total) = soonest(items, now, &ListWindow::default());
        assert_eq!(listed.len(), LIST_LENGTH);
        assert_eq!(total, 30);
        // 10 days ago .. 8 days ago are left out; 7 days ago is the first.
        assert_eq!(listed[0].name, "p03");
        assert!(listed[0].expired);
        assert!(!listed.iter().find(|e| e.name == "p11").unwrap().expired);
    }
}

#[cfg(test)]
mod window_tests {
    use super::*;
    use crate::snapshots::{ActiveAlert, Snapshots};

    fn active(
        alertname: &str,
        severity: &str,
        state: &'static str,
        extra: &[(&str, &str)],
    ) -> ActiveAlert {
        let mut labels: BTreeMap<String, String> = [
            ("alertname", alertname),
            ("severity", severity),
            ("target", "t"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        labels
            .entry("provider".into())
            .or_insert_with(|| "bestproxy".into());
        ActiveAlert {
            labels,
            fingerprint: String::new(),
            state,
            since: 0.0,
            summary: String::new(),
            annotations: BTreeMap::new(),
            silenced_by: Vec::new(),
            inhibited_by: Vec::new(),
            receivers: Vec::new(),
        }
    }

    fn view(running: bool) -> View {
        let mut view = Snapshots::new(["t".to_owned()]).view();
        view.agent.running = running;
        view.agent.active = vec![
            active(
                USAGE_SPIKE.name,
                "warning",
                "pending",
                &[("account", "a1"), ("product", "p")],
            ),
            active(
                "ProxyAccountNearLimit",
                "critical",
                "firing",
                &[("account", "a2"), ("product", "p")],
            ),
            active(
                "ProxyAccountNearLimit",
                "warning",
                "firing",
                &[("account", "a2"), ("product", "p")],
            ),
            active(
                "ProxyTrafficLow",
                "warning",
                "firing",
                &[("pool", "x"), ("target", "other")],
            ),
        ];
        view
    }

    #[test]
    fn the_agent_names_the_spiking_sub_accounts_to_read_again() {
        let running = view(true);
        let set = spiking_by_agent(&running, "t").unwrap();
        assert_eq!(set.into_iter().collect::<Vec<_>>(), vec![("p", "a1")]);
        assert!(spiking_by_agent(&view(false), "t").is_none());
    }

    #[test]
    fn alerts_are_filtered_and_cut_but_every_firing_one_is_counted() {
        let view = view(true);
        let (listed, total, firing) = alerts(&view, "t", &ListWindow::default());
        assert_eq!((listed.len(), total), (3, 3));
        assert_eq!(firing.get("critical"), Some(&1));
        assert_eq!(firing.get("warning"), Some(&1));
        let (listed, total, firing) = alerts(&view, "t", &ListWindow::new(Some("A2"), Some(1), 1));
        assert_eq!(total, 2);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].labels["account"], "a2");
        assert_eq!(firing.values().sum::<usize>(), 2);
    }

    /// Without the agent, a target with over 1,000 sub-accounts is not read
    /// sub-account by sub-account at each request: the status says so.
    #[test]
    fn without_the_agent_many_sub_accounts_are_not_read_for_spikes() {
        let snapshot = TargetSnapshot {
            target: "t".into(),
            provider: "bestproxy",
            display_name: "BestProxy".into(),
            endpoints: Vec::new(),
            polled_at: 0.0,
            credential_in_clear: false,
        };
        let sources = Sources {
            history: &crate::forecast::NoHistory,
            has_store: true,
            notice: None,
            silences: &[],
            shard: None,
            spike: Some(crate::alerts::USAGE_SPIKE_DEFAULTS),
            now: 0.0,
            instant: Instant::now(),
            lists: ListWindow::default(),
        };
        let accounts = |n: usize| -> Vec<AccountReading> {
            (0..n)
                .map(|i| AccountReading {
                    account: format!("a{i}"),
                    product: "p".into(),
                    remark: String::new(),
                    used_bytes: 1.0,
                    limit_bytes: None,
                    enabled: None,
                })
                .collect()
        };
        let view = view(false);
        for (n, unread) in [
            (SPIKE_READS_WITHOUT_AGENT, false),
            (SPIKE_READS_WITHOUT_AGENT + 1, true),
        ] {
            let mut status = target(&snapshot, &view, &sources);
            account_lists(&mut status, &accounts(n), &snapshot, &sources, None);
            assert_eq!(status.accounts_spiking_unread, unread, "{n} sub-accounts");
            assert_eq!(status.accounts_total, n);
        }
    }
}
