//! The agent inside a running exporter: a pool below 2 % with `for: 0s` is
//! delivered to a webhook receiver in Alertmanager's webhook format, counted in
//! `proxy_exporter_alerts` and `proxy_exporter_notifications_total`.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_pool_reaches_a_webhook_receiver_and_is_counted() {
    let upstream = MockServer::start().await;
    // 1 % of the purchased traffic is left.
    let summary = json!({"code": 200, "msg": "ok", "data": {
        "effective": 1_048_576, "effective_total": 104_857_600, "effective_used": 103_809_024,
        "total": 104_857_600, "used": 103_809_024}});
    Mock::given(method("GET"))
        .and(path("/gateway/user-product/summary"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary))
        .mount(&upstream)
        .await;
    let hook = webhook_receiver().await;
    let yaml = format!(
        "interval: 1s\ntargets:\n  - name: best\n    provider: bestproxy\n    base_url: {}\n    app_key: {APP_KEY}\n    endpoints: [summary]\n\
         alerting:\n  evaluation_interval: 200ms\n  rules:\n    ProxyTrafficLow: {{for: 0s}}\n  receivers:\n    - name: hook\n      webhook: {{url: \"{}/hook\"}}\n",
        upstream.uri(),
        hook.uri()
    );
    let exporter = Exporter::start(&yaml).await;
    exporter.wait_ready().await;

    let deadline = Instant::now() + Duration::from_secs(10);
    let body: Value = loop {
        let received = hook.received_requests().await.unwrap();
        if let Some(r) = received.first() {
            break serde_json::from_slice(&r.body).unwrap();
        }
        assert!(Instant::now() < deadline, "no notification within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    let alerts = body["alerts"].as_array().unwrap();
    let severities: Vec<_> = alerts
        .iter()
        .filter(|a| a["labels"]["alertname"] == "ProxyTrafficLow")
        .map(|a| a["labels"]["severity"].as_str().unwrap().to_owned())
        .collect();
    // The default inhibition: the critical alert mutes its warning twin.
    assert_eq!(severities, ["critical"], "{body}");
    assert_eq!(
        body["groupLabels"]["alertname"], "ProxyTrafficLow",
        "{body}"
    );
    let critical = alerts
        .iter()
        .find(|a| a["labels"]["severity"] == "critical")
        .unwrap();
    assert_eq!(critical["labels"]["target"], "best");
    assert_eq!(critical["labels"]["pool"], "dynamic_residential");
    assert_eq!(
        critical["annotations"]["summary"],
        "bestproxy best: pool dynamic_residential below 2 % of its traffic"
    );

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let m = exporter.get("/metrics").await.text().await.unwrap();
        let firing = value(
            &m,
            "proxy_exporter_alerts",
            &[
                ("alertname", "ProxyTrafficLow"),
                ("severity", "critical"),
                ("state", "firing"),
            ],
        );
        let sent = value(
            &m,
            "proxy_exporter_notifications_total",
            &[("receiver", "hook"), ("result", "success")],
        );
        let suppressed = value(
            &m,
            "proxy_exporter_alerts",
            &[
                ("alertname", "ProxyTrafficLow"),
                ("severity", "warning"),
                ("state", "suppressed"),
            ],
        );
        let pending = value(
            &m,
            "proxy_exporter_notifications_pending",
            &[("receiver", "hook")],
        );
        if firing == Some(1.0)
            && sent.is_some_and(|n| n >= 1.0)
            && suppressed == Some(1.0)
            && pending == Some(0.0)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "agent counts not on /metrics:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    exporter.stop().await;
}

/// A `provider: custom` target is evaluated like any other: a pool at 1 %, a
/// sub-account at 95 % of its limit and a static IP a day from expiry reach the
/// webhook with `provider="custom"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alerts_fire_for_a_custom_target() {
    let upstream = MockServer::start().await;
    let tomorrow = proxy_quota_exporter::units::unix_now() as i64 + 86_400;
    for (api_path, body) in [
        ("/v1/me", json!({"left": "1.00", "total": "100.00"})),
        (
            "/v1/users",
            json!({"users": [{"name": "scraper", "used": 95, "limit": 100}]}),
        ),
        (
            "/v1/ips",
            json!({"ips": [{"ip": "198.51.100.7", "until": tomorrow}]}),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(api_path))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&upstream)
            .await;
    }
    let hook = webhook_receiver().await;
    let yaml = format!(
        "interval: 1s\ntargets:\n  - name: other\n    provider: custom\n    base_url: {}/v1\n    credential: k\n    auth: {{query: key}}\n    unit: GB\n\
         \x20   pools: [{{path: /me, pool: main, remaining: /left, purchased: /total}}]\n\
         \x20   accounts: {{path: /users, items: /users, account: /name, used: /used, limit: /limit}}\n\
         \x20   static_ips: {{path: /ips, items: /ips, ip: /ip, expires_at: /until}}\n\
         alerting:\n  evaluation_interval: 200ms\n  rules:\n    ProxyTrafficLow: {{for: 0s}}\n    ProxyAccountNearLimit: {{for: 0s}}\n    ProxyStaticIPExpiringSoon: {{for: 0s}}\n  receivers:\n    - name: hook\n      webhook: {{url: \"{}/hook\"}}\n",
        upstream.uri(),
        hook.uri()
    );
    let exporter = Exporter::start(&yaml).await;
    exporter.wait_ready().await;

    let expected = [
        ("ProxyTrafficLow", "critical"),
        ("ProxyAccountNearLimit", "warning"),
        ("ProxyStaticIPExpiringSoon", "critical"),
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    let fired = loop {
        let mut fired = Vec::new();
        for request in hook.received_requests().await.unwrap() {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            for alert in body["alerts"].as_array().into_iter().flatten() {
                let labels = &alert["labels"];
                assert_eq!(labels["provider"], "custom", "{alert}");
                assert_eq!(labels["target"], "other", "{alert}");
                fired.push((
                    labels["alertname"].as_str().unwrap_or("").to_owned(),
                    labels["severity"].as_str().unwrap_or("").to_owned(),
                ));
            }
        }
        if expected
            .iter()
            .all(|(name, severity)| fired.iter().any(|(n, s)| n == name && s == severity))
        {
            break fired;
        }
        assert!(
            Instant::now() < deadline,
            "not every alert within 10 s: {fired:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        !fired.iter().any(|(n, _)| n == "ProxyTargetDown"),
        "{fired:?}"
    );
    exporter.stop().await;
}

/// A webhook receiver that takes every notification at `/hook`.
async fn webhook_receiver() -> MockServer {
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    hook
}
