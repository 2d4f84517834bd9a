//! The HTTP surface besides `/metrics`: landing page, health and readiness,
//! unknown paths and methods.

use crate::common;

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

/// An exporter whose upstream refuses connections (the HTTP surface does not need
/// one), with `options`.
async fn start_offline(options: proxy_quota_exporter::Options) -> Exporter {
    let yaml = gateway_config("bestproxy", "http://127.0.0.1:9", "[summary]");
    Exporter::start_with(&yaml, options).await
}

/// Sends `method` to `path` with `headers`; returns the status, headers and body.
async fn send(
    exporter: &Exporter,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request =
        reqwest::Client::new().request(method, format!("http://{}{path}", exporter.addr));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn assert_nosniff(what: &str, headers: &reqwest::header::HeaderMap) {
    assert_eq!(
        headers
            .get("x-content-type-options")
            .map(|v| v.to_str().unwrap()),
        Some("nosniff"),
        "{what}: {headers:?}"
    );
}

#[tokio::test]
async fn an_unknown_path_is_404_for_every_method_and_a_405_says_what_is_allowed() {
    let exporter = start_offline(proxy_quota_exporter::Options::default()).await;
    for method in ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
        for path in [
            "/nothing-here",
            "/-/nothing",
            "/metrics/",
            "/static/other.js",
        ] {
            let (status, _, _) = send(&exporter, method, path, &[]).await;
            assert_eq!(status, 404, "{method} {path}");
        }
    }
    for path in [
        "/metrics",
        "/probe?target=x",
        "/",
        "/api/v1/status",
        "/static/page.css",
        "/-/healthy",
        "/-/ready",
    ] {
        for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
            let (status, headers, _) = send(&exporter, method, path, &[]).await;
            assert_eq!(status, 405, "{method} {path}");
            assert_eq!(headers["allow"], "GET, HEAD", "{method} {path}");
        }
    }
    for method in ["GET", "HEAD", "DELETE"] {
        let (status, headers, _) = send(&exporter, method, "/-/reload", &[]).await;
        assert_eq!(status, 405, "{method} /-/reload");
        assert_eq!(headers["allow"], "POST, PUT", "{method} /-/reload");
    }
    exporter.stop().await;
}

#[tokio::test]
async fn every_response_says_nosniff_and_a_reflected_name_stays_plain_text() {
    let exporter = start_offline(proxy_quota_exporter::Options::default()).await;
    for (method, path, expected) in [
        ("GET", "/metrics", 200),
        ("GET", "/", 200),
        ("GET", "/api/v1/status", 200),
        ("GET", "/static/page.js", 200),
        ("GET", "/-/healthy", 200),
        ("HEAD", "/metrics", 200),
        ("GET", "/probe", 400),
        ("GET", "/nothing", 404),
        ("POST", "/metrics", 405),
        ("POST", "/-/reload", 400),
    ] {
        let (status, headers, _) = send(&exporter, method, path, &[]).await;
        assert_eq!(status, expected, "{method} {path}");
        assert_nosniff(&format!("{method} {path}"), &headers);
    }
    // A probe of an unknown target names it: as plain text a browser may not
    // take for HTML.
    let (status, headers, body) = send(
        &exporter,
        "GET",
        "/probe?target=%3Cscript%3Ealert(1)%3C/script%3E",
        &[],
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_nosniff("probe of an unknown target", &headers);
    assert!(body.starts_with("Unknown target"), "{body}");
    exporter.stop().await;
}

#[tokio::test]
async fn the_auth_scheme_is_case_insensitive_and_a_401_says_nosniff() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web.yml");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(&file, format!("basic_auth_users:\n  prometheus: {hash}\n")).unwrap();
    let exporter = start_offline(proxy_quota_exporter::Options {
        web: Some(proxy_quota_exporter::web::WebConfig::load(&file).unwrap()),
        ..Default::default()
    })
    .await;
    let token = base64::engine::general_purpose::STANDARD.encode("prometheus:s3cret");
    // RFC 7235 section 2.1: the scheme is a case-insensitive token.
    for scheme in ["Basic", "basic", "BASIC", "bAsIc"] {
        let authorization = format!("{scheme} {token}");
        let (status, _, _) = send(
            &exporter,
            "GET",
            "/-/healthy",
            &[("authorization", &authorization)],
        )
        .await;
        assert_eq!(status, 200, "{authorization}");
    }
    let wrong = base64::engine::general_purpose::STANDARD.encode("prometheus:nope");
    for authorization in [
        format!("BASIC {wrong}"),
        format!("Bearer {token}"),
        format!("Basics {token}"),
        format!("Basic{token}"),
        token.clone(),
        String::new(),
    ] {
        let (status, headers, body) = send(
            &exporter,
            "GET",
            "/metrics",
            &[("authorization", &authorization)],
        )
        .await;
        assert_eq!(status, 401, "{authorization:?}");
        assert!(headers.contains_key("www-authenticate"));
        assert_nosniff("401", &headers);
        assert!(!body.contains("proxy_"), "{body}");
    }
    // Authentication comes first: an unknown path is 401 too, telling nothing.
    let (status, _, _) = send(&exporter, "POST", "/nothing", &[]).await;
    assert_eq!(status, 401);
    exporter.stop().await;
}

#[tokio::test]
async fn a_cross_origin_browser_request_cannot_reload() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    std::fs::write(
        &file,
        gateway_config("bestproxy", "http://127.0.0.1:9", "[summary]"),
    )
    .unwrap();
    let exporter = Exporter::start_with(
        &std::fs::read_to_string(&file).unwrap(),
        proxy_quota_exporter::Options {
            config_file: Some(file.clone()),
            ..Default::default()
        },
    )
    .await;
    let own = format!("http://{}", exporter.addr);
    let own_localhost = format!("http://localhost:{}", exporter.addr.port());
    let other_port = format!("http://127.0.0.1:{}", exporter.addr.port() ^ 1);
    let other_scheme = format!("https://{}", exporter.addr);
    let refused: &[&[(&str, &str)]] = &[
        &[("origin", "http://evil.example")],
        &[("origin", "null")],
        &[("origin", &other_port)],
        &[("origin", &other_scheme)],
        &[("origin", &own_localhost)],
        &[("origin", "not a url")],
        &[("sec-fetch-site", "cross-site")],
        // Another port of the same host is another origin, but the same site.
        &[("sec-fetch-site", "same-site")],
        &[
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://evil.example"),
        ],
        &[("origin", "http://evil.example"), ("referer", &own)],
    ];
    for method in ["POST", "PUT"] {
        for headers in refused {
            let (status, response, body) = send(&exporter, method, "/-/reload", headers).await;
            assert_eq!(status, 403, "{method} {headers:?}: {body}");
            assert_eq!(response["content-type"], "text/plain; charset=utf-8");
            assert_nosniff("403", &response);
            assert!(body.contains("cross-origin"), "{body}");
        }
    }
    // Curl, Prometheus and kill -HUP tooling send neither header; a browser on the
    // exporter's own page sends its own origin.
    let allowed: &[&[(&str, &str)]] = &[
        &[],
        &[("origin", &own)],
        &[("sec-fetch-site", "same-origin")],
        &[("sec-fetch-site", "same-origin"), ("origin", &own)],
        &[("sec-fetch-site", "none")],
    ];
    for headers in allowed {
        let (status, _, body) = send(&exporter, "POST", "/-/reload", headers).await;
        assert_eq!(status, 200, "{headers:?}: {body}");
    }
    exporter.stop().await;
}
