//! The IPWeb agent API: the `token` header on every request, traffic in MB, pool
//! totals, daily consumption, and every customer's usage today. Only the read
//! endpoints of the contract are ever called, always with GET.

use std::collections::HashMap;

use chrono::{Days, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::{
    label_text, Api, Client, CustomerReading, DailyUsage, Endpoint, Envelope, PoolReading,
    ProviderSpec, Reading,
};
use crate::config::Target;
use crate::http::{CredentialPlacement, HttpClient, PollError, Reason};
use crate::units::{optional_number, to_bytes, Number, TrafficUnit, Zone};

pub const IPWEB: ProviderSpec = ProviderSpec {
    name: "ipweb",
    display_name: "IPWeb",
    default_base_url: Some("http://user.ipweb.cc/prod-api"),
    credential_key: "token",
    endpoints: &[Endpoint::Usage, Endpoint::Summary, Endpoint::Customers],
    gateway_family: false,
    build: |target, http| Client::Ipweb(Ipweb::new(target, http)),
};

/// The largest page the customer report allows.
pub const CUSTOMER_PAGE_SIZE: usize = 2000;
/// A report with more pages than this (2,000,000 customers) is treated as a
/// broken upstream.
const MAX_PAGES: usize = 1_000;
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
}

impl Ipweb {
    fn new(target: &Target, http: HttpClient) -> Self {
        let mut base = target.base_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ipweb {
            api: Api::new(
                http,
                base,
                (
                    CredentialPlacement::Header("token"),
                    target.credential.clone(),
                ),
            ),
            zone: target.timezone,
            unit_base: target.unit_base,
        }
    }

    /// Polls one endpoint. Endpoints this API does not have are an error.
    pub async fn poll(&self, endpoint: Endpoint) -> Result<Reading, PollError> {
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
    /// only the running totals are kept between pages.
    async fn customers(&self) -> Result<Vec<CustomerReading>, PollError> {
        let today = self.zone.date_at(Utc::now()).to_string();
        let mut totals: HashMap<String, (f64, f64)> = HashMap::new();
        let mut seen = 0usize;
        let mut previous_body = None;
        for page in 1..=MAX_PAGES {
            let (url, body) = self
                .api
                .fetch(
                    "open/dynamic/flowReport",
                    &[
                        ("pageNum", page.to_string()),
                        ("pageSize", CUSTOMER_PAGE_SIZE.to_string()),
                        ("startDate", today.clone()),
                        ("endDate", today.clone()),
                    ],
                )
                .await?;
            // An API that ignores `pageNum` would be asked again and again.
            if previous_body.as_ref() == Some(&body) {
                return Err(PollError::decode(format!(
                    "flowReport: page {page} repeats page {}: the API ignores paging",
                    page - 1
                )));
            }
            let report: FlowReport = decode_ipweb(url.path(), &body)?;
            previous_body = Some(body);
            let count = report.rows.len();
            seen += count;
            for row in report.rows {
                let id = label_text(&row.customer_id);
                if id.is_empty() {
                    return Err(PollError::decode("flowReport: a row has no customerId"));
                }
                let entry = totals.entry(id).or_default();
                entry.0 += self.mb(row.upload_flow);
                entry.1 += self.mb(row.download_flow);
            }
            let total = report.total.and_then(Number::as_i64);
            // `total` decides; without it a short page is the last. (The
            // document's example, `total: 1049` beside one row, asks for page 2,
            // which an API answers with no rows.)
            let done = count == 0
                || match total {
                    Some(total) => seen as i64 >= total,
                    None => count < CUSTOMER_PAGE_SIZE,
                };
            if done {
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
                return Ok(customers);
            }
        }
        Err(PollError::decode(format!(
            "flowReport: more than {MAX_PAGES} pages"
        )))
    }
}

/// Maps IPWeb's answers to errors and decodes `data`. A refused token is answered
/// with HTTP 200, `code: 200` and `data: null`.
fn decode_ipweb<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, PollError> {
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

#[derive(Deserialize)]
struct FlowReport {
    #[serde(default, deserialize_with = "optional_number")]
    total: Option<Number>,
    rows: Vec<ReportRow>,
}

/// A report row; `userName` (a customer's login) is deliberately not read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReportRow {
    #[serde(default)]
    customer_id: Value,
    upload_flow: Number,
    download_flow: Number,
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
                if let Ok(report) = decode_ipweb::<FlowReport>("/r", &body) {
                    let _ = report.total.and_then(Number::as_i64);
                    for row in report.rows {
                        let _ = label_text(&row.customer_id);
                    }
                }
            }
        }
    }
}
