//! The whole `/metrics` of a fixed fixture set, compared with a checked-in file.
//! `UPDATE_GOLDEN=1 cargo test --test it golden::` rewrites the file after a deliberate
//! change; review the diff like code.

use crate::common;

use std::path::Path;

use common::*;
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const GOLDEN: &str = "tests/fixtures/golden.metrics";
const IPWEB_TOKEN: &str = "golden-ipweb-token";

async fn mount(
    server: &MockServer,
    api_path: &str,
    extra: Option<(&str, &str)>,
    body: serde_json::Value,
) {
    let mut mock = Mock::given(method("GET"))
        .and(path(api_path))
        .and(query_param("app_key", APP_KEY));
    if let Some((k, v)) = extra {
        mock = mock.and(query_param(k, v));
    }
    mock.respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

/// An upstream with every gateway endpoint answering from the fixtures; any
/// other key gets the API's invalid-key answer.
async fn gateway_upstream() -> MockServer {
    let server = MockServer::start().await;
    let prefix = "/gateway";
    mount(
        &server,
        &format!("{prefix}/user-product/summary"),
        Some(("product_type", "9")),
        fixture_json("gateway/summary.json"),
    )
    .await;
    let mut idc = fixture_json("gateway/summary.json");
    idc["data"] = json!({"total": "10485760", "total_count": 1, "effective": 10000000.5, "effective_count": 1,
        "effective_total": 10485760, "effective_used": 485759.5, "temporary": 0, "temporary_count": 0,
        "expired": 0, "expired_count": 0, "used": 485759.5});
    mount(
        &server,
        &format!("{prefix}/user-product/summary"),
        Some(("product_type", "12")),
        idc,
    )
    .await;
    mount(
        &server,
        &format!("{prefix}/user-usage-flow/total"),
        None,
        json!({"code": 200, "msg": "ok", "data": {"list": [
            {"day": provider_date(-1), "flow": 1048576},
            {"day": provider_date(0), "flow": "524288"},
        ]}}),
    )
    .await;
    mount(
        &server,
        &format!("{prefix}/user-product/list"),
        None,
        fixture_json("gateway/packages.json"),
    )
    .await;
    mount(&server, &format!("{prefix}/whitelist-account/list"), None, json!({"code": 200, "msg": "ok", "data": {"list": [
        {"id": 1, "username": "crawler-eu", "password": "golden-pw-1", "created_at": "2024-01-01 00:00:00",
         "remark": "team \"blue\" \\ night\nshift", "product_type": 9, "usage_flow": 95000000, "limit_flow": 100, "status": 1},
        {"id": 2, "username": "unlimited", "password": "golden-pw-2", "created_at": "2024-01-01 00:00:00",
         "remark": "", "product_type": 9, "usage_flow": 1024, "limit_flow": 0, "status": 1},
        {"id": 3, "username": "paused", "password": "golden-pw-3", "created_at": "2024-01-01 00:00:00",
         "remark": "off", "product_type": 25, "usage_flow": "0", "limit_flow": 5, "status": 0},
    ]}}))
    .await;
    mount(
        &server,
        &format!("{prefix}/ip/get-static-ip"),
        None,
        fixture_json("gateway/static_ips.json"),
    )
    .await;
    mount(
        &server,
        &format!("{prefix}/proxy-ip/list"),
        None,
        json!({"code": 200, "msg": "ok", "data": {"list": [
            {"ip": "192.0.2.1", "remark": "office", "product_type": 9, "created_at": "2024-01-01 00:00:00"},
            {"ip": "192.0.2.2", "remark": "", "product_type": "9", "created_at": "2024-01-01 00:00:00"},
            {"ip": "192.0.2.3", "remark": "dc", "product_type": 14, "created_at": "2024-01-01 00:00:00"},
        ]}}),
    )
    .await;
    // `orders`: the document's example order shape, a month of orders.
    let order = |trade_no: &str,
                 product_type: u32,
                 status: u32,
                 pay_fee: serde_json::Value,
                 day: i64,
                 time: &str| {
        let mut o = fixture_json("gateway/orders_bestproxy.json")["data"]["list"][0].clone();
        let created = format!("{} {time}", provider_date(day));
        o["trade_no"] = json!(trade_no);
        o["product_type"] = json!(product_type);
        o["status"] = json!(status);
        o["pay_fee"] = pay_fee;
        o["created_at"] = json!(created);
        if status == 1 {
            // Paid a minute after it was made.
            o["pay_timestamp"] = json!(provider_unix(&created) + 60);
        }
        o
    };
    mount(
        &server,
        &format!("{prefix}/order/list"),
        None,
        json!({"code": 0, "message": "Operation successful", "data": {"list": [
            order("G-1", 9, 1, json!(350), -1, "10:29:00"),
            order("G-2", 9, 0, json!(175.5), 0, "08:00:00"),
            order("G-3", 3, 1, json!("99.5"), -3, "09:00:00"),
            order("G-4", 12, 2, json!(120), -5, "12:00:00"),
            order("G-5", 25, 3, json!(6), -7, "18:30:00"),
            order("G-6", 9, 1, json!(350), -20, "23:59:00"),
        ], "pagination": {"total": 6, "page_no": 1, "page_size": 100, "total_pages": 1}}}),
    )
    .await;
    // `stock`, for the ProxyLite target that lists it.
    mount(
        &server,
        "/end-point/ip/static-ip-region",
        Some(("isp", "0")),
        fixture_json("gateway/static_ip_region.json"),
    )
    .await;
    mount(
        &server,
        "/end-point/ip/static-ip-region",
        Some(("isp", "1")),
        json!({"code": 200, "msg": "ok", "data": {"list": [
            {"code": "US", "number": 12}, {"code": "JP", "number": "3"}, {"code": "DE", "number": 0},
        ]}}),
    )
    .await;
    mount(
        &server,
        "/end-point/host-pool/regions",
        None,
        fixture_json("gateway/host_pool_regions.json"),
    )
    .await;
    mount_ipweb(&server).await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"code": 3, "msg": "app_key无效", "data": null})),
        )
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

/// The IPWeb agent API from the document's examples, behind the `token` header.
async fn mount_ipweb(server: &MockServer) {
    let mut consumed = fixture_json("ipweb/consume_detail.json");
    consumed["data"][0]["date"] = json!(provider_date(-1));
    consumed["data"][1]["date"] = json!(provider_date(0));
    let report = json!({"msg": "操作成功", "code": 200, "data": {"total": 3, "rows": [
        {"reportDate": provider_date(0), "customerId": 39, "userName": "a@example.com", "uploadFlow": 596.9, "downloadFlow": 57500.89},
        {"reportDate": provider_date(0), "customerId": "40", "userName": "b@example.com", "uploadFlow": "0", "downloadFlow": 1024},
        {"reportDate": provider_date(0), "customerId": 41, "userName": "c@example.com", "uploadFlow": 0.5, "downloadFlow": 0},
    ], "code": 200, "msg": "查询成功", "other": null}});
    let mut nni = fixture_json("ipweb/nni_consume_detail.json");
    nni["data"][0]["date"] = json!(provider_date(-1));
    nni["data"][1]["date"] = json!(provider_date(0));
    // The recharge examples, moved from 2025-11-17 to yesterday.
    let recharges = |name: &str| -> serde_json::Value {
        serde_json::from_str(&fixture(name).replace("2025-11-17", &provider_date(-1))).unwrap()
    };
    for (api, body) in [
        (
            "/prod-api/api/agent/getFlowTotalFull",
            fixture_json("ipweb/summary.json"),
        ),
        ("/prod-api/api/agent/getFlowConsumeDetail", consumed),
        ("/prod-api/api/agent/getNNIFlowConsumeDetail", nni),
        ("/prod-api/open/dynamic/flowReport", report),
        (
            "/prod-api/open/dynamic/rechargeFlowListForMe",
            recharges("ipweb/recharge_flow_list_for_me.json"),
        ),
        (
            "/prod-api/open/dynamic/myRechargeFlowList",
            recharges("ipweb/my_recharge_flow_list.json"),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(api))
            .and(header("token", IPWEB_TOKEN))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(server)
            .await;
    }
}

/// Unix seconds of a zone-less provider time (+08:00).
fn provider_unix(local: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M:%S")
        .unwrap()
        .and_local_timezone(chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .unwrap()
        .timestamp()
}

/// A recharge time as the day relative to the provider's today and the time
/// of day, both in +08:00: `<day -1, 10:30:00>`.
fn provider_time(unix: &str) -> String {
    let zone = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let seconds: i64 = unix.parse::<f64>().unwrap() as i64;
    let local = chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap()
        .with_timezone(&zone);
    let today = chrono::NaiveDate::parse_from_str(&provider_date(0), "%Y-%m-%d").unwrap();
    let days = (local.date_naive() - today).num_days();
    format!("<day {days}, {}>", local.format("%H:%M:%S"))
}

/// Replaces what changes from run to run: durations, timestamps, build and process.
fn normalize(metrics: &str) -> String {
    let mut out = String::new();
    for line in metrics.lines() {
        if line.starts_with("process_")
            || line.starts_with("# HELP process_")
            || line.starts_with("# TYPE process_")
        {
            continue;
        }
        let line = if line.starts_with("proxy_exporter_poll_duration_seconds{")
            || line.starts_with("proxy_exporter_last_success_timestamp_seconds{")
        {
            format!("{} <varies>", line.rsplit_once(' ').unwrap().0)
        } else if line.starts_with("proxy_exporter_config_last_reload_success_timestamp_seconds ") {
            "proxy_exporter_config_last_reload_success_timestamp_seconds <varies>".to_owned()
        } else if line.starts_with("proxy_recharge_last_timestamp_seconds{")
            || line.starts_with("proxy_order_last_paid_timestamp_seconds{")
        {
            let (series, value) = line.rsplit_once(' ').unwrap();
            format!("{series} {}", provider_time(value))
        } else if line.starts_with("proxy_exporter_build_info{") {
            "proxy_exporter_build_info{version=\"<version>\",revision=\"<revision>\"} 1".to_owned()
        } else {
            line.to_owned()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[tokio::test]
async fn full_metrics_match_the_golden_file() {
    let upstream = gateway_upstream().await;
    let yaml = format!(
        r#"
targets:
  - name: best-main
    provider: bestproxy
    base_url: {uri}
    app_key: {APP_KEY}
    product_types: [9, 12]
  - name: lite-revoked
    provider: proxylite
    base_url: {uri}/end-point
    app_key: a-revoked-key
    endpoints: [summary, accounts]
  - name: reseller
    provider: ipweb
    base_url: {uri}/prod-api
    token: {IPWEB_TOKEN}
  - name: lite-stock
    provider: proxylite
    base_url: {uri}
    app_key: {APP_KEY}
    endpoints: [stock]
"#,
        uri = upstream.uri()
    );
    let exporter = Exporter::start(&yaml).await;
    let metrics = exporter.metrics().await;
    exporter.stop().await;

    let report = promtool_check_metrics(&metrics);
    assert!(
        report.trim().is_empty(),
        "promtool check metrics:\n{report}"
    );

    let actual = normalize(&metrics);
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    if actual != expected {
        let first = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .unwrap_or(actual.lines().count().min(expected.lines().count()));
        panic!(
            "/metrics differs from {GOLDEN} at line {}:\n  actual:   {:?}\n  expected: {:?}\nRun with UPDATE_GOLDEN=1 to accept.",
            first + 1,
            actual.lines().nth(first),
            expected.lines().nth(first)
        );
    }
}
