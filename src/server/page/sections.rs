//! A target's section of the front page: its pools (figures, bar, days left,
//! spike, charts), usage, alerts, expiries, sub-accounts, customers, orders
//! and endpoints. Long lists show [`PAGE_ROWS`] rows and then `N more`.

use std::time::Duration;

use maud::{html, Markup};

use super::chart::{chart, Forecast};
use super::format::{more, pool_id, share_class, target_id, time, DAY};
use super::overview::when;
use super::{alerts, orders, Histories};
use crate::alerts::ACCOUNT_NEAR_LIMIT;
use crate::forecast::Point;
use crate::status::{Expiry, PoolStatus, Status, TargetStatus, NEAR_LIMIT};
use crate::units::format_bytes;

/// The most rows a list of a target shows.
pub(super) const PAGE_ROWS: usize = 20;

/// The section of the `index`-th target.
pub(super) fn target(
    index: usize,
    t: &TargetStatus,
    status: &Status,
    histories: &Histories,
) -> Markup {
    html! {
        section.target id=(target_id(index)) {
            h2 {
                (t.name) " " small { (t.provider_name) } " "
                span class={ "badge " (if t.up { "ok" } else { "crit" }) } { (if t.up { "up" } else { "failing" }) }
            }
            p.meta { "Last poll " (time(t.last_poll)) " · " a href="#overview" { "overview" } }
            @if t.credential_in_clear {
                p.banner { "The credential of this target is sent over plain HTTP and can be read on the network: use an https base_url if the provider offers one." }
            }
            @for (j, p) in t.pools.iter().enumerate() {
                @let history = histories.get(&(t.name.clone(), p.pool.clone())).map_or(&[][..], Vec::as_slice);
                (pool(pool_id(index, j), p, history, status))
            }
            @if let Some(u) = &t.usage {
                p { "Used today " strong { (format_bytes(u.today_bytes)) } ", yesterday " (format_bytes(u.yesterday_bytes)) "." }
            }
            (alerts::table(t, status.agent))
            (expiries("Packages expiring soonest", &t.packages, t.packages_total, false, status.generated_at))
            (expiries("Static IPs expiring soonest", &t.static_ips, t.static_ips_total, true, status.generated_at))
            (accounts(t))
            (found(t))
            (spiking(t))
            (customers(t))
            (orders::orders(t))
            (orders::endpoints(t))
        }
    }
}

fn pool(id: String, p: &PoolStatus, history: &[Point], status: &Status) -> Markup {
    let level = share_class(p.remaining_ratio);
    let forecast = p.days_left.map(|days| Forecast {
        empty_at: status.generated_at + days * DAY,
        basis: basis_text(p.days_left_basis),
    });
    html! {
        div.pool id=(id) {
            h3 { (p.pool) }
            p.figures {
                @match (p.remaining_bytes, p.purchased_bytes, p.remaining_ratio) {
                    (Some(left), Some(bought), Some(ratio)) => {
                        strong class=(level) { (format_bytes(left)) " left" } " of " (format_bytes(bought))
                        " (" span class=(level) { (format!("{:.1}", ratio * 100.0)) " %" } ")"
                    }
                    (Some(left), _, _) => { strong { (format_bytes(left)) " left" } }
                    _ => { "remaining traffic not reported" }
                }
            }
            @if let Some(ratio) = p.remaining_ratio {
                svg.bar viewBox="0 0 100 4" preserveAspectRatio="none" role="img" aria-label=(format!("{:.1} % left", ratio * 100.0)) {
                    rect.track width="100" height="4" {}
                    rect class={ "fill " (level) } width=(format!("{:.2}", (ratio * 100.0).clamp(0.0, 100.0))) height="4" {}
                }
            }
            p.facts { (facts(p, status.store)) }
            // Without a store the page's note says why there are no charts.
            @if status.store {
                div.charts {
                    @for (caption, window) in [("Last 24 h", DAY), ("Last 7 days", 7.0 * DAY)] {
                        (chart(caption, history, status.generated_at - window, forecast, p.simulated_until))
                    }
                }
            }
        }
    }
}

/// Days left, the spike figures and what expires within 7 days.
fn facts(p: &PoolStatus, store: bool) -> Markup {
    html! {
        @match p.days_left {
            Some(days) => {
                span { "Days left at " (basis_text(p.days_left_basis)) ": " strong class=(super::format::days_class(days)) { (super::format::days_text(days)) } }
            }
            None if store => { span { "Days left: not enough history yet (or nothing used lately)" } }
            None => { span { "Days left: needs the store" } }
        }
        @if let Some(spike) = &p.usage_spike {
            span {
                "Used in the last " (humantime::format_duration(Duration::from_secs_f64(spike.window_seconds))) ": "
                strong class=(if spike.spiking { "warn" } else { "ok" }) { (format_bytes(spike.consumed_bytes)) }
                " (usual " (format_bytes(spike.usual_bytes)) ")"
                @if spike.spiking { " " span.badge.warn { "usage spike" } }
            }
        }
        @if let Some(expiring) = p.expiring_bytes.filter(|b| *b > 0.0) {
            span { "Expiring within 7 days: " strong.warn { (format_bytes(expiring)) } }
        }
    }
}

fn expiries(title: &str, items: &[Expiry], total: usize, ips: bool, now: f64) -> Markup {
    if items.is_empty() {
        return html! {};
    }
    let shown = items.len().min(PAGE_ROWS);
    html! {
        h3 { (title) " " small { (shown) " of " (total) } }
        div.scroll { table {
            tr {
                th { (if ips { "IP" } else { "package" }) } th { "product" }
                @if ips { th { "country" } }
                th { "expires" }
            }
            @for e in items.iter().take(PAGE_ROWS) {
                tr {
                    td { (e.name) } td { (e.product) }
                    @if ips { td { (e.country) } }
                    td { (when(e, now)) }
                }
            }
            (more(shown, total, if ips { 4 } else { 3 }))
        } }
    }
}

fn accounts(t: &TargetStatus) -> Markup {
    let threshold = format!("{:.0}", NEAR_LIMIT * 100.0);
    if t.accounts_total == 0 {
        return html! {};
    }
    if t.accounts_near_limit.is_empty() {
        return html! {
            h3 { "Sub-accounts" }
            p.quiet { "None of " (t.accounts_total) " above " (threshold) " % of its limit." }
        };
    }
    let shown = t.accounts_near_limit.len().min(PAGE_ROWS);
    html! {
        h3 { "Sub-accounts above " (threshold) " % of their limit " small { (shown) " of " (t.accounts_near_limit_total) " (" (t.accounts_total) " sub-accounts)" } }
        div.scroll { table {
            tr { th { "account" } th { "product" } th { "used" } th { "limit" } th { "share" } }
            @for a in t.accounts_near_limit.iter().take(PAGE_ROWS) {
                @let level = ACCOUNT_NEAR_LIMIT.level(a.used_ratio).map_or("quiet", super::format::class);
                tr {
                    td { (a.account) } td { (a.product) } td { (format_bytes(a.used_bytes)) }
                    td { (format_bytes(a.limit_bytes)) }
                    td class=(level) { (format!("{:.1}", a.used_ratio * 100.0)) " %" }
                }
            }
            (more(shown, t.accounts_near_limit_total, 5))
        } }
    }
}

/// The sub-accounts `?q=` found, whatever their use.
fn found(t: &TargetStatus) -> Markup {
    let Some(found) = &t.accounts_found else {
        return html! {};
    };
    let shown = found.len().min(PAGE_ROWS);
    html! {
        h3 { "Sub-accounts found " small { (shown) " of " (t.accounts_found_total) } }
        @if found.is_empty() {
            p.quiet { "No sub-account name holds the filter." }
        } @else {
            div.scroll { table {
                tr { th { "account" } th { "product" } th { "used" } th { "limit" } th { "share" } }
                @for a in found.iter().take(PAGE_ROWS) {
                    tr {
                        td { (a.account) @if a.enabled == Some(false) { " " span.badge.quiet { "disabled" } } }
                        td { (a.product) } td { (format_bytes(a.used_bytes)) }
                        td { (a.limit_bytes.map_or_else(|| "none".to_owned(), format_bytes)) }
                        td { (a.used_ratio.map_or_else(String::new, |r| format!("{:.1} %", r * 100.0))) }
                    }
                }
                (more(shown, t.accounts_found_total, 5))
            } }
        }
    }
}

/// Sub-accounts whose usage spikes (`ProxyUsageSpike`).
fn spiking(t: &TargetStatus) -> Markup {
    if t.accounts_spiking_unread {
        return html! {
            p.quiet { "Sub-accounts' usage spikes: with over 1,000 sub-accounts the page reads them only while the alerting agent runs (an " code { "alerting" } " section)." }
        };
    }
    if t.accounts_spiking.is_empty() {
        return html! {};
    }
    let shown = t.accounts_spiking.len().min(PAGE_ROWS);
    html! {
        h3 { "Sub-accounts with a usage spike " small { (shown) " of " (t.accounts_spiking_total) } }
        div.scroll { table {
            tr { th { "account" } th { "product" } th { "used in the window" } th { "usual" } }
            @for a in t.accounts_spiking.iter().take(PAGE_ROWS) {
                tr {
                    td { (a.account) } td { (a.product) }
                    td.warn { (format_bytes(a.consumed_bytes)) " in " (humantime::format_duration(Duration::from_secs_f64(a.window_seconds))) }
                    td { (format_bytes(a.usual_bytes)) }
                }
            }
            (more(shown, t.accounts_spiking_total, 4))
        } }
    }
}

fn customers(t: &TargetStatus) -> Markup {
    if t.top_customers.is_empty() {
        return html! {};
    }
    let shown = t.top_customers.len().min(PAGE_ROWS);
    html! {
        h3 { "Top customers today " small { (shown) " of " (t.top_customers_total) } }
        div.scroll { table {
            tr { th { "customer" } th { "upload" } th { "download" } th { "total" } }
            @for c in t.top_customers.iter().take(PAGE_ROWS) {
                tr {
                    td { (c.customer_id) } td { (format_bytes(c.upload_bytes)) }
                    td { (format_bytes(c.download_bytes)) } td { (format_bytes(c.total_bytes)) }
                }
            }
            (more(shown, t.top_customers_total, 4))
        } }
    }
}

/// The forecast's basis in words (the status API's `days_left_basis`).
pub(super) fn basis_text(basis: Option<&str>) -> &'static str {
    match basis {
        Some("last_day") => "the last day's average use",
        _ => "the last 6 h trend",
    }
}
