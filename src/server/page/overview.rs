//! The overview that opens the front page: every pool of every target in one
//! table, the one that runs out first on top (by days left, then by share
//! left); the firing alerts per target; the soonest expiries across targets.
//! Each row links to its target's (or pool's) section. The tables wrap rather
//! than scroll, so that a phone shows them whole.

use maud::{html, Markup};

use super::format::{days_class, days_text, pool_id, share_class, target_id, time, DAY};
use crate::status::{Expiry, PoolStatus, Status, TargetStatus};
use crate::units::{format_bytes, format_duration};

/// How many expiries the overview lists.
const EXPIRIES: usize = 10;

/// A pool and where it is: (target index, target, pool index, pool).
pub(super) type PoolRef<'a> = (usize, &'a TargetStatus, usize, &'a PoolStatus);

/// Every pool, the soonest to run out first: by days left (unknown last), then
/// by share left (unknown last), then by target and pool name.
pub(super) fn pools_by_urgency(status: &Status) -> Vec<PoolRef<'_>> {
    let mut pools: Vec<PoolRef> = status
        .targets
        .iter()
        .enumerate()
        .flat_map(|(i, t)| t.pools.iter().enumerate().map(move |(j, p)| (i, t, j, p)))
        .collect();
    let last_if_none = |v: Option<f64>| v.unwrap_or(f64::INFINITY);
    pools.sort_by(|a, b| {
        last_if_none(a.3.days_left)
            .total_cmp(&last_if_none(b.3.days_left))
            .then(last_if_none(a.3.remaining_ratio).total_cmp(&last_if_none(b.3.remaining_ratio)))
            .then(a.1.name.cmp(&b.1.name))
            .then(a.3.pool.cmp(&b.3.pool))
    });
    pools
}

/// The overview section.
pub(super) fn overview(status: &Status) -> Markup {
    let pools = pools_by_urgency(status);
    html! {
        section.target id="overview" {
            h2 { "Overview" }
            @if pools.is_empty() {
                p.quiet { "No pool reported yet." }
            } @else {
                table.overview.pools {
                    tr { th { "pool" } th { "left" } th { "days left" } }
                    @for pool in &pools { (pool_row(pool, status.store, status.generated_at)) }
                }
                p.quiet { "Days left at the last day's average use (the last 6 h trend for a pool with less than a day of history)." }
            }
            (alerts(status))
            (expiries(status))
        }
    }
}

fn pool_row(&(i, t, j, p): &PoolRef, store: bool, now: f64) -> Markup {
    let level = share_class(p.remaining_ratio);
    html! {
        tr {
            td {
                a href={ "#" (pool_id(i, j)) } { (p.pool) }
                " " small { (t.name) }
            }
            td {
                @match p.remaining_bytes {
                    Some(left) => { strong class=(level) { (format_bytes(left)) } }
                    None => { span.quiet { "not reported" } }
                }
                @if let Some(ratio) = p.remaining_ratio {
                    " " small class=(level) { (format!("{:.1}", ratio * 100.0)) " %" }
                }
            }
            td {
                @match p.days_left {
                    Some(days) => {
                        strong class=(days_class(days)) { (days_text(days)) }
                        @if days < 1000.0 { " " small { "empty " (time(now + days * DAY)) } }
                    }
                    None if store => { span.quiet { "no trend yet" } }
                    None => { span.quiet { "needs the store" } }
                }
            }
        }
    }
}

/// Per target: up or failing, and its firing alerts.
fn alerts(status: &Status) -> Markup {
    if status.targets.is_empty() {
        return html! {};
    }
    html! {
        h3 { "Targets and firing alerts" }
        table.overview.targets {
            tr { th { "target" } th { "firing" } }
            @for (i, t) in status.targets.iter().enumerate() {
                tr {
                    td {
                        a href={ "#" (target_id(i)) } { (t.name) }
                        " " span class={ "badge " (if t.up { "ok" } else { "crit" }) } { (if t.up { "up" } else { "failing" }) }
                    }
                    td { (firing(t, status.agent)) }
                }
            }
        }
    }
}

/// `2 critical, 1 warning: ProxyTrafficLow, …`, or a quiet word.
fn firing(t: &TargetStatus, agent: bool) -> Markup {
    if !agent {
        return html! { span.quiet { "agent off" } };
    }
    let total: usize = t.alerts_firing.values().sum();
    if total == 0 {
        return html! { span.quiet { "none" } };
    }
    let mut names: Vec<&str> = t
        .alerts
        .iter()
        .filter(|a| a.state == "firing")
        .map(|a| a.alertname.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    html! {
        @for (k, (severity, n)) in t.alerts_firing.iter().enumerate() {
            @if k > 0 { ", " }
            strong class=(if severity == "critical" { "crit" } else { "warn" }) { (n) " " (severity) }
        }
        br;
        small { (names.join(", ")) }
    }
}

/// The soonest package and static IP expiries of every target.
fn expiries(status: &Status) -> Markup {
    let mut all: Vec<(usize, &TargetStatus, &str, &Expiry)> = status
        .targets
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            let packages = t.packages.iter().map(move |e| (i, t, "package", e));
            let ips = t.static_ips.iter().map(move |e| (i, t, "static IP", e));
            packages.chain(ips)
        })
        .collect();
    if all.is_empty() {
        return html! {};
    }
    all.sort_by(|a, b| {
        a.3.expires_at
            .cmp(&b.3.expires_at)
            .then(a.1.name.cmp(&b.1.name))
    });
    all.truncate(EXPIRIES);
    html! {
        h3 { "Soonest expiries" }
        table.overview.expiries {
            tr { th { "what" } th { "expires" } }
            @for (i, t, kind, e) in &all {
                tr {
                    td {
                        (kind) " " code { (e.name) } " "
                        small { a href={ "#" (target_id(*i)) } { (t.name) } }
                    }
                    td { (when(e, status.generated_at)) }
                }
            }
        }
    }
}

/// `expired`, or `in 3d 4h` coloured by how soon, with the date on hover.
pub(super) fn when(e: &Expiry, now: f64) -> Markup {
    if e.expired {
        return html! { span.badge.crit { "expired" } " " (time(e.expires_at as f64)) };
    }
    let left = e.expires_at as f64 - now;
    let level = if left < 2.0 * DAY {
        "crit"
    } else if left < 7.0 * DAY {
        "warn"
    } else {
        "quiet"
    };
    html! { span class=(level) { "in " (format_duration(left as i64)) } " " small { (time(e.expires_at as f64)) } }
}
