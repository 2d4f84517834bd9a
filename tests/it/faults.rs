//! The fault matrix: for every failure class an upstream can produce, the right
//! `reason` is counted, `proxy_exporter_poll_success` drops to 0, the last good
//! values survive until `max_staleness` and then disappear, and recovery brings
//! everything back. Also: retries of transient failures, and `/metrics` staying
//! fast while a target hangs.

use crate::common;

use std::net::TcpListener as StdListener;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

const SUMMARY: &str = "/gateway/user-product/summary";
const MAX_STALENESS: Duration = Duration::from_secs(4);
const POOL: [(&str, &str); 1] = [("pool", "dynamic_residential")];

#[derive(Debug, Clone, Copy)]
enum Class {
    Connect,
    Timeout,
    Http5xx,
    Http4xx,
    RateLimited,
    Html,
    InvalidJson,
    WrongType,
    DataNull,
    Oversized,
    ApiCode,
    InvalidKey,
    Unverified,
}

impl Class {
    fn reason(self) -> &'static str {
        match self {
            Class::Connect => "connect",
            Class::Timeout => "timeout",
            Class::Http5xx | Class::Http4xx => "http",
            Class::RateLimited => "rate_limited",
            Class::Html | Class::InvalidJson | Class::WrongType | Class::DataNull => "decode",
            Class::Oversized => "limit",
            Class::ApiCode => "api",
            Class::InvalidKey | Class::Unverified => "auth",
        }
    }

    fn response(self) -> ResponseTemplate {
        let ok = ResponseTemplate::new(200);
        match self {
            Class::Connect => unreachable!("connect faults close the port"),
            Class::Timeout => ok
                .set_body_string(fixture("gateway/summary.json"))
                .set_delay(Duration::from_secs(5)),
            Class::Http5xx => ResponseTemplate::new(503),
            Class::Http4xx => ResponseTemplate::new(404),
            Class::RateLimited => ResponseTemplate::new(429).insert_header("Retry-After", "60"),
            Class::Html => ok.set_body_raw("<html><body>Bad gateway</body></html>", "text/html"),
            Class::InvalidJson => ok.set_body_string("{\"code\":200,\"data\":{\"effective\":"),
            Class::WrongType => {
                ok.set_body_json(json!({"code": 200, "data": {"effective": {"kb": 1}}}))
            }
            Class::DataNull => ok.set_body_json(json!({"code": 200, "msg": "ok", "data": null})),
            // 65 MiB of spaces before the JSON: over the body limit.
            // Over the default body_size_limit of 16 MiB.
            Class::Oversized => ok.set_body_string(" ".repeat(17 * 1024 * 1024)),
            Class::ApiCode => {
                ok.set_body_json(json!({"code": 500, "msg": "系统繁忙", "data": null}))
            }
            Class::InvalidKey => {
                ok.set_body_json(json!({"code": 3, "msg": "app_key无效", "data": null}))
            }
            Class::Unverified => {
                ok.set_body_json(json!({"code": 156, "msg": "账户未认证", "data": null}))
            }
        }
    }
}

/// A wiremock upstream on a fixed port, so that it can disappear and come back.
struct Upstream {
    port: u16,
    server: Option<MockServer>,
}

impl Upstream {
    async fn start() -> Upstream {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut upstream = Upstream { port, server: None };
        upstream.serve(Some(listener)).await;
        upstream
    }

    /// (Re)starts the server on the same port answering the document's summary.
    async fn serve(&mut self, listener: Option<StdListener>) {
        let listener =
            listener.unwrap_or_else(|| StdListener::bind(("127.0.0.1", self.port)).unwrap());
        let server = MockServer::builder().listener(listener).start().await;
        Mock::given(method("GET"))
            .and(path(SUMMARY))
            .respond_with(
                ResponseTemplate::new(200).set_body_string(fixture("gateway/summary.json")),
            )
            .mount(&server)
            .await;
        self.server = Some(server);
    }

    async fn fail(&mut self, class: Class) {
        match class {
            Class::Connect => self.server = None,
            _ => {
                let server = self.server.as_ref().unwrap();
                server.reset().await;
                Mock::given(method("GET"))
                    .and(path(SUMMARY))
                    .respond_with(class.response())
                    .mount(server)
                    .await;
            }
        }
    }

    async fn recover(&mut self) {
        match &self.server {
            None => self.serve(None).await,
            Some(server) => {
                server.reset().await;
                Mock::given(method("GET"))
                    .and(path(SUMMARY))
                    .respond_with(
                        ResponseTemplate::new(200).set_body_string(fixture("gateway/summary.json")),
                    )
                    .mount(server)
                    .await;
            }
        }
    }
}

/// Polls `/metrics` until `check` holds, for at most `within`.
async fn until(
    exporter: &Exporter,
    within: Duration,
    what: &str,
    check: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let m = exporter.get("/metrics").await.text().await.unwrap();
        if check(&m) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not seen within {within:?}:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run_case(class: Class) {
    let mut upstream = Upstream::start().await;
    let yaml = format!(
        "interval: 1s\ntimeout: 1s\nmax_staleness: {}s\ntargets:\n  - name: t\n    provider: bestproxy\n    base_url: http://127.0.0.1:{}\n    app_key: {APP_KEY}\n    endpoints: [summary]\n",
        MAX_STALENESS.as_secs(),
        upstream.port
    );
    let exporter = Exporter::start(&yaml).await;
    let good = exporter.metrics().await;
    let remaining =
        value(&good, "proxy_traffic_remaining_bytes", &POOL).expect("first poll succeeds");

    upstream.fail(class).await;
    let reason = class.reason();
    let failed_at = Instant::now();
    let errors = |m: &str| {
        value(m, "proxy_exporter_poll_errors_total", &[("reason", reason)]).unwrap_or(0.0)
    };
    let m = until(
        &exporter,
        Duration::from_secs(8),
        &format!("{class:?} → {reason}"),
        |m| errors(m) >= 1.0,
    )
    .await;
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_success",
            &[("endpoint", "summary")]
        ),
        Some(0.0),
        "{class:?}"
    );
    assert_eq!(value(&m, "proxy_up", &[]), Some(0.0), "{class:?}");
    for other in [
        "auth",
        "http",
        "timeout",
        "connect",
        "decode",
        "api",
        "rate_limited",
        "limit",
        "internal",
    ] {
        if other != reason {
            let labels = [("reason", other)];
            assert_eq!(
                value(&m, "proxy_exporter_poll_errors_total", &labels),
                Some(0.0),
                "{class:?} also counted {other}"
            );
        }
    }
    // The last good value is kept, unchanged, never replaced by a 0 ...
    if failed_at.elapsed() < MAX_STALENESS - Duration::from_secs(1) {
        assert_eq!(
            value(&m, "proxy_traffic_remaining_bytes", &POOL),
            Some(remaining),
            "{class:?}: stale value kept"
        );
    }
    // ... and disappears once it is older than max_staleness.
    let m = until(
        &exporter,
        MAX_STALENESS + Duration::from_secs(6),
        "stale value gone",
        |m| value(m, "proxy_traffic_remaining_bytes", &POOL).is_none(),
    )
    .await;
    assert!(
        failed_at.elapsed() >= MAX_STALENESS - Duration::from_secs(2),
        "{class:?}: value dropped after {:?}, before max_staleness",
        failed_at.elapsed()
    );
    assert!(samples(&m, "proxy_packages").is_empty());
    assert!(
        value(&m, "proxy_exporter_last_success_timestamp_seconds", &[]).is_some(),
        "age stays visible"
    );

    upstream.recover().await;
    let m = until(&exporter, Duration::from_secs(8), "recovery", |m| {
        value(m, "proxy_up", &[]) == Some(1.0)
    })
    .await;
    assert_eq!(
        value(&m, "proxy_traffic_remaining_bytes", &POOL),
        Some(remaining)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_class_is_counted_kept_until_stale_and_recovers() {
    let classes = [
        Class::Connect,
        Class::Timeout,
        Class::Http5xx,
        Class::Http4xx,
        Class::RateLimited,
        Class::Html,
        Class::InvalidJson,
        Class::WrongType,
        Class::DataNull,
        Class::Oversized,
        Class::ApiCode,
        Class::InvalidKey,
        Class::Unverified,
    ];
    futures::future::join_all(classes.map(run_case)).await;
}

/// Answers with `first` for the first `n` requests, then with `then`.
struct Sequence {
    n: usize,
    first: ResponseTemplate,
    then: ResponseTemplate,
    seen: std::sync::atomic::AtomicUsize,
}

impl Respond for Sequence {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let i = self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if i < self.n {
            self.first.clone()
        } else {
            self.then.clone()
        }
    }
}

async fn retried(first: ResponseTemplate, failures: usize) -> (String, usize) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SUMMARY))
        .respond_with(Sequence {
            n: failures,
            first,
            then: ResponseTemplate::new(200).set_body_string(fixture("gateway/summary.json")),
            seen: Default::default(),
        })
        .mount(&server)
        .await;
    let exporter = Exporter::start(&format!(
        "interval: 1h\ntimeout: 2s\ntargets:\n  - name: t\n    provider: bestproxy\n    base_url: {}\n    app_key: {APP_KEY}\n    endpoints: [summary]\n",
        server.uri()
    ))
    .await;
    let m = exporter.metrics().await;
    let requests = server.received_requests().await.unwrap().len();
    exporter.stop().await;
    (m, requests)
}

#[tokio::test]
async fn transient_failures_are_retried_twice_and_then_reported() {
    // Two 503s, then success: one poll, three requests, no error.
    let (m, requests) = retried(ResponseTemplate::new(503), 2).await;
    assert_eq!(requests, 3);
    assert_eq!(value(&m, "proxy_up", &[]), Some(1.0));
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_errors_total",
            &[("reason", "http")]
        ),
        Some(0.0)
    );

    // 429 with a short Retry-After is honoured.
    let (m, requests) = retried(
        ResponseTemplate::new(429).insert_header("Retry-After", "1"),
        1,
    )
    .await;
    assert_eq!(requests, 2);
    assert_eq!(value(&m, "proxy_up", &[]), Some(1.0));

    // Three 503s: the two retries are spent, the poll fails once.
    let (m, requests) = retried(ResponseTemplate::new(503), 3).await;
    assert_eq!(requests, 3);
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_errors_total",
            &[("reason", "http")]
        ),
        Some(1.0)
    );

    // Not transient: a 404, a rejected key, bad JSON and a long Retry-After are not retried.
    let auth = ResponseTemplate::new(200)
        .set_body_json(json!({"code": 3, "msg": "bad key", "data": null}));
    for (response, reason) in [
        (ResponseTemplate::new(404), "http"),
        (auth, "auth"),
        (
            ResponseTemplate::new(200).set_body_string("not json"),
            "decode",
        ),
        (
            ResponseTemplate::new(429).insert_header("Retry-After", "3600"),
            "rate_limited",
        ),
    ] {
        let (m, requests) = retried(response, 1).await;
        assert_eq!(requests, 1, "{reason} must not be retried");
        assert_eq!(
            value(
                &m,
                "proxy_exporter_poll_errors_total",
                &[("reason", reason)]
            ),
            Some(1.0)
        );
    }
}

#[tokio::test]
async fn a_hanging_target_never_slows_metrics_nor_other_targets() {
    let hanging = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3600)))
        .mount(&hanging)
        .await;
    let healthy = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SUMMARY))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("gateway/summary.json")))
        .mount(&healthy)
        .await;
    let exporter = Exporter::start(&format!(
        "interval: 1s\ntimeout: 30s\ntargets:\n  - name: hangs\n    provider: bestproxy\n    base_url: {}\n    app_key: {APP_KEY}\n    endpoints: [summary]\n  - name: healthy\n    provider: bestproxy\n    base_url: {}\n    app_key: {APP_KEY}\n    endpoints: [summary]\n",
        hanging.uri(),
        healthy.uri()
    ))
    .await;
    // The healthy target keeps being polled every second while the other hangs.
    let m = until(&exporter, Duration::from_secs(10), "healthy polled", |m| {
        value(m, "proxy_up", &[("target", "healthy")]) == Some(1.0)
    })
    .await;
    assert!(
        value(&m, "proxy_up", &[("target", "hangs")]).is_none(),
        "no result yet for the hanging target"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let polls = healthy.received_requests().await.unwrap().len();
    assert!(
        polls >= 2,
        "the healthy target was polled {polls} times in 2 s"
    );
    // /metrics answers from memory while a poll hangs (a generous bound: this is a
    // liveness check, not a benchmark).
    for _ in 0..20 {
        let started = Instant::now();
        assert!(exporter.get("/metrics").await.status().is_success());
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    assert!(
        !exporter.get("/-/ready").await.status().is_success(),
        "not ready until every target polled once"
    );
    exporter.stop().await;
}

#[tokio::test]
async fn values_vanish_at_max_staleness_even_while_a_poll_hangs() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SUMMARY))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("gateway/summary.json")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
        .mount(&server)
        .await;
    let exporter = Exporter::start(&format!(
        "interval: 1s\ntimeout: 60s\nmax_staleness: 2s\ntargets:\n  - name: t\n    provider: bestproxy\n    base_url: {}\n    app_key: {APP_KEY}\n    endpoints: [summary]\n",
        server.uri()
    ))
    .await;
    let m = exporter.metrics().await;
    assert!(value(&m, "proxy_traffic_remaining_bytes", &POOL).is_some());
    let read_at = Instant::now();
    // The next poll hangs (up to its 60 s deadline); the value must still go
    // once it is 2 s old, not when that poll ends.
    let m = until(
        &exporter,
        Duration::from_secs(6),
        "value gone at max_staleness",
        |m| value(m, "proxy_traffic_remaining_bytes", &POOL).is_none(),
    )
    .await;
    assert!(
        read_at.elapsed() >= Duration::from_millis(1500),
        "gone too early: {:?}",
        read_at.elapsed()
    );
    assert_eq!(
        value(
            &m,
            "proxy_exporter_poll_errors_total",
            &[("reason", "timeout")]
        ),
        Some(0.0),
        "no poll has failed yet"
    );
    assert!(value(&m, "proxy_exporter_last_success_timestamp_seconds", &[]).is_some());
    exporter.stop().await;
}
