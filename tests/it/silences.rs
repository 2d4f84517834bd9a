//! Silences through Alertmanager's API v2, driven by the real `amtool` (Debian's
//! prometheus-alertmanager; scripts/test.sh installs it on CI) against the
//! exporter on the demo simulator with an agent that fires `ProxyTrafficLow`:
//! `silence add | query | expire`, `alert query`, `config show`; bad requests
//! answered 400/404/415 with the reason; silences outliving a restart.

use crate::common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use proxy_quota_exporter::simulator::{Simulator, SimulatorConfig};
use proxy_quota_exporter::store::{StoreOptions, DEFAULT_RETENTION};
use proxy_quota_exporter::Options;
use serde_json::{json, Value};

/// What amtool printed.
struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `amtool --alertmanager.url=http://ADDR ARGS` with its own `$HOME` (no
/// user configuration), killed if it runs longer than 20 s.
async fn amtool(addr: SocketAddr, home: &Path, args: &[&str]) -> Ran {
    let mut command = Command::new("amtool");
    command
        .arg(format!("--alertmanager.url=http://{addr}"))
        .arg("--timeout=10s")
        .args(args)
        .env("HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = format!("amtool {}", args.join(" "));
    tokio::task::spawn_blocking(move || {
        let mut child = command
            .spawn()
            .expect("amtool runs (Debian: apt-get install prometheus-alertmanager)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{shown}: no answer within 20 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        Ran {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// amtool's answer as JSON (`-o json`), failing the test when amtool failed.
async fn amtool_json(addr: SocketAddr, home: &Path, args: &[&str]) -> Value {
    let mut all = vec!["-o", "json"];
    all.extend_from_slice(args);
    let ran = amtool(addr, home, &all).await;
    assert!(ran.ok, "amtool {args:?} failed: {}", ran.stderr);
    serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout))
}

/// The exporter polling the demo simulator every second, its agent firing
/// `ProxyTrafficLow` at once, its store in `dir`.
async fn start(simulator: &Simulator, dir: &Path) -> Exporter {
    let yaml = format!(
        "{}alerting:\n  evaluation_interval: 200ms\n  rules:\n    ProxyTrafficLow: {{for: 0s}}\n  receivers:\n    - name: console\n      log: {{}}\n",
        simulator.demo_config_yaml(Duration::from_secs(1))
    );
    Exporter::start_with(
        &yaml,
        Options {
            storage: Some(StoreOptions {
                path: dir.to_owned(),
                retention: DEFAULT_RETENTION,
            }),
            ..Options::default()
        },
    )
    .await
}

/// `GET /api/v2/alerts` once a firing `ProxyTrafficLow` is among them.
async fn firing(exporter: &Exporter) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = exporter.get("/api/v2/alerts").await.text().await.unwrap();
        let alerts: Value = serde_json::from_str(&text).unwrap();
        if alerts
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["labels"]["alertname"] == "ProxyTrafficLow")
        {
            return alerts;
        }
        assert!(
            Instant::now() < deadline,
            "no ProxyTrafficLow within 15 s: {alerts}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `/metrics` counts `n` silences in `state`.
async fn wait_count(exporter: &Exporter, state: &str, n: f64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let m = exporter.get("/metrics").await.text().await.unwrap();
        if value(&m, "proxy_exporter_silences", &[("state", state)]) == Some(n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "proxy_exporter_silences{{state={state:?}}} is not {n}:\n{}",
            samples(&m, "proxy_exporter_silences").join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_adds_queries_and_expires_a_silence() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let (dir, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let exporter = start(&simulator, dir.path()).await;
    let (addr, home) = (exporter.addr, home.path());
    firing(&exporter).await;

    // The status amtool's version check and `config show` read.
    let status = amtool_json(addr, home, &["config", "show"]).await;
    assert_eq!(status["cluster"]["status"], "disabled", "{status}");
    assert_eq!(
        status["versionInfo"]["version"],
        env!("CARGO_PKG_VERSION"),
        "{status}"
    );

    // The firing alerts, with their labels; pending ones are no Alertmanager alerts.
    let alerts = amtool_json(addr, home, &["alert", "query"]).await;
    let alerts = alerts.as_array().unwrap();
    let low = alerts
        .iter()
        .find(|a| {
            a["labels"]["alertname"] == "ProxyTrafficLow"
                && a["labels"]["target"] == "demo-proxylite"
        })
        .unwrap_or_else(|| panic!("no ProxyTrafficLow of demo-proxylite: {alerts:?}"));
    assert_eq!(low["labels"]["provider"], "proxylite");
    assert_eq!(low["labels"]["pool"], "dynamic_residential");
    assert_eq!(low["labels"]["severity"], "warning");
    assert_eq!(low["status"]["state"], "active");
    assert_eq!(low["fingerprint"].as_str().unwrap().len(), 16, "{low}");
    assert!(low["annotations"]["summary"]
        .as_str()
        .unwrap()
        .contains("below 10 %"));
    assert!(
        alerts
            .iter()
            .all(|a| a["labels"]["alertname"] != "ProxyAccountNearLimit"),
        "pending alerts are left out: {alerts:?}"
    );
    let filtered = amtool_json(addr, home, &["alert", "query", "target=demo-proxylite"]).await;
    assert!(
        filtered
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["labels"]["target"] == "demo-proxylite"),
        "{filtered}"
    );

    let added = amtool(
        addr,
        home,
        &[
            "silence",
            "add",
            "alertname=ProxyTrafficLow",
            "-c",
            "topping up on Monday",
            "-a",
            "tester",
            "-d",
            "1h",
        ],
    )
    .await;
    assert!(added.ok, "{}", added.stderr);
    let id = added.stdout.trim().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id:?}");

    let silences = amtool_json(addr, home, &["silence", "query"]).await;
    let silence = &silences[0];
    assert_eq!(silences.as_array().unwrap().len(), 1, "{silences}");
    assert_eq!(silence["id"], id.as_str());
    assert_eq!(silence["status"]["state"], "active");
    assert_eq!(silence["createdBy"], "tester");
    assert_eq!(silence["comment"], "topping up on Monday");
    assert_eq!(
        silence["matchers"],
        json!([{"name": "alertname", "value": "ProxyTrafficLow", "isRegex": false, "isEqual": true}])
    );
    let by_matcher = amtool_json(
        addr,
        home,
        &["silence", "query", "alertname=ProxyTrafficLow"],
    )
    .await;
    assert_eq!(by_matcher.as_array().unwrap().len(), 1, "{by_matcher}");
    let other = amtool_json(addr, home, &["silence", "query", "alertname=Other"]).await;
    assert_eq!(other, json!([]));
    wait_count(&exporter, "active", 1.0).await;

    let expired = amtool(addr, home, &["silence", "expire", &id]).await;
    assert!(expired.ok, "{}", expired.stderr);
    let active = amtool(addr, home, &["silence", "query", "-q"]).await;
    assert_eq!(active.stdout.trim(), "", "no active silence left");
    let gone = amtool(addr, home, &["silence", "query", "--expired", "-q"]).await;
    assert_eq!(gone.stdout.trim(), id, "kept as expired");
    wait_count(&exporter, "expired", 1.0).await;
    wait_count(&exporter, "active", 0.0).await;

    // An unknown silence.
    let unknown = amtool(
        addr,
        home,
        &["silence", "expire", "00000000-0000-4000-8000-000000000000"],
    )
    .await;
    assert!(!unknown.ok, "{}", unknown.stdout);
    assert!(unknown.stderr.contains("404"), "{}", unknown.stderr);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_the_reason() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let exporter = start(&simulator, dir.path()).await;
    let url = format!("http://{}/api/v2/silences", exporter.addr);
    let client = reqwest::Client::new();
    let post = |body: Value, content_type: &'static str| {
        client
            .post(&url)
            .header("Content-Type", content_type)
            .body(body.to_string())
            .send()
    };
    let silence = |matchers: Value| {
        json!({"matchers": matchers, "startsAt": "2020-01-01T00:00:00Z",
               "endsAt": "2999-01-01T00:00:00Z", "createdBy": "me", "comment": "x"})
    };

    let bad_regex = post(
        silence(json!([{"name": "target", "value": "lite-(", "isRegex": true}])),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(bad_regex.status(), 400);
    assert_eq!(
        bad_regex.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    let reason = bad_regex.text().await.unwrap();
    assert!(
        reason.contains("invalid label matcher 0") && reason.contains("lite-("),
        "{reason}"
    );

    let everything = post(
        silence(json!([{"name": "target", "value": ".*", "isRegex": true}])),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(everything.status(), 400);
    assert!(everything
        .text()
        .await
        .unwrap()
        .contains("at least one matcher must not match the empty string"));

    let none = post(silence(json!([])), "application/json").await.unwrap();
    assert_eq!(none.status(), 400);
    assert!(none.text().await.unwrap().contains("at least one matcher"));

    let mut backwards = silence(json!([{"name": "a", "value": "b", "isRegex": false}]));
    backwards["endsAt"] = json!("2020-01-01T00:00:00Z");
    backwards["startsAt"] = json!("2021-01-01T00:00:00Z");
    let backwards = post(backwards, "application/json").await.unwrap();
    assert_eq!(backwards.status(), 400);
    assert!(backwards
        .text()
        .await
        .unwrap()
        .contains("start time must be before end time"));

    let not_json = post(
        silence(json!([{"name": "a", "value": "b", "isRegex": false}])),
        "text/plain",
    )
    .await
    .unwrap();
    assert_eq!(not_json.status(), 415);

    let mut unknown = silence(json!([{"name": "a", "value": "b", "isRegex": false}]));
    unknown["id"] = json!("00000000-0000-4000-8000-000000000000");
    assert_eq!(
        post(unknown, "application/json").await.unwrap().status(),
        404
    );
    let get = exporter.get("/api/v2/silence/nope").await;
    assert_eq!(get.status(), 404);
    let filter = exporter
        .get("/api/v2/alerts?filter=target%3D~%22(%22")
        .await;
    assert_eq!(filter.status(), 400);
    assert!(filter
        .text()
        .await
        .unwrap()
        .contains("invalid regular expression"));

    // Methods a path does not take.
    let put = client.put(&url).send().await.unwrap();
    assert_eq!(put.status(), 405);
    assert_eq!(put.headers()["allow"], "GET, HEAD, POST");
    let post_alerts = client
        .post(format!("http://{}/api/v2/alerts", exporter.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(post_alerts.status(), 405);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silences_survive_a_restart() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let (dir, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let exporter = start(&simulator, dir.path()).await;
    let (addr, home_dir) = (exporter.addr, home.path());
    let add = |matcher: &'static str| {
        let home = home_dir.to_owned();
        async move {
            let ran = amtool(
                addr,
                &home,
                &["silence", "add", matcher, "-c", "kept", "-a", "tester"],
            )
            .await;
            assert!(ran.ok, "{}", ran.stderr);
            ran.stdout.trim().to_owned()
        }
    };
    let kept = add("target=~\"demo-.*\"").await;
    let ended = add("alertname=ProxyTrafficLow").await;
    assert!(
        amtool(addr, home_dir, &["silence", "expire", &ended])
            .await
            .ok
    );
    exporter.stop().await;

    let exporter = start(&simulator, dir.path()).await;
    let addr = exporter.addr;
    let silences = amtool_json(addr, home_dir, &["silence", "query"]).await;
    assert_eq!(silences.as_array().unwrap().len(), 1, "{silences}");
    assert_eq!(silences[0]["id"], kept.as_str());
    assert_eq!(
        silences[0]["matchers"],
        json!([{"name": "target", "value": "demo-.*", "isRegex": true, "isEqual": true}])
    );
    assert_eq!(silences[0]["comment"], "kept");
    let expired = amtool(addr, home_dir, &["silence", "query", "--expired", "-q"]).await;
    assert_eq!(expired.stdout.trim(), ended);
    wait_count(&exporter, "active", 1.0).await;
    wait_count(&exporter, "expired", 1.0).await;
    // The front page lists the active silence.
    let page = exporter.get("/").await.text().await.unwrap();
    assert!(page.contains(&kept), "the front page lists the silence");
    assert!(
        page.contains("target=~&quot;demo-.*&quot;"),
        "escaped matchers"
    );
    let status: Value =
        serde_json::from_str(&exporter.get("/api/v1/status").await.text().await.unwrap()).unwrap();
    assert_eq!(
        status["silences"][0]["id"],
        kept.as_str(),
        "{}",
        status["silences"]
    );
    exporter.stop().await;
}

/// `amtool alert query`'s alerts of `target` named `alertname`, as JSON.
async fn alerts_of(
    addr: SocketAddr,
    home: &Path,
    args: &[&str],
    alertname: &str,
    target: &str,
) -> Vec<Value> {
    let mut all = vec!["alert", "query"];
    all.extend_from_slice(args);
    let alerts = amtool_json(addr, home, &all).await;
    alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == alertname && a["labels"]["target"] == target)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_mutes_the_alerts_it_matches() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let (dir, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let exporter = start(&simulator, dir.path()).await;
    let (addr, home) = (exporter.addr, home.path());
    firing(&exporter).await;
    let (low, lite) = ("ProxyTrafficLow", "demo-proxylite");
    assert_eq!(alerts_of(addr, home, &[], low, lite).await.len(), 1);

    let added = amtool(
        addr,
        home,
        &[
            "silence",
            "add",
            "alertname=ProxyTrafficLow",
            "target=demo-proxylite",
            "-c",
            "muted",
        ],
    )
    .await;
    assert!(added.ok, "{}", added.stderr);
    let id = added.stdout.trim().to_owned();

    // The agent marks the alert at its next evaluation.
    let deadline = Instant::now() + Duration::from_secs(10);
    let silenced = loop {
        let silenced = alerts_of(addr, home, &["-s"], low, lite).await;
        if !silenced.is_empty() {
            break silenced;
        }
        assert!(Instant::now() < deadline, "not silenced within 10 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(silenced[0]["status"]["state"], "suppressed");
    assert_eq!(silenced[0]["status"]["silencedBy"], json!([id]));
    // `alert query` shows active (unmuted) alerts: the silenced one is left out,
    // the others stay.
    assert!(alerts_of(addr, home, &[], low, lite).await.is_empty());
    assert!(!alerts_of(addr, home, &[], low, "demo-custom")
        .await
        .is_empty());
    let page = exporter.get("/").await.text().await.unwrap();
    assert!(page.contains(">silenced</span>"), "the front page marks it");

    // Expired, the silence mutes no more.
    assert!(amtool(addr, home, &["silence", "expire", &id]).await.ok);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alerts_of(addr, home, &[], low, lite).await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "still silenced 10 s after expiry"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    exporter.stop().await;
}
