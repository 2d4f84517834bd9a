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
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    let page = response.text().await.unwrap();
    assert!(page.contains("good <small>BestProxy</small>"), "{page}");
    assert!(page.contains("revoked <small>ProxyLite</small>"), "{page}");
    assert!(
        page.contains("512.0 MiB left</strong> of 768.0 MiB"),
        "{page}"
    );
    assert!(page.contains("Last poll <time datetime=\"20"), "{page}");
    // The upstream's message is escaped, never rendered as HTML; the failing
    // endpoint's table is open, the healthy one's folded.
    assert!(
        page.contains("app_key rejected (code 3: app_key &lt;invalid&gt;) (auth)"),
        "{page}"
    );
    assert!(page.contains("<details class=\"endpoints\" open><summary>Endpoints: 1 of 1 failing"));
    assert!(page.contains("<details class=\"endpoints\"><summary>Endpoints: all 1 ok"));
    assert!(page.contains("href=\"/metrics\""));
    assert!(page.contains("every target polled"));
    // Nothing inline that a strict policy would block.
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "{page}"
    );
    for (asset, content_type) in [
        ("/static/page.css", "text/css; charset=utf-8"),
        ("/static/page.js", "text/javascript; charset=utf-8"),
    ] {
        let response = exporter.get(asset).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], content_type);
    }

    // The status API says the same.
    let status: serde_json::Value =
        serde_json::from_str(&exporter.get("/api/v1/status").await.text().await.unwrap()).unwrap();
    let targets = status["targets"].as_array().unwrap();
    assert_eq!(targets[0]["name"], "good");
    assert_eq!(targets[0]["up"], true);
    assert_eq!(targets[0]["pools"][0]["remaining_bytes"], 536870912.0);
    assert_eq!(targets[1]["up"], false);
    assert_eq!(targets[1]["endpoints"][0]["reason"], "auth");
    assert_eq!(status["agent"], false);
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
