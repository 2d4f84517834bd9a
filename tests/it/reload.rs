//! Configuration reloads (`POST /-/reload` and SIGHUP): a bad file is refused with
//! the reason and the running configuration keeps serving; a good file is applied,
//! removed targets vanish. And a graceful shutdown on SIGTERM.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use proxy_quota_exporter::{Config, Options};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn upstream() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/gateway/user-product/summary"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("gateway/summary.json")))
        .mount(&server)
        .await;
    server
}

fn config(name: &str, server: &MockServer) -> String {
    format!(
        "interval: 1s\ntargets:\n  - name: {name}\n    provider: bestproxy\n    base_url: {}\n    app_key: {APP_KEY}\n    endpoints: [summary]\n",
        server.uri()
    )
}

/// Runs the exporter from `file` with reloads enabled; returns its address.
async fn start_reloadable(file: &Path) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let options = Options {
        config_file: Some(file.to_owned()),
        ..Options::default()
    };
    let running = tokio::spawn(proxy_quota_exporter::run_with(
        listener,
        Config::load(file).unwrap(),
        options,
        std::future::pending(),
    ));
    (addr, running)
}

async fn post(addr: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/-/reload"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn scrape(addr: &str) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn until(addr: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = scrape(addr).await;
        if check(&m) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not seen within 10 s:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn post_reload_refuses_a_bad_file_and_applies_a_good_one() {
    let server = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    std::fs::write(&file, config("first", &server)).unwrap();
    let (addr, running) = start_reloadable(&file).await;
    until(&addr, "first target", |m| {
        value(m, "proxy_up", &[("target", "first")]) == Some(1.0)
    })
    .await;

    // A bad file: refused with the reason, the running configuration stays.
    std::fs::write(
        &file,
        config("second", &server).replace("endpoints:", "endpoints_typo:"),
    )
    .unwrap();
    let (status, body) = post(&addr).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("unknown field `endpoints_typo`"), "{body}");
    assert!(
        body.contains("config.yml:"),
        "the reason names the file: {body}"
    );
    let m = scrape(&addr).await;
    assert_eq!(
        value(&m, "proxy_exporter_config_last_reload_successful", &[]),
        Some(0.0)
    );
    assert_eq!(value(&m, "proxy_up", &[("target", "first")]), Some(1.0));
    let before = value(
        &m,
        "proxy_exporter_config_last_reload_success_timestamp_seconds",
        &[],
    )
    .unwrap();

    // GET is not a reload.
    let get = reqwest::get(format!("http://{addr}/-/reload"))
        .await
        .unwrap();
    assert_eq!(get.status(), 405);

    // A good file: applied; the removed target vanishes at once.
    std::fs::write(&file, config("second", &server)).unwrap();
    let (status, body) = post(&addr).await;
    assert_eq!(status, 200, "{body}");
    let m = until(&addr, "second target", |m| {
        value(m, "proxy_up", &[("target", "second")]) == Some(1.0)
    })
    .await;
    assert!(
        value(&m, "proxy_up", &[("target", "first")]).is_none(),
        "removed target still exported:\n{m}"
    );
    assert!(!m.contains("target=\"first\""));
    assert_eq!(
        value(&m, "proxy_exporter_config_last_reload_successful", &[]),
        Some(1.0)
    );
    let after = value(
        &m,
        "proxy_exporter_config_last_reload_success_timestamp_seconds",
        &[],
    )
    .unwrap();
    assert!(after >= before);
    running.abort();
}

#[tokio::test]
async fn reload_without_a_config_file_is_a_clear_error() {
    let server = upstream().await;
    let exporter = Exporter::start(&config("only", &server)).await;
    let (status, body) = post(&exporter.addr.to_string()).await;
    assert_eq!(status, 400);
    assert!(body.contains("No configuration file"), "{body}");
    exporter.stop().await;
}

#[tokio::test]
async fn sighup_reloads_and_sigterm_shuts_down_gracefully() {
    let server = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    std::fs::write(&file, config("before", &server)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_proxy-quota-exporter"))
        .args([
            "--config.file",
            file.to_str().unwrap(),
            "--web.listen-address",
            &addr,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let wait_up = async {
        for _ in 0..200 {
            if reqwest::get(format!("http://{addr}/-/ready"))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("binary not ready");
    };
    wait_up.await;

    std::fs::write(&file, config("after", &server)).unwrap();
    Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    until(&addr, "reloaded target", |m| {
        value(m, "proxy_up", &[("target", "after")]) == Some(1.0)
            && value(m, "proxy_up", &[("target", "before")]).is_none()
    })
    .await;

    // A scrape in flight while SIGTERM arrives still gets its answer; the process
    // exits 0 within a few seconds.
    let scraping = tokio::spawn({
        let addr = addr.clone();
        async move { scrape(&addr).await }
    });
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(8) {
            let _ = child.kill();
            panic!("no exit within 8 s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
    if let Ok(Ok(body)) = tokio::time::timeout(Duration::from_secs(2), scraping).await {
        assert!(body.contains("proxy_up"), "a finished scrape is complete");
    }
}

#[tokio::test]
async fn unchanged_targets_keep_their_counters_across_a_reload() {
    let server = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    // `failing` asks ProxyLite's prefix, which the upstream does not answer.
    let failing = format!(
        "  - name: failing\n    provider: proxylite\n    base_url: {}\n    app_key: {APP_KEY}\n    endpoints: [summary]\n",
        server.uri()
    );
    std::fs::write(&file, config("first", &server) + &failing).unwrap();
    let (addr, running) = start_reloadable(&file).await;
    let errors = |m: &str| {
        value(
            m,
            "proxy_exporter_poll_errors_total",
            &[("target", "failing"), ("reason", "http")],
        )
        .unwrap_or(0.0)
    };
    until(&addr, "three failed polls", |m| errors(m) >= 3.0).await;

    std::fs::write(&file, config("second", &server) + &failing).unwrap();
    let (status, body) = post(&addr).await;
    assert_eq!(status, 200, "{body}");
    let m = until(&addr, "second target", |m| {
        value(m, "proxy_up", &[("target", "second")]) == Some(1.0)
    })
    .await;
    assert!(
        errors(&m) >= 3.0,
        "the unchanged target's counter was reset:\n{m}"
    );
    assert!(value(&m, "proxy_up", &[("target", "first")]).is_none());
    running.abort();
}

/// A BestProxy pool with 1 % left: `ProxyTrafficLow` at both severities.
async fn nearly_empty_upstream() -> MockServer {
    let server = MockServer::start().await;
    let summary = serde_json::json!({"code": 200, "msg": "ok", "data": {
        "effective": 1_048_576, "effective_total": 104_857_600, "effective_used": 103_809_024}});
    Mock::given(method("GET"))
        .and(path("/gateway/user-product/summary"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary))
        .mount(&server)
        .await;
    server
}

async fn hook() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

async fn notified(hook: &MockServer) -> usize {
    hook.received_requests().await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_applies_the_alerting_section_and_keeps_the_alert_states() {
    let server = nearly_empty_upstream().await;
    let (first, second) = (hook().await, hook().await);
    let with_alerting = |hook: &MockServer, for_: &str, evaluation: &str| {
        format!(
            "{}alerting:\n  evaluation_interval: {evaluation}\n  rules:\n    ProxyTrafficLow: {{for: {for_}}}\n  receivers:\n    - name: hook\n      webhook: {{url: \"{}/hook\"}}\n",
            config("best", &server),
            hook.uri()
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    std::fs::write(&file, with_alerting(&first, "1h", "200ms")).unwrap();
    let (addr, running) = start_reloadable(&file).await;
    let pending = [
        ("alertname", "ProxyTrafficLow"),
        ("severity", "critical"),
        ("state", "pending"),
    ];
    until(&addr, "a pending alert", |m| {
        value(m, "proxy_exporter_alerts", &pending) == Some(1.0)
    })
    .await;

    // New rules and a new receiver: the pending alert fires at once, to the new one.
    std::fs::write(&file, with_alerting(&second, "0s", "200ms")).unwrap();
    assert_eq!(post(&addr).await.0, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while notified(&second).await == 0 {
        assert!(Instant::now() < deadline, "the new receiver got nothing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body: serde_json::Value =
        serde_json::from_slice(&second.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(body["status"], "firing", "{body}");
    assert_eq!(notified(&first).await, 0, "the old rules' `for` was 1h");

    // Another change (the evaluation interval) keeps the firing alerts' timers:
    // nothing is sent again before the repeat interval.
    let sent = notified(&second).await;
    std::fs::write(&file, with_alerting(&second, "0s", "300ms")).unwrap();
    assert_eq!(post(&addr).await.0, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        notified(&second).await,
        sent,
        "a firing alert was sent again"
    );

    // Without the section there is no agent, and no agent series.
    std::fs::write(&file, config("best", &server)).unwrap();
    assert_eq!(post(&addr).await.0, 200);
    until(&addr, "the agent's series gone", |m| {
        samples(m, "proxy_exporter_alerts").is_empty()
    })
    .await;
    running.abort();
}
