//! The receivers against local servers built from each receiver's documented
//! API (wiremock for HTTP, a tiny SMTP server for e-mail), the dispatcher's
//! retries, rate limit, queue bound and counters, the configuration's checks,
//! and that no secret reaches a log line, an error or `Debug` output.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use proxy_quota_exporter::notify::{
    AlertEvent, BuildOptions, DispatchSettings, Dispatcher, RawReceiver, Receiver, Status,
};
use serde_json::Value;
use tokio::net::TcpListener;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::common;

use common::logs::Logs;
use common::smtp::smtp_server;

// ---------------------------------------------------------------- helpers

fn alert(name: &str, severity: &str, status: Status) -> AlertEvent {
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let starts_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_557_600);
    AlertEvent {
        status,
        labels: map(&[
            ("alertname", name),
            ("severity", severity),
            ("provider", "ipweb"),
            ("target", "main"),
            ("pool", "residential"),
        ]),
        annotations: map(&[
            ("summary", "Residential traffic is low"),
            ("description", "Only 4% of the purchased traffic is left"),
            (
                "runbook_url",
                "https://docs.example.test/runbook#proxytrafficlow",
            ),
        ]),
        starts_at,
        ends_at: (status == Status::Resolved).then(|| starts_at + Duration::from_secs(600)),
        generator_url: "http://exporter.test:9877/#alerts".into(),
    }
}

fn batch() -> Vec<AlertEvent> {
    vec![
        alert("ProxyTrafficLow", "critical", Status::Firing),
        alert("ProxyStaticIPExpiringSoon", "warning", Status::Resolved),
    ]
}

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

fn build(yaml: &str, dir: &Path) -> Box<dyn Receiver> {
    raw(yaml)
        .build(dir, &options("http://unused.test"))
        .unwrap()
}

/// Short backoff, no spacing: tests stay well under a second.
fn fast() -> DispatchSettings {
    DispatchSettings {
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(40),
        min_interval: Duration::ZERO,
        queue_capacity: 16,
    }
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

fn header_of<'a>(request: &'a Request, name: &str) -> &'a str {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

// ---------------------------------------------------------------- configuration

#[test]
fn the_contracts_receivers_are_read_and_hold_their_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    for (file, secret) in [
        ("hook", "hook-token-s3cret\n"),
        (
            "slack",
            "https://hooks.slack.test/services/T/B/slack-s3cret\r\n",
        ),
        ("tg", "123456:tg-s3cret\n"),
        ("smtp", "smtp-s3cret\n"),
    ] {
        std::fs::write(dir.path().join(file), secret).unwrap();
    }
    let yaml = r#"
- name: am
  alertmanager: {url: "http://127.0.0.1:9093"}
- name: hook
  webhook: {url: "https://hooks.example/x", bearer_token_file: hook}
- name: phone
  ntfy: {url: "https://ntfy.example/topic"}
- name: chat
  slack: {webhook_url_file: slack}
- name: tg
  telegram: {bot_token_file: tg, chat_id: "-1001234"}
- name: mail
  email: {smarthost: "smtp.example:587", from: "a@example", to: ["b@example"], auth_username: a, auth_password_file: smtp}
- name: console
  log: {}
"#;
    let entries: Vec<RawReceiver> = serde_saphyr::from_str(yaml).unwrap();
    let specs: Vec<_> = entries
        .iter()
        .map(|e| e.validate(dir.path()).unwrap())
        .collect();
    let kinds: Vec<&str> = specs.iter().map(|s| s.kind_name()).collect();
    assert_eq!(
        kinds,
        [
            "alertmanager",
            "webhook",
            "ntfy",
            "slack",
            "telegram",
            "email",
            "log"
        ]
    );
    let debug = format!("{entries:?} {specs:?}");
    for spec in &specs {
        let built = spec.build(&BuildOptions::default()).unwrap();
        assert_eq!(built.kind(), spec.kind_name());
    }
    for secret in ["s3cret", "hooks.example", "ntfy.example/topic"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
}

#[test]
fn bad_entries_are_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty"), "\n").unwrap();
    let refused = |yaml: &str| raw(yaml).validate(dir.path()).unwrap_err();
    assert_eq!(
        refused("{name: x, log: {}, slack: {webhook_url: 'https://s.test/a'}}"),
        "receiver \"x\": sets slack and log: one kind per receiver"
    );
    assert!(refused("{name: x}").contains("no kind: set one of alertmanager, webhook"));
    let both = refused(
        "{name: x, webhook: {url: 'https://h.test', bearer_token: tok-s3cret, bearer_token_file: f}}",
    );
    assert!(both.contains("webhook: set either bearer_token or bearer_token_file, not both"));
    let missing = refused("{name: x, telegram: {bot_token_file: nope, chat_id: 1}}");
    assert!(
        missing.contains("telegram.bot_token_file: cannot read secret file"),
        "{missing}"
    );
    assert!(missing.contains(&dir.path().join("nope").display().to_string()));
    let empty = refused("{name: x, slack: {webhook_url_file: empty}}");
    assert!(empty.contains("slack.webhook_url_file: secret file") && empty.ends_with("is empty"));
    let url = refused("{name: x, slack: {webhook_url: 'not a url s3cret'}}");
    assert!(
        url.starts_with("receiver \"x\": slack.webhook_url: not a valid URL"),
        "{url}"
    );
    assert!(
        refused("{name: x, telegram: {chat_id: 1}}").contains("set bot_token or bot_token_file")
    );
    for error in [both, url] {
        assert!(!error.contains("s3cret"), "{error}");
    }
    let unknown = serde_saphyr::from_str::<RawReceiver>("{name: x, log: {level: info}}");
    assert!(unknown.unwrap_err().to_string().contains("level"));
    let unknown = serde_saphyr::from_str::<RawReceiver>("{name: x, pagerduty: {}}");
    assert!(unknown.is_err());
}

// ---------------------------------------------------------------- receivers

#[tokio::test]
async fn alertmanager_receives_api_v2_alerts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/prefix/api/v2/alerts"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let yaml = format!(
        "{{name: am, alertmanager: {{url: '{}/prefix/'}}}}",
        server.uri()
    );
    let receiver = build(&yaml, Path::new("."));
    receiver.send(&batch()).await.unwrap();
    let body: Value = requests(&server).await[0].body_json().unwrap();
    let alerts = body.as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0]["labels"]["alertname"], "ProxyTrafficLow");
    assert_eq!(alerts[0]["labels"]["severity"], "critical");
    assert_eq!(alerts[0]["labels"]["pool"], "residential");
    assert_eq!(
        alerts[0]["annotations"]["summary"],
        "Residential traffic is low"
    );
    assert_eq!(alerts[0]["startsAt"], "2024-05-01T10:00:00Z");
    // A firing alert carries endsAt = now + 4 × resend_interval (1m), so no
    // resolve_timeout resolves it while the agent runs.
    let ends_at = chrono::DateTime::parse_from_rfc3339(alerts[0]["endsAt"].as_str().unwrap())
        .unwrap()
        .timestamp();
    let ahead = ends_at - chrono::Utc::now().timestamp();
    assert!((230..=245).contains(&ahead), "endsAt {ahead} s ahead");
    assert_eq!(
        alerts[0]["generatorURL"],
        "http://exporter.test:9877/#alerts"
    );
    assert_eq!(alerts[1]["endsAt"], "2024-05-01T10:10:00Z");
}

#[tokio::test]
async fn webhook_receives_alertmanagers_webhook_json_with_a_bearer_token_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hook.token"), "hook-token\n").unwrap();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(header("authorization", "Bearer hook-token"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let yaml = format!(
        "{{name: hook, webhook: {{url: '{}/hook', bearer_token_file: hook.token}}}}",
        server.uri()
    );
    build(&yaml, dir.path()).send(&batch()).await.unwrap();
    let body: Value = requests(&server).await[0].body_json().unwrap();
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "hook");
    assert!(body["groupKey"]
        .as_str()
        .unwrap()
        .contains("receiver=\"hook\""));
    assert_eq!(body["commonLabels"]["target"], "main");
    assert!(body["commonLabels"].get("alertname").is_none());
    assert_eq!(body["groupLabels"], serde_json::json!({}));
    assert_eq!(
        body["commonAnnotations"]["summary"],
        "Residential traffic is low"
    );
    assert_eq!(body["externalURL"], "http://exporter.test:9877");
    let alerts = body["alerts"].as_array().unwrap();
    assert_eq!(alerts[0]["status"], "firing");
    assert_eq!(alerts[0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(alerts[0]["fingerprint"], batch()[0].fingerprint());
    assert_eq!(alerts[1]["status"], "resolved");
    assert_eq!(alerts[1]["endsAt"], "2024-05-01T10:10:00Z");
    assert_eq!(
        alerts[1]["labels"]["alertname"],
        "ProxyStaticIPExpiringSoon"
    );
}

#[tokio::test]
async fn ntfy_gets_the_text_with_title_priority_and_tags() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/alerts-topic"))
        .and(header("authorization", "Bearer tk_ntfy"))
        .and(header("priority", "high"))
        .and(header(
            "title",
            "[FIRING:1] ProxyStaticIPExpiringSoon ProxyTrafficLow",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"id\":\"x\"}"))
        .expect(1)
        .mount(&server)
        .await;
    let yaml = format!(
        "{{name: phone, ntfy: {{url: '{}/alerts-topic', token: tk_ntfy}}}}",
        server.uri()
    );
    build(&yaml, Path::new(".")).send(&batch()).await.unwrap();
    let request = &requests(&server).await[0];
    let text = String::from_utf8(request.body.clone()).unwrap();
    assert!(header_of(request, "content-type").starts_with("text/plain"));
    assert_eq!(header_of(request, "tags"), "rotating_light,critical");
    assert_people_text(&text);
}

/// What every message for people shows.
fn assert_people_text(text: &str) {
    for part in [
        "[FIRING] critical ProxyTrafficLow",
        "Summary: Residential traffic is low",
        "Description: Only 4% of the purchased traffic is left",
        "Runbook: https://docs.example.test/runbook#proxytrafficlow",
        "Labels: pool=residential, provider=ipweb, target=main",
        "[RESOLVED] warning ProxyStaticIPExpiringSoon",
    ] {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
}

#[tokio::test]
async fn slack_gets_an_incoming_webhook_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T000/B000/XXXX"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let yaml = format!(
        "{{name: chat, slack: {{webhook_url: '{}/services/T000/B000/XXXX'}}}}",
        server.uri()
    );
    build(&yaml, Path::new(".")).send(&batch()).await.unwrap();
    let body: Value = requests(&server).await[0].body_json().unwrap();
    assert_eq!(body.as_object().unwrap().len(), 1, "only text: {body}");
    let text = body["text"].as_str().unwrap();
    assert!(text.starts_with("*[FIRING:1] ProxyStaticIPExpiringSoon ProxyTrafficLow*"));
    assert_people_text(text);
}

#[tokio::test]
async fn telegram_gets_send_message_with_chat_and_text() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/bot123456:tg-token/sendMessage"))
        .and(header("content-type", "application/json"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true, "result": {}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let receiver = raw("{name: tg, telegram: {bot_token: '123456:tg-token', chat_id: -1001234}}")
        .build(Path::new("."), &options(&server.uri()))
        .unwrap();
    receiver.send(&batch()).await.unwrap();
    let body: Value = requests(&server).await[0].body_json().unwrap();
    assert_eq!(body["chat_id"], "-1001234");
    let text = body["text"].as_str().unwrap();
    assert!(text.starts_with("[FIRING:1] ProxyStaticIPExpiringSoon ProxyTrafficLow\n"));
    assert_people_text(text);
}

#[tokio::test]
async fn telegram_not_ok_is_a_failure() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            serde_json::json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}),
        ))
        .mount(&server)
        .await;
    let receiver = raw("{name: tg, telegram: {bot_token: '1:tok', chat_id: '42'}}")
        .build(Path::new("."), &options(&server.uri()))
        .unwrap();
    let error = receiver.send(&batch()).await.unwrap_err();
    assert!(!error.is_transient());
    assert!(error.message().contains("chat not found"), "{error}");
}

#[tokio::test]
async fn log_writes_one_line_per_alert() {
    let (logs, _guard) = Logs::capture();
    build("{name: console, log: {}}", Path::new("."))
        .send(&batch())
        .await
        .unwrap();
    let text = logs.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for part in [
        "receiver=console",
        "alertname=\"ProxyTrafficLow\"",
        "severity=\"critical\"",
        "status=\"firing\"",
        "labels=\"pool=residential, provider=ipweb, target=main\"",
        "summary=\"Residential traffic is low\"",
        "runbook_url=\"https://docs.example.test/runbook#proxytrafficlow\"",
    ] {
        assert!(
            lines[0].contains(part),
            "{part:?} missing from {}",
            lines[0]
        );
    }
    assert!(lines[1].contains("status=\"resolved\""));
}

// ---------------------------------------------------------------- e-mail

#[tokio::test]
async fn email_is_sent_through_the_smarthost() {
    let (addr, transcript) = smtp_server().await;
    let yaml = format!(
        "{{name: mail, email: {{smarthost: '{addr}', from: 'Exporter <exporter@example.test>', \
         to: [ops@example.test, oncall@example.test], auth_username: exporter, \
         auth_password: smtp-pw, require_tls: false}}}}"
    );
    build(&yaml, Path::new(".")).send(&batch()).await.unwrap();
    let transcript = transcript.lock().unwrap();
    let commands = &transcript.commands;
    use base64::Engine as _;
    let auth = commands
        .iter()
        .find(|c| c.starts_with("AUTH PLAIN "))
        .unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim_start_matches("AUTH PLAIN "))
        .unwrap();
    assert_eq!(decoded, b"\0exporter\0smtp-pw");
    assert!(
        commands
            .iter()
            .any(|c| c == "MAIL FROM:<exporter@example.test>"),
        "{commands:?}"
    );
    assert!(commands.iter().any(|c| c == "RCPT TO:<ops@example.test>"));
    assert!(commands
        .iter()
        .any(|c| c == "RCPT TO:<oncall@example.test>"));
    let mail = &transcript.mails[0];
    assert!(
        mail.contains("Subject: [FIRING:1] ProxyStaticIPExpiringSoon ProxyTrafficLow\n"),
        "{mail}"
    );
    assert!(
        mail.contains("Content-Type: text/plain; charset=utf-8"),
        "{mail}"
    );
    assert!(
        mail.contains("To: ops@example.test, oncall@example.test"),
        "{mail}"
    );
    assert_people_text(mail);
}

#[tokio::test]
async fn email_requires_starttls_by_default_and_sends_nothing_without_it() {
    let (addr, transcript) = smtp_server().await;
    let yaml = format!(
        "{{name: mail, email: {{smarthost: '{addr}', from: a@example.test, to: [b@example.test], \
         auth_username: a, auth_password: smtp-pw}}}}"
    );
    let error = build(&yaml, Path::new("."))
        .send(&batch())
        .await
        .unwrap_err();
    assert!(!error.is_transient(), "{error}");
    let transcript = transcript.lock().unwrap();
    assert!(transcript.mails.is_empty());
    assert!(
        !transcript
            .commands
            .iter()
            .any(|c| c.starts_with("AUTH") || c.starts_with("MAIL")),
        "{:?}",
        transcript.commands
    );
}

// ---------------------------------------------------------------- dispatcher

#[tokio::test]
async fn a_receiver_that_fails_then_recovers_is_retried_until_it_accepts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let yaml = format!("{{name: am, alertmanager: {{url: '{}'}}}}", server.uri());
    let dispatcher = Dispatcher::new(vec![("am".into(), build(&yaml, Path::new(".")))], fast());
    assert!(dispatcher.send("am", batch()));
    assert!(!dispatcher.send("nobody", batch()));
    assert!(dispatcher.flush(Duration::from_secs(5)).await);
    assert_eq!(requests(&server).await.len(), 2);
    // Each attempt counts: one failed, one accepted; nothing waits.
    assert_eq!(dispatcher.counts(), vec![("am".to_string(), 1, 1)]);
    assert_eq!(dispatcher.pending_counts(), vec![("am".to_string(), 0)]);
}

#[tokio::test]
async fn a_failing_receiver_is_counted_and_never_delays_another() {
    let broken = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_delay(Duration::from_millis(200)))
        .mount(&broken)
        .await;
    let refused = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400))
        .mount(&refused)
        .await;
    let healthy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&healthy)
        .await;
    let hook = |server: &MockServer, name: &str| {
        let yaml = format!("{{name: {name}, webhook: {{url: '{}/x'}}}}", server.uri());
        (name.to_string(), build(&yaml, Path::new(".")))
    };
    let dispatcher = Dispatcher::new(
        vec![
            hook(&broken, "broken"),
            hook(&refused, "refused"),
            hook(&healthy, "healthy"),
        ],
        fast(),
    );
    let started = Instant::now();
    dispatcher.send_all(&batch());
    while requests(&healthy).await.is_empty() {
        assert!(
            // Behind the broken receiver it would wait for 3 attempts of 200 ms.
            started.elapsed() < Duration::from_millis(500),
            "healthy receiver delayed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The broken receiver is tried again and again (capped backoff) until it
    // accepts: its notification is never given up, only counted per attempt.
    assert!(!dispatcher.flush(Duration::from_millis(700)).await);
    assert!(requests(&broken).await.len() >= 3, "retried");
    assert_eq!(requests(&refused).await.len(), 1, "a 400 is not retried");
    let counts = dispatcher.counts();
    assert!(counts[0].1 == 0 && counts[0].2 >= 3, "{counts:?}");
    assert_eq!(counts[1], ("refused".to_string(), 0, 1));
    assert_eq!(counts[2], ("healthy".to_string(), 1, 0));
    assert_eq!(
        dispatcher.pending_counts(),
        vec![
            ("broken".to_string(), 1),
            ("refused".to_string(), 0),
            ("healthy".to_string(), 0)
        ]
    );
}

#[tokio::test]
async fn a_full_queue_drops_the_oldest_batch() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(150)))
        .mount(&server)
        .await;
    let yaml = format!("{{name: am, alertmanager: {{url: '{}'}}}}", server.uri());
    let settings = DispatchSettings {
        queue_capacity: 2,
        ..fast()
    };
    let dispatcher = Dispatcher::new(vec![("am".into(), build(&yaml, Path::new(".")))], settings);
    let one = |name: &str| vec![alert(name, "warning", Status::Firing)];
    dispatcher.send("am", one("First"));
    tokio::time::sleep(Duration::from_millis(50)).await; // First is in flight
    for name in ["Second", "Third", "Fourth"] {
        dispatcher.send("am", one(name));
    }
    assert!(dispatcher.flush(Duration::from_secs(5)).await);
    let mut names = Vec::new();
    for request in requests(&server).await {
        let body: Value = request.body_json().unwrap();
        names.push(body[0]["labels"]["alertname"].as_str().unwrap().to_string());
    }
    assert_eq!(names, ["First", "Third", "Fourth"]);
    assert_eq!(dispatcher.counts(), vec![("am".to_string(), 3, 1)]);
}

#[tokio::test]
async fn sends_to_one_receiver_are_spaced_by_the_rate_limit() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let yaml = format!("{{name: am, alertmanager: {{url: '{}'}}}}", server.uri());
    let settings = DispatchSettings {
        min_interval: Duration::from_millis(500),
        ..fast()
    };
    let dispatcher = Dispatcher::new(vec![("am".into(), build(&yaml, Path::new(".")))], settings);
    let started = Instant::now();
    for _ in 0..3 {
        dispatcher.send("am", batch());
    }
    while requests(&server).await.is_empty() {
        assert!(
            started.elapsed() < Duration::from_millis(400),
            "the first is held back"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(requests(&server).await.len(), 1, "the second came early");
    assert!(dispatcher.flush(Duration::from_secs(5)).await);
    assert_eq!(requests(&server).await.len(), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(dispatcher.counts(), vec![("am".to_string(), 3, 0)]);
}

// ---------------------------------------------------------------- secrets

#[tokio::test]
async fn secrets_stay_out_of_logs_errors_and_debug_output() {
    let (logs, _guard) = Logs::capture();
    // Servers that echo what they were sent, the URL included.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("chat_id"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string(
                "{\"ok\":false,\"description\":\"Unauthorized: bot999:tg-s3cret\"}",
            ),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(|r: &Request| {
            ResponseTemplate::new(500).set_body_string(format!("bad {} {:?}", r.url, r.headers))
        })
        .mount(&server)
        .await;
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let uri = server.uri();
    let entries = [
        "{name: tg, telegram: {bot_token: 'bot999:tg-s3cret', chat_id: 1}}".to_string(),
        format!("{{name: slack, slack: {{webhook_url: '{uri}/services/slack-s3cret'}}}}"),
        format!("{{name: hook, webhook: {{url: '{uri}/h?key=hook-s3cret', bearer_token: bearer-s3cret}}}}"),
        format!("{{name: ntfy, ntfy: {{url: '{uri}/ntfy-s3cret', token: ntfy-tok-s3cret}}}}"),
        format!("{{name: gone, slack: {{webhook_url: '{closed_url}/services/gone-s3cret'}}}}"),
    ];
    let mut receivers = Vec::new();
    let mut texts = Vec::new();
    for yaml in &entries {
        let entry = raw(yaml);
        let spec = entry.validate(Path::new(".")).unwrap();
        let receiver = spec.build(&options(&uri)).unwrap();
        let error = receiver.send(&batch()).await.unwrap_err();
        texts.push(format!("{entry:?} {spec:?} {receiver:?} {error} {error:?}"));
        receivers.push((spec.name.clone(), receiver));
    }
    let dispatcher = Dispatcher::new(receivers, fast());
    dispatcher.send_all(&batch());
    // Some are refused, the others are tried again and again: wait a little.
    dispatcher.flush(Duration::from_millis(300)).await;
    assert!(dispatcher
        .counts()
        .iter()
        .all(|(_, ok, failed)| *ok == 0 && *failed >= 1));
    // Each failed attempt is logged; on a busy machine the first lines may
    // come a little after the counters.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !logs.text().contains("notification failed") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logs = logs.text();
    assert!(logs.contains("notification failed"), "{logs}");
    for text in texts.iter().chain([&logs]) {
        assert!(!text.contains("s3cret"), "a secret leaked: {text}");
    }
    assert!(texts[0].contains("HTTP 401"), "{}", texts[0]);
    for echoed in &texts[..4] {
        assert!(
            echoed.contains("<redacted>"),
            "the echo was not redacted: {echoed}"
        );
    }
}

// ---------------------------------------------------------------- provider text

/// What a provider may name a sub-account: Slack's mention and link markup,
/// Markdown, HTML, and a line break that would start a mail header.
const HOSTILE: &str = "<!channel> <https://evil.example/pay|Renew your plan here> \
                       [pay](https://evil.example) *now* <b>x</b> & co\r\nBcc: evil@example.test";

/// A firing alert whose label and annotations carry [`HOSTILE`] as a
/// receiver would get it if nothing upstream had cleaned it.
fn hostile_batch() -> Vec<AlertEvent> {
    let mut event = alert("ProxyAccountNearLimit", "warning", Status::Firing);
    event.labels.insert("account".into(), HOSTILE.into());
    event.annotations.insert(
        "summary".into(),
        format!("Sub-account {HOSTILE} is near its limit"),
    );
    vec![event]
}

#[tokio::test]
async fn slack_shows_provider_text_as_written_never_as_a_mention_or_a_link() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let yaml = format!(
        "{{name: chat, slack: {{webhook_url: '{}/services/T/B/X'}}}}",
        server.uri()
    );
    build(&yaml, Path::new("."))
        .send(&hostile_batch())
        .await
        .unwrap();
    let body: Value = requests(&server).await[0].body_json().unwrap();
    let text = body["text"].as_str().unwrap();
    // Slack reads only `<…>` as links and mentions, and `&` as the start of an
    // entity: none of them may reach it from a provider.
    assert!(!text.contains('<') && !text.contains('>'), "{text}");
    assert!(
        text.contains("&lt;!channel&gt; &lt;https://evil.example/pay|Renew your plan here&gt;"),
        "{text}"
    );
    assert!(text.contains("&lt;b&gt;x&lt;/b&gt; &amp; co"), "{text}");
}

#[tokio::test]
async fn ntfy_and_telegram_send_provider_text_as_plain_text() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true, "result": {}})),
        )
        .mount(&server)
        .await;
    let ntfy = format!("{{name: phone, ntfy: {{url: '{}/topic'}}}}", server.uri());
    build(&ntfy, Path::new("."))
        .send(&hostile_batch())
        .await
        .unwrap();
    let telegram = raw("{name: tg, telegram: {bot_token: '123456:tg-token', chat_id: -1001234}}")
        .build(Path::new("."), &options(&server.uri()))
        .unwrap();
    telegram.send(&hostile_batch()).await.unwrap();
    let seen = requests(&server).await;

    // ntfy renders Markdown only when asked (`Markdown: yes`) and acts on
    // headers (click, actions, attachments, icons, e-mail forwarding): the
    // provider's text goes only into the plain-text body.
    let ntfy = &seen[0];
    assert!(header_of(ntfy, "content-type").starts_with("text/plain"));
    for name in [
        "markdown",
        "x-markdown",
        "md",
        "click",
        "actions",
        "attach",
        "icon",
        "email",
        "call",
        "template",
        "x-template",
    ] {
        assert!(ntfy.headers.get(name).is_none(), "ntfy got a {name} header");
    }
    for (name, value) in ntfy.headers.iter() {
        let value = value.to_str().unwrap_or("");
        assert!(
            !value.contains("evil"),
            "provider text in ntfy header {name}: {value}"
        );
    }
    assert!(String::from_utf8_lossy(&ntfy.body).contains(HOSTILE));

    // Telegram parses HTML or Markdown only with `parse_mode`, and shows no
    // link preview when told not to.
    let telegram: Value = seen[1].body_json().unwrap();
    assert!(telegram.get("parse_mode").is_none(), "{telegram}");
    assert!(telegram.get("entities").is_none(), "{telegram}");
    assert_eq!(telegram["disable_web_page_preview"], true);
    assert!(telegram["text"].as_str().unwrap().contains(HOSTILE));
}

#[tokio::test]
async fn email_keeps_provider_text_out_of_the_headers() {
    let (addr, transcript) = smtp_server().await;
    let yaml = format!(
        "{{name: mail, email: {{smarthost: '{addr}', from: exporter@example.test, \
         to: [ops@example.test], require_tls: false}}}}"
    );
    build(&yaml, Path::new("."))
        .send(&hostile_batch())
        .await
        .unwrap();
    let transcript = transcript.lock().unwrap();
    assert!(
        !transcript.commands.iter().any(|c| c.contains("evil")),
        "no recipient from provider text: {:?}",
        transcript.commands
    );
    let mail = &transcript.mails[0];
    let (headers, body) = mail.split_once("\n\n").unwrap();
    assert!(
        !headers.contains("evil") && !headers.to_ascii_lowercase().contains("bcc"),
        "{headers}"
    );
    assert!(
        headers.contains("Content-Type: text/plain; charset=utf-8"),
        "{headers}"
    );
    assert!(
        headers.contains("Subject: [FIRING:1] ProxyAccountNearLimit\n"),
        "{headers}"
    );
    assert!(
        body.contains("evil.example"),
        "the text itself is kept, in the body: {body}"
    );
}

#[tokio::test]
async fn webhook_and_log_carry_provider_text_escaped_for_json_and_one_line() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let yaml = format!("{{name: hook, webhook: {{url: '{}/hook'}}}}", server.uri());
    build(&yaml, Path::new("."))
        .send(&hostile_batch())
        .await
        .unwrap();
    let body: Value = requests(&server).await[0].body_json().unwrap();
    assert_eq!(body["alerts"][0]["labels"]["account"], HOSTILE);

    let (logs, _guard) = Logs::capture();
    build("{name: console, log: {}}", Path::new("."))
        .send(&hostile_batch())
        .await
        .unwrap();
    let text = logs.text();
    assert_eq!(text.lines().count(), 1, "one line per alert: {text}");
    assert!(!text.contains("\nBcc"), "{text}");
}
