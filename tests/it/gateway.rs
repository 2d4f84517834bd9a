//! The BestProxy / ProxyLite family against wiremock upstreams built from the API
//! documents' own examples: one test per endpoint, paging, loose numbers,
//! unlimited accounts, awkward remarks, the API's error codes, and the `stock`
//! endpoint's own cadence.

use crate::common;

use common::*;
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Mounts `body` for GET `path` with the right app_key.
async fn mount(server: &MockServer, api_path: &str, body: impl Into<serde_json::Value>) {
    Mock::given(method("GET"))
        .and(path(api_path))
        .and(query_param("app_key", APP_KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(body.into()))
        .mount(server)
        .await;
}

async fn exporter(provider: &str, server: &MockServer, endpoints: &str) -> Exporter {
    Exporter::start(&gateway_config(provider, &server.uri(), endpoints)).await
}

#[tokio::test]
async fn summary_from_the_documents_example() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/end-point/user-product/summary"))
        .and(query_param("app_key", APP_KEY))
        .and(query_param("product_type", "9"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("gateway/summary.json")))
        .expect(1..)
        .mount(&server)
        .await;
    let exporter = exporter("proxylite", &server, "[summary]").await;
    let m = exporter.metrics().await;
    let pool = [
        ("provider", "proxylite"),
        ("target", "proxylite-main"),
        ("pool", "dynamic_residential"),
    ];
    // 524288 KB = 512 MiB = 0.5 GiB.
    assert_eq!(
        value(&m, "proxy_traffic_remaining_bytes", &pool),
        Some(524288.0 * 1024.0)
    );
    assert_eq!(
        value(&m, "proxy_traffic_purchased_bytes", &pool),
        Some(786432.0 * 1024.0)
    );
    assert_eq!(
        value(&m, "proxy_traffic_used_bytes", &pool),
        Some(262144.0 * 1024.0)
    );
    assert_eq!(
        value(&m, "proxy_traffic_expiring_bytes", &pool),
        Some(102400.0 * 1024.0)
    );
    assert_eq!(
        value(&m, "proxy_traffic_expired_bytes", &pool),
        Some(51200.0 * 1024.0)
    );
    assert_eq!(
        value(&m, "proxy_traffic_lifetime_purchased_bytes", &pool),
        Some(GIB)
    );
    assert_eq!(
        value(&m, "proxy_traffic_lifetime_used_bytes", &pool),
        Some(473088.0 * 1024.0)
    );
    for (state, n) in [
        ("total", 5.0),
        ("active", 3.0),
        ("expiring", 1.0),
        ("expired", 1.0),
    ] {
        let labels = [("pool", "dynamic_residential"), ("state", state)];
        assert_eq!(value(&m, "proxy_packages", &labels), Some(n), "{state}");
    }
    assert_eq!(
        value(&m, "proxy_up", &[("target", "proxylite-main")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_success",
            &[("endpoint", "summary")]
        ),
        Some(1.0)
    );
    exporter.stop().await;
}

#[tokio::test]
async fn summary_is_fetched_once_per_product_type_with_numeric_strings() {
    let server = MockServer::start().await;
    let mut long_term = fixture_json("gateway/summary.json");
    // Numbers as strings and floats are accepted like integers.
    long_term["data"]["effective"] = json!("2048");
    long_term["data"]["effective_total"] = json!(4096.0);
    long_term["data"]["effective_used"] = json!(" 2048 ");
    Mock::given(method("GET"))
        .and(path("/gateway/user-product/summary"))
        .and(query_param("product_type", "12"))
        .respond_with(ResponseTemplate::new(200).set_body_json(long_term))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/gateway/user-product/summary"))
        .and(query_param("product_type", "9"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("gateway/summary.json")))
        .mount(&server)
        .await;
    let yaml =
        gateway_config("bestproxy", &server.uri(), "[summary]") + "    product_types: [9, 12]\n";
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(
            &m,
            "proxy_traffic_remaining_bytes",
            &[("pool", "long_term_idc")]
        ),
        Some(2048.0 * 1024.0)
    );
    assert_eq!(
        value(
            &m,
            "proxy_traffic_purchased_bytes",
            &[("pool", "long_term_idc")]
        ),
        Some(4096.0 * 1024.0)
    );
    assert_eq!(
        value(&m, "proxy_traffic_used_bytes", &[("pool", "long_term_idc")]),
        Some(2048.0 * 1024.0)
    );
    assert_eq!(
        value(
            &m,
            "proxy_traffic_remaining_bytes",
            &[("pool", "dynamic_residential")]
        ),
        Some(524288.0 * 1024.0)
    );
    exporter.stop().await;
}

#[tokio::test]
async fn a_non_numeric_string_is_a_decode_error_not_a_zero() {
    let server = MockServer::start().await;
    let mut body = fixture_json("gateway/summary.json");
    body["data"]["effective"] = json!("plenty");
    mount(&server, "/gateway/user-product/summary", body).await;
    let exporter = exporter("bestproxy", &server, "[summary]").await;
    let m = exporter.metrics().await;
    assert!(
        samples(&m, "proxy_traffic_remaining_bytes").is_empty(),
        "{m}"
    );
    assert_eq!(value(&m, "proxy_up", &[]), Some(0.0));
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_errors_total",
            &[("endpoint", "summary"), ("reason", "decode")]
        ),
        Some(1.0)
    );
    exporter.stop().await;
}

#[tokio::test]
async fn usage_today_and_yesterday_in_the_provider_calendar() {
    let server = MockServer::start().await;
    let body = json!({"code": 200, "msg": "string", "data": {"list": [
        {"day": provider_date(-3), "flow": 999999},
        {"day": provider_date(-1), "flow": 2048},
        {"day": provider_date(0), "flow": "1024"},
    ]}});
    mount(&server, "/gateway/user-usage-flow/total", body).await;
    let exporter = exporter("bestproxy", &server, "[usage]").await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(
            &m,
            "proxy_usage_today_bytes",
            &[("target", "bestproxy-main")]
        ),
        Some(1024.0 * 1024.0)
    );
    assert_eq!(
        value(&m, "proxy_usage_yesterday_bytes", &[]),
        Some(2048.0 * 1024.0)
    );
    // Only the two days needed are asked for: start_time is yesterday's midnight.
    let requests = server.received_requests().await.unwrap();
    let start = format!("{} 00:00:00", provider_date(-1));
    assert!(requests.iter().all(|r| r
        .url
        .query_pairs()
        .any(|(k, v)| k == "start_time" && v == start)));
    exporter.stop().await;
}

#[tokio::test]
async fn usage_from_the_documents_example_has_no_usage_today() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/gateway/user-usage-flow/total",
        fixture_json("gateway/usage.json"),
    )
    .await;
    let exporter = exporter("bestproxy", &server, "[usage]").await;
    let m = exporter.metrics().await;
    // The example's only day is 2022-08-01: nothing was used today or yesterday.
    assert_eq!(value(&m, "proxy_usage_today_bytes", &[]), Some(0.0));
    assert_eq!(value(&m, "proxy_usage_yesterday_bytes", &[]), Some(0.0));
    assert_eq!(value(&m, "proxy_up", &[]), Some(1.0));
    exporter.stop().await;
}

#[tokio::test]
async fn packages_from_the_documents_example() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/gateway/user-product/list",
        fixture_json("gateway/packages.json"),
    )
    .await;
    let exporter = exporter("bestproxy", &server, "[packages]").await;
    let m = exporter.metrics().await;
    // 2022-05-13 12:14:15 at +08:00.
    let labels = [("package_id", "0"), ("product", "dynamic_residential")];
    assert_eq!(
        value(&m, "proxy_package_expiry_timestamp_seconds", &labels),
        Some(1652415255.0)
    );
    exporter.stop().await;
}

#[tokio::test]
async fn packages_are_read_across_every_page() {
    let server = MockServer::start().await;
    for page in 1..=3 {
        let list: Vec<_> = (0..if page < 3 { 100 } else { 7 })
            .map(|i| json!({"id": page * 1000 + i, "expired_at": "2030-01-01 00:00:00", "product_type": 9}))
            .collect();
        let body = json!({"code": 200, "msg": "ok", "data": {
            "list": list, "page": page, "page_size": 100, "total_count": 207, "total_page": 3}});
        Mock::given(method("GET"))
            .and(path("/gateway/user-product/list"))
            .and(query_param("page", page.to_string()))
            .and(query_param("size", "100"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1..)
            .mount(&server)
            .await;
    }
    let exporter = exporter("bestproxy", &server, "[packages]").await;
    let m = exporter.metrics().await;
    assert_eq!(
        samples(&m, "proxy_package_expiry_timestamp_seconds").len(),
        207
    );
    assert!(value(
        &m,
        "proxy_package_expiry_timestamp_seconds",
        &[("package_id", "3006")]
    )
    .is_some());
    exporter.stop().await;
}

#[tokio::test]
async fn accounts_from_the_documents_example() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/gateway/whitelist-account/list",
        fixture_json("gateway/accounts.json"),
    )
    .await;
    let exporter = exporter("bestproxy", &server, "[accounts]").await;
    let m = exporter.metrics().await;
    let labels = [("account", "string"), ("product", "dynamic_residential")];
    assert_eq!(value(&m, "proxy_account_used_bytes", &labels), Some(0.0));
    // limit_flow 102400 GB = 100 TiB.
    assert_eq!(
        value(&m, "proxy_account_limit_bytes", &labels),
        Some(102400.0 * GIB)
    );
    assert_eq!(value(&m, "proxy_account_enabled", &labels), Some(0.0));
    assert_eq!(
        value(&m, "proxy_account_info", &[("remark", "string")]),
        Some(1.0)
    );
    exporter.stop().await;
}

#[tokio::test]
async fn unlimited_accounts_have_no_limit_and_remarks_are_escaped() {
    let server = MockServer::start().await;
    let remark = "say \"hi\" \\ then\nnew line";
    let body = json!({"code": 200, "msg": "ok", "data": {"list": [
        {"id": 1, "username": "unlimited", "password": "pw-never-exported", "remark": remark,
         "product_type": 9, "usage_flow": "1048576", "limit_flow": 0, "status": 1},
        {"id": 2, "username": "capped", "password": "pw-never-exported", "remark": null,
         "product_type": 25, "usage_flow": 10.5, "limit_flow": "2", "status": 0},
    ]}});
    mount(&server, "/gateway/whitelist-account/list", body).await;
    let exporter = exporter("bestproxy", &server, "[accounts]").await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(&m, "proxy_account_used_bytes", &[("account", "unlimited")]),
        Some(GIB),
        "{m}"
    );
    assert_eq!(
        value(&m, "proxy_account_limit_bytes", &[("account", "unlimited")]),
        None
    );
    assert_eq!(
        value(&m, "proxy_account_enabled", &[("account", "unlimited")]),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "proxy_account_limit_bytes", &[("account", "capped")]),
        Some(2.0 * GIB)
    );
    assert_eq!(
        value(
            &m,
            "proxy_account_used_bytes",
            &[("product", "static_residential")]
        ),
        Some(10752.0)
    );
    assert!(m.contains(r#"remark="say \"hi\" \\ then new line""#), "{m}");
    assert!(!m.contains("pw-never-exported"));
    let report = promtool_check_metrics(&m);
    assert!(
        !report.contains("error") && !report.contains("exit"),
        "{report}"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn provider_label_values_are_cut_with_a_hash_and_cleaned_the_same_everywhere() {
    let server = MockServer::start().await;
    // A 1 MB name, two long names that differ only after the cut, a remark and
    // an IP of 1 MB, and a name holding NUL, CR and an escape sequence.
    let huge = "n".repeat(1 << 20);
    let twin = |end: char| format!("{}{end}", "t".repeat(5000));
    let accounts = json!({"code": 200, "msg": "ok", "data": {"list": [
        {"id": 1, "username": huge, "password": "pw", "remark": "r".repeat(1 << 20),
         "product_type": 9, "usage_flow": 1040001, "limit_flow": 1, "status": 1},
        {"id": 2, "username": twin('1'), "password": "pw", "remark": null,
         "product_type": 9, "usage_flow": 1040002, "limit_flow": 1, "status": 1},
        {"id": 3, "username": twin('2'), "password": "pw", "remark": null,
         "product_type": 9, "usage_flow": 1040003, "limit_flow": 1, "status": 1},
        {"id": 4, "username": "ctl\u{0}na\rme\u{1b}[31m", "password": "pw", "remark": null,
         "product_type": 9, "usage_flow": 1040004, "limit_flow": 1, "status": 1},
    ]}});
    mount(&server, "/gateway/whitelist-account/list", accounts).await;
    let ips = json!({"code": 200, "msg": "ok", "data": {"list": [
        {"ip": "i".repeat(1 << 20), "product_type": 25, "status": 1, "country": "US",
         "expired_at": "2030-01-01 00:00:00"},
    ], "total": 1}});
    mount(&server, "/gateway/ip/get-static-ip", ips).await;
    let exporter = exporter("bestproxy", &server, "[accounts, static_ips]").await;
    let m = exporter.metrics().await;
    assert!(m.len() < 32 * 1024, "/metrics is {} bytes", m.len());
    assert!(!m.contains('\0') && !m.contains('\r') && !m.contains('\u{1b}'));
    assert_eq!(
        value(
            &m,
            "proxy_account_used_bytes",
            &[("account", "ctlna me[31m")]
        ),
        Some(1040004.0 * 1024.0),
        "control characters removed: {m}"
    );
    // Every long value: cut to 1024 bytes at most, ending in `…` and a hash.
    let used = samples(&m, "proxy_account_used_bytes");
    let label = |line: &str, name: &str| -> String {
        let start = line.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        line[start..].split('"').next().unwrap().to_owned()
    };
    let names: Vec<String> = used.iter().map(|l| label(l, "account")).collect();
    assert_eq!(names.len(), 4, "no two values collide: {names:?}");
    for name in names.iter().filter(|n| n.len() > 100) {
        assert!(name.len() <= 1024, "{} bytes", name.len());
        let (_, hash) = name
            .rsplit_once('…')
            .expect("a cut value ends in … and a hash");
        assert!(
            hash.len() == 12 && hash.chars().all(|c| c.is_ascii_hexdigit()),
            "{hash}"
        );
    }
    let ip = label(
        samples(&m, "proxy_static_ip_expiry_timestamp_seconds")[0],
        "ip",
    );
    assert!(ip.len() <= 1024 && ip.contains('…'), "{ip}");
    // 3 accounts' names, 1 remark, 1 IP: cut at each poll.
    let cut = value(&m, "proxy_exporter_label_values_truncated_total", &[]).unwrap();
    assert!(cut >= 5.0 && cut % 5.0 == 0.0, "{cut}");

    // The same cut value on the status API and the front page (which list the
    // accounts nearest their limit: all four are over 99 %), both bounded.
    let status = exporter.get("/api/v1/status").await.text().await.unwrap();
    let page = exporter.get("/").await.text().await.unwrap();
    for (what, text) in [("status", &status), ("page", &page)] {
        assert!(text.len() < 256 * 1024, "{what} is {} bytes", text.len());
        assert!(!text.contains('\0') && !text.contains('\r'), "{what}");
        assert!(
            text.contains(&names[0][..40]) || text.contains(&names[1][..40]),
            "{what}"
        );
    }
    let longest = names.iter().max_by_key(|n| n.len()).unwrap();
    assert!(
        status.contains(longest.as_str()),
        "the status API shows /metrics' value"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn static_ips_with_counts_for_every_status() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/gateway/ip/get-static-ip",
        fixture_json("gateway/static_ips.json"),
    )
    .await;
    let exporter = exporter("bestproxy", &server, "[static_ips]").await;
    let m = exporter.metrics().await;
    let ip = [
        ("ip", "203.0.113.10"),
        ("product", "static_residential"),
        ("country", "US"),
    ];
    // 2022-06-13 12:14:15 at +08:00.
    assert_eq!(
        value(&m, "proxy_static_ip_expiry_timestamp_seconds", &ip),
        Some(1655093655.0)
    );
    assert!(value(
        &m,
        "proxy_static_ip_expiry_timestamp_seconds",
        &[("ip", "203.0.113.11"), ("product", "static_datacenter")]
    )
    .is_some());
    // No expiry field, no expiry series; but it is counted.
    assert!(value(
        &m,
        "proxy_static_ip_expiry_timestamp_seconds",
        &[("ip", "203.0.113.12")]
    )
    .is_none());
    let count = |product, status| {
        value(
            &m,
            "proxy_static_ips",
            &[("product", product), ("status", status)],
        )
    };
    assert_eq!(count("static_residential", "active"), Some(1.0));
    assert_eq!(count("static_residential", "invalid"), Some(1.0));
    assert_eq!(count("static_residential", "expiring"), Some(0.0));
    assert_eq!(count("static_residential", "maintenance"), Some(0.0));
    assert_eq!(count("static_datacenter", "expiring"), Some(1.0));
    assert_eq!(count("static_datacenter", "maintenance"), Some(1.0));
    assert_eq!(count("static_datacenter", "active"), Some(0.0));
    exporter.stop().await;
}

#[tokio::test]
async fn static_ip_expiry_field_is_configurable_and_numeric_expiry_is_unix_time() {
    let server = MockServer::start().await;
    let body = json!({"code": 200, "data": {"list": [
        {"ip": "198.51.100.7", "product_type": 14, "status": 1, "country_code": "SG", "expire_time": 1900000000},
        {"ip": "198.51.100.8", "product_type": 14, "status": 1, "expire_time": "2030-01-01 08:00:00"},
    ], "total_page": 1}});
    mount(&server, "/gateway/ip/get-static-ip", body).await;
    let yaml = gateway_config("bestproxy", &server.uri(), "[static_ips]")
        + "    static_ip_expiry_field: expire_time\n    timezone: UTC\n";
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(
            &m,
            "proxy_static_ip_expiry_timestamp_seconds",
            &[("ip", "198.51.100.7")]
        ),
        Some(1900000000.0)
    );
    assert_eq!(
        value(
            &m,
            "proxy_static_ip_expiry_timestamp_seconds",
            &[("ip", "198.51.100.8")]
        ),
        Some(1893484800.0)
    );
    exporter.stop().await;
}

/// HTTP 200 with `code: 3`, exactly as the API answers an invalid app_key.
#[tokio::test]
async fn invalid_app_key_is_an_auth_error_and_no_traffic_series() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"code": 3, "msg": "app_key无效", "data": null})),
        )
        .mount(&server)
        .await;
    let exporter = exporter("proxylite", &server, "[summary, accounts]").await;
    let m = exporter.metrics().await;
    assert_eq!(value(&m, "proxy_up", &[]), Some(0.0));
    for endpoint in ["summary", "accounts"] {
        assert_eq!(
            value(&m, "proxy_exporter_poll_success", &[("endpoint", endpoint)]),
            Some(0.0)
        );
        assert_eq!(
            value(
                &m,
                "proxy_exporter_poll_errors_total",
                &[("endpoint", endpoint), ("reason", "auth")]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &m,
                "proxy_exporter_poll_errors_total",
                &[("endpoint", endpoint), ("reason", "api")]
            ),
            Some(0.0)
        );
        assert!(value(
            &m,
            "proxy_exporter_last_success_timestamp_seconds",
            &[("endpoint", endpoint)]
        )
        .is_none());
    }
    for metric in [
        "proxy_traffic_remaining_bytes",
        "proxy_account_used_bytes",
        "proxy_packages",
    ] {
        assert!(
            samples(&m, metric).is_empty(),
            "{metric} must be absent:\n{m}"
        );
    }
    let page = exporter.get("/").await.text().await.unwrap();
    assert!(page.contains("app_key rejected (code 3"), "{page}");
    exporter.stop().await;
}

/// `code: 156`: the account is not verified; the key works but nothing can be read.
#[tokio::test]
async fn unverified_account_is_an_auth_error() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/gateway/user-product/summary",
        json!({"code": 156, "msg": "账户未认证", "data": []}),
    )
    .await;
    let exporter = exporter("bestproxy", &server, "[summary]").await;
    let m = exporter.metrics().await;
    assert_eq!(value(&m, "proxy_up", &[]), Some(0.0));
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_errors_total",
            &[("reason", "auth")]
        ),
        Some(1.0)
    );
    assert!(samples(&m, "proxy_traffic_remaining_bytes").is_empty());
    exporter.stop().await;
}

#[tokio::test]
async fn other_api_codes_http_errors_and_html_are_classified() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/gateway/user-product/summary",
        json!({"code": 500, "msg": "系统繁忙"}),
    )
    .await;
    Mock::given(path("/gateway/whitelist-account/list"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    Mock::given(path("/gateway/user-usage-flow/total"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("<html><body>maintenance</body></html>", "text/html"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/gateway/user-product/list"))
        .respond_with(ResponseTemplate::new(429))
        .mount(&server)
        .await;
    Mock::given(path("/gateway/ip/get-static-ip"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("{\"code\":200,\"data\":{\"list\":[{\"ip\":"),
        )
        .mount(&server)
        .await;
    let exporter = exporter(
        "bestproxy",
        &server,
        "[summary, accounts, usage, packages, static_ips]",
    )
    .await;
    let m = exporter.metrics().await;
    for (endpoint, reason) in [
        ("summary", "api"),
        ("accounts", "http"),
        ("usage", "decode"),
        ("packages", "rate_limited"),
        ("static_ips", "decode"),
    ] {
        assert_eq!(
            value(
                &m,
                "proxy_exporter_poll_errors_total",
                &[("endpoint", endpoint), ("reason", reason)]
            ),
            Some(1.0),
            "{endpoint} → {reason}\n{m}"
        );
    }
    assert_eq!(value(&m, "proxy_up", &[]), Some(0.0));
    exporter.stop().await;
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    // Bind and drop a listener to get a port that refuses connections.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let exporter = Exporter::start(&gateway_config(
        "bestproxy",
        &format!("http://127.0.0.1:{port}"),
        "[summary]",
    ))
    .await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_errors_total",
            &[("reason", "connect")]
        ),
        Some(1.0)
    );
    assert_eq!(value(&m, "proxy_up", &[]), Some(0.0));
    exporter.stop().await;
}

#[tokio::test]
async fn metrics_have_the_exposition_content_type_and_health_endpoints_answer() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/gateway/user-product/summary",
        fixture_json("gateway/summary.json"),
    )
    .await;
    let exporter = exporter("bestproxy", &server, "[summary]").await;
    exporter.wait_ready().await;
    let response = exporter.get("/metrics").await;
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let m = response.text().await.unwrap();
    assert!(m.contains("# TYPE proxy_exporter_build_info gauge"));
    assert!(
        m.contains("process_resident_memory_bytes"),
        "process metrics missing"
    );
    assert_eq!(exporter.get("/-/healthy").await.status(), 200);
    assert_eq!(exporter.get("/nope").await.status(), 404);
    exporter.stop().await;
}

#[tokio::test]
async fn an_api_that_ignores_paging_is_a_decode_error_not_a_loop() {
    let server = MockServer::start().await;
    let list: Vec<_> = (0..100)
        .map(|i| json!({"ip": format!("198.51.100.{i}"), "status": 1}))
        .collect();
    Mock::given(method("GET"))
        .and(path("/gateway/ip/get-static-ip"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"code": 200, "data": {"list": list}})),
        )
        .mount(&server)
        .await;
    let exporter = exporter("bestproxy", &server, "[static_ips]").await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_errors_total",
            &[("reason", "decode")]
        ),
        Some(1.0)
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "stops at the first repeated page"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn without_totals_paging_goes_on_until_an_empty_page() {
    let server = MockServer::start().await;
    // A server that caps the page size at 20 and sends no totals.
    for page in 1..=3 {
        let list: Vec<_> = (0..if page < 3 { 20 } else { 0 })
            .map(|i| json!({"ip": format!("198.51.{page}.{i}"), "status": 1, "product_type": 14}))
            .collect();
        Mock::given(method("GET"))
            .and(path("/gateway/ip/get-static-ip"))
            .and(query_param("page", page.to_string()))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"code": 200, "data": {"list": list}})),
            )
            .mount(&server)
            .await;
    }
    let exporter = exporter("bestproxy", &server, "[static_ips]").await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(
            &m,
            "proxy_static_ips",
            &[("product", "static_datacenter"), ("status", "active")]
        ),
        Some(40.0)
    );
    exporter.stop().await;
}

#[tokio::test]
async fn redirects_are_not_followed_and_401_is_an_auth_error() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(path("/gateway/user-product/summary"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", format!("{}/steal", elsewhere.uri())),
        )
        .mount(&server)
        .await;
    Mock::given(path("/gateway/whitelist-account/list"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let exporter = exporter("bestproxy", &server, "[summary, accounts]").await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_errors_total",
            &[("endpoint", "summary"), ("reason", "http")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_errors_total",
            &[("endpoint", "accounts"), ("reason", "auth")]
        ),
        Some(1.0)
    );
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the redirect carried the app_key elsewhere"
    );
    exporter.stop().await;
}

/// Mounts one page of the package list per entry of `pages` (`page=1, 2, …`); a
/// request past the last is answered with the last page again, as servers that
/// clamp `page` do.
async fn mount_clamped_pages(server: &MockServer, api_path: &str, pages: &[serde_json::Value]) {
    for (i, data) in pages.iter().enumerate() {
        let body = json!({"code": 200, "msg": "ok", "data": data});
        let numbers = if i + 1 == pages.len() {
            (i + 1..=i + 5).collect::<Vec<_>>()
        } else {
            vec![i + 1]
        };
        for page in numbers {
            Mock::given(method("GET"))
                .and(path(api_path))
                .and(query_param("page", page.to_string()))
                .respond_with(ResponseTemplate::new(200).set_body_json(body.clone()))
                .mount(server)
                .await;
        }
    }
}

fn package_items(page: usize, n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| json!({"id": page * 1000 + i, "expired_at": "2030-01-01 00:00:00", "product_type": 9}))
        .collect()
}

/// The package list's `total_count`/`total_page` beside the generic Pagination
/// schema's `total`/`total_pages`: both spellings at once are read, not refused.
#[tokio::test]
async fn a_page_with_both_spellings_of_the_totals_is_read() {
    let server = MockServer::start().await;
    let pages: Vec<_> = [(1, 100), (2, 50)]
        .into_iter()
        .map(|(page, n)| {
            json!({"list": package_items(page, n), "page": page, "page_size": 100,
                   "total": 150, "total_count": 150, "total_page": 2, "total_pages": 2})
        })
        .collect();
    let exporter = all_150_packages_are_read(&server, &pages).await;
    exporter.stop().await;
}

/// The documents' order list nests its totals in a `pagination` object; a server
/// that answers a page past the end with the last page again is then read to the
/// advertised end without an error.
#[tokio::test]
async fn a_nested_pagination_object_ends_the_list() {
    let server = MockServer::start().await;
    let pages: Vec<_> = [(1, 100), (2, 50)]
        .into_iter()
        .map(|(page, n)| {
            json!({"list": package_items(page, n),
                   "pagination": {"total": 150, "page_no": page, "page_size": 100, "total_pages": 2}})
        })
        .collect();
    let exporter = all_150_packages_are_read(&server, &pages).await;
    let requests = server.received_requests().await.unwrap();
    let pages_asked: Vec<_> = requests
        .iter()
        .filter_map(|r| r.url.query_pairs().find(|(k, _)| k == "page"))
        .map(|(_, v)| v.into_owned())
        .collect();
    assert!(!pages_asked.contains(&"3".to_owned()), "{pages_asked:?}");
    exporter.stop().await;
}

/// A page count larger than the item total needs: the page past the end repeats
/// the last one, after all 150 advertised items were read. That is the end of
/// the list, not a paging error.
#[tokio::test]
async fn a_repeated_page_after_the_advertised_total_is_the_end() {
    let server = MockServer::start().await;
    let pages: Vec<_> = [(1, 100), (2, 50)]
        .into_iter()
        .map(|(page, n)| {
            json!({"list": package_items(page, n), "page": page, "page_size": 100,
                   "total_count": 150, "total_page": 4})
        })
        .collect();
    let exporter = all_150_packages_are_read(&server, &pages).await;
    exporter.stop().await;
}

/// The same repetition before the advertised total is reached is an API that
/// ignores `page`: a decode error, and no loop.
#[tokio::test]
async fn a_repeated_page_before_the_advertised_total_is_an_error() {
    let server = MockServer::start().await;
    let pages = [json!({"list": package_items(1, 100), "total_count": 500})];
    mount_clamped_pages(&server, "/gateway/user-product/list", &pages).await;
    let exporter = exporter("bestproxy", &server, "[packages]").await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_errors_total",
            &[("endpoint", "packages"), ("reason", "decode")]
        ),
        Some(1.0),
        "{m}"
    );
    assert!(samples(&m, "proxy_package_expiry_timestamp_seconds").is_empty());
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    exporter.stop().await;
}

/// Zone-less expiries in `America/New_York`'s DST gap and overlap: the gap is
/// shifted forward by its length, the overlap takes the earlier instant.
#[tokio::test]
async fn package_expiries_in_a_dst_gap_or_overlap_are_read() {
    let server = MockServer::start().await;
    let body = json!({"code": 200, "msg": "ok", "data": {"list": [
        {"id": 1, "expired_at": "2026-03-08 02:30:00", "product_type": 9},
        {"id": 2, "expired_at": "2026-11-01 01:30:00", "product_type": 9},
    ], "page": 1, "page_size": 100, "total_count": 2, "total_page": 1}});
    mount(&server, "/gateway/user-product/list", body).await;
    let yaml = gateway_config("bestproxy", &server.uri(), "[packages]")
        + "    timezone: America/New_York\n";
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    // 02:30 does not exist that day: 03:30 EDT, 2026-03-08T07:30:00Z.
    assert_eq!(
        value(
            &m,
            "proxy_package_expiry_timestamp_seconds",
            &[("package_id", "1")]
        ),
        Some(1772955000.0),
        "{m}"
    );
    // 01:30 happens twice: the first, EDT, 2026-11-01T05:30:00Z.
    assert_eq!(
        value(
            &m,
            "proxy_package_expiry_timestamp_seconds",
            &[("package_id", "2")]
        ),
        Some(1793511000.0)
    );
    exporter.stop().await;
}

/// Serves `pages` of the package list (a page past the end repeats the last)
/// and checks that the poll succeeds with all 150 packages.
async fn all_150_packages_are_read(server: &MockServer, pages: &[serde_json::Value]) -> Exporter {
    mount_clamped_pages(server, "/gateway/user-product/list", pages).await;
    let exporter = exporter("bestproxy", server, "[packages]").await;
    let m = exporter.metrics().await;
    let labels = [("endpoint", "packages")];
    assert_eq!(
        value(&m, "proxy_exporter_poll_success", &labels),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        samples(&m, "proxy_package_expiry_timestamp_seconds").len(),
        150
    );
    exporter
}

#[tokio::test]
async fn allowlist_from_the_documents_example() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/end-point/proxy-ip/list"))
        .and(query_param("app_key", APP_KEY))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("gateway/allowlist.json")))
        .expect(1..)
        .mount(&server)
        .await;
    let yaml =
        gateway_config("proxylite", &server.uri(), "[allowlist]") + "    product_types: [9, 14]\n";
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    // The example's one IP has product_type 0; the configured products are
    // there with 0, so that an emptied allow-list shows as 0, not as nothing.
    let count = |product| {
        value(
            &m,
            "proxy_allowlist_ips",
            &[("target", "proxylite-main"), ("product", product)],
        )
    };
    assert_eq!(count("type_0"), Some(1.0), "{m}");
    assert_eq!(count("dynamic_residential"), Some(0.0));
    assert_eq!(count("static_datacenter"), Some(0.0));
    assert_eq!(samples(&m, "proxy_allowlist_ips").len(), 3);
    // The IP itself and its remark are not exported.
    assert!(!m.contains("1.1.1.1"));
    exporter.stop().await;
}

#[tokio::test]
async fn allowlist_counts_ips_per_product() {
    let server = MockServer::start().await;
    let item = |ip: &str, product_type: serde_json::Value| json!({"ip": ip, "remark": "", "product_type": product_type, "created_at": "2025-01-01 00:00:00"});
    mount(
        &server,
        "/gateway/proxy-ip/list",
        json!({"code": 200, "msg": "ok", "data": {"list": [
            item("10.0.0.1", json!(9)), item("10.0.0.2", json!("9")), item("10.0.0.3", json!(25)),
            item("10.0.0.4", json!(null)),
        ]}}),
    )
    .await;
    let exporter = exporter("bestproxy", &server, "[allowlist]").await;
    let m = exporter.metrics().await;
    let count = |product| value(&m, "proxy_allowlist_ips", &[("product", product)]);
    assert_eq!(count("dynamic_residential"), Some(2.0), "{m}");
    assert_eq!(count("static_residential"), Some(1.0));
    assert_eq!(count("unknown"), Some(1.0));
    exporter.stop().await;
}

/// Mounts the three stock lists; `isp=0` and `isp=1` answer different figures
/// so that the kinds cannot be mixed up unnoticed.
async fn mount_stock(server: &MockServer, prefix: &str) {
    let mut residential = fixture_json("gateway/static_ip_region.json");
    residential["data"]["list"] =
        json!([{"code": "US", "number": 12}, {"code": "JP", "number": "3"}]);
    for (isp, body) in [
        ("0", fixture_json("gateway/static_ip_region.json")),
        ("1", residential),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("{prefix}/ip/static-ip-region")))
            .and(query_param("app_key", APP_KEY))
            .and(query_param("isp", isp))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(server)
            .await;
    }
    mount(
        server,
        &format!("{prefix}/host-pool/regions"),
        fixture_json("gateway/host_pool_regions.json"),
    )
    .await;
}

#[tokio::test]
async fn stock_from_the_documents_examples() {
    let server = MockServer::start().await;
    mount_stock(&server, "/gateway").await;
    let exporter = exporter("bestproxy", &server, "[stock]").await;
    let m = exporter.metrics().await;
    let stock = |country, kind| {
        value(
            &m,
            "proxy_static_ip_stock",
            &[
                ("target", "bestproxy-main"),
                ("country", country),
                ("kind", kind),
            ],
        )
    };
    // The example: `{"code": "US", "number": 55}`; `code` is the country here.
    assert_eq!(stock("US", "datacenter"), Some(55.0), "{m}");
    assert_eq!(stock("US", "residential"), Some(12.0));
    assert_eq!(stock("JP", "residential"), Some(3.0));
    assert_eq!(stock("JP", "datacenter"), None, "no country is made up");
    assert_eq!(samples(&m, "proxy_static_ip_stock").len(), 3);
    assert_eq!(
        value(&m, "proxy_host_pool_ips", &[("country", "US")]),
        Some(55.0)
    );
    assert_eq!(samples(&m, "proxy_host_pool_ips").len(), 1);
    // The host pool's names and flag are not exported.
    assert!(!m.contains("United States") && !m.contains("flags"));
    exporter.stop().await;
}

#[tokio::test]
async fn a_region_without_a_country_or_a_number_is_a_decode_error() {
    for item in [
        json!({"number": 5}),
        json!({"code": "", "number": 5}),
        json!({"code": "US"}),
        json!({"code": "US", "number": "many"}),
    ] {
        let server = MockServer::start().await;
        mount(
            &server,
            "/end-point/ip/static-ip-region",
            json!({"code": 200, "msg": "ok", "data": {"list": [item]}}),
        )
        .await;
        mount(
            &server,
            "/end-point/host-pool/regions",
            fixture_json("gateway/host_pool_regions.json"),
        )
        .await;
        let exporter = exporter("proxylite", &server, "[stock]").await;
        let m = exporter.metrics().await;
        assert_eq!(
            value(
                &m,
                "proxy_exporter_poll_errors_total",
                &[("endpoint", "stock"), ("reason", "decode")]
            ),
            Some(1.0),
            "{item}\n{m}"
        );
        assert!(
            samples(&m, "proxy_host_pool_ips").is_empty(),
            "the whole endpoint fails"
        );
        exporter.stop().await;
    }
}

/// `stock` is polled at most once an hour, whatever `interval` says, while the
/// other endpoints keep their interval. Between its polls it stays exported and
/// successful, even with a `max_staleness` shorter than the wait.
#[tokio::test]
async fn stock_is_polled_once_an_hour_not_every_interval() {
    let server = MockServer::start().await;
    mount_stock(&server, "/gateway").await;
    mount(
        &server,
        "/gateway/proxy-ip/list",
        fixture_json("gateway/allowlist.json"),
    )
    .await;
    let yaml = format!(
        "interval: 1s\nmax_staleness: 1s\n{}",
        gateway_config("bestproxy", &server.uri(), "[allowlist, stock]")
    );
    let exporter = Exporter::start(&yaml).await;
    exporter.wait_ready().await;
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let m = exporter.get("/metrics").await.text().await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let count = |p: &str| requests.iter().filter(|r| r.url.path() == p).count();
    assert!(
        count("/gateway/proxy-ip/list") >= 3,
        "allowlist every second"
    );
    assert_eq!(
        count("/gateway/ip/static-ip-region"),
        2,
        "isp=0 and isp=1, once"
    );
    assert_eq!(count("/gateway/host-pool/regions"), 1);
    assert_eq!(
        value(&m, "proxy_exporter_poll_success", &[("endpoint", "stock")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "proxy_static_ip_stock",
            &[("country", "US"), ("kind", "datacenter")]
        ),
        Some(55.0),
        "{m}"
    );
    assert_eq!(value(&m, "proxy_up", &[]), Some(1.0));
    exporter.stop().await;
}

/// A failed `stock` poll is not left for an hour: the target's next poll tries again.
#[tokio::test]
async fn a_failed_stock_poll_is_retried_at_the_next_poll() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/gateway/host-pool/regions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"code": 500, "msg": "busy", "data": null})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_stock(&server, "/gateway").await;
    let yaml = format!(
        "interval: 1s\n{}",
        gateway_config("bestproxy", &server.uri(), "[stock]")
    );
    let exporter = Exporter::start(&yaml).await;
    let mut m = String::new();
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        m = exporter.get("/metrics").await.text().await.unwrap();
        if value(&m, "proxy_exporter_poll_success", &[("endpoint", "stock")]) == Some(1.0) {
            break;
        }
    }
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_errors_total",
            &[("endpoint", "stock"), ("reason", "api")]
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        value(&m, "proxy_exporter_poll_success", &[("endpoint", "stock")]),
        Some(1.0),
        "retried within 4 s: {m}"
    );
    assert_eq!(
        value(&m, "proxy_host_pool_ips", &[("country", "US")]),
        Some(55.0)
    );
    exporter.stop().await;
}

/// The series `stock` keeps exporting between its polls count toward
/// `sample_limit` like those of a fresh poll: here the allow-list grows past
/// what is left beside them, and fails with reason `limit`.
#[tokio::test]
async fn series_of_a_stock_poll_sat_out_count_toward_the_sample_limit() {
    let server = MockServer::start().await;
    mount_stock(&server, "/gateway").await;
    // First one product (1 series), then three.
    Mock::given(method("GET"))
        .and(path("/gateway/proxy-ip/list"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("gateway/allowlist.json")))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let items: Vec<_> = [9, 14, 25]
        .iter()
        .map(|p| json!({"ip": "10.0.0.1", "remark": "", "product_type": p, "created_at": ""}))
        .collect();
    mount(
        &server,
        "/gateway/proxy-ip/list",
        json!({"code": 200, "msg": "ok", "data": {"list": items}}),
    )
    .await;
    // Stock: 3 static IP series and 1 host pool series; the allow-list: 2, then 3.
    let yaml = format!(
        "interval: 1s\n{}    sample_limit: 6\n",
        gateway_config("bestproxy", &server.uri(), "[allowlist, stock]")
    );
    let exporter = Exporter::start(&yaml).await;
    let limited = |m: &str| {
        value(
            m,
            "proxy_exporter_poll_errors_total",
            &[("endpoint", "allowlist"), ("reason", "limit")],
        )
    };
    let mut m = exporter.metrics().await;
    assert_eq!(limited(&m), Some(0.0), "the first poll fits: {m}");
    for _ in 0..40 {
        if limited(&m).is_some_and(|n| n > 0.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        m = exporter.get("/metrics").await.text().await.unwrap();
    }
    assert!(limited(&m).is_some_and(|n| n > 0.0), "{m}");
    assert_eq!(
        value(&m, "proxy_exporter_poll_success", &[("endpoint", "stock")]),
        Some(1.0)
    );
    assert_eq!(samples(&m, "proxy_static_ip_stock").len(), 3);
    exporter.stop().await;
}
