//! A target's orders of the last 30 days and its endpoints' poll status, as
//! the front page shows them.

use maud::{html, Markup};

use super::format::{more, plural, time};

use crate::status::{OrderStatus, TargetStatus};

/// What the target bought in the last 30 provider days: orders waiting for
/// payment first (their traffic does not arrive until they are paid), the
/// last purchase, then the spend per product. Amounts are the provider's, in
/// the account's currency, which the answer does not name.
pub(super) fn orders(t: &TargetStatus) -> Markup {
    let Some(o) = &t.orders else {
        return html! {};
    };
    let bought: Vec<_> = o
        .spend_30d
        .iter()
        .filter(|p| p.paid != 0.0 || p.orders.values().any(|n| *n > 0))
        .collect();
    html! {
        h3 { "Orders, last 30 days" }
        @if o.pending_total > 0 {
            p.banner { (plural(o.pending_total as usize, "order", "orders")) " waiting for payment: the traffic arrives only once it is paid." }
            div.scroll { table {
                tr { th { "order" } th { "product" } th { "to pay" } th { "created" } }
                @for p in &o.pending {
                    tr {
                        td { (p.trade_no) } td { (p.product) } td { (fee(p.fee)) }
                        td { @if let Some(at) = p.created_at { (time(at as f64)) } }
                    }
                }
                (more(o.pending.len(), o.pending_total as usize, 4))
            } }
        }
        @match &o.last_purchase {
            Some(last) => { p { "Last purchase: " strong { (last.product) } " for " (fee(last.fee)) (purchase_time(last)) "." } }
            None => { p.quiet { "No paid order in the last 30 days." } }
        }
        @if !bought.is_empty() {
            div.scroll { table {
                tr { th { "product" } th { "spent" } th { "paid" } th { "pending" } th { "cancelled" } th { "refunded" } th { "last paid" } }
                @for p in &bought {
                    @let count = |status: &str| p.orders.get(status).copied().unwrap_or(0);
                    tr {
                        td { (p.product) } td { (format!("{:.2}", p.paid)) }
                        td { (count("paid")) } td { (count("pending")) } td { (count("cancelled")) } td { (count("refunded")) }
                        td { @if let Some(at) = p.last_paid_at { (time(at as f64)) } }
                    }
                }
            } }
            p.quiet { "Amounts in the account's currency, as the provider reports them." }
        }
    }
}

/// An order's amount with two decimals, or a dash when it has none.
fn fee(fee: Option<f64>) -> String {
    fee.map_or_else(|| "–".to_owned(), |f| format!("{f:.2}"))
}

/// `, paid <time>`, else `, ordered <time>`, else nothing.
fn purchase_time(order: &OrderStatus) -> Markup {
    html! {
        @match (order.paid_at, order.created_at) {
            (Some(at), _) => { ", paid " (time(at as f64)) }
            (None, Some(at)) => { ", ordered " (time(at as f64)) }
            (None, None) => {}
        }
    }
}

/// Folded away while every endpoint is healthy; open, with the reasons, when not.
pub(super) fn endpoints(t: &TargetStatus) -> Markup {
    let failing = t.endpoints.iter().filter(|e| !e.success).count();
    let summary = if failing == 0 {
        format!("all {} ok", t.endpoints.len())
    } else {
        format!("{failing} of {} failing", t.endpoints.len())
    };
    html! {
        details.endpoints open[failing > 0] {
            summary { "Endpoints: " (summary) }
            div.scroll { table {
                tr { th { "endpoint" } th { "status" } th { "last success" } th { "last error" } }
                @for e in &t.endpoints {
                    tr {
                        td { (e.endpoint) }
                        td class=(if e.success { "ok" } else { "crit" }) { (if e.success { "ok" } else { "failing" }) }
                        td { @match e.last_success { Some(at) => { (time(at)) } None => { "never" } } }
                        td { @if let (Some(message), Some(reason)) = (&e.error, e.reason) { (message) " (" (reason) ")" } }
                    }
                }
            } }
        }
    }
}
