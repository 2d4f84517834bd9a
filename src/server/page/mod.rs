//! The front page (`/`): what runs out next, rendered on the server from
//! [`crate::status`] and the stored history, with maud: every value put in the
//! page is escaped unless wrapped in `PreEscaped` (which this page never
//! does), and the markup is checked when the crate compiles. The page opens
//! with the overview across targets (`overview.rs`), then one section per
//! target (`sections.rs`, `alerts.rs`, `orders.rs`, charts in `chart.rs`).
//!
//! No external asset and no inline script or style: the page, its stylesheet
//! and its script (`/static/page.css`, `/static/page.js`, embedded in the
//! binary) work offline and behind the strict Content-Security-Policy the
//! server sends with them. Without its script the page shows times in UTC and
//! charts without a readout; with it, times in the viewer's zone and the value
//! at a point on hover and keyboard focus.

mod alerts;
mod chart;
mod format;
mod orders;
mod overview;
mod sections;

use std::collections::BTreeMap;

use maud::{html, Markup, DOCTYPE};

pub use chart::{chart_points, CHART_POINTS};

use crate::forecast::Point;
use crate::lists::ListWindow;
use crate::status::Status;
use format::time;

/// The policy sent with the page and its assets: nothing from anywhere else;
/// the page's filter (a GET form) goes to the page itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/// The page's stylesheet.
pub const STYLESHEET: &str = include_str!("../assets/page.css");
/// The page's script: local times and the charts' readout.
pub const SCRIPT: &str = include_str!("../assets/page.js");
/// How often the page reloads itself, in seconds.
const REFRESH_SECONDS: u32 = 60;

/// A pool's stored history (oldest first), by target and pool.
pub type Histories = BTreeMap<(String, String), Vec<Point>>;

/// The page for `status`; `histories` holds up to 7 days of each pool;
/// `lists` is the filter the status was built with (shown in the filter box).
pub fn render(status: &Status, histories: &Histories, lists: &ListWindow) -> String {
    page(status, histories, lists).into_string()
}

fn page(status: &Status, histories: &Histories, lists: &ListWindow) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content=(REFRESH_SECONDS);
                title { "proxy-quota-exporter" }
                link rel="stylesheet" href="/static/page.css";
                script src="/static/page.js" defer {}
            }
            body {
                (header(status, lists))
                main {
                    (notes(status))
                    (overview::overview(status))
                    (silences(status))
                    @if status.targets.is_empty() {
                        p { "No poll has finished yet." }
                    }
                    @for (i, t) in status.targets.iter().enumerate() {
                        (sections::target(i, t, status, histories))
                    }
                }
            }
        }
    }
}

fn header(status: &Status, lists: &ListWindow) -> Markup {
    html! {
        header {
            h1 { "proxy-quota-exporter" }
            p.meta {
                "Version " (status.version) " (" (status.revision) ") · updated " (time(status.generated_at)) " · "
                (if status.ready { "every target polled" } else { "waiting for the first poll of every target" })
                " · " a href="/metrics" { "metrics" } " · " a href="/api/v1/status" { "status API" }
            }
            form.filter method="get" action="/" role="search" {
                label for="q" { "Find sub-accounts, customers, packages, IPs, alerts by name " }
                input id="q" type="search" name="q" value=[lists.query()] maxlength=(crate::lists::MAX_QUERY_CHARS);
                " " button type="submit" { "Filter" }
                @if let Some(q) = lists.query() {
                    " " span.quiet { "Lists show what holds “" (q) "” · " a href="/" { "show all" } }
                }
            }
        }
    }
}

/// The banners and notes above the overview.
fn notes(status: &Status) -> Markup {
    html! {
        @if let Some(notice) = &status.notice {
            p.banner { (notice) }
        }
        @if let Some(shard) = &status.shard {
            p.note { "Sharded: this process is " (shard) " and polls and serves only the targets whose name hashes to it." }
        }
        @if !status.agent {
            p.note { "The alerting agent is off (no " code { "alerting" } " section in the configuration): alerts come from your Prometheus and the rule file, and are not shown here." }
        }
        @if !status.store {
            p.note { "No store (" code { "--storage.path" } "): days left and charts need the history it keeps." }
        }
    }
}

/// The active and pending silences (`amtool silence add|query|expire`).
fn silences(status: &Status) -> Markup {
    if status.silences.is_empty() {
        return html! {
            @if status.agent {
                section.target { h2 { "Silences" } p.quiet { "No active or pending silence (" code { "amtool silence add" } " adds one)." } }
            }
        };
    }
    html! {
        section.target {
            h2 { "Silences" }
            div.scroll { table {
                tr { th { "state" } th { "matchers" } th { "until" } th { "comment" } th { "by" } th { "id" } }
                @for s in &status.silences {
                    tr {
                        td { span class={ "badge " (if s.state == "active" { "ok" } else { "quiet" }) } { (s.state) } }
                        td { code { (s.matchers) } }
                        td { (time(s.ends_at)) @if s.state == "pending" { " from " (time(s.starts_at)) } }
                        td { (s.comment) } td { (s.created_by) } td { code { (s.id) } }
                    }
                }
            } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_upstream_cannot_become_markup() {
        let status = Status {
            generated_at: 0.0,
            version: "1",
            revision: "r",
            ready: true,
            notice: Some("<script>\"a\" & 'b'</script>".into()),
            shard: None,
            agent: false,
            store: false,
            silences: Vec::new(),
            targets: Vec::new(),
        };
        let lists = ListWindow::new(Some("\"><img src=x>"), None, 0);
        let html = render(&status, &Histories::new(), &lists);
        assert!(
            html.contains("&lt;script&gt;&quot;a&quot; &amp; 'b'&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>\""), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("value=\"&quot;&gt;&lt;img src=x&gt;\""),
            "{html}"
        );
    }
}
