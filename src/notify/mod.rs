//! Receivers: where the alerting agent's notifications go. This module owns the
//! [`Receiver`] trait, the classified [`NotifyError`], the HTTP plumbing the
//! HTTP receivers share, and re-exports the configuration ([`config`]) and the
//! [`Dispatcher`] that delivers batches with retries, a rate limit and counters.
//!
//! One file per receiver kind: `alertmanager`, `webhook`, `ntfy`, `slack`,
//! `telegram`, `email`, `log`. A receiver does one attempt at one batch; retries,
//! pacing and counting are the dispatcher's. No receiver puts a URL, a token or
//! a password in an error, a log line or its `Debug` output.

pub mod alertmanager;
pub mod config;
pub mod dispatch;
pub mod email;
pub mod group;
pub mod inhibit;
pub mod log;
pub mod matchers;
pub mod ntfy;
pub mod route;
pub mod settings;
pub mod slack;
pub mod telegram;
mod text;
pub mod webhook;

use std::fmt;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::future::BoxFuture;
use reqwest::header::RETRY_AFTER;

mod event;
pub use config::{RawReceiver, ReceiverSpec};
pub use dispatch::{DispatchSettings, Dispatcher};
pub use event::{fingerprint, fingerprint_u64, AlertEvent, Status};
pub use settings::BuildOptions;

use crate::secret::{Redactor, Secret};

/// Something that delivers a batch of alerts somewhere, one attempt at a time.
pub trait Receiver: Send + Sync {
    /// The receiver's kind, as its configuration key (`alertmanager`, `webhook`, ...).
    fn kind(&self) -> &'static str;

    /// Delivers `alerts` once. Retrying a transient failure is the caller's job
    /// ([`Dispatcher`]).
    fn send<'a>(&'a self, alerts: &'a [AlertEvent]) -> BoxFuture<'a, Result<(), NotifyError>>;

    /// Delivers one notification of a group once: by default its alerts, as
    /// [`Receiver::send`]; a receiver that shows the group (the webhook's
    /// `groupKey` and `groupLabels`) uses it.
    fn send_notification<'a>(
        &'a self,
        notification: &'a group::Notification,
    ) -> BoxFuture<'a, Result<(), NotifyError>> {
        self.send(&notification.alerts)
    }
}

/// A failed delivery: whether trying again may help, and a message for people
/// that never holds a URL or a secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct NotifyError {
    message: String,
    transient: bool,
    retry_after: Option<Duration>,
}

impl NotifyError {
    /// A failure that a retry may cure: connect, timeout, HTTP 5xx, 408, 429.
    pub fn transient(message: impl Into<String>) -> Self {
        NotifyError {
            message: message.into(),
            transient: true,
            retry_after: None,
        }
    }

    /// A failure a retry would only repeat: a refused request, a bad address.
    pub fn permanent(message: impl Into<String>) -> Self {
        NotifyError {
            message: message.into(),
            transient: false,
            retry_after: None,
        }
    }

    /// The same error, asking to wait `after` before the next attempt.
    pub fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        self.retry_after = after;
        self
    }

    /// Whether trying again may help.
    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// How long the server asked to wait before trying again (HTTP 429).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with every secret in `secrets`, in every form it takes
    /// on the wire, replaced by `<redacted>`.
    fn redacted(self, secrets: &[&Secret]) -> Self {
        self.redacted_by(&Redactor::of(secrets))
    }

    /// The same error with what `redactor` knows replaced by `<redacted>`.
    fn redacted_by(mut self, redactor: &Redactor) -> Self {
        self.message = redactor.apply(&self.message);
        self
    }
}

/// An RFC 3339 time in UTC, as Alertmanager writes it.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The runtime's HTTP client, shared with the providers' (no redirects, no
/// `Referer`, both root stores).
fn http_client() -> Result<reqwest::Client, String> {
    crate::http::shared_client()
        .map_err(|e| format!("cannot set up the HTTP client: {}", e.without_url()))
}

/// The most of an error answer's body quoted in an error message.
const QUOTED_BODY: usize = 200;
/// The most of any answer's body read.
const BODY_LIMIT: usize = 64 * 1024;

/// What the HTTP receivers share: the client, the per-request timeout, what to
/// call the request in errors, and the secrets to keep out of them.
#[derive(Clone)]
pub(crate) struct HttpPost {
    client: reqwest::Client,
    timeout: Duration,
    /// How errors name the request (`slack: POST`), never with its URL.
    what: &'static str,
}

impl HttpPost {
    /// A poster whose errors start with `what`.
    pub(crate) fn new(what: &'static str, timeout: Duration) -> Result<Self, String> {
        Ok(HttpPost {
            client: http_client()?,
            timeout,
            what,
        })
    }

    /// A POST request to `url`, with the timeout set.
    pub(crate) fn request(&self, url: &str) -> reqwest::RequestBuilder {
        self.client.post(url).timeout(self.timeout)
    }

    /// A POST request to `url` with `body` as JSON.
    pub(crate) fn json(
        &self,
        url: &str,
        body: &impl serde::Serialize,
    ) -> Result<reqwest::RequestBuilder, NotifyError> {
        let body = serde_json::to_vec(body).map_err(|e| {
            NotifyError::permanent(format!("{}: cannot encode the JSON body: {e}", self.what))
        })?;
        Ok(self
            .request(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body))
    }

    /// Sends `request` and returns the answer's body when the status is a
    /// success. Errors are classified (connect, timeout, 5xx, 408 and 429 are
    /// transient) and hold neither the URL nor any of `secrets`.
    pub(crate) async fn send(
        &self,
        request: reqwest::RequestBuilder,
        secrets: &[&Secret],
    ) -> Result<Bytes, NotifyError> {
        let answer = self.exchange(request, secrets).await?;
        match self.status_error(&answer) {
            None => Ok(answer.body),
            Some(error) => Err(error.redacted(secrets)),
        }
    }

    /// Sends `request` and reads the answer, whatever its status; only a
    /// transport failure is an error.
    pub(crate) async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        secrets: &[&Secret],
    ) -> Result<HttpAnswer, NotifyError> {
        let mut response = request
            .send()
            .await
            .map_err(|e| transport_error(self.what, e).redacted(secrets))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() >= BODY_LIMIT {
                body.truncate(BODY_LIMIT);
                break;
            }
        }
        Ok(HttpAnswer {
            status,
            retry_after,
            body: Bytes::from(body),
        })
    }

    /// The error for an answer whose status is not a success: transient for
    /// 5xx, 408 and 429 (with the server's `Retry-After`), permanent otherwise.
    /// Not yet redacted.
    pub(crate) fn status_error(&self, answer: &HttpAnswer) -> Option<NotifyError> {
        let status = answer.status;
        if status.is_success() {
            return None;
        }
        let message = format!("{}: HTTP {status}{}", self.what, quote_body(&answer.body));
        Some(
            if status.is_server_error() || matches!(status.as_u16(), 408 | 429) {
                NotifyError::transient(message).with_retry_after(answer.retry_after)
            } else {
                NotifyError::permanent(message)
            },
        )
    }
}

/// An HTTP answer, read.
pub(crate) struct HttpAnswer {
    pub(crate) status: reqwest::StatusCode,
    pub(crate) retry_after: Option<Duration>,
    /// At most [`BODY_LIMIT`] bytes.
    pub(crate) body: Bytes,
}

/// `: <first line of the body>`, shortened, or nothing for an empty body.
fn quote_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    match line {
        Some(line) if line.starts_with('<') => String::new(),
        Some(line) => format!(": {}", text::truncate(line, QUOTED_BODY)),
        None => String::new(),
    }
}

/// Classifies a transport error and drops the URL from its text.
fn transport_error(what: &str, error: reqwest::Error) -> NotifyError {
    let builder = error.is_builder();
    let error = error.without_url();
    let mut message = format!("{what}: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    // Connect failures, timeouts, resets and cut-off answers may all pass; a
    // request that could not even be built (a bad header value) will not.
    if builder {
        NotifyError::permanent(message)
    } else {
        NotifyError::transient(message)
    }
}

/// An `Authorization: Bearer` header value, marked sensitive so that no
/// debug output of the request shows it.
pub(crate) fn bearer(token: &Secret) -> Result<reqwest::header::HeaderValue, NotifyError> {
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
        .map_err(|_| {
        NotifyError::permanent("the bearer token is not a valid HTTP header value")
    })?;
    value.set_sensitive(true);
    Ok(value)
}

impl fmt::Debug for dyn Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Receiver({})", self.kind())
    }
}
