//! `proxy-quota-exporter check` against the simulator: a healthy account exits 0,
//! a pool below threshold warns or is critical, a rejected key is unknown, JSON
//! output parses back, and the key appears in no output.

use std::process::Command;
use std::time::Duration;

use proxy_quota_exporter::providers::Endpoint;
use proxy_quota_exporter::simulator::{
    Fault, SimProvider, Simulator, SimulatorConfig, IPWEB_TOKEN,
};
use serde_json::Value;

/// Runs `check` on `yaml` and returns (exit code, stdout, stderr).
fn check(yaml: &str, json: bool) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    std::fs::write(&file, yaml).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_proxy-quota-exporter"));
    command.args(["check", "--config.file", file.to_str().unwrap()]);
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
