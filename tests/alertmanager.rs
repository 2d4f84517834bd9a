//! The agent and a real Alertmanager (Debian's `prometheus-alertmanager`, which
//! the README's test command installs): the agent's alerts reach a webhook behind
//! Alertmanager firing, with their labels and annotations, then resolved; the
//! `Watchdog` comes along.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
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
