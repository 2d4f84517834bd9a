//! Every decoder and the configuration readers under arbitrary input (issue 21,
//! item 9). Arbitrary bytes go to each provider's decoders (gateway, IPWeb,
//! custom), through the provider itself as the scheduler polls it, from a local
//! server; arbitrary YAML goes to the configuration and web-configuration
//! readers. Whatever the input: no panic, memory bounded (a counting allocator
//! measures what each call holds at its peak), and an error that names the
//! place: the line of the file, or the path or endpoint of the request.
//!
//! The YAML alias bomb and deeply nested input, in YAML and in JSON, are also
//! tried as examples: each must be refused quickly and within bounds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proxy_quota_exporter::config::ConfigError;
use proxy_quota_exporter::http::Reason;
use proxy_quota_exporter::providers::{Client, Endpoint};
use proxy_quota_exporter::simulator::custom;
use proxy_quota_exporter::web::{WebConfig, WebConfigError};
use proxy_quota_exporter::Config;
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;
use wiremock::matchers::any as any_request;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

// ------------------------------------------------------- measuring memory

/// The system allocator, counting per thread the bytes live and their peak
/// since [`measure`] began.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grew(bytes: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + bytes;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as isize);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        grew(-(layout.size() as isize));
        System.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as isize);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size as isize - layout.size() as isize);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` on this thread; returns its result, the most bytes it held at once
/// beyond what was live before, and how long it took.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, Duration) {
    let before = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(before));
    let start = Instant::now();
    let result = f();
    let took = start.elapsed();
    let peak = PEAK.with(Cell::get);
    (result, (peak - before).max(0) as usize, took)
}

const MIB: usize = 1024 * 1024;

/// The most a call under test may hold at once: far below "gigabytes", far
/// above what any of these inputs needs.
const MEMORY_BOUND: usize = 32 * MIB;

/// Runs `f` on a new thread with the 2 MiB stack that tokio's workers and
/// spawned threads have (where a reload reads the configuration), so that
/// deep input overflowing the stack fails the test instead of passing on the
/// main thread's larger one.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 * MIB)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

// ------------------------------------------------- providers under test

/// The credential of every target here.
const CREDENTIAL: &str = "fuzz-credential-7c1e";

/// Answers every request with `body` (HTTP 200, JSON) and notes the paths asked.
#[derive(Clone, Default)]
struct Upstream {
    body: Arc<Mutex<Vec<u8>>>,
    paths: Arc<Mutex<Vec<String>>>,
}

impl Respond for Upstream {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.paths
            .lock()
            .unwrap()
            .push(request.url.path().to_owned());
        ResponseTemplate::new(200)
            .set_body_raw(self.body.lock().unwrap().clone(), "application/json")
    }
}

/// One target of each provider family (BestProxy for the gateway family, IPWeb,
/// and the demo's custom API), all against one local server.
struct Providers {
    runtime: tokio::runtime::Runtime,
    _server: MockServer,
    upstream: Upstream,
    /// Provider name, client, every endpoint it has.
    targets: Vec<(&'static str, Client, Vec<Endpoint>)>,
}

impl Providers {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let upstream = Upstream::default();
        let server = runtime.block_on(async {
            let server = MockServer::start().await;
            Mock::given(any_request())
                .respond_with(upstream.clone())
                .mount(&server)
                .await;
            server
        });
        let uri = server.uri();
        let yaml = format!(
            "timeout: 5s\ntargets:\n  - name: g\n    provider: bestproxy\n    base_url: {uri}\n    app_key: {CREDENTIAL}\n  - name: i\n    provider: ipweb\n    base_url: {uri}/prod-api\n    token: {CREDENTIAL}\n{}",
            custom::target_yaml(&format!("{uri}/other/v1"))
        );
        let config = parse_config(&yaml).expect("the targets are valid");
        let limiter = Arc::new(Semaphore::new(8));
        let targets = config
            .targets
            .iter()
            .map(|t| {
                let client = Client::for_target(&t.connection(), limiter.clone()).unwrap();
                (
                    t.provider.name,
                    client,
                    t.provider.all_endpoints().collect(),
                )
            })
            .collect();
        Providers {
            runtime,
            _server: server,
            upstream,
            targets,
        }
    }

    /// Polls every endpoint of `provider` with `body` as every answer: no
    /// panic, memory bounded, and any error but a refused credential names the
    /// path asked or the endpoint. Returns how many polls read the answer.
    fn check(&self, provider: &str, body: &[u8]) -> Result<usize, TestCaseError> {
        *self.upstream.body.lock().unwrap() = body.to_vec();
        let (_, client, endpoints) = self
            .targets
            .iter()
            .find(|(name, _, _)| *name == provider)
            .unwrap();
        let mut read = 0;
        for &endpoint in endpoints {
            self.upstream.paths.lock().unwrap().clear();
            let (result, peak, took) = measure(|| {
                self.runtime.block_on(async {
                    tokio::time::timeout(Duration::from_secs(20), client.poll(endpoint)).await
                })
            });
            let result = result.map_err(|_| {
                TestCaseError::fail(format!("{provider} {endpoint}: no answer in 20 s"))
            })?;
            prop_assert!(
                peak < MEMORY_BOUND,
                "{provider} {endpoint}: {} KiB held for a {}-byte answer",
                peak / 1024,
                body.len()
            );
            prop_assert!(
                took < Duration::from_secs(10),
                "{provider} {endpoint}: {took:?}"
            );
            match result {
                Ok(_) => read += 1,
                Err(error) => {
                    let paths = self.upstream.paths.lock().unwrap().clone();
                    prop_assert!(
                        error.reason == Reason::Auth || names_the_place(&error.message, endpoint, &paths),
                        "{provider} {endpoint}: the error names neither the endpoint nor a path asked ({paths:?}): {error}"
                    );
                    prop_assert!(!error.message.contains(CREDENTIAL), "{error}");
                }
            }
        }
        Ok(read)
    }
}

/// Whether `message` names the endpoint, or a path asked: whole, or its tail
/// from some segment on when that tail says something (8 characters or more,
/// such as `getFlowTotalFull` or `whitelist-account/list`, not `list`).
fn names_the_place(message: &str, endpoint: Endpoint, paths: &[String]) -> bool {
    message.contains(endpoint.as_str())
        || paths.iter().any(|path| {
            let path = path.trim_start_matches('/');
            std::iter::once(path)
                .chain(path.match_indices('/').map(|(i, _)| &path[i + 1..]))
                .any(|tail| tail.len() >= 8 && message.contains(tail))
        })
}

/// The gateway family's documented examples, one per list or figure.
const GATEWAY_SEEDS: &[&str] = &[
    include_str!("../fixtures/gateway/accounts.json"),
    include_str!("../fixtures/gateway/allowlist.json"),
    include_str!("../fixtures/gateway/host_pool_regions.json"),
    include_str!("../fixtures/gateway/packages.json"),
    include_str!("../fixtures/gateway/static_ip_region.json"),
    include_str!("../fixtures/gateway/static_ips.json"),
    include_str!("../fixtures/gateway/summary.json"),
    include_str!("../fixtures/gateway/usage.json"),
];

/// IPWeb's documented examples.
const IPWEB_SEEDS: &[&str] = &[
    include_str!("../fixtures/ipweb/auth_failed.json"),
    include_str!("../fixtures/ipweb/consume_detail.json"),
    include_str!("../fixtures/ipweb/flow_report.json"),
    include_str!("../fixtures/ipweb/my_recharge_flow_list.json"),
    include_str!("../fixtures/ipweb/nni_consume_detail.json"),
    include_str!("../fixtures/ipweb/recharge_flow_list_for_me.json"),
    include_str!("../fixtures/ipweb/summary.json"),
];

/// Answers of the demo's custom API (`simulator::custom::target_yaml`).
const CUSTOM_SEEDS: &[&str] = &[
    r#"{"code":0,"message":"ok","data":{"available_traffic":"32.50","total_traffic":"100.00","used_traffic":"67.50"}}"#,
    r#"{"code":0,"message":"ok","data":{"items":[{"username":"u1","traffic_used":"1.25","traffic_limit":"10.00","is_active":true,"note":"a"},{"username":"u2","traffic_used":"0","traffic_limit":"0","is_active":false,"note":null}],"meta":{"last_page":1}}}"#,
    r#"{"code":0,"message":"ok","data":{"results":[{"ip":"203.0.113.7","expires_at":"2030-01-01T00:00:00Z","country_code":"US"}],"next":null}}"#,
    r#"{"code":40101,"message":"invalid token","data":null}"#,
];

/// Field names the decoders look for, so that generated objects reach deep.
const JSON_KEYS: &[&str] = &[
    "code",
    "msg",
    "message",
    "data",
    "list",
    "rows",
    "items",
    "results",
    "meta",
    "next",
    "total",
    "page",
    "total_page",
    "total_count",
    "total_pages",
    "last_page",
    "pagination",
    "id",
    "ip",
    "status",
    "product_type",
    "country_code",
    "expired_at",
    "expires_at",
    "effective",
    "effective_total",
    "effective_used",
    "used",
    "username",
    "remark",
    "usage_flow",
    "limit_flow",
    "day",
    "flow",
    "account",
    "account2",
    "flowCount",
    "consumeFlow",
    "residualFlow",
    "residualFlow ",
    "date",
    "uploadFlow",
    "downloadFlow",
    "customerId",
    "reportDate",
    "createTime",
    "number",
    "available_traffic",
    "total_traffic",
    "used_traffic",
    "traffic_used",
    "traffic_limit",
    "is_active",
    "note",
];

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        Just(json!(0)),
        Just(json!(200)),
        Just(json!(-1)),
        "[ -~]{0,16}".prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::from),
        "-?[0-9]{1,24}(\\.[0-9]{0,6})?(e-?[0-9]{1,3})?".prop_map(Value::from),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}:[0-9]{2}Z?)?".prop_map(Value::from),
        Just(json!("")),
        Just(json!(" ")),
    ]
}

/// Arbitrary JSON, biased towards the decoders' keys.
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Value::Array),
            vec(
                (
                    prop_oneof![select(JSON_KEYS).prop_map(str::to_owned), "[a-z_]{1,6}"],
                    inner
                ),
                0..7
            )
            .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn count_nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(map) => map.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Replaces node number `n` (in document order) of `value` with `with`.
fn replace_node(value: &mut Value, n: &mut usize, with: &Value) -> bool {
    if *n == 0 {
        *value = with.clone();
        return true;
    }
    *n -= 1;
    match value {
        Value::Array(items) => items.iter_mut().any(|v| replace_node(v, n, with)),
        Value::Object(map) => map.values_mut().any(|v| replace_node(v, n, with)),
        _ => false,
    }
}

/// An answer: arbitrary bytes, arbitrary JSON, an envelope around arbitrary
/// data, or one of `seeds` with nodes replaced by arbitrary JSON, cut short or
/// with a byte changed.
fn answer(seeds: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let code = prop_oneof![
        Just(json!(200)),
        Just(json!(0)),
        Just(json!("200")),
        any::<i64>().prop_map(Value::from),
    ];
    prop_oneof![
        1 => vec(any::<u8>(), 0..256),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        2 => (code, json_value()).prop_map(|(code, data)| {
            json!({"code": code, "msg": "ok", "data": data}).to_string().into_bytes()
        }),
        4 => (select(seeds), vec((any::<Index>(), json_value()), 1..4)).prop_map(|(seed, changes)| {
            let mut value: Value = serde_json::from_str(seed).unwrap();
            for (at, with) in changes {
                let mut n = at.index(count_nodes(&value));
                replace_node(&mut value, &mut n, &with);
            }
            value.to_string().into_bytes()
        }),
        1 => (select(seeds), any::<Index>(), any::<u8>(), any::<bool>()).prop_map(|(seed, at, byte, cut)| {
            let mut bytes = seed.as_bytes().to_vec();
            let at = at.index(bytes.len());
            if cut {
                bytes.truncate(at);
            } else {
                bytes[at] = byte;
            }
            bytes
        }),
    ]
}

/// Cases per property: enough to reach every decoder many times, few enough
/// for the file to run in seconds in a debug build.
fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[test]
fn the_seeds_are_read_so_that_their_mutations_reach_the_decoders() {
    let providers = Providers::start();
    for (provider, seeds, at_least) in [
        ("bestproxy", GATEWAY_SEEDS, 5),
        ("ipweb", IPWEB_SEEDS, 3),
        ("custom", CUSTOM_SEEDS, 3),
    ] {
        let read: usize = seeds
            .iter()
            .map(|seed| providers.check(provider, seed.as_bytes()).unwrap())
            .sum();
        assert!(
            read >= at_least,
            "{provider}: only {read} polls read a seed"
        );
    }
}

/// Runs `property` on `cases` values of `strategy`; panics with the smallest
/// failing value.
fn run<S: Strategy>(
    cases: ProptestConfig,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = proptest::test_runner::TestRunner::new(cases);
    if let Err(failure) = runner.run(&strategy, property) {
        panic!("{failure}");
    }
}

/// Any answer to every endpoint of `provider`, one local server for all cases.
fn decoders_take_any_answer(provider: &str, seeds: &'static [&'static str]) {
    let providers = Providers::start();
    run(cases(128), answer(seeds), |body| {
        providers.check(provider, &body).map(drop)
    });
}

#[test]
fn gateway_decoders_take_any_answer() {
    decoders_take_any_answer("bestproxy", GATEWAY_SEEDS);
}

#[test]
fn ipweb_decoders_take_any_answer() {
    decoders_take_any_answer("ipweb", IPWEB_SEEDS);
}

#[test]
fn custom_decoders_take_any_answer() {
    decoders_take_any_answer("custom", CUSTOM_SEEDS);
}

/// JSON nested far deeper than any answer, bare and as an envelope's data:
/// refused by every decoder, quickly and within bounds.
#[test]
fn deeply_nested_answers_are_refused() {
    let providers = Providers::start();
    let depth = 100_000;
    let arrays = "[".repeat(depth);
    let objects = r#"{"data":"#.repeat(depth);
    for body in [
        arrays.clone(),
        objects.clone(),
        format!(r#"{{"code":200,"msg":"ok","data":{arrays}"#),
        format!(r#"{{"code":0,"message":"ok","data":{objects}"#),
        format!(r#"{{"code":200,"msg":"ok","data":{{"list":{arrays}}}}}"#),
    ] {
        for provider in ["bestproxy", "ipweb", "custom"] {
            assert_eq!(providers.check(provider, body.as_bytes()).unwrap(), 0);
        }
    }
}

// ------------------------------------------------------ the configuration

fn parse_config(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, std::path::Path::new("/nonexistent/config.yml"))
}

/// A YAML document as a tree, rendered in block style.
#[derive(Debug, Clone)]
enum Yaml {
    Scalar(String),
    Seq(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    fn map(entries: &[(&str, &str)]) -> Vec<(String, Yaml)> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), Yaml::Scalar(v.to_string())))
            .collect()
    }

    fn render(&self, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        let value = |value: &Yaml, out: &mut String| match value {
            Yaml::Scalar(s) => {
                out.push(' ');
                out.push_str(s);
                out.push('\n');
            }
            Yaml::Seq(items) if items.is_empty() => out.push_str(" []\n"),
            Yaml::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
            nested => {
                out.push('\n');
                nested.render(indent + 2, out);
            }
        };
        match self {
            Yaml::Scalar(s) => {
                out.push_str(&pad);
                out.push_str(s);
                out.push('\n');
            }
            Yaml::Seq(items) => {
                for item in items {
                    out.push_str(&pad);
                    out.push('-');
                    value(item, out);
                }
            }
            Yaml::Map(entries) => {
                for (key, item) in entries {
                    out.push_str(&pad);
                    out.push_str(key);
                    out.push(':');
                    value(item, out);
                }
            }
        }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        self.render(0, &mut out);
        out
    }
}

/// Scalars the readers give meaning to.
const MEANINGFUL: &[&str] = &[
    "~",
    "null",
    "true",
    "no",
    "0",
    "-1",
    "1",
    "3",
    "-0",
    "0x1F",
    "1e400",
    "1e3",
    "1s",
    "30s",
    "5m",
    "1h",
    "0s",
    "-5s",
    "1.5s",
    "1024",
    "1000",
    "16MiB",
    "bestproxy",
    "proxylite",
    "ipweb",
    "custom",
    "http://127.0.0.1:1",
    "https://api.example/v1",
    "ftp://x",
    "http://",
    "${HOME}",
    "${NOT_SET_ANYWHERE_42}",
    "$${x}",
    "${",
    "+08:00",
    "UTC",
    "Asia/Shanghai",
    "Mars/Olympus",
    "GB",
    "MB",
    "KiB",
    "TLS12",
    "TLS13",
    "TLS11",
    "NoClientCert",
    "[usage, summary]",
    "[stock]",
    "[nope]",
    "[9, 25]",
    "[]",
    "{}",
    "{header: Authorization}",
    "{query: key}",
    "{basic: user}",
    "/me",
    "/data/items",
    "/pointer/0",
    "page",
    "next",
    "residential",
    "expired_at",
    "cert.pem",
    "key.pem",
    "secret.txt",
    "main",
    "x",
];

/// YAML's own syntax, in a value's place.
const SYNTAX: &[&str] = &[
    "",
    ".inf",
    ".nan",
    "{a: 1}",
    "&anchor x",
    "*anchor",
    "*nowhere",
    "!!str 1",
    "!!binary aGk=",
    "!custom x",
    r#""quoted \u00e9""#,
    "'single ''quoted'''",
    "|",
    ">-",
    "? x",
    "- x",
    "---",
    "...",
    "%TAG ! x",
    "#comment",
    "@x",
    "`x",
    "\"unterminated",
    "[unclosed",
    "{a: [1, {b: *a}]}",
    "&a [1, 2]",
    "[*a, *a, *a]",
    "a: b",
    "\t",
];

/// The configuration's top-level keys.
const TOP_KEYS: &[&str] = &[
    "interval",
    "timeout",
    "max_staleness",
    "timezone",
    "unit_base",
    "max_concurrent_requests",
    "body_size_limit",
    "sample_limit",
    "label_value_length_limit",
    "max_requests_per_second",
    "alerting",
];

/// A target's keys, the providers' own included.
const TARGET_KEYS: &[&str] = &[
    "name",
    "provider",
    "base_url",
    "app_key",
    "app_key_file",
    "token",
    "token_file",
    "credential",
    "credential_file",
    "endpoints",
    "product_types",
    "static_ip_expiry_field",
    "display_name",
    "interval",
    "timeout",
    "timezone",
    "unit_base",
    "body_size_limit",
    "sample_limit",
    "label_value_length_limit",
    "max_requests_per_second",
    "auth",
    "success",
    "unit",
    "pools",
    "accounts",
    "static_ips",
];

/// Keys found deeper: the custom provider's sections, alerting, the web
/// configuration; and keys of YAML's own.
const DEEP_KEYS: &[&str] = &[
    "header",
    "prefix",
    "query",
    "basic",
    "username",
    "pointer",
    "equals",
    "message",
    "auth_values",
    "pool",
    "path",
    "remaining",
    "purchased",
    "used",
    "expiring",
    "expired",
    "account",
    "limit",
    "enabled",
    "remark",
    "product",
    "unlimited_values",
    "ip",
    "expires_at",
    "country",
    "paging",
    "style",
    "page_param",
    "size_param",
    "size",
    "items",
    "total_pages",
    "total_items",
    "next",
    "first_page",
    "receivers",
    "rules",
    "interval",
    "webhook",
    "url",
    "bearer_token",
    "slack",
    "webhook_url",
    "ntfy",
    "telegram",
    "bot_token",
    "chat_id",
    "email",
    "smarthost",
    "from",
    "to",
    "log",
    "alertmanager",
    "tls_server_config",
    "cert_file",
    "key_file",
    "min_version",
    "max_version",
    "client_auth_type",
    "basic_auth_users",
    "<<",
    "? complex",
    "\"quoted key\"",
    "1",
    "~",
    "&k key",
    "*k",
];

fn yaml_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(MEANINGFUL).prop_map(str::to_owned),
        1 => select(SYNTAX).prop_map(str::to_owned),
        1 => "[a-zA-Z0-9_.+-]{0,12}",
        1 => "\\PC{0,8}",
        1 => "-?[0-9]{1,25}(\\.[0-9]{1,3})?(e[+-]?[0-9]{1,4})?",
    ]
}

fn yaml_key(known: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(known).prop_map(str::to_owned),
        2 => select(DEEP_KEYS).prop_map(str::to_owned),
        1 => "[a-z_]{1,8}",
    ]
}

fn yaml_tree() -> impl Strategy<Value = Yaml> {
    yaml_scalar()
        .prop_map(Yaml::Scalar)
        .prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(Yaml::Seq),
                vec((yaml_key(DEEP_KEYS), inner), 0..5).prop_map(Yaml::Map),
            ]
        })
}

/// A value: mostly a scalar, sometimes a whole tree.
fn yaml_value() -> impl Strategy<Value = Yaml> {
    prop_oneof![3 => yaml_scalar().prop_map(Yaml::Scalar), 1 => yaml_tree()]
}

/// A document and the damage done to it, once or twice: none, a fragment of
/// YAML inserted somewhere, the text cut short, or (most often) the value of a
/// line replaced.
fn damaged(document: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        yaml_scalar(),
        Just("\n".to_owned()),
        Just(": ".to_owned()),
        Just("- ".to_owned()),
        Just("  ".to_owned())
    ];
    (document, vec((0..6u8, any::<Index>(), fragment), 1..3)).prop_map(|(mut text, damage)| {
        for (kind, at, fragment) in damage {
            let boundaries: Vec<usize> = text
                .char_indices()
                .map(|(i, _)| i)
                .chain([text.len()])
                .collect();
            let at = boundaries[at.index(boundaries.len())];
            match kind {
                1 => text.insert_str(at, &fragment),
                2 => text.truncate(at),
                3..=5 => {
                    // The value after the first `: ` on the line at `at`.
                    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
                    if let Some(colon) = text[start..end].find(": ") {
                        text.replace_range(start + colon + 2..end, &fragment);
                    }
                }
                _ => {}
            }
        }
        text
    })
}

/// A configuration that uses every section: a target of each provider (the
/// custom one as the demo's), defaults, and alerting with each receiver kind.
fn rich_config() -> String {
    format!(
        r#"interval: 60s
timeout: 10s
max_staleness: 10m
timezone: "+08:00"
unit_base: 1024
max_concurrent_requests: 8
body_size_limit: 16MiB
sample_limit: 1000
label_value_length_limit: 128
targets:
  - name: lite-main
    provider: proxylite
    app_key: k1
    product_types: [9, 12]
    static_ip_expiry_field: expired_at
  - name: best-resi
    provider: bestproxy
    base_url: https://api.bestproxy.example
    app_key: k2
    endpoints: [summary, accounts, static_ips, stock]
    interval: 5m
    max_requests_per_second: 1
  - name: reseller
    provider: ipweb
    token: k3
    display_name: Reseller
{}alerting:
  receivers:
    - name: am
      alertmanager: {{url: "http://127.0.0.1:9093"}}
    - name: hook
      webhook: {{url: "https://hooks.example/x", bearer_token: t}}
    - name: phone
      ntfy: {{url: "https://ntfy.example/topic"}}
    - name: chat
      slack: {{webhook_url: "https://hooks.slack.example/T/B/x"}}
    - name: tg
      telegram: {{bot_token: "1:x", chat_id: "-1001234"}}
    - name: mail
      email: {{smarthost: "smtp.example:587", from: "a@example", to: ["b@example"], auth_username: a, auth_password: p}}
    - name: console
      log: {{}}
"#,
        custom::target_yaml("https://other.example/v1")
    )
}

/// A configuration: the rich one or generated targets of each provider with
/// their keys and arbitrary keys and values at every level, damaged a little;
/// or any text at all.
fn config_text() -> impl Strategy<Value = String> {
    let target = (
        select(&["bestproxy", "proxylite", "ipweb", "custom"][..]),
        "[a-z]{1,6}",
        vec((yaml_key(TARGET_KEYS), yaml_value()), 0..5),
    )
        .prop_map(|(provider, name, extra)| {
            let credential = match provider {
                "ipweb" => "token",
                "custom" => "credential",
                _ => "app_key",
            };
            let mut entries = Yaml::map(&[
                ("name", &name),
                ("provider", provider),
                ("base_url", "http://127.0.0.1:1/api"),
                (credential, "k"),
            ]);
            entries.extend(extra);
            Yaml::Map(entries)
        });
    let generated = (
        vec((yaml_key(TOP_KEYS), yaml_value()), 0..4),
        vec(target, 0..3),
    )
        .prop_map(|(mut top, targets)| {
            top.push(("targets".to_owned(), Yaml::Seq(targets)));
            Yaml::Map(top).text()
        });
    prop_oneof![
        3 => damaged(Just(rich_config())),
        3 => damaged(generated),
        1 => "\\PC{0,200}",
    ]
}

/// The last line an error may name in `text`: its last, or the one after
/// (the end of the input).
fn last_line(text: &str) -> usize {
    text.lines().count() + 1
}

proptest! {
    #![proptest_config(cases(256))]

    /// Any YAML is a configuration or an error naming a line of it, read within bounds.
    #[test]
    fn any_configuration_is_read_or_refused_at_a_line(text in config_text()) {
        let (result, peak, took) = measure(|| parse_config(&text));
        prop_assert!(peak < MEMORY_BOUND, "{} KiB held", peak / 1024);
        prop_assert!(took < Duration::from_secs(5), "{took:?}");
        let errors = match result {
            Ok(_) => Vec::new(),
            // Every mistake of the file, each at its own line.
            Err(ConfigError::Several(errors)) => {
                prop_assert!(errors.len() > 1, "several mistakes, but {}", errors.len());
                errors
            }
            Err(error) => vec![error],
        };
        for error in errors {
            match error {
                ConfigError::Invalid { line, message, .. } => {
                    prop_assert!((1..=last_line(&text)).contains(&line), "line {line} of {}: {message}", last_line(&text) - 1);
                    prop_assert!(!message.is_empty());
                }
                other => prop_assert!(false, "not refused at a line: {other}"),
            }
        }
    }
}

// -------------------------------------------------- the web configuration

/// The web configuration in `dir` holding `text`, read.
fn load_web(dir: &std::path::Path, text: &str) -> Result<WebConfig, WebConfigError> {
    let path = dir.join("web.yml");
    std::fs::write(&path, text).unwrap();
    WebConfig::load(&path)
}

/// A directory with a certificate and its key (`cert.pem`, `key.pem`), and a
/// cheap bcrypt hash, so that generated web configurations can be valid.
fn web_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    (dir, bcrypt::hash("password", 4).unwrap())
}

/// A web configuration: TLS and users with arbitrary values, arbitrary keys
/// mixed in, maybe damaged; or any text at all.
fn web_text(hash: String) -> impl Strategy<Value = String> {
    let valid_hash = hash.clone();
    const TLS_KEYS: &[&str] = &[
        "cert_file",
        "key_file",
        "min_version",
        "max_version",
        "client_auth_type",
    ];
    let tls = (
        vec((select(TLS_KEYS), yaml_scalar()), 0..6),
        vec((yaml_key(DEEP_KEYS), yaml_value()), 0..2),
    )
        .prop_map(|(known, extra)| {
            let mut entries: Vec<_> = known
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Yaml::Scalar(v)))
                .collect();
            entries.extend(extra);
            Yaml::Map(entries)
        });
    let hash = prop_oneof![Just(hash), yaml_scalar()];
    let users = vec(("[a-z]{1,6}", hash), 0..3).prop_map(|users| {
        Yaml::Map(
            users
                .into_iter()
                .map(|(user, hash)| (user, Yaml::Scalar(format!("{hash:?}"))))
                .collect(),
        )
    });
    let document = (
        proptest::option::of(tls),
        proptest::option::of(users),
        vec((yaml_key(DEEP_KEYS), yaml_value()), 0..2),
    )
        .prop_map(|(tls, users, mut extra)| {
            let mut top = Vec::new();
            if let Some(tls) = tls {
                top.push(("tls_server_config".to_owned(), tls));
            }
            if let Some(users) = users {
                top.push(("basic_auth_users".to_owned(), users));
            }
            top.append(&mut extra);
            Yaml::Map(top).text()
        });
    prop_oneof![
        3 => damaged(Just(rich_web_config(&valid_hash))),
        3 => damaged(document),
        1 => "\\PC{0,120}",
    ]
}

/// A web configuration with TLS (the files of [`web_dir`]) and a user.
fn rich_web_config(hash: &str) -> String {
    format!(
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  min_version: TLS12\n  max_version: TLS13\n  client_auth_type: NoClientCert\nbasic_auth_users:\n  admin: \"{hash}\"\n"
    )
}

#[test]
fn the_rich_documents_are_valid_so_that_their_damage_reaches_the_checks() {
    parse_config(&rich_config()).unwrap();
    let (dir, hash) = web_dir();
    load_web(dir.path(), &rich_web_config(&hash)).unwrap();
}

/// The line a web configuration error names (`line N:`), if any.
fn web_error_line(message: &str) -> Option<usize> {
    let (_, rest) = message.split_once(": line ")?;
    rest.split(':').next()?.parse().ok()
}

#[test]
fn any_web_configuration_is_read_or_refused_at_its_place() {
    let (dir, hash) = web_dir();
    run(cases(256), web_text(hash), |text| {
        let (result, peak, took) = measure(|| load_web(dir.path(), &text));
        prop_assert!(peak < MEMORY_BOUND, "{} KiB held", peak / 1024);
        prop_assert!(took < Duration::from_secs(5), "{took:?}");
        if let Err(error) = result {
            let message = error.to_string();
            let at_line =
                web_error_line(&message).is_some_and(|l| (1..=last_line(&text)).contains(&l));
            let at_key = ["tls_server_config", "basic_auth_users"]
                .iter()
                .any(|key| message.contains(&format!("web.yml: {key}")));
            prop_assert!(at_line || at_key, "names no line and no section: {message}");
        }
        Ok(())
    });
}

// ------------------------------------------ bombs and depth, as examples

/// A billion-laughs alias bomb: ten levels of ten aliases each, used at `key`.
fn alias_bomb(key: &str) -> String {
    let mut yaml = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..10 {
        let previous = format!("*a{}", level - 1);
        let items = [previous.as_str(); 10].join(", ");
        yaml.push_str(&format!("a{level}: &a{level} [{items}]\n"));
    }
    yaml.push_str(&format!("{key}: *a9\n"));
    yaml
}

/// Nesting far deeper than any configuration: flow sequences and mappings,
/// block sequences and mappings, and aliases of nested anchors.
fn deep_documents(prefix: &str) -> Vec<(&'static str, String)> {
    let block_seq: String = (0..2_000)
        .map(|i| format!("{}-\n", " ".repeat(i)))
        .collect();
    let block_map: String = (0..2_000)
        .map(|i| format!("{}k:\n", " ".repeat(i)))
        .collect();
    let mut nested_aliases = String::from("a0: &a0 [x]\n");
    for level in 1..200 {
        nested_aliases.push_str(&format!("a{level}: &a{level} [*a{}]\n", level - 1));
    }
    vec![
        ("flow sequences", format!("{prefix}{}", "[".repeat(100_000))),
        (
            "flow mappings",
            format!("{prefix}{}", "{a: ".repeat(100_000)),
        ),
        ("block sequences", format!("{prefix}\n{block_seq}")),
        ("block mappings", format!("{prefix}\n{block_map}")),
        ("nested aliases", nested_aliases),
    ]
}

/// A reader, for the examples: the line and message of a refusal.
type Read = fn(&str) -> Result<(), (usize, String)>;

/// Refused within bounds, at a line of the text, on a worker's stack.
fn assert_refused(what: &str, text: String, read: Read) {
    let what = what.to_owned();
    on_small_stack(move || {
        let (result, peak, took) = measure(|| read(&text));
        let Err((line, message)) = result else {
            panic!("{what}: accepted");
        };
        eprintln!(
            "{what}: line {line}: {message} ({} KiB, {took:?})",
            peak / 1024
        );
        assert!(
            (1..=last_line(&text)).contains(&line),
            "{what}: line {line}"
        );
        assert!(peak < MEMORY_BOUND, "{what}: {} KiB held", peak / 1024);
        assert!(took < Duration::from_secs(5), "{what}: {took:?}");
    });
}

fn read_config(text: &str) -> Result<(), (usize, String)> {
    match parse_config(text) {
        Ok(_) => Ok(()),
        Err(ConfigError::Invalid { line, message, .. }) => Err((line, message)),
        Err(other) => Err((0, other.to_string())),
    }
}

fn read_web(text: &str) -> Result<(), (usize, String)> {
    let dir = tempfile::tempdir().unwrap();
    match load_web(dir.path(), text) {
        Ok(_) => Ok(()),
        Err(error) => {
            let message = error.to_string();
            Err((web_error_line(&message).unwrap_or(0), message))
        }
    }
}

#[test]
fn an_alias_bomb_is_refused_quickly_and_within_bounds() {
    assert_refused(
        "configuration, bomb at the top",
        alias_bomb("notice"),
        read_config,
    );
    assert_refused(
        "configuration, bomb as targets",
        alias_bomb("targets"),
        read_config,
    );
    assert_refused(
        "web configuration",
        alias_bomb("basic_auth_users"),
        read_web,
    );
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    for (what, text) in deep_documents("targets: ") {
        assert_refused(&format!("configuration, {what}"), text, read_config);
    }
    for (what, text) in deep_documents("basic_auth_users: ") {
        assert_refused(&format!("web configuration, {what}"), text, read_web);
    }
}
