//! Delivery truth, end to end in a running exporter: a notification counts as
//! sent only once the receiver accepted it; a receiver that was down gets the
//! firing notification within one backoff step of coming back; a shutdown
//! followed by a restart on the same store loses nothing and repeats nothing;
//! routes send each alert where they say, grouped, with the default inhibition.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use proxy_quota_exporter::notify::DispatchSettings;
use proxy_quota_exporter::store::StoreOptions;
use proxy_quota_exporter::Options;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A gateway upstream whose dynamic residential pool has 1 % left:
/// `ProxyTrafficLow` fires at both severities.
async fn low_pool() -> MockServer {
    let upstream = MockServer::start().await;
    low_pool_on(&upstream).await;
    upstream
}

/// A webhook that answers 503 while `down` is set, 200 otherwise.
struct Switch(Arc<AtomicBool>);

impl Respond for Switch {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.0.load(Ordering::SeqCst) {
            ResponseTemplate::new(503)
        } else {
            ResponseTemplate::new(200)
        }
    }
}

async fn switchable_hook(down: bool) -> (MockServer, Arc<AtomicBool>) {
    let server = MockServer::start().await;
    let flag = Arc::new(AtomicBool::new(down));
    Mock::given(method("POST"))
        .respond_with(Switch(Arc::clone(&flag)))
        .mount(&server)
        .await;
    (server, flag)
}

/// The bodies the hook accepted (answered 2xx), oldest first.
async fn accepted(hook: &MockServer, down_until: usize) -> Vec<Value> {
    hook.received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .skip(down_until)
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn config(upstream: &MockServer, alerting: &str) -> String {
    format!(
        "interval: 1s\ntargets:\n  - name: best\n    provider: bestproxy\n    base_url: {}\n    app_key: {APP_KEY}\n    endpoints: [summary]\n\
         alerting:\n  evaluation_interval: 200ms\n  repeat_interval: 1h\n  rules:\n    ProxyTrafficLow: {{for: 0s}}\n{alerting}",
        upstream.uri()
    )
}

/// Short backoff steps, so that the tests take seconds.
fn quick() -> DispatchSettings {
    DispatchSettings {
        backoff_base: Duration::from_millis(100),
        backoff_cap: Duration::from_millis(800),
        min_interval: Duration::ZERO,
        ..DispatchSettings::default()
    }
}

async fn start(yaml: &str, storage: Option<&std::path::Path>) -> Exporter {
    Exporter::start_with(
        yaml,
        Options {
            storage: storage.map(|dir| StoreOptions {
                path: dir.to_owned(),
                retention: Duration::from_secs(86_400),
            }),
            dispatch: Some(quick()),
            ..Options::default()
        },
    )
    .await
}

async fn metric(exporter: &Exporter, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = exporter.get("/metrics").await.text().await.unwrap();
    value(&text, name, labels)
}

async fn wait_for(what: &str, within: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done().await {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_then_healthy_gets_the_firing_within_one_backoff_step() {
    let upstream = low_pool().await;
    let (hook, down) = switchable_hook(true).await;
    let yaml = config(
        &upstream,
        &format!(
            "  receivers:\n    - name: hook\n      webhook: {{url: \"{}/hook\"}}\n",
            hook.uri()
        ),
    );
    let exporter = start(&yaml, None).await;
    exporter.wait_ready().await;
    // Refused while down: tried again and again, each attempt counted (the
    // figures are published at each evaluation), the notification waiting.
    wait_for(
        "three refused attempts counted, one notification waiting",
        Duration::from_secs(10),
        async || {
            let text = exporter.get("/metrics").await.text().await.unwrap();
            let failed = value(
                &text,
                "proxy_exporter_notifications_total",
                &[("receiver", "hook"), ("result", "failure")],
            );
            let pending = value(
                &text,
                "proxy_exporter_notifications_pending",
                &[("receiver", "hook")],
            );
            failed.is_some_and(|n| n >= 3.0) && pending == Some(1.0)
        },
    )
    .await;
    assert!(accepted(&hook, 0).await.len() >= 3);

    let refused = hook.received_requests().await.unwrap_or_default().len();
    down.store(false, Ordering::SeqCst);
    let back = Instant::now();
    wait_for(
        "the firing notification",
        Duration::from_secs(5),
        async || !accepted(&hook, refused).await.is_empty(),
    )
    .await;
    // One backoff step is at most the cap (800 ms), plus an evaluation.
    assert!(
        back.elapsed() < Duration::from_millis(800 + 400 + 500),
        "{:?}",
        back.elapsed()
    );
    let body = &accepted(&hook, refused).await[0];
    assert_eq!(body["status"], "firing");
    assert_eq!(body["alerts"][0]["labels"]["alertname"], "ProxyTrafficLow");
    wait_for("nothing pending", Duration::from_secs(2), async || {
        metric(
            &exporter,
            "proxy_exporter_notifications_pending",
            &[("receiver", "hook")],
        )
        .await
            == Some(0.0)
    })
    .await;
    // Accepted once: no repeat before repeat_interval (1h).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(accepted(&hook, refused).await.len(), 1);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_and_restart_lose_nothing_and_repeat_nothing() {
    let upstream = low_pool().await;
    let dir = tempfile::tempdir().unwrap();
    let (hook, down) = switchable_hook(true).await;
    let yaml = config(
        &upstream,
        &format!(
            "  receivers:\n    - name: hook\n      webhook: {{url: \"{}/hook\"}}\n",
            hook.uri()
        ),
    );
    // First run: the receiver is down; the notification waits when it stops.
    let exporter = start(&yaml, Some(dir.path())).await;
    exporter.wait_ready().await;
    wait_for("a refused attempt", Duration::from_secs(10), async || {
        !hook
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    })
    .await;
    exporter.stop().await;
    let refused = hook.received_requests().await.unwrap_or_default().len();

    // Second run: the receiver is back; what waited is delivered, once.
    down.store(false, Ordering::SeqCst);
    let exporter = start(&yaml, Some(dir.path())).await;
    wait_for(
        "the waiting notification",
        Duration::from_secs(10),
        async || !accepted(&hook, refused).await.is_empty(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(accepted(&hook, refused).await.len(), 1, "delivered once");
    exporter.stop().await;

    // Third run: it was accepted, so nothing is sent again.
    let exporter = start(&yaml, Some(dir.path())).await;
    exporter.wait_ready().await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        accepted(&hook, refused).await.len(),
        1,
        "no repeat after a restart"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_send_each_alert_where_they_say_and_the_critical_twin_mutes_the_warning() {
    let upstream = low_pool().await;
    let (phone, _) = switchable_hook(false).await;
    let (chat, _) = switchable_hook(false).await;
    let yaml = config(
        &upstream,
        &format!(
            "  receivers:\n    - name: phone\n      webhook: {{url: \"{}/p\"}}\n    - name: chat\n      webhook: {{url: \"{}/c\"}}\n\
             \x20 route:\n    receiver: chat\n    group_by: [alertname, target]\n    group_wait: 0s\n    group_interval: 1s\n\
             \x20   routes:\n      - matchers: ['severity=\"critical\"']\n        receiver: phone\n        continue: true\n\
             \x20 inhibit_rules: []\n",
            phone.uri(),
            chat.uri()
        ),
    );
    let exporter = start(&yaml, None).await;
    exporter.wait_ready().await;
    wait_for("both receivers told", Duration::from_secs(10), async || {
        !accepted(&phone, 0).await.is_empty() && !accepted(&chat, 0).await.is_empty()
    })
    .await;
    let severities = |body: &Value| -> Vec<String> {
        body["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["labels"]["severity"].as_str().unwrap().to_owned())
            .collect()
    };
    // As Alertmanager: the critical alert matches the child route and goes to
    // the phone only (a parent is the match only when no child matched;
    // `continue` lets later siblings match too); the warning falls back to the
    // root's receiver. No inhibition is configured (`inhibit_rules: []`), so the
    // warning twin is sent.
    assert_eq!(severities(&accepted(&phone, 0).await[0]), ["critical"]);
    assert_eq!(severities(&accepted(&chat, 0).await[0]), ["warning"]);
    let body = &accepted(&chat, 0).await[0];
    assert_eq!(
        body["groupLabels"],
        json!({"alertname": "ProxyTrafficLow", "target": "best"})
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_sends_to_your_receivers_and_each_replica_has_its_own_watchdog() {
    let (hook, _) = switchable_hook(false).await;
    let (am, _) = switchable_hook(false).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerting.yml");
    std::fs::write(
        &file,
        format!(
            "alerting:\n  evaluation_interval: 1s\n  external_labels: {{cluster: eu}}\n  rules:\n    ProxyTrafficLow: {{for: 0s}}\n  receivers:\n    - name: hook\n      webhook: {{url: \"{}/hook\"}}\n    - name: am\n      alertmanager: {{url: \"{}\"}}\n",
            hook.uri(),
            am.uri()
        ),
    )
    .unwrap();
    let port = free_port();
    let _demo = Guard(
        demo_command(port)
            .args(["--config.file", file.to_str().unwrap()])
            .args(["--web.external-url", "http://replica-a.example:9877/"])
            .spawn()
            .unwrap(),
    );
    wait_for(
        "the demo's alerts at the webhook",
        Duration::from_secs(30),
        async || !accepted(&hook, 0).await.is_empty(),
    )
    .await;
    let body = &accepted(&hook, 0).await[0];
    assert_eq!(body["externalURL"], "http://replica-a.example:9877");
    let alert = &body["alerts"][0];
    assert_eq!(alert["labels"]["cluster"], "eu", "external labels: {body}");
    assert!(
        alert["generatorURL"]
            .as_str()
            .unwrap()
            .starts_with("http://replica-a.example:9877/#alert-"),
        "{body}"
    );
    wait_for(
        "the Watchdog at Alertmanager",
        Duration::from_secs(10),
        async || !accepted(&am, 0).await.is_empty(),
    )
    .await;
    let sent: Vec<Value> = accepted(&am, 0).await;
    let watchdog = sent
        .iter()
        .flat_map(|b| b.as_array().unwrap().iter())
        .find(|a| a["labels"]["alertname"] == "Watchdog")
        .expect("a Watchdog was sent");
    assert_eq!(watchdog["labels"]["instance"], "replica-a.example:9877");
    assert_eq!(watchdog["labels"]["cluster"], "eu");
    assert_eq!(watchdog["labels"]["severity"], "none");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_mutes_exactly_what_it_matches_for_direct_receivers() {
    // Plenty of traffic at first: nothing fires while the silence is set.
    let upstream = MockServer::start().await;
    let plenty = json!({"code": 200, "msg": "ok", "data": {
        "effective": 104_857_600, "effective_total": 104_857_600, "effective_used": 0,
        "total": 104_857_600, "used": 0}});
    Mock::given(method("GET"))
        .and(path("/gateway/user-product/summary"))
        .respond_with(ResponseTemplate::new(200).set_body_json(plenty))
        .mount(&upstream)
        .await;
    let (hook, _) = switchable_hook(false).await;
    let yaml = config(
        &upstream,
        &format!(
            "  inhibit_rules: []\n  receivers:\n    - name: hook\n      webhook: {{url: \"{}/hook\"}}\n",
            hook.uri()
        ),
    );
    let exporter = start(&yaml, None).await;
    exporter.wait_ready().await;
    let silence = json!({
        "matchers": [{"name": "severity", "value": "warning", "isRegex": false, "isEqual": true},
                     {"name": "alertname", "value": "ProxyTraffic.*", "isRegex": true}],
        "startsAt": chrono::Utc::now().to_rfc3339(),
        "endsAt": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
        "createdBy": "test", "comment": "known shortage"});
    let created = reqwest::Client::new()
        .post(format!("http://{}/api/v2/silences", exporter.addr))
        .header("content-type", "application/json")
        .body(silence.to_string())
        .send()
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "{}",
        created.text().await.unwrap()
    );

    // Now the pool runs low: both severities fire, the warning is silenced.
    upstream.reset().await;
    low_pool_on(&upstream).await;
    wait_for("the critical alert", Duration::from_secs(15), async || {
        !accepted(&hook, 0).await.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for body in accepted(&hook, 0).await {
        for alert in body["alerts"].as_array().unwrap() {
            assert_eq!(alert["labels"]["severity"], "critical", "{body}");
        }
    }
    let text = exporter.get("/metrics").await.text().await.unwrap();
    let suppressed = value(
        &text,
        "proxy_exporter_alerts",
        &[
            ("alertname", "ProxyTrafficLow"),
            ("severity", "warning"),
            ("state", "suppressed"),
        ],
    );
    assert_eq!(suppressed, Some(1.0));
    exporter.stop().await;
}

/// Mounts the low pool's summary on `upstream`.
async fn low_pool_on(upstream: &MockServer) {
    let summary = json!({"code": 200, "msg": "ok", "data": {
        "effective": 1_048_576, "effective_total": 104_857_600, "effective_used": 103_809_024,
        "total": 104_857_600, "used": 103_809_024}});
    Mock::given(method("GET"))
        .and(path("/gateway/user-product/summary"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary))
        .mount(upstream)
        .await;
}
