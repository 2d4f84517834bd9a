//! The agent and a real Alertmanager (Debian's `prometheus-alertmanager`, which
//! the README's test command installs): the agent's alerts reach a webhook behind
//! Alertmanager firing, with their labels and annotations, then resolved; the
//! `Watchdog` comes along. And the `alertmanager` receiver as Prometheus feeds
//! Alertmanager: every URL, one down still delivers; basic auth and TLS (a private
//! CA, a client certificate, `server_name`) through Alertmanager's own
//! `--web.config.file`, a bearer token through wiremock; firing alerts carry an
//! `endsAt` that outlives Alertmanager's `resolve_timeout`.

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::*;
use proxy_quota_exporter::notify::{AlertEvent, BuildOptions, RawReceiver, Receiver, Status};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn summary(effective_kb: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"code": 200, "msg": "ok", "data": {
        "effective": effective_kb, "effective_total": 104_857_600, "effective_used": 104_857_600 - effective_kb}}))
}

/// Every alert Alertmanager has delivered to the webhook so far, with the
/// notification's status.
async fn delivered(hook: &MockServer) -> Vec<Value> {
    hook.received_requests()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
        .collect()
}

async fn until(hook: &MockServer, what: &str, check: impl Fn(&[Value]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let alerts = delivered(hook).await;
        if check(&alerts) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not delivered within 30 s: {alerts:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn is(alert: &Value, name: &str, severity: &str, status: &str) -> bool {
    alert["labels"]["alertname"] == name
        && alert["labels"]["severity"] == severity
        && alert["status"] == status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_a_webhook_through_alertmanager_and_resolve() {
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/am"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname, severity, target, pool]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: hook\n    webhook_configs:\n      - url: {}/am\n        send_resolved: true\n",
            hook.uri()
        ),
    )
    .unwrap();
    let port = free_port();
    let _alertmanager = Guard(
        Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager is installed (the README's test command installs it)"),
    );
    let ready = format!("http://127.0.0.1:{port}/-/ready");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !reqwest::get(&ready)
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            Instant::now() < deadline,
            "Alertmanager not ready within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let upstream = MockServer::start().await;
    // 1 % left: ProxyTrafficLow at both severities.
    Mock::given(method("GET"))
        .and(path("/gateway/user-product/summary"))
        .respond_with(summary(1_048_576))
        .mount(&upstream)
        .await;
    let yaml = format!(
        "interval: 1s\ntargets:\n  - name: best\n    provider: bestproxy\n    base_url: {}\n    app_key: {APP_KEY}\n    endpoints: [summary]\n\
         alerting:\n  evaluation_interval: 200ms\n  resend_interval: 1s\n  rules:\n    ProxyTrafficLow: {{for: 0s}}\n  receivers:\n    - name: am\n      alertmanager: {{url: \"http://127.0.0.1:{port}\"}}\n",
        upstream.uri()
    );
    let exporter = Exporter::start(&yaml).await;

    until(&hook, "the firing alerts and the Watchdog", |alerts| {
        ["warning", "critical"]
            .iter()
            .all(|s| alerts.iter().any(|a| is(a, "ProxyTrafficLow", s, "firing")))
            && alerts.iter().any(|a| is(a, "Watchdog", "none", "firing"))
    })
    .await;
    let alerts = delivered(&hook).await;
    let critical = alerts
        .iter()
        .find(|a| is(a, "ProxyTrafficLow", "critical", "firing"))
        .unwrap();
    assert_eq!(critical["labels"]["target"], "best");
    assert_eq!(critical["labels"]["pool"], "dynamic_residential");
    assert_eq!(
        critical["annotations"]["description"],
        "Only 1GiB of traffic left in pool dynamic_residential of bestproxy target best, less than 2 % of what was purchased. Top up now."
    );

    // Topped up: the agent resolves both, Alertmanager passes that on.
    upstream.reset().await;
    Mock::given(method("GET"))
        .and(path("/gateway/user-product/summary"))
        .respond_with(summary(52_428_800))
        .mount(&upstream)
        .await;
    until(&hook, "the resolved alerts", |alerts| {
        ["warning", "critical"].iter().all(|s| {
            alerts
                .iter()
                .any(|a| is(a, "ProxyTrafficLow", s, "resolved"))
        })
    })
    .await;
    exporter.stop().await;
}

// ---------------------------------------------------- the receiver on its own

/// A running Alertmanager on a loopback port, with its directory.
struct Alertmanager {
    port: u16,
    _process: Guard,
    _dir: tempfile::TempDir,
}

/// Starts Alertmanager with `config` (its `alertmanager.yml`) and, if given,
/// `web_config` (`--web.config.file`: TLS, basic auth); returns once its port
/// takes connections.
async fn alertmanager(config: &str, web_config: Option<&str>) -> Alertmanager {
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("alertmanager.yml");
    std::fs::write(&config_file, config).unwrap();
    let port = free_port();
    let mut command = Command::new("prometheus-alertmanager");
    command
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(web_config) = web_config {
        let file = dir.path().join("web.yml");
        std::fs::write(&file, web_config).unwrap();
        command.arg(format!("--web.config.file={}", file.display()));
    }
    let process =
        Guard(command.spawn().expect(
            "prometheus-alertmanager is installed (the README's test command installs it)",
        ));
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "Alertmanager not listening within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Alertmanager {
        port,
        _process: process,
        _dir: dir,
    }
}

/// An Alertmanager that only holds alerts (its one receiver does nothing).
const PLAIN: &str = "route:\n  receiver: none\nreceivers:\n  - name: none\n";

/// The receiver of one `alerting.receivers` entry, files relative to `dir`.
fn receiver(yaml: &str, dir: &Path, resend_interval: Duration) -> Box<dyn Receiver> {
    let raw: RawReceiver = serde_saphyr::from_str(yaml).unwrap();
    raw.build(
        dir,
        &BuildOptions {
            timeout: Duration::from_secs(5),
            resend_interval,
            ..BuildOptions::default()
        },
    )
    .unwrap()
}

/// A firing alert called `name`, as the agent hands it over.
fn firing(name: &str) -> AlertEvent {
    AlertEvent {
        status: Status::Firing,
        labels: [
            ("alertname", name),
            ("severity", "warning"),
            ("provider", "bestproxy"),
            ("target", "best"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        annotations: [("summary".to_owned(), "Traffic is low".to_owned())].into(),
        starts_at: SystemTime::now() - Duration::from_secs(60),
        ends_at: None,
        generator_url: "http://exporter.test:9877/#alerts".into(),
    }
}

/// The alerts Alertmanager at `port` holds as active (not yet ended), by name.
async fn active(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let answer = client
        .get(format!("{base}/api/v2/alerts"))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap()
}

fn names(alerts: &[Value]) -> Vec<&str> {
    alerts
        .iter()
        .filter_map(|a| a["labels"]["alertname"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_url_gets_the_alerts_and_one_down_still_delivers() {
    let (am0, am1) = tokio::join!(alertmanager(PLAIN, None), alertmanager(PLAIN, None));
    let down = free_port();
    let yaml = format!(
        "{{name: am, alertmanager: {{urls: ['http://127.0.0.1:{}', 'http://127.0.0.1:{down}', 'http://127.0.0.1:{}/']}}}}",
        am0.port, am1.port
    );
    let am = receiver(&yaml, Path::new("."), Duration::from_secs(60));
    am.send(&[firing("ProxyTrafficLow")])
        .await
        .expect("two of three Alertmanagers took the alerts: delivered");
    let client = reqwest::Client::new();
    for port in [am0.port, am1.port] {
        let alerts = active(&client, &format!("http://127.0.0.1:{port}")).await;
        assert_eq!(names(&alerts), ["ProxyTrafficLow"], "Alertmanager :{port}");
        assert_eq!(alerts[0]["labels"]["target"], "best");
        assert_eq!(alerts[0]["annotations"]["summary"], "Traffic is low");
    }

    // Every URL down: a failure to retry, naming each host and nothing more.
    let other = free_port();
    let yaml = format!(
        "{{name: am, alertmanager: {{urls: ['http://127.0.0.1:{down}/s3cret-prefix', 'http://127.0.0.1:{other}']}}}}"
    );
    let am = receiver(&yaml, Path::new("."), Duration::from_secs(60));
    let error = am.send(&[firing("ProxyTrafficLow")]).await.unwrap_err();
    assert!(error.is_transient(), "{error}");
    let message = error.message();
    assert!(
        message.starts_with("alertmanager: POST /api/v2/alerts: failed at all 2 URLs: "),
        "{message}"
    );
    assert!(
        message.contains(&format!("127.0.0.1:{down}: ")),
        "{message}"
    );
    assert!(
        message.contains(&format!("127.0.0.1:{other}: ")),
        "{message}"
    );
    assert!(!message.contains("s3cret"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firing_alerts_outlive_alertmanagers_resolve_timeout() {
    // Alertmanager ends an alert without endsAt `resolve_timeout` after it
    // came; the receiver's carries endsAt = now + 4 × resend_interval.
    let config = format!("global:\n  resolve_timeout: 2s\n{PLAIN}");
    let am = alertmanager(&config, None).await;
    let base = format!("http://127.0.0.1:{}", am.port);
    let resend_interval = Duration::from_secs(3);
    let receiver = receiver(
        &format!("{{name: am, alertmanager: {{url: '{base}'}}}}"),
        Path::new("."),
        resend_interval,
    );
    let sent = SystemTime::now();
    receiver.send(&[firing("ProxyTrafficLow")]).await.unwrap();
    // The control: the same kind of alert without endsAt, as a client that
    // leaves it to resolve_timeout sends it.
    let client = reqwest::Client::new();
    let control = json!([{"labels": {"alertname": "Control", "target": "best"},
                          "startsAt": chrono::Utc::now().to_rfc3339()}]);
    let answer = client
        .post(format!("{base}/api/v2/alerts"))
        .header("content-type", "application/json")
        .body(control.to_string())
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let alerts = loop {
        let alerts = active(&client, &base).await;
        if !names(&alerts).contains(&"Control") {
            break alerts;
        }
        assert!(
            Instant::now() < deadline,
            "the control alert never resolved: {alerts:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(sent.elapsed().unwrap() >= Duration::from_secs(2));
    assert_eq!(
        names(&alerts),
        ["ProxyTrafficLow"],
        "still active after resolve_timeout"
    );
    let ends_at: SystemTime =
        chrono::DateTime::parse_from_rfc3339(alerts[0]["endsAt"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc)
            .into();
    let ahead = ends_at.duration_since(sent).unwrap();
    assert!(
        ahead >= Duration::from_secs(11) && ahead <= Duration::from_secs(14),
        "endsAt {ahead:?} after the send, not 4 × 3 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_through_alertmanagers_web_config() {
    let hash = bcrypt::hash("am-pass-s3cret", 4).unwrap();
    let am = alertmanager(
        PLAIN,
        Some(&format!("basic_auth_users:\n  exporter: '{hash}'\n")),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("am-password"), "am-pass-s3cret\n").unwrap();
    std::fs::write(dir.path().join("wrong"), "wrong-pass-s3cret\n").unwrap();
    let with = |file: &str| {
        receiver(
            &format!(
                "{{name: am, alertmanager: {{urls: ['http://127.0.0.1:{}'], basic_auth: {{username: exporter, password_file: {file}}}}}}}",
                am.port
            ),
            dir.path(),
            Duration::from_secs(60),
        )
    };
    with("am-password")
        .send(&[firing("ProxyTrafficLow")])
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let answer = client
        .get(format!("http://127.0.0.1:{}/api/v2/alerts", am.port))
        .basic_auth("exporter", Some("am-pass-s3cret"))
        .send()
        .await
        .unwrap();
    let alerts: Vec<Value> = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
    assert_eq!(names(&alerts), ["ProxyTrafficLow"]);

    let error = with("wrong")
        .send(&[firing("ProxyTrafficLow")])
        .await
        .unwrap_err();
    assert!(!error.is_transient(), "{error}");
    assert!(error.message().contains("HTTP 401"), "{error}");
    assert!(!error.message().contains("s3cret"), "{error}");
}

#[tokio::test]
async fn a_bearer_token_is_sent_and_kept_out_of_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/alerts"))
        .and(header("authorization", "Bearer am-tok-s3cret"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    // Anything else: refused, echoing the Authorization header it got.
    Mock::given(method("POST"))
        .respond_with(|request: &wiremock::Request| {
            let got = request
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            ResponseTemplate::new(403).set_body_string(format!("refused {got}"))
        })
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "am-tok-s3cret\n").unwrap();
    let am = receiver(
        &format!(
            "{{name: am, alertmanager: {{urls: ['{}'], bearer_token_file: token}}}}",
            server.uri()
        ),
        dir.path(),
        Duration::from_secs(60),
    );
    am.send(&[firing("ProxyTrafficLow")]).await.unwrap();

    let wrong = receiver(
        &format!(
            "{{name: am, alertmanager: {{url: '{}', bearer_token: other-tok-s3cret}}}}",
            server.uri()
        ),
        dir.path(),
        Duration::from_secs(60),
    );
    let error = wrong.send(&[firing("ProxyTrafficLow")]).await.unwrap_err();
    assert!(error.message().contains("HTTP 403"), "{error}");
    assert!(error.message().contains("<redacted>"), "{error}");
    assert!(!error.message().contains("s3cret"), "{error}");
}

/// A CA, a server certificate for `am.test` only (not the address the tests
/// connect to), and a client certificate, all signed by the CA; in `dir`.
fn certificates(dir: &Path) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Alertmanager test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    for (name, sans) in [("server", vec!["am.test".to_owned()]), ("client", vec![])] {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.signed_by(&key, &ca).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem()).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca_a_client_certificate_and_server_name() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let at = |file: &str| dir.path().join(file).display().to_string();
    let web = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
        at("server.pem"),
        at("server-key.pem"),
        at("ca.pem")
    );
    let am = alertmanager(PLAIN, Some(&web)).await;
    let send = |tls: &str| {
        let receiver = receiver(
            &format!(
                "{{name: am, alertmanager: {{url: 'https://127.0.0.1:{}', tls_config: {tls}}}}}",
                am.port
            ),
            dir.path(),
            Duration::from_secs(60),
        );
        async move { receiver.send(&[firing("ProxyTrafficLow")]).await }
    };
    let client = "cert_file: client.pem, key_file: client-key.pem";
    send(&format!(
        "{{ca_file: ca.pem, {client}, server_name: am.test}}"
    ))
    .await
    .expect("the private CA vouches for am.test, the client certificate for us");
    send(&format!("{{insecure_skip_verify: true, {client}}}"))
        .await
        .expect("insecure_skip_verify accepts the server's certificate");
    for (tls, why, error) in [
        (
            format!("{{ca_file: ca.pem, {client}}}"),
            "the certificate is for am.test, not 127.0.0.1",
            "not valid for name",
        ),
        (
            "{ca_file: ca.pem, server_name: am.test}".to_owned(),
            "no client certificate",
            "fatal alert",
        ),
        (
            format!("{{{client}, server_name: am.test}}"),
            "the system's roots do not know the private CA",
            "UnknownIssuer",
        ),
    ] {
        let Err(result) = send(&tls).await else {
            panic!("{why}: delivered with {tls}");
        };
        assert!(result.message().contains(error), "{why}: {result}");
    }
}
