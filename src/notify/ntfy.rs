//! The `ntfy` receiver: POSTs the message text to the topic URL, with `Title`,
//! `Priority` (`high` while a critical alert fires) and `Tags` headers, and an
//! optional `Authorization: Bearer` access token.

use std::path::Path;

use futures::future::BoxFuture;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;

use super::settings::{http_url, one_secret, optional_secret, secret, BuildOptions};
use super::{bearer, text, AlertEvent, HttpPost, NotifyError, Receiver, Status};
use crate::secret::Secret;

/// ntfy's message limit: the server peeks at most `message-size-limit`
/// bytes of the body (default 4096, `DefaultMessageLengthLimit` in its
/// `server/config.go`) and turns a body that reaches it into an attachment
/// (`handlePublishBody`: a text message only when `!body.LimitReached`, and
/// the limit counts as reached at exactly 4096 bytes). So a body is at most
/// 4095 bytes of UTF-8.
const MAX_BODY: usize = 4095;

/// What an ntfy message holds: 4095 bytes of plain text.
const LIMIT: text::Limit = text::Limit {
    max: MAX_BODY,
    unit: text::Unit::Bytes,
    max_listed: usize::MAX,
    escape: text::plain,
};

/// `ntfy: {url, token, token_file}` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NtfyConfig {
    /// The topic URL (`https://ntfy.sh/<topic>`); held as a secret, as on a
    /// public server the topic name is the only access control.
    #[serde(deserialize_with = "secret")]
    pub url: Secret,
    #[serde(default, deserialize_with = "optional_secret")]
    pub token: Option<Secret>,
    pub token_file: Option<String>,
}

/// The validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub url: Secret,
    pub token: Option<Secret>,
}

impl NtfyConfig {
    /// Checks the URL and reads the token file, relative to `base_dir`.
    pub fn validate(&self, base_dir: &Path) -> Result<Settings, String> {
        http_url("ntfy", "url", &self.url)?;
        let token = one_secret(
            "ntfy",
            "token",
            self.token.as_ref(),
            self.token_file.as_deref(),
            base_dir,
            false,
        )?;
        Ok(Settings {
            url: self.url.clone(),
            token,
        })
    }
}

/// `high` while a critical alert fires, `default` otherwise.
pub fn priority(alerts: &[AlertEvent]) -> &'static str {
    let critical = alerts
        .iter()
        .any(|a| a.status == Status::Firing && text::label(a, "severity") == "critical");
    if critical {
        "high"
    } else {
        "default"
    }
}

/// An emoji tag for the status and the highest severity, then that severity:
/// `rotating_light,critical`, `warning,warning`, `white_check_mark,resolved`.
pub fn tags(alerts: &[AlertEvent]) -> String {
    if text::firing(alerts) == 0 {
        return "white_check_mark,resolved".into();
    }
    let severities: Vec<&str> = alerts
        .iter()
        .filter(|a| a.status == Status::Firing)
        .map(|a| text::label(a, "severity"))
        .collect();
    let severity = ["critical", "warning"]
        .into_iter()
        .find(|s| severities.contains(s))
        .unwrap_or("info");
    let emoji = match severity {
        "critical" => "rotating_light",
        "warning" => "warning",
        _ => "information_source",
    };
    format!("{emoji},{severity}")
}

/// A header value of visible ASCII: anything else becomes `?`.
fn ascii_header(text: &str) -> HeaderValue {
    let clean: String = text
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    HeaderValue::from_str(&clean).unwrap_or_else(|_| HeaderValue::from_static("alert"))
}

/// Publishes to one ntfy topic.
pub struct Ntfy {
    url: Secret,
    token: Option<Secret>,
    http: HttpPost,
}

impl Ntfy {
    /// A receiver for validated settings.
    pub fn new(settings: &Settings, options: &BuildOptions) -> Result<Self, String> {
        Ok(Ntfy {
            url: settings.url.clone(),
            token: settings.token.clone(),
            http: HttpPost::new("ntfy: POST", options.timeout)?,
        })
    }
}

impl Receiver for Ntfy {
    fn kind(&self) -> &'static str {
        "ntfy"
    }

    fn send<'a>(&'a self, alerts: &'a [AlertEvent]) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let body = text::digest(alerts, "", &LIMIT);
            let mut request = self
                .http
                .request(self.url.expose())
                .header(CONTENT_TYPE, "text/plain; charset=utf-8")
                .header(
                    "Title",
                    ascii_header(&text::title_within(alerts, text::TITLE_MAX)),
                )
                .header("Priority", priority(alerts))
                .header("Tags", tags(alerts))
                .body(body);
            let mut secrets = vec![&self.url];
            if let Some(token) = &self.token {
                request = request.header(AUTHORIZATION, bearer(token)?);
                secrets.push(token);
            }
            self.http.send(request, &secrets).await.map(drop)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::text::tests::alert;

    #[test]
    fn priority_and_tags_follow_severity() {
        let critical = alert("ProxyTrafficLow", "critical", Status::Firing);
        let warning = alert("ProxyTrafficLow", "warning", Status::Firing);
        let resolved = alert("ProxyTrafficLow", "critical", Status::Resolved);
        assert_eq!(priority(&[warning.clone(), critical.clone()]), "high");
        assert_eq!(priority(&[warning.clone(), resolved.clone()]), "default");
        assert_eq!(
            tags(&[warning.clone(), critical]),
            "rotating_light,critical"
        );
        assert_eq!(tags(&[warning]), "warning,warning");
        assert_eq!(tags(&[resolved]), "white_check_mark,resolved");
    }

    #[test]
    fn title_header_is_ascii() {
        assert_eq!(
            ascii_header("[FIRING:1] Über").to_str().unwrap(),
            "[FIRING:1] ?ber"
        );
    }
}
