//! The agent's state survives a restart of the exporter through the store: a
//! restart in the middle of a `for` window does not reset it, and a firing alert
//! is not sent again before its `repeat_interval`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use proxy_quota_exporter::storage::StorageOptions;
use proxy_quota_exporter::{Config, Options};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Runs the exporter with a store in `dir` until the returned sender is dropped.
async fn start(yaml: &str, dir: &Path) -> tokio::task::JoinHandle<()> {
    let config = Config::parse(yaml, Path::new("test.yml")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let storage = StorageOptions {
        path: dir.to_owned(),
        retention: Duration::from_secs(86_400),
    };
    tokio::spawn(proxy_quota_exporter::run_with(
        listener,
        config,
        Options {
            storage: Some(storage),
            ..Options::default()
        },
        std::future::pending(),
    ))
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
         alerting:\n  evaluation_interval: 200ms\n  repeat_interval: 1h\n  rules:\n    ProxyTrafficLow: {{for: 4s}}\n  receivers:\n    - name: hook\n      webhook: {{url: \"{}/hook\"}}\n",
        upstream.uri(),
        hook.uri()
    );
    let dir = tempfile::tempdir().unwrap();

    // Pending for about 2 s of its 4 s, then a restart.
    let started = Instant::now();
    let first = start(&yaml, dir.path()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    first.abort();
    let _ = first.await;
    // Its store closes once its tasks have wound down.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        notifications(&hook).await.is_empty(),
        "fired before its `for`"
    );

    // The window goes on from where it was: the alert fires about 4 s after it
    // first became pending, not 4 s after the restart.
    let second = start(&yaml, dir.path()).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while notifications(&hook).await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "no notification after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fired_after = started.elapsed();
    assert!(
        fired_after < Duration::from_millis(5_800),
        "the `for` window started over: fired {fired_after:?} after the first start"
    );

    // Firing, then another restart: nothing is sent again within repeat_interval.
    tokio::time::sleep(Duration::from_millis(600)).await;
    second.abort();
    let _ = second.await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = notifications(&hook).await.len();
    let third = start(&yaml, dir.path()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        notifications(&hook).await.len(),
        sent,
        "a firing alert was sent again after a restart"
    );
    third.abort();
    let body = &notifications(&hook).await[0];
    assert_eq!(body["status"], "firing");
}
