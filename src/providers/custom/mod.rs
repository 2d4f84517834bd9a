//! `provider: custom`: any JSON quota API, described in the configuration. The
//! target's sections say where its figures are (RFC 6901 JSON pointers), in which
//! unit, how its lists are paged and what a successful answer looks like; this
//! module fetches the paths they name (GET only), checks the envelope, pages
//! through the shared pager and returns the same readings as the built-in
//! providers. A pointer that finds nothing, or not what it should, is a decode
//! error naming the pointer, never a 0.

pub mod discover;
pub mod json;
pub mod presets;
pub mod settings;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use futures::future::BoxFuture;
use serde_json::Value;

use self::json::{describe, number, same, shorten};
use self::settings::{
    Accounts, CustomSettings, Figure, List, Paging, Pool, PoolLabel, StaticIps, Success,
};
use super::pager::{End, Items, Page, Pager};
use super::{message_suffix, upstream_message, Api, Connection, Endpoint, Provider, ProviderSpec};
use crate::http::{PollError, Reason};
use crate::readings::{AccountReading, PoolReading, Reading, StaticIp, StaticIpReading};
use crate::secret::{Redactor, Secret};
use crate::units::{to_bytes, Number, Zone};

pub const CUSTOM: ProviderSpec = ProviderSpec {
    name: "custom",
    display_name: "Custom",
    default_base_url: None,
    credential_key: "credential",
    credential_placement: |options| settings::of(options).auth.clone(),
    path_prefix: None,
    endpoints: &[Endpoint::Summary, Endpoint::Accounts, Endpoint::StaticIps],
    optional_endpoints: &[],
    configured_endpoints: Some(|options| settings::of(options).endpoints()),
    own_keys: settings::OWN_KEYS,
    read_options: settings::read_options,
    build: |target, api| Box::new(Custom::new(target, api)),
};

/// Where the provider's message is looked for when `success.message` is not set.
const MESSAGE_POINTERS: [&str; 4] = ["/msg", "/message", "/error", "/detail"];

/// A client for one custom target.
pub struct Custom {
    api: Api,
    settings: CustomSettings,
    zone: Zone,
    unit_base: u32,
    /// The target's `sample_limit`, bounding the items of a list.
    item_limit: usize,
    /// Takes the second credential, if any, out of error texts (the client
    /// takes out the first).
    redactor: Redactor,
}

impl Provider for Custom {
    fn poll(&self, endpoint: Endpoint) -> BoxFuture<'_, Result<Reading, PollError>> {
        Box::pin(async move {
            self.read(endpoint).await.map_err(|mut e| {
                e.message = self.redactor.apply(&e.message);
                e
            })
        })
    }
}

impl Custom {
    pub(crate) fn new(target: &Connection, api: Api) -> Self {
        let settings = settings::of(target.options).clone();
        let redactor = match &settings.second {
            Some((_, secret)) => Redactor::of(&[secret]),
            None => Redactor::default(),
        };
        Custom {
            zone: settings.timezone.unwrap_or(target.timezone),
            unit_base: settings.unit_base.unwrap_or(target.unit_base),
            api,
            settings,
            item_limit: target.sample_limit,
            redactor,
        }
    }

    /// The second credential's query parameter, for every request.
    fn second(&self) -> Option<(&str, &Secret)> {
        self.settings
            .second
            .as_ref()
            .map(|(name, secret)| (name.as_str(), secret))
    }

    /// A next-page link with the second credential's parameter set (replacing
    /// one the link carries).
    fn with_second(&self, url: &url::Url) -> url::Url {
        let Some((name, secret)) = self.second() else {
            return url.clone();
        };
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != name)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut url = url.clone();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(kept)
            .append_pair(name, secret.expose());
        url
    }

    async fn read(&self, endpoint: Endpoint) -> Result<Reading, PollError> {
        let missing = || {
            PollError::new(
                Reason::Api,
                format!("the target describes no {endpoint} endpoint"),
            )
        };
        match endpoint {
            Endpoint::Summary if !self.settings.pools.is_empty() => {
                self.pools(&self.settings.pools).await.map(Reading::Summary)
            }
            Endpoint::Accounts => {
                let accounts = self.settings.accounts.as_ref().ok_or_else(missing)?;
                self.accounts(accounts).await.map(Reading::Accounts)
            }
            Endpoint::StaticIps => {
                let ips = self.settings.static_ips.as_ref().ok_or_else(missing)?;
                self.static_ips(ips).await.map(Reading::StaticIps)
            }
            _ => Err(missing()),
        }
    }

    /// GETs `path` under the base URL; returns the URL asked and the answer,
    /// which passed the envelope check.
    async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<(url::Url, Value), PollError> {
        let mut query = query.to_vec();
        if let Some((name, secret)) = self.second() {
            query.push((name, secret.expose().to_owned()));
        }
        // `./me`: under the base URL's path, whatever the rest of the path holds.
        let (url, body) = self.api.fetch(&format!(".{path}"), &query).await?;
        let answer = self.answer(url.path(), &body)?;
        Ok((url, answer))
    }

    /// Reads an answer as JSON and checks its envelope.
    fn answer(&self, path: &str, body: &[u8]) -> Result<Value, PollError> {
        let answer: Value = serde_json::from_slice(body)
            .map_err(|e| PollError::decode(format!("GET {path}: invalid JSON: {e}")))?;
        if let Some(success) = &self.settings.success {
            check_success(path, success, &answer)?;
        }
        Ok(answer)
    }

    /// A figure in bytes: read, or computed from figures each in bytes.
    fn bytes(&self, figure: &Figure, value: &Value) -> Result<f64, String> {
        match figure {
            Figure::Read(traffic) => {
                let n = traffic.pointer.number(value)?;
                Ok(to_bytes(n, traffic.unit, self.unit_base))
            }
            Figure::Sum(parts) => parts.iter().map(|p| self.bytes(p, value)).sum(),
            Figure::Difference(a, b) => Ok(self.bytes(a, value)? - self.bytes(b, value)?),
        }
    }

    /// A pool's figures from `value` (the answer, or an item of a pool list).
    fn pool_reading(
        &self,
        pool: &Pool,
        name: String,
        value: &Value,
    ) -> Result<PoolReading, String> {
        let figure =
            |figure: &Option<Figure>| figure.as_ref().map(|f| self.bytes(f, value)).transpose();
        Ok(PoolReading {
            remaining_bytes: figure(&pool.remaining)?,
            purchased_bytes: figure(&pool.purchased)?,
            used_bytes: figure(&pool.used)?,
            expiring_bytes: figure(&pool.expiring)?,
            expired_bytes: figure(&pool.expired)?,
            pool: name,
            ..PoolReading::default()
        })
    }

    /// Every pool, each distinct path fetched once; a pool list gives a pool
    /// per item. A pool name found twice fails the endpoint.
    async fn pools(&self, pools: &[Pool]) -> Result<Vec<PoolReading>, PollError> {
        let mut answers: HashMap<&str, (String, Value)> = HashMap::new();
        let mut readings: Vec<PoolReading> = Vec::with_capacity(pools.len());
        let mut seen = HashSet::new();
        for pool in pools {
            let (name, list) = match (&pool.pool, &pool.list) {
                (PoolLabel::From(label), Some(list)) => (label, list),
                (PoolLabel::Literal(name), _) => {
                    if !seen.insert(name.clone()) {
                        return Err(PollError::decode(format!(
                            "pool {name:?} appears twice (a pool list named one like it)"
                        )));
                    }
                    let (shown, answer) = match answers.entry(&pool.path) {
                        Entry::Occupied(known) => known.into_mut(),
                        Entry::Vacant(slot) => {
                            let (url, answer) = self.get(&pool.path, &[]).await?;
                            slot.insert((url.path().to_owned(), answer))
                        }
                    };
                    let reading = self
                        .pool_reading(pool, name.clone(), answer)
                        .map_err(|e| PollError::decode(format!("GET {shown}: pool {name}: {e}")))?;
                    readings.push(reading);
                    continue;
                }
                (PoolLabel::From(_), None) => continue,
            };
            let (path, items) = self.list(Endpoint::Summary, list).await?;
            for (i, item) in items.iter().enumerate() {
                let decode = |e: String| PollError::decode(format!("GET {path}: items[{i}]: {e}"));
                let label = name.label(item).map_err(decode)?;
                if !seen.insert(label.clone()) {
                    return Err(decode(format!("pool {label:?} appears twice")));
                }
                readings.push(self.pool_reading(pool, label, item).map_err(decode)?);
            }
        }
        Ok(readings)
    }

    /// Every item of a list, all pages read through the shared pager; returns
    /// the path asked (for error messages) and the items.
    async fn list(
        &self,
        endpoint: Endpoint,
        list: &List,
    ) -> Result<(String, Vec<Value>), PollError> {
        let size = match &list.paging {
            Paging::Page { size, .. } | Paging::Next { size, .. } => size.clone(),
            Paging::None => None,
        };
        let page_size = size.as_ref().map_or(settings::DEFAULT_PAGE_SIZE, |s| s.1);
        let mut pager = Pager::new(
            endpoint.as_str(),
            Items::List,
            page_size as usize,
            End::EmptyPage,
        )
        .with_item_limit(self.item_limit);
        let mut shown = String::new();
        let mut items = Vec::new();
        let mut next: Option<url::Url> = None;
        let mut visited = HashSet::new();
        while let Some(page) = pager.next_page()? {
            let (url, mut answer) = match next.take() {
                Some(url) => {
                    let body = self.api.fetch_url(&self.with_second(&url)).await?;
                    let answer = self.answer(url.path(), &body)?;
                    (url, answer)
                }
                None => self.get(&list.path, &page_query(list, page, &size)).await?,
            };
            visited.insert(url.clone());
            if shown.is_empty() {
                shown = url.path().to_owned();
            }
            let decode = |e: String| PollError::decode(format!("GET {}: {e}", url.path()));
            let end = page_end(&list.paging, &answer, &url, &visited).map_err(decode)?;
            next = end.next;
            let page_items = take_items(&mut answer, &list.items).map_err(decode)?;
            let items_text =
                serde_json::to_string(&page_items).map_err(|e| decode(e.to_string()))?;
            let fresh = pager.take(Page {
                items_text: &items_text,
                items: page_items.len(),
                page_count: end.page_count,
                item_total: end.item_total,
                last: end.last,
            })?;
            if fresh {
                items.extend(page_items);
            } else {
                next = None;
            }
        }
        Ok((shown, items))
    }

    async fn accounts(&self, spec: &Accounts) -> Result<Vec<AccountReading>, PollError> {
        let (path, items) = self.list(Endpoint::Accounts, &spec.list).await?;
        let mut accounts: Vec<AccountReading> = Vec::with_capacity(items.len());
        let mut seen = HashSet::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let decode = |e: String| PollError::decode(format!("GET {path}: items[{i}]: {e}"));
            let account = spec.account.label(item).map_err(decode)?;
            if !seen.insert(account.clone()) {
                return Err(decode(format!(
                    "account {account:?} appears twice in the list"
                )));
            }
            let limit_bytes = match &spec.limit {
                None => None,
                Some(Figure::Read(limit)) => {
                    let found = limit.pointer.get(item).map_err(decode)?;
                    let unlimited = number(found) == Some(0.0)
                        || spec.unlimited_values.iter().any(|u| same(found, u));
                    if unlimited {
                        None
                    } else {
                        let bytes = self
                            .bytes(&Figure::Read(limit.clone()), item)
                            .map_err(decode)?;
                        if bytes < 0.0 {
                            return Err(decode(format!(
                                "{} is negative; list it in unlimited_values if it means no limit",
                                limit.pointer.shown()
                            )));
                        }
                        Some(bytes)
                    }
                }
                Some(computed) => {
                    let bytes = self.bytes(computed, item).map_err(decode)?;
                    if bytes < 0.0 {
                        return Err(decode(format!(
                            "the computed limit is negative ({bytes} bytes)"
                        )));
                    }
                    (bytes != 0.0).then_some(bytes)
                }
            };
            accounts.push(AccountReading {
                used_bytes: self.bytes(&spec.used, item).map_err(decode)?,
                limit_bytes,
                enabled: spec
                    .enabled
                    .as_ref()
                    .map(|p| p.flag(item))
                    .transpose()
                    .map_err(decode)?,
                remark: match &spec.remark {
                    Some(p) => p.optional_label(item).map_err(decode)?,
                    None => String::new(),
                },
                product: spec.product.clone(),
                account,
            });
        }
        Ok(accounts)
    }

    async fn static_ips(&self, spec: &StaticIps) -> Result<StaticIpReading, PollError> {
        let (path, items) = self.list(Endpoint::StaticIps, &spec.list).await?;
        let mut ips: Vec<StaticIp> = Vec::with_capacity(items.len());
        let mut seen = HashSet::with_capacity(items.len());
        let mut counts = [0u64; 4];
        for (i, item) in items.iter().enumerate() {
            let decode = |e: String| PollError::decode(format!("GET {path}: items[{i}]: {e}"));
            let ip = spec.ip.label(item).map_err(decode)?;
            if !seen.insert(ip.clone()) {
                return Err(decode(format!("ip {ip:?} appears twice in the list")));
            }
            if let Some((pointer, values)) = &spec.status {
                let found = pointer.get(item).map_err(decode)?;
                let index = values
                    .lists()
                    .iter()
                    .position(|list| list.iter().any(|v| same(found, v)))
                    .ok_or_else(|| {
                        decode(format!(
                            "{} is {}, a status not listed in status_values",
                            pointer.shown(),
                            describe(found)
                        ))
                    })?;
                counts[index] += 1;
            }
            ips.push(StaticIp {
                expiry_timestamp: spec.expires_at.timestamp(item, self.zone).map_err(decode)?,
                country: match &spec.country {
                    Some(p) => p.optional_label(item).map_err(decode)?,
                    None => String::new(),
                },
                product: spec.product.clone(),
                ip,
            });
        }
        let status_counts = match &spec.status {
            Some(_) => vec![(spec.product.clone(), counts)],
            None => Vec::new(),
        };
        Ok(StaticIpReading { ips, status_counts })
    }
}

/// A page count or item total at `pointer`, if one is configured.
fn total(pointer: Option<&json::Pointer>, answer: &Value) -> Result<Option<i64>, String> {
    let Some(pointer) = pointer else {
        return Ok(None);
    };
    let n = pointer.number(answer)?;
    Number(n)
        .as_i64()
        .filter(|n| *n >= 0)
        .map(Some)
        .ok_or_else(|| format!("{} is {n}, not a count", pointer.shown()))
}

/// Refuses an answer whose envelope does not say success: reason `auth` for a
/// value listed in `auth_values`, `api` otherwise, with the provider's message.
fn check_success(path: &str, success: &Success, answer: &Value) -> Result<(), PollError> {
    let found = success.pointer.find(answer);
    if found.is_some_and(|v| same(v, &success.equals)) {
        return Ok(());
    }
    let message = match &success.message {
        Some(pointer) => pointer.find(answer),
        None => MESSAGE_POINTERS.iter().find_map(|p| answer.pointer(p)),
    };
    let suffix = message_suffix(&upstream_message(message.cloned()));
    let reason = match found {
        Some(v) if success.auth_values.iter().any(|a| same(v, a)) => Reason::Auth,
        _ => Reason::Api,
    };
    let found = found.map_or_else(|| "missing".to_owned(), describe);
    Err(PollError::new(
        reason,
        format!(
            "GET {path}: {} is {found}, not {}{suffix}",
            success.pointer.shown(),
            shorten(&success.equals.to_string())
        ),
    ))
}

/// The query of page `page` (counted from 1) of a list read page by page.
fn page_query<'a>(
    list: &'a List,
    page: usize,
    size: &'a Option<(String, u64)>,
) -> Vec<(&'a str, String)> {
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Paging::Page {
        page_param,
        first_page,
        ..
    } = &list.paging
    {
        query.push((page_param, (page as u64 - 1 + first_page).to_string()));
    }
    if let Some((param, size)) = size {
        query.push((param, size.to_string()));
    }
    query
}

/// What one page of a list says about the list's end.
struct PageEnd {
    page_count: Option<i64>,
    item_total: Option<i64>,
    /// The answer says it is the last page.
    last: bool,
    /// The next page's address, for a list that links its pages.
    next: Option<url::Url>,
}

/// Reads a page's totals or its link to the next page; a link back to a page
/// already read is an error, since the list would never end.
fn page_end(
    paging: &Paging,
    answer: &Value,
    url: &url::Url,
    visited: &HashSet<url::Url>,
) -> Result<PageEnd, String> {
    let end = |last, next| PageEnd {
        page_count: None,
        item_total: None,
        last,
        next,
    };
    match paging {
        Paging::None => Ok(end(true, None)),
        Paging::Page {
            total_pages,
            total_items,
            ..
        } => Ok(PageEnd {
            page_count: total(total_pages.as_ref(), answer)?,
            item_total: total(total_items.as_ref(), answer)?,
            last: false,
            next: None,
        }),
        Paging::Next { next: link, .. } => match link.get(answer)? {
            Value::Null => Ok(end(true, None)),
            Value::String(s) if s.trim().is_empty() => Ok(end(true, None)),
            Value::String(s) => {
                let joined = url
                    .join(s.trim())
                    .map_err(|e| format!("{} is not a URL: {e}", link.shown()))?;
                if visited.contains(&joined) {
                    return Err(format!(
                        "{} links back to a page already read: the list would never end",
                        link.shown()
                    ));
                }
                Ok(end(false, Some(joined)))
            }
            other => Err(format!(
                "{} is {}, not a URL or null",
                link.shown(),
                describe(other)
            )),
        },
    }
}

/// Takes the array of items `pointer` finds out of a page's answer.
fn take_items(answer: &mut Value, pointer: &json::Pointer) -> Result<Vec<Value>, String> {
    match answer.pointer_mut(&pointer.to_string()) {
        Some(Value::Array(found)) => Ok(std::mem::take(found)),
        Some(other) => Err(format!(
            "{} is {}, not an array",
            pointer.shown(),
            describe(other)
        )),
        None => Err(format!("{} finds nothing", pointer.shown())),
    }
}
