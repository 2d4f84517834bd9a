//! What custom targets gained for the presets (issue 28): computed figures,
//! pool lists, static IP statuses, a second secret credential, and
//! `basic_username_file`; each against a local simulator, and the mistakes
//! refused when the configuration is read.

use crate::common;

use std::path::Path;

use base64::Engine as _;
use common::*;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CREDENTIAL: &str = "feature-cred-0b9e44";
const SECOND: &str = "feature-second-5d1a77";
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn json(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn parse(yaml: &str) -> Result<proxy_quota_exporter::Config, String> {
    proxy_quota_exporter::Config::parse(yaml, Path::new("f.yml")).map_err(|e| e.to_string())
}

fn target(server: &MockServer, body: &str) -> String {
    format!(
        "targets:\n  - name: f\n    provider: custom\n    base_url: {}\n    credential: {CREDENTIAL}\n    unit: GB\n{body}",
        server.uri()
    )
}

#[tokio::test]
async fn figures_computed_from_two_others_and_pools_from_a_list() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/plans"))
        .respond_with(json(serde_json::json!({"plans": [
            {"name": "res", "limit": "10", "used": 4},
            {"name": "isp", "limit": 2, "used": 0.5}
        ]})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/users"))
        .respond_with(json(serde_json::json!({"users": [
            {"name": "a", "left": 3, "used": 1},
            {"name": "b", "left": 0, "used": 0}
        ]})))
        .mount(&server)
        .await;
    let yaml = target(
        &server,
        "    auth: {header: X-Key}\n    pools:\n      - path: /plans\n        items: /plans\n        pool: {pointer: /name}\n        purchased: /limit\n        used: /used\n        remaining: {difference: [/limit, /used]}\n    accounts:\n      path: /users\n      items: /users\n      account: /name\n      used: /used\n      limit: {sum: [/used, {pointer: /left, unit: GB}]}\n",
    );
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    let remaining = |p| value(&m, "proxy_traffic_remaining_bytes", &[("pool", p)]);
    assert_eq!(remaining("res"), Some(6.0 * GIB), "{m}");
    assert_eq!(remaining("isp"), Some(1.5 * GIB));
    assert_eq!(
        value(&m, "proxy_account_limit_bytes", &[("account", "a")]),
        Some(4.0 * GIB)
    );
    // A computed limit of 0 means no limit, as a read one does.
    assert_eq!(
        value(&m, "proxy_account_limit_bytes", &[("account", "b")]),
        None
    );
    assert_eq!(
        value(&m, "proxy_account_used_bytes", &[("account", "b")]),
        Some(0.0)
    );
    exporter.stop().await;
}

#[tokio::test]
async fn a_pool_named_twice_in_a_list_fails_the_endpoint() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json(serde_json::json!({"plans": [
            {"name": "res", "left": 1}, {"name": "res", "left": 2}]})))
        .mount(&server)
        .await;
    let yaml = target(
        &server,
        "    auth: {header: X-Key}\n    pools:\n      - path: /plans\n        items: /plans\n        pool: {pointer: /name}\n        remaining: /left\n",
    );
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    assert_eq!(poll_errors(&m, "summary", "decode"), Some(1.0), "{m}");
    assert!(samples(&m, "proxy_traffic_remaining_bytes").is_empty());
    exporter.stop().await;
}

#[tokio::test]
async fn static_ip_statuses_map_to_the_contracts_four() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/ips"))
        .respond_with(json(serde_json::json!({"ips": [
            {"ip": "1.1.1.1", "exp": 1900000000, "state": "ok"},
            {"ip": "1.1.1.2", "exp": 1900000000, "state": "ok"},
            {"ip": "1.1.1.3", "exp": 1900000000, "state": "dead"},
            {"ip": "1.1.1.4", "exp": 1900000000, "state": 4}
        ]})))
        .mount(&server)
        .await;
    let yaml = target(
        &server,
        "    auth: {header: X-Key}\n    static_ips:\n      path: /ips\n      items: /ips\n      product: isp\n      ip: /ip\n      expires_at: /exp\n      status: /state\n      status_values: {active: [ok], invalid: [dead], maintenance: [\"4\"]}\n",
    );
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    let count = |s| value(&m, "proxy_static_ips", &[("product", "isp"), ("status", s)]);
    assert_eq!(count("active"), Some(2.0), "{m}");
    assert_eq!(count("invalid"), Some(1.0));
    assert_eq!(count("expiring"), Some(0.0));
    assert_eq!(count("maintenance"), Some(1.0));
    exporter.stop().await;
}

#[tokio::test]
async fn an_unlisted_status_fails_the_endpoint() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json(
            serde_json::json!({"ips": [{"ip": "1.1.1.1", "exp": 1900000000, "state": 9}]}),
        ))
        .mount(&server)
        .await;
    let yaml = target(
        &server,
        "    auth: {header: X-Key}\n    static_ips:\n      path: /ips\n      items: /ips\n      ip: /ip\n      expires_at: /exp\n      status: /state\n      status_values: {active: [1]}\n",
    );
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    assert_eq!(poll_errors(&m, "static_ips", "decode"), Some(1.0), "{m}");
    exporter.stop().await;
}

#[tokio::test]
async fn two_secrets_from_files_and_a_basic_user_name_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let second = dir.path().join("second");
    let user = dir.path().join("user");
    std::fs::write(&second, format!("{SECOND}\n")).unwrap();
    std::fs::write(&user, "api-user\n").unwrap();
    let server = MockServer::start().await;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("api-user:{CREDENTIAL}"))
    );
    Mock::given(method("GET"))
        .and(path("/me"))
        .and(query_param("key", SECOND))
        .and(header("authorization", basic.as_str()))
        .respond_with(json(serde_json::json!({"left": 2})))
        .mount(&server)
        .await;
    let yaml = target(
        &server,
        &format!(
            "    auth: {{basic_username_file: {}, second_query: key}}\n    second_credential_file: {}\n    pools:\n      - {{path: /me, pool: main, remaining: /left}}\n",
            user.display(),
            second.display()
        ),
    );
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(&m, "proxy_traffic_remaining_bytes", &[("pool", "main")]),
        Some(2.0 * GIB),
        "{m}"
    );
    exporter.stop().await;
}

#[test]
fn mistakes_in_the_new_keys_are_refused_at_load() {
    let with = |body: &str| {
        parse(&format!(
            "targets:\n  - name: f\n    provider: custom\n    base_url: https://api.example\n    credential: c\n    unit: GB\n{body}"
        ))
    };
    let pools = "    pools:\n      - {path: /me, pool: main, remaining: /left}\n";
    let refused = [
        ("    auth: {query: token, second_query: key}\n", "second_credential"),
        ("    auth: {query: token}\n    second_credential: x\n", "second_query"),
        ("    auth: {query: token, second_query: key}\n    second_credential_file: relative/key\n", "second_credential_file: cannot read secret file relative/key"),
        ("    auth: {basic_username_file: relative/user}\n", "basic_username_file: cannot read secret file relative/user"),
        ("    auth: {basic_username: u, basic_username_file: /x}\n", "not both"),
        ("    auth: {query: token, second_query: token}\n    second_credential: x\n", "differ"),
    ];
    for (auth, expected) in refused {
        let error = with(&format!("{auth}{pools}")).unwrap_err();
        assert!(error.contains(expected), "{auth}: {error}");
    }
    let auth = "    auth: {header: X-Key}\n";
    let sections = [
        ("    pools:\n      - {path: /me, pool: main, remaining: {sum: [/a]}}\n", "at least two"),
        ("    pools:\n      - {path: /me, pool: main, remaining: {difference: [/a, /b, /c]}}\n", "exactly two"),
        ("    pools:\n      - {path: /me, pool: main, remaining: {sum: [/a, /b], unit: GB}}\n", "unit goes with pointer"),
        ("    pools:\n      - {path: /me, pool: {pointer: /name}, remaining: /a}\n", "items"),
        ("    pools:\n      - {path: /me, items: /list, pool: main, remaining: /a}\n", "pointer"),
        ("    static_ips: {path: /ips, items: /ips, ip: /ip, expires_at: /e, status: /s}\n", "status_values"),
        ("    static_ips: {path: /ips, items: /ips, ip: /ip, expires_at: /e, status_values: {active: [1]}}\n", "status"),
        ("    static_ips: {path: /ips, items: /ips, ip: /ip, expires_at: /e, status: /s, status_values: {broken: [1]}}\n", "broken"),
        ("    accounts: {path: /u, items: /u, account: /n, used: /u, limit: {sum: [/a, /b]}, unlimited_values: [-1]}\n", "unlimited_values"),
    ];
    for (section, expected) in sections {
        let error = with(&format!("{auth}{section}")).unwrap_err();
        assert!(error.contains(expected), "{section}: {error}");
    }
}
