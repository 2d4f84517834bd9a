//! The HTTP surface besides `/metrics`: landing page, health and readiness,
//! unknown paths and methods.

mod common;

use common::*;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn landing_page_shows_each_target_with_its_status_and_last_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/gateway/user-product/summary"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("gateway/summary.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/end-point/user-product/summary"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"code": 3, "msg": "app_key <invalid>", "data": null})),
        )
        .mount(&server)
        .await;
    let yaml = format!(
        "targets:\n  - name: good\n    provider: bestproxy\n    base_url: {uri}\n    app_key: k\n    endpoints: [summary]\n  - name: revoked\n    provider: proxylite\n    base_url: {uri}\n    app_key: k\n    endpoints: [summary]\n",
        uri = server.uri()
    );
    let exporter = Exporter::start(&yaml).await;
    exporter.wait_ready().await;
    let response = exporter.get("/").await;
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("good <small>(BestProxy)</small>"), "{page}");
    assert!(
        page.contains("revoked <small>(ProxyLite)</small>"),
        "{page}"
    );
    assert!(page.contains("Last poll 20"), "{page}");
    // The upstream's message is escaped, never rendered as HTML.
    assert!(
        page.contains("auth: app_key rejected (code 3: app_key &lt;invalid&gt;)"),
        "{page}"
    );
    assert!(page.contains("href=\"/metrics\""));
    assert!(page.contains("Readiness</a>: ready"));
    assert!(!page.contains("<script"), "readable without JavaScript");
    exporter.stop().await;
}

#[tokio::test]
async fn health_readiness_and_unknown_paths() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(fixture("gateway/summary.json"))
                .set_delay(std::time::Duration::from_millis(800)),
        )
        .mount(&server)
        .await;
    let exporter = Exporter::start(&format!(
        "targets:\n  - name: slow\n    provider: bestproxy\n    base_url: {}\n    app_key: k\n    endpoints: [summary]\n",
        server.uri()
    ))
    .await;
    // Before the first poll finished: alive, not ready.
    assert_eq!(exporter.get("/-/healthy").await.status(), 200);
    assert_eq!(exporter.get("/-/ready").await.status(), 503);
    exporter.wait_ready().await;
    assert_eq!(exporter.get("/-/ready").await.status(), 200);
    assert_eq!(exporter.get("/nothing-here").await.status(), 404);
    let post = reqwest::Client::new()
        .post(format!("http://{}/metrics", exporter.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    exporter.stop().await;
}

#[tokio::test]
async fn metrics_are_gzipped_when_asked_and_identical_once_unpacked() {
    use std::io::Read as _;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("gateway/summary.json")))
        .mount(&server)
        .await;
    let exporter = Exporter::start(&format!(
        "targets:\n  - name: t\n    provider: bestproxy\n    base_url: {}\n    app_key: k\n    endpoints: [summary]\n",
        server.uri()
    ))
    .await;
    exporter.wait_ready().await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/metrics", exporter.addr);
    let plain = client.get(&url).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.text().await.unwrap();
    let zipped = client
        .get(&url)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert_eq!(zipped.headers()["vary"], "Accept-Encoding");
    let bytes = zipped.bytes().await.unwrap();
    // Two gzip members (targets, process): a multi-member reader sees one stream.
    let mut unpacked = String::new();
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .read_to_string(&mut unpacked)
        .unwrap();
    let without_process = |text: &str| {
        text.lines()
            .filter(|l| !l.contains("process_"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(without_process(&unpacked), without_process(&plain));
    assert!(unpacked.contains("process_resident_memory_bytes"));
    exporter.stop().await;
}
