//! `proxy-quota-exporter discover`: one GET with the credential, the pointers
//! of the answer's figures, and the credential in no form on the output.

use crate::common;

use common::*;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CREDENTIAL: &str = "987654321012";

fn discover(url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_proxy-quota-exporter"))
        .args(["discover", "--url", url])
        .args(args)
        .env("PROXY_QUOTA_EXPORTER_DISCOVER_CREDENTIAL", CREDENTIAL)
        .output()
        .unwrap()
}

#[tokio::test]
async fn discover_lists_pointers_and_never_the_credential() {
    let server = MockServer::start().await;
    let body = fixture("custom/goproxy/account-plan.json").replace(
        "\"billingCycle\"",
        &format!("\"echo\": \"{CREDENTIAL}\", \"billingCycle\""),
    );
    Mock::given(method("GET"))
        .and(path("/go-api/v1/account/plan"))
        .and(header("apiKey", CREDENTIAL))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/go-api/v1/account/plan?proxyType=1", server.uri());
    let out = tokio::task::spawn_blocking(move || discover(&url, &["--header", "apiKey"]))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "/plan ",
        "/plan/0/totalTraffic",
        "/plan/0/availableTraffic",
        "/plan/0/status",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    assert!(!text.contains(CREDENTIAL), "{text}");
    assert!(text.contains("redacted"), "{text}");
    server.verify().await;
}

#[tokio::test]
async fn discover_errors_name_the_path_and_not_the_credential() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let url = format!("{}/v1/me", server.uri());
    let out = tokio::task::spawn_blocking(move || discover(&url, &["--query", "key"]))
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("/v1/me") && err.contains("401"), "{err}");
    assert!(!err.contains(CREDENTIAL), "{err}");
}
