//! The `orders` endpoint of BestProxy and ProxyLite (`GET {prefix}/order/list`):
//! the documents' own examples against wiremock, orders across pages by product
//! and status, the 30 provider days it covers, its hourly cadence, its errors,
//! the front page and the status API, the simulator's orders, and that an
//! order's invoice and payment method are never kept, logged or exported.

use crate::common;

use common::logs::Logs;

use std::time::Duration;

use chrono::Utc;
use common::*;
use proxy_quota_exporter::simulator::data::{Clock, Order};
use proxy_quota_exporter::simulator::{Simulator, SimulatorConfig, BESTPROXY_APP_KEY};
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The time in the documents' examples.
const EXAMPLE_TIME: &str = "2019-08-24T14:15:22Z";

/// `start_time` as the exporter must send it for a target in +08:00: midnight
/// of the 29th provider day before today.
fn start_time() -> String {
    format!("{} 00:00:00", provider_date(-29))
}

/// RFC 3339 in UTC, `days` from now (negative: ago).
fn rfc3339(days: f64) -> String {
    (Utc::now() + chrono::Duration::seconds((days * 86_400.0) as i64))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Unix seconds, `days` from now.
fn unix(days: f64) -> i64 {
    Utc::now().timestamp() + (days * 86_400.0) as i64
}

/// An example answer with its order's times moved from 2019 to `at`.
fn example(name: &str, at: &str) -> Value {
    serde_json::from_str(&fixture(name).replace(EXAMPLE_TIME, at)).unwrap()
}

/// Mounts `body` as every page of the order list under `prefix`.
async fn mount_orders(server: &MockServer, prefix: &str, body: Value) {
    Mock::given(method("GET"))
        .and(path(format!("{prefix}/order/list")))
        .and(query_param("app_key", APP_KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

/// An order list answer as the documents shape it (`code` 0, `message`,
/// `pagination`), one page.
fn answer(orders: Vec<Value>) -> Value {
    let total = orders.len();
    json!({"code": 0, "message": "Operation successful", "data": {"list": orders,
        "pagination": {"total": total, "page_no": 1, "page_size": 100, "total_pages": 1}}})
}

/// An order as the documents show one, with the figures given.
fn order(trade_no: &str, product_type: i64, status: i64, pay_fee: Value, created: &str) -> Value {
    json!({"id": 1, "trade_no": trade_no, "out_trade_no": "", "product_id": 7,
        "product_type": product_type, "amount": 1, "unit_price": 1.0, "total_fee": pay_fee,
        "goods_fee": pay_fee, "pay_fee": pay_fee, "discount_fee": 0, "handling_fee": 0,
        "refund_fee": 0, "pm_id": 1, "pm_title": "Card", "pm_logo": "", "status": status,
        "title": "t", "detail": "", "region_desc": "", "pay_at": created,
        "pay_timestamp": 0, "created_at": created, "pay_fee_status": 0, "invoice": {}})
}

async fn status(exporter: &Exporter) -> Value {
    exporter.wait_ready().await;
    let body = exporter.get("/api/v1/status").await.text().await.unwrap();
    serde_json::from_str(&body).unwrap()
}

/// The `orders` object of the status API's first target.
async fn orders_status(exporter: &Exporter) -> Value {
    status(exporter).await["targets"][0]["orders"].clone()
}

/// Both documents' examples, their time moved into the last 30 days: one
/// pending order of product type 0, `code` 0 as success, one request with
/// `page_no`, `page_size` and `start_time` in the target's zone.
#[tokio::test]
async fn orders_from_the_documents_examples() {
    for (provider, prefix, fixture_name) in [
        ("bestproxy", "/gateway", "gateway/orders_bestproxy.json"),
        ("proxylite", "/end-point", "gateway/orders_proxylite.json"),
    ] {
        let server = MockServer::start().await;
        let created = rfc3339(-1.0);
        Mock::given(method("GET"))
            .and(path(format!("{prefix}/order/list")))
            .and(query_param("app_key", APP_KEY))
            .and(query_param("page_no", "1"))
            .and(query_param("page_size", "100"))
            .and(query_param("start_time", start_time()))
            .respond_with(ResponseTemplate::new(200).set_body_json(example(fixture_name, &created)))
            .expect(1)
            .mount(&server)
            .await;
        let base = format!("{}{prefix}", server.uri());
        let exporter = Exporter::start(&gateway_config(provider, &base, "[orders]")).await;
        let m = exporter.metrics().await;
        let target = format!("{provider}-main");
        let labels = |product: &'static str, status: &'static str| {
            [
                ("provider", provider),
                ("target", target.as_str()),
                ("product", product),
                ("status", status),
            ]
        };
        for (status, n) in [
            ("pending", 1.0),
            ("paid", 0.0),
            ("cancelled", 0.0),
            ("refunded", 0.0),
        ] {
            assert_eq!(
                value(&m, "proxy_orders", &labels("type_0", status)),
                Some(n),
                "{provider} {status}: {m}"
            );
            // The target's product_types (default [9]) read 0, not "no data".
            assert_eq!(
                value(&m, "proxy_orders", &labels("dynamic_residential", status)),
                Some(0.0)
            );
        }
        assert_eq!(samples(&m, "proxy_orders").len(), 8, "{m}");
        assert_eq!(
            value(&m, "proxy_order_paid_30d", &[("product", "type_0")]),
            Some(0.0)
        );
        assert_eq!(
            value(
                &m,
                "proxy_order_paid_30d",
                &[("product", "dynamic_residential")]
            ),
            Some(0.0)
        );
        assert!(samples(&m, "proxy_order_last_paid_timestamp_seconds").is_empty());
        assert_eq!(
            value(&m, "proxy_exporter_poll_success", &[("endpoint", "orders")]),
            Some(1.0)
        );
        assert_eq!(value(&m, "proxy_up", &[]), Some(1.0));

        let orders = orders_status(&exporter).await;
        assert_eq!(orders["pending_total"], 1, "{orders}");
        let pending = &orders["pending"][0];
        assert_eq!(pending["trade_no"], "string");
        assert_eq!(pending["product"], "type_0");
        assert_eq!(pending["fee"], 0.1);
        let created_at = chrono::DateTime::parse_from_rfc3339(&created)
            .unwrap()
            .timestamp();
        assert_eq!(pending["created_at"], created_at);
        assert_eq!(orders["last_purchase"], Value::Null);
        exporter.stop().await;
    }
}

/// The examples as they are date from 2019: an API that ignored `start_time`
/// would send them, and they are left out of the 30 days, not counted.
#[tokio::test]
async fn orders_older_than_the_30_days_are_left_out() {
    let server = MockServer::start().await;
    mount_orders(
        &server,
        "/gateway",
        fixture_json("gateway/orders_bestproxy.json"),
    )
    .await;
    let exporter = Exporter::start(&gateway_config("bestproxy", &server.uri(), "[orders]")).await;
    let m = exporter.metrics().await;
    assert!(
        samples(&m, "proxy_orders")
            .iter()
            .all(|l| l.contains("product=\"dynamic_residential\"") && l.ends_with(" 0")),
        "{m}"
    );
    assert_eq!(orders_status(&exporter).await["pending_total"], 0);
    exporter.stop().await;
}

/// Two pages (the `pagination` object's `total_pages`), every status, balance
/// top-ups (product type 3), amounts as numbers and numeric strings, payment
/// times in seconds and milliseconds, zone-less and RFC 3339 creation times.
#[tokio::test]
async fn orders_across_pages_by_product_and_status() {
    let server = MockServer::start().await;
    let mut paid_dynamic = order("T-9-1", 9, 1, json!(350), &rfc3339(-10.0));
    paid_dynamic["pay_timestamp"] = json!(unix(-10.0) + 90);
    let mut paid_dynamic_later = order("T-9-2", 9, 1, json!("175.25"), &rfc3339(-2.0));
    // Milliseconds are read as such.
    paid_dynamic_later["pay_timestamp"] = json!((unix(-2.0) + 60) * 1000);
    // A zone-less time is read in the target's zone (+08:00).
    let zoneless = (Utc::now() - chrono::Duration::days(3) + chrono::Duration::hours(8))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let mut balance = order("T-3-1", 3, 1, json!(100.0), &zoneless);
    balance["pay_timestamp"] = json!(unix(-3.0));
    let page_1 = vec![
        paid_dynamic,
        order("T-9-3", 9, 0, json!(50), &rfc3339(-0.1)),
        order("T-9-4", 9, 2, json!(50), &rfc3339(-5.0)),
        balance,
        order("T-3-2", 3, 3, json!(80), &rfc3339(-4.0)),
    ];
    let page_2 = vec![
        paid_dynamic_later,
        order("T-25-1", 25, 3, json!(6), &rfc3339(-6.0)),
        // A status the documents do not list is not counted.
        order("T-28-1", 28, 7, json!(1), &rfc3339(-1.0)),
        order("T-9-5", 9, 0, json!("25.5"), &rfc3339(-0.5)),
    ];
    for (page, list) in [("1", page_1), ("2", page_2)] {
        let body = json!({"code": 0, "message": "Operation successful", "data": {"list": list,
            "pagination": {"total": 9, "page_no": page.parse::<u32>().unwrap(), "page_size": 100, "total_pages": 2}}});
        Mock::given(method("GET"))
            .and(path("/end-point/order/list"))
            .and(query_param("page_no", page))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
    }
    let yaml =
        gateway_config("proxylite", &server.uri(), "[orders]") + "    product_types: [9, 12]\n";
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    let orders = |product: &str, status: &str| {
        value(
            &m,
            "proxy_orders",
            &[("product", product), ("status", status)],
        )
    };
    for (product, counts) in [
        ("dynamic_residential", [2.0, 2.0, 1.0, 0.0]),
        ("balance", [0.0, 1.0, 0.0, 1.0]),
        ("static_residential", [0.0, 0.0, 0.0, 1.0]),
        ("long_term_idc", [0.0, 0.0, 0.0, 0.0]),
    ] {
        for (status, n) in ["pending", "paid", "cancelled", "refunded"]
            .into_iter()
            .zip(counts)
        {
            assert_eq!(orders(product, status), Some(n), "{product} {status}: {m}");
        }
    }
    assert_eq!(
        orders("type_28", "pending"),
        None,
        "status 7 is not counted"
    );
    let paid = |product| value(&m, "proxy_order_paid_30d", &[("product", product)]);
    assert_eq!(paid("dynamic_residential"), Some(525.25));
    // A refund is no spend.
    assert_eq!(paid("balance"), Some(100.0));
    assert_eq!(paid("static_residential"), Some(0.0));
    assert_eq!(paid("long_term_idc"), Some(0.0));
    let last = |product| {
        value(
            &m,
            "proxy_order_last_paid_timestamp_seconds",
            &[("product", product)],
        )
    };
    let near = |actual: Option<f64>, expected: i64| {
        actual.is_some_and(|a| (a - expected as f64).abs() <= 5.0)
    };
    assert!(near(last("dynamic_residential"), unix(-2.0) + 60), "{m}");
    assert!(near(last("balance"), unix(-3.0)), "{m}");
    assert_eq!(last("static_residential"), None);
    assert_eq!(
        samples(&m, "proxy_order_last_paid_timestamp_seconds").len(),
        2
    );

    // The status API: spend per product (largest first), the last purchase,
    // the orders waiting for payment (newest first).
    let o = orders_status(&exporter).await;
    let spend: Vec<_> = o["spend_30d"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["product"].as_str().unwrap(), p["paid"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        spend,
        [
            ("dynamic_residential", 525.25),
            ("balance", 100.0),
            ("long_term_idc", 0.0),
            ("static_residential", 0.0),
        ]
    );
    assert_eq!(o["spend_30d"][0]["orders"]["paid"], 2);
    assert_eq!(o["spend_30d"][0]["orders"]["pending"], 2);
    assert_eq!(o["last_purchase"]["trade_no"], "T-9-2");
    assert_eq!(o["last_purchase"]["fee"], 175.25);
    assert_eq!(o["pending_total"], 2);
    let pending: Vec<_> = o["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["trade_no"].as_str().unwrap())
        .collect();
    assert_eq!(pending, ["T-9-3", "T-9-5"]);

    // The front page says the same.
    let page = exporter.get("/").await.text().await.unwrap();
    for text in [
        "Orders, last 30 days",
        "2 orders waiting for payment",
        "T-9-3",
        "T-9-5",
        "Last purchase: <strong>dynamic_residential</strong> for 175.25, paid <time",
        "<td>dynamic_residential</td><td>525.25</td><td>2</td><td>2</td><td>1</td><td>0</td>",
        "<td>balance</td><td>100.00</td>",
    ] {
        assert!(page.contains(text), "{text} not on the page");
    }
    exporter.stop().await;
}

/// `orders` sits out the target's polls for an hour after a successful one,
/// like `stock`, while the other endpoints keep the interval; its values stay.
#[tokio::test]
async fn orders_are_polled_at_most_hourly() {
    let server = MockServer::start().await;
    mount_orders(
        &server,
        "/gateway",
        example("gateway/orders_bestproxy.json", &rfc3339(-1.0)),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/gateway/proxy-ip/list"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("gateway/allowlist.json")))
        .mount(&server)
        .await;
    let yaml = format!(
        "interval: 1s\nmax_staleness: 1s\n{}",
        gateway_config("bestproxy", &server.uri(), "[allowlist, orders]")
    );
    let exporter = Exporter::start(&yaml).await;
    exporter.wait_ready().await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let m = exporter.get("/metrics").await.text().await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let count = |p: &str| requests.iter().filter(|r| r.url.path() == p).count();
    assert!(
        count("/gateway/proxy-ip/list") >= 3,
        "allowlist every second"
    );
    assert_eq!(count("/gateway/order/list"), 1, "orders once");
    assert_eq!(
        value(
            &m,
            "proxy_orders",
            &[("product", "type_0"), ("status", "pending")]
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(value(&m, "proxy_up", &[]), Some(1.0));
    exporter.stop().await;
}

/// What cannot be read fails the endpoint with `decode`, never a made-up
/// figure: a creation time that is not a time, a paid order without an amount.
#[tokio::test]
async fn an_unreadable_order_fails_the_endpoint() {
    for (broken, why) in [
        (
            order("T-1", 9, 0, json!(1), "yesterday"),
            "created_at: not a timestamp",
        ),
        (
            {
                let mut o = order("T-2", 9, 1, json!(1), &rfc3339(-1.0));
                o.as_object_mut().unwrap().remove("pay_fee");
                o
            },
            "a paid order has no pay_fee",
        ),
        (
            order("T-3", 9, 1, json!("twelve"), &rfc3339(-1.0)),
            "unexpected data",
        ),
    ] {
        let server = MockServer::start().await;
        mount_orders(&server, "/gateway", answer(vec![broken])).await;
        let exporter =
            Exporter::start(&gateway_config("bestproxy", &server.uri(), "[orders]")).await;
        let m = exporter.metrics().await;
        assert_eq!(poll_errors(&m, "orders", "decode"), Some(1.0), "{why}: {m}");
        assert!(samples(&m, "proxy_orders").is_empty(), "{why}: {m}");
        let s = status(&exporter).await;
        let error = s["targets"][0]["endpoints"][0]["error"].as_str().unwrap();
        assert!(error.contains(why), "{error}");
        assert!(error.contains("/gateway/order/list"), "{error}");
        exporter.stop().await;
    }
}

/// An order number longer than `label_value_length_limit` is cut, as every
/// text from a provider is, before the page and the status API see it.
#[tokio::test]
async fn a_long_order_number_is_bounded_like_every_label_value() {
    let server = MockServer::start().await;
    let long = "9".repeat(5000);
    mount_orders(
        &server,
        "/gateway",
        answer(vec![order(&long, 9, 0, json!(1), &rfc3339(-1.0))]),
    )
    .await;
    let yaml = gateway_config("bestproxy", &server.uri(), "[orders]")
        + "    label_value_length_limit: 64\n";
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    let trade_no = orders_status(&exporter).await["pending"][0]["trade_no"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        trade_no.len() <= 64 && trade_no.starts_with("999"),
        "{trade_no}"
    );
    assert!(
        value(&m, "proxy_exporter_label_values_truncated_total", &[]).is_some_and(|n| n >= 1.0),
        "{m}"
    );
    exporter.stop().await;
}

// ------------------------------------------------------------ personal data

/// The invoice and payment method of ProxyLite's example order, filled with
/// values found nowhere else.
fn personal_data() -> Vec<(&'static str, &'static str)> {
    vec![
        ("name", "PERSONAL-Erika Mustermann"),
        ("org_name", "PERSONAL-Musterfirma GmbH"),
        ("first_name", "PERSONAL-Erika"),
        ("last_name", "PERSONAL-Mustermann"),
        ("phone", "PERSONAL-+49 30 1234567"),
        ("email", "PERSONAL-erika@example.com"),
        ("vat_id", "PERSONAL-DE123456789"),
        ("address_country", "PERSONAL-DE"),
        ("address_city", "PERSONAL-Berlin"),
        ("address_line1", "PERSONAL-Musterstrasse 1"),
        ("address_line2", "PERSONAL-Hinterhaus"),
        ("address_postal_code", "PERSONAL-10115"),
    ]
}

/// An order's invoice (names, organisation, addresses, tax ID) and payment
/// method are never decoded into anything kept: not on `/metrics`, the front
/// page, the status API, nor in the log at `trace`, neither when the order is
/// read nor when a broken order beside it fails the endpoint.
#[tokio::test]
async fn an_orders_invoice_and_payment_method_are_never_kept_logged_or_exported() {
    let logs = Logs::global();
    let server = MockServer::start().await;
    let mut body = example("gateway/orders_proxylite.json", &rfc3339(-1.0));
    let good = &mut body["data"]["list"][0];
    good["status"] = json!(1);
    good["pay_timestamp"] = json!(unix(-1.0));
    good["pm_title"] = json!("PERSONAL-Musterbank transfer");
    good["pm_logo"] = json!("https://PERSONAL.example/musterbank.png");
    good["pm_id"] = json!(987654321);
    for (key, text) in personal_data() {
        good["invoice"][key] = json!(text);
    }
    let good = good.clone();
    mount_orders(&server, "/end-point", body.clone()).await;
    // A second target's answer holds the same order and a broken one.
    let mut broken = good.clone();
    broken["created_at"] = json!("not a time");
    body["data"]["list"] = json!([good, broken]);
    Mock::given(method("GET"))
        .and(path("/broken/end-point/order/list"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let yaml = format!(
        "{}  - name: broken\n    provider: proxylite\n    base_url: {}/broken\n    app_key: {APP_KEY}\n    endpoints: [orders]\n",
        gateway_config("proxylite", &server.uri(), "[orders]"),
        server.uri()
    );
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(
            &m,
            "proxy_orders",
            &[
                ("target", "proxylite-main"),
                ("product", "type_0"),
                ("status", "paid")
            ]
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_success",
            &[("target", "broken"), ("endpoint", "orders")]
        ),
        Some(0.0)
    );
    let page = exporter.get("/").await.text().await.unwrap();
    let api = exporter.get("/api/v1/status").await.text().await.unwrap();
    assert!(page.contains("Last purchase"), "{page}");
    assert!(api.contains("not a time"), "{api}");
    exporter.stop().await;
    let everything = format!("{m}\n{page}\n{api}\n{}", logs.text());
    assert!(
        everything.contains("order/list"),
        "the log was captured: {everything}"
    );
    for (key, text) in personal_data() {
        assert!(!everything.contains(text), "invoice {key} leaked");
    }
    for text in ["Musterbank", "PERSONAL", "987654321"] {
        assert!(!everything.contains(text), "{text} leaked");
    }
}

// ------------------------------------------------------------ the simulator

/// The simulated invoice and payment method, which must never show.
const SIMULATED_PERSONAL: [&str; 6] = [
    "Simulated Buyer",
    "Simulated Trading Ltd",
    "Simulated Pay",
    "billing@example.com",
    "1 Simulated Street",
    "XX000000000",
];

/// At any moment of the simulator's life exactly one order waits for payment;
/// the day's earlier top-ups were cancelled at their deadline.
#[test]
fn the_simulator_always_has_one_order_waiting_for_payment() {
    let simulator_start = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let dataset = proxy_quota_exporter::simulator::data::Dataset::generate(
        42,
        proxy_quota_exporter::simulator::data::Sizes {
            sub_accounts: 4,
            static_ips: 12,
            customers: 1,
        },
    );
    for after in [0, 60, 23 * 3600 + 50 * 60, 86_400, 5 * 86_400 + 7] {
        let clock = Clock {
            start: simulator_start,
            now: simulator_start + chrono::Duration::seconds(after),
        };
        let orders = dataset.bestproxy.orders(&clock);
        let pending: Vec<&Order> = orders.iter().filter(|o| o.status == 0).collect();
        assert_eq!(pending.len(), 1, "after {after} s: {orders:?}");
        assert!(orders.iter().all(|o| o.created_in <= after));
        // One paid order per purchase made by then: packages and static IPs.
        let purchases = dataset
            .bestproxy
            .packages
            .iter()
            .map(|p| p.expires_in)
            .chain(dataset.bestproxy.static_ips.iter().map(|ip| ip.expires_in))
            .filter(|expires_in| expires_in - 30 * 86_400 <= after)
            .count();
        assert_eq!(orders.iter().filter(|o| o.status == 1).count(), purchases);
        assert!(orders.iter().all(|o| o.status == 1 || o.product_type == 9));
    }
}

/// A target on the simulator reads its orders: the counts and the spend of
/// the 30 days per product as the simulated account holds them, one order
/// waiting for payment, and nothing of the simulated invoices anywhere.
#[tokio::test]
async fn the_simulators_orders_on_metrics_the_page_and_the_status_api() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let yaml = format!(
        "targets:\n  - name: sim\n    provider: bestproxy\n    base_url: {}\n    app_key: {BESTPROXY_APP_KEY}\n    product_types: [9, 12]\n    endpoints: [orders]\n",
        simulator.base_url(proxy_quota_exporter::simulator::SimProvider::BestProxy)
    );
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    let clock = Clock {
        start: simulator.start_time(),
        now: Utc::now(),
    };
    let since = chrono::NaiveDate::parse_from_str(&provider_date(-29), "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_local_timezone(chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .unwrap()
        .timestamp();
    let orders: Vec<Order> = simulator
        .dataset()
        .bestproxy
        .orders(&clock)
        .into_iter()
        .filter(|o| clock.start.timestamp() + o.created_in >= since)
        .collect();
    for (product_type, product) in [
        (9, "dynamic_residential"),
        (12, "long_term_idc"),
        (14, "static_datacenter"),
        (25, "static_residential"),
    ] {
        // The target's product_types always, others when they had an order.
        let shown = [9, 12].contains(&product_type)
            || orders.iter().any(|o| o.product_type == product_type);
        let of = |status: u32| {
            orders
                .iter()
                .filter(|o| o.product_type == product_type && o.status == status)
                .count() as f64
        };
        assert_eq!(
            value(
                &m,
                "proxy_orders",
                &[("product", product), ("status", "paid")]
            ),
            shown.then(|| of(1)),
            "{product}: {m}"
        );
        let spent: f64 = orders
            .iter()
            .filter(|o| o.product_type == product_type && o.status == 1)
            .map(Order::pay_fee)
            .sum();
        assert_eq!(
            value(&m, "proxy_order_paid_30d", &[("product", product)]),
            shown.then_some(spent),
            "{product}"
        );
    }
    assert!(
        value(
            &m,
            "proxy_order_paid_30d",
            &[("product", "dynamic_residential")]
        )
        .is_some_and(|paid| paid > 0.0),
        "the demo shows spend: {m}"
    );
    assert_eq!(
        value(
            &m,
            "proxy_orders",
            &[("product", "dynamic_residential"), ("status", "pending")]
        ),
        Some(1.0)
    );
    assert!(!samples(&m, "proxy_order_last_paid_timestamp_seconds").is_empty());
    let o = orders_status(&exporter).await;
    assert_eq!(o["pending_total"], 1, "{o}");
    assert_eq!(o["pending"][0]["fee"], 175.0);
    assert!(o["last_purchase"]["paid_at"].is_i64(), "{o}");
    let page = exporter.get("/").await.text().await.unwrap();
    assert!(page.contains("1 order waiting for payment"), "{page}");
    let api = exporter.get("/api/v1/status").await.text().await.unwrap();
    for text in SIMULATED_PERSONAL {
        for (name, output) in [("/metrics", &m), ("/", &page), ("/api/v1/status", &api)] {
            assert!(!output.contains(text), "{text} on {name}");
        }
    }
    // The demo polls orders too.
    assert!(simulator
        .demo_config_yaml(Duration::from_secs(60))
        .contains("allowlist, orders, stock"));
    exporter.stop().await;
}
