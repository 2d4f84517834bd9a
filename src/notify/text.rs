//! The texts people read (ntfy, Slack, Telegram, e-mail): a title such as
//! `[FIRING:2] ProxyTrafficLow` and a digest of the notification that fits
//! the receiver's limit ([`digest`]): the counts per alert name and severity,
//! the most urgent alerts (each in its block, or in one line once room is
//! short), `+N more`, and a link to the front page.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::{rfc3339, AlertEvent, Status};

/// Labels shown on the first line of an alert's block rather than in its list.
const HEADLINE_LABELS: [&str; 2] = ["alertname", "severity"];

/// The most bytes of a title (Slack, Telegram, the ntfy `Title` header, the
/// mail subject); a longer one ends with `…`.
pub(crate) const TITLE_MAX: usize = 256;

/// When not every alert fits in its block: at most this many alerts get
/// their block (and together at most half of the room), the rest one line.
const FULL_BLOCKS: usize = 10;

/// The most characters of a label value in an alert's one-line form.
const COMPACT_VALUE: usize = 64;

/// The least room in which the most urgent alert's line, too long for the
/// room, is shortened rather than left out: enough for `[FIRING] critical`
/// and the start of its name.
const MIN_SHORTENED: usize = 32;

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

/// [`title`] in at most `max` bytes, ending with `…` when it was cut.
pub(crate) fn title_within(alerts: &[AlertEvent], max: usize) -> String {
    truncate(&title(alerts), max)
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

/// How a receiver counts the length of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// UTF-8 bytes (ntfy, Slack, e-mail).
    Bytes,
    /// UTF-16 code units (Telegram): as many as Unicode characters for text
    /// of the Basic Multilingual Plane, two for a character beyond it.
    Utf16,
}

impl Unit {
    /// How long `text` is in this unit.
    pub(crate) fn measure(self, text: &str) -> usize {
        match self {
            Unit::Bytes => text.len(),
            Unit::Utf16 => text.chars().map(char::len_utf16).sum(),
        }
    }
}

/// A text as it lands in a message: escaped for where it goes (Slack's
/// `&<>`), character by character, so that escaping a text equals escaping
/// its pieces one after the other.
pub(crate) type Escape = fn(&str) -> Cow<'_, str>;

/// The text as written: for receivers that take plain text.
pub(crate) fn plain(text: &str) -> Cow<'_, str> {
    Cow::Borrowed(text)
}

/// What one receiver's message may hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limit {
    /// The most the whole message text may measure, after escaping.
    pub max: usize,
    pub unit: Unit,
    /// The most alerts listed, whatever room is left.
    pub max_listed: usize,
    pub escape: Escape,
}

impl Limit {
    /// `text` escaped.
    fn escaped<'a>(&self, text: &'a str) -> Cow<'a, str> {
        (self.escape)(text)
    }

    /// How long `text` is once escaped.
    fn cost(&self, text: &str) -> usize {
        self.unit.measure(&self.escaped(text))
    }
}

/// The message text of one notification, at most `limit.max` long: `head`
/// as given (already escaped: the receiver's title line), then
///
/// ```text
/// 2000 firing:
/// - ProxyAccountNearLimit: 500 critical, 1500 warning
/// 3 resolved:
/// - ProxyTrafficLow: 3 warning
///
/// [FIRING] critical ProxyAccountNearLimit
/// Summary: ...
/// ...
/// Since: 2024-05-01T10:00:00Z
///
/// [FIRING] critical ProxyAccountNearLimit: account=acc-0042, provider=ipweb, target=main; since 2024-05-01T10:00:00Z
/// [FIRING] critical ProxyAccountNearLimit: account=acc-0043, provider=ipweb, target=main; since 2024-05-01T10:01:00Z
///
/// +1988 more
/// All alerts: http://exporter:9877/
/// ```
///
/// The counts come first (firing per alert name and severity, then
/// resolved), then the alerts most urgent first: firing before resolved,
/// then critical, warning, any other severity, then the oldest first (ties
/// keep the notification's order). When every alert fits in its block, each
/// gets its block, as one alert's message always looked. Otherwise the first
/// ones get their block (at most [`FULL_BLOCKS`], within half the room) and
/// the next ones one line each (label values cut to [`COMPACT_VALUE`]
/// characters), as long as they fit whole; an alert is never cut in the
/// middle, except the first one when even its line does not fit, which is
/// shortened with `…`. Then `+N more` when alerts were left out, and the
/// front page's address (from the alerts' `generatorURL`) when there is one.
///
/// Every piece is escaped with `limit.escape` and measured in `limit.unit`
/// as it lands. Sorting is O(n log n); only listed alerts are rendered.
pub(crate) fn digest(alerts: &[AlertEvent], head: &str, limit: &Limit) -> String {
    let max = limit.max;
    let mut text = String::new();
    let mut used = limit.unit.measure(head);
    if used > max {
        // A caller's head never is this long (titles are cut to TITLE_MAX).
        return shorten(
            head,
            max,
            &Limit {
                escape: plain,
                ..*limit
            },
        );
    }
    text.push_str(head);
    if alerts.is_empty() {
        return text;
    }

    // The counts: at most half of what is left.
    let counts = counts(alerts);
    let half = (max - used) / 2;
    let counts = if limit.cost(&counts) <= half {
        limit.escaped(&counts).into_owned()
    } else {
        shorten(&counts, half, limit)
    };
    used += limit.unit.measure(&counts);
    text.push_str(&counts);

    // Room for the footer at its longest (every alert left out); none in a
    // limit too small for it.
    let link = front_page(alerts);
    let footer_max = limit.cost(&footer(alerts.len(), link.as_deref()));
    let with_footer = used + footer_max <= max;
    if with_footer {
        used += footer_max;
    }
    let room = max.saturating_sub(used);

    let order = urgency_order(alerts);
    let (listing, listed) = listing(alerts, &order, room, limit);
    text.push_str(&listing);
    if with_footer {
        text.push_str(&limit.escaped(&footer(alerts.len() - listed, link.as_deref())));
    }
    text
}

/// `\n\n+N more\nAll alerts: <link>`, or the part of it there is.
fn footer(left_out: usize, link: Option<&str>) -> String {
    let mut text = String::new();
    if left_out > 0 {
        let _ = write!(text, "\n+{left_out} more");
    }
    if let Some(link) = link {
        let _ = write!(text, "\nAll alerts: {link}");
    }
    if !text.is_empty() {
        text.insert(0, '\n');
    }
    text
}

/// The alerts' indices, most urgent first: firing before resolved, critical
/// before warning before any other severity (none last), oldest first;
/// ties keep their order.
fn urgency_order(alerts: &[AlertEvent]) -> Vec<usize> {
    let mut keys: Vec<_> = alerts
        .iter()
        .enumerate()
        .map(|(i, alert)| {
            let severity = severity_rank(label(alert, "severity"));
            (alert.status != Status::Firing, severity, alert.starts_at, i)
        })
        .collect();
    keys.sort_unstable();
    keys.into_iter().map(|(.., i)| i).collect()
}

/// 0 for `critical`, 1 for `warning`, 2 for any other severity, 3 for none.
fn severity_rank(severity: &str) -> u8 {
    match severity {
        "critical" => 0,
        "warning" => 1,
        "" => 3,
        _ => 2,
    }
}

/// The alerts that fit in `room`, escaped, each after its separator (`\n\n`
/// before a block and before the first line, `\n` between lines), and how
/// many they are.
fn listing(alerts: &[AlertEvent], order: &[usize], room: usize, limit: &Limit) -> (String, usize) {
    const BLOCK_SEP: &str = "\n\n";
    const LINE_SEP: &str = "\n";
    let most = order.len().min(limit.max_listed);

    // Every alert in its block, if they all fit.
    let mut blocks: Vec<(String, usize)> = Vec::new();
    let mut used = 0;
    for &i in &order[..most] {
        let block = limit.escaped(&block(&alerts[i])).into_owned();
        let cost = BLOCK_SEP.len() + limit.unit.measure(&block);
        if used + cost > room {
            break;
        }
        used += cost;
        blocks.push((block, cost));
    }
    if blocks.len() == order.len() {
        let text = blocks
            .into_iter()
            .flat_map(|(block, _)| [BLOCK_SEP.to_owned(), block])
            .collect();
        return (text, order.len());
    }

    // The most urgent in their block, the next ones in a line each.
    let mut text = String::new();
    let mut used = 0;
    let mut listed = 0;
    for (block, cost) in blocks.into_iter().take(FULL_BLOCKS) {
        if used + cost > room / 2 {
            break;
        }
        text.push_str(BLOCK_SEP);
        text.push_str(&block);
        used += cost;
        listed += 1;
    }
    let mut separator = BLOCK_SEP;
    for &i in &order[listed..most] {
        let line = compact(&alerts[i]);
        let cost = separator.len() + limit.cost(&line);
        if used + cost > room {
            if listed == 0 && room >= separator.len() + MIN_SHORTENED {
                // Even the most urgent alert's line is too long: shortened.
                text.push_str(separator);
                text.push_str(&shorten(&line, room - separator.len(), limit));
                listed = 1;
            }
            break;
        }
        text.push_str(separator);
        text.push_str(&limit.escaped(&line));
        used += cost;
        listed += 1;
        separator = LINE_SEP;
    }
    (text, listed)
}

/// `text` escaped and cut so that it measures at most `room`, ending with
/// `…`; never inside what one character escapes to. Empty when not even
/// `…` fits.
fn shorten(text: &str, room: usize, limit: &Limit) -> String {
    let ellipsis = limit.escaped("…");
    let ellipsis_cost = limit.unit.measure(&ellipsis);
    let mut out = String::new();
    if room < ellipsis_cost {
        return out;
    }
    let mut used = 0;
    let mut buffer = [0u8; 4];
    for c in text.chars() {
        let piece = limit.escaped(c.encode_utf8(&mut buffer));
        let cost = limit.unit.measure(&piece);
        if used + cost + ellipsis_cost > room {
            break;
        }
        out.push_str(&piece);
        used += cost;
    }
    out.push_str(&ellipsis);
    out
}

/// How many alerts fire and have resolved, per alert name and severity:
///
/// ```text
/// 2000 firing:
/// - ProxyAccountNearLimit: 500 critical, 1500 warning
/// 1 resolved:
/// - ProxyTrafficLow: 1 warning
/// ```
pub(crate) fn counts(alerts: &[AlertEvent]) -> String {
    type Tally<'a> = BTreeMap<&'a str, BTreeMap<(u8, &'a str), usize>>;
    let mut firing: (usize, Tally) = (0, BTreeMap::new());
    let mut resolved: (usize, Tally) = (0, BTreeMap::new());
    for alert in alerts {
        let (total, tally) = match alert.status {
            Status::Firing => &mut firing,
            Status::Resolved => &mut resolved,
        };
        let severity = label(alert, "severity");
        *tally
            .entry(alert.name())
            .or_default()
            .entry((severity_rank(severity), severity))
            .or_default() += 1;
        *total += 1;
    }
    let mut text = String::new();
    for (word, (total, tally)) in [("firing", firing), ("resolved", resolved)] {
        if total == 0 {
            continue;
        }
        if !text.is_empty() {
            text.push('\n');
        }
        let _ = write!(text, "{total} {word}:");
        for (name, severities) in tally {
            let parts: Vec<String> = severities
                .iter()
                .map(|((_, severity), n)| match *severity {
                    "" => format!("{n} without severity"),
                    severity => format!("{n} {severity}"),
                })
                .collect();
            let _ = write!(text, "\n- {name}: {}", parts.join(", "));
        }
    }
    text
}

/// An alert in one line: `[FIRING] critical Name: k=v, k=v; since <time>`
/// (`; resolved <time>` once resolved), label values cut to
/// [`COMPACT_VALUE`] characters and control characters made spaces.
pub(crate) fn compact(alert: &AlertEvent) -> String {
    let mut text = format!(
        "[{}] {} {}",
        alert.status.as_str().to_uppercase(),
        label(alert, "severity"),
        alert.name()
    );
    let mut first = true;
    for (key, value) in &alert.labels {
        if HEADLINE_LABELS.contains(&key.as_str()) {
            continue;
        }
        text.push_str(if first { ": " } else { ", " });
        first = false;
        let _ = write!(
            text,
            "{}={}",
            one_line(key, COMPACT_VALUE),
            one_line(value, COMPACT_VALUE)
        );
    }
    match alert.ends_at {
        Some(ends_at) => {
            let _ = write!(text, "; resolved {}", rfc3339(ends_at));
        }
        None => {
            let _ = write!(text, "; since {}", rfc3339(alert.starts_at));
        }
    }
    text
}

/// `text` with control characters as spaces, cut to `max` characters with
/// `…`.
fn one_line(text: &str, max: usize) -> Cow<'_, str> {
    let long = text.chars().nth(max).is_some();
    if !long && !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let keep = if long { max.saturating_sub(1) } else { max };
    let mut out: String = text
        .chars()
        .take(keep)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if long {
        out.push('…');
    }
    Cow::Owned(out)
}

/// The exporter's front page, `{external URL}/`, from the alerts'
/// `generatorURL` (`{external URL}/#alert-{fingerprint}`, or the front page
/// itself for the Watchdog); `None` when none is an `http(s)` URL.
pub(crate) fn front_page(alerts: &[AlertEvent]) -> Option<String> {
    alerts.iter().find_map(|a| front_page_of(&a.generator_url))
}

fn front_page_of(url: &str) -> Option<String> {
    let base = match url.split_once("/#") {
        Some((base, _)) => base,
        None => url.strip_suffix('/')?,
    };
    let parsed = url::Url::parse(base).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
        return None;
    }
    if base.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some(format!("{base}/"))
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
    /// `n` firing ProxyAccountNearLimit alerts: every fourth critical, the
    /// rest warning, each a minute younger than the one before.
    fn many(n: usize) -> Vec<AlertEvent> {
        (0..n)
            .map(|i| {
                let severity = if i % 4 == 0 { "critical" } else { "warning" };
                let mut a = alert("ProxyAccountNearLimit", severity, Status::Firing);
                a.labels.insert("account".into(), format!("acc-{i:04}"));
                a.starts_at += Duration::from_secs(60 * i as u64);
                a.generator_url = format!("https://ops.example/exporter/#alert-{i}");
                a
            })
            .collect()
    }

    fn limit(max: usize, unit: Unit) -> Limit {
        Limit {
            max,
            unit,
            max_listed: usize::MAX,
            escape: plain,
        }
    }

    /// The `+N more` of a text, 0 without one.
    fn more(text: &str) -> usize {
        text.lines()
            .find_map(|l| l.strip_prefix('+')?.strip_suffix(" more")?.parse().ok())
            .unwrap_or(0)
    }

    fn listed(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| l.starts_with("[FIRING] ") || l.starts_with("[RESOLVED] "))
            .collect()
    }

    #[test]
    fn a_small_notification_lists_every_alert_in_its_block() {
        let alerts = [
            alert("ProxyTrafficLow", "warning", Status::Resolved),
            alert("ProxyTrafficLow", "critical", Status::Firing),
        ];
        let text = digest(&alerts, "", &limit(4095, Unit::Bytes));
        assert_eq!(
            text,
            format!(
                "1 firing:\n- ProxyTrafficLow: 1 critical\n1 resolved:\n- ProxyTrafficLow: 1 warning\n\n{}\n\n{}\n\nAll alerts: http://exporter.test:9877/",
                block(&alerts[1]),
                block(&alerts[0])
            )
        );
    }

    #[test]
    fn a_large_group_is_counted_listed_most_urgent_first_and_fits() {
        let alerts = many(2000);
        for (max, unit) in [
            (4095, Unit::Bytes),
            (4096, Unit::Utf16),
            (40_000, Unit::Bytes),
        ] {
            let text = digest(
                &alerts,
                "[FIRING:2000] ProxyAccountNearLimit\n\n",
                &limit(max, unit),
            );
            assert!(
                unit.measure(&text) <= max,
                "{} > {max}",
                unit.measure(&text)
            );
            assert!(
                text.contains(
                    "2000 firing:\n- ProxyAccountNearLimit: 500 critical, 1500 warning\n"
                ),
                "{text}"
            );
            let shown = listed(&text);
            assert!(shown.len() >= 10, "{}", shown.len());
            assert!(shown.iter().all(|l| l.starts_with("[FIRING] critical ")));
            // The oldest critical first: acc-0000, acc-0004, ...
            let at = |account: &str| text.find(account).expect(account);
            assert!(at("acc-0000") < at("acc-0004"), "{text}");
            assert_eq!(more(&text), 2000 - shown.len());
            assert!(text.ends_with("\nAll alerts: https://ops.example/exporter/"));
        }
    }

    #[test]
    fn urgency_puts_firing_critical_old_first() {
        let mut alerts = vec![
            alert("A", "warning", Status::Firing),
            alert("A", "critical", Status::Resolved),
            alert("A", "info", Status::Firing),
            alert("A", "", Status::Firing),
            alert("A", "critical", Status::Firing),
            alert("A", "critical", Status::Firing),
        ];
        alerts[5].starts_at -= Duration::from_secs(1);
        assert_eq!(urgency_order(&alerts), [5, 4, 0, 2, 3, 1]);
    }

    #[test]
    fn a_huge_alert_is_shortened_never_over_the_limit() {
        let mut a = alert("ProxyAccountNearLimit", "critical", Status::Firing);
        a.labels.insert("account".into(), "é".repeat(5000));
        a.labels.insert("zone".into(), "😀".repeat(5000));
        a.annotations
            .insert("description".into(), "x".repeat(10_000));
        for (max, unit) in [(500, Unit::Bytes), (300, Unit::Utf16), (4095, Unit::Bytes)] {
            let text = digest(std::slice::from_ref(&a), "", &limit(max, unit));
            assert!(unit.measure(&text) <= max, "{text}");
            assert_eq!(listed(&text).len(), 1, "{text}");
            assert_eq!(more(&text), 0);
        }
        // Room for nothing but the head: still within the limit.
        let text = digest(
            std::slice::from_ref(&a),
            &"t".repeat(40),
            &limit(30, Unit::Bytes),
        );
        assert!(text.len() <= 30, "{text}");
    }

    #[test]
    fn no_limit_is_ever_exceeded() {
        let mut alerts = many(300);
        for a in alerts.iter_mut().step_by(3) {
            a.labels.insert("product".into(), "😀é".repeat(300));
        }
        for unit in [Unit::Bytes, Unit::Utf16] {
            for max in (0..600).chain((600..6000).step_by(97)) {
                let text = digest(&alerts, "[FIRING:300] X\n\n", &limit(max, unit));
                assert!(unit.measure(&text) <= max, "{max}: {text}");
                let shown = listed(&text).len();
                if text.contains(" more\n") {
                    assert_eq!(more(&text), 300 - shown, "{max}: {text}");
                }
            }
        }
    }

    #[test]
    fn escaping_is_measured_and_never_split() {
        fn amp(text: &str) -> Cow<'_, str> {
            Cow::Owned(text.replace('&', "&amp;"))
        }
        let mut alerts = many(300);
        for a in &mut alerts {
            a.labels.insert("product".into(), "&".repeat(1024));
        }
        let limit = Limit {
            escape: amp,
            ..limit(4095, Unit::Bytes)
        };
        let text = digest(&alerts, "", &limit);
        assert!(text.len() <= 4095, "{}", text.len());
        assert!(
            !text.replace("&amp;", "").contains('&'),
            "a cut escape: {text}"
        );
        assert_eq!(more(&text), 300 - listed(&text).len());
    }

    #[test]
    fn max_listed_caps_the_list() {
        let alerts = many(500);
        let limit = Limit {
            max_listed: 100,
            ..limit(256 * 1024, Unit::Bytes)
        };
        let text = digest(&alerts, "", &limit);
        assert_eq!(listed(&text).len(), 100);
        assert_eq!(more(&text), 400);
        // The first ones in their block, the rest in a line each.
        assert_eq!(text.matches("\nSummary: ").count(), FULL_BLOCKS);
    }

    #[test]
    fn compact_lines_are_one_line_with_short_values() {
        let mut a = alert("ProxyAccountNearLimit", "warning", Status::Resolved);
        a.labels
            .insert("account".into(), format!("a\nb{}", "y".repeat(200)));
        let line = compact(&a);
        assert!(!line.contains('\n'), "{line}");
        assert!(line.starts_with("[RESOLVED] warning ProxyAccountNearLimit: account=a b"));
        assert!(line.contains(&format!(
            "{}…, pool=residential",
            "y".repeat(COMPACT_VALUE - 4)
        )));
        assert!(line.ends_with("; resolved 2024-05-01T10:10:00Z"), "{line}");
    }

    #[test]
    fn the_front_page_is_the_external_url() {
        let page = |url: &str| front_page_of(url);
        assert_eq!(
            page("http://exporter:9877/#alert-0123").as_deref(),
            Some("http://exporter:9877/")
        );
        assert_eq!(
            page("https://ops.example/exporter/#alert-1").as_deref(),
            Some("https://ops.example/exporter/")
        );
        assert_eq!(
            page("https://ops.example/").as_deref(),
            Some("https://ops.example/")
        );
        assert_eq!(page("/"), None);
        assert_eq!(page(""), None);
        assert_eq!(page("javascript:alert(1)/#x"), None);
    }

    #[test]
    fn utf16_counts_as_telegram_does() {
        assert_eq!(Unit::Utf16.measure("aé€"), 3);
        assert_eq!(Unit::Utf16.measure("😀"), 2);
        assert_eq!(Unit::Bytes.measure("😀"), 4);
    }

    #[test]
    fn long_titles_are_cut() {
        let alerts: Vec<AlertEvent> = (0..100)
            .map(|i| alert(&format!("Alert{i:03}"), "warning", Status::Firing))
            .collect();
        let title = title_within(&alerts, TITLE_MAX);
        assert!(title.len() <= TITLE_MAX && title.ends_with('…'), "{title}");
        assert!(title.starts_with("[FIRING:100] Alert000 Alert001"));
    }
}
