//! The BestProxy / ProxyLite API family: one API under `/gateway` resp.
//! `/end-point`, the `app_key` as a query parameter, usage in KB, limits in GB.
//! Reads the account's traffic, packages, sub-accounts, static IPs,
//! allow-list and orders, and what the provider has in stock. Only the read
//! endpoints of the contract are ever called, always with GET (the order list,
//! never an endpoint that creates, checks, closes or pays an order).

use std::collections::BTreeMap;

use chrono::{Days, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::pager::{End, Items, Pager};
use super::{
    label_text, Api, Connection, Endpoint, Envelope, Options, OptionsError, Provider, ProviderSpec,
};
use crate::http::{CredentialPlacement, PollError, Reason};
use crate::readings::{
    AccountReading, AllowlistReading, CountryStock, DailyUsage, Order, OrderReading,
    PackageReading, PoolReading, ProductOrders, Reading, StaticIp, StaticIpReading, StaticIpStock,
    StockKind, StockReading,
};
use crate::units::{optional_number, to_bytes, Number, TrafficUnit, Zone};
use crate::yaml;
use futures::future::BoxFuture;

const ENDPOINTS: &[Endpoint] = &[
    Endpoint::Usage,
    Endpoint::Summary,
    Endpoint::Packages,
    Endpoint::Accounts,
    Endpoint::StaticIps,
    Endpoint::Allowlist,
    Endpoint::Orders,
];

/// Polled only when a target lists it: the provider's stock concerns people who
/// plan purchases, not the account itself.
const OPTIONAL_ENDPOINTS: &[Endpoint] = &[Endpoint::Stock];

pub const BESTPROXY: ProviderSpec = ProviderSpec {
    name: "bestproxy",
    display_name: "BestProxy",
    default_base_url: None,
    credential_key: "app_key",
    credential_placement: |_| CredentialPlacement::query("app_key"),
    configured_endpoints: None,
    path_prefix: Some("gateway"),
    endpoints: ENDPOINTS,
    optional_endpoints: OPTIONAL_ENDPOINTS,
    own_keys: OWN_KEYS,
    read_options,
    build: |target, api| Box::new(Gateway::new(target, api)),
};

pub const PROXYLITE: ProviderSpec = ProviderSpec {
    name: "proxylite",
    display_name: "ProxyLite",
    default_base_url: Some("https://api.proxylite.com"),
    credential_key: "app_key",
    credential_placement: |_| CredentialPlacement::query("app_key"),
    configured_endpoints: None,
    path_prefix: Some("end-point"),
    endpoints: ENDPOINTS,
    optional_endpoints: OPTIONAL_ENDPOINTS,
    own_keys: OWN_KEYS,
    read_options,
    build: |target, api| Box::new(Gateway::new(target, api)),
};

/// The target keys of the gateway family.
const OWN_KEYS: &[&str] = &["product_types", "static_ip_expiry_field"];

/// The gateway family's own settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayOptions {
    /// The summaries to fetch, one request each, in order.
    pub product_types: Vec<u32>,
    /// The static IP list item field that holds the expiry.
    pub static_ip_expiry_field: String,
}

/// Summaries fetched when `product_types` is not set.
pub const DEFAULT_PRODUCT_TYPES: &[u32] = &[9];
/// The expiry field of a static IP when `static_ip_expiry_field` is not set.
pub const DEFAULT_STATIC_IP_EXPIRY_FIELD: &str = "expired_at";

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            product_types: DEFAULT_PRODUCT_TYPES.to_vec(),
            static_ip_expiry_field: DEFAULT_STATIC_IP_EXPIRY_FIELD.to_owned(),
        }
    }
}

/// Reads `product_types` (each at most once, at least one) and
/// `static_ip_expiry_field` (not empty).
fn read_options(entry: &yaml::Entry, _: &std::path::Path) -> Result<Options, OptionsError> {
    #[derive(Deserialize)]
    struct Keys {
        product_types: Option<Vec<u32>>,
        static_ip_expiry_field: Option<String>,
    }
    let keys: Keys = entry.read().map_err(OptionsError::Read)?;
    let invalid = |key, message: &str| OptionsError::Invalid {
        key,
        message: message.to_owned(),
    };
    let defaults = GatewayOptions::default();
    let product_types = keys.product_types.unwrap_or(defaults.product_types);
    if product_types.is_empty() {
        return Err(invalid(
            "product_types",
            "must list at least one product type",
        ));
    }
    if let Some(twice) = product_types
        .iter()
        .enumerate()
        .find_map(|(i, p)| product_types[..i].contains(p).then_some(p))
    {
        return Err(invalid("product_types", &format!("{twice} listed twice")));
    }
    let static_ip_expiry_field = keys
        .static_ip_expiry_field
        .unwrap_or(defaults.static_ip_expiry_field);
    if static_ip_expiry_field.trim().is_empty() {
        return Err(invalid("static_ip_expiry_field", "must not be empty"));
    }
    Ok(Options::new(GatewayOptions {
        product_types,
        static_ip_expiry_field,
    }))
}

impl Provider for Gateway {
    fn poll(&self, endpoint: Endpoint) -> BoxFuture<'_, Result<Reading, PollError>> {
        Box::pin(self.read(endpoint))
    }
}

/// Items requested per page of the paged lists.
pub const PAGE_SIZE: usize = 100;

/// The provider days the order figures cover: today and the days before.
pub const ORDER_DAYS: u64 = 30;

/// API codes that mean the credential or account cannot be used.
const CODE_SUCCESS: i64 = 200;
/// The success codes of the order list: the family's 200, and the 0 that the
/// order list's examples and the documents' `SuccessResponse` show.
const ORDER_LIST_SUCCESS: &[i64] = &[CODE_SUCCESS, 0];
const CODE_INVALID_APP_KEY: i64 = 3;
const CODE_ACCOUNT_NOT_VERIFIED: i64 = 156;

/// A client for one gateway-family target.
pub struct Gateway {
    /// The base URL with the family's prefix; the `app_key` as a query parameter.
    api: Api,
    product_types: Vec<u32>,
    /// The target's `sample_limit`, bounding the items of a paged list.
    item_limit: usize,
    zone: Zone,
    unit_base: u32,
    expiry_field: String,
}

impl Gateway {
    fn new(target: &Connection, api: Api) -> Self {
        let options = target
            .options
            .get::<GatewayOptions>()
            .cloned()
            .unwrap_or_default();
        Gateway {
            api,
            product_types: options.product_types,
            zone: target.timezone,
            unit_base: target.unit_base,
            expiry_field: options.static_ip_expiry_field,
            item_limit: target.sample_limit,
        }
    }

    async fn read(&self, endpoint: Endpoint) -> Result<Reading, PollError> {
        match endpoint {
            Endpoint::Usage => self.usage().await.map(Reading::Usage),
            Endpoint::Summary => self.summary().await.map(Reading::Summary),
            Endpoint::Packages => self.packages().await.map(Reading::Packages),
            Endpoint::Accounts => self.accounts().await.map(Reading::Accounts),
            Endpoint::StaticIps => self.static_ips().await.map(Reading::StaticIps),
            Endpoint::Allowlist => self.allowlist().await.map(Reading::Allowlist),
            Endpoint::Stock => self.stock().await.map(Reading::Stock),
            Endpoint::Orders => self.orders().await.map(Reading::Orders),
            other @ (Endpoint::Customers | Endpoint::NniUsage | Endpoint::Recharges) => {
                Err(PollError::new(
                    Reason::Api,
                    format!("the {other} endpoint does not exist in this API"),
                ))
            }
        }
    }

    fn bytes(&self, value: Number, unit: TrafficUnit) -> f64 {
        to_bytes(value.0, unit, self.unit_base)
    }

    fn kb(&self, value: Option<Number>) -> Option<f64> {
        value.map(|v| self.bytes(v, TrafficUnit::Kb))
    }

    /// GETs `path` and returns the `data` of a successful answer, decoded.
    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, PollError> {
        let (url, body) = self.api.fetch(path, query).await?;
        decode_gateway(url.path(), &body)
    }

    async fn usage(&self) -> Result<DailyUsage, PollError> {
        let today = self.zone.date_at(Utc::now());
        let yesterday = today - Days::new(1);
        let start = format!("{} 00:00:00", yesterday.format("%Y-%m-%d"));
        let data: ListData<UsageDay> = self
            .get("user-usage-flow/total", &[("start_time", start)])
            .await?;
        Ok(DailyUsage::from_days(
            today,
            data.list
                .iter()
                .map(|day| (day.day.as_str(), self.bytes(day.flow, TrafficUnit::Kb))),
        ))
    }

    async fn summary(&self) -> Result<Vec<PoolReading>, PollError> {
        let mut pools = Vec::with_capacity(self.product_types.len());
        for &product_type in &self.product_types {
            let s: Summary = self
                .get(
                    "user-product/summary",
                    &[("product_type", product_type.to_string())],
                )
                .await?;
            if s.effective.is_none() && s.effective_total.is_none() && s.total.is_none() {
                return Err(PollError::decode(format!(
                    "summary for product_type {product_type} has none of the documented fields"
                )));
            }
            pools.push(PoolReading {
                pool: product_slug(Some(i64::from(product_type))),
                remaining_bytes: self.kb(s.effective),
                purchased_bytes: self.kb(s.effective_total),
                used_bytes: self.kb(s.effective_used),
                expiring_bytes: self.kb(s.temporary),
                expired_bytes: self.kb(s.expired),
                lifetime_purchased_bytes: self.kb(s.total),
                lifetime_used_bytes: self.kb(s.used),
                packages_total: s.total_count.map(|n| n.0),
                packages_active: s.effective_count.map(|n| n.0),
                packages_expiring: s.temporary_count.map(|n| n.0),
                packages_expired: s.expired_count.map(|n| n.0),
            });
        }
        Ok(pools)
    }

    async fn packages(&self) -> Result<Vec<PackageReading>, PollError> {
        let mut packages = Vec::new();
        self.each_page("user-product/list", |item: PackageItem| {
            packages.push(self.package(item)?);
            Ok(())
        })
        .await?;
        Ok(packages)
    }

    async fn accounts(&self) -> Result<Vec<AccountReading>, PollError> {
        let (url, body) = self.api.fetch("whitelist-account/list", &[]).await?;
        parse_accounts(url.path(), &body, self.unit_base)
    }

    /// The allow-listed IPs per product: every product of `product_types`,
    /// 0 when it has none, and any other product the list names.
    async fn allowlist(&self) -> Result<Vec<AllowlistReading>, PollError> {
        let data: ListData<AllowlistItem> = self.get("proxy-ip/list", &[]).await?;
        Ok(self.count_allowlist(&data.list))
    }

    fn count_allowlist(&self, items: &[AllowlistItem]) -> Vec<AllowlistReading> {
        let mut counts: BTreeMap<String, u64> = self
            .product_types
            .iter()
            .map(|&p| (product_slug(Some(i64::from(p))), 0))
            .collect();
        for item in items {
            let product = product_slug(item.product_type.and_then(Number::as_i64));
            *counts.entry(product).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|(product, ips)| AllowlistReading { product, ips })
            .collect()
    }

    /// What can be bought: static IPs per country for `isp=0` (datacenter) and
    /// `isp=1` (residential), then the host pool per country; three requests,
    /// one after the other.
    async fn stock(&self) -> Result<StockReading, PollError> {
        let mut stock = StockReading::default();
        for (kind, isp) in [(StockKind::Datacenter, "0"), (StockKind::Residential, "1")] {
            let data: ListData<RegionItem> = self
                .get("ip/static-ip-region", &[("isp", isp.to_owned())])
                .await?;
            let countries = by_country("ip/static-ip-region", data.list)?;
            stock.static_ips.extend(
                countries
                    .into_iter()
                    .map(|stock| StaticIpStock { kind, stock }),
            );
        }
        let data: ListData<RegionItem> = self.get("host-pool/regions", &[]).await?;
        stock.host_pool = by_country("host-pool/regions", data.list)?;
        Ok(stock)
    }

    /// The orders created in the last [`ORDER_DAYS`] provider days: every page
    /// of `order/list` from `start_time` (midnight of the 29th day before
    /// today, in the target's zone), added up per product as the pages
    /// arrive. Only the last paid order and the newest pending ones are kept;
    /// an order's invoice and payment method are never decoded.
    async fn orders(&self) -> Result<OrderReading, PollError> {
        const PATH: &str = "order/list";
        let today = self.zone.date_at(Utc::now());
        let first = today - Days::new(ORDER_DAYS - 1);
        let start_time = format!("{} 00:00:00", first.format("%Y-%m-%d"));
        let since = first
            .and_hms_opt(0, 0, 0)
            .and_then(|midnight| self.zone.unix_seconds(midnight))
            .unwrap_or(i64::MIN);
        let mut tally = OrderTally::new(&self.product_types, since);
        // Orders are added up, not kept: the list is bounded by the pager's
        // page cap, not by `sample_limit`. The order list pages with
        // `page_no` and `page_size`, not the `page` and `size` of the others.
        let mut pager = Pager::new(PATH, Items::List, PAGE_SIZE, End::EmptyPage);
        while let Some(page) = pager.next_page()? {
            let (url, body) = self
                .api
                .fetch(
                    PATH,
                    &[
                        ("page_no", page.to_string()),
                        ("page_size", pager.page_size().to_string()),
                        ("start_time", start_time.clone()),
                    ],
                )
                .await?;
            let data: &RawValue = decode_answer(url.path(), &body, ORDER_LIST_SUCCESS)?;
            for item in pager.read::<OrderItem>(url.path(), data)? {
                tally.add(self, item).map_err(|mut e| {
                    e.message = format!("GET {}: {}", url.path(), e.message);
                    e
                })?;
            }
        }
        Ok(tally.finish())
    }

    fn package(&self, item: PackageItem) -> Result<PackageReading, PollError> {
        Ok(PackageReading {
            package_id: label_text(&item.id),
            product: product_slug(item.product_type.and_then(Number::as_i64)),
            expiry_timestamp: self.timestamp(item.expired_at.as_ref(), "expired_at")?,
        })
    }

    async fn static_ips(&self) -> Result<StaticIpReading, PollError> {
        let mut ips = Vec::new();
        let mut counts: BTreeMap<String, [u64; 4]> = ["static_datacenter", "static_residential"]
            .into_iter()
            .map(|p| (p.to_owned(), [0; 4]))
            .collect();
        self.each_page("ip/get-static-ip", |item| {
            self.read_static_ip(&item, &mut counts, &mut ips)
        })
        .await?;
        Ok(StaticIpReading {
            ips,
            status_counts: counts.into_iter().collect(),
        })
    }

    /// Counts one static IP list item and keeps its expiry. The item's shape is
    /// undocumented: extra fields are ignored, missing ones tolerated.
    fn read_static_ip(
        &self,
        item: &serde_json::Map<String, Value>,
        counts: &mut BTreeMap<String, [u64; 4]>,
        ips: &mut Vec<StaticIp>,
    ) -> Result<(), PollError> {
        let product = product_slug(number_field(item, "product_type")?.and_then(Number::as_i64));
        if let Some(status) = number_field(item, "status")?.and_then(Number::as_i64) {
            if let Some(slot) = usize::try_from(status - 1).ok().filter(|s| *s < 4) {
                counts.entry(product.clone()).or_default()[slot] += 1;
            }
        }
        let ip = match item.get("ip") {
            Some(Value::String(ip)) if !ip.is_empty() => ip.clone(),
            _ => return Ok(()),
        };
        let expiry = match item.get(&self.expiry_field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().parse::<f64>().is_ok() => {
                Some(unix_seconds(&Value::String(s.clone()), &self.expiry_field)?)
            }
            Some(Value::String(s)) => self.timestamp(Some(s), &self.expiry_field)?,
            Some(v) => Some(unix_seconds(v, &self.expiry_field)?),
        };
        if let Some(expiry_timestamp) = expiry {
            ips.push(StaticIp {
                ip,
                product,
                country: match item.get("country_code") {
                    Some(Value::String(c)) => c.clone(),
                    _ => String::new(),
                },
                expiry_timestamp,
            });
        }
        Ok(())
    }

    /// Fetches every page of a paged list and hands each item to `on_item`.
    /// Without totals only an empty page ends the list: a server may cap `size`
    /// below ours.
    async fn each_page<T: DeserializeOwned>(
        &self,
        path: &'static str,
        mut on_item: impl FnMut(T) -> Result<(), PollError>,
    ) -> Result<(), PollError> {
        let mut pager = Pager::new(path, Items::List, PAGE_SIZE, End::EmptyPage)
            .with_item_limit(self.item_limit);
        while let Some(page) = pager.next_page()? {
            let (url, body) = self
                .api
                .fetch(
                    path,
                    &[
                        ("page", page.to_string()),
                        ("size", pager.page_size().to_string()),
                    ],
                )
                .await?;
            let data: &RawValue = decode_gateway(url.path(), &body)?;
            for item in pager.read(url.path(), data)? {
                // An item's error names its field; the path says which list.
                on_item(item).map_err(|mut e| {
                    e.message = format!("GET {}: {}", url.path(), e.message);
                    e
                })?;
            }
        }
        Ok(())
    }

    /// Reads an optional provider timestamp; empty means none, garbage is an error.
    fn timestamp(&self, text: Option<&String>, field: &str) -> Result<Option<i64>, PollError> {
        match text.map(|t| t.trim()) {
            None | Some("") => Ok(None),
            Some(t) => self
                .zone
                .parse_timestamp(t)
                .map(Some)
                .ok_or_else(|| PollError::decode(format!("{field}: not a timestamp: {t:?}"))),
        }
    }
}

/// Reads an account list answer (`GET {prefix}/whitelist-account/list`) into
/// readings. Passwords are skipped by the decoder and never stored. Public for the
/// benchmarks.
pub fn parse_accounts(
    path: &str,
    body: &[u8],
    unit_base: u32,
) -> Result<Vec<AccountReading>, PollError> {
    let data: ListData<AccountItem> = decode_gateway(path, body)?;
    Ok(data
        .list
        .into_iter()
        .map(|a| AccountReading {
            account: a.username.unwrap_or_else(|| label_text(&a.id)),
            product: product_slug(a.product_type.and_then(Number::as_i64)),
            remark: a.remark.unwrap_or_default(),
            used_bytes: to_bytes(a.usage_flow.0, TrafficUnit::Kb, unit_base),
            limit_bytes: (a.limit_flow.0 > 0.0)
                .then(|| to_bytes(a.limit_flow.0, TrafficUnit::Gb, unit_base)),
            enabled: Some(a.status.0 == 1.0),
        })
        .collect())
}

/// Adds up region list items per country (one item per country is expected;
/// should a country come twice, its numbers are added). An item without a
/// country code is a decode error.
fn by_country(path: &str, items: Vec<RegionItem>) -> Result<Vec<CountryStock>, PollError> {
    let mut totals: BTreeMap<String, f64> = BTreeMap::new();
    for item in items {
        let country = item.code.trim();
        if country.is_empty() {
            return Err(PollError::decode(format!(
                "{path}: an item has an empty country code"
            )));
        }
        *totals.entry(country.to_owned()).or_default() += item.number.0;
    }
    Ok(totals
        .into_iter()
        .map(|(country, ips)| CountryStock { country, ips })
        .collect())
}

/// Maps the family's API codes to errors and decodes `data`.
fn decode_gateway<'a, T: Deserialize<'a>>(path: &str, body: &'a [u8]) -> Result<T, PollError> {
    decode_answer(path, body, &[CODE_SUCCESS])
}

/// Like [`decode_gateway`], with `success` as the codes that mean success.
fn decode_answer<'a, T: Deserialize<'a>>(
    path: &str,
    body: &'a [u8],
    success: &[i64],
) -> Result<T, PollError> {
    let envelope = Envelope::parse(path, body)?;
    let message = envelope.message_suffix();
    match envelope.code {
        code if success.contains(&code) => {}
        CODE_INVALID_APP_KEY => {
            return Err(PollError::new(
                Reason::Auth,
                format!("app_key rejected (code 3{message})"),
            ))
        }
        CODE_ACCOUNT_NOT_VERIFIED => {
            return Err(PollError::new(
                Reason::Auth,
                format!("account not verified (code 156{message})"),
            ))
        }
        other => {
            return Err(PollError::new(
                Reason::Api,
                format!("GET {path}: API error code {other}{message}"),
            ))
        }
    }
    envelope.decode_data(path)
}

fn number_field(
    item: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<Number>, PollError> {
    match item.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => Number::deserialize(v)
            .map(Some)
            .map_err(|e| PollError::decode(format!("{key}: {e}"))),
    }
}

/// A numeric expiry: Unix seconds, or milliseconds when it is too large for seconds.
fn unix_seconds(value: &Value, field: &str) -> Result<i64, PollError> {
    let n = Number::deserialize(value).map_err(|e| PollError::decode(format!("{field}: {e}")))?;
    Ok(seconds_or_millis(n))
}

/// A numeric time in Unix seconds, or in milliseconds when it is too large
/// for seconds (above 10¹¹, the year 5138).
fn seconds_or_millis(n: Number) -> i64 {
    (if n.0 > 1.0e11 { n.0 / 1000.0 } else { n.0 }) as i64
}

/// The `product` of an order: the gateway slugs, and 3 (a top-up of the
/// account's balance) `balance`.
pub fn order_product(product_type: Option<i64>) -> String {
    match product_type {
        Some(3) => "balance".into(),
        other => product_slug(other),
    }
}

/// An order list item: only the fields the figures need. The invoice (names,
/// organisation, addresses, tax ID), the payment method (`pm_id`, `pm_title`,
/// `pm_logo`), titles and descriptions are not named here, so serde skips them
/// without keeping them anywhere.
#[derive(Deserialize)]
struct OrderItem {
    #[serde(default)]
    trade_no: Value,
    #[serde(default)]
    product_type: Option<Number>,
    /// 0 pending, 1 paid, 2 cancelled (not paid in time), 3 refunded.
    #[serde(default)]
    status: Option<Number>,
    /// What was (or is to be) paid, discounts and fees included.
    #[serde(default)]
    pay_fee: Option<Number>,
    /// When it was paid, in Unix seconds; 0 or absent when unpaid.
    #[serde(default)]
    pay_timestamp: Option<Number>,
    /// RFC 3339 in the documents' examples; a zone-less time is read in the
    /// target's zone.
    #[serde(default)]
    created_at: Option<String>,
}

/// The orders of one poll, added up as the pages arrive.
struct OrderTally {
    /// Orders created before this Unix time are left out.
    since: i64,
    products: BTreeMap<String, ProductOrders>,
    last_paid: Option<Order>,
    pending: Vec<Order>,
    /// Orders created before `since` (an API that ignores `start_time`).
    outside: u64,
    /// Orders with a status other than 0–3, or none.
    unknown_status: u64,
}

impl OrderTally {
    /// Every product of `product_types` is reported, with zeros when it had no
    /// order, so that a month without purchases reads 0 and not "no data".
    fn new(product_types: &[u32], since: i64) -> Self {
        OrderTally {
            since,
            products: product_types
                .iter()
                .map(|&p| {
                    let product = order_product(Some(i64::from(p)));
                    (
                        product.clone(),
                        ProductOrders {
                            product,
                            ..ProductOrders::default()
                        },
                    )
                })
                .collect(),
            last_paid: None,
            pending: Vec::new(),
            outside: 0,
            unknown_status: 0,
        }
    }

    /// Counts one order. A `created_at` that is not a time, a `pay_fee` or
    /// `pay_timestamp` that is not a number, and a paid order without a
    /// `pay_fee` are decode errors.
    fn add(&mut self, gateway: &Gateway, item: OrderItem) -> Result<(), PollError> {
        let created = gateway.timestamp(item.created_at.as_ref(), "created_at")?;
        if created.is_some_and(|at| at < self.since) {
            self.outside += 1;
            return Ok(());
        }
        let Some(slot) = item
            .status
            .and_then(Number::as_i64)
            .and_then(|s| usize::try_from(s).ok())
            .filter(|s| *s < 4)
        else {
            self.unknown_status += 1;
            return Ok(());
        };
        let product = order_product(item.product_type.and_then(Number::as_i64));
        // 0 (the examples' value for an unpaid order) or absent: not paid.
        let paid_at = item
            .pay_timestamp
            .filter(|n| n.0 > 0.0)
            .map(seconds_or_millis);
        let order = || Order {
            product: product.clone(),
            trade_no: label_text(&item.trade_no),
            fee: item.pay_fee.map(|f| f.0),
            created_timestamp: created,
            paid_timestamp: paid_at,
        };
        let entry = self
            .products
            .entry(product.clone())
            .or_insert_with(|| ProductOrders {
                product: product.clone(),
                ..ProductOrders::default()
            });
        entry.counts[slot] += 1;
        match slot {
            0 => {
                self.pending.push(order());
                if self.pending.len() >= 2 * OrderReading::PENDING_KEPT {
                    self.keep_newest_pending();
                }
            }
            1 => {
                let fee = item
                    .pay_fee
                    .ok_or_else(|| PollError::decode("a paid order has no pay_fee".to_owned()))?;
                entry.paid += fee.0;
                entry.last_paid_timestamp = entry.last_paid_timestamp.max(paid_at);
                // The newest purchase: by payment time, else by creation time.
                let when = |o: &Order| o.paid_timestamp.or(o.created_timestamp);
                let candidate = order();
                if self
                    .last_paid
                    .as_ref()
                    .is_none_or(|last| when(&candidate) > when(last))
                {
                    self.last_paid = Some(candidate);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The newest [`OrderReading::PENDING_KEPT`] pending orders, newest first.
    fn keep_newest_pending(&mut self) {
        self.pending
            .sort_by_key(|o| std::cmp::Reverse(o.created_timestamp));
        self.pending.truncate(OrderReading::PENDING_KEPT);
    }

    fn finish(mut self) -> OrderReading {
        if self.outside > 0 || self.unknown_status > 0 {
            tracing::debug!(
                outside = self.outside,
                unknown_status = self.unknown_status,
                "order/list: skipped orders created before start_time or with a status outside 0-3"
            );
        }
        self.keep_newest_pending();
        OrderReading {
            products: self.products.into_values().collect(),
            last_paid: self.last_paid,
            pending: self.pending,
        }
    }
}

#[derive(Deserialize)]
struct ListData<T> {
    list: Vec<T>,
}

#[derive(Deserialize)]
struct UsageDay {
    day: String,
    flow: Number,
}

#[derive(Deserialize)]
struct Summary {
    #[serde(default, deserialize_with = "optional_number")]
    total: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    total_count: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    effective: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    effective_count: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    effective_total: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    effective_used: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    temporary: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    temporary_count: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    expired: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    expired_count: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    used: Option<Number>,
}

/// An allow-list item; only its product is read (`ip`, `remark` and
/// `created_at` are not). An absent or `null` product type is `unknown`.
#[derive(Deserialize)]
struct AllowlistItem {
    #[serde(default)]
    product_type: Option<Number>,
}

/// A region list item of `ip/static-ip-region` or `host-pool/regions`. Its
/// `code` is the country or region code, not a status code; the names and
/// flag of `host-pool/regions` are not read.
#[derive(Deserialize)]
struct RegionItem {
    code: String,
    number: Number,
}

#[derive(Deserialize)]
struct PackageItem {
    #[serde(default)]
    id: Value,
    #[serde(default, deserialize_with = "optional_number")]
    product_type: Option<Number>,
    expired_at: Option<String>,
}

/// An account list item. `password` is deliberately absent: serde skips it
/// without keeping it anywhere.
#[derive(Deserialize)]
struct AccountItem {
    #[serde(default)]
    id: Value,
    username: Option<String>,
    remark: Option<String>,
    #[serde(default, deserialize_with = "optional_number")]
    product_type: Option<Number>,
    usage_flow: Number,
    limit_flow: Number,
    status: Number,
}

/// The product slug used as `pool`/`product` label for a gateway product type.
pub fn product_slug(product_type: Option<i64>) -> String {
    match product_type {
        Some(9) => "dynamic_residential".into(),
        Some(11) => "dynamic_residential_ip".into(),
        Some(12) => "long_term_idc".into(),
        Some(14) => "static_datacenter".into(),
        Some(25) => "static_residential".into(),
        Some(n) => format!("type_{n}"),
        None => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_codes_map_to_reasons() {
        let err = |body: &str| decode_gateway::<Value>("/x", body.as_bytes()).unwrap_err();
        assert_eq!(err(r#"{"code":3,"msg":"bad key"}"#).reason, Reason::Auth);
        assert_eq!(
            err(r#"{"code":"156","msg":"x","data":null}"#).reason,
            Reason::Auth
        );
        assert_eq!(err(r#"{"code":500,"msg":"oops"}"#).reason, Reason::Api);
        assert_eq!(err(r#"{"code":200,"data":null}"#).reason, Reason::Decode);
        assert_eq!(err(r#"{"code":200}"#).reason, Reason::Decode);
        assert_eq!(err(r#"{"msg":"no code"}"#).reason, Reason::Decode);
        assert_eq!(err("<html>").reason, Reason::Decode);
        assert_eq!(err(r#"{"code":200,"data":{"a":"#).reason, Reason::Decode);
        let ok: Value =
            decode_gateway("/x", br#"{"code":200,"message":"ok","data":{"a":1}}"#).unwrap();
        assert_eq!(ok["a"], 1);
    }

    /// ProxyLite's example order with an invoice and a payment method in it:
    /// the reading holds the figures and the order number, and no trace of
    /// the names, organisation, addresses or payment method.
    #[test]
    fn an_orders_invoice_and_payment_method_are_never_read() {
        let body = include_str!("../../tests/fixtures/gateway/orders_proxylite.json")
            .replace("2019-08-24T14:15:22Z", "2030-01-02T03:04:05Z")
            .replace("\"status\": 0", "\"status\": 1")
            .replace("\"pay_timestamp\": 0", "\"pay_timestamp\": 1893553505")
            .replace("\"product_type\": 0", "\"product_type\": 3");
        let personal = serde_json::json!({
            "name": "Erika Mustermann", "org_name": "Musterfirma GmbH", "first_name": "Erika",
            "last_name": "Mustermann", "phone": "+49 30 1234567", "email": "erika@example.com",
            "role_type": 2, "vat_id": "DE123456789", "address_country": "DE",
            "address_city": "Berlin", "address_line1": "Musterstrasse 1",
            "address_line2": "Hinterhaus", "address_postal_code": "10115"});
        let mut answer: Value = serde_json::from_str(&body).unwrap();
        let order = &mut answer["data"]["list"][0];
        order["invoice"] = personal.clone();
        order["pm_title"] = "Musterbank transfer".into();
        order["pm_logo"] = "https://pay.example/musterbank.png".into();
        let body = answer.to_string();
        let data: &RawValue = decode_answer("/o", body.as_bytes(), ORDER_LIST_SUCCESS).unwrap();
        let mut pager = Pager::new("/o", Items::List, PAGE_SIZE, End::EmptyPage);
        let items = pager.read::<OrderItem>("/o", data).unwrap();
        let g = properties::gateway("expired_at");
        let mut tally = OrderTally::new(&[9], 0);
        for item in items {
            tally.add(&g, item).unwrap();
        }
        let reading = tally.finish();
        let balance = reading
            .products
            .iter()
            .find(|p| p.product == "balance")
            .unwrap();
        assert_eq!(balance.counts, [0, 1, 0, 0]);
        assert_eq!(balance.paid, 0.1);
        assert_eq!(balance.last_paid_timestamp, Some(1893553505));
        assert_eq!(reading.last_paid.as_ref().unwrap().trade_no, "string");
        let kept = format!("{reading:?}");
        for value in personal
            .as_object()
            .unwrap()
            .values()
            .filter_map(Value::as_str)
        {
            assert!(!kept.contains(value), "{value} kept: {kept}");
        }
        for value in ["Musterbank", "pay.example"] {
            assert!(!kept.contains(value), "{value} kept: {kept}");
        }
    }

    /// The order list's success code is 0 in its examples; 200 works too, and
    /// the family's other codes keep their meaning.
    #[test]
    fn the_order_list_succeeds_with_code_0_or_200() {
        let decode = |body: &str| {
            decode_answer::<ListData<Value>>("/o", body.as_bytes(), ORDER_LIST_SUCCESS)
                .map(|data| data.list.len())
        };
        assert!(decode(r#"{"code":0,"message":"ok","data":{"list":[]}}"#).is_ok());
        assert!(decode(r#"{"code":200,"msg":"ok","data":{"list":[]}}"#).is_ok());
        assert_eq!(
            decode(r#"{"code":3,"msg":"bad key"}"#).unwrap_err().reason,
            Reason::Auth
        );
        assert_eq!(
            decode(r#"{"code":400,"message":"Parameter error","errors":{}}"#)
                .unwrap_err()
                .reason,
            Reason::Api
        );
        // Elsewhere 0 is still an error code.
        assert_eq!(
            decode_gateway::<Value>("/x", br#"{"code":0,"data":{}}"#)
                .unwrap_err()
                .reason,
            Reason::Api
        );
    }

    mod properties {
        use super::super::super::arbitrary;
        use super::*;
        use crate::secret::Secret;
        use crate::units::Zone;
        use proptest::prelude::*;
        use url::Url;

        pub(super) fn gateway(expiry_field: &str) -> Gateway {
            Gateway {
                api: Api::new(
                    crate::http::HttpClient::new(
                        std::time::Duration::from_secs(1),
                        std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
                    )
                    .unwrap(),
                    Url::parse("http://127.0.0.1/gateway/").unwrap(),
                    (CredentialPlacement::query("app_key"), Secret::new("k")),
                ),
                product_types: vec![9],
                item_limit: usize::MAX,
                zone: Zone::default(),
                unit_base: 1024,
                expiry_field: expiry_field.to_owned(),
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// No answer, however broken, panics a parser; each gives a reading or an error.
            #[test]
            fn no_answer_panics_a_parser(body in arbitrary::body()) {
                let g = gateway("expired_at");
                let _ = decode_gateway::<ListData<UsageDay>>("/u", &body)
                    .map(|d| d.list.iter().map(|day| g.bytes(day.flow, TrafficUnit::Kb)).sum::<f64>());
                let _ = decode_gateway::<Summary>("/s", &body).map(|s| g.kb(s.effective));
                let pager = || Pager::new("/p", Items::List, PAGE_SIZE, End::EmptyPage);
                if let Ok(data) = decode_gateway::<&RawValue>("/p", &body) {
                    for item in pager().read::<PackageItem>("/p", data).unwrap_or_default() {
                        let _ = g.package(item);
                    }
                    let items = pager().read::<serde_json::Map<String, Value>>("/i", data);
                    let (mut counts, mut ips) = (BTreeMap::new(), Vec::new());
                    for item in &items.unwrap_or_default() {
                        let _ = g.read_static_ip(item, &mut counts, &mut ips);
                    }
                }
                let _ = parse_accounts("/a", &body, 1024);
                if let Ok(list) = decode_gateway::<ListData<AllowlistItem>>("/w", &body) {
                    let _ = g.count_allowlist(&list.list);
                }
                if let Ok(list) = decode_gateway::<ListData<RegionItem>>("/r", &body) {
                    let _ = by_country("/r", list.list);
                }
                if let Ok(data) = decode_answer::<&RawValue>("/o", &body, ORDER_LIST_SUCCESS) {
                    let mut tally = OrderTally::new(&[9], 0);
                    for item in pager().read::<OrderItem>("/o", data).unwrap_or_default() {
                        let _ = tally.add(&g, item);
                    }
                    let _ = tally.finish();
                }
            }

            /// Static IP items of any shape, under any expiry field name.
            #[test]
            fn no_static_ip_item_panics(item in arbitrary::json(), field in "expired_at|expire_time|end") {
                let g = gateway(&field);
                if let Value::Object(map) = item {
                    let (mut counts, mut ips) = (BTreeMap::new(), Vec::new());
                    let _ = g.read_static_ip(&map, &mut counts, &mut ips);
                }
            }

            /// Timestamps and numbers: any text is a value or a clean refusal.
            #[test]
            fn no_text_panics_the_unit_parsers(text in "\\PC{0,40}", zone in "[+-][0-9]{2}:[0-9]{2}|UTC|Asia/Shanghai|[A-Za-z/_]{0,20}") {
                if let Ok(zone) = zone.parse::<Zone>() {
                    let _ = zone.parse_timestamp(&text);
                }
                let _ = serde_json::from_value::<Number>(Value::String(text)).map(Number::as_i64);
            }
        }
    }
}
