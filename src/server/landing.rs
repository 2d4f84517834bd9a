//! The landing page: version, readiness and the last poll of every target.

use std::fmt::Write as _;

use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::Response;

use super::{App, Chunks};
use crate::metrics;

pub(super) fn landing_page(app: &App) -> Response<Chunks> {
    let now = crate::units::unix_now();
    let mut html = String::from(concat!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>proxy-quota-exporter</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin-bottom:1.5em}",
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.ok{color:#1a7f37}.failing{color:#cf222e}",
        ".notice{background:#fff8c5;padding:.6em;border:1px solid #d4a72c}</style></head><body>",
        "<h1>proxy-quota-exporter</h1>"
    ));
    if let Some(notice) = &app.notice {
        let _ = write!(
            html,
            "<p class=\"notice\"><strong>{}</strong></p>",
            escape_html(notice)
        );
    }
    let _ = write!(
        html,
        "<p>Version {} ({}). <a href=\"/metrics\">Metrics</a> · <a href=\"/-/healthy\">Health</a> · <a href=\"/-/ready\">Readiness</a>: {}</p>",
        metrics::VERSION,
        metrics::REVISION,
        if app.exposition.ready() { "ready" } else { "waiting for the first poll of every target" }
    );
    let shard = app.exposition.shard();
    if shard.total() > 1 {
        let _ = write!(
            html,
            "<p>Sharded: this process is {shard} and polls and serves only the targets whose name hashes to it.</p>"
        );
    }
    let snapshots = app.store.snapshots();
    if snapshots.is_empty() {
        html.push_str("<p>No poll has finished yet.</p>");
    }
    for t in snapshots {
        let up = t.up();
        let provider = crate::providers::spec(t.provider).map_or(t.provider, |p| p.display_name);
        let _ = write!(
            html,
            "<h2>{} <small>({provider})</small> <span class=\"{}\">{}</span></h2><p>Last poll {} ({} s ago).</p>",
            escape_html(&t.target),
            if up { "ok" } else { "failing" },
            if up { "up" } else { "failing" },
            format_unix(t.polled_at),
            (now - t.polled_at).max(0.0).round()
        );
        if t.credential_in_clear {
            html.push_str(
                "<p class=\"notice\">The credential of this target is sent over plain HTTP and can be read on the network: use an https base_url if the provider offers one.</p>",
            );
        }
        html.push_str("<table><tr><th>endpoint</th><th>status</th><th>last success</th><th>last error</th></tr>");
        for e in &t.endpoints {
            let status = if e.success { "ok" } else { "failing" };
            let error = e
                .last_error
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_default();
            let _ = write!(
                html,
                "<tr><td>{}</td><td class=\"{status}\">{status}</td><td>{}</td><td>{}</td></tr>",
                e.endpoint,
                e.last_success_unix
                    .map_or_else(|| "never".to_owned(), format_unix),
                escape_html(&error)
            );
        }
        html.push_str("</table>");
    }
    html.push_str("</body></html>\n");
    let mut response = Response::new(Chunks::one(Bytes::from(html)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// Unix seconds as `2026-11-22 08:25:01 UTC`.
fn format_unix(seconds: f64) -> String {
    chrono::DateTime::from_timestamp(seconds as i64, 0).map_or_else(
        || seconds.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
