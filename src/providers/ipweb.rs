//! The IPWeb agent API: the `token` header on every request, traffic in MB, pool
//! totals, daily consumption (all traffic and NNI), every customer's usage today
//! (rows of other report dates are skipped), and the recharges of the last 30
//! provider days in both directions. Only the read endpoints of the contract are
//! ever called, always with GET.

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::pager::{End, Items, Pager};
use super::{
    label_text, upstream_message, Api, Connection, Endpoint, Envelope, Provider, ProviderSpec,
};
use crate::http::{CredentialPlacement, PollError, Reason};
use crate::readings::{
    CustomerReading, DailyUsage, PoolReading, Reading, RechargeDirection, RechargeReading,
};
use crate::units::{optional_number, to_bytes, Number, TrafficUnit, Zone};
use futures::future::BoxFuture;

pub const IPWEB: ProviderSpec = ProviderSpec {
    name: "ipweb",
    display_name: "IPWeb",
    default_base_url: Some("http://user.ipweb.cc/prod-api"),
    credential_key: "token",
    credential_placement: |_| CredentialPlacement::header("token"),
    configured_endpoints: None,
    path_prefix: None,
    endpoints: &[
        Endpoint::Usage,
        Endpoint::Summary,
        Endpoint::Customers,
        Endpoint::NniUsage,
        Endpoint::Recharges,
    ],
    optional_endpoints: &[],
    own_keys: &[],
    read_options: super::no_options,
    build: |target, api| Box::new(Ipweb::new(target, api)),
};

impl Provider for Ipweb {
    fn poll(&self, endpoint: Endpoint) -> BoxFuture<'_, Result<Reading, PollError>> {
        Box::pin(self.read(endpoint))
    }
}

/// The largest page the customer report allows.
pub const CUSTOMER_PAGE_SIZE: usize = 2000;
/// Rows asked for per page of the recharge lists. The document gives a default
/// of 10 and no largest size; the pages' `total` ends the list whatever size the
/// API really serves.
pub const RECHARGE_PAGE_SIZE: usize = 100;
/// The provider days the recharge figures cover: today and the days before.
pub const RECHARGE_DAYS: u64 = 30;
const CODE_SUCCESS: i64 = 200;
/// Codes that mean the token was refused, besides the documented
/// `code: 200, data: null` answer.
const CODES_UNAUTHORIZED: [i64; 2] = [401, 403];

/// A client for one IPWeb agent target.
pub struct Ipweb {
    /// The base URL; the token as the `token` header.
    api: Api,
    zone: Zone,
    unit_base: u32,
    /// The target's `sample_limit`, bounding the rows of the customer report.
    item_limit: usize,
}

impl Ipweb {
    fn new(target: &Connection, api: Api) -> Self {
        Ipweb {
            api,
            zone: target.timezone,
            unit_base: target.unit_base,
            item_limit: target.sample_limit,
        }
    }

    async fn read(&self, endpoint: Endpoint) -> Result<Reading, PollError> {
        match endpoint {
            Endpoint::Usage => self.usage().await.map(Reading::Usage),
            Endpoint::Summary => self.summary().await.map(Reading::Summary),
            Endpoint::Customers => self.customers().await.map(Reading::Customers),
            Endpoint::NniUsage => self.nni_usage().await.map(Reading::NniUsage),
            Endpoint::Recharges => self.recharges().await.map(Reading::Recharges),
            other => Err(PollError::new(
                Reason::Api,
                format!("the {other} endpoint does not exist in the IPWeb API"),
            )),
        }
    }

    fn mb(&self, value: Number) -> f64 {
        to_bytes(value.0, TrafficUnit::Mb, self.unit_base)
    }

    /// GETs `path` and returns the `data` of a successful answer, decoded.
    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, PollError> {
        let (url, body) = self.api.fetch(path, query).await?;
        decode_ipweb(url.path(), &body)
    }

    async fn summary(&self) -> Result<Vec<PoolReading>, PollError> {
        let data: FlowTotals = self.get("api/agent/getFlowTotalFull", &[]).await?;
        let pools: Vec<_> = [("primary", data.account), ("secondary", data.account2)]
            .into_iter()
            .filter_map(|(pool, totals)| {
                totals.map(|t| PoolReading {
                    pool: pool.to_owned(),
                    remaining_bytes: t.residual_flow.map(|v| self.mb(v)),
                    purchased_bytes: t.flow_count.map(|v| self.mb(v)),
                    used_bytes: t.consume_flow.map(|v| self.mb(v)),
                    ..PoolReading::default()
                })
            })
            .collect();
        if pools.is_empty() {
            return Err(PollError::decode(
                "getFlowTotalFull: neither account nor account2 in the answer",
            ));
        }
        Ok(pools)
    }

    async fn usage(&self) -> Result<DailyUsage, PollError> {
        self.daily::<ConsumeDay>("api/agent/getFlowConsumeDetail")
            .await
    }

    async fn nni_usage(&self) -> Result<DailyUsage, PollError> {
        self.daily::<NniDay>("api/agent/getNNIFlowConsumeDetail")
            .await
    }

    /// Reads a daily consumption list from yesterday to today (dates in the
    /// target's zone) into the traffic of today and yesterday.
    async fn daily<T: DayItem>(&self, path: &str) -> Result<DailyUsage, PollError> {
        let today = self.zone.date_at(Utc::now());
        let yesterday = today - Days::new(1);
        let days: Vec<T> = self
            .get(
                path,
                &[
                    ("startDate", yesterday.to_string()),
                    ("endDate", today.to_string()),
                ],
            )
            .await?;
        Ok(DailyUsage::from_days(
            today,
            days.iter()
                .map(|day| (day.date(), day.flows().map(|mb| self.mb(mb)).sum())),
        ))
    }

    /// The recharges of the last [`RECHARGE_DAYS`] provider days: credited to
    /// the account (`rechargeFlowListForMe`), then given to its customers
    /// (`myRechargeFlowList`, `type=0`).
    async fn recharges(&self) -> Result<Vec<RechargeReading>, PollError> {
        let today = self.zone.date_at(Utc::now());
        let days = RechargeDays {
            first: today - Days::new(RECHARGE_DAYS - 1),
            last: today,
        };
        let received = self
            .recharge_list(
                RechargeDirection::Received,
                "open/dynamic/rechargeFlowListForMe",
                None,
                days,
            )
            .await?;
        let given = self
            .recharge_list(
                RechargeDirection::Given,
                "open/dynamic/myRechargeFlowList",
                Some(("type", "0")),
                days,
            )
            .await?;
        Ok(vec![received, given])
    }

    /// Reads every page of one recharge list of `days` and adds up its
    /// recharges. `flowCount` is signed: a row of 0 or less is consumption, not
    /// a recharge, and is skipped. A recharge whose `createTime` (zone-less, in
    /// the target's zone) lies outside `days` is skipped too, in case the API
    /// ignores the date filter.
    async fn recharge_list(
        &self,
        direction: RechargeDirection,
        path: &'static str,
        filter: Option<(&str, &str)>,
        days: RechargeDays,
    ) -> Result<RechargeReading, PollError> {
        let mut reading = RechargeReading {
            direction,
            last_timestamp: None,
            last_30d_bytes: 0.0,
        };
        let mut outside = 0u64;
        // Rows are added up, not kept: the list is bounded by the pager's page
        // cap, not by `sample_limit`. Without `total`, only an empty page ends it,
        // as the API may serve fewer rows than asked for.
        let mut pager = Pager::new(path, Items::Rows, RECHARGE_PAGE_SIZE, End::EmptyPage);
        while let Some(page) = pager.next_page()? {
            let mut query = vec![
                ("pageNum", page.to_string()),
                ("pageSize", pager.page_size().to_string()),
                ("startDate", days.first.to_string()),
                ("endDate", days.last.to_string()),
            ];
            query.extend(filter.map(|(key, value)| (key, value.to_owned())));
            let (url, body) = self.api.fetch(path, &query).await?;
            let data: &RawValue = decode_ipweb(url.path(), &body)?;
            check_nested_code(url.path(), data)?;
            for row in pager.read::<RechargeRow>(url.path(), data)? {
                if row.flow_count.0 <= 0.0 {
                    continue;
                }
                let at = self.recharge_time(url.path(), row.create_time.as_deref())?;
                if !days.contain(self.zone, at) {
                    outside += 1;
                    continue;
                }
                reading.last_30d_bytes += self.mb(row.flow_count);
                reading.last_timestamp = reading.last_timestamp.max(Some(at));
            }
        }
        if outside > 0 {
            tracing::debug!(
                rows = outside,
                list = path,
                "recharge rows outside the last 30 provider days were skipped"
            );
        }
        Ok(reading)
    }

    /// A recharge's `createTime` in Unix seconds; a recharge without a readable
    /// one is a decode error, since it cannot be placed in the 30 days.
    fn recharge_time(&self, path: &str, text: Option<&str>) -> Result<i64, PollError> {
        let text = text.map(str::trim).unwrap_or_default();
        self.zone.parse_timestamp(text).ok_or_else(|| {
            PollError::decode(format!(
                "GET {path}: a recharge row's createTime is not a time: {text:?}"
            ))
        })
    }

    /// Every customer's usage today, read page by page at the largest page size;
    /// only the running totals are kept between pages. The report may ignore
    /// the date filter, so a row whose `reportDate` is another day is skipped.
    async fn customers(&self) -> Result<Vec<CustomerReading>, PollError> {
        let today = self.zone.date_at(Utc::now()).to_string();
        let mut totals: HashMap<String, (f64, f64)> = HashMap::new();
        let mut other_days = 0u64;
        // `total` decides; without it a short page is the last. (The document's
        // example, `total: 1049` beside one row, asks for page 2, which an API
        // answers with no rows.)
        let mut pager = Pager::new(
            "flowReport",
            Items::Rows,
            CUSTOMER_PAGE_SIZE,
            End::ShortPage,
        )
        .with_item_limit(self.item_limit);
        while let Some(page) = pager.next_page()? {
            let (url, body) = self
                .api
                .fetch(
                    "open/dynamic/flowReport",
                    &[
                        ("pageNum", page.to_string()),
                        ("pageSize", pager.page_size().to_string()),
                        ("startDate", today.clone()),
                        ("endDate", today.clone()),
                    ],
                )
                .await?;
            let data: &RawValue = decode_ipweb(url.path(), &body)?;
            check_nested_code(url.path(), data)?;
            for row in pager.read::<ReportRow>(url.path(), data)? {
                if !row.is_on(&today) {
                    other_days += 1;
                    continue;
                }
                let id = label_text(&row.customer_id);
                if id.is_empty() {
                    return Err(PollError::decode("flowReport: a row has no customerId"));
                }
                let entry = totals.entry(id).or_default();
                entry.0 += self.mb(row.upload_flow);
                entry.1 += self.mb(row.download_flow);
            }
        }
        if other_days > 0 {
            tracing::debug!(
                rows = other_days,
                today = %today,
                "flowReport: skipped rows whose reportDate is not today"
            );
        }
        let mut customers: Vec<_> = totals
            .into_iter()
            .map(
                |(customer_id, (upload_bytes, download_bytes))| CustomerReading {
                    customer_id,
                    upload_bytes,
                    download_bytes,
                },
            )
            .collect();
        customers.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
        Ok(customers)
    }
}

/// Maps IPWeb's answers to errors and decodes `data`. A refused token is answered
/// with HTTP 200, `code: 200` and `data: null`.
fn decode_ipweb<'a, T: Deserialize<'a>>(path: &str, body: &'a [u8]) -> Result<T, PollError> {
    let envelope = Envelope::parse(path, body)?;
    let message = envelope.message_suffix();
    match envelope.code {
        CODE_SUCCESS if envelope.data.is_none() => Err(PollError::new(
            Reason::Auth,
            format!("token rejected (code 200 without data{message})"),
        )),
        CODE_SUCCESS => envelope.decode_data(path),
        code if CODES_UNAUTHORIZED.contains(&code) => Err(PollError::new(
            Reason::Auth,
            format!("token rejected (code {code}{message})"),
        )),
        code => Err(PollError::new(
            Reason::Api,
            format!("GET {path}: API error code {code}{message}"),
        )),
    }
}

/// The paged lists (customer report, recharge lists) repeat `code` and `msg`
/// inside `data` (`{"total", "rows", "code": 200, "msg": "查询成功"}`). A nested
/// code other than 200 is an `api` error, so that the rows beside it are never
/// taken for a complete answer; no nested code is fine.
fn check_nested_code(path: &str, data: &RawValue) -> Result<(), PollError> {
    #[derive(Deserialize)]
    struct Nested {
        /// `null` counts as absent.
        #[serde(default)]
        code: Option<Number>,
        #[serde(default)]
        msg: Option<Value>,
    }
    let nested: Nested = serde_json::from_str(data.get())
        .map_err(|e| PollError::decode(format!("GET {path}: unexpected data: {e}")))?;
    match nested.code.map(|code| code.as_i64()) {
        None | Some(Some(CODE_SUCCESS)) => Ok(()),
        Some(code) => {
            let message = upstream_message(nested.msg);
            let code = code.map_or_else(|| "?".to_owned(), |c| c.to_string());
            Err(PollError::new(
                Reason::Api,
                format!("GET {path}: API error code {code} inside data: {message}"),
            ))
        }
    }
}

/// The provider days a recharge list covers, first and last included.
#[derive(Debug, Clone, Copy)]
struct RechargeDays {
    first: NaiveDate,
    last: NaiveDate,
}

impl RechargeDays {
    /// Whether the Unix time `at` falls on one of the days in `zone`.
    fn contain(self, zone: Zone, at: i64) -> bool {
        DateTime::from_timestamp(at, 0)
            .map(|t| zone.date_at(t))
            .is_some_and(|day| (self.first..=self.last).contains(&day))
    }
}

/// One day of a daily consumption list.
trait DayItem: DeserializeOwned {
    /// `yyyy-MM-dd`, perhaps followed by a time.
    fn date(&self) -> &str;
    /// The day's traffic figures in MB, to be added up.
    fn flows(&self) -> impl Iterator<Item = Number>;
}

impl DayItem for ConsumeDay {
    fn date(&self) -> &str {
        &self.date
    }
    fn flows(&self) -> impl Iterator<Item = Number> {
        [self.upload_flow, self.download_flow].into_iter()
    }
}

impl DayItem for NniDay {
    fn date(&self) -> &str {
        &self.date
    }
    fn flows(&self) -> impl Iterator<Item = Number> {
        std::iter::once(self.flow)
    }
}

#[derive(Deserialize)]
struct FlowTotals {
    account: Option<PoolTotals>,
    account2: Option<PoolTotals>,
}

/// One pool's totals. The API also sends a `"residualFlow "` key (with a trailing
/// space) beside `residualFlow`; only the latter is read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PoolTotals {
    #[serde(default, deserialize_with = "optional_number")]
    flow_count: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    consume_flow: Option<Number>,
    #[serde(default, deserialize_with = "optional_number")]
    residual_flow: Option<Number>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsumeDay {
    date: String,
    upload_flow: Number,
    download_flow: Number,
}

/// One day of `getNNIFlowConsumeDetail`.
#[derive(Deserialize)]
struct NniDay {
    date: String,
    flow: Number,
}

/// A recharge list row. Only the signed amount and the time are read; the
/// accounts, ids and operator names are not.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RechargeRow {
    /// MB; negative for a consumption row.
    flow_count: Number,
    /// `yyyy-MM-dd HH:mm:ss`, without a zone.
    create_time: Option<String>,
}

/// A report row; `userName` (a customer's login) is deliberately not read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportRow {
    /// `yyyy-MM-dd`; a row without one is taken as the day asked for.
    report_date: Option<String>,
    #[serde(default)]
    customer_id: Value,
    upload_flow: Number,
    download_flow: Number,
}

impl ReportRow {
    /// Whether the row is of `day` (`yyyy-MM-dd`); a time after the date is ignored.
    fn is_on(&self, day: &str) -> bool {
        self.report_date
            .as_deref()
            .map(str::trim)
            .is_none_or(|date| date.get(..10).unwrap_or(date) == day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_token_and_codes_map_to_reasons() {
        let err = |body: &str| decode_ipweb::<Value>("/x", body.as_bytes()).unwrap_err();
        let refused = err(r#"{"code":200,"msg":"无效的认证令牌","data":null}"#);
        assert_eq!(refused.reason, Reason::Auth);
        assert!(refused.message.contains("无效的认证令牌"));
        assert_eq!(err(r#"{"code":200,"msg":"x"}"#).reason, Reason::Auth);
        assert_eq!(err(r#"{"code":401,"msg":"x"}"#).reason, Reason::Auth);
        assert_eq!(err(r#"{"code":500,"msg":"x"}"#).reason, Reason::Api);
        assert_eq!(err("{\"code\":200,\"data\":{").reason, Reason::Decode);
    }

    #[test]
    fn a_nested_code_other_than_200_is_an_api_error() {
        let check =
            |data: &str| check_nested_code("/l", &RawValue::from_string(data.into()).unwrap());
        assert!(check(r#"{"total": 1, "rows": [], "code": 200, "msg": "查询成功"}"#).is_ok());
        assert!(check(r#"{"total": 1, "rows": [], "code": "200"}"#).is_ok());
        assert!(check(r#"{"total": 1, "rows": []}"#).is_ok());
        assert!(check(r#"{"rows": [], "code": null}"#).is_ok());
        let failed = check(r#"{"rows": [], "code": 500, "msg": "查询失败\n"}"#).unwrap_err();
        assert_eq!(failed.reason, Reason::Api);
        assert!(
            failed.message.ends_with("code 500 inside data: 查询失败"),
            "{failed}"
        );
        assert_eq!(
            check(r#"{"rows": [], "code": "x"}"#).unwrap_err().reason,
            Reason::Decode
        );
    }

    #[test]
    fn the_recharge_days_are_provider_days_first_and_last_included() {
        let zone = Zone::default();
        let days = RechargeDays {
            first: NaiveDate::from_ymd_opt(2025, 10, 19).unwrap(),
            last: NaiveDate::from_ymd_opt(2025, 11, 17).unwrap(),
        };
        let at = |t: &str| zone.parse_timestamp(t).unwrap();
        assert!(days.contain(zone, at("2025-10-19 00:00:00")));
        assert!(days.contain(zone, at("2025-11-17 23:59:59")));
        assert!(!days.contain(zone, at("2025-10-18 23:59:59")));
        assert!(!days.contain(zone, at("2025-11-18 00:00:00")));
        // 2025-11-17 20:00 UTC is already the 18th in +08:00.
        assert!(!days.contain(zone, at("2025-11-17T20:00:00Z")));
    }

    #[test]
    fn the_trailing_space_key_is_ignored() {
        let totals: PoolTotals = serde_json::from_str(
            r#"{"consumeFlow": 1.5, "residualFlow ": 999, "flowCount": "10", "residualFlow": 8.5}"#,
        )
        .unwrap();
        assert_eq!(totals.residual_flow, Some(Number(8.5)));
        assert_eq!(totals.flow_count, Some(Number(10.0)));
    }

    mod properties {
        use super::super::super::arbitrary;
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// No answer, however broken, panics a parser.
            #[test]
            fn no_answer_panics_a_parser(body in arbitrary::body()) {
                let _ = decode_ipweb::<FlowTotals>("/t", &body);
                let _ = decode_ipweb::<Vec<ConsumeDay>>("/c", &body);
                let _ = decode_ipweb::<Vec<NniDay>>("/n", &body);
                if let Ok(data) = decode_ipweb::<&RawValue>("/r", &body) {
                    let _ = check_nested_code("/r", data);
                    let mut pager = Pager::new("/r", Items::Rows, CUSTOMER_PAGE_SIZE, End::ShortPage);
                    for row in pager.read::<ReportRow>("/r", data).unwrap_or_default() {
                        let _ = (row.is_on("2025-12-25"), label_text(&row.customer_id));
                    }
                    let mut pager = Pager::new("/f", Items::Rows, RECHARGE_PAGE_SIZE, End::EmptyPage);
                    let days = RechargeDays {
                        first: NaiveDate::from_ymd_opt(2025, 11, 1).unwrap(),
                        last: NaiveDate::from_ymd_opt(2025, 11, 30).unwrap(),
                    };
                    for row in pager.read::<RechargeRow>("/f", data).unwrap_or_default() {
                        if let Some(at) = Zone::default().parse_timestamp(row.create_time.as_deref().unwrap_or_default()) {
                            let _ = days.contain(Zone::default(), at);
                        }
                    }
                }
            }
        }
    }
}
