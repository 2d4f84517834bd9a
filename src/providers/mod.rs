//! The providers the exporter knows: the registry and what every provider
//! module shares (the [`Provider`] trait, the [`Api`] a target reaches, the
//! answer envelope, the pager).
//!
//! A provider module declares a [`ProviderSpec`] (name, default base URL, its
//! path prefix, its credential key and where the credential goes, its endpoints,
//! its own configuration keys and how to read them, how to build it) and
//! implements [`Provider`]: it does HTTP and JSON and hands back plain
//! [`Reading`]s, and it knows neither the configuration (it gets a
//! [`Connection`]) nor Prometheus. Adding a provider is one module, its `pub mod`
//! line and one entry in [`PROVIDERS`]. Every paged list is read through the one pager in
//! `pager.rs`, whose stop rules hold for all providers.

pub mod custom;
pub mod gateway;
pub mod ipweb;
pub(crate) mod pager;

use std::fmt;
use std::sync::Arc;

use std::str::FromStr;

use futures::future::BoxFuture;
use tokio::sync::Semaphore;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use std::any::Any;
use std::time::Duration;

use crate::http::{CredentialPlacement, HttpClient, PollError};
use crate::readings::Reading;
use crate::secret::{Redactor, Secret};
use crate::units::Zone;
use crate::units::{optional_number, Number};
use crate::yaml;

/// Every provider the exporter can poll: the one list to extend.
pub const PROVIDERS: &[ProviderSpec] = &[
    gateway::BESTPROXY,
    gateway::PROXYLITE,
    ipweb::IPWEB,
    custom::CUSTOM,
    // Presets: custom targets shipped with the exporter (src/providers/presets/).
    custom::presets::IPROYAL,
    custom::presets::WEBSHARE,
    custom::presets::THORDATA,
    custom::presets::GOPROXY,
    custom::presets::GEONODE,
    custom::presets::ASOCKS,
    custom::presets::INFINITEPROXIES,
    custom::presets::WEPROXIES,
    custom::presets::EVOMI,
    custom::presets::SCRAPEOPS,
    custom::presets::ECLIPSEPROXY,
];

/// A provider: what the configuration and the scheduler need to know about it.
#[derive(Debug)]
pub struct ProviderSpec {
    /// The `provider` config value and metric label.
    pub name: &'static str,
    /// The provider's name for people (`ProxyLite`).
    pub display_name: &'static str,
    /// `None` when users must set `base_url`.
    pub default_base_url: Option<&'static str>,
    /// The config key naming the credential (`app_key` or `token`); `<key>_file` also works.
    pub credential_key: &'static str,
    /// Where the credential goes on every request, given the target's own settings.
    pub credential_placement: fn(&Options) -> CredentialPlacement,
    /// A path segment every endpoint path is under (`gateway`), added to the
    /// base URL unless it already ends with it.
    pub path_prefix: Option<&'static str>,
    /// Endpoints polled by default, in order.
    pub endpoints: &'static [Endpoint],
    /// Further endpoints, polled only when a target lists them.
    pub optional_endpoints: &'static [Endpoint],
    /// For a provider whose endpoints follow from a target's own settings
    /// (`custom`): the endpoints those settings describe, which are then the
    /// target's defaults and the only ones it may list.
    pub configured_endpoints: Option<fn(&Options) -> Vec<Endpoint>>,
    /// The target keys only this provider reads (besides its credential's).
    pub own_keys: &'static [&'static str],
    /// Reads and checks those keys from the target's entry in the configuration;
    /// the path is the configuration file's directory, which relative secret
    /// file paths among them start from.
    pub read_options: fn(&yaml::Entry, &std::path::Path) -> Result<Options, OptionsError>,
    /// Builds the provider for a validated target that reaches its API through `api`.
    pub build: fn(&Connection, Api) -> Box<dyn Provider>,
}

/// Providers are one by name: the registry and the presets never give two
/// the same name (tested), and a spec's functions are not comparable.
impl PartialEq for ProviderSpec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// What a provider sees of a validated target.
pub struct Connection<'a> {
    pub spec: &'static ProviderSpec,
    pub base_url: &'a url::Url,
    pub credential: &'a Secret,
    /// Per request.
    pub timeout: Duration,
    pub body_size_limit: usize,
    pub timezone: Zone,
    pub unit_base: u32,
    pub sample_limit: usize,
    /// Paces the target's requests; `None` does not.
    pub max_requests_per_second: Option<f64>,
    /// What [`ProviderSpec::read_options`] read.
    pub options: &'a Options,
}

/// A provider's own settings, as its module read them from the target's keys.
/// Compared by value, so that a reload restarts a target whose settings changed.
#[derive(Clone)]
pub struct Options(Arc<dyn AnyOptions>);

/// What [`Options`] can hold: any plain settings type of a provider module.
trait AnyOptions: Any + fmt::Debug + Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn same_as(&self, other: &dyn AnyOptions) -> bool;
}

impl<T: Any + fmt::Debug + PartialEq + Send + Sync> AnyOptions for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn same_as(&self, other: &dyn AnyOptions) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
}

impl Options {
    /// Settings of a provider module.
    pub fn new<T: Any + fmt::Debug + PartialEq + Send + Sync>(settings: T) -> Self {
        Options(Arc::new(settings))
    }

    /// No settings: for a provider without keys of its own.
    pub fn none() -> Self {
        Options::new(())
    }

    /// The settings, if they are a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        (*self.0).as_any().downcast_ref()
    }
}

impl PartialEq for Options {
    fn eq(&self, other: &Self) -> bool {
        (*self.0).same_as(&*other.0)
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (*self.0).fmt(f)
    }
}

/// Why a provider refused its keys.
pub enum OptionsError {
    /// The YAML did not read as the provider's settings (wrong type, for example).
    Read(yaml::Error),
    /// A key read but its value is not allowed.
    Invalid { key: &'static str, message: String },
    /// A key nested in the target's entry (`["pools", "[0]", "used"]`) is not
    /// allowed; the message names it.
    InvalidAt { path: Vec<String>, message: String },
}

/// For a provider without keys of its own.
pub fn no_options(_: &yaml::Entry, _: &std::path::Path) -> Result<Options, OptionsError> {
    Ok(Options::none())
}

/// What a provider module builds for a target: something that polls its endpoints.
pub trait Provider: Send + Sync {
    /// Polls one endpoint once (all pages) and returns its reading. An endpoint
    /// the provider does not have is an `api` error (configuration refuses it first).
    fn poll(&self, endpoint: Endpoint) -> BoxFuture<'_, Result<Reading, PollError>>;
}

/// Looks a provider up by its config name.
pub fn spec(name: &str) -> Option<&'static ProviderSpec> {
    PROVIDERS.iter().find(|p| p.name == name)
}

impl ProviderSpec {
    /// Every endpoint a target of this provider may list: the default ones, then
    /// the optional ones.
    pub fn all_endpoints(&self) -> impl Iterator<Item = Endpoint> + '_ {
        self.endpoints
            .iter()
            .chain(self.optional_endpoints)
            .copied()
    }
}

/// A configured provider, ready to poll.
pub struct Client {
    provider: Box<dyn Provider>,
    /// Takes the credential, in every form it goes on the wire, out of error
    /// texts, which may quote the provider's answers.
    redactor: Redactor,
}

impl Client {
    /// The client for a validated target, with its own HTTP timeout and body
    /// bound, sharing `limiter` (the bound on requests in flight) with the
    /// other targets.
    pub fn for_target(
        target: &Connection,
        limiter: Arc<Semaphore>,
    ) -> Result<Client, reqwest::Error> {
        let spec = target.spec;
        let mut http =
            HttpClient::new(target.timeout, limiter)?.with_body_size_limit(target.body_size_limit);
        if let Some(rate) = target.max_requests_per_second {
            http = http.with_pacing(rate);
        }
        let placement = (spec.credential_placement)(target.options);
        let redactor = match &placement {
            CredentialPlacement::Basic { username } => {
                Redactor::default().basic(username, target.credential)
            }
            _ => Redactor::of(&[target.credential]),
        };
        let api = Api::new(
            http,
            base_url(target.base_url, spec.path_prefix),
            (placement, target.credential.clone()),
        );
        Ok(Client {
            provider: (spec.build)(target, api),
            redactor,
        })
    }

    /// Polls one endpoint once (all pages) and returns its reading. An error's
    /// text never holds the credential, even where the provider echoed it, and
    /// is at most [`MAX_ERROR_TEXT`] bytes without control characters.
    pub async fn poll(&self, endpoint: Endpoint) -> Result<Reading, PollError> {
        self.provider.poll(endpoint).await.map_err(|mut e| {
            let redacted = self.redactor.apply(&e.message);
            e.message = crate::bounded::shorten(&redacted, MAX_ERROR_TEXT);
            e
        })
    }
}

/// The most bytes of a poll error's text (on the log, the front page, the
/// status API and in `check`).
pub const MAX_ERROR_TEXT: usize = 1024;

/// The base URL endpoint paths are joined to: ending with `/`, and with
/// `prefix` appended unless the configured URL already ends with it.
fn base_url(configured: &url::Url, prefix: Option<&str>) -> url::Url {
    let mut base = configured.clone();
    let path = base.path().trim_end_matches('/').to_owned();
    match prefix {
        Some(prefix) if !path.ends_with(&format!("/{prefix}")) => {
            base.set_path(&format!("{path}/{prefix}/"))
        }
        _ => base.set_path(&format!("{path}/")),
    }
    base
}

/// An upstream endpoint: the `endpoint` label of the exporter's self metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    Usage,
    Summary,
    Packages,
    Accounts,
    StaticIps,
    Customers,
    NniUsage,
    Recharges,
    Allowlist,
    Stock,
    Orders,
}

/// The shortest time between two polls of the `stock` endpoint: what can still
/// be bought changes slowly, and a poll costs three requests.
pub const STOCK_MIN_INTERVAL: Duration = Duration::from_secs(3600);

/// The shortest time between two polls of the `orders` endpoint: 30 days of
/// purchases change a few times a day, and a poll reads every page of them.
pub const ORDERS_MIN_INTERVAL: Duration = Duration::from_secs(3600);

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Usage => "usage",
            Endpoint::Summary => "summary",
            Endpoint::Packages => "packages",
            Endpoint::Accounts => "accounts",
            Endpoint::StaticIps => "static_ips",
            Endpoint::Customers => "customers",
            Endpoint::NniUsage => "nni_usage",
            Endpoint::Recharges => "recharges",
            Endpoint::Allowlist => "allowlist",
            Endpoint::Stock => "stock",
            Endpoint::Orders => "orders",
        }
    }

    /// The shortest time between two polls of this endpoint after a successful
    /// one, whatever the target's `interval`; zero for an endpoint polled every
    /// `interval`. After a failed poll the endpoint is polled again at the
    /// target's next poll.
    pub fn min_interval(self) -> Duration {
        match self {
            Endpoint::Stock => STOCK_MIN_INTERVAL,
            Endpoint::Orders => ORDERS_MIN_INTERVAL,
            _ => Duration::ZERO,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Endpoint {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| ())
    }
}

/// The `{code, msg, data}` answer both API families wrap their data in.
pub(crate) struct Envelope<'a> {
    pub code: i64,
    /// The upstream message, shortened and stripped of control characters.
    pub message: String,
    /// `None` when `data` is missing or `null`.
    pub data: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    /// Reads the envelope; invalid JSON or a missing `code` is a decode error.
    pub fn parse(path: &str, body: &'a [u8]) -> Result<Self, PollError> {
        #[derive(Deserialize)]
        struct Raw<'a> {
            #[serde(default, deserialize_with = "optional_number")]
            code: Option<Number>,
            msg: Option<Value>,
            message: Option<Value>,
            #[serde(borrow)]
            data: Option<&'a RawValue>,
        }
        let raw: Raw = serde_json::from_slice(body)
            .map_err(|e| PollError::decode(format!("GET {path}: invalid JSON: {e}")))?;
        let code = raw
            .code
            .and_then(Number::as_i64)
            .ok_or_else(|| PollError::decode(format!("GET {path}: answer has no code")))?;
        Ok(Envelope {
            code,
            message: upstream_message(raw.msg.or(raw.message)),
            data: raw.data.filter(|d| d.get() != "null"),
        })
    }

    /// The message as `": msg"`, or nothing.
    pub fn message_suffix(&self) -> String {
        message_suffix(&self.message)
    }

    /// Decodes `data`, borrowing from the body where `T` does; a missing or
    /// `null` data is a decode error.
    pub fn decode_data<T: Deserialize<'a>>(&self, path: &str) -> Result<T, PollError> {
        let data = self
            .data
            .ok_or_else(|| PollError::decode(format!("GET {path}: data is null or missing")))?;
        serde_json::from_str(data.get())
            .map_err(|e| PollError::decode(format!("GET {path}: unexpected data: {e}")))
    }
}

/// An upstream message (from [`upstream_message`]) to end an error text with:
/// `": msg"`, or nothing when there is none.
pub(crate) fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// An upstream `msg` as error text: shortened to 400 bytes (ending with `…`
/// when cut, so that a credential it quotes is redacted even cut short) and
/// stripped of control characters; a non-string message in its JSON form.
pub(crate) fn upstream_message(msg: Option<Value>) -> String {
    let message = match msg {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    };
    crate::bounded::shorten(message.trim(), 400)
}

/// One provider API as a target reaches it: the base URL (ending with `/`), the
/// credential and where it goes, and the HTTP client.
pub struct Api {
    http: HttpClient,
    base: url::Url,
    credential: (CredentialPlacement, Secret),
}

impl Api {
    pub fn new(
        http: HttpClient,
        base: url::Url,
        credential: (CredentialPlacement, Secret),
    ) -> Self {
        Api {
            http,
            base,
            credential,
        }
    }

    /// GETs `path` under the base URL and returns the URL asked and the raw body.
    pub async fn fetch(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<(url::Url, bytes::Bytes), PollError> {
        let shown = path.split('?').next().unwrap_or_default();
        let url = self.base.join(path).map_err(|e| {
            PollError::new(
                crate::http::Reason::Http,
                format!("bad URL for {shown}: {e}"),
            )
        })?;
        if !self.same_origin(&url) {
            return Err(PollError::new(
                crate::http::Reason::Http,
                format!("{shown} leads away from the base URL's host: not requested"),
            ));
        }
        let (placement, secret) = &self.credential;
        let body = self.http.get(&url, query, (placement, secret)).await?;
        Ok((url, body))
    }

    /// Whether `url` is on the base URL's origin (scheme, host and port), the
    /// only place the credential may be sent.
    fn same_origin(&self, url: &url::Url) -> bool {
        url.origin() == self.base.origin()
    }

    /// GETs a URL the API itself gave (a next-page link), which must be on the
    /// base URL's origin. A credential query parameter it already carries is
    /// replaced by the target's own.
    pub async fn fetch_url(&self, url: &url::Url) -> Result<bytes::Bytes, PollError> {
        if !self.same_origin(url) || !url.username().is_empty() || url.password().is_some() {
            return Err(PollError::decode(format!(
                "GET {}: a link to {} is not followed: it would carry the credential there",
                url.path(),
                url.origin().ascii_serialization()
            )));
        }
        let (placement, secret) = &self.credential;
        let mut url = url.clone();
        if let Some(name) = placement.query_name() {
            let query = url.query().unwrap_or_default();
            let is_credential = |pair: &&str| {
                let key = pair.split('=').next().unwrap_or_default();
                url::form_urlencoded::parse(key.as_bytes())
                    .next()
                    .is_some_and(|(k, _)| k == name)
            };
            if query.split('&').any(|pair| is_credential(&pair)) {
                let kept: Vec<&str> = query.split('&').filter(|p| !is_credential(p)).collect();
                let kept = kept.join("&");
                url.set_query((!kept.is_empty()).then_some(kept.as_str()));
            }
        }
        self.http.get(&url, &[], (placement, secret)).await
    }
}

/// An id as label text: `42` and `"42"` both give `42`.
pub(crate) fn label_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Strategies for the property tests that feed arbitrary bytes and arbitrary
/// JSON to every response parser.
#[cfg(test)]
pub(crate) mod arbitrary {
    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    /// Field names the parsers look for, so that generated objects reach deep.
    const KEYS: &[&str] = &[
        "code",
        "msg",
        "message",
        "data",
        "list",
        "rows",
        "total",
        "page",
        "total_page",
        "total_count",
        "total_pages",
        "pagination",
        "page_no",
        "id",
        "ip",
        "status",
        "product_type",
        "country_code",
        "expired_at",
        "effective",
        "effective_total",
        "effective_used",
        "temporary",
        "expired",
        "used",
        "total_count",
        "username",
        "password",
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
        "created_at",
        "pay_fee",
        "pay_timestamp",
        "trade_no",
    ];

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("JSON numbers are finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[ -~]{0,16}".prop_map(Value::from),
            "-?[0-9]{1,20}(\\.[0-9]{0,6})?".prop_map(Value::from),
            "[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2}:[0-9]{2})?".prop_map(Value::from),
            Just(Value::from(200)),
        ]
    }

    /// Arbitrary JSON, biased towards the shapes and keys of the providers' answers.
    pub fn json() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 96, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(
                    (
                        prop_oneof![
                            proptest::sample::select(KEYS).prop_map(str::to_owned),
                            "[a-z_]{1,6}"
                        ],
                        inner
                    ),
                    0..8
                )
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    /// A body: arbitrary bytes, arbitrary JSON, or a success envelope around arbitrary data.
    pub fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..256),
            json().prop_map(|v| v.to_string().into_bytes()),
            json().prop_map(|data| json!({"code": 200, "msg": "ok", "data": data})
                .to_string()
                .into_bytes()),
            (any::<i64>(), json()).prop_map(|(code, data)| json!({"code": code, "data": data})
                .to_string()
                .into_bytes()),
        ]
    }
}

#[cfg(test)]
mod tests {
    /// `ProviderSpec`'s equality is its name's, which holds while no two
    /// providers (built-in or preset) share one.
    #[test]
    fn no_two_providers_share_a_name() {
        let mut names: Vec<&str> = super::PROVIDERS.iter().map(|p| p.name).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "a provider name is used twice");
    }
}
