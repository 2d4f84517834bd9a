//! A simulator of the three provider APIs over real HTTP on loopback, for
//! `--demo`, end-to-end tests and benchmarks. It serves the read endpoints of the
//! contract with the documents' response shapes, checks the `app_key` / `token`,
//! pages like the real APIs, can inject faults per endpoint, and logs the
//! requests it answers ([`Simulator::requests`]).
//!
//! Many targets can share one simulator: besides its provider's demo key it
//! accepts that key followed by `.` and any suffix (`demo-proxylite-app-key.t42`),
//! one account seen through many credentials, and the log names the suffix.
//!
//! It does not replace the precise per-test wiremock stubs: it is a living
//! account to look at, not an oracle for one answer.

pub mod custom;
pub mod data;
pub mod history;
pub mod rhythm;

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::providers::Endpoint;
use data::{Clock, Dataset, GatewayAccount, IpwebAccount, RechargeList, Sizes, StockList};

/// The `app_key` the simulated BestProxy accepts.
pub const BESTPROXY_APP_KEY: &str = "demo-bestproxy-app-key";
/// The `app_key` the simulated ProxyLite accepts.
pub const PROXYLITE_APP_KEY: &str = "demo-proxylite-app-key";
/// The `token` the simulated IPWeb accepts.
pub const IPWEB_TOKEN: &str = "demo-ipweb-token";

/// The simulated providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimProvider {
    BestProxy,
    ProxyLite,
    Ipweb,
    /// "Other Proxy", read by the demo's `provider: custom` target.
    Custom,
}

impl SimProvider {
    /// The path under the simulator's address where this provider's API lives,
    /// to be used as a target's `base_url` path.
    pub fn base_path(self) -> &'static str {
        match self {
            SimProvider::BestProxy => "",
            SimProvider::ProxyLite => "",
            SimProvider::Ipweb => "/prod-api",
            SimProvider::Custom => custom::BASE_PATH,
        }
    }
}

/// A failure the simulator answers with instead of data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// This HTTP status with an empty body.
    Http(u16),
    /// HTTP 429 with `Retry-After` in seconds.
    RateLimited { retry_after_secs: u64 },
    /// A body that is not JSON.
    InvalidJson,
    /// An HTML error page with HTTP 200.
    Html,
    /// The API's answer to an invalid credential (`code: 3` resp. IPWeb's `data: null`).
    AuthError,
    /// `code: 200` with `data: null`.
    DataNull,
    /// No answer at all until the client gives up.
    Hang,
}

/// What the simulator serves.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Seeds the dataset: the same seed gives the same accounts, IPs and expiries
    /// (relative to the start).
    pub seed: u64,
    pub sub_accounts: usize,
    pub static_ips: usize,
    pub customers: usize,
    /// Added to every answer.
    pub latency: Duration,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            seed: 42,
            sub_accounts: 12,
            static_ips: 24,
            customers: 300,
            latency: Duration::ZERO,
        }
    }
}

struct State {
    dataset: Dataset,
    start: chrono::DateTime<Utc>,
    latency: Duration,
    faults: Mutex<HashMap<(SimProvider, Endpoint), Fault>>,
    log: Mutex<VecDeque<LoggedRequest>>,
}

/// The most requests the log keeps; older ones are dropped first.
pub const REQUEST_LOG_CAPACITY: usize = 100_000;

/// One request the simulator answered, as its log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub provider: SimProvider,
    pub endpoint: Endpoint,
    /// What followed `.` in the credential (`t42` for
    /// `demo-proxylite-app-key.t42`); empty for the plain demo key, `None` for a
    /// credential that was refused or missing.
    pub credential_suffix: Option<String>,
    /// When the request arrived.
    pub at: std::time::Instant,
}

/// A running simulator; it stops when dropped.
pub struct Simulator {
    addr: SocketAddr,
    state: Arc<State>,
    _stop: watch::Sender<()>,
}

impl Simulator {
    /// Starts the simulator on `127.0.0.1` at an ephemeral port.
    pub async fn start(config: SimulatorConfig) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let sizes = Sizes {
            sub_accounts: config.sub_accounts,
            static_ips: config.static_ips,
            customers: config.customers,
        };
        let state = Arc::new(State {
            dataset: Dataset::generate(config.seed, sizes),
            // Whole seconds, so that provider timestamps are exact offsets from it.
            start: chrono::DateTime::from_timestamp(Utc::now().timestamp(), 0)
                .unwrap_or_else(Utc::now),
            latency: config.latency,
            faults: Mutex::new(HashMap::new()),
            log: Mutex::new(VecDeque::new()),
        });
        let (stop, mut stopped) = watch::channel(());
        let serving = Arc::clone(&state);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let state = Arc::clone(&serving);
                        let mut conn_stopped = stopped.clone();
                        tokio::spawn(async move {
                            let service = hyper::service::service_fn(move |req| {
                                let state = Arc::clone(&state);
                                async move { Ok::<_, Infallible>(handle(&state, req).await) }
                            });
                            let conn = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service);
                            tokio::select! {
                                _ = conn => {}
                                _ = conn_stopped.changed() => {}
                            }
                        });
                    }
                    _ = stopped.changed() => break,
                }
            }
        });
        Ok(Simulator {
            addr,
            state,
            _stop: stop,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `base_url` a target of `provider` uses.
    pub fn base_url(&self, provider: SimProvider) -> String {
        format!("{}{}", self.url(), provider.base_path())
    }

    /// The moment the dataset is anchored at (whole seconds).
    pub fn start_time(&self) -> chrono::DateTime<Utc> {
        self.state.start
    }

    /// The generated data.
    pub fn dataset(&self) -> &Dataset {
        &self.state.dataset
    }

    /// Makes `endpoint` of `provider` fail with `fault` (or answer again with `None`).
    pub fn set_fault(&self, provider: SimProvider, endpoint: Endpoint, fault: Option<Fault>) {
        let mut faults = self.state.faults.lock().unwrap_or_else(|e| e.into_inner());
        match fault {
            Some(f) => faults.insert((provider, endpoint), f),
            None => faults.remove(&(provider, endpoint)),
        };
    }

    /// The requests answered so far for a provider's read endpoint (the last
    /// [`REQUEST_LOG_CAPACITY`]), oldest first. Unknown paths are not logged.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        let log = self.state.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().cloned().collect()
    }

    /// Forgets the requests logged so far.
    pub fn clear_requests(&self) {
        self.state
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// A configuration (YAML) with one target per simulated provider, the
    /// custom API's read by `provider: custom`.
    pub fn demo_config_yaml(&self, interval: Duration) -> String {
        format!(
            r#"interval: {interval}
timeout: 5s
targets:
  - name: demo-bestproxy
    provider: bestproxy
    base_url: {best}
    app_key: {BESTPROXY_APP_KEY}
    product_types: [9, 12]
    endpoints: [{gateway_endpoints}]
  - name: demo-proxylite
    provider: proxylite
    base_url: {lite}
    app_key: {PROXYLITE_APP_KEY}
    product_types: [9, 12]
    endpoints: [{gateway_endpoints}]
  - name: demo-ipweb
    provider: ipweb
    base_url: {ipweb}
    token: {IPWEB_TOKEN}
{custom}"#,
            interval = humantime::format_duration(interval),
            // Every endpoint, the optional `stock` included.
            gateway_endpoints = crate::providers::gateway::BESTPROXY
                .all_endpoints()
                .map(Endpoint::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            best = self.base_url(SimProvider::BestProxy),
            lite = self.base_url(SimProvider::ProxyLite),
            ipweb = self.base_url(SimProvider::Ipweb),
            custom = custom::target_yaml(&self.base_url(SimProvider::Custom)),
        )
    }
}

/// The `alerting` section `--demo` adds to [`Simulator::demo_config_yaml`]: the
/// agent logs its alerts, with short `for`s so that they show within a minute
/// (`ProxyUsageSpike` within minutes: the leaked sub-account's burst under way
/// at the start, against the simulated week of history).
pub const DEMO_ALERTING_YAML: &str = "alerting:
  evaluation_interval: 10s
  rules:
    ProxyTrafficLow: {for: 30s}
    ProxyTrafficExhaustionForecast: {for: 30s}
    ProxyTrafficExpiringSoon: {for: 30s}
    ProxyPackageExpiringSoon: {for: 30s}
    ProxyAccountNearLimit: {for: 30s}
    ProxyStaticIPExpiringSoon: {for: 30s}
    ProxyStaticIPUnhealthy: {for: 30s}
    ProxyUsageSpike: {for: 30s}
  receivers:
    - name: console
      log: {}
";

type Reply = Response<Full<Bytes>>;

async fn handle(state: &State, req: Request<Incoming>) -> Reply {
    let arrived = std::time::Instant::now();
    if !state.latency.is_zero() {
        tokio::time::sleep(state.latency).await;
    }
    let path = req.uri().path().to_owned();
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let Some((provider, endpoint, resource)) = route(&path) else {
        return reply(StatusCode::NOT_FOUND, "text/plain", "not found".into());
    };
    if req.method() != hyper::Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "read endpoints take GET".into(),
        );
    }
    let fault = state
        .faults
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&(provider, endpoint))
        .copied();
    let credential_suffix = credential_of(provider, &req, &query);
    let authorized = credential_suffix.is_some();
    state.record(LoggedRequest {
        provider,
        endpoint,
        credential_suffix,
        at: arrived,
    });
    if let Some(fault) = fault {
        return fault_reply(fault, provider).await;
    }
    if !authorized {
        return fault_reply(Fault::AuthError, provider).await;
    }
    let clock = Clock {
        start: state.start,
        now: Utc::now(),
    };
    if let Resource::Custom(resource) = resource {
        let body = custom::answer(&state.dataset.custom, resource, &query, &clock);
        return reply(StatusCode::OK, "application/json", body.to_string());
    }
    let data = match provider {
        SimProvider::BestProxy => gateway_data(&state.dataset.bestproxy, resource, &query, &clock),
        SimProvider::ProxyLite => gateway_data(&state.dataset.proxylite, resource, &query, &clock),
        SimProvider::Ipweb => ipweb_data(state, resource, &query, &clock),
        SimProvider::Custom => None,
    };
    let body = match (provider, data) {
        (SimProvider::Ipweb, Some(data)) => json!({"msg": "操作成功", "code": 200, "data": data}),
        // The order list answers as its examples show: `code` 0 and `message`.
        (_, Some(data)) if resource == Resource::Orders => {
            json!({"code": 0, "message": "Operation successful", "data": data})
        }
        (_, Some(data)) => json!({"code": 200, "msg": "success", "data": data}),
        (_, None) => json!({"code": 400, "msg": "unsupported product_type", "data": null}),
    };
    reply(StatusCode::OK, "application/json", body.to_string())
}

/// What follows the provider's accepted credential in the request, if the
/// request carries it where the provider expects it.
fn credential_of(
    provider: SimProvider,
    req: &Request<Incoming>,
    query: &HashMap<String, String>,
) -> Option<String> {
    let credential = match provider {
        SimProvider::BestProxy | SimProvider::ProxyLite => query.get("app_key").map(String::as_str),
        SimProvider::Ipweb => req.headers().get("token").and_then(|v| v.to_str().ok()),
        SimProvider::Custom => custom::bearer(
            req.headers()
                .get(hyper::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        ),
    };
    let accepted = match provider {
        SimProvider::BestProxy => BESTPROXY_APP_KEY,
        SimProvider::ProxyLite => PROXYLITE_APP_KEY,
        SimProvider::Ipweb => IPWEB_TOKEN,
        SimProvider::Custom => custom::TOKEN,
    };
    credential.and_then(|c| credential_suffix(c, accepted))
}

/// What follows the accepted credential: `Some("")` for the credential itself,
/// `Some(suffix)` for `credential.suffix`, `None` for anything else.
fn credential_suffix(given: &str, accepted: &str) -> Option<String> {
    let rest = given.strip_prefix(accepted)?;
    if rest.is_empty() {
        return Some(String::new());
    }
    rest.strip_prefix('.')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl State {
    fn record(&self, request: LoggedRequest) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() == REQUEST_LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(request);
    }
}

/// What a request path asks for. Several resources may belong to one endpoint
/// (the two recharge lists, the three stock lists); faults are injected per
/// endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Usage,
    Summary,
    Packages,
    Accounts,
    StaticIps,
    Allowlist,
    /// `order/list`.
    Orders,
    /// `ip/static-ip-region`, for the kind its `isp` parameter asks.
    StaticIpRegions,
    HostPoolRegions,
    Customers,
    NniUsage,
    Recharges(RechargeList),
    /// A resource of the custom API.
    Custom(custom::Resource),
}

impl Resource {
    fn endpoint(self) -> Endpoint {
        match self {
            Resource::Usage => Endpoint::Usage,
            Resource::Summary => Endpoint::Summary,
            Resource::Packages => Endpoint::Packages,
            Resource::Accounts => Endpoint::Accounts,
            Resource::StaticIps => Endpoint::StaticIps,
            Resource::Allowlist => Endpoint::Allowlist,
            Resource::Orders => Endpoint::Orders,
            Resource::StaticIpRegions | Resource::HostPoolRegions => Endpoint::Stock,
            Resource::Customers => Endpoint::Customers,
            Resource::NniUsage => Endpoint::NniUsage,
            Resource::Recharges(_) => Endpoint::Recharges,
            Resource::Custom(resource) => resource.endpoint(),
        }
    }
}

/// Maps a request path to the provider, endpoint and resource it belongs to.
fn route(path: &str) -> Option<(SimProvider, Endpoint, Resource)> {
    if let Some(rest) = path.strip_prefix(custom::BASE_PATH) {
        let resource = Resource::Custom(custom::route(rest)?);
        return Some((SimProvider::Custom, resource.endpoint(), resource));
    }
    if let Some(rest) = path.strip_prefix("/prod-api") {
        let resource = match rest {
            "/api/agent/getFlowTotalFull" => Resource::Summary,
            "/api/agent/getFlowConsumeDetail" => Resource::Usage,
            "/api/agent/getNNIFlowConsumeDetail" => Resource::NniUsage,
            "/open/dynamic/flowReport" => Resource::Customers,
            "/open/dynamic/rechargeFlowListForMe" => Resource::Recharges(RechargeList::ForMe),
            "/open/dynamic/myRechargeFlowList" => Resource::Recharges(RechargeList::Mine),
            _ => return None,
        };
        return Some((SimProvider::Ipweb, resource.endpoint(), resource));
    }
    let (provider, rest) = if let Some(rest) = path.strip_prefix("/gateway") {
        (SimProvider::BestProxy, rest)
    } else {
        (SimProvider::ProxyLite, path.strip_prefix("/end-point")?)
    };
    let resource = match rest {
        "/user-usage-flow/total" => Resource::Usage,
        "/user-product/summary" => Resource::Summary,
        "/user-product/list" => Resource::Packages,
        "/whitelist-account/list" => Resource::Accounts,
        "/ip/get-static-ip" => Resource::StaticIps,
        "/proxy-ip/list" => Resource::Allowlist,
        "/order/list" => Resource::Orders,
        "/ip/static-ip-region" => Resource::StaticIpRegions,
        "/host-pool/regions" => Resource::HostPoolRegions,
        _ => return None,
    };
    Some((provider, resource.endpoint(), resource))
}

fn gateway_data(
    account: &GatewayAccount,
    resource: Resource,
    query: &HashMap<String, String>,
    clock: &Clock,
) -> Option<Value> {
    let number = |key: &str, default: usize| query_number(query, key, default);
    Some(match resource {
        Resource::Usage => account.usage(clock, 7),
        Resource::Summary => {
            let product_type = number("product_type", 9) as u32;
            account
                .pools
                .iter()
                .find(|p| p.product_type == product_type)?
                .summary(clock)
        }
        Resource::Packages => page(
            &account.packages,
            number("page", 1),
            number("size", 20),
            |p| account.package_item(p, clock),
        ),
        Resource::Accounts => {
            let list: Vec<_> = account
                .sub_accounts
                .iter()
                .map(|a| GatewayAccount::account_item(a, clock))
                .collect();
            json!({ "list": list })
        }
        Resource::StaticIps => page(
            &account.static_ips,
            number("page", 1),
            number("size", 20),
            |ip| GatewayAccount::static_ip_item(ip, clock),
        ),
        Resource::Allowlist => account.allowlist(clock),
        Resource::Orders => {
            // `start_time` is inclusive, zone-less, in the provider's zone.
            let since = query
                .get("start_time")
                .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").ok())
                .and_then(|t| t.and_local_timezone(data::provider_zone()).single())
                .map(|t| (t.with_timezone(&Utc) - clock.start).num_seconds());
            let orders: Vec<_> = account
                .orders(clock)
                .into_iter()
                .filter(|o| since.is_none_or(|since| o.created_in >= since))
                .collect();
            let size = number("page_size", 20).clamp(1, 1000);
            let page_no = number("page_no", 1).max(1);
            let list: Vec<_> = orders
                .iter()
                .skip((page_no - 1).saturating_mul(size))
                .take(size)
                .map(|o| GatewayAccount::order_item(o, clock))
                .collect();
            json!({
                "list": list,
                "pagination": {
                    "total": orders.len(),
                    "page_no": page_no,
                    "page_size": size,
                    "total_pages": orders.len().div_ceil(size),
                },
            })
        }
        // Without `isp` the document's sites answer residential stock.
        Resource::StaticIpRegions => match query.get("isp").map(String::as_str) {
            Some("0") => account.stock(StockList::Datacenter, clock),
            _ => account.stock(StockList::Residential, clock),
        },
        Resource::HostPoolRegions => account.stock(StockList::HostPool, clock),
        Resource::Customers | Resource::NniUsage | Resource::Recharges(_) | Resource::Custom(_) => {
            return None
        }
    })
}

/// A whole-number query parameter, `default` when it is absent or not a number.
fn query_number(query: &HashMap<String, String>, key: &str, default: usize) -> usize {
    query
        .get(key)
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(default)
}

/// A page in the gateway family's shape.
fn page<T>(items: &[T], page: usize, size: usize, item: impl Fn(&T) -> Value) -> Value {
    let size = size.clamp(1, 1000);
    let page = page.max(1);
    let list: Vec<_> = items
        .iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .map(item)
        .collect();
    json!({
        "list": list,
        "page": page,
        "page_size": size,
        "total_count": items.len(),
        "total_page": items.len().div_ceil(size),
    })
}

fn ipweb_data(
    state: &State,
    resource: Resource,
    query: &HashMap<String, String>,
    clock: &Clock,
) -> Option<Value> {
    let ipweb = &state.dataset.ipweb;
    let number = |key: &str, default: usize| query_number(query, key, default);
    Some(match resource {
        Resource::Summary => ipweb.totals(clock),
        Resource::Usage => ipweb.consumption(clock),
        Resource::NniUsage => ipweb.nni_consumption(clock),
        Resource::Recharges(list) => {
            // `type` filters my recharges: 1 consumption only; 0 (the default)
            // recharges, with consumption rows among them as in the document's
            // example. Dates are compared as the provider writes them.
            let consumption_only =
                list == RechargeList::Mine && query.get("type").map(String::as_str) == Some("1");
            let within = |date: &str| {
                query
                    .get("startDate")
                    .is_none_or(|start| date >= start.as_str())
                    && query.get("endDate").is_none_or(|end| date <= end.as_str())
            };
            let rows: Vec<_> = ipweb
                .recharges(list, clock)
                .into_iter()
                .filter(|r| !consumption_only || r.flow_mb < 0.0)
                .filter(|r| within(&clock.stamp_date(r.at)))
                .collect();
            let size = number("pageSize", 10).clamp(1, 500);
            let page = number("pageNum", 1).max(1);
            let items: Vec<_> = rows
                .iter()
                .skip((page - 1).saturating_mul(size))
                .take(size)
                .map(|r| IpwebAccount::recharge_row(r, clock))
                .collect();
            json!({"total": rows.len(), "rows": items, "code": 200, "msg": "查询成功"})
        }
        Resource::Customers => {
            let size = number("pageSize", 100).clamp(1, 2000);
            let page = number("pageNum", 1).max(1);
            let rows: Vec<_> = ipweb
                .customers
                .iter()
                .skip((page - 1).saturating_mul(size))
                .take(size)
                .map(|c| ipweb.report_row(c, clock))
                .collect();
            json!({"total": ipweb.customers.len(), "rows": rows, "code": 200, "msg": "查询成功", "other": null})
        }
        _ => return None,
    })
}

async fn fault_reply(fault: Fault, provider: SimProvider) -> Reply {
    match fault {
        Fault::Http(status) => reply(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "text/plain",
            String::new(),
        ),
        Fault::RateLimited { retry_after_secs } => {
            let mut r = reply(
                StatusCode::TOO_MANY_REQUESTS,
                "text/plain",
                "slow down".into(),
            );
            r.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
            r
        }
        Fault::InvalidJson => reply(
            StatusCode::OK,
            "application/json",
            "{\"code\":200,\"data\":{\"list\":[".into(),
        ),
        Fault::Html => reply(
            StatusCode::OK,
            "text/html",
            "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>".into(),
        ),
        Fault::AuthError if provider == SimProvider::Custom => reply(
            StatusCode::OK,
            "application/json",
            custom::auth_error().to_string(),
        ),
        Fault::AuthError if provider == SimProvider::Ipweb => reply(
            StatusCode::OK,
            "application/json",
            json!({"code": 200, "msg": "无效的认证令牌", "data": null}).to_string(),
        ),
        Fault::AuthError => reply(
            StatusCode::OK,
            "application/json",
            json!({"code": 3, "msg": "app_key无效", "data": null}).to_string(),
        ),
        Fault::DataNull => reply(
            StatusCode::OK,
            "application/json",
            json!({"code": 200, "msg": "success", "data": null}).to_string(),
        ),
        Fault::Hang => {
            std::future::pending::<()>().await;
            unreachable!("pending never resolves")
        }
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
