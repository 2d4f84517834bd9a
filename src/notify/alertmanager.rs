//! The `alertmanager` receiver: Alertmanager's API v2, `POST {url}/api/v2/alerts`
//! with a JSON array of `{labels, annotations, startsAt, endsAt, generatorURL}`
//! (`endsAt` only once resolved), times in RFC 3339.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::config::{http_url, secret, BuildOptions};
use super::{rfc3339, AlertEvent, HttpPost, NotifyError, Receiver};
use crate::secret::Secret;

/// `alertmanager: {url}` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Alertmanager's base URL (with its `--web.route-prefix`, if any).
    #[serde(deserialize_with = "secret")]
    pub url: Secret,
}

/// The validated settings: the full endpoint URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `{url}/api/v2/alerts`; held as a secret, as it may carry credentials.
    pub endpoint: Secret,
}

impl AlertmanagerConfig {
    /// Checks the URL and appends the API path.
    pub fn validate(&self) -> Result<Settings, String> {
        let url = http_url("alertmanager", "url", &self.url)?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err("alertmanager.url: must not have a query or a fragment".into());
        }
        let endpoint = format!("{}/api/v2/alerts", url.as_str().trim_end_matches('/'));
        Ok(Settings {
            endpoint: Secret::new(endpoint),
        })
    }
}

/// One alert of the API v2 `postableAlerts` array.
#[derive(Debug, Serialize)]
pub struct PostableAlert<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub annotations: &'a BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt", skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    #[serde(rename = "generatorURL")]
    pub generator_url: &'a str,
}

impl<'a> PostableAlert<'a> {
    /// The API's form of `alert`.
    pub fn new(alert: &'a AlertEvent) -> Self {
        PostableAlert {
            labels: &alert.labels,
            annotations: &alert.annotations,
            starts_at: rfc3339(alert.starts_at),
            ends_at: alert.ends_at.map(rfc3339),
            generator_url: &alert.generator_url,
        }
    }
}

/// Posts alerts to one Alertmanager.
pub struct Alertmanager {
    endpoint: Secret,
    http: HttpPost,
}

impl Alertmanager {
    /// A receiver for validated settings.
    pub fn new(settings: &Settings, options: &BuildOptions) -> Result<Self, String> {
        Ok(Alertmanager {
            endpoint: settings.endpoint.clone(),
            http: HttpPost::new("alertmanager: POST /api/v2/alerts", options.timeout)?,
        })
    }
}

impl Receiver for Alertmanager {
    fn kind(&self) -> &'static str {
        "alertmanager"
    }

    fn send<'a>(&'a self, alerts: &'a [AlertEvent]) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let body: Vec<PostableAlert> = alerts.iter().map(PostableAlert::new).collect();
            let request = self.http.json(self.endpoint.expose(), &body)?;
            self.http.send(request, &[&self.endpoint]).await.map(drop)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::text::tests::alert;
    use crate::notify::Status;

    #[test]
    fn endpoint_keeps_a_route_prefix() {
        for (url, endpoint) in [
            ("http://am:9093", "http://am:9093/api/v2/alerts"),
            ("http://am:9093/", "http://am:9093/api/v2/alerts"),
            ("https://am/prefix/", "https://am/prefix/api/v2/alerts"),
        ] {
            let config = AlertmanagerConfig {
                url: Secret::new(url),
            };
            assert_eq!(config.validate().unwrap().endpoint.expose(), endpoint);
        }
        let bad = AlertmanagerConfig {
            url: Secret::new("ftp://am"),
        };
        assert!(bad.validate().unwrap_err().starts_with("alertmanager.url"));
    }

    #[test]
    fn ends_at_only_when_resolved() {
        let firing = alert("ProxyTrafficLow", "critical", Status::Firing);
        let json = serde_json::to_value(PostableAlert::new(&firing)).unwrap();
        assert_eq!(json["startsAt"], "2024-05-01T10:00:00Z");
        assert!(json.get("endsAt").is_none());
        assert_eq!(json["labels"]["alertname"], "ProxyTrafficLow");
        let resolved = alert("ProxyTrafficLow", "critical", Status::Resolved);
        let json = serde_json::to_value(PostableAlert::new(&resolved)).unwrap();
        assert_eq!(json["endsAt"], "2024-05-01T10:10:00Z");
        assert_eq!(json["generatorURL"], "http://exporter.test:9877/#alerts");
    }
}
