//! The worked examples of docs/custom-providers.md, each run as written against
//! a local simulator of its provider's documented answers
//! (tests/fixtures/custom/): the YAML block after `<!-- example: NAME -->` is
//! taken from the document, only its base URL's scheme and host and its
//! credential are swapped. The simulators accept the credential only where the
//! example puts it (anything else gets 404 and fails the test), and every
//! expected value is worked out here by hand from the fixtures.

use crate::common;

use std::path::Path;

use common::*;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CREDENTIAL: &str = "example-cred-4b7e1a";
/// The key the Thordata example's second credential file is replaced by.
const THORDATA_KEY: &str = "example-key-8d2c5f";
const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The YAML block right after `<!-- example: NAME -->` in the document.
fn example(name: &str) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/custom-providers.md");
    let doc = std::fs::read_to_string(&file).unwrap();
    let marker = format!("<!-- example: {name} -->\n");
    let start = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker:?} in the document"))
        + marker.len();
    let block = doc[start..]
        .strip_prefix("```yaml\n")
        .unwrap_or_else(|| panic!("{name}: the marker's next line must open a yaml block"));
    let end = block.find("\n```").expect("the yaml block ends");
    block[..=end].to_owned()
}

/// The example `name` against `server`: its `base_url` on the server (path
/// kept), its credential file replaced by [`CREDENTIAL`] (and a second
/// credential file by [`THORDATA_KEY`]).
fn config(name: &str, server: &MockServer) -> String {
    let (mut urls, mut credentials) = (0, 0);
    let yaml: String = example(name)
        .lines()
        .map(|line| {
            let key = line.trim_start();
            let indent = &line[..line.len() - key.len()];
            if let Some(url) = key.strip_prefix("base_url:") {
                urls += 1;
                let url = url.split_whitespace().next().expect("a URL");
                let (_, rest) = url.split_once("://").expect("an absolute URL");
                let path = rest.find('/').map_or("", |i| &rest[i..]);
                format!("{indent}base_url: {}{path}\n", server.uri())
            } else if key.starts_with("second_credential_file:") {
                format!("{indent}second_credential: {THORDATA_KEY}\n")
            } else if key.starts_with("credential_file:") || key.starts_with("credential:") {
                credentials += 1;
                format!("{indent}credential: {CREDENTIAL}\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    assert_eq!((urls, credentials), (1, 1), "{name}: {yaml}");
    yaml
}

/// A fixture of tests/fixtures/custom/, `{{base}}` made the server's URL.
fn answer(status: u16, file: &str, server: &MockServer) -> ResponseTemplate {
    let body = fixture(&format!("custom/{file}")).replace("{{base}}", &server.uri());
    ResponseTemplate::new(status).set_body_raw(body, "application/json")
}

fn up(m: &str) -> Option<f64> {
    value(m, "proxy_up", &[])
}

/// An account's value of `metric`.
fn account(m: &str, metric: &str, name: &str, product: &str) -> Option<f64> {
    value(m, metric, &[("account", name), ("product", product)])
}

/// Every endpoint failed with `reason`, and no figure is exported.
fn failed_with(m: &str, endpoints: &[&str], reason: &str) {
    for endpoint in endpoints {
        assert_eq!(
            poll_errors(m, endpoint, reason),
            Some(1.0),
            "{endpoint}: {m}"
        );
    }
    for family in [
        "proxy_traffic_remaining_bytes",
        "proxy_traffic_purchased_bytes",
        "proxy_traffic_used_bytes",
        "proxy_account_used_bytes",
        "proxy_static_ip_expiry_timestamp_seconds",
    ] {
        assert!(samples(m, family).is_empty(), "{family}: {m}");
    }
    assert_eq!(up(m), Some(0.0));
    assert!(!m.contains(CREDENTIAL));
}

/// Example `name` against a server that answers HTTP `status` (with the fixture
/// `body`, if any) to its every request, one per endpoint: each of `endpoints`
/// fails with reason `auth`.
async fn refused(name: &str, status: u16, body: Option<&str>, endpoints: &[&str]) {
    let server = MockServer::start().await;
    let reply = match body {
        Some(file) => answer(status, file, &server),
        None => ResponseTemplate::new(status),
    };
    Mock::given(method("GET"))
        .respond_with(reply)
        .expect(endpoints.len() as u64)
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config(name, &server)).await;
    let m = exporter.metrics().await;
    failed_with(&m, endpoints, "auth");
    exporter.stop().await;
}

#[test]
fn the_reference_block_is_a_valid_configuration() {
    let yaml = example("reference").replace(
        "credential_file: /run/secrets/other",
        &format!("credential: {CREDENTIAL}"),
    );
    let config = proxy_quota_exporter::Config::parse(&yaml, Path::new("test.yml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let target = &config.targets[0];
    assert_eq!(target.display_name.as_deref(), Some("Other Proxy"));
    assert_eq!(target.endpoints.len(), 3, "summary, accounts, static_ips");
}

async fn iproyal_mocks(server: &MockServer) {
    let bearer = format!("Bearer {CREDENTIAL}");
    Mock::given(method("GET"))
        .and(path("/v1/me"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(answer(200, "iproyal/me.json", server))
        .expect(1)
        .mount(server)
        .await;
    // The simulator caps pages at 2 sub-users whatever is asked (meta.per_page).
    for page in ["1", "2"] {
        Mock::given(method("GET"))
            .and(path("/v1/residential-subusers"))
            .and(query_param("page", page))
            .and(query_param("per_page", "100"))
            .and(header("authorization", bearer.as_str()))
            .respond_with(answer(
                200,
                &format!("iproyal/subusers-page{page}.json"),
                server,
            ))
            .expect(1)
            .mount(server)
            .await;
    }
}

#[tokio::test]
async fn iproyal_example_reads_the_balance_and_every_page_of_sub_users() {
    let server = MockServer::start().await;
    iproyal_mocks(&server).await;
    let exporter = Exporter::start(&config("iproyal", &server)).await;
    let m = exporter.metrics().await;
    assert_eq!(up(&m), Some(1.0), "{m}");
    assert_eq!(
        value(
            &m,
            "proxy_traffic_remaining_bytes",
            &[
                ("provider", "custom"),
                ("target", "iproyal"),
                ("pool", "residential")
            ]
        ),
        Some((32.6 * GIB).round())
    );
    let used = |name| account(&m, "proxy_account_used_bytes", name, "residential");
    assert_eq!(used("team-a"), Some(2.5 * GIB));
    assert_eq!(used("team-b"), Some(0.0));
    assert_eq!(used("team-c"), Some(GIB), "from page 2");
    assert_eq!(samples(&m, "proxy_account_used_bytes").len(), 3);
    assert_eq!(samples(&m, "proxy_account_info").len(), 3);
    assert!(samples(&m, "proxy_account_limit_bytes").is_empty());
    assert!(samples(&m, "proxy_account_enabled").is_empty());
    exporter.stop().await;
    server.verify().await;
}

#[tokio::test]
async fn iproyal_example_counts_a_refused_token_as_auth() {
    refused(
        "iproyal",
        401,
        Some("iproyal/unauthenticated.json"),
        &["summary", "accounts"],
    )
    .await;
}

#[tokio::test]
async fn webshare_example_follows_next_links_and_reads_bytes_beside_gb() {
    let server = MockServer::start().await;
    let token = format!("Token {CREDENTIAL}");
    Mock::given(method("GET"))
        .and(path("/api/v2/stats/aggregate/"))
        .and(header("authorization", token.as_str()))
        .respond_with(answer(200, "webshare/stats-aggregate.json", &server))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/subuser/"))
        .and(query_param("page_size", "100"))
        .and(query_param_is_missing("page"))
        .and(header("authorization", token.as_str()))
        .respond_with(answer(200, "webshare/subusers-page1.json", &server))
        .expect(1)
        .mount(&server)
        .await;
    // Reached only through page 1's absolute `next` link.
    Mock::given(method("GET"))
        .and(path("/api/v2/subuser/"))
        .and(query_param("page", "2"))
        .and(query_param("page_size", "100"))
        .and(header("authorization", token.as_str()))
        .respond_with(answer(200, "webshare/subusers-page2.json", &server))
        .expect(1)
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config("webshare", &server)).await;
    let m = exporter.metrics().await;
    assert_eq!(up(&m), Some(1.0), "{m}");
    assert_eq!(
        value(
            &m,
            "proxy_traffic_used_bytes",
            &[("target", "webshare"), ("pool", "proxy")]
        ),
        Some(5000.0),
        "bytes, unscaled"
    );
    let used = |name| account(&m, "proxy_account_used_bytes", name, "default");
    let limit = |name| account(&m, "proxy_account_limit_bytes", name, "default");
    assert_eq!(used("team-a"), Some(2.5e9));
    assert_eq!(used("team-b"), Some(0.0));
    assert_eq!(used("team-c"), Some(1e9), "from the next page");
    assert_eq!(limit("team-a"), Some(10.0e9), "GB at unit_base 1000");
    assert_eq!(limit("team-b"), None, "proxy_limit 0: unlimited");
    assert_eq!(limit("team-c"), Some(1e9));
    assert_eq!(samples(&m, "proxy_account_used_bytes").len(), 3);
    exporter.stop().await;
    server.verify().await;
}

#[tokio::test]
async fn webshare_example_counts_an_invalid_token_as_auth() {
    refused(
        "webshare",
        401,
        Some("webshare/invalid-token.json"),
        &["summary", "accounts"],
    )
    .await;
}

/// A Thordata request: the token as the credential, the key as the second.
fn thordata(at: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(at))
        .and(query_param("token", CREDENTIAL))
        .and(query_param("key", THORDATA_KEY))
}

#[tokio::test]
async fn thordata_example_checks_the_envelope_and_sends_token_and_key() {
    let server = MockServer::start().await;
    thordata("/api/account/traffic-balance")
        .respond_with(answer(200, "thordata/traffic-balance.json", &server))
        .expect(1)
        .mount(&server)
        .await;
    thordata("/api/proxy-users/user-list")
        .and(query_param("proxy_type", "1"))
        .respond_with(answer(200, "thordata/user-list.json", &server))
        .expect(1)
        .mount(&server)
        .await;
    thordata("/api/proxy/proxy-list")
        .and(query_param("proxy_type", "1"))
        .respond_with(answer(200, "thordata/proxy-list.json", &server))
        .expect(1)
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config("thordata", &server)).await;
    let m = exporter.metrics().await;
    assert_eq!(up(&m), Some(1.0), "{m}");
    assert_eq!(
        value(
            &m,
            "proxy_traffic_remaining_bytes",
            &[("target", "thordata"), ("pool", "residential")]
        ),
        Some(10000.0 * MIB)
    );
    let get = |metric, name| account(&m, metric, name, "residential");
    assert_eq!(
        get("proxy_account_used_bytes", "team-a"),
        Some((2048.5 * KIB).round()),
        "KB"
    );
    assert_eq!(
        get("proxy_account_limit_bytes", "team-a"),
        Some(10240.0 * MIB)
    );
    assert_eq!(get("proxy_account_enabled", "team-a"), Some(1.0));
    assert_eq!(get("proxy_account_used_bytes", "team-b"), Some(0.0));
    assert_eq!(
        get("proxy_account_limit_bytes", "team-b"),
        None,
        "0: unlimited"
    );
    assert_eq!(get("proxy_account_enabled", "team-b"), Some(0.0));
    // "2025-03-13 14:21" at +08:00 is 2025-03-13 06:21 UTC.
    assert_eq!(
        value(
            &m,
            "proxy_static_ip_expiry_timestamp_seconds",
            &[("ip", "1.1.1.1"), ("product", "isp"), ("country", "US")]
        ),
        Some(1741846860.0)
    );
    assert!(!m.contains(CREDENTIAL) && !m.contains(THORDATA_KEY));
    exporter.stop().await;
    server.verify().await;
}

#[tokio::test]
async fn thordata_example_counts_a_token_error_as_auth_and_other_codes_as_api() {
    let server = MockServer::start().await;
    for at in ["/api/account/traffic-balance", "/api/proxy-users/user-list"] {
        thordata(at)
            .respond_with(answer(200, "thordata/public-token-error.json", &server))
            .expect(1)
            .mount(&server)
            .await;
    }
    thordata("/api/proxy/proxy-list")
        .respond_with(answer(200, "thordata/parameter-error.json", &server))
        .expect(1)
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config("thordata", &server)).await;
    let m = exporter.metrics().await;
    failed_with(&m, &["summary", "accounts"], "auth");
    assert_eq!(poll_errors(&m, "static_ips", "api"), Some(1.0), "{m}");
    let status = exporter.get("/api/v1/status").await.text().await.unwrap();
    assert!(
        status.contains(
            "GET /api/account/traffic-balance: /code is 10013, not 200: public token error"
        ),
        "{status}"
    );
    assert!(!status.contains(CREDENTIAL) && !status.contains(THORDATA_KEY));
    exporter.stop().await;
    server.verify().await;
}

#[tokio::test]
async fn goproxy_example_reads_gb_given_as_strings() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/go-api/v1/account/plan"))
        .and(query_param("proxyType", "1"))
        .and(header("apikey", CREDENTIAL))
        .respond_with(answer(200, "goproxy/account-plan.json", &server))
        .expect(1)
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config("goproxy", &server)).await;
    let m = exporter.metrics().await;
    assert_eq!(up(&m), Some(1.0), "{m}");
    let pool = [("target", "goproxy"), ("pool", "residential")];
    assert_eq!(
        value(&m, "proxy_traffic_remaining_bytes", &pool),
        Some((0.9 * GIB).round()),
        "\"0.9\""
    );
    assert_eq!(
        value(&m, "proxy_traffic_purchased_bytes", &pool),
        Some(GIB),
        "\"1.0\""
    );
    exporter.stop().await;
    server.verify().await;
}

#[tokio::test]
async fn goproxy_example_counts_a_refused_key_as_auth() {
    refused("goproxy", 401, None, &["summary"]).await;
}
