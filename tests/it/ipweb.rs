//! The IPWeb agent API against wiremock upstreams built from the API document's
//! own examples: pool totals (with the trailing-space key), daily consumption
//! and NNI consumption, the customer report across pages, the recharge lists
//! with their quirks, and the refused-token answer.

use crate::common;

use common::*;
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ipweb-token-test-3c9e1b";
const MIB: f64 = 1024.0 * 1024.0;

fn config(server: &MockServer, endpoints: &str) -> String {
    format!(
        "targets:\n  - name: reseller\n    provider: ipweb\n    base_url: {}/prod-api\n    token: {TOKEN}\n    endpoints: {endpoints}\n",
        server.uri()
    )
}

async fn mount(server: &MockServer, api_path: &str, body: impl Into<serde_json::Value>) {
    Mock::given(method("GET"))
        .and(path(format!("/prod-api{api_path}")))
        .and(header("token", TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(body.into()))
        .mount(server)
        .await;
}

#[tokio::test]
async fn summary_from_the_documents_example() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/api/agent/getFlowTotalFull",
        fixture_json("ipweb/summary.json"),
    )
    .await;
    let exporter = Exporter::start(&config(&server, "[summary]")).await;
    let m = exporter.metrics().await;
    let secondary = [
        ("provider", "ipweb"),
        ("target", "reseller"),
        ("pool", "secondary"),
    ];
    // 5242880 MB = 5 TiB.
    assert_eq!(
        value(&m, "proxy_traffic_remaining_bytes", &secondary),
        Some(5242880.0 * MIB)
    );
    assert_eq!(
        value(&m, "proxy_traffic_purchased_bytes", &secondary),
        Some(5242880.0 * MIB)
    );
    assert_eq!(value(&m, "proxy_traffic_used_bytes", &secondary), Some(0.0));
    assert_eq!(
        value(&m, "proxy_traffic_remaining_bytes", &[("pool", "primary")]),
        Some(0.0)
    );
    // The gateway-only families are not made up for IPWeb.
    assert!(samples(&m, "proxy_traffic_expiring_bytes").is_empty());
    assert!(samples(&m, "proxy_packages").is_empty());
    assert_eq!(value(&m, "proxy_up", &[("target", "reseller")]), Some(1.0));
    exporter.stop().await;
}

/// The document's answer carries `"residualFlow"` and `"residualFlow "` in one
/// object. Here they differ, in both orders, and only `residualFlow` counts.
#[tokio::test]
async fn the_trailing_space_residual_flow_key_is_ignored() {
    let server = MockServer::start().await;
    let body = r#"{"msg": "操作成功", "code": 200, "data": {
        "account2": {"consumeFlow": 10.5, "residualFlow ": 999999.00, "flowCount": "100", "residualFlow": 89.5},
        "account": {"residualFlow": 1024, "consumeFlow": 0.0, "flowCount": 1024, "residualFlow ": 7.00}}}"#;
    Mock::given(method("GET"))
        .and(path("/prod-api/api/agent/getFlowTotalFull"))
        .respond_with(ResponseTemplate::new(200).set_body_string(body))
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config(&server, "[summary]")).await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(
            &m,
            "proxy_traffic_remaining_bytes",
            &[("pool", "secondary")]
        ),
        Some(89.5 * MIB)
    );
    assert_eq!(
        value(&m, "proxy_traffic_used_bytes", &[("pool", "secondary")]),
        Some(10.5 * MIB)
    );
    assert_eq!(
        value(
            &m,
            "proxy_traffic_purchased_bytes",
            &[("pool", "secondary")]
        ),
        Some(100.0 * MIB)
    );
    assert_eq!(
        value(&m, "proxy_traffic_remaining_bytes", &[("pool", "primary")]),
        Some(1024.0 * MIB)
    );
    exporter.stop().await;
}

/// The document's daily answer `fixture` at `api` (under `/api/agent/`), its two
/// days made yesterday and today, asked for exactly those two days.
async fn mount_daily(server: &MockServer, fixture: &str, api: &str) {
    let (yesterday, today) = (provider_date(-1), provider_date(0));
    let mut body = fixture_json(&format!("ipweb/{fixture}.json"));
    body["data"][0]["date"] = json!(yesterday);
    body["data"][1]["date"] = json!(today);
    Mock::given(method("GET"))
        .and(path(format!("/prod-api/api/agent/{api}")))
        .and(header("token", TOKEN))
        .and(query_param("startDate", yesterday.as_str()))
        .and(query_param("endDate", today.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1..)
        .mount(server)
        .await;
}

#[tokio::test]
async fn usage_today_and_yesterday_are_upload_plus_download() {
    let server = MockServer::start().await;
    mount_daily(&server, "consume_detail", "getFlowConsumeDetail").await;
    let exporter = Exporter::start(&config(&server, "[usage]")).await;
    let m = exporter.metrics().await;
    // The document's days: 21889.75 + 6529.83 and 32335.47 + 11423.92 MB.
    let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1.0);
    let today_bytes = value(&m, "proxy_usage_today_bytes", &[("target", "reseller")]);
    assert!(
        close(today_bytes, (32335.47 + 11423.92) * MIB),
        "{today_bytes:?}"
    );
    let yesterday_bytes = value(&m, "proxy_usage_yesterday_bytes", &[]);
    assert!(
        close(yesterday_bytes, (21889.75 + 6529.83) * MIB),
        "{yesterday_bytes:?}"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn usage_from_the_documents_example_has_no_usage_today() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/api/agent/getFlowConsumeDetail",
        fixture_json("ipweb/consume_detail.json"),
    )
    .await;
    let exporter = Exporter::start(&config(&server, "[usage]")).await;
    let m = exporter.metrics().await;
    assert_eq!(value(&m, "proxy_usage_today_bytes", &[]), Some(0.0));
    assert_eq!(value(&m, "proxy_usage_yesterday_bytes", &[]), Some(0.0));
    exporter.stop().await;
}

#[tokio::test]
async fn customers_from_the_documents_example() {
    let server = MockServer::start().await;
    let today = provider_date(0);
    // The example's row is of 2025-12-25; as an answer for today it carries today.
    let mut report = fixture_json("ipweb/flow_report.json");
    report["data"]["rows"][0]["reportDate"] = json!(today);
    Mock::given(method("GET"))
        .and(path("/prod-api/open/dynamic/flowReport"))
        .and(header("token", TOKEN))
        .and(query_param("startDate", today.as_str()))
        .and(query_param("endDate", today.as_str()))
        .and(query_param("pageSize", "2000"))
        .and(query_param("pageNum", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(report))
        .expect(1)
        .mount(&server)
        .await;
    // The example says `total: 1049` beside one row, so page 2 is asked for; an
    // API answers it with no rows.
    Mock::given(method("GET"))
        .and(path("/prod-api/open/dynamic/flowReport"))
        .and(query_param("pageNum", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"msg": "操作成功", "code": 200, "data": {"total": 1049, "rows": []}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config(&server, "[customers]")).await;
    let m = exporter.metrics().await;
    let up = value(
        &m,
        "proxy_customer_usage_today_bytes",
        &[("customer_id", "39"), ("direction", "upload")],
    );
    let down = value(
        &m,
        "proxy_customer_usage_today_bytes",
        &[("customer_id", "39"), ("direction", "download")],
    );
    assert!(up.is_some_and(|v| (v - 596.9 * MIB).abs() < 1.0), "{up:?}");
    assert!(
        down.is_some_and(|v| (v - 57500.89 * MIB).abs() < 1.0),
        "{down:?}"
    );
    // The customer's login name is not exported.
    assert!(!m.contains("gmaill.com"));
    exporter.stop().await;
}

#[tokio::test]
async fn customers_are_read_across_every_page_at_the_largest_page_size() {
    let server = MockServer::start().await;
    let total = 2 * 2000 + 11;
    for page in 1..=3usize {
        let rows: Vec<_> = (0..if page < 3 { 2000 } else { 11 })
            .map(|i| {
                let id = (page - 1) * 2000 + i;
                json!({"reportDate": provider_date(0), "customerId": id, "userName": format!("user{id}@example.com"),
                       "uploadFlow": 1.0, "downloadFlow": "2.5"})
            })
            .collect();
        Mock::given(method("GET"))
            .and(path("/prod-api/open/dynamic/flowReport"))
            .and(query_param("pageNum", page.to_string()))
            .and(query_param("pageSize", "2000"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"msg": "操作成功", "code": 200, "data": {"total": total, "rows": rows, "code": 200, "msg": "查询成功", "other": null}}),
            ))
            .expect(1..)
            .mount(&server)
            .await;
    }
    let exporter = Exporter::start(&config(&server, "[customers]")).await;
    let m = exporter.metrics().await;
    assert_eq!(
        samples(&m, "proxy_customer_usage_today_bytes").len(),
        2 * total
    );
    let last = value(
        &m,
        "proxy_customer_usage_today_bytes",
        &[("customer_id", "4010"), ("direction", "download")],
    );
    assert_eq!(last, Some(2.5 * MIB));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        requests.len(),
        3,
        "one request per page, no per-customer requests"
    );
    exporter.stop().await;
}

/// The document's "Authentication failed" answer: HTTP 200, `code: 200`, `data: null`.
#[tokio::test]
async fn a_refused_token_is_an_auth_error_and_no_traffic_series() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("ipweb/auth_failed.json")))
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config(
        &server,
        "[summary, usage, customers, nni_usage, recharges]",
    ))
    .await;
    let m = exporter.metrics().await;
    assert_eq!(value(&m, "proxy_up", &[]), Some(0.0));
    for endpoint in ["summary", "usage", "customers", "nni_usage", "recharges"] {
        assert_eq!(
            value(
                &m,
                "proxy_exporter_poll_errors_total",
                &[("endpoint", endpoint), ("reason", "auth")]
            ),
            Some(1.0)
        );
    }
    for metric in [
        "proxy_traffic_remaining_bytes",
        "proxy_usage_today_bytes",
        "proxy_customer_usage_today_bytes",
        "proxy_nni_usage_today_bytes",
        "proxy_recharge_last_30d_bytes",
        "proxy_recharge_last_timestamp_seconds",
    ] {
        assert!(
            samples(&m, metric).is_empty(),
            "{metric} must be absent:\n{m}"
        );
    }
    let page = exporter.get("/").await.text().await.unwrap();
    assert!(page.contains("token rejected"), "{page}");
    exporter.stop().await;
}

#[tokio::test]
async fn html_truncated_and_null_answers_are_decode_errors() {
    let server = MockServer::start().await;
    Mock::given(path("/prod-api/api/agent/getFlowTotalFull"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("<!DOCTYPE html><html>502 Bad Gateway</html>", "text/html"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/prod-api/api/agent/getFlowConsumeDetail"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"msg": "操作成功", "code": 200, "data": [{"date": "2023-06-20", "downloadFl"#,
        ))
        .mount(&server)
        .await;
    Mock::given(path("/prod-api/open/dynamic/flowReport"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(
                r#"{"msg": "ok", "code": 200, "data": {"total": 1, "rows": null}}"#,
            ),
        )
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config(&server, "[summary, usage, customers]")).await;
    let m = exporter.metrics().await;
    for endpoint in ["summary", "usage", "customers"] {
        assert_eq!(
            value(
                &m,
                "proxy_exporter_poll_errors_total",
                &[("endpoint", endpoint), ("reason", "decode")]
            ),
            Some(1.0),
            "{endpoint}\n{m}"
        );
    }
    assert_eq!(value(&m, "proxy_up", &[]), Some(0.0));
    exporter.stop().await;
}

#[tokio::test]
async fn the_default_base_url_is_the_documents() {
    let config = proxy_quota_exporter::Config::parse(
        "targets:\n  - name: r\n    provider: ipweb\n    token: t\n",
        std::path::Path::new("x.yml"),
    )
    .unwrap();
    assert_eq!(
        config.targets[0].base_url.as_str(),
        "http://user.ipweb.cc/prod-api"
    );
    let endpoints: Vec<_> = config.targets[0]
        .endpoints
        .iter()
        .map(|e| e.as_str())
        .collect();
    assert_eq!(
        endpoints,
        ["usage", "summary", "customers", "nni_usage", "recharges"]
    );
}

/// The report may ignore `startDate`/`endDate`: rows of another `reportDate`
/// are not today's usage, and the document's own example row (2025-12-25) is
/// not counted as today either.
#[tokio::test]
async fn customer_rows_of_other_days_are_not_counted_as_today() {
    let server = MockServer::start().await;
    let rows = json!([
        {"reportDate": provider_date(-1), "customerId": 39, "userName": "a@example.com", "uploadFlow": 1000, "downloadFlow": 1000},
        {"reportDate": provider_date(0), "customerId": 39, "userName": "a@example.com", "uploadFlow": 1, "downloadFlow": 2},
        {"reportDate": "2025-12-25", "customerId": 40, "userName": "b@example.com", "uploadFlow": 596.9, "downloadFlow": 57500.89},
    ]);
    mount(
        &server,
        "/open/dynamic/flowReport",
        json!({"msg": "操作成功", "code": 200, "data": {"total": 3, "rows": rows}}),
    )
    .await;
    let exporter = Exporter::start(&config(&server, "[customers]")).await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_success",
            &[("endpoint", "customers")]
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        value(
            &m,
            "proxy_customer_usage_today_bytes",
            &[("customer_id", "39"), ("direction", "upload")]
        ),
        Some(MIB)
    );
    assert_eq!(
        value(
            &m,
            "proxy_customer_usage_today_bytes",
            &[("customer_id", "39"), ("direction", "download")]
        ),
        Some(2.0 * MIB)
    );
    assert!(
        value(
            &m,
            "proxy_customer_usage_today_bytes",
            &[("customer_id", "40")]
        )
        .is_none(),
        "{m}"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn nni_usage_today_and_yesterday_from_the_documents_example() {
    let server = MockServer::start().await;
    mount_daily(&server, "nni_consume_detail", "getNNIFlowConsumeDetail").await;
    let exporter = Exporter::start(&config(&server, "[nni_usage]")).await;
    let m = exporter.metrics().await;
    let labels = [("provider", "ipweb"), ("target", "reseller")];
    // The document's days: 21889.75 and 32335.47 MB, rounded to whole bytes.
    assert_eq!(
        value(&m, "proxy_nni_usage_today_bytes", &labels),
        Some((32335.47 * MIB).round())
    );
    assert_eq!(
        value(&m, "proxy_nni_usage_yesterday_bytes", &labels),
        Some((21889.75 * MIB).round())
    );
    // NNI traffic is not the account's usage.
    assert!(samples(&m, "proxy_usage_today_bytes").is_empty());
    exporter.stop().await;
}

/// The example's days are of 2023: neither today nor yesterday, so both are 0
/// (the answer was successful), as for `usage`.
#[tokio::test]
async fn nni_usage_from_the_documents_example_has_no_usage_today() {
    let server = MockServer::start().await;
    mount(
        &server,
        "/api/agent/getNNIFlowConsumeDetail",
        fixture_json("ipweb/nni_consume_detail.json"),
    )
    .await;
    let exporter = Exporter::start(&config(&server, "[nni_usage]")).await;
    let m = exporter.metrics().await;
    assert_eq!(value(&m, "proxy_nni_usage_today_bytes", &[]), Some(0.0));
    assert_eq!(value(&m, "proxy_nni_usage_yesterday_bytes", &[]), Some(0.0));
    exporter.stop().await;
}

const FOR_ME: &str = "/prod-api/open/dynamic/rechargeFlowListForMe";
const MINE: &str = "/prod-api/open/dynamic/myRechargeFlowList";

/// A recharge list example with its rows moved from 2025-11-17 to `date`,
/// their times of day kept.
fn recharge_example(name: &str, date: &str) -> serde_json::Value {
    let text = fixture(name).replace("2025-11-17", date);
    serde_json::from_str(&text).unwrap()
}

/// Unix seconds of a zone-less provider time read at `offset_hours`.
fn unix(local: &str, offset_hours: i64) -> f64 {
    let t = chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M:%S").unwrap();
    (t.and_utc().timestamp() - offset_hours * 3600) as f64
}

/// Mounts both recharge lists for every page and query.
async fn mount_recharges(server: &MockServer, for_me: serde_json::Value, mine: serde_json::Value) {
    for (list, body) in [(FOR_ME, for_me), (MINE, mine)] {
        Mock::given(method("GET"))
            .and(path(list))
            .and(header("token", TOKEN))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(server)
            .await;
    }
}

#[tokio::test]
async fn recharges_from_the_documents_examples() {
    let server = MockServer::start().await;
    let (first, today) = (provider_date(-29), provider_date(0));
    let yesterday = provider_date(-1);
    // Each list is asked for the last 30 provider days; `type=0` only of mine.
    Mock::given(method("GET"))
        .and(path(FOR_ME))
        .and(header("token", TOKEN))
        .and(query_param("pageNum", "1"))
        .and(query_param("pageSize", "100"))
        .and(query_param("startDate", first.as_str()))
        .and(query_param("endDate", today.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(recharge_example(
            "ipweb/recharge_flow_list_for_me.json",
            &yesterday,
        )))
        .expect(1..)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(MINE))
        .and(header("token", TOKEN))
        .and(query_param("pageNum", "1"))
        .and(query_param("pageSize", "100"))
        .and(query_param("type", "0"))
        .and(query_param("startDate", first.as_str()))
        .and(query_param("endDate", today.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(recharge_example(
            "ipweb/my_recharge_flow_list.json",
            &yesterday,
        )))
        .expect(1..)
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config(&server, "[recharges]")).await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_success",
            &[("endpoint", "recharges")]
        ),
        Some(1.0),
        "{m}"
    );
    let received = [("target", "reseller"), ("direction", "received")];
    let given = [("target", "reseller"), ("direction", "given")];
    // Received: the one row, 50 MB at 09:15 in +08:00.
    assert_eq!(
        value(&m, "proxy_recharge_last_30d_bytes", &received),
        Some(50.0 * MIB)
    );
    assert_eq!(
        value(&m, "proxy_recharge_last_timestamp_seconds", &received),
        Some(unix(&format!("{yesterday} 09:15:00"), 8))
    );
    // Given: 100 MB at 10:30. The newer row (11:15) is consumption, -20 MB: it
    // neither lowers the sum nor counts as the last recharge.
    assert_eq!(
        value(&m, "proxy_recharge_last_30d_bytes", &given),
        Some(100.0 * MIB)
    );
    assert_eq!(
        value(&m, "proxy_recharge_last_timestamp_seconds", &given),
        Some(unix(&format!("{yesterday} 10:30:00"), 8))
    );
    // Accounts and operators are not exported.
    assert!(!m.contains("customer1") && !m.contains("admin"));
    // `type` is a parameter of my list only.
    for request in server.received_requests().await.unwrap() {
        let has_type = request.url.query_pairs().any(|(k, _)| k == "type");
        assert_eq!(has_type, request.url.path() == MINE, "{}", request.url);
    }
    exporter.stop().await;
}

/// `flowCount` is signed: a list of consumption rows only has no recharge, so
/// the sum is 0 and there is no last recharge time, not a made-up one.
#[tokio::test]
async fn consumption_rows_are_not_recharges() {
    let server = MockServer::start().await;
    let rows = json!([
        {"customerId": 1, "account": "a", "flowCount": -20.0, "typeDesc": "消耗", "createId": 1, "createBy": "x", "createTime": format!("{} 11:15:00", provider_date(0))},
        {"customerId": 1, "account": "a", "flowCount": "-5", "typeDesc": "消耗", "createId": 1, "createBy": "x", "createTime": format!("{} 08:00:00", provider_date(-3))},
        {"customerId": 1, "account": "a", "flowCount": 0, "typeDesc": "充值", "createId": 1, "createBy": "x", "createTime": format!("{} 08:00:00", provider_date(-4))},
    ]);
    let body = json!({"code": 200, "msg": "查询成功", "data": {"total": 3, "rows": rows, "code": 200, "msg": "查询成功"}});
    mount_recharges(&server, body.clone(), body).await;
    let exporter = Exporter::start(&config(&server, "[recharges]")).await;
    let m = exporter.metrics().await;
    for direction in ["received", "given"] {
        assert_eq!(
            value(
                &m,
                "proxy_recharge_last_30d_bytes",
                &[("direction", direction)]
            ),
            Some(0.0),
            "{m}"
        );
    }
    assert!(
        samples(&m, "proxy_recharge_last_timestamp_seconds").is_empty(),
        "{m}"
    );
    assert_eq!(value(&m, "proxy_up", &[]), Some(1.0));
    exporter.stop().await;
}

/// `createTime` carries no zone: it is read in the target's `timezone`.
#[tokio::test]
async fn a_recharge_time_is_read_in_the_targets_zone() {
    let server = MockServer::start().await;
    let yesterday = provider_date(-1);
    mount_recharges(
        &server,
        recharge_example("ipweb/recharge_flow_list_for_me.json", &yesterday),
        recharge_example("ipweb/my_recharge_flow_list.json", &yesterday),
    )
    .await;
    let yaml = config(&server, "[recharges]") + "    timezone: UTC\n";
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(
            &m,
            "proxy_recharge_last_timestamp_seconds",
            &[("direction", "received")]
        ),
        Some(unix(&format!("{yesterday} 09:15:00"), 0))
    );
    exporter.stop().await;
}

/// `total` and `rows` sit inside `data`: the lists are read page by page until
/// `total` rows have arrived.
#[tokio::test]
async fn recharges_are_read_across_every_page() {
    let server = MockServer::start().await;
    let total = 150;
    for page in 1..=2usize {
        let rows: Vec<_> = (0..if page == 1 { 100 } else { 50 })
            .map(|i| {
                let n = (page - 1) * 100 + i;
                json!({"customerId": n, "account": format!("c{n}"), "flowCount": "2.5", "typeDesc": "充值",
                       "createId": 1, "createBy": "x", "createTime": format!("{} 00:{:02}:{:02}", provider_date(-((n % 30) as i64)), n / 60, n % 60)})
            })
            .collect();
        let body = json!({"code": 200, "msg": "查询成功", "data": {"total": total, "rows": rows, "code": 200, "msg": "查询成功"}});
        for list in [FOR_ME, MINE] {
            Mock::given(method("GET"))
                .and(path(list))
                .and(query_param("pageNum", page.to_string()))
                .respond_with(ResponseTemplate::new(200).set_body_json(body.clone()))
                .expect(1..)
                .mount(&server)
                .await;
        }
    }
    let exporter = Exporter::start(&config(&server, "[recharges]")).await;
    let m = exporter.metrics().await;
    for direction in ["received", "given"] {
        assert_eq!(
            value(
                &m,
                "proxy_recharge_last_30d_bytes",
                &[("direction", direction)]
            ),
            Some(150.0 * 2.5 * MIB),
            "{m}"
        );
    }
    // Row 120 (120 % 30 = 0: today, 00:02:00) is the newest.
    assert_eq!(
        value(
            &m,
            "proxy_recharge_last_timestamp_seconds",
            &[("direction", "given")]
        ),
        Some(unix(&format!("{} 00:02:00", provider_date(0)), 8))
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 4, "two pages of each list, then done");
    exporter.stop().await;
}

/// The examples nest a second `code`/`msg` inside `data`. A nested code other
/// than 200 fails the endpoint with reason `api`: its rows are not taken for
/// "no recharges".
#[tokio::test]
async fn a_nested_error_code_inside_data_is_an_api_error_not_a_zero() {
    let server = MockServer::start().await;
    let failed = json!({"code": 200, "msg": "操作成功", "data": {"total": 0, "rows": [], "code": 500, "msg": "查询失败"}});
    mount_recharges(
        &server,
        fixture_json("ipweb/recharge_flow_list_for_me.json"),
        failed,
    )
    .await;
    let exporter = Exporter::start(&config(&server, "[recharges]")).await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_errors_total",
            &[("endpoint", "recharges"), ("reason", "api")]
        ),
        Some(1.0),
        "{m}"
    );
    assert!(
        samples(&m, "proxy_recharge_last_30d_bytes").is_empty(),
        "{m}"
    );
    let page = exporter.get("/").await.text().await.unwrap();
    assert!(page.contains("code 500 inside data"), "{page}");
    exporter.stop().await;
}

/// The examples' rows are of 2025-11-17, outside the last 30 days: the API may
/// ignore `startDate`/`endDate`, so they are not counted.
#[tokio::test]
async fn recharges_outside_the_last_30_days_are_not_counted() {
    let server = MockServer::start().await;
    let mut for_me = recharge_example("ipweb/recharge_flow_list_for_me.json", &provider_date(-30));
    for_me["data"]["rows"]
        .as_array_mut()
        .unwrap()
        .push(json!({"customerId": 1, "account": "a", "flowCount": 7, "typeDesc": "充值", "createId": 1, "createBy": "x", "createTime": format!("{} 00:00:00", provider_date(-29))}));
    for_me["data"]["total"] = json!(2);
    mount_recharges(
        &server,
        for_me,
        fixture_json("ipweb/my_recharge_flow_list.json"),
    )
    .await;
    let exporter = Exporter::start(&config(&server, "[recharges]")).await;
    let m = exporter.metrics().await;
    // 30 days back is out, 29 days back (the first of the 30 days) is in.
    assert_eq!(
        value(
            &m,
            "proxy_recharge_last_30d_bytes",
            &[("direction", "received")]
        ),
        Some(7.0 * MIB)
    );
    assert_eq!(
        value(
            &m,
            "proxy_recharge_last_30d_bytes",
            &[("direction", "given")]
        ),
        Some(0.0)
    );
    assert!(value(
        &m,
        "proxy_recharge_last_timestamp_seconds",
        &[("direction", "given")]
    )
    .is_none());
    exporter.stop().await;
}

/// A recharge whose time cannot be read cannot be placed in the 30 days: the
/// endpoint fails with `decode` rather than guessing.
#[tokio::test]
async fn a_recharge_without_a_readable_time_is_a_decode_error() {
    let server = MockServer::start().await;
    let mut mine = fixture_json("ipweb/my_recharge_flow_list.json");
    mine["data"]["rows"][0]["createTime"] = json!("yesterday");
    mount_recharges(
        &server,
        fixture_json("ipweb/recharge_flow_list_for_me.json"),
        mine,
    )
    .await;
    let exporter = Exporter::start(&config(&server, "[recharges]")).await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_errors_total",
            &[("endpoint", "recharges"), ("reason", "decode")]
        ),
        Some(1.0),
        "{m}"
    );
    assert!(samples(&m, "proxy_recharge_last_30d_bytes").is_empty());
    exporter.stop().await;
}
