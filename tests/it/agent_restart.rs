//! The agent's state survives a restart of the exporter through the store: a
//! restart in the middle of a `for` window does not reset it, and a firing alert
//! is not sent again before its `repeat_interval`.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use proxy_quota_exporter::store::StoreOptions;
use proxy_quota_exporter::Options;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Runs the exporter with a store in `dir`.
async fn start(yaml: &str, dir: &Path) -> Exporter {
    let storage = StoreOptions {
        path: dir.to_owned(),
        retention: Duration::from_secs(86_400),
    };
    Exporter::start_with(
        yaml,
        Options {
            storage: Some(storage),
            ..Options::default()
        },
    )
    .await
}

/// Whether the exporter reports `ProxyTrafficLow` as pending.
async fn pending(exporter: &Exporter) -> bool {
    let text = exporter.get("/metrics").await.text().await.unwrap();
    value(
        &text,
        "proxy_exporter_alerts",
        &[
            ("alertname", "ProxyTrafficLow"),
            ("severity", "critical"),
            ("state", "pending"),
        ],
    )
    .is_some_and(|v| v > 0.0)
}

async fn notifications(hook: &MockServer) -> Vec<Value> {
    hook.received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_for_timers_and_sends_no_duplicate() {
    let upstream = MockServer::start().await;
    // 1 % left: ProxyTrafficLow at both severities.
    let summary = json!({"code": 200, "msg": "ok", "data": {
        "effective": 1_048_576, "effective_total": 104_857_600, "effective_used": 103_809_024}});
    Mock::given(method("GET"))
        .and(path("/gateway/user-product/summary"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary))
        .mount(&upstream)
        .await;
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let yaml = format!(
        "interval: 1s\ntargets:\n  - name: best\n    provider: bestproxy\n    base_url: {}\n    app_key: {APP_KEY}\n    endpoints: [summary]\n\
         alerting:\n  evaluation_interval: 200ms\n  repeat_interval: 1h\n  rules:\n    ProxyTrafficLow: {{for: 6s}}\n  receivers:\n    - name: hook\n      webhook: {{url: \"{}/hook\"}}\n",
        upstream.uri(),
        hook.uri()
    );
    let dir = tempfile::tempdir().unwrap();

    // Pending for about 3 s of its 6 s, then a restart.
    let first = start(&yaml, dir.path()).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pending(&first).await {
        assert!(Instant::now() < deadline, "never pending");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    first.stop().await;
    assert!(
        notifications(&hook).await.is_empty(),
        "fired before its `for`"
    );

    // The window goes on from where it was: the alert fires at most about 3 s
    // after the restart. Had it started over, it could not fire before 6 s.
    let restarted = Instant::now();
    let second = start(&yaml, dir.path()).await;
    let metrics = second.metrics().await;
    assert_eq!(
        value(&metrics, "proxy_exporter_storage_open", &[]),
        Some(1.0),
        "the first exporter still held the store"
    );
    while notifications(&hook).await.is_empty() {
        assert!(
            restarted.elapsed() < Duration::from_secs(15),
            "no notification after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fired_after = restarted.elapsed();
    assert!(
        fired_after < Duration::from_millis(5_500),
        "the `for` window started over: fired {fired_after:?} after the restart"
    );

    // Firing, then another restart: nothing is sent again within repeat_interval.
    tokio::time::sleep(Duration::from_millis(600)).await;
    second.stop().await;
    let sent = notifications(&hook).await.len();
    let third = start(&yaml, dir.path()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        notifications(&hook).await.len(),
        sent,
        "a firing alert was sent again after a restart"
    );
    third.stop().await;
    let body = &notifications(&hook).await[0];
    assert_eq!(body["status"], "firing");
}
