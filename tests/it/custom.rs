//! `provider: custom` against wiremock upstreams of different shapes: every
//! auth kind, every paging style and stop rule, every unit, the envelope check,
//! expiry formats, and the failures (a pointer that finds nothing, a next-page
//! link to another host, an API that ignores paging, too many items), none of
//! which may leave a made-up 0 or the credential anywhere.

use crate::common;

use common::*;
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const CREDENTIAL: &str = "custom-cred-81f2c4";
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// A custom target named `other` on `server` (under `/v1`), with `keys`
/// (indented YAML lines of the target).
fn config(server: &MockServer, keys: &str) -> String {
    format!(
        "targets:\n  - name: other\n    provider: custom\n    base_url: {}/v1\n    credential: {CREDENTIAL}\n{keys}",
        server.uri()
    )
}

fn answer(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// The last error of each endpoint, as the status API reports it.
async fn status_text(exporter: &Exporter) -> String {
    exporter.get("/api/v1/status").await.text().await.unwrap()
}

#[tokio::test]
async fn bearer_header_and_numbered_pages_until_the_last_page() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/me"))
        .and(header("authorization", format!("Bearer {CREDENTIAL}").as_str()))
        .respond_with(answer(json!({"data": {"available_traffic": 32.5, "total_traffic": "100", "used_traffic": 67.5}})))
        .mount(&server)
        .await;
    for page in 1..=3 {
        let items: Vec<_> = (0..2)
            .map(|i| {
                let n = (page - 1) * 2 + i;
                json!({"username": format!("user{n}"), "traffic_used": n, "traffic_limit": if n == 0 { json!(0) } else if n == 1 { json!(-1) } else { json!(10) }, "is_active": n % 2 == 0})
            })
            .collect();
        Mock::given(method("GET"))
            .and(path("/v1/subusers"))
            .and(query_param("page", page.to_string()))
            .and(query_param("per_page", "2"))
            .and(header(
                "authorization",
                format!("Bearer {CREDENTIAL}").as_str(),
            ))
            .respond_with(answer(
                json!({"data": items, "meta": {"current_page": page, "last_page": 3}}),
            ))
            .expect(1)
            .mount(&server)
            .await;
    }
    let exporter = Exporter::start(&config(
        &server,
        "    auth: {header: Authorization, prefix: \"Bearer \"}\n\
         \x20   unit: GB\n\
         \x20   pools:\n\
         \x20     - path: /me\n\
         \x20       pool: residential\n\
         \x20       remaining: /data/available_traffic\n\
         \x20       purchased: /data/total_traffic\n\
         \x20       used: /data/used_traffic\n\
         \x20   accounts:\n\
         \x20     path: /subusers\n\
         \x20     paging: {style: page, page_param: page, size_param: per_page, size: 2, items: /data, total_pages: /meta/last_page}\n\
         \x20     account: /username\n\
         \x20     used: /traffic_used\n\
         \x20     limit: /traffic_limit\n\
         \x20     unlimited_values: [-1]\n\
         \x20     enabled: /is_active\n",
    ))
    .await;
    let m = exporter.metrics().await;
    let pool = [
        ("provider", "custom"),
        ("target", "other"),
        ("pool", "residential"),
    ];
    assert_eq!(
        value(&m, "proxy_traffic_remaining_bytes", &pool),
        Some(32.5 * GIB)
    );
    assert_eq!(
        value(&m, "proxy_traffic_purchased_bytes", &pool),
        Some(100.0 * GIB)
    );
    assert_eq!(
        value(&m, "proxy_traffic_used_bytes", &pool),
        Some(67.5 * GIB)
    );
    assert_eq!(samples(&m, "proxy_account_used_bytes").len(), 6, "{m}");
    fn user(n: &str) -> [(&str, &str); 2] {
        [("account", n), ("product", "default")]
    }
    assert_eq!(
        value(&m, "proxy_account_used_bytes", &user("user5")),
        Some(5.0 * GIB)
    );
    assert_eq!(
        value(&m, "proxy_account_limit_bytes", &user("user5")),
        Some(10.0 * GIB)
    );
    assert_eq!(
        value(&m, "proxy_account_limit_bytes", &user("user0")),
        None,
        "0: no limit"
    );
    assert_eq!(
        value(&m, "proxy_account_limit_bytes", &user("user1")),
        None,
        "-1 listed"
    );
    assert_eq!(
        value(&m, "proxy_account_enabled", &user("user1")),
        Some(0.0)
    );
    assert_eq!(
        value(&m, "proxy_account_enabled", &user("user2")),
        Some(1.0)
    );
    assert_eq!(value(&m, "proxy_up", &[("target", "other")]), Some(1.0));
    assert!(!m.contains(CREDENTIAL));
    exporter.stop().await;
}

#[tokio::test]
async fn query_parameter_auth_and_next_links_absolute_and_relative() {
    let server = MockServer::start().await;
    let base = server.uri();
    // Page 1 links absolutely (carrying the key, as some APIs echo it), page 2
    // relatively; page 3 ends with null.
    let pages = [
        (
            None,
            json!({"results": [{"ip": "10.0.0.1", "expires": 1900000000, "cc": "US"}], "next": format!("{base}/v1/ips/?page=2&api_key={CREDENTIAL}")}),
        ),
        (
            Some("2"),
            json!({"results": [{"ip": "10.0.0.2", "expires": "2030-03-17T08:00:00Z", "cc": "DE"}], "next": "?page=3"}),
        ),
        (
            Some("3"),
            json!({"results": [{"ip": "10.0.0.3", "expires": "2030-03-17 16:00:00", "cc": null}], "next": null}),
        ),
    ];
    for (page, body) in pages {
        let mock = Mock::given(method("GET"))
            .and(path("/v1/ips/"))
            .and(query_param("api_key", CREDENTIAL));
        let mock = match page {
            Some(page) => mock.and(query_param("page", page)),
            None => mock.and(query_param_is_missing("page")),
        };
        mock.respond_with(answer(body))
            .expect(1)
            .mount(&server)
            .await;
    }
    let exporter = Exporter::start(&config(
        &server,
        "    timezone: \"+08:00\"\n\
         \x20   auth: {query: api_key}\n\
         \x20   static_ips:\n\
         \x20     path: /ips/\n\
         \x20     product: datacenter\n\
         \x20     paging: {style: next, items: /results, next: /next}\n\
         \x20     ip: /ip\n\
         \x20     expires_at: /expires\n\
         \x20     country: /cc\n",
    ))
    .await;
    let m = exporter.metrics().await;
    let ip = |ip: &str, country: &str| {
        value(
            &m,
            "proxy_static_ip_expiry_timestamp_seconds",
            &[("ip", ip), ("product", "datacenter"), ("country", country)],
        )
    };
    assert_eq!(ip("10.0.0.1", "US"), Some(1900000000.0));
    assert_eq!(ip("10.0.0.2", "DE"), Some(1899964800.0));
    assert_eq!(
        ip("10.0.0.3", ""),
        Some(1899964800.0),
        "zone-less, read at +08:00"
    );
    // The key went once on each request, never twice.
    for request in server.received_requests().await.unwrap() {
        let keys = request
            .url
            .query_pairs()
            .filter(|(k, _)| k == "api_key")
            .count();
        assert_eq!(keys, 1, "{}", request.url.path());
    }
    assert_eq!(
        samples(&m, "proxy_static_ips").len(),
        0,
        "no status: no counts"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn http_basic_auth_and_every_unit() {
    let server = MockServer::start().await;
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("user:{CREDENTIAL}"))
    );
    Mock::given(method("GET"))
        .and(path("/v1/balance"))
        .and(header("authorization", basic.as_str()))
        .respond_with(answer(
            json!({"b": 1536, "kb": "2048", "mb": 1.5, "gb": "0.5"}),
        ))
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config(
        &server,
        &"    auth: {basic_username: user}\n\
         \x20   unit: KB\n\
         \x20   pools:\n\
         \x20     - {path: /balance, pool: b, remaining: {pointer: /b, unit: B}}\n\
         \x20     - {path: /balance, pool: kb, remaining: /kb}\n\
         \x20     - {path: /balance, pool: mb, remaining: {pointer: /mb, unit: MB}}\n\
         \x20     - {path: /balance, pool: gb, remaining: {pointer: /gb, unit: GB}}\n\
         \x20 - name: decimal\n\
         \x20   provider: custom\n\
         \x20   base_url: URI/v1\n\
         \x20   credential: CRED\n\
         \x20   unit_base: 1000\n\
         \x20   auth: {basic_username: user}\n\
         \x20   pools:\n\
         \x20     - {path: /balance, pool: gb, remaining: {pointer: /gb, unit: GB}}\n"
            .replace("URI", &server.uri())
            .replace("CRED", CREDENTIAL),
    ))
    .await;
    let m = exporter.metrics().await;
    let pool = |target: &str, pool: &str| {
        value(
            &m,
            "proxy_traffic_remaining_bytes",
            &[("target", target), ("pool", pool)],
        )
    };
    assert_eq!(pool("other", "b"), Some(1536.0));
    assert_eq!(pool("other", "kb"), Some(2048.0 * 1024.0));
    assert_eq!(pool("other", "mb"), Some(1.5 * 1024.0 * 1024.0));
    assert_eq!(pool("other", "gb"), Some(0.5 * GIB));
    assert_eq!(pool("decimal", "gb"), Some(0.5e9));
    // Four pools on one path: one request per poll.
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "one request per target");
    exporter.stop().await;
}

const ENVELOPE: &str = "    auth: {header: X-Api-Key}\n\
     \x20   success: {pointer: /code, equals: 0, auth_values: [10001]}\n\
     \x20   unit: GB\n\
     \x20   pools:\n\
     \x20     - {path: /flow, pool: residential, remaining: /data/left, purchased: /data/total}\n";

#[tokio::test]
async fn an_envelope_that_says_success_is_read_with_gb_as_strings() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/flow"))
        .and(header("x-api-key", CREDENTIAL))
        .respond_with(answer(
            json!({"code": "0", "msg": "ok", "data": {"left": "12.50", "total": "50"}}),
        ))
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config(&server, ENVELOPE)).await;
    let m = exporter.metrics().await;
    let pool = [("pool", "residential")];
    assert_eq!(
        value(&m, "proxy_traffic_remaining_bytes", &pool),
        Some(12.5 * GIB)
    );
    assert_eq!(
        value(&m, "proxy_traffic_purchased_bytes", &pool),
        Some(50.0 * GIB)
    );
    exporter.stop().await;
}

#[tokio::test]
async fn an_envelope_that_says_failure_is_an_api_or_auth_error_never_data() {
    // The first message echoes the key, as some APIs do: it is redacted.
    for (code, reason, sent, message) in [
        (
            10001,
            "auth",
            format!("invalid key {CREDENTIAL}"),
            "invalid key <redacted>",
        ),
        (20002, "api", "server busy".to_owned(), "server busy"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/flow"))
            .respond_with(answer(
                json!({"code": code, "msg": sent, "data": {"left": "0", "total": "0"}}),
            ))
            .mount(&server)
            .await;
        let exporter = Exporter::start(&config(&server, ENVELOPE)).await;
        let m = exporter.metrics().await;
        assert_eq!(poll_errors(&m, "summary", reason), Some(1.0), "{m}");
        assert_eq!(samples(&m, "proxy_traffic_remaining_bytes").len(), 0, "{m}");
        let status = status_text(&exporter).await;
        assert!(
            status.contains(&format!("GET /v1/flow: /code is {code}, not 0: {message}")),
            "{status}"
        );
        assert!(!status.contains(CREDENTIAL) && !m.contains(CREDENTIAL));
        exporter.stop().await;
    }
}

#[tokio::test]
async fn every_wire_form_of_the_credential_is_redacted_even_when_cut_short() {
    use base64::Engine as _;
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let basic = b64(&format!("user:{CREDENTIAL}"));
    // An API that echoes the Authorization header it got, one that echoes the
    // credential in base64, and one whose long message is cut (to 400 bytes)
    // in the middle of the credential.
    let cut = format!("{}{CREDENTIAL}", "x".repeat(390));
    for echoed in [
        format!("rejected Authorization: Basic {basic}"),
        format!("rejected key (base64) {}", b64(CREDENTIAL)),
        cut,
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/flow"))
            .respond_with(answer(json!({"code": 10001, "msg": echoed})))
            .mount(&server)
            .await;
        let keys = ENVELOPE.replace("auth: {header: X-Api-Key}", "auth: {basic_username: user}");
        let exporter = Exporter::start(&config(&server, &keys)).await;
        let m = exporter.metrics().await;
        assert_eq!(poll_errors(&m, "summary", "auth"), Some(1.0), "{m}");
        let status = status_text(&exporter).await;
        let page = exporter.get("/").await.text().await.unwrap();
        for text in [&status, &page] {
            assert!(
                text.contains("<redacted>") || text.contains("&lt;redacted&gt;"),
                "{text}"
            );
            assert!(
                !text.contains(&basic[..12]),
                "base64 of user:credential: {text}"
            );
            assert!(
                !text.contains(&CREDENTIAL[..8]),
                "(part of) the credential: {text}"
            );
            assert!(!text.contains(&b64(CREDENTIAL)[..12]), "base64: {text}");
        }
        exporter.stop().await;
    }
}

#[tokio::test]
async fn numbered_pages_end_at_the_item_total_or_an_empty_page_and_may_count_from_zero() {
    let server = MockServer::start().await;
    let item = |n: u32| json!({"name": format!("a{n}"), "used": n});
    // Item total: pages 0 and 1 (counted from 0), 3 items.
    for (page, items) in [("0", vec![item(0), item(1)]), ("1", vec![item(2)])] {
        Mock::given(method("GET"))
            .and(path("/v1/total"))
            .and(query_param("p", page))
            .respond_with(answer(json!({"list": items, "count": 3})))
            .expect(1)
            .mount(&server)
            .await;
    }
    // No totals: page 3 is empty and ends the list.
    for (page, items) in [
        ("1", vec![item(0), item(1)]),
        ("2", vec![item(2)]),
        ("3", vec![]),
    ] {
        Mock::given(method("GET"))
            .and(path("/v1/empty"))
            .and(query_param("p", page))
            .respond_with(answer(json!({"list": items})))
            .expect(1)
            .mount(&server)
            .await;
    }
    let section = |path: &str, paging: &str| {
        format!(
            "    auth: {{query: key}}\n    unit: B\n    accounts:\n      path: {path}\n      paging: {paging}\n      account: /name\n      used: /used\n"
        )
    };
    let yaml = format!(
        "{}  - name: empty\n    provider: custom\n    base_url: {}/v1\n    credential: {CREDENTIAL}\n{}",
        config(&server, &section("/total", "{style: page, page_param: p, first_page: 0, items: /list, total_items: /count}")),
        server.uri(),
        section("/empty", "{style: page, page_param: p, items: /list}")
    );
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    for target in ["other", "empty"] {
        let used = |a: &str| {
            value(
                &m,
                "proxy_account_used_bytes",
                &[("target", target), ("account", a)],
            )
        };
        assert_eq!(
            (used("a0"), used("a1"), used("a2")),
            (Some(0.0), Some(1.0), Some(2.0)),
            "{target}"
        );
        assert_eq!(value(&m, "proxy_up", &[("target", target)]), Some(1.0));
    }
    exporter.stop().await;
}

#[tokio::test]
async fn a_pointer_that_finds_nothing_is_a_decode_error_naming_it_and_never_a_zero() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/me"))
        .respond_with(answer(json!({"data": {"available": 5, "total": null}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/users"))
        .respond_with(answer(
            json!({"items": [{"name": "a", "used": 1}, {"name": "b"}]}),
        ))
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config(
        &server,
        "    auth: {query: key}\n\
         \x20   unit: MB\n\
         \x20   pools:\n\
         \x20     - {path: /me, pool: main, remaining: /data/available, purchased: /data/totl}\n\
         \x20     - {path: /me, pool: other, remaining: /data/total}\n\
         \x20   accounts: {path: /users, items: /items, account: /name, used: /used}\n",
    ))
    .await;
    let m = exporter.metrics().await;
    assert_eq!(poll_errors(&m, "summary", "decode"), Some(1.0), "{m}");
    assert_eq!(poll_errors(&m, "accounts", "decode"), Some(1.0), "{m}");
    assert_eq!(samples(&m, "proxy_traffic_remaining_bytes").len(), 0, "{m}");
    assert_eq!(samples(&m, "proxy_account_used_bytes").len(), 0, "{m}");
    assert_eq!(value(&m, "proxy_up", &[("target", "other")]), Some(0.0));
    let status = status_text(&exporter).await;
    assert!(
        status.contains("GET /v1/me: pool main: /data/totl finds nothing"),
        "{status}"
    );
    assert!(
        status.contains("GET /v1/users: items[1]: /used finds nothing"),
        "{status}"
    );
    exporter.stop().await;

    // null is not a number either.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/me"))
        .respond_with(answer(json!({"data": {"total": null}})))
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config(
        &server,
        "    auth: {query: key}\n    unit: MB\n    pools:\n      - {path: /me, pool: main, remaining: /data/total}\n",
    ))
    .await;
    let status = {
        exporter.wait_ready().await;
        status_text(&exporter).await
    };
    assert!(
        status.contains("/data/total is null, not a number"),
        "{status}"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/ips"))
        .respond_with(answer(json!({"results": [{"ip": "10.0.0.1", "exp": 1900000000}], "next": format!("{}/steal", elsewhere.uri())})))
        .mount(&server)
        .await;
    let exporter = Exporter::start(&config(
        &server,
        "    auth: {header: Authorization, prefix: \"Token \"}\n\
         \x20   static_ips:\n\
         \x20     path: /ips\n\
         \x20     paging: {style: next, items: /results, next: /next}\n\
         \x20     ip: /ip\n\
         \x20     expires_at: /exp\n",
    ))
    .await;
    let m = exporter.metrics().await;
    assert_eq!(poll_errors(&m, "static_ips", "decode"), Some(1.0), "{m}");
    assert_eq!(
        samples(&m, "proxy_static_ip_expiry_timestamp_seconds").len(),
        0
    );
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the credential went elsewhere"
    );
    let status = status_text(&exporter).await;
    assert!(
        status.contains("is not followed: it would carry the credential"),
        "{status}"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn an_api_that_ignores_paging_or_lists_too_much_is_stopped_by_the_shared_pager() {
    let server = MockServer::start().await;
    // Every page number gets the same page, and no total.
    Mock::given(method("GET"))
        .and(path("/v1/same"))
        .respond_with(answer(json!({"data": [{"u": "a", "n": 1}]})))
        .mount(&server)
        .await;
    // A next link to itself.
    Mock::given(method("GET"))
        .and(path("/v1/loop"))
        .respond_with(|request: &Request| {
            answer(json!({"data": [{"u": "a", "n": 1}], "next": request.url.path()}))
        })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/last"))
        .respond_with(answer(json!({"data": [{"u": "a", "n": 1}], "next": ""})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/many"))
        .respond_with(answer(json!({"data": (0..5).map(|i| json!({"u": format!("u{i}"), "n": i})).collect::<Vec<_>>()})))
        .mount(&server)
        .await;
    let target = |name: &str, section: &str, extra: &str| {
        format!(
            "  - name: {name}\n    provider: custom\n    base_url: {}/v1\n    credential: {CREDENTIAL}\n    auth: {{query: key}}\n    unit: B\n{extra}    accounts:\n{section}      account: /u\n      used: /n\n",
            server.uri()
        )
    };
    let yaml = format!(
        "targets:\n{}{}{}{}{}",
        target(
            "same",
            "      path: /same\n      paging: {style: page, page_param: page, items: /data}\n",
            ""
        ),
        target(
            "loop",
            "      path: /loop\n      paging: {style: next, items: /data, next: /next}\n",
            ""
        ),
        target(
            "many",
            "      path: /many\n      items: /data\n",
            "    sample_limit: 3\n"
        ),
        // A typo in the link's pointer must not read the first page alone.
        target(
            "typo",
            "      path: /loop\n      paging: {style: next, items: /data, next: /nxt}\n",
            ""
        ),
        target(
            "empty-link",
            "      path: /last\n      paging: {style: next, items: /data, next: /next}\n",
            ""
        ),
    );
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    for name in ["same", "loop", "typo"] {
        assert_eq!(
            value(
                &m,
                "proxy_exporter_poll_errors_total",
                &[("target", name), ("reason", "decode")]
            ),
            Some(1.0),
            "{name}: {m}"
        );
    }
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_errors_total",
            &[("target", "many"), ("reason", "limit")]
        ),
        Some(1.0),
        "{m}"
    );
    let status = status_text(&exporter).await;
    assert!(
        status.contains("accounts: page 2 repeats page 1"),
        "{status}"
    );
    assert!(
        status.contains("over the target's sample_limit 3"),
        "{status}"
    );
    assert!(
        status.contains("GET /v1/loop: /nxt finds nothing"),
        "{status}"
    );
    // An empty link ends the list like null.
    assert_eq!(
        value(&m, "proxy_up", &[("target", "empty-link")]),
        Some(1.0),
        "{m}"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn check_and_the_front_page_show_a_custom_target_by_its_display_name() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/me"))
        .respond_with(answer(json!({"left": 1, "total": 100})))
        .mount(&server)
        .await;
    let yaml = config(
        &server,
        "    display_name: Other Proxy\n    auth: {query: key}\n    unit: GB\n    pools:\n      - {path: /me, pool: main, remaining: /left, purchased: /total}\n",
    );
    let exporter = Exporter::start(&yaml).await;
    exporter.wait_ready().await;
    let page = exporter.get("/").await.text().await.unwrap();
    assert!(page.contains("Other Proxy"), "{page}");
    let status: serde_json::Value =
        serde_json::from_str(&exporter.get("/api/v1/status").await.text().await.unwrap()).unwrap();
    let target = &status["targets"][0];
    assert_eq!(target["provider"], "custom");
    assert_eq!(target["pools"][0]["remaining_bytes"], json!(GIB));
    exporter.stop().await;

    // `check` holds it against the rules: 1 % left is critical (exit 2).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("custom.yml");
    std::fs::write(&file, &yaml).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_proxy-quota-exporter"))
        .args(["check", "--storage.path", "", "--config.file"])
        .arg(&file)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{table}");
    assert!(table.contains("other (Other Proxy)  CRITICAL"), "{table}");
    assert!(
        table.contains("CRITICAL pool main: only 1.0 GiB left"),
        "{table}"
    );
}

#[tokio::test]
async fn next_links_keep_the_target_s_credential_stay_on_its_origin_and_never_loop() {
    let server = MockServer::start().await;
    let base = server.uri();
    // A → B carries someone else's key, which is replaced; B → A loops.
    Mock::given(method("GET"))
        .and(path("/v1/a"))
        .respond_with(answer(json!({"data": [{"u": "a", "n": 1}],
            "next": format!("{base}/v1/b?api_key=someone-elses-key&cursor=b%3B1")})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/b"))
        .respond_with(answer(
            json!({"data": [{"u": "b", "n": 2}], "next": "/v1/a"}),
        ))
        .mount(&server)
        .await;
    // The same host over https is another origin.
    let https = base.replace("http://", "https://");
    Mock::given(method("GET"))
        .and(path("/v1/tls"))
        .respond_with(answer(
            json!({"data": [{"u": "a", "n": 1}], "next": format!("{https}/v1/b")}),
        ))
        .mount(&server)
        .await;
    // Objects in answers are described, never quoted; milliseconds are refused.
    Mock::given(method("GET"))
        .and(path("/v1/secrets"))
        .respond_with(answer(
            json!({"data": [{"u": {"name": "a", "password": "hunter2-pw"}, "n": 1}]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/ms"))
        .respond_with(answer(
            json!({"data": [{"ip": "10.0.0.1", "exp": 1900000000000i64}]}),
        ))
        .mount(&server)
        .await;
    let target = |name: &str, keys: &str| {
        format!(
            "  - name: {name}\n    provider: custom\n    base_url: {base}/v1\n    credential: {CREDENTIAL}\n    auth: {{query: api_key}}\n    unit: B\n{keys}"
        )
    };
    let accounts = |path: &str, paging: &str| {
        format!("    accounts:\n      path: {path}\n      {paging}\n      account: /u\n      used: /n\n")
    };
    let next = "paging: {style: next, items: /data, next: /next}";
    let yaml = format!(
        "targets:\n{}{}{}{}",
        target("loop", &accounts("/a", next)),
        target("tls", &accounts("/tls", next)),
        target("secrets", &accounts("/secrets", "items: /data")),
        target(
            "ms",
            "    static_ips: {path: /ms, items: /data, ip: /ip, expires_at: /exp}\n"
        ),
    );
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    for name in ["loop", "tls", "secrets", "ms"] {
        assert_eq!(
            value(&m, "proxy_up", &[("target", name)]),
            Some(0.0),
            "{name}: {m}"
        );
    }
    let status = status_text(&exporter).await;
    assert!(
        status.contains("GET /v1/b: /next links back to a page already read"),
        "{status}"
    );
    assert!(
        status.contains("a link to https://127.0.0.1:") && status.contains("is not followed"),
        "{status}"
    );
    assert!(
        status.contains("items[0]: /u is an object with 2 keys, not a non-empty string"),
        "{status}"
    );
    assert!(
        status.contains("not a time in Unix seconds (milliseconds?)"),
        "{status}"
    );
    assert!(
        !status.contains("hunter2-pw") && !status.contains(CREDENTIAL),
        "{status}"
    );
    // B was asked with the target's key alone, and the cursor as the link gave it.
    let b: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/v1/b")
        .collect();
    assert_eq!(b.len(), 1, "B is read once, then the loop is seen");
    let keys: Vec<_> = b[0]
        .url
        .query_pairs()
        .filter(|(k, _)| k == "api_key")
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(keys, [CREDENTIAL]);
    assert!(
        b[0].url.query().unwrap().contains("cursor=b%3B1"),
        "{}",
        b[0].url
    );
    exporter.stop().await;
}
