//! The texts people read (ntfy, Slack, Telegram, e-mail): a title such as
//! `[FIRING:2] ProxyTrafficLow` and one block per alert with its status,
//! severity, name, summary, description, runbook link and labels.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{rfc3339, AlertEvent, Status};

/// Labels shown on the first line of an alert's block rather than in its list.
const HEADLINE_LABELS: [&str; 2] = ["alertname", "severity"];

/// How many of `alerts` fire.
pub(crate) fn firing(alerts: &[AlertEvent]) -> usize {
    alerts.iter().filter(|a| a.status == Status::Firing).count()
}

/// `[FIRING:n] name …` while any alert fires, `[RESOLVED] name …` once all
/// have resolved; the distinct alert names, sorted.
pub(crate) fn title(alerts: &[AlertEvent]) -> String {
    let names: BTreeSet<&str> = alerts.iter().map(AlertEvent::name).collect();
    let names: Vec<&str> = names.into_iter().collect();
    match firing(alerts) {
        0 => format!("[RESOLVED] {}", names.join(" ")),
        n => format!("[FIRING:{n}] {}", names.join(" ")),
    }
}

/// One block per alert, separated by a blank line.
pub(crate) fn body(alerts: &[AlertEvent]) -> String {
    let blocks: Vec<String> = alerts.iter().map(block).collect();
    blocks.join("\n\n")
}

/// An alert's block:
///
/// ```text
/// [FIRING] critical ProxyTrafficLow
/// Summary: ...
/// Description: ...
/// Runbook: https://...
/// Labels: pool=residential, provider=ipweb, target=main
/// Since: 2024-05-01T10:00:00Z
/// ```
pub(crate) fn block(alert: &AlertEvent) -> String {
    let mut text = format!(
        "[{}] {} {}",
        alert.status.as_str().to_uppercase(),
        label(alert, "severity"),
        alert.name()
    );
    for (key, heading) in [
        ("summary", "Summary"),
        ("description", "Description"),
        ("runbook_url", "Runbook"),
    ] {
        if let Some(value) = alert.annotations.get(key).filter(|v| !v.is_empty()) {
            let _ = write!(text, "\n{heading}: {value}");
        }
    }
    let labels = other_labels(alert);
    if !labels.is_empty() {
        let _ = write!(text, "\nLabels: {labels}");
    }
    let _ = write!(text, "\nSince: {}", rfc3339(alert.starts_at));
    if let Some(ends_at) = alert.ends_at {
        let _ = write!(text, "\nResolved: {}", rfc3339(ends_at));
    }
    text
}

/// A label's value, or `""`.
pub(crate) fn label<'a>(alert: &'a AlertEvent, name: &str) -> &'a str {
    alert.labels.get(name).map_or("", String::as_str)
}

/// The labels other than `alertname` and `severity`, as `k=v, k=v`.
pub(crate) fn other_labels(alert: &AlertEvent) -> String {
    let pairs: Vec<String> = alert
        .labels
        .iter()
        .filter(|(k, _)| !HEADLINE_LABELS.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    pairs.join(", ")
}

/// `text` cut to at most `max` bytes on a character boundary, ending with `…`
/// when it was cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let ellipsis = "…";
    let mut end = max.saturating_sub(ellipsis.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ellipsis}", &text[..end])
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime};

    use super::*;

    /// A firing alert with the usual labels and annotations.
    pub(crate) fn alert(name: &str, severity: &str, status: Status) -> AlertEvent {
        let labels: BTreeMap<String, String> = [
            ("alertname", name),
            ("severity", severity),
            ("provider", "ipweb"),
            ("target", "main"),
            ("pool", "residential"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let annotations: BTreeMap<String, String> = [
            ("summary", "Traffic is low"),
            ("description", "Only 5% left"),
            ("runbook_url", "https://example.test/runbook#low"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let starts_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_557_600);
        AlertEvent {
            status,
            labels,
            annotations,
            starts_at,
            ends_at: (status == Status::Resolved).then(|| starts_at + Duration::from_secs(600)),
            generator_url: "http://exporter.test:9877/#alerts".into(),
        }
    }

    #[test]
    fn title_counts_firing_and_lists_names() {
        let alerts = [
            alert("ProxyTrafficLow", "critical", Status::Firing),
            alert("ProxyTrafficLow", "warning", Status::Firing),
            alert("ProxyAccountNearLimit", "warning", Status::Resolved),
        ];
        assert_eq!(
            title(&alerts),
            "[FIRING:2] ProxyAccountNearLimit ProxyTrafficLow"
        );
        assert_eq!(title(&alerts[2..]), "[RESOLVED] ProxyAccountNearLimit");
    }

    #[test]
    fn block_shows_what_people_need() {
        let text = block(&alert("ProxyTrafficLow", "critical", Status::Resolved));
        assert_eq!(
            text,
            "[RESOLVED] critical ProxyTrafficLow\n\
             Summary: Traffic is low\n\
             Description: Only 5% left\n\
             Runbook: https://example.test/runbook#low\n\
             Labels: pool=residential, provider=ipweb, target=main\n\
             Since: 2024-05-01T10:00:00Z\n\
             Resolved: 2024-05-01T10:10:00Z"
        );
    }

    #[test]
    fn truncate_keeps_char_boundaries() {
        assert_eq!(truncate("short", 10), "short");
        let cut = truncate("ééééé", 6);
        assert!(cut.len() <= 6 && cut.ends_with('…'), "{cut}");
    }
}
