//! A target's alerts as the page lists them: one row per alert. A rule's
//! variants about the same thing (a critical alert and its warning twin: the
//! same labels but `severity`) make one row showing the most severe, the twin
//! noted; rows that would read the same (`1 static IP invalid` for two
//! products) say what tells them apart (the labels whose values differ);
//! silenced and inhibited alerts are marked.

use std::collections::BTreeMap;

use maud::{html, Markup};

use super::format::time;
use crate::status::{AlertStatus, TargetStatus};

/// The most alert rows a target's table shows.
const ALERT_ROWS: usize = 20;
/// Labels every alert of a target shares, or that the row already shows.
const SHOWN_LABELS: [&str; 4] = ["alertname", "severity", "target", "provider"];

/// One row: the most severe of an alert's variants.
pub(super) struct Row<'a> {
    pub alert: &'a AlertStatus,
    /// The other variants of the same alert, most severe first.
    pub twins: Vec<&'a AlertStatus>,
    /// The labels that tell this row from others reading the same.
    pub differs: Vec<(&'a str, &'a str)>,
}

/// Firing before pending, critical before warning.
fn rank(a: &AlertStatus) -> (u8, u8) {
    let state = u8::from(a.state == "firing");
    let severity = match a.severity.as_str() {
        "critical" => 2,
        "warning" => 1,
        _ => 0,
    };
    (state, severity)
}

/// The rows of `alerts`, the most severe first (a stable order otherwise).
pub(super) fn rows<'a>(alerts: &'a [AlertStatus], target: &TargetStatus) -> Vec<Row<'a>> {
    let mut groups: BTreeMap<Vec<(&str, &str)>, Vec<&AlertStatus>> = BTreeMap::new();
    let mut order = Vec::new();
    for a in alerts {
        let key: Vec<(&str, &str)> = a
            .labels
            .iter()
            .filter(|(k, _)| k.as_str() != "severity")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let group = groups.entry(key.clone()).or_default();
        if group.is_empty() {
            order.push(key);
        }
        group.push(a);
    }
    let mut rows: Vec<Row> = order
        .iter()
        .filter_map(|key| {
            let mut variants = groups.remove(key)?;
            variants.sort_by_key(|a| std::cmp::Reverse(rank(a)));
            let alert = variants.remove(0);
            Some(Row {
                alert,
                twins: variants,
                differs: Vec::new(),
            })
        })
        .collect();
    mark_differences(&mut rows, target);
    rows.sort_by_key(|r| std::cmp::Reverse(rank(r.alert)));
    rows
}

/// For rows of one rule that read the same, the labels whose values differ.
fn mark_differences(rows: &mut [Row], target: &TargetStatus) {
    let mut same: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        same.entry((r.alert.alertname.as_str(), about(r.alert, target)))
            .or_default()
            .push(i);
    }
    for members in same.values().filter(|m| m.len() > 1) {
        let keys: Vec<&str> = members
            .iter()
            .flat_map(|&i| rows[i].alert.labels.keys().map(String::as_str))
            .filter(|k| !SHOWN_LABELS.contains(k))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|k| {
                let first = rows[members[0]].alert.labels.get(*k);
                members
                    .iter()
                    .any(|&i| rows[i].alert.labels.get(*k) != first)
            })
            .collect();
        for &i in members {
            let labels = &rows[i].alert.labels;
            let differs = keys
                .iter()
                .filter_map(|k| Some((*k, labels.get(*k)?.as_str())))
                .collect();
            rows[i].differs = differs;
        }
    }
}

/// The summary without its `provider target: ` start, which the section names.
fn about<'a>(a: &'a AlertStatus, t: &TargetStatus) -> &'a str {
    let summary = a.summary.as_str();
    summary
        .strip_prefix(t.provider)
        .and_then(|s| s.strip_prefix(' '))
        .and_then(|s| s.strip_prefix(t.name.as_str()))
        .and_then(|s| s.strip_prefix(": "))
        .unwrap_or(summary)
}

/// A label's name as the page says it.
fn label_name(key: &str) -> &str {
    match key {
        "package_id" => "package",
        "ip" => "IP",
        other => other,
    }
}

/// The target's alert table (`None` without the agent).
pub(super) fn table(t: &TargetStatus, agent: bool) -> Markup {
    if !agent {
        return html! {};
    }
    if t.alerts.is_empty() {
        return html! { h3 { "Alerts" } p.quiet { "No alert pending or firing." } };
    }
    let rows = rows(&t.alerts, t);
    let hidden = t.alerts_total.saturating_sub(t.alerts.len());
    html! {
        h3 {
            "Alerts " small {
                (t.alerts_total) " pending or firing"
                @if rows.len() < t.alerts.len() { ", " (rows.len()) " rows with critical and warning twins folded" }
            }
        }
        div.scroll { table {
            tr { th { "state" } th { "alert" } th { "about" } th { "since" } }
            @for r in rows.iter().take(ALERT_ROWS) { (row(r, t)) }
            @if rows.len() > ALERT_ROWS || hidden > 0 {
                tr { td.quiet colspan="4" { (rows.len().saturating_sub(ALERT_ROWS) + hidden) " more" } }
            }
        } }
    }
}

fn row(r: &Row, t: &TargetStatus) -> Markup {
    let a = r.alert;
    let state_class = match (a.state, a.severity.as_str()) {
        ("firing", "critical") => "crit",
        ("firing", _) => "warn",
        _ => "quiet",
    };
    html! {
        tr {
            td {
                span class={ "badge " (state_class) } { (a.state) " " (a.severity) }
                @if !a.silenced_by.is_empty() {
                    " " span.badge.quiet title={ "silenced by " (a.silenced_by.join(", ")) } { "silenced" }
                }
                @if !a.inhibited_by.is_empty() {
                    " " span.badge.quiet title={ "inhibited by " (a.inhibited_by.join(", ")) } { "inhibited" }
                }
                @for twin in &r.twins {
                    br; small.twin { "also " (twin.severity) " (" (twin.state) ")" }
                }
            }
            td { (a.alertname) }
            td {
                (about(a, t))
                @for (key, value) in &r.differs {
                    " " span.differs { (label_name(key)) " " code { (value) } }
                }
            }
            td { (time(a.since)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(
        name: &str,
        severity: &str,
        state: &'static str,
        labels: &[(&str, &str)],
    ) -> AlertStatus {
        let mut map: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.insert("alertname".into(), name.into());
        map.insert("severity".into(), severity.into());
        map.insert("target".into(), "main".into());
        map.insert("provider".into(), "bestproxy".into());
        AlertStatus {
            alertname: name.into(),
            severity: severity.into(),
            state,
            labels: map,
            since: 0.0,
            summary: "bestproxy main: 1 static IP invalid".into(),
            silenced_by: Vec::new(),
            inhibited_by: Vec::new(),
        }
    }

    fn target(alerts: Vec<AlertStatus>) -> TargetStatus {
        TargetStatus {
            name: "main".into(),
            provider: "bestproxy",
            provider_name: "B".into(),
            up: true,
            last_poll: 0.0,
            credential_in_clear: false,
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
            alerts_total: alerts.len(),
            alerts,
            alerts_firing: BTreeMap::new(),
            endpoints: Vec::new(),
        }
    }

    #[test]
    fn a_critical_alert_and_its_warning_twin_are_one_row() {
        let t = target(vec![
            alert("ProxyTrafficLow", "warning", "firing", &[("pool", "a")]),
            alert("ProxyTrafficLow", "critical", "pending", &[("pool", "a")]),
            alert("ProxyTrafficLow", "critical", "firing", &[("pool", "b")]),
        ]);
        let rows = rows(&t.alerts, &t);
        assert_eq!(rows.len(), 2);
        // Firing critical first; then pool a, shown as its firing warning with
        // the pending critical twin noted.
        assert_eq!(rows[0].alert.labels["pool"], "b");
        assert_eq!(rows[1].alert.severity, "warning");
        assert_eq!(rows[1].twins.len(), 1);
        assert_eq!(rows[1].twins[0].severity, "critical");
        // The two rows read the same: the pool tells them apart.
        assert_eq!(rows[0].differs, vec![("pool", "b")]);
        let html = table(&t, true).into_string();
        assert!(html.contains("also critical (pending)"), "{html}");
        assert!(html.contains("<code>a</code>"), "{html}");
    }

    #[test]
    fn rows_that_read_differently_name_nothing_more() {
        let mut other = alert(
            "ProxyStaticIPUnhealthy",
            "warning",
            "firing",
            &[("ip", "1.2.3.4")],
        );
        other.summary = "bestproxy main: something else".into();
        other.silenced_by = vec!["s1".into()];
        let t = target(vec![
            alert(
                "ProxyStaticIPUnhealthy",
                "warning",
                "firing",
                &[("ip", "<b>5.6.7.8</b>")],
            ),
            other,
        ]);
        let rows = rows(&t.alerts, &t);
        assert!(rows.iter().all(|r| r.differs.is_empty()));
        let html = table(&t, true).into_string();
        assert!(html.contains(">silenced</span>"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
    }
}
