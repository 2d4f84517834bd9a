//! Provider presets (`provider: iproyal` and the like): each loads with only a
//! name and its credentials, and fills the contract's metrics from the
//! documented answers of its provider (tests/fixtures/custom/ and
//! tests/fixtures/presets/), served by a local simulator that accepts the
//! credential only where the preset puts it.

use crate::common;

use std::path::Path;

use base64::Engine as _;
use common::*;
use proxy_quota_exporter::providers::custom::presets;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CREDENTIAL: &str = "preset-cred-7c2e9a";
const SECOND: &str = "preset-key-31d8f0";
const USER: &str = "geonode_user";
const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// What a preset needs besides its name: the credential, and for Geonode the
/// Basic user name, for Thordata the second key.
fn credentials(preset: &str) -> String {
    let mut keys = format!("    credential: {CREDENTIAL}\n");
    match preset {
        "geonode" => keys.push_str(&format!("    auth: {{basic_username: {USER}}}\n")),
        "thordata" => keys.push_str(&format!("    second_credential: {SECOND}\n")),
        _ => {}
    }
    keys
}

/// A target of `preset` against `server` (its default base URL's path kept),
/// with `extra` keys.
fn config(preset: &str, server: &MockServer, extra: &str) -> String {
    let spec = proxy_quota_exporter::providers::spec(preset).unwrap();
    let default = url::Url::parse(spec.default_base_url.unwrap()).unwrap();
    format!(
        "targets:\n  - name: {preset}\n    provider: {preset}\n    base_url: {}{}\n{}{extra}",
        server.uri(),
        default.path().trim_end_matches('/'),
        credentials(preset)
    )
}

fn answer(status: u16, file: &str, server: &MockServer) -> ResponseTemplate {
    let body = fixture(file).replace("{{base}}", &server.uri());
    ResponseTemplate::new(status).set_body_raw(body, "application/json")
}

fn pool(m: &str, preset: &str, metric: &str, name: &str) -> Option<f64> {
    value(
        m,
        metric,
        &[("provider", preset), ("target", preset), ("pool", name)],
    )
}

fn account(m: &str, metric: &str, name: &str) -> Option<f64> {
    value(m, metric, &[("account", name)])
}

#[test]
fn every_preset_loads_with_only_a_name_and_its_credentials() {
    assert!(presets::ALL.len() >= 11);
    for (spec, _) in presets::ALL {
        let yaml = format!(
            "targets:\n  - name: t\n    provider: {}\n{}",
            spec.name,
            credentials(spec.name)
        );
        let config = proxy_quota_exporter::Config::parse(&yaml, Path::new("p.yml"))
            .unwrap_or_else(|e| panic!("{}: {e}", spec.name));
        let target = &config.targets[0];
        assert_eq!(target.provider.name, spec.name);
        assert_eq!(
            target.base_url.as_str().trim_end_matches('/'),
            spec.default_base_url.unwrap().trim_end_matches('/')
        );
        assert!(!target.endpoints.is_empty(), "{}", spec.name);
    }
}

#[test]
fn every_preset_passes_config_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from("targets:\n");
    for (spec, _) in presets::ALL {
        yaml.push_str(&format!("  - name: {0}\n    provider: {0}\n", spec.name));
        yaml.push_str(&credentials(spec.name));
    }
    let file = dir.path().join("presets.yml");
    std::fs::write(&file, yaml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_proxy-quota-exporter"))
        .args(["--config.check", "--config.file"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_target_key_overrides_the_preset() {
    let parse = |extra: &str| {
        let yaml = format!(
            "targets:\n  - name: t\n    provider: iproyal\n    credential: {CREDENTIAL}\n{extra}"
        );
        proxy_quota_exporter::Config::parse(&yaml, Path::new("p.yml"))
    };
    // A section removed with null: no accounts endpoint left.
    let config = parse("    accounts: null\n").unwrap();
    assert_eq!(config.targets[0].endpoints.len(), 1);
    // A mistake in an override names the target's key.
    let error = parse("    accounts: {used: data}\n")
        .unwrap_err()
        .to_string();
    assert!(error.contains("accounts"), "{error}");
    // An unknown key is still refused.
    let error = parse("    app_key: x\n").unwrap_err().to_string();
    assert!(error.contains("app_key"), "{error}");
}

async fn iproyal_mocks(server: &MockServer) {
    let bearer = format!("Bearer {CREDENTIAL}");
    Mock::given(method("GET"))
        .and(path("/v1/me"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(answer(200, "custom/iproyal/me.json", server))
        .mount(server)
        .await;
    for page in ["1", "2"] {
        Mock::given(method("GET"))
            .and(path("/v1/residential-subusers"))
            .and(query_param("page", page))
            .and(header("authorization", bearer.as_str()))
            .respond_with(answer(
                200,
                &format!("custom/iproyal/subusers-page{page}.json"),
                server,
            ))
            .mount(server)
            .await;
    }
}

#[tokio::test]
async fn iproyal_preset_reads_balance_and_sub_users_with_computed_limits() {
    let server = MockServer::start().await;
    iproyal_mocks(&server).await;
    let exporter = Exporter::start(&config("iproyal", &server, "")).await;
    let m = exporter.metrics().await;
    assert_eq!(value(&m, "proxy_up", &[]), Some(1.0), "{m}");
    assert_eq!(
        pool(
            &m,
            "iproyal",
            "proxy_traffic_remaining_bytes",
            "residential"
        ),
        Some((32.6 * GIB).round())
    );
    assert_eq!(
        account(&m, "proxy_account_used_bytes", "team-a"),
        Some(2.5 * GIB)
    );
    // limit = traffic_used + traffic_available
    assert_eq!(
        account(&m, "proxy_account_limit_bytes", "team-a"),
        Some(10.0 * GIB)
    );
    assert_eq!(
        account(&m, "proxy_account_limit_bytes", "team-b"),
        Some(0.25 * GIB)
    );
    assert_eq!(
        account(&m, "proxy_account_limit_bytes", "team-c"),
        Some(GIB)
    );
    exporter.stop().await;
}

#[tokio::test]
async fn webshare_preset_follows_next_links_at_its_decimal_gb() {
    let server = MockServer::start().await;
    let token = format!("Token {CREDENTIAL}");
    Mock::given(method("GET"))
        .and(path("/api/v2/stats/aggregate/"))
        .and(header("authorization", token.as_str()))
        .respond_with(answer(200, "custom/webshare/stats-aggregate.json", &server))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/subuser/"))
        .and(query_param("page", "2"))
        .and(header("authorization", token.as_str()))
        .respond_with(answer(200, "custom/webshare/subusers-page2.json", &server))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/subuser/"))
        .and(header("authorization", token.as_str()))
        .respond_with(answer(200, "custom/webshare/subusers-page1.json", &server))
        .with_priority(2)
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config("webshare", &server, "")).await;
    let m = exporter.metrics().await;
    assert_eq!(
        pool(&m, "webshare", "proxy_traffic_used_bytes", "proxy"),
        Some(5000.0),
        "{m}"
    );
    assert_eq!(
        account(&m, "proxy_account_limit_bytes", "team-a"),
        Some(10e9)
    );
    assert_eq!(account(&m, "proxy_account_limit_bytes", "team-b"), None);
    assert_eq!(account(&m, "proxy_account_used_bytes", "team-c"), Some(1e9));
    exporter.stop().await;
    // The target's unit_base overrides the preset's.
    let exporter = Exporter::start(&config("webshare", &server, "    unit_base: 1024\n")).await;
    let m = exporter.metrics().await;
    assert_eq!(
        account(&m, "proxy_account_limit_bytes", "team-a"),
        Some(10.0 * GIB)
    );
    exporter.stop().await;
}

#[tokio::test]
async fn thordata_preset_sends_token_and_key_as_two_secrets() {
    let server = MockServer::start().await;
    for (p, file) in [
        (
            "/api/account/traffic-balance",
            "custom/thordata/traffic-balance.json",
        ),
        (
            "/api/proxy-users/user-list",
            "custom/thordata/user-list.json",
        ),
        ("/api/proxy/proxy-list", "custom/thordata/proxy-list.json"),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .and(query_param("token", CREDENTIAL))
            .and(query_param("key", SECOND))
            .respond_with(answer(200, file, &server))
            .mount(&server)
            .await;
    }
    let exporter = Exporter::start(&config("thordata", &server, "")).await;
    let m = exporter.metrics().await;
    assert_eq!(value(&m, "proxy_up", &[]), Some(1.0), "{m}");
    assert_eq!(
        pool(
            &m,
            "thordata",
            "proxy_traffic_remaining_bytes",
            "residential"
        ),
        Some(10000.0 * MIB)
    );
    assert_eq!(
        account(&m, "proxy_account_limit_bytes", "team-a"),
        Some(10240.0 * MIB)
    );
    assert_eq!(
        value(
            &m,
            "proxy_static_ip_expiry_timestamp_seconds",
            &[("ip", "1.1.1.1")]
        ),
        Some(1741846860.0)
    );
    assert!(!m.contains(SECOND) && !m.contains(CREDENTIAL));
    exporter.stop().await;
}

#[tokio::test]
async fn thordata_preset_refused_token_is_auth_and_the_key_never_shows() {
    let server = MockServer::start().await;
    let echo = format!(r#"{{"code": 10014, "data": null, "msg": "public key error: {SECOND}"}}"#);
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(echo, "application/json"))
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config("thordata", &server, "")).await;
    let m = exporter.metrics().await;
    assert_eq!(poll_errors(&m, "summary", "auth"), Some(1.0), "{m}");
    let page = exporter.get("/api/v1/status").await.text().await.unwrap();
    assert!(!page.contains(SECOND), "{page}");
    assert!(page.contains("redacted"), "{page}");
    exporter.stop().await;
}

#[tokio::test]
async fn goproxy_preset_reads_one_pool_per_plan() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/go-api/v1/account/plan"))
        .and(query_param("proxyType", "1"))
        .and(header("apiKey", CREDENTIAL))
        .respond_with(answer(200, "custom/goproxy/account-plan.json", &server))
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config("goproxy", &server, "")).await;
    let m = exporter.metrics().await;
    let order = "HW20241201153000000";
    assert_eq!(
        pool(&m, "goproxy", "proxy_traffic_purchased_bytes", order),
        Some(GIB),
        "{m}"
    );
    assert_eq!(
        pool(&m, "goproxy", "proxy_traffic_remaining_bytes", order),
        Some((0.9 * GIB).round())
    );
    let used = pool(&m, "goproxy", "proxy_traffic_used_bytes", order).unwrap();
    assert!((used - 0.1 * GIB).abs() < 2.0, "{used}");
    exporter.stop().await;
}

#[tokio::test]
async fn geonode_preset_reads_usage_with_basic_auth() {
    let server = MockServer::start().await;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{CREDENTIAL}"))
    );
    Mock::given(method("GET"))
        .and(path("/monitor-light/proxies"))
        .and(header("authorization", basic.as_str()))
        .respond_with(answer(200, "presets/geonode/proxies.json", &server))
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config("geonode", &server, "")).await;
    let m = exporter.metrics().await;
    assert_eq!(
        pool(&m, "geonode", "proxy_traffic_used_bytes", "residential"),
        Some(17930356.0),
        "{m}"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn asocks_preset_reads_the_traffic_balance() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/user/balance"))
        .and(query_param("apiKey", CREDENTIAL))
        .respond_with(answer(200, "presets/asocks/balance.json", &server))
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config("asocks", &server, "")).await;
    let m = exporter.metrics().await;
    assert_eq!(
        pool(&m, "asocks", "proxy_traffic_remaining_bytes", "residential"),
        Some(4.5 * GIB),
        "{m}"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn infiniteproxies_preset_reads_two_balances_and_its_refusal() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/@me"))
        .and(header("X-INFINITE-KEY", CREDENTIAL))
        .respond_with(answer(200, "presets/infiniteproxies/me.json", &server))
        .expect(1)
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config("infiniteproxies", &server, "")).await;
    let m = exporter.metrics().await;
    let remaining = |p| pool(&m, "infiniteproxies", "proxy_traffic_remaining_bytes", p);
    assert_eq!(remaining("residential"), Some(5000.0 * MIB), "{m}");
    assert_eq!(remaining("mobile"), Some(3000.0 * MIB));
    exporter.stop().await;
    server.verify().await;

    // The documented 403 body, on HTTP 200 or on HTTP 403: reason auth.
    for status in [200, 403] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(answer(
                status,
                "presets/infiniteproxies/forbidden.json",
                &server,
            ))
            .mount(&server)
            .await;
        let exporter = Exporter::start(&config("infiniteproxies", &server, "")).await;
        let m = exporter.metrics().await;
        assert_eq!(
            poll_errors(&m, "summary", "auth"),
            Some(1.0),
            "{status}: {m}"
        );
        exporter.stop().await;
    }
}

#[tokio::test]
async fn weproxies_preset_reads_one_pool_per_subscription() {
    let server = MockServer::start().await;
    let bearer = format!("Bearer {CREDENTIAL}");
    Mock::given(method("GET"))
        .and(path("/api/v1/usage"))
        .and(query_param("period", "month"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(answer(200, "presets/weproxies/usage.json", &server))
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config("weproxies", &server, "")).await;
    let m = exporter.metrics().await;
    let used = |p| pool(&m, "weproxies", "proxy_traffic_used_bytes", p);
    assert_eq!(used("sub_abc123"), Some(4294967296.0), "{m}");
    assert_eq!(used("sub_def456"), Some(1073741824.0));
    exporter.stop().await;
}

#[tokio::test]
async fn evomi_preset_reads_one_pool_per_product_at_decimal_mb() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/public"))
        .and(header("x-apikey", CREDENTIAL))
        .respond_with(answer(200, "presets/evomi/public.json", &server))
        .expect(1)
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config("evomi", &server, "")).await;
    let m = exporter.metrics().await;
    let remaining = |p| pool(&m, "evomi", "proxy_traffic_remaining_bytes", p);
    let core = remaining("core-residential").unwrap();
    assert!((core - 133_700_848_432.0).abs() < 1.0, "{core}: {m}");
    for product in ["premium-residential", "mobile", "datacenter"] {
        assert_eq!(remaining(product), Some(0.0), "{product}");
    }
    assert!(!m.contains(CREDENTIAL) && !m.contains("proxy_password"));
    exporter.stop().await;
    // One answer for the four pools.
    server.verify().await;

    // A refused key (HTTP 401, as the documents and the official client say).
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config("evomi", &server, "")).await;
    let m = exporter.metrics().await;
    assert_eq!(poll_errors(&m, "summary", "auth"), Some(1.0), "{m}");
    exporter.stop().await;
}

#[tokio::test]
async fn scrapeops_preset_reads_plan_and_used_credits_as_bytes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/proxy/account-residential/usage"))
        .and(query_param("api_key", CREDENTIAL))
        .respond_with(answer(200, "presets/scrapeops/usage.json", &server))
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config("scrapeops", &server, "")).await;
    let m = exporter.metrics().await;
    let figure = |metric| pool(&m, "scrapeops", metric, "residential");
    assert_eq!(figure("proxy_traffic_purchased_bytes"), Some(1e11), "{m}");
    assert_eq!(figure("proxy_traffic_used_bytes"), Some(11_414_211_210.0));
    // remaining = plan - used
    assert_eq!(
        figure("proxy_traffic_remaining_bytes"),
        Some(88_585_788_790.0)
    );
    exporter.stop().await;
}

#[tokio::test]
async fn eclipseproxy_preset_reads_core_residential_and_its_envelope() {
    let server = MockServer::start().await;
    let bearer = format!("Bearer {CREDENTIAL}");
    Mock::given(method("GET"))
        .and(path("/api/user-api/bandwidth"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(answer(200, "presets/eclipseproxy/bandwidth.json", &server))
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config("eclipseproxy", &server, "")).await;
    let m = exporter.metrics().await;
    let core = pool(
        &m,
        "eclipseproxy",
        "proxy_traffic_remaining_bytes",
        "core-residential",
    )
    .unwrap();
    assert!((core - 5321.4 * MIB).abs() < 1.0, "{core}: {m}");
    exporter.stop().await;

    // A status other than "success" fails the endpoint with the message; a
    // 401 (documented) is reason auth.
    for (status, body, reason) in [
        (
            200,
            r#"{"status": "error", "message": "Something failed"}"#,
            "api",
        ),
        (
            401,
            r#"{"status": "error", "message": "Unauthorized"}"#,
            "auth",
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(status).set_body_raw(body, "application/json"))
            .mount(&server)
            .await;
        let exporter = Exporter::start(&config("eclipseproxy", &server, "")).await;
        let m = exporter.metrics().await;
        assert_eq!(
            poll_errors(&m, "summary", reason),
            Some(1.0),
            "{status}: {m}"
        );
        exporter.stop().await;
    }
}
