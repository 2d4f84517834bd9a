//! The IPWeb agent API: the `token` header on every request, traffic in MB, pool
//! totals, daily consumption, and every customer's usage today (rows of other
//! report dates are skipped). Only the read endpoints of the contract are ever
//! called, always with GET.

use std::collections::HashMap;

use chrono::{Days, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::pager::{End, Items, Pager};
use super::{label_text, Api, Connection, Endpoint, Envelope, Provider, ProviderSpec};
use crate::http::{CredentialPlacement, PollError, Reason};
use crate::readings::{CustomerReading, DailyUsage, PoolReading, Reading};
use crate::units::{optional_number, to_bytes, Number, TrafficUnit, Zone};
use futures::future::BoxFuture;

pub const IPWEB: ProviderSpec = ProviderSpec {
    name: "ipweb",
    display_name: "IPWeb",
    default_base_url: Some("http://user.ipweb.cc/prod-api"),
    credential_key: "token",
    credential_placement: CredentialPlacement::Header("token"),
    path_prefix: None,
    endpoints: &[Endpoint::Usage, Endpoint::Summary, Endpoint::Customers],
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
        let today = self.zone.date_at(Utc::now());
        let yesterday = today - Days::new(1);
        let days: Vec<ConsumeDay> = self
            .get(
                "api/agent/getFlowConsumeDetail",
                &[
                    ("startDate", yesterday.to_string()),
                    ("endDate", today.to_string()),
                ],
            )
            .await?;
        Ok(DailyUsage::from_days(
            today,
            days.iter().map(|day| {
                let bytes = self.mb(day.upload_flow) + self.mb(day.download_flow);
                (day.date.as_str(), bytes)
            }),
        ))
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
                if let Ok(data) = decode_ipweb::<&RawValue>("/r", &body) {
                    let mut pager = Pager::new("/r", Items::Rows, CUSTOMER_PAGE_SIZE, End::ShortPage);
                    for row in pager.read::<ReportRow>("/r", data).unwrap_or_default() {
                        let _ = (row.is_on("2025-12-25"), label_text(&row.customer_id));
                    }
                }
            }
        }
    }
}
