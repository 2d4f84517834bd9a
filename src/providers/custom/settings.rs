//! A custom target's own keys (`auth`, `success`, `unit`, `pools`, `accounts`,
//! `static_ips`), read and checked when the configuration is read: every
//! mistake is refused there, at the line of its key, so that polling only ever
//! meets the API's own surprises.
//!
//! Each section is read by a visitor that checks it before handing it back, so
//! the YAML reader locates a refusal at the section's own line and path
//! (`targets[2].accounts.paging: …`).

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use std::path::Path;

use super::json::{Checked, Pointer};
use crate::http::CredentialPlacement;
use crate::providers::{Endpoint, Options, OptionsError};
use crate::secret::{Secret, SourceError};
use crate::units::{TrafficUnit, Zone};
use crate::yaml;

/// The keys a custom target has besides the common ones and its credential.
pub const OWN_KEYS: &[&str] = &[
    "auth",
    "success",
    "unit",
    "pools",
    "accounts",
    "static_ips",
    "second_credential",
    "second_credential_file",
];

/// The sections a preset's data may hold and a target may override, in the
/// order they are merged (see [`read_preset`]).
const SECTIONS: &[&str] = &["auth", "success", "unit", "pools", "accounts", "static_ips"];

/// Page size asked for when `size_param` is set without `size`.
pub const DEFAULT_PAGE_SIZE: u64 = 100;
/// The product label of sub-accounts and static IPs without `product`.
pub const DEFAULT_PRODUCT: &str = "default";

/// A custom target's validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomSettings {
    pub auth: CredentialPlacement,
    /// A second secret, sent as this query parameter on every request
    /// (`auth.second_query` with `second_credential` or its `_file`).
    pub second: Option<(String, Secret)>,
    pub success: Option<Success>,
    pub pools: Vec<Pool>,
    pub accounts: Option<Accounts>,
    pub static_ips: Option<StaticIps>,
    /// A preset's own `unit_base`, used unless the target sets one.
    pub unit_base: Option<u32>,
    /// A preset's own `timezone`, used unless the target sets one.
    pub timezone: Option<Zone>,
}

/// The envelope check every answer must pass before it is read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Success {
    /// Where the answer says whether it succeeded.
    pub pointer: Pointer,
    /// The value there that means success.
    pub equals: Value,
    /// Where the provider's message is; else `/msg`, `/message`, `/error` or `/detail`.
    #[serde(default)]
    pub message: Option<Pointer>,
    /// Values there that mean the credential was refused (reason `auth`).
    #[serde(default)]
    pub auth_values: Vec<Value>,
}

/// A traffic figure read from the answer: where it is and its unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Traffic {
    pub pointer: Pointer,
    pub unit: TrafficUnit,
}

/// A traffic figure: read at a pointer, or computed from others (each in
/// bytes first, so that operands may have different units).
#[derive(Debug, Clone, PartialEq)]
pub enum Figure {
    Read(Traffic),
    /// `{sum: [a, b, …]}`: purchased = used + remaining.
    Sum(Vec<Figure>),
    /// `{difference: [a, b]}`: remaining = limit − used.
    Difference(Box<Figure>, Box<Figure>),
}

/// The `pool` label: written literally, or read from each item of a list.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolLabel {
    Literal(String),
    From(Pointer),
}

/// One pool of the `summary` endpoint (or, with `list`, one pool per item of a
/// list); its figures as written (`Field`), then with their units (`Figure`).
#[derive(Debug, Clone, PartialEq)]
pub struct Pool<T = Figure> {
    /// The request path under `base_url`.
    pub path: String,
    /// The `pool` label, or where each item has it.
    pub pool: PoolLabel,
    /// The list whose items are pools (`items` or `paging`); `None` for one
    /// pool read from the whole answer.
    pub list: Option<List>,
    pub remaining: Option<T>,
    pub purchased: Option<T>,
    pub used: Option<T>,
    pub expiring: Option<T>,
    pub expired: Option<T>,
}

/// Where a list is and how it is paged.
#[derive(Debug, Clone, PartialEq)]
pub struct List {
    pub path: String,
    /// Where a page's array of items is.
    pub items: Pointer,
    pub paging: Paging,
}

/// How a list is paged.
#[derive(Debug, Clone, PartialEq)]
pub enum Paging {
    /// One request gives the whole list.
    None,
    /// Numbered pages: `page_param` counts from `first_page`.
    Page {
        page_param: String,
        first_page: u64,
        size: Option<(String, u64)>,
        total_pages: Option<Pointer>,
        total_items: Option<Pointer>,
    },
    /// Each page links to the next one, until the link is null.
    Next {
        next: Pointer,
        size: Option<(String, u64)>,
    },
}

impl Paging {
    /// The query parameters the paging sets on a request.
    fn parameters(&self) -> impl Iterator<Item = &str> {
        let (page, size) = match self {
            Paging::None => (None, None),
            Paging::Page {
                page_param, size, ..
            } => (Some(page_param.as_str()), size.as_ref()),
            Paging::Next { size, .. } => (None, size.as_ref()),
        };
        page.into_iter().chain(size.map(|(name, _)| name.as_str()))
    }
}

impl List {
    /// Every query parameter a request for this list carries besides the
    /// credential: the path's own and the paging's.
    fn parameters(&self) -> Vec<String> {
        let mut names = path_query_names(&self.path);
        names.extend(self.paging.parameters().map(str::to_owned));
        names
    }
}

/// The names of the query parameters a configured path already carries.
fn path_query_names(path: &str) -> Vec<String> {
    let query = path.split_once('?').map_or("", |(_, q)| q);
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(name, _)| name.into_owned())
        .collect()
}

/// The `accounts` endpoint: sub-accounts; their figures as written (`Field`),
/// then with their units (`Figure`).
#[derive(Debug, Clone, PartialEq)]
pub struct Accounts<T = Figure> {
    pub list: List,
    pub product: String,
    pub account: Pointer,
    pub used: T,
    pub limit: Option<T>,
    /// Limits that mean "no limit" besides 0.
    pub unlimited_values: Vec<Value>,
    pub enabled: Option<Pointer>,
    pub remark: Option<Pointer>,
}

/// The `static_ips` endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticIps {
    pub list: List,
    pub product: String,
    pub ip: Pointer,
    pub expires_at: Pointer,
    pub country: Option<Pointer>,
    /// Where each IP's status is, and which values mean which of the
    /// contract's four statuses.
    pub status: Option<(Pointer, StatusValues)>,
}

/// `status_values`: the values of an IP's status that mean each of the
/// contract's statuses (active, invalid, expiring, maintenance).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusValues {
    #[serde(default)]
    pub active: Vec<Value>,
    #[serde(default)]
    pub invalid: Vec<Value>,
    #[serde(default)]
    pub expiring: Vec<Value>,
    #[serde(default)]
    pub maintenance: Vec<Value>,
}

impl StatusValues {
    /// The values of each status, in the order of `STATIC_IP_STATUSES`.
    pub fn lists(&self) -> [&[Value]; 4] {
        [
            &self.active,
            &self.invalid,
            &self.expiring,
            &self.maintenance,
        ]
    }
}

impl CustomSettings {
    /// The endpoints the sections describe, in the order they are polled.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let mut endpoints = Vec::new();
        if !self.pools.is_empty() {
            endpoints.push(Endpoint::Summary);
        }
        if self.accounts.is_some() {
            endpoints.push(Endpoint::Accounts);
        }
        if self.static_ips.is_some() {
            endpoints.push(Endpoint::StaticIps);
        }
        endpoints
    }
}

/// A custom target's sections as written, before units and cross-checks.
#[derive(Deserialize, Default)]
struct Keys {
    auth: Option<Auth>,
    success: Option<Success>,
    unit: Option<Unit>,
    pools: Option<Vec<Pool<Field>>>,
    accounts: Option<Accounts<Field>>,
    static_ips: Option<StaticIps>,
}

/// Reads and checks a custom target's keys.
/// Relative secret file paths start from `base_dir`, the configuration file's
/// directory.
pub fn read_options(entry: &yaml::Entry, base_dir: &Path) -> Result<Options, OptionsError> {
    let keys: Keys = entry.read().map_err(OptionsError::Read)?;
    let second = second_credential(entry, base_dir)?;
    settings(keys, second, None, None, base_dir).map(Options::new)
}

/// Reads a preset target's keys: the preset's data (`preset`, YAML: a custom
/// target without name and credential) with the target's own sections laid
/// over it. Mappings merge key by key (a target's `accounts: {limit: /x}`
/// replaces only the preset's `limit`); anything else, a list included,
/// replaces the preset's value; `null` removes it. The preset's `unit_base` and
/// `timezone` apply unless the target sets its own. Relative secret file
/// paths start from `base_dir`, the configuration file's directory.
pub fn read_preset(
    preset: &str,
    entry: &yaml::Entry,
    base_dir: &Path,
) -> Result<Options, OptionsError> {
    let mut data = preset_data(preset).map_err(|message| OptionsError::Invalid {
        key: "provider",
        message: format!("the preset's own data is broken (a bug): {message}"),
    })?;
    let target_keys: Vec<&str> = entry.keys().into_iter().map(|(k, _)| k).collect();
    let unit_base = match data.remove("unit_base") {
        Some(v) if !target_keys.contains(&"unit_base") => v.as_u64().map(|n| n as u32),
        _ => None,
    };
    let timezone = match data.remove("timezone") {
        Some(Value::String(zone)) if !target_keys.contains(&"timezone") => {
            Some(zone.parse().map_err(|e| OptionsError::Invalid {
                key: "timezone",
                message: format!("the preset's timezone: {e}"),
            })?)
        }
        _ => None,
    };
    for (key, value) in &mut data {
        if !SECTIONS.contains(&key.as_str()) {
            return Err(OptionsError::Invalid {
                key: "provider",
                message: format!("the preset's data has a key {key:?} that no target has (a bug)"),
            });
        }
        if let Some(own) = entry.read_key::<Value>(key).map_err(OptionsError::Read)? {
            merge(value, own);
        }
    }
    for key in SECTIONS {
        if !data.contains_key(*key) {
            if let Some(own) = entry.read_key::<Value>(key).map_err(OptionsError::Read)? {
                data.insert((*key).to_owned(), own);
            }
        }
    }
    data.retain(|_, v| !v.is_null());
    // Each section on its own, so that a mistake names the target's key.
    let mut keys = Keys::default();
    for (key, value) in data {
        let key: &'static str = SECTIONS
            .iter()
            .find(|k| **k == key)
            .copied()
            .unwrap_or("provider");
        let read = |e: serde_json::Error| OptionsError::Invalid {
            key,
            message: format!("{e} (as laid over the preset's {key})"),
        };
        match key {
            "auth" => keys.auth = Some(serde_json::from_value(value).map_err(read)?),
            "success" => keys.success = Some(serde_json::from_value(value).map_err(read)?),
            "unit" => keys.unit = Some(serde_json::from_value(value).map_err(read)?),
            "pools" => keys.pools = Some(serde_json::from_value(value).map_err(read)?),
            "accounts" => keys.accounts = Some(serde_json::from_value(value).map_err(read)?),
            _ => keys.static_ips = Some(serde_json::from_value(value).map_err(read)?),
        }
    }
    let second = second_credential(entry, base_dir)?;
    settings(keys, second, unit_base, timezone, base_dir).map(Options::new)
}

/// A preset's data as a JSON object: its YAML, without `base_url` and
/// `display_name` (which its `ProviderSpec` carries).
pub fn preset_data(preset: &str) -> Result<serde_json::Map<String, Value>, String> {
    let (_, value) =
        yaml::parse::<Value>(preset).map_err(|e| format!("line {}: {}", e.line, e.message))?;
    let Value::Object(mut data) = value else {
        return Err("not a mapping".into());
    };
    data.remove("base_url");
    data.remove("display_name");
    Ok(data)
}

/// Lays `own` over `base`: objects key by key (a `null` removes the key),
/// anything else replaces.
fn merge(base: &mut Value, own: Value) {
    match (base, own) {
        (Value::Object(base), Value::Object(own)) => {
            for (key, value) in own {
                if value.is_null() {
                    base.remove(&key);
                } else if let Some(slot) = base.get_mut(&key) {
                    merge(slot, value);
                } else {
                    base.insert(key, value);
                }
            }
        }
        (base, own) => *base = own,
    }
}

/// `second_credential` or `second_credential_file`: the value (`${VAR}`
/// expanded) or the file's content without its trailing line break, a relative
/// path starting from `base_dir` as `credential_file`'s does.
fn second_credential(entry: &yaml::Entry, base_dir: &Path) -> Result<Option<Secret>, OptionsError> {
    let value = entry
        .read_key::<String>("second_credential")
        .map_err(OptionsError::Read)?;
    let file = entry
        .read_key::<String>("second_credential_file")
        .map_err(OptionsError::Read)?;
    let invalid = |key: &'static str, message: String| OptionsError::Invalid { key, message };
    let expand = |key, text: String| {
        crate::secret::expand_env(&text, |n| std::env::var(n).ok()).map_err(|m| invalid(key, m))
    };
    let value = value.map(|v| expand("second_credential", v)).transpose()?;
    let file = file
        .map(|f| expand("second_credential_file", f))
        .transpose()?;
    crate::secret::value_or_file("second_credential", value, file.as_deref(), base_dir).map_err(
        |e| match e {
            SourceError::Pair(message) => invalid("second_credential", message),
            SourceError::Key { key, message } if key.ends_with("_file") => {
                invalid("second_credential_file", message)
            }
            SourceError::Key { message, .. } => invalid("second_credential", message),
        },
    )
}

/// Checks the sections together and gives each figure its unit.
fn settings(
    keys: Keys,
    second: Option<Secret>,
    unit_base: Option<u32>,
    timezone: Option<Zone>,
    base_dir: &Path,
) -> Result<CustomSettings, OptionsError> {
    let auth = keys.auth.ok_or_else(|| OptionsError::Invalid {
        key: "auth",
        message: "required for provider custom: {header: NAME, prefix: \"Bearer \"}, {query: NAME} or {basic_username: USER}".into(),
    })?;
    let second = second_query(auth.second_query, second)?;
    let placement = placement(auth.placement, base_dir)?;
    let raw_pools = keys.pools.unwrap_or_default();
    if raw_pools.is_empty() && keys.accounts.is_none() && keys.static_ips.is_none() {
        return Err(OptionsError::Invalid {
            key: "pools",
            message: "a custom target needs at least one of pools, accounts or static_ips".into(),
        });
    }
    let unit = keys.unit.map(|u| u.0);
    let pools = pools(raw_pools, unit)?;
    let accounts = keys.accounts.map(|a| accounts(a, unit)).transpose()?;
    let settings = CustomSettings {
        auth: placement,
        second,
        success: keys.success,
        pools,
        accounts,
        static_ips: keys.static_ips,
        unit_base,
        timezone,
    };
    check_credential_parameters(&settings)?;
    Ok(settings)
}

/// Where the credential goes; a Basic user name read from its file.
fn placement(placement: Placement, base_dir: &Path) -> Result<CredentialPlacement, OptionsError> {
    match placement {
        Placement::Ready(placement) => Ok(placement),
        Placement::BasicFile(file) => {
            let invalid = |message: String| OptionsError::Invalid {
                key: "auth",
                message: format!("basic_username_file: {message}"),
            };
            let name = crate::secret::read_secret_file(base_dir, &file).map_err(invalid)?;
            let username = name.trim().to_owned();
            if !basic_username_allowed(&username) {
                return Err(invalid(format!(
                    "the user name in {file} must be non-empty, without `:` or control characters"
                )));
            }
            Ok(CredentialPlacement::Basic { username })
        }
    }
}

/// The second credential and the query parameter that carries it: both or neither.
fn second_query(
    query: Option<String>,
    second: Option<Secret>,
) -> Result<Option<(String, Secret)>, OptionsError> {
    match (query, second) {
        (None, None) => Ok(None),
        (Some(name), Some(secret)) => Ok(Some((name, secret))),
        (Some(_), None) => Err(OptionsError::Invalid {
            key: "second_credential",
            message: "missing secret: auth.second_query needs second_credential or second_credential_file".into(),
        }),
        (None, Some(_)) => Err(OptionsError::Invalid {
            key: "second_credential",
            message: "set auth.second_query, the query parameter that carries it".into(),
        }),
    }
}

/// The pools with their figures' units; a literal pool name listed once.
fn pools(
    raw_pools: Vec<Pool<Field>>,
    unit: Option<TrafficUnit>,
) -> Result<Vec<Pool>, OptionsError> {
    let mut pools: Vec<Pool> = Vec::with_capacity(raw_pools.len());
    for (i, p) in raw_pools.into_iter().enumerate() {
        let at = |key: &str| vec!["pools".to_owned(), format!("[{i}]"), key.to_owned()];
        if let PoolLabel::Literal(name) = &p.pool {
            if pools.iter().any(|known| known.pool == p.pool) {
                return Err(OptionsError::InvalidAt {
                    message: format!("{}: {name:?} is listed twice", dotted(&at("pool"))),
                    path: at("pool"),
                });
            }
        }
        let field = |f: Option<Field>, key: &str| traffic(f, unit, &at(key));
        pools.push(Pool {
            remaining: field(p.remaining, "remaining")?,
            purchased: field(p.purchased, "purchased")?,
            used: field(p.used, "used")?,
            expiring: field(p.expiring, "expiring")?,
            expired: field(p.expired, "expired")?,
            path: p.path,
            pool: p.pool,
            list: p.list,
        });
    }
    Ok(pools)
}

/// The sub-accounts' figures with their units; `unlimited_values` only with a
/// limit read at a pointer.
fn accounts(a: Accounts<Field>, unit: Option<TrafficUnit>) -> Result<Accounts, OptionsError> {
    let at = |key: &str| vec!["accounts".to_owned(), key.to_owned()];
    let limit = traffic(a.limit, unit, &at("limit"))?;
    if !a.unlimited_values.is_empty() && !matches!(limit, Some(Figure::Read(_))) {
        return Err(OptionsError::InvalidAt {
            path: at("unlimited_values"),
            message: "accounts.unlimited_values: goes with a limit read at a pointer, not a computed one (a computed limit of 0 already means no limit)".into(),
        });
    }
    Ok(Accounts {
        used: with_unit(a.used, unit, &at("used"))?,
        limit,
        list: a.list,
        product: a.product,
        account: a.account,
        unlimited_values: a.unlimited_values,
        enabled: a.enabled,
        remark: a.remark,
    })
}

/// No request's own query parameters may be the ones auth puts a credential in.
fn check_credential_parameters(settings: &CustomSettings) -> Result<(), OptionsError> {
    // Every request's own query parameters, by the key that sets them.
    let mut parameters: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for (i, p) in settings.pools.iter().enumerate() {
        let at = vec!["pools".to_owned(), format!("[{i}]"), "path".to_owned()];
        match &p.list {
            Some(list) => parameters.push((at, list.parameters())),
            None => parameters.push((at, path_query_names(&p.path))),
        }
    }
    if let Some(a) = &settings.accounts {
        parameters.push((vec!["accounts".to_owned()], a.list.parameters()));
    }
    if let Some(s) = &settings.static_ips {
        parameters.push((vec!["static_ips".to_owned()], s.list.parameters()));
    }
    let credential_parameters = settings
        .auth
        .query_name()
        .map(|name| (name, "the credential"))
        .into_iter()
        .chain(
            settings
                .second
                .as_ref()
                .map(|(name, _)| (name.as_str(), "the second credential")),
        );
    for (name, which) in credential_parameters {
        if let Some((at, _)) = parameters
            .iter()
            .find(|(_, names)| names.iter().any(|n| n == name))
        {
            return Err(OptionsError::InvalidAt {
                message: format!(
                    "{}: sets the query parameter `{name}`, which auth uses for {which}",
                    dotted(at)
                ),
                path: at.clone(),
            });
        }
    }
    Ok(())
}

/// A key's path within the target as people read it: `pools[0].used`.
fn dotted(at: &[String]) -> String {
    at.join(".").replace(".[", "[")
}

/// An optional traffic field with its unit (see [`with_unit`]).
fn traffic(
    field: Option<Field>,
    target_unit: Option<TrafficUnit>,
    at: &[String],
) -> Result<Option<Figure>, OptionsError> {
    field.map(|f| with_unit(f, target_unit, at)).transpose()
}

/// A traffic field with its unit: its own, else the target's; without either
/// it is refused at the field's line. A computed field's operands each get
/// theirs.
fn with_unit(
    field: Field,
    target_unit: Option<TrafficUnit>,
    at: &[String],
) -> Result<Figure, OptionsError> {
    match field {
        Field::Read { pointer, unit } => match unit.or(target_unit) {
            Some(unit) => Ok(Figure::Read(Traffic { pointer, unit })),
            None => Err(OptionsError::InvalidAt {
                path: at.to_vec(),
                message: format!(
                    "{}: a traffic figure without a unit: set `unit` (B, KB, MB or GB) on the target, or write {{pointer: {}, unit: GB}}",
                    dotted(at),
                    pointer.shown()
                ),
            }),
        },
        Field::Sum(parts) => parts
            .into_iter()
            .map(|p| with_unit(p, target_unit, at))
            .collect::<Result<_, _>>()
            .map(Figure::Sum),
        Field::Difference(a, b) => Ok(Figure::Difference(
            Box::new(with_unit(*a, target_unit, at)?),
            Box::new(with_unit(*b, target_unit, at)?),
        )),
    }
}

/// A custom target's settings, from its [`Options`]; for options of another
/// provider (never given to a custom target), none: no credential sent, no
/// endpoint described.
pub fn of(options: &Options) -> &CustomSettings {
    static NONE: CustomSettings = CustomSettings {
        auth: CredentialPlacement::Withheld,
        second: None,
        success: None,
        pools: Vec::new(),
        accounts: None,
        static_ips: None,
        unit_base: None,
        timezone: None,
    };
    options.get::<CustomSettings>().unwrap_or(&NONE)
}

/// Deserializes a mapping as `R` and checks it with `check` inside the same
/// visitor, so that the YAML reader names the mapping's own path and line in a
/// refusal.
fn checked<'de, D, R, T>(
    d: D,
    expecting: &'static str,
    check: fn(R) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    R: Deserialize<'de>,
{
    struct Checked<R, T> {
        expecting: &'static str,
        check: fn(R) -> Result<T, String>,
        raw: PhantomData<R>,
    }
    impl<'de, R: Deserialize<'de>, T> Visitor<'de> for Checked<R, T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            let raw = R::deserialize(MapAccessDeserializer::new(map))?;
            (self.check)(raw).map_err(de::Error::custom)
        }
    }
    d.deserialize_map(Checked {
        expecting,
        check,
        raw: PhantomData,
    })
}

/// `auth`: exactly one of a header (with an optional prefix), a query parameter
/// or HTTP Basic (its user name written or read from a file); and, for a
/// second credential, the query parameter that carries it.
struct Auth {
    placement: Placement,
    second_query: Option<String>,
}

/// Where the credential goes, or the file (`${VAR}` expanded) that holds the
/// Basic user name, read by [`settings`], which knows the configuration's
/// directory.
enum Placement {
    Ready(CredentialPlacement),
    BasicFile(String),
}

/// A Basic user name as written: the name itself or its file.
enum Username {
    Name(String),
    File(String),
}

impl<'de> Deserialize<'de> for Auth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            header: Option<String>,
            prefix: Option<String>,
            query: Option<String>,
            basic_username: Option<String>,
            basic_username_file: Option<String>,
            second_query: Option<String>,
        }
        checked(
            d,
            "{header: NAME, prefix: TEXT}, {query: NAME}, {basic_username: USER} or {basic_username_file: FILE}",
            |raw: Raw| {
                let has_prefix = raw.prefix.is_some();
                let basic = match (raw.basic_username, raw.basic_username_file) {
                    (Some(_), Some(_)) => {
                        return Err("set either basic_username or basic_username_file, not both".into())
                    }
                    (Some(name), None) => Some(Username::Name(name)),
                    (None, Some(file)) => {
                        let file = crate::secret::expand_env(&file, |n| std::env::var(n).ok())
                            .map_err(|m| format!("basic_username_file: {m}"))?;
                        Some(Username::File(file))
                    }
                    (None, None) => None,
                };
                let placement = match (raw.header, raw.query, basic) {
                    (Some(name), None, None) => {
                        Placement::Ready(header(name, raw.prefix.unwrap_or_default())?)
                    }
                    (None, Some(name), None) if !name.trim().is_empty() => {
                        Placement::Ready(CredentialPlacement::Query(name.into()))
                    }
                    (None, None, Some(Username::Name(username)))
                        if basic_username_allowed(&username) =>
                    {
                        Placement::Ready(CredentialPlacement::Basic { username })
                    }
                    (None, None, Some(Username::File(file))) => Placement::BasicFile(file),
                    (None, Some(_), None) => return Err("query must name a parameter".into()),
                    (None, None, Some(_)) => {
                        return Err(
                            "basic_username must be non-empty, without `:` or control characters"
                                .into(),
                        )
                    }
                    _ => {
                        return Err("set exactly one of header (with an optional prefix), query or basic_username".into())
                    }
                };
                if has_prefix
                    && !matches!(placement, Placement::Ready(CredentialPlacement::Header { .. }))
                {
                    return Err("prefix goes with header only".into());
                }
                let second_query = match raw.second_query {
                    Some(name) if name.trim().is_empty() => {
                        return Err("second_query must name a parameter".into())
                    }
                    Some(name)
                        if matches!(&placement, Placement::Ready(p) if p.query_name() == Some(name.as_str())) =>
                    {
                        return Err("second_query must differ from query".into())
                    }
                    other => other,
                };
                Ok(Auth {
                    placement,
                    second_query,
                })
            },
        )
    }
}

/// Headers that frame the request or steer its connection (RFC 9110 and 9112's
/// hop-by-hop and framing fields): set by the HTTP client, never by a target,
/// as a credential there would desynchronise a kept-alive connection or go to
/// the wrong host. `Proxy-*` is refused too.
const RESERVED_HEADERS: [&str; 10] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "content-encoding",
];

/// A header placement, its name and prefix checked as HTTP will take them.
fn header(name: String, prefix: String) -> Result<CredentialPlacement, String> {
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!("{name:?} is not a valid HTTP header name"));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("proxy-") {
        return Err(format!(
            "{name:?} frames the request or steers its connection (Host, Content-Length, \
             Transfer-Encoding, Connection, Proxy-* and the like): the credential must go \
             in another header"
        ));
    }
    if reqwest::header::HeaderValue::from_str(&prefix).is_err() {
        return Err(format!(
            "prefix {prefix:?} cannot start a header value (printable ASCII only)"
        ));
    }
    Ok(CredentialPlacement::Header {
        name: name.into(),
        prefix: prefix.into(),
    })
}

/// A Basic user name: non-empty, without the `:` that ends it, printable.
fn basic_username_allowed(username: &str) -> bool {
    !username.is_empty() && !username.contains(':') && !username.chars().any(char::is_control)
}

/// A traffic unit as the configuration spells it.
#[derive(Clone, Copy)]
struct Unit(TrafficUnit);

impl<'de> Deserialize<'de> for Unit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Checked("B, KB, MB or GB", |text| text.parse().map(Unit)))
    }
}

/// A traffic field as written: a pointer, `{pointer, unit}`, or a figure
/// computed from others: `{sum: [a, b, …]}` or `{difference: [a, b]}`.
enum Field {
    Read {
        pointer: Pointer,
        unit: Option<TrafficUnit>,
    },
    Sum(Vec<Field>),
    Difference(Box<Field>, Box<Field>),
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON pointer, {pointer: /…, unit: GB}, {sum: [A, B]} or {difference: [A, B]}")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Field, E> {
                Ok(Field::Read {
                    pointer: Pointer::parse(text).map_err(E::custom)?,
                    unit: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Field, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Raw {
                    pointer: Option<Pointer>,
                    unit: Option<Unit>,
                    sum: Option<Vec<Field>>,
                    difference: Option<Vec<Field>>,
                }
                let raw = Raw::deserialize(MapAccessDeserializer::new(map))?;
                let unit = raw.unit.map(|u| u.0);
                match (raw.pointer, raw.sum, raw.difference) {
                    (Some(pointer), None, None) => Ok(Field::Read { pointer, unit }),
                    (None, Some(parts), None) if unit.is_none() => {
                        if parts.len() < 2 {
                            return Err(de::Error::custom("sum needs at least two figures"));
                        }
                        Ok(Field::Sum(parts))
                    }
                    (None, None, Some(parts)) if unit.is_none() => {
                        let mut parts = parts.into_iter();
                        match (parts.next(), parts.next(), parts.next()) {
                            (Some(a), Some(b), None) => {
                                Ok(Field::Difference(Box::new(a), Box::new(b)))
                            }
                            _ => Err(de::Error::custom(
                                "difference needs exactly two figures: [from, minus]",
                            )),
                        }
                    }
                    (None, _, _) | (_, None, None) if unit.is_some() => Err(de::Error::custom(
                        "unit goes with pointer; give each figure of a sum or difference its own",
                    )),
                    _ => Err(de::Error::custom(
                        "set exactly one of pointer, sum or difference",
                    )),
                }
            }
        }
        d.deserialize_any(FieldVisitor)
    }
}

/// A request path under `base_url`: not a URL, not empty.
#[derive(Clone)]
struct ApiPath(String);

impl<'de> Deserialize<'de> for ApiPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Checked("a path such as /me", |text| {
            check_path(text).map(|()| ApiPath(text.to_owned()))
        }))
    }
}

/// A request path must start with `/` and, joined to any base URL as the
/// provider joins it (`./me`), stay under that URL's path on its host.
fn check_path(text: &str) -> Result<(), String> {
    if !text.starts_with('/') || text.contains("://") {
        return Err(format!(
            "{text:?} must be a path under base_url starting with `/` (such as /me), not a URL"
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() || c == ' ' || c == '#' || c == '\\')
    {
        return Err(format!(
            "{text:?} must be a path without spaces, `#` or `\\`"
        ));
    }
    let base = url::Url::parse("http://base.invalid/under/").map_err(|e| e.to_string())?;
    let stays = base
        .join(&format!(".{text}"))
        .is_ok_and(|url| url.origin() == base.origin() && url.path().starts_with(base.path()));
    if !stays {
        return Err(format!("{text:?} leads out of base_url (`..`?)"));
    }
    Ok(())
}

impl ApiPath {
    /// The names of the query parameters the path already carries.
    fn query_names(&self) -> Vec<String> {
        path_query_names(&self.0)
    }
}

/// The `pool` key as written: a label, or `{pointer: /…}` for a pool list.
struct RawPoolLabel(PoolLabel);

impl<'de> Deserialize<'de> for RawPoolLabel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct LabelVisitor;
        impl<'de> Visitor<'de> for LabelVisitor {
            type Value = RawPoolLabel;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a pool name, or {pointer: /…} with items or paging")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<RawPoolLabel, E> {
                Ok(RawPoolLabel(PoolLabel::Literal(text.to_owned())))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawPoolLabel, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Raw {
                    pointer: Pointer,
                }
                let raw = Raw::deserialize(MapAccessDeserializer::new(map))?;
                Ok(RawPoolLabel(PoolLabel::From(raw.pointer)))
            }
        }
        d.deserialize_any(LabelVisitor)
    }
}

/// One entry of `pools` as written: a path, a label and at least one figure;
/// with `items` or `paging`, one pool per item, its label read from the item.
impl<'de> Deserialize<'de> for Pool<Field> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            path: ApiPath,
            pool: RawPoolLabel,
            items: Option<Pointer>,
            paging: Option<PagingKeys>,
            remaining: Option<Field>,
            purchased: Option<Field>,
            used: Option<Field>,
            expiring: Option<Field>,
            expired: Option<Field>,
        }
        checked(
            d,
            "a pool: {path, pool, remaining, purchased, used}",
            |r: Raw| {
                let figures = [&r.remaining, &r.purchased, &r.used, &r.expiring, &r.expired];
                if figures.iter().all(|f| f.is_none()) {
                    return Err(
                    "a pool needs at least one of remaining, purchased, used, expiring or expired"
                        .into(),
                );
                }
                let is_list = r.items.is_some() || r.paging.is_some();
                let (pool, list) = match (r.pool.0, is_list) {
                    (PoolLabel::Literal(name), false) => {
                        (PoolLabel::Literal(label_value(Some(name), "", "pool")?), None)
                    }
                    (PoolLabel::From(pointer), true) => {
                        (PoolLabel::From(pointer), Some(list(r.path.clone(), r.paging, r.items)?))
                    }
                    (PoolLabel::Literal(_), true) => {
                        return Err("a pool list (items or paging) reads each pool's name: write pool: {pointer: /name}".into())
                    }
                    (PoolLabel::From(_), false) => {
                        return Err("pool: {pointer: …} names each item's pool: set items (or paging) to the list".into())
                    }
                };
                Ok(Pool {
                    path: r.path.0,
                    pool,
                    list,
                    remaining: r.remaining,
                    purchased: r.purchased,
                    used: r.used,
                    expiring: r.expiring,
                    expired: r.expired,
                })
            },
        )
    }
}

/// `paging` as written, before its style's keys are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPaging {
    style: PagingStyle,
    items: Pointer,
    page_param: Option<String>,
    first_page: Option<u64>,
    size_param: Option<String>,
    size: Option<u64>,
    total_pages: Option<Pointer>,
    total_items: Option<Pointer>,
    next: Option<Pointer>,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum PagingStyle {
    Page,
    Next,
}

/// `paging`, its style's keys checked: the items pointer and the style.
struct PagingKeys {
    items: Pointer,
    paging: Paging,
}

impl<'de> Deserialize<'de> for PagingKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, "{style: page|next, items: /…, …}", paging)
    }
}

fn paging(p: RawPaging) -> Result<PagingKeys, String> {
    if p.page_param.is_some() && p.page_param == p.size_param {
        return Err("page_param and size_param must be different parameters".into());
    }
    let size = match (p.size_param, p.size) {
        (Some(param), size) if !param.trim().is_empty() => {
            let size = size.unwrap_or(DEFAULT_PAGE_SIZE);
            if size == 0 {
                return Err("size must be at least 1".into());
            }
            Some((param, size))
        }
        (Some(_), _) => return Err("size_param must name a parameter".into()),
        (None, Some(_)) => {
            return Err("size needs size_param, the parameter that carries it".into())
        }
        (None, None) => None,
    };
    let paging = match p.style {
        PagingStyle::Page => {
            if p.next.is_some() {
                return Err("next goes with style next, not page".into());
            }
            let page_param = p
                .page_param
                .filter(|param| !param.trim().is_empty())
                .ok_or("style page needs page_param, the parameter that carries the page number")?;
            let first_page = p.first_page.unwrap_or(1);
            if first_page > 1 {
                return Err("first_page must be 0 or 1".into());
            }
            Paging::Page {
                page_param,
                first_page,
                size,
                total_pages: p.total_pages,
                total_items: p.total_items,
            }
        }
        PagingStyle::Next => {
            for (key, set) in [
                ("page_param", p.page_param.is_some()),
                ("first_page", p.first_page.is_some()),
                ("total_pages", p.total_pages.is_some()),
                ("total_items", p.total_items.is_some()),
            ] {
                if set {
                    return Err(format!("{key} goes with style page, not next"));
                }
            }
            let next = p
                .next
                .ok_or("style next needs next, the pointer to the next page's URL")?;
            Paging::Next { next, size }
        }
    };
    Ok(PagingKeys {
        items: p.items,
        paging,
    })
}

/// A list section's `path`, `paging` and `items`, checked together.
fn list(path: ApiPath, paging: Option<PagingKeys>, items: Option<Pointer>) -> Result<List, String> {
    if let Some(p) = &paging {
        let fixed = path.query_names();
        if let Some(taken) = p
            .paging
            .parameters()
            .find(|name| fixed.iter().any(|f| f == name))
        {
            return Err(format!(
                "paging sets `{taken}`, which path already carries in its query"
            ));
        }
    }
    match (paging, items) {
        (None, Some(items)) => Ok(List {
            path: path.0,
            items,
            paging: Paging::None,
        }),
        (None, None) => Err(
            "set `items` (the pointer to the answer's array), or `paging` with its `items`".into(),
        ),
        (Some(_), Some(_)) => Err("`items` goes inside `paging` when the list is paged".into()),
        (Some(p), None) => Ok(List {
            path: path.0,
            items: p.items,
            paging: p.paging,
        }),
    }
}

/// A label value written in the configuration (`product`, `pool`).
fn label_value(text: Option<String>, default: &str, key: &str) -> Result<String, String> {
    let text = text.unwrap_or_else(|| default.to_owned());
    if text.trim().is_empty() || text.chars().any(char::is_control) {
        return Err(format!(
            "{key} must be non-empty, without control characters"
        ));
    }
    Ok(text)
}

/// `accounts` as written, its list keys checked together.
impl<'de> Deserialize<'de> for Accounts<Field> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            path: ApiPath,
            paging: Option<PagingKeys>,
            items: Option<Pointer>,
            product: Option<String>,
            account: Pointer,
            used: Field,
            limit: Option<Field>,
            #[serde(default)]
            unlimited_values: Vec<Value>,
            enabled: Option<Pointer>,
            remark: Option<Pointer>,
        }
        checked(d, "the accounts section", |r: Raw| {
            if !r.unlimited_values.is_empty() && r.limit.is_none() {
                return Err("unlimited_values goes with limit".into());
            }
            Ok(Accounts {
                list: list(r.path, r.paging, r.items)?,
                product: label_value(r.product, DEFAULT_PRODUCT, "product")?,
                account: r.account,
                used: r.used,
                limit: r.limit,
                unlimited_values: r.unlimited_values,
                enabled: r.enabled,
                remark: r.remark,
            })
        })
    }
}

/// `static_ips` as written, its list keys checked together.
impl<'de> Deserialize<'de> for StaticIps {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            path: ApiPath,
            paging: Option<PagingKeys>,
            items: Option<Pointer>,
            product: Option<String>,
            ip: Pointer,
            expires_at: Pointer,
            country: Option<Pointer>,
            status: Option<Pointer>,
            status_values: Option<StatusValues>,
        }
        checked(d, "the static_ips section", |r: Raw| {
            let status = match (r.status, r.status_values) {
                (None, None) => None,
                (Some(p), Some(values)) => {
                    if values.lists().iter().all(|l| l.is_empty()) {
                        return Err("status_values must list at least one value".into());
                    }
                    Some((p, values))
                }
                (Some(_), None) => return Err("status needs status_values: {active: [1], invalid: [2], expiring: [3], maintenance: [4]}".into()),
                (None, Some(_)) => return Err("status_values goes with status, the pointer to each IP's status".into()),
            };
            Ok(StaticIps {
                list: list(r.path, r.paging, r.items)?,
                product: label_value(r.product, DEFAULT_PRODUCT, "product")?,
                ip: r.ip,
                expires_at: r.expires_at,
                country: r.country,
                status,
            })
        })
    }
}
