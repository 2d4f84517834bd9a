//! Small pieces of the front page shared by its parts: times, levels and
//! figures as text or markup. Everything here goes through maud, which
//! escapes whatever it is given.

use maud::{html, Markup};

use crate::alerts::{self, Severity};

/// Seconds in a day.
pub(super) const DAY: f64 = 86_400.0;

/// A moment as a `<time>`: UTC in the text and on hover; the page's script
/// rewrites the text into the viewer's zone.
pub(super) fn time(seconds: f64) -> Markup {
    match chrono::DateTime::from_timestamp(seconds as i64, 0) {
        Some(t) => {
            let utc = t.format("%Y-%m-%d %H:%M UTC").to_string();
            html! {
                time datetime=(t.format("%Y-%m-%dT%H:%M:%SZ")) title=(utc) { (utc) }
            }
        }
        None => html! { (seconds) },
    }
}

/// The page's class for a severity.
pub(super) fn class(severity: Severity) -> &'static str {
    match severity {
        Severity::Warning => "warn",
        Severity::Critical => "crit",
    }
}

/// The class of a pool's remaining share (`ProxyTrafficLow`'s thresholds).
pub(super) fn share_class(ratio: Option<f64>) -> &'static str {
    ratio
        .and_then(|r| alerts::TRAFFIC_LOW.level(r))
        .map_or("ok", class)
}

/// The class of days left (`ProxyTrafficExhaustionForecast`'s thresholds).
pub(super) fn days_class(days: f64) -> &'static str {
    alerts::TRAFFIC_EXHAUSTION_FORECAST
        .level(days * DAY)
        .map_or("ok", class)
}

/// Days left with one decimal, or "more than 999".
pub(super) fn days_text(days: f64) -> String {
    if days >= 1000.0 {
        "more than 999".to_owned()
    } else {
        format!("{days:.1}")
    }
}

/// `1 order`, `2 orders`.
pub(super) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The anchor of a target's section (names come from the configuration but
/// are never put in an `id`: an index is always a valid one).
pub(super) fn target_id(index: usize) -> String {
    format!("target-{index}")
}

/// The anchor of a pool within its target's section.
pub(super) fn pool_id(target: usize, pool: usize) -> String {
    format!("target-{target}-pool-{pool}")
}

/// `N more` under a list showing `shown` of `total`.
pub(super) fn more(shown: usize, total: usize, columns: usize) -> Markup {
    html! {
        @if total > shown {
            tr { td.quiet colspan=(columns) {
                (total - shown) " more: find one with the filter at the top, or page with "
                code { "/api/v1/status?limit=…&offset=…" }
            } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_until_the_script_localises_them() {
        assert_eq!(
            time(0.0).into_string(),
            "<time datetime=\"1970-01-01T00:00:00Z\" title=\"1970-01-01 00:00 UTC\">1970-01-01 00:00 UTC</time>"
        );
    }

    #[test]
    fn days_and_counts_read_as_words() {
        assert_eq!(days_text(0.61), "0.6");
        assert_eq!(days_text(5000.0), "more than 999");
        assert_eq!(plural(1, "order", "orders"), "1 order");
        assert_eq!(plural(3, "order", "orders"), "3 orders");
    }
}
