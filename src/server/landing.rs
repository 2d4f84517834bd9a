//! The front page (`/`): what runs out next, per target, rendered on the server
//! from [`crate::status`] and the stored history. No external asset and no
//! inline script or style: the page, its stylesheet and its script
//! (`/static/page.css`, `/static/page.js`, embedded in the binary) work offline
//! and behind the strict Content-Security-Policy the server sends with them.
//! Without its script the page shows times in UTC; with it, in the viewer's zone.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::alerts::{self, Severity};
use crate::forecast::Point;
use crate::status::{Expiry, OrderStatus, PoolStatus, Status, TargetStatus, NEAR_LIMIT};
use crate::units::{format_bytes, format_duration};

/// The policy sent with the page and its assets: nothing from anywhere else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/// The page's stylesheet.
pub const STYLESHEET: &str = include_str!("assets/page.css");
/// The page's script: local times, nothing else.
pub const SCRIPT: &str = include_str!("assets/page.js");
/// How often the page reloads itself, in seconds.
const REFRESH_SECONDS: u32 = 60;
/// The most points a chart draws.
const CHART_POINTS: usize = 240;
const DAY: f64 = 86_400.0;

/// A pool's stored history (oldest first), by target and pool.
pub type Histories = BTreeMap<(String, String), Vec<Point>>;

/// The page for `status`; `histories` holds up to 7 days of each pool.
pub fn render(status: &Status, histories: &Histories) -> String {
    let mut html = String::with_capacity(32 * 1024);
    let _ = write!(
        html,
        concat!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<meta http-equiv=\"refresh\" content=\"{refresh}\">",
            "<title>proxy-quota-exporter</title>",
            "<link rel=\"stylesheet\" href=\"/static/page.css\">",
            "<script src=\"/static/page.js\" defer></script></head><body>",
            "<header><h1>proxy-quota-exporter</h1><p class=\"meta\">",
            "Version {version} ({revision}) · updated {updated} · {ready} · ",
            "<a href=\"/metrics\">metrics</a> · <a href=\"/api/v1/status\">status API</a>",
            "</p></header><main>"
        ),
        refresh = REFRESH_SECONDS,
        version = escape(status.version),
        revision = escape(status.revision),
        updated = time(status.generated_at),
        ready = if status.ready {
            "every target polled"
        } else {
            "waiting for the first poll of every target"
        },
    );
    if let Some(notice) = &status.notice {
        let _ = write!(html, "<p class=\"banner\">{}</p>", escape(notice));
    }
    if let Some(shard) = &status.shard {
        let _ = write!(
            html,
            "<p class=\"note\">Sharded: this process is {} and polls and serves only the targets whose name hashes to it.</p>",
            escape(shard)
        );
    }
    if !status.agent {
        html.push_str("<p class=\"note\">The alerting agent is off (no <code>alerting</code> section in the configuration): alerts come from your Prometheus and the rule file, and are not shown here.</p>");
    }
    if !status.store {
        html.push_str("<p class=\"note\">No store (<code>--storage.path</code>): days left and charts need the history it keeps.</p>");
    }
    silences(&mut html, status);
    if status.targets.is_empty() {
        html.push_str("<p>No poll has finished yet.</p>");
    }
    for t in &status.targets {
        target(&mut html, t, status, histories);
    }
    html.push_str("</main></body></html>\n");
    html
}

fn target(html: &mut String, t: &TargetStatus, status: &Status, histories: &Histories) {
    let _ = write!(
        html,
        "<section class=\"target\"><h2>{} <small>{}</small> <span class=\"badge {}\">{}</span></h2><p class=\"meta\">Last poll {}</p>",
        escape(&t.name),
        escape(&t.provider_name),
        if t.up { "ok" } else { "crit" },
        if t.up { "up" } else { "failing" },
        time(t.last_poll),
    );
    if t.credential_in_clear {
        html.push_str("<p class=\"banner\">The credential of this target is sent over plain HTTP and can be read on the network: use an https base_url if the provider offers one.</p>");
    }
    for p in &t.pools {
        let history = histories
            .get(&(t.name.clone(), p.pool.clone()))
            .map_or(&[][..], Vec::as_slice);
        pool(html, p, history, status);
    }
    if let Some(u) = &t.usage {
        let _ = write!(
            html,
            "<p>Used today <strong>{}</strong>, yesterday {}.</p>",
            format_bytes(u.today_bytes),
            format_bytes(u.yesterday_bytes)
        );
    }
    alerts(html, t, status);
    expiries(
        html,
        "Packages expiring soonest",
        &t.packages,
        t.packages_total,
        false,
        status.generated_at,
    );
    expiries(
        html,
        "Static IPs expiring soonest",
        &t.static_ips,
        t.static_ips_total,
        true,
        status.generated_at,
    );
    accounts(html, t);
    spiking_accounts(html, t);
    customers(html, t);
    orders(html, t);
    endpoints(html, t);
    html.push_str("</section>");
}

fn pool(html: &mut String, p: &PoolStatus, history: &[Point], status: &Status) {
    let level = p
        .remaining_ratio
        .and_then(|r| alerts::TRAFFIC_LOW.level(r))
        .map_or("ok", class);
    let _ = write!(
        html,
        "<div class=\"pool\"><h3>{}</h3><p class=\"figures\">",
        escape(&p.pool)
    );
    match (p.remaining_bytes, p.purchased_bytes, p.remaining_ratio) {
        (Some(left), Some(bought), Some(ratio)) => {
            let _ = write!(
                html,
                "<strong class=\"{level}\">{} left</strong> of {} (<span class=\"{level}\">{:.1} %</span>)",
                format_bytes(left),
                format_bytes(bought),
                ratio * 100.0
            );
        }
        (Some(left), _, _) => {
            let _ = write!(html, "<strong>{} left</strong>", format_bytes(left));
        }
        _ => html.push_str("remaining traffic not reported"),
    }
    html.push_str("</p>");
    if let Some(ratio) = p.remaining_ratio {
        let width = (ratio * 100.0).clamp(0.0, 100.0);
        let _ = write!(
            html,
            "<svg class=\"bar\" viewBox=\"0 0 100 4\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{:.1} % left\"><rect class=\"track\" width=\"100\" height=\"4\"/><rect class=\"fill {level}\" width=\"{width:.2}\" height=\"4\"/></svg>",
            ratio * 100.0
        );
    }
    html.push_str("<p class=\"facts\">");
    match p.days_left {
        Some(days) => {
            let _ = write!(
                html,
                "<span>Days left at the last 6 h rate: <strong class=\"{}\">{}</strong></span>",
                days_class(days),
                days_text(days)
            );
        }
        None if status.store => html.push_str(
            "<span>Days left: not enough history yet (or nothing used in the last 6 h)</span>",
        ),
        None => html.push_str("<span>Days left: needs the store</span>"),
    }
    if let Some(spike) = &p.usage_spike {
        let window = humantime::format_duration(Duration::from_secs_f64(spike.window_seconds));
        let _ = write!(
            html,
            "<span>Used in the last {window}: <strong class=\"{}\">{}</strong> (usual {}){}</span>",
            if spike.spiking { "warn" } else { "ok" },
            format_bytes(spike.consumed_bytes),
            format_bytes(spike.usual_bytes),
            if spike.spiking {
                " <span class=\"badge warn\">usage spike</span>"
            } else {
                ""
            }
        );
    }
    if let Some(expiring) = p.expiring_bytes.filter(|b| *b > 0.0) {
        let _ = write!(
            html,
            "<span>Expiring within 7 days: <strong class=\"warn\">{}</strong></span>",
            format_bytes(expiring)
        );
    }
    html.push_str("</p>");
    // Without a store the page's note says why there are no charts.
    if status.store {
        html.push_str("<div class=\"charts\">");
        for (caption, window) in [("Last 24 h", DAY), ("Last 7 days", 7.0 * DAY)] {
            chart(html, caption, history, status.generated_at - window);
        }
        html.push_str("</div>");
    }
    html.push_str("</div>");
}

/// An inline SVG chart of the remaining traffic since `from`, or an honest
/// note when there is not enough history.
fn chart(html: &mut String, caption: &str, history: &[Point], from: f64) {
    let points: Vec<&Point> = history.iter().filter(|p| p.at >= from).collect();
    let _ = write!(html, "<figure class=\"chart\"><figcaption>{caption}");
    if points.len() < 2 {
        html.push_str("</figcaption><p class=\"empty\">Not enough history yet.</p></figure>");
        return;
    }
    let start = points[0].at;
    let end = points[points.len() - 1].at;
    if start > from + 60.0 {
        let _ = write!(
            html,
            " <span class=\"since\">(since {})</span>",
            time(start)
        );
    }
    let top = points
        .iter()
        .map(|p| {
            p.remaining.max(if p.purchased.is_finite() {
                p.purchased
            } else {
                0.0
            })
        })
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let (width, height) = (300.0, 80.0);
    let span = (end - start).max(1.0);
    let step = points.len().div_ceil(CHART_POINTS).max(1);
    let x = |p: &Point| (p.at - start) / span * width;
    let mut line = String::new();
    for p in points.iter().step_by(step).chain(points.last()) {
        let y = height - (p.remaining / top).clamp(0.0, 1.0) * height;
        let _ = write!(line, "{:.1},{y:.1} ", x(p));
    }
    let line = line.trim_end();
    let last_x = x(points[points.len() - 1]);
    let _ = write!(
        html,
        "</figcaption><svg class=\"line\" viewBox=\"0 0 {width} {height}\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"remaining traffic, {caption}\"><polygon class=\"area\" points=\"0,{height} {line} {last_x:.1},{height}\"/><polyline class=\"trend\" points=\"{line}\"/></svg><p class=\"axis\"><span>{}</span><span>top {}</span><span>now</span></p></figure>",
        time(start),
        format_bytes(top)
    );
}

/// The active and pending silences (`amtool silence add|query|expire`).
fn silences(html: &mut String, status: &Status) {
    if status.silences.is_empty() {
        if status.agent {
            html.push_str("<section class=\"target\"><h2>Silences</h2><p class=\"quiet\">No active or pending silence (<code>amtool silence add</code> adds one).</p></section>");
        }
        return;
    }
    html.push_str("<section class=\"target\"><h2>Silences</h2><div class=\"scroll\"><table><tr><th>state</th><th>matchers</th><th>until</th><th>comment</th><th>by</th><th>id</th></tr>");
    for s in &status.silences {
        let until = if s.state == "pending" {
            format!("{} from {}", time(s.ends_at), time(s.starts_at))
        } else {
            time(s.ends_at)
        };
        let _ = write!(
            html,
            "<tr><td><span class=\"badge {}\">{}</span></td><td><code>{}</code></td><td>{until}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            if s.state == "active" { "ok" } else { "quiet" },
            escape(s.state),
            escape(&s.matchers),
            escape(&s.comment),
            escape(&s.created_by),
            escape(&s.id),
        );
    }
    html.push_str("</table></div></section>");
}

fn alerts(html: &mut String, t: &TargetStatus, status: &Status) {
    if !status.agent {
        return;
    }
    if t.alerts.is_empty() {
        html.push_str("<h3>Alerts</h3><p class=\"quiet\">No alert pending or firing.</p>");
        return;
    }
    html.push_str("<h3>Alerts</h3><div class=\"scroll\"><table><tr><th>state</th><th>alert</th><th>about</th><th>since</th></tr>");
    for a in &t.alerts {
        let state_class = match (a.state, a.severity.as_str()) {
            ("firing", "critical") => "crit",
            ("firing", _) => "warn",
            _ => "quiet",
        };
        // Summaries start with provider and target, which the section names.
        let prefix = format!("{} {}: ", t.provider, t.name);
        let mut muted = String::new();
        if !a.silenced_by.is_empty() {
            let _ = write!(
                muted,
                " <span class=\"badge quiet\" title=\"{}\">silenced</span>",
                escape(&a.silenced_by.join(", "))
            );
        }
        if !a.inhibited_by.is_empty() {
            muted.push_str(" <span class=\"badge quiet\">inhibited</span>");
        }
        let _ = write!(
            html,
            "<tr><td><span class=\"badge {state_class}\">{} {}</span>{muted}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            a.state,
            escape(&a.severity),
            escape(&a.alertname),
            escape(a.summary.strip_prefix(&prefix).unwrap_or(&a.summary)),
            time(a.since)
        );
    }
    html.push_str("</table></div>");
}

fn expiries(
    html: &mut String,
    title: &str,
    items: &[Expiry],
    total: usize,
    with_country: bool,
    now: f64,
) {
    if items.is_empty() {
        return;
    }
    let _ = write!(
        html,
        "<h3>{title} <small>{} of {total}</small></h3><div class=\"scroll\"><table><tr><th>{}</th><th>product</th>{}<th>expires</th><th></th></tr>",
        items.len(),
        if with_country { "IP" } else { "package" },
        if with_country { "<th>country</th>" } else { "" },
    );
    for e in items {
        let left = e.expires_at as f64 - now;
        let when = if e.expired {
            "<span class=\"badge crit\">expired</span>".to_owned()
        } else {
            let level = if left < 2.0 * DAY {
                "crit"
            } else if left < 7.0 * DAY {
                "warn"
            } else {
                "quiet"
            };
            format!(
                "<span class=\"{level}\">in {}</span>",
                format_duration(left as i64)
            )
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td>{}<td>{}</td><td>{when}</td></tr>",
            escape(&e.name),
            escape(&e.product),
            if with_country {
                format!("<td>{}</td>", escape(&e.country))
            } else {
                String::new()
            },
            time(e.expires_at as f64),
        );
    }
    html.push_str("</table></div>");
}

fn accounts(html: &mut String, t: &TargetStatus) {
    if t.accounts_total == 0 {
        return;
    }
    let threshold = NEAR_LIMIT * 100.0;
    if t.accounts_near_limit.is_empty() {
        let _ = write!(
            html,
            "<h3>Sub-accounts</h3><p class=\"quiet\">None of {} above {threshold:.0} % of its limit.</p>",
            t.accounts_total
        );
        return;
    }
    let _ = write!(
        html,
        "<h3>Sub-accounts above {threshold:.0} % of their limit <small>{} of {}</small></h3><div class=\"scroll\"><table><tr><th>account</th><th>product</th><th>used</th><th>limit</th><th>share</th></tr>",
        t.accounts_near_limit.len(),
        t.accounts_total
    );
    for a in &t.accounts_near_limit {
        let level = alerts::ACCOUNT_NEAR_LIMIT
            .level(a.used_ratio)
            .map_or("quiet", class);
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{level}\">{:.1} %</td></tr>",
            escape(&a.account),
            escape(&a.product),
            format_bytes(a.used_bytes),
            format_bytes(a.limit_bytes),
            a.used_ratio * 100.0
        );
    }
    html.push_str("</table></div>");
}

/// Sub-accounts whose usage spikes (`ProxyUsageSpike`).
fn spiking_accounts(html: &mut String, t: &TargetStatus) {
    if t.accounts_spiking.is_empty() {
        return;
    }
    let _ = write!(
        html,
        "<h3>Sub-accounts with a usage spike <small>{}</small></h3><div class=\"scroll\"><table><tr><th>account</th><th>product</th><th>used in the window</th><th>usual</th></tr>",
        t.accounts_spiking.len()
    );
    for a in &t.accounts_spiking {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td class=\"warn\">{} in {}</td><td>{}</td></tr>",
            escape(&a.account),
            escape(&a.product),
            format_bytes(a.consumed_bytes),
            humantime::format_duration(Duration::from_secs_f64(a.window_seconds)),
            format_bytes(a.usual_bytes)
        );
    }
    html.push_str("</table></div>");
}

fn customers(html: &mut String, t: &TargetStatus) {
    if t.top_customers.is_empty() {
        return;
    }
    html.push_str("<h3>Top customers today</h3><div class=\"scroll\"><table><tr><th>customer</th><th>upload</th><th>download</th><th>total</th></tr>");
    for c in &t.top_customers {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.customer_id),
            format_bytes(c.upload_bytes),
            format_bytes(c.download_bytes),
            format_bytes(c.total_bytes)
        );
    }
    html.push_str("</table></div>");
}

/// What the target bought in the last 30 provider days: orders waiting for
/// payment first (their traffic does not arrive until they are paid), the
/// last purchase, then the spend per product. Amounts are the provider's, in
/// the account's currency, which the answer does not name.
fn orders(html: &mut String, t: &TargetStatus) {
    let Some(o) = &t.orders else {
        return;
    };
    html.push_str("<h3>Orders, last 30 days</h3>");
    if o.pending_total > 0 {
        let _ = write!(
            html,
            "<p class=\"banner\">{} waiting for payment: the traffic arrives only once it is paid.</p><div class=\"scroll\"><table><tr><th>order</th><th>product</th><th>to pay</th><th>created</th></tr>",
            if o.pending_total == 1 {
                "1 order".to_owned()
            } else {
                format!("{} orders", o.pending_total)
            }
        );
        for p in &o.pending {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&p.trade_no),
                escape(&p.product),
                fee(p.fee),
                p.created_at.map_or_else(String::new, |at| time(at as f64)),
            );
        }
        if o.pending.len() < o.pending_total as usize {
            let _ = write!(
                html,
                "<tr><td colspan=\"4\" class=\"quiet\">{} more</td></tr>",
                o.pending_total as usize - o.pending.len()
            );
        }
        html.push_str("</table></div>");
    }
    match &o.last_purchase {
        Some(last) => {
            let _ = write!(
                html,
                "<p>Last purchase: <strong>{}</strong> for {}{}.</p>",
                escape(&last.product),
                fee(last.fee),
                purchase_time(last),
            );
        }
        None => html.push_str("<p class=\"quiet\">No paid order in the last 30 days.</p>"),
    }
    let bought: Vec<_> = o
        .spend_30d
        .iter()
        .filter(|p| p.paid != 0.0 || p.orders.values().any(|n| *n > 0))
        .collect();
    if bought.is_empty() {
        return;
    }
    html.push_str("<div class=\"scroll\"><table><tr><th>product</th><th>spent</th><th>paid</th><th>pending</th><th>cancelled</th><th>refunded</th><th>last paid</th></tr>");
    for p in bought {
        let count = |status: &str| p.orders.get(status).copied().unwrap_or(0);
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&p.product),
            p.paid,
            count("paid"),
            count("pending"),
            count("cancelled"),
            count("refunded"),
            p.last_paid_at.map_or_else(String::new, |at| time(at as f64)),
        );
    }
    html.push_str("</table></div><p class=\"quiet\">Amounts in the account's currency, as the provider reports them.</p>");
}

/// An order's amount with two decimals, or a dash when it has none.
fn fee(fee: Option<f64>) -> String {
    fee.map_or_else(|| "–".to_owned(), |f| format!("{f:.2}"))
}

/// `, paid <time>`, else `, ordered <time>`, else nothing.
fn purchase_time(order: &OrderStatus) -> String {
    match (order.paid_at, order.created_at) {
        (Some(at), _) => format!(", paid {}", time(at as f64)),
        (None, Some(at)) => format!(", ordered {}", time(at as f64)),
        (None, None) => String::new(),
    }
}

/// Folded away while every endpoint is healthy; open, with the reasons, when not.
fn endpoints(html: &mut String, t: &TargetStatus) {
    let failing = t.endpoints.iter().filter(|e| !e.success).count();
    let _ = write!(
        html,
        "<details class=\"endpoints\"{}><summary>Endpoints: {}</summary><div class=\"scroll\"><table><tr><th>endpoint</th><th>status</th><th>last success</th><th>last error</th></tr>",
        if failing > 0 { " open" } else { "" },
        if failing == 0 {
            format!("all {} ok", t.endpoints.len())
        } else {
            format!("{failing} of {} failing", t.endpoints.len())
        }
    );
    for e in &t.endpoints {
        let error = match (&e.error, e.reason) {
            (Some(message), Some(reason)) => format!("{} ({reason})", escape(message)),
            _ => String::new(),
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{error}</td></tr>",
            e.endpoint,
            if e.success { "ok" } else { "crit" },
            if e.success { "ok" } else { "failing" },
            e.last_success.map_or_else(|| "never".to_owned(), time),
        );
    }
    html.push_str("</table></div></details>");
}

fn class(severity: Severity) -> &'static str {
    match severity {
        Severity::Warning => "warn",
        Severity::Critical => "crit",
    }
}

fn days_class(days: f64) -> &'static str {
    alerts::TRAFFIC_EXHAUSTION_FORECAST
        .level(days * DAY)
        .map_or("ok", class)
}

fn days_text(days: f64) -> String {
    if days >= 1000.0 {
        "more than 999".to_owned()
    } else {
        format!("{days:.1}")
    }
}

/// A moment as a `<time>`: UTC in the text and on hover; the page's script
/// rewrites the text into the viewer's zone.
fn time(seconds: f64) -> String {
    match chrono::DateTime::from_timestamp(seconds as i64, 0) {
        Some(t) => {
            let utc = t.format("%Y-%m-%d %H:%M UTC");
            format!(
                "<time datetime=\"{}\" title=\"{utc}\">{utc}</time>",
                t.format("%Y-%m-%dT%H:%M:%SZ")
            )
        }
        None => escape(&seconds.to_string()),
    }
}

/// Text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_upstream_cannot_become_markup() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn times_are_utc_until_the_script_localises_them() {
        assert_eq!(
            time(0.0),
            "<time datetime=\"1970-01-01T00:00:00Z\" title=\"1970-01-01 00:00 UTC\">1970-01-01 00:00 UTC</time>"
        );
    }
}
