//! `proxy-quota-exporter check` against the simulator: a healthy account exits 0,
//! a pool below threshold warns or is critical, a rejected key is unknown, JSON
//! output parses back, and the key appears in no output. With a store, days left
//! follow the stored trend, as the forecast alert does.

use std::process::Command;
use std::time::Duration;

use proxy_quota_exporter::providers::Endpoint;
use proxy_quota_exporter::readings::PoolReading;
use proxy_quota_exporter::simulator::{
    Fault, SimProvider, Simulator, SimulatorConfig, IPWEB_TOKEN,
};
use proxy_quota_exporter::store::{Store, StoreOptions};
use proxy_quota_exporter::units::unix_now;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Runs `check` on `yaml` without a store and returns (exit code, stdout, stderr).
fn check(yaml: &str, json: bool) -> (i32, String, String) {
    check_with_store(yaml, json, "")
}

/// Runs `check` on `yaml` with `--storage.path store`.
fn check_with_store(yaml: &str, json: bool, store: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    std::fs::write(&file, yaml).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_proxy-quota-exporter"));
    command.args(["check", "--config.file", file.to_str().unwrap()]);
    command.args(["--storage.path", store]);
    if json {
        command.args(["--output", "json"]);
    }
    let out = command.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The simulated IPWeb agent alone: plenty of traffic, nothing expiring.
fn ipweb_only(simulator: &Simulator, token: &str) -> String {
    format!(
        "targets:\n  - name: agent\n    provider: ipweb\n    base_url: {}/prod-api\n    token: {token}\n",
        simulator.url()
    )
}

#[tokio::test]
async fn a_healthy_account_exits_0() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let (code, stdout, stderr) = tokio::task::spawn_blocking({
        let yaml = ipweb_only(&simulator, IPWEB_TOKEN);
        move || check(&yaml, false)
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("agent (ipweb)  OK"), "{stdout}");
    assert!(
        stdout.contains("primary") && stdout.contains("GiB"),
        "{stdout}"
    );
    assert!(stdout.contains("overall: OK (exit 0)"), "{stdout}");
    assert!(
        !stdout.contains('\u{1b}'),
        "no colour when not on a terminal"
    );
    assert!(!stdout.contains(IPWEB_TOKEN) && !stderr.contains(IPWEB_TOKEN));
}

#[tokio::test]
async fn the_demo_accounts_are_critical_with_the_reasons_in_plain_words() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let yaml = simulator.demo_config_yaml(Duration::from_secs(60));
    let (code, stdout, _) = tokio::task::spawn_blocking(move || check(&yaml, false))
        .await
        .unwrap();
    // ProxyLite's pool is below 10 %, an account is over its limit and static IPs
    // expire within 2 days: critical.
    assert_eq!(code, 2, "{stdout}");
    assert!(
        stdout.contains("pool dynamic_residential: only"),
        "{stdout}"
    );
    assert!(
        stdout.contains("sub-account user004") && stdout.contains("limit used"),
        "{stdout}"
    );
    assert!(stdout.contains("static IP 203.0.101.11"), "{stdout}");
    assert!(stdout.contains("expires in"), "{stdout}");
    assert!(stdout.contains("overall: CRITICAL (exit 2)"), "{stdout}");
    assert!(!stdout.contains("demo-password"));
}

#[tokio::test]
async fn a_low_pool_alone_is_a_warning() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    // ProxyLite's summaries only: the dynamic pool holds about 7 % of purchased.
    // (The demo's gateway targets list their endpoints; those lines go first.)
    let yaml = simulator
        .demo_config_yaml(Duration::from_secs(60))
        .split("  - name: demo-ipweb")
        .next()
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("    endpoints:"))
        .map(|line| format!("{line}\n"))
        .collect::<String>()
        .replace(
            "    product_types: [9, 12]\n  - name: demo-proxylite",
            "    endpoints: [summary]\n    product_types: [12]\n  - name: demo-proxylite",
        )
        .replace(
            "app_key: demo-proxylite-app-key\n    product_types: [9, 12]",
            "app_key: demo-proxylite-app-key\n    endpoints: [summary]\n    product_types: [9]",
        );
    let (code, stdout, _) = tokio::task::spawn_blocking(move || check(&yaml, true))
        .await
        .unwrap();
    let report: Value = serde_json::from_str(&stdout).expect("--output json is JSON");
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(report["status"], "warning");
    assert_eq!(report["exit_code"], 1);
    let lite = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "demo-proxylite")
        .unwrap();
    assert_eq!(lite["findings"][0]["severity"], "warning");
    let pool = &lite["pools"][0];
    assert_eq!(pool["pool"], "dynamic_residential");
    let ratio = pool["used_ratio"].as_f64().unwrap();
    assert!(ratio > 0.9 && ratio < 0.98, "{ratio}");
}

#[tokio::test]
async fn a_rejected_key_is_unknown_and_said_plainly() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    simulator.set_fault(
        SimProvider::Ipweb,
        Endpoint::Customers,
        Some(Fault::Http(500)),
    );
    let secret = "CHECKLEAK-token-0a9f";
    let yaml = ipweb_only(&simulator, secret);
    let (code, stdout, stderr) = tokio::task::spawn_blocking({
        let yaml = yaml.clone();
        move || check(&yaml, false)
    })
    .await
    .unwrap();
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("IPWeb summary: token rejected"), "{stdout}");
    assert!(stdout.contains("(auth)"), "{stdout}");
    let (json_code, json, json_err) = tokio::task::spawn_blocking(move || check(&yaml, true))
        .await
        .unwrap();
    assert_eq!(json_code, 3);
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["status"], "unknown");
    for text in [&stdout, &stderr, &json, &json_err] {
        assert!(!text.contains(secret), "the token leaked:\n{text}");
    }
}

#[test]
fn a_bad_configuration_is_unknown_with_the_reason() {
    let (code, stdout, stderr) = check("targets: []\n", false);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(stderr.contains("at least one target"), "{stderr}");
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// A BestProxy account with one pool: 10 GiB left of 50 GiB.
async fn one_pool_upstream() -> MockServer {
    let upstream = MockServer::start().await;
    let summary = json!({"code": 200, "msg": "ok", "data": {
        "effective": 10 * 1_048_576, "effective_total": 50 * 1_048_576,
        "effective_used": 40 * 1_048_576}});
    Mock::given(method("GET"))
        .and(path("/gateway/user-product/summary"))
        .respond_with(ResponseTemplate::new(200).set_body_json(summary))
        .mount(&upstream)
        .await;
    upstream
}

#[tokio::test]
async fn days_left_follow_the_stored_trend_beside_a_running_exporter() {
    let upstream = one_pool_upstream().await;
    let yaml = format!(
        "targets:\n  - name: best\n    provider: bestproxy\n    base_url: {}\n    app_key: k\n    endpoints: [summary]\n    product_types: [9]\n",
        upstream.uri()
    );
    // Without history there is no rate: no days left, nothing forecast.
    let (code, stdout, stderr) = tokio::task::spawn_blocking({
        let yaml = yaml.clone();
        move || check(&yaml, true)
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let pool = report["targets"][0]["pools"][0].clone();
    assert_eq!(pool["days_left"], Value::Null, "{pool}");
    let name = pool["pool"].as_str().unwrap().to_owned();

    // An exporter's store (held open, locked, as a running exporter holds it)
    // saw the pool fall by 1 GiB an hour for 5 hours: 10 GiB last ten hours, so
    // the forecast is critical (within a day).
    let dir = tempfile::tempdir().unwrap();
    let storage = Store::open(&StoreOptions {
        path: dir.path().to_owned(),
        retention: Duration::from_secs(86_400),
    })
    .unwrap();
    let now = unix_now() as i64;
    for hours_ago in 1..=5 {
        let pool = PoolReading {
            pool: name.clone(),
            remaining_bytes: Some((10 + hours_ago) as f64 * GIB),
            purchased_bytes: Some(50.0 * GIB),
            ..PoolReading::default()
        };
        storage
            .write_pools("bestproxy", "best", now - hours_ago * 3600, &[pool])
            .unwrap();
    }
    let store = dir.path().to_str().unwrap().to_owned();
    let (code, stdout, stderr) = tokio::task::spawn_blocking({
        let (yaml, store) = (yaml.clone(), store.clone());
        move || check_with_store(&yaml, true, &store)
    })
    .await
    .unwrap();
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let pool = &report["targets"][0]["pools"][0];
    assert_eq!(pool["days_left_basis"], "trend", "{pool}");
    let days = pool["days_left"].as_f64().unwrap();
    assert!((days - 10.0 / 24.0).abs() < 0.01, "{days}");
    assert_eq!(code, 2, "{stdout}{stderr}");
    let finding = &report["targets"][0]["findings"][0];
    assert_eq!(finding["severity"], "critical");
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .contains("runs dry in 0.4 days at the trend of the last 6h"),
        "{finding}"
    );

    // The configuration's overrides count, as they do for the agent: with the
    // critical threshold at 6 h, 10 hours left is a warning.
    let overridden = format!(
        "{yaml}alerting:\n  rules:\n    ProxyTrafficExhaustionForecast: {{critical: 6h}}\n"
    );
    let (code, stdout, stderr) =
        tokio::task::spawn_blocking(move || check_with_store(&overridden, false, &store))
            .await
            .unwrap();
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("0.4 "), "{stdout}");
    drop(storage);
}

/// Writes a pool's history into `storage`: a sample every 5 minutes for 30
/// hours before `now`, `consumed(seconds_ago)` of `purchased(seconds_ago)`.
fn write_pool_history(
    storage: &Store,
    pool: &str,
    now: i64,
    consumed: impl Fn(i64) -> f64,
    purchased: impl Fn(i64) -> f64,
) {
    for k in (1..=360).rev() {
        let ago = k * 300;
        let reading = PoolReading {
            pool: pool.to_owned(),
            remaining_bytes: Some(purchased(ago) - consumed(ago)),
            purchased_bytes: Some(purchased(ago)),
            ..PoolReading::default()
        };
        storage
            .write_pools("bestproxy", "best", now - ago, &[reading])
            .unwrap();
    }
}

#[tokio::test]
async fn a_usage_spike_is_a_warning_read_as_the_agent_reads_it_and_a_top_up_is_not() {
    // This poll: 10 GiB left of 50 GiB, 40 GiB consumed.
    let upstream = one_pool_upstream().await;
    let yaml = format!(
        "targets:\n  - name: best\n    provider: bestproxy\n    base_url: {}\n    app_key: k\n    endpoints: [summary]\n    product_types: [9]\n",
        upstream.uri()
    );
    let (_, stdout, _) = tokio::task::spawn_blocking({
        let yaml = yaml.clone();
        move || check(&yaml, true)
    })
    .await
    .unwrap();
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let name = report["targets"][0]["pools"][0]["pool"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = |store: String, yaml: String| {
        tokio::task::spawn_blocking(move || check_with_store(&yaml, true, &store))
    };
    let open = |dir: &tempfile::TempDir| {
        Store::open(&StoreOptions {
            path: dir.path().to_owned(),
            retention: Duration::from_secs(7 * 86_400),
        })
        .unwrap()
    };
    let now = unix_now() as i64;

    // 0.05 GiB an hour for 29 hours, then 10 GiB within the last hour.
    let spiking = tempfile::tempdir().unwrap();
    let storage = open(&spiking);
    write_pool_history(
        &storage,
        &name,
        now,
        |ago| {
            if ago < 3600 {
                40.0 * GIB - 10.0 * GIB * ago as f64 / 3600.0
            } else {
                30.0 * GIB - 0.05 * GIB * (ago - 3600) as f64 / 3600.0
            }
        },
        |_| 50.0 * GIB,
    );
    let (code, stdout, stderr) = run(spiking.path().to_str().unwrap().to_owned(), yaml.clone())
        .await
        .unwrap();
    assert!(code >= 1, "{stdout}{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let spike = report["targets"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["message"].as_str().unwrap().contains("usage spike"))
        .unwrap_or_else(|| panic!("no spike finding: {stdout}"))
        .clone();
    assert_eq!(spike["severity"], "warning", "{spike}");
    let message = spike["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("pool {name}: usage spike: 10."))
            && message.contains("GiB within 1h, over 3 times the usual"),
        "{message}"
    );
    drop(storage);

    // The same figures, but the last hour's fall of remaining was a top-up of
    // 30 GiB that came with steady use: purchased minus remaining hardly grew.
    let topped_up = tempfile::tempdir().unwrap();
    let storage = open(&topped_up);
    write_pool_history(
        &storage,
        &name,
        now,
        |ago| 40.0 * GIB - 0.05 * GIB * ago as f64 / 3600.0,
        |ago| if ago < 1800 { 50.0 * GIB } else { 20.0 * GIB },
    );
    let (_, stdout, stderr) = run(topped_up.path().to_str().unwrap().to_owned(), yaml.clone())
        .await
        .unwrap();
    assert!(!stdout.contains("usage spike"), "{stdout}{stderr}");
    drop(storage);

    // Overrides count as for the agent: at a factor of 1000, 10 GiB is usual.
    let overridden = format!("{yaml}alerting:\n  rules:\n    ProxyUsageSpike: {{factor: 1000}}\n");
    let (_, stdout, stderr) = run(spiking.path().to_str().unwrap().to_owned(), overridden)
        .await
        .unwrap();
    assert!(!stdout.contains("usage spike"), "{stdout}{stderr}");
}
