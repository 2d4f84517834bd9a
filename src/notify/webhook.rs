//! The `webhook` receiver: POSTs Alertmanager's webhook JSON (`version: "4"`),
//! so that receivers written for Alertmanager work unchanged, with an optional
//! `Authorization: Bearer` token.

use std::collections::BTreeMap;
use std::path::Path;

use futures::future::BoxFuture;
use reqwest::header::AUTHORIZATION;
use serde::{Deserialize, Serialize};

use super::group::Notification;
use super::settings::{http_url, one_secret, optional_secret, secret, BuildOptions};
use super::{bearer, rfc3339, AlertEvent, HttpPost, NotifyError, Receiver, Status};
use crate::secret::Secret;

/// What Alertmanager writes as `endsAt` while an alert fires: Go's zero time.
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `webhook: {url, bearer_token, bearer_token_file}` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST; held as a secret, as webhook URLs often carry a token.
    #[serde(deserialize_with = "secret")]
    pub url: Secret,
    #[serde(default, deserialize_with = "optional_secret")]
    pub bearer_token: Option<Secret>,
    pub bearer_token_file: Option<String>,
}

/// The validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub url: Secret,
    pub bearer_token: Option<Secret>,
}

impl WebhookConfig {
    /// Checks the URL and reads the token file, relative to `base_dir`.
    pub fn validate(&self, base_dir: &Path) -> Result<Settings, String> {
        http_url("webhook", "url", &self.url)?;
        let bearer_token = one_secret(
            "webhook",
            "bearer_token",
            self.bearer_token.as_ref(),
            self.bearer_token_file.as_deref(),
            base_dir,
            false,
        )?;
        Ok(Settings {
            url: self.url.clone(),
            bearer_token,
        })
    }
}

/// Alertmanager's webhook message (version 4).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message<'a> {
    pub version: &'static str,
    pub group_key: String,
    pub truncated_alerts: u64,
    pub status: &'static str,
    pub receiver: &'a str,
    pub group_labels: BTreeMap<&'a str, &'a str>,
    pub common_labels: BTreeMap<&'a str, &'a str>,
    pub common_annotations: BTreeMap<&'a str, &'a str>,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<WebhookAlert<'a>>,
}

/// One alert of a webhook message.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert<'a> {
    pub status: &'static str,
    pub labels: &'a BTreeMap<String, String>,
    pub annotations: &'a BTreeMap<String, String>,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: &'a str,
    pub fingerprint: String,
}

impl<'a> Message<'a> {
    /// The message `receiver` sends for `alerts`: `firing` if any alert fires;
    /// grouped by `alertname` when all alerts share it.
    pub fn new(receiver: &'a str, alerts: &'a [AlertEvent]) -> Self {
        let common_labels = common(alerts.iter().map(|a| &a.labels));
        let group_labels: BTreeMap<&str, &str> = common_labels
            .iter()
            .filter(|(k, _)| **k == "alertname")
            .map(|(k, v)| (*k, *v))
            .collect();
        let group_key = format!("{{}}/{{receiver={receiver:?}}}:{}", braces(&group_labels));
        Message::of_group(receiver, group_key, group_labels, alerts)
    }

    /// The message for one notification of a route's group: its key and
    /// labels as the route made them.
    pub fn for_notification(receiver: &'a str, notification: &'a Notification) -> Self {
        let group_labels = notification
            .group_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Message::of_group(
            receiver,
            notification.key.clone(),
            group_labels,
            &notification.alerts,
        )
    }

    fn of_group(
        receiver: &'a str,
        group_key: String,
        group_labels: BTreeMap<&'a str, &'a str>,
        alerts: &'a [AlertEvent],
    ) -> Self {
        let common_labels = common(alerts.iter().map(|a| &a.labels));
        let common_annotations = common(alerts.iter().map(|a| &a.annotations));
        let firing = alerts.iter().any(|a| a.status == Status::Firing);
        Message {
            version: "4",
            group_key,
            truncated_alerts: 0,
            status: if firing { "firing" } else { "resolved" },
            receiver,
            group_labels,
            common_labels,
            common_annotations,
            external_url: alerts
                .first()
                .map(|a| origin(&a.generator_url))
                .unwrap_or_default(),
            alerts: alerts.iter().map(WebhookAlert::new).collect(),
        }
    }
}

impl<'a> WebhookAlert<'a> {
    /// The webhook form of `alert`.
    pub fn new(alert: &'a AlertEvent) -> Self {
        WebhookAlert {
            status: alert.status.as_str(),
            labels: &alert.labels,
            annotations: &alert.annotations,
            starts_at: rfc3339(alert.starts_at),
            ends_at: alert
                .ends_at
                .map_or_else(|| GO_ZERO_TIME.to_owned(), rfc3339),
            generator_url: &alert.generator_url,
            fingerprint: alert.fingerprint(),
        }
    }
}

/// The pairs every map of `maps` has with the same value.
fn common<'a>(
    mut maps: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeMap<&'a str, &'a str> {
    let Some(first) = maps.next() else {
        return BTreeMap::new();
    };
    let mut common: BTreeMap<&str, &str> = first
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for map in maps {
        common.retain(|k, v| map.get(*k).map(String::as_str) == Some(*v));
    }
    common
}

/// `{k="v", ...}`, as Alertmanager writes label sets in a group key.
fn braces(labels: &BTreeMap<&str, &str>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", pairs.join(","))
}

/// The exporter's external URL that an alert's `generatorURL` (`{external
/// URL}/#alert-…`) starts with, path included; else the URL's origin, or `""`.
fn origin(url: &str) -> String {
    if let Some((external, _)) = url.split_once("/#") {
        if url::Url::parse(external).is_ok_and(|u| u.has_host()) {
            return external.to_owned();
        }
    }
    match url::Url::parse(url) {
        Ok(url) if url.has_host() => url.origin().ascii_serialization(),
        _ => String::new(),
    }
}

/// Posts webhook messages to one URL.
pub struct Webhook {
    name: String,
    url: Secret,
    bearer_token: Option<Secret>,
    http: HttpPost,
}

impl Webhook {
    /// A receiver called `name` for validated settings.
    pub fn new(name: &str, settings: &Settings, options: &BuildOptions) -> Result<Self, String> {
        Ok(Webhook {
            name: name.to_owned(),
            url: settings.url.clone(),
            bearer_token: settings.bearer_token.clone(),
            http: HttpPost::new("webhook: POST", options.timeout)?,
        })
    }
}

impl Receiver for Webhook {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn send<'a>(&'a self, alerts: &'a [AlertEvent]) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(self.post(Message::new(&self.name, alerts)))
    }

    fn send_notification<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), NotifyError>> {
        if notification.group_labels.is_empty() && notification.key.starts_with("one-off:") {
            return self.send(&notification.alerts);
        }
        Box::pin(self.post(Message::for_notification(&self.name, notification)))
    }
}

impl Webhook {
    /// Posts `message`.
    async fn post(&self, message: Message<'_>) -> Result<(), NotifyError> {
        {
            let mut request = self.http.json(self.url.expose(), &message)?;
            let mut secrets = vec![&self.url];
            if let Some(token) = &self.bearer_token {
                request = request.header(AUTHORIZATION, bearer(token)?);
                secrets.push(token);
            }
            self.http.send(request, &secrets).await.map(drop)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::text::tests::alert;

    #[test]
    fn message_has_alertmanagers_shape() {
        let alerts = [
            alert("ProxyTrafficLow", "critical", Status::Firing),
            alert("ProxyTrafficLow", "warning", Status::Resolved),
        ];
        let json = serde_json::to_value(Message::new("hook", &alerts)).unwrap();
        assert_eq!(json["version"], "4");
        assert_eq!(json["status"], "firing");
        assert_eq!(json["receiver"], "hook");
        assert_eq!(
            json["groupKey"],
            "{}/{receiver=\"hook\"}:{alertname=\"ProxyTrafficLow\"}"
        );
        assert_eq!(json["groupLabels"]["alertname"], "ProxyTrafficLow");
        assert_eq!(json["commonLabels"]["target"], "main");
        assert!(json["commonLabels"].get("severity").is_none());
        assert_eq!(json["commonAnnotations"]["summary"], "Traffic is low");
        assert_eq!(json["externalURL"], "http://exporter.test:9877");
        assert_eq!(json["alerts"][0]["endsAt"], GO_ZERO_TIME);
        assert_eq!(json["alerts"][1]["endsAt"], "2024-05-01T10:10:00Z");
        assert_eq!(json["alerts"][1]["status"], "resolved");
        assert_eq!(json["alerts"][0]["fingerprint"], alerts[0].fingerprint());
        let resolved = Message::new("hook", &alerts[1..]);
        assert_eq!(resolved.status, "resolved");
    }
}
