//! Messages that fit (issue 22, item 4): one notification of a group of 2,000
//! firing alerts is one message for every receiver kind, within the
//! receiver's limit, with the counts per alert name and severity, the most
//! urgent alerts first, `+N more` and a link to the front page. Each receiver
//! runs against a local server built from its documented API (wiremock, a
//! tiny SMTP server).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use proxy_quota_exporter::notify::{
    fingerprint, AlertEvent, BuildOptions, RawReceiver, Receiver, Status,
};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::common;

use common::logs::Logs;
use common::smtp::smtp_server;

// ---------------------------------------------------------------- the group

const ALERTS: usize = 2000;
const CRITICAL: usize = 500;
const WARNING: usize = 1500;
const FRONT_PAGE: &str = "http://exporter.test:9877/";
const COUNTS: &str = "2000 firing:\n- ProxyAccountNearLimit: 500 critical, 1500 warning";

/// 2,000 firing ProxyAccountNearLimit alerts of one group, as 1,000
/// sub-accounts near their limit make them: every fourth critical, the rest
/// warning; each a distinct `account`; every fifth account name and every
/// third product 1 KiB long (the product with Slack's markup characters, an
/// accented letter and an emoji, so that bytes, characters and UTF-16 code
/// units differ). Alert `i` started `i` minutes before the first, so the
/// oldest critical alert is the last one, `acc-1996`: the order they come in
/// is not the order they are listed in.
fn group() -> Vec<AlertEvent> {
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_557_600);
    (0..ALERTS)
        .map(|i| {
            let severity = if i % 4 == 0 { "critical" } else { "warning" };
            let account = if i % 5 == 0 {
                format!("acc-{i:04}-{}", "x".repeat(1024))
            } else {
                format!("acc-{i:04}")
            };
            let product = if i % 3 == 0 {
                "<&>é😀".repeat(1024 / 10)
            } else {
                "residential".to_owned()
            };
            let labels: BTreeMap<String, String> = [
                ("alertname", "ProxyAccountNearLimit"),
                ("severity", severity),
                ("provider", "ipweb"),
                ("target", "main"),
                ("account", account.as_str()),
                ("product", product.as_str()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
            let annotations: BTreeMap<String, String> = [
                (
                    "summary".to_owned(),
                    format!("Sub-account {account} is near its limit"),
                ),
                (
                    "description".to_owned(),
                    "96% of the sub-account's traffic limit is used".to_owned(),
                ),
                (
                    "runbook_url".to_owned(),
                    "https://docs.example.test/runbook#proxyaccountnearlimit".to_owned(),
                ),
            ]
            .into_iter()
            .collect();
            let generator_url = format!("{FRONT_PAGE}#alert-{}", fingerprint(&labels));
            AlertEvent {
                status: Status::Firing,
                labels,
                annotations,
                starts_at: base - Duration::from_secs(60 * i as u64),
                ends_at: None,
                generator_url,
            }
        })
        .collect()
}

/// What every message for people of the group shows: the counts first, the
/// oldest critical alert first, critical alerts before warnings, `+N more`
/// for the rest, and the front page. Returns how many alerts it lists.
fn assert_digest(text: &str) -> usize {
    assert!(text.contains(COUNTS), "counts missing: {}", head(text));
    assert!(
        text.find(COUNTS) < text.find("[FIRING] "),
        "the counts come before the alerts: {}",
        head(text)
    );
    let listed: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("[FIRING] "))
        .collect();
    assert!(listed.len() >= 10, "only {} alerts listed", listed.len());
    assert!(listed.len() < ALERTS);
    assert!(listed[0].starts_with("[FIRING] critical ProxyAccountNearLimit"));
    let first_warning = listed
        .iter()
        .position(|l| l.starts_with("[FIRING] warning "))
        .unwrap_or(listed.len());
    assert!(
        listed[first_warning..]
            .iter()
            .all(|l| l.starts_with("[FIRING] warning ")),
        "a critical alert listed after a warning"
    );
    assert_eq!(first_warning, listed.len().min(CRITICAL));
    // The oldest critical alert is listed first.
    let first_account = text.find("account=acc-").expect("an account listed");
    assert_eq!(
        &text[first_account..first_account + "account=acc-1996".len()],
        "account=acc-1996"
    );
    let more = format!("\n+{} more\n", ALERTS - listed.len());
    assert!(text.contains(&more), "{more:?} missing: {}", tail(text));
    assert!(
        text.trim_end()
            .ends_with(&format!("\nAll alerts: {FRONT_PAGE}")),
        "no front page link: {}",
        tail(text)
    );
    listed.len()
}

fn head(text: &str) -> &str {
    &text[..text.char_indices().nth(300).map_or(text.len(), |(i, _)| i)]
}

fn tail(text: &str) -> &str {
    let chars = text.chars().count();
    let skip = chars.saturating_sub(300);
    &text[text.char_indices().nth(skip).map_or(0, |(i, _)| i)..]
}

// ---------------------------------------------------------------- helpers

fn options(telegram_api_url: &str) -> BuildOptions {
    BuildOptions {
        timeout: Duration::from_secs(5),
        telegram_api_url: telegram_api_url.into(),
        ..BuildOptions::default()
    }
}

/// Reads one receiver entry as the configuration file has it.
fn raw(yaml: &str) -> RawReceiver {
    serde_saphyr::from_str(yaml).unwrap()
}

fn build(yaml: &str) -> Box<dyn Receiver> {
    raw(yaml)
        .build(Path::new("."), &options("http://unused.test"))
        .unwrap()
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

/// A server that accepts one request at `at`, answering `answer`.
async fn one_request_server(at: &str, answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(at))
        .respond_with(answer)
        .expect(1)
        .mount(&server)
        .await;
    server
}

// ---------------------------------------------------------------- receivers

#[tokio::test]
async fn slack_gets_one_message_of_at_most_40000_characters() {
    let server = one_request_server(
        "/services/T/B/X",
        ResponseTemplate::new(200).set_body_string("ok"),
    )
    .await;
    let yaml = format!(
        "{{name: chat, slack: {{webhook_url: '{}/services/T/B/X'}}}}",
        server.uri()
    );
    build(&yaml).send(&group()).await.unwrap();
    let seen = requests(&server).await;
    assert_eq!(seen.len(), 1);
    let body: Value = seen[0].body_json().unwrap();
    let text = body["text"].as_str().unwrap();
    // Measured in bytes, so within 40,000 however Slack counts characters.
    assert!(text.len() <= 40_000, "{} bytes", text.len());
    assert!(text.starts_with("*[FIRING:2000] ProxyAccountNearLimit*\n\n"));
    // Escaped as before: no markup from a provider, no escape cut in two.
    assert!(!text.contains('<') && !text.contains('>'));
    let unescaped = text
        .replace("&amp;", "")
        .replace("&lt;", "")
        .replace("&gt;", "");
    assert!(!unescaped.contains('&'), "an escape was cut");
    assert!(text.contains("&lt;&amp;&gt;é😀"));
    let listed = assert_digest(text);
    // Slack's room lists far more than a phone's 4 KB.
    assert!(listed >= 100, "{listed}");
}

#[tokio::test]
async fn ntfy_gets_one_message_under_its_4096_byte_attachment_limit() {
    let server = one_request_server(
        "/alerts-topic",
        ResponseTemplate::new(200).set_body_string("{\"id\":\"x\"}"),
    )
    .await;
    let yaml = format!(
        "{{name: phone, ntfy: {{url: '{}/alerts-topic'}}}}",
        server.uri()
    );
    build(&yaml).send(&group()).await.unwrap();
    let seen = requests(&server).await;
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    // ntfy makes a body of 4096 bytes or more an attachment.
    assert!(request.body.len() < 4096, "{} bytes", request.body.len());
    assert_eq!(
        request.headers.get("title").unwrap().to_str().unwrap(),
        "[FIRING:2000] ProxyAccountNearLimit"
    );
    assert_eq!(request.headers.get("priority").unwrap(), "high");
    let text = String::from_utf8(request.body.clone()).unwrap();
    assert_digest(&text);
}

#[tokio::test]
async fn telegram_gets_one_message_of_at_most_4096_characters() {
    let server = one_request_server(
        "/bot123456:tg-token/sendMessage",
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true, "result": {}})),
    )
    .await;
    let receiver = raw("{name: tg, telegram: {bot_token: '123456:tg-token', chat_id: -1001234}}")
        .build(Path::new("."), &options(&server.uri()))
        .unwrap();
    receiver.send(&group()).await.unwrap();
    let seen = requests(&server).await;
    assert_eq!(seen.len(), 1);
    let body: Value = seen[0].body_json().unwrap();
    assert!(body.get("parse_mode").is_none(), "plain text: {body}");
    let text = body["text"].as_str().unwrap();
    // Within 4,096 whether Telegram counts code points or UTF-16 code units.
    assert!(text.chars().count() <= 4096);
    assert!(
        text.encode_utf16().count() <= 4096,
        "{} UTF-16 code units",
        text.encode_utf16().count()
    );
    assert!(text.starts_with("[FIRING:2000] ProxyAccountNearLimit\n\n"));
    assert_digest(text);
}

#[tokio::test]
async fn email_gets_one_mail_of_at_most_100_alerts_and_256_kib() {
    let (addr, transcript) = smtp_server().await;
    let yaml = format!(
        "{{name: mail, email: {{smarthost: '{addr}', from: exporter@example.test, \
         to: [ops@example.test], require_tls: false}}}}"
    );
    build(&yaml).send(&group()).await.unwrap();
    let transcript = transcript.lock().unwrap();
    assert_eq!(transcript.mails.len(), 1);
    let (headers, body) = transcript.mails[0].split_once("\n\n").unwrap();
    assert!(
        headers.contains("Subject: [FIRING:2000] ProxyAccountNearLimit\n"),
        "{headers}"
    );
    let body = decode_body(headers, body);
    assert!(body.len() <= 256 * 1024, "{} bytes", body.len());
    let listed = assert_digest(&body);
    assert_eq!(listed, 100);
    assert!(body.contains("\n+1900 more\n"));
}

#[tokio::test]
async fn webhook_carries_all_2000_alerts_in_one_message() {
    let server = one_request_server("/hook", ResponseTemplate::new(200)).await;
    let yaml = format!("{{name: hook, webhook: {{url: '{}/hook'}}}}", server.uri());
    let alerts = group();
    build(&yaml).send(&alerts).await.unwrap();
    let seen = requests(&server).await;
    assert_eq!(seen.len(), 1);
    let body: Value = seen[0].body_json().unwrap();
    let sent = body["alerts"].as_array().unwrap();
    assert_eq!(sent.len(), ALERTS);
    assert_eq!(body["truncatedAlerts"], 0);
    assert_eq!(body["externalURL"], FRONT_PAGE.trim_end_matches('/'));
    let accounts: std::collections::BTreeSet<&str> = sent
        .iter()
        .map(|a| a["labels"]["account"].as_str().unwrap())
        .collect();
    assert_eq!(accounts.len(), ALERTS, "every alert, each once");
    let critical = sent
        .iter()
        .filter(|a| a["labels"]["severity"] == "critical")
        .count();
    assert_eq!((critical, ALERTS - critical), (CRITICAL, WARNING));
}

#[tokio::test]
async fn log_writes_one_line_per_alert() {
    let (logs, _guard) = Logs::capture_at(tracing::Level::INFO);
    build("{name: console, log: {}}")
        .send(&group())
        .await
        .unwrap();
    let text = logs.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), ALERTS);
    assert!(lines.iter().all(|l| l.contains("receiver=console")));
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("severity=\"critical\""))
            .count(),
        CRITICAL
    );
}

// ---------------------------------------------------------------- e-mail

/// The mail's body as text, undoing its transfer encoding.
fn decode_body(headers: &str, body: &str) -> String {
    let encoding = headers
        .lines()
        .find_map(|l| l.strip_prefix("Content-Transfer-Encoding: "))
        .unwrap_or("7bit")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "quoted-printable" => quoted_printable(body),
        "base64" => {
            use base64::Engine as _;
            let joined: String = body.lines().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(joined)
                .unwrap();
            String::from_utf8(bytes).unwrap()
        }
        _ => body.to_owned(),
    }
}

/// RFC 2045 quoted-printable: `=XX` is a byte, a line ending in `=` goes on.
fn quoted_printable(body: &str) -> String {
    let mut bytes = Vec::new();
    for line in body.lines() {
        let (line, soft) = match line.strip_suffix('=') {
            Some(line) => (line, true),
            None => (line, false),
        };
        let raw = line.as_bytes();
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'=' && i + 2 < raw.len() {
                let hex = std::str::from_utf8(&raw[i + 1..i + 3]).unwrap();
                bytes.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                bytes.push(raw[i]);
                i += 1;
            }
        }
        if !soft {
            bytes.push(b'\n');
        }
    }
    String::from_utf8(bytes).unwrap()
}
