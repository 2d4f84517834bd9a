//! HTTP access to provider APIs: one GET with a bounded body, every failure
//! classified into a [`Reason`], and no URL (which may carry the `app_key`) in any
//! error text. Every request sent is counted and, when the target says so,
//! paced ([`crate::budget`]).

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use tokio::sync::Semaphore;
use url::Url;

use crate::budget::{Outcome, Pacer, Sent};
use crate::secret::Secret;

/// Largest response body read from a provider per request, unless a target's
/// `body_size_limit` says otherwise.
pub const DEFAULT_BODY_SIZE_LIMIT: usize = 16 * 1024 * 1024;

/// Why a poll of an endpoint failed: the `reason` label of
/// `proxy_exporter_poll_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    Auth,
    Http,
    Timeout,
    Connect,
    Decode,
    Api,
    RateLimited,
    /// The answer exceeded a configured bound (`body_size_limit`, `sample_limit`).
    Limit,
    /// The exporter's own fault, such as a poller that panicked.
    Internal,
}

impl Reason {
    /// Every reason, in the order of [`Reason::index`].
    pub const ALL: [Reason; Reason::COUNT] = [
        Reason::Auth,
        Reason::Http,
        Reason::Timeout,
        Reason::Connect,
        Reason::Decode,
        Reason::Api,
        Reason::RateLimited,
        Reason::Limit,
        Reason::Internal,
    ];
    /// How many reasons there are: the size of a per-reason counter array.
    pub const COUNT: usize = 9;

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Auth => "auth",
            Reason::Http => "http",
            Reason::Timeout => "timeout",
            Reason::Connect => "connect",
            Reason::Decode => "decode",
            Reason::Api => "api",
            Reason::RateLimited => "rate_limited",
            Reason::Limit => "limit",
            Reason::Internal => "internal",
        }
    }

    /// The position of this reason in [`Reason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed poll: the class and a message for people. The message never holds a
/// URL query string or a credential.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct PollError {
    pub reason: Reason,
    pub message: String,
    /// Whether trying again may help: connect, timeout, HTTP 5xx and 429.
    transient: bool,
    /// The server's `Retry-After`, for HTTP 429.
    retry_after: Option<Duration>,
}

impl PollError {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        PollError {
            reason,
            message: message.into(),
            transient: matches!(
                reason,
                Reason::Connect | Reason::Timeout | Reason::RateLimited
            ),
            retry_after: None,
        }
    }

    /// An HTTP error status: 401 and 403 refuse the credential, 5xx are transient,
    /// a redirect is never followed (it could carry the credential elsewhere).
    fn status(path: &str, status: reqwest::StatusCode) -> Self {
        let reason = match status.as_u16() {
            401 | 403 => Reason::Auth,
            _ => Reason::Http,
        };
        let mut error = PollError::new(reason, format!("GET {path}: HTTP {status}"));
        error.transient = status.is_server_error();
        error
    }

    pub fn decode(message: impl Into<String>) -> Self {
        PollError::new(Reason::Decode, message)
    }
}

/// Where a credential goes on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialPlacement {
    /// A query parameter of this name (the gateway family's `app_key`).
    Query(Cow<'static, str>),
    /// A request header of this name, its value the credential after `prefix`
    /// (IPWeb's `token`; `Authorization: Bearer …` of a custom provider).
    Header {
        name: Cow<'static, str>,
        prefix: Cow<'static, str>,
    },
    /// HTTP Basic authentication: this user name, the credential as password.
    Basic { username: String },
    /// Not sent: for settings that name no place (never a validated target's),
    /// so that the credential goes nowhere it was not meant to.
    Withheld,
}

impl CredentialPlacement {
    /// A query parameter named `name`.
    pub const fn query(name: &'static str) -> Self {
        CredentialPlacement::Query(Cow::Borrowed(name))
    }

    /// A header named `name` holding the credential alone.
    pub const fn header(name: &'static str) -> Self {
        CredentialPlacement::Header {
            name: Cow::Borrowed(name),
            prefix: Cow::Borrowed(""),
        }
    }

    /// The query parameter that carries the credential, if it goes in the query.
    pub fn query_name(&self) -> Option<&str> {
        match self {
            CredentialPlacement::Query(name) => Some(name),
            _ => None,
        }
    }
}

/// A shared HTTP client for provider requests.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    /// For each request, body included.
    timeout: Duration,
    /// Bounds the requests in flight over all targets.
    limiter: Arc<Semaphore>,
    /// The largest body read per request.
    body_size_limit: usize,
    /// Spaces the target's requests (`max_requests_per_second`); `None` sends them
    /// as they come.
    pacer: Option<Arc<Pacer>>,
}

/// One reqwest client per tokio runtime: its connection pool and TLS setup are
/// shared by every target and receiver (building a client per target costs
/// milliseconds each). Per runtime, not per process: a pooled connection is
/// driven by a task of the runtime that opened it, so a client handed on to
/// another runtime fails with "dispatch task is gone" once the first one has
/// stopped (an embedding that runs the exporter in one runtime after another,
/// and the tests, which run one per test, do that). The exporter runs one.
static CLIENTS: Mutex<Vec<(tokio::runtime::Id, reqwest::Client)>> = Mutex::new(Vec::new());

/// The longest a connection attempt may take, whatever a target's timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The reqwest client of the current runtime, for provider requests and
/// notifications alike: redirects are not followed and no `Referer` is sent
/// (either could carry the `app_key`, a token header or a secret URL to another
/// host); the bundled Mozilla roots and the system's store are trusted, so that
/// a corporate TLS-inspecting proxy's CA works too.
pub(crate) fn shared_client() -> Result<reqwest::Client, reqwest::Error> {
    let runtime = tokio::runtime::Handle::try_current().ok().map(|h| h.id());
    let mut clients = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, client)) = clients.iter().find(|(id, _)| Some(*id) == runtime) {
        return Ok(client.clone());
    }
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("proxy-quota-exporter/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .tls_built_in_webpki_certs(true)
        .tls_built_in_native_certs(true)
        .build()?;
    if let Some(id) = runtime {
        clients.push((id, client.clone()));
    }
    Ok(client)
}

impl HttpClient {
    /// A client whose requests time out after `timeout` and wait for `limiter`.
    pub fn new(timeout: Duration, limiter: Arc<Semaphore>) -> Result<Self, reqwest::Error> {
        let client = shared_client()?;
        Ok(HttpClient {
            client,
            timeout,
            limiter,
            body_size_limit: DEFAULT_BODY_SIZE_LIMIT,
            pacer: None,
        })
    }

    /// The same client starting at most `max_requests_per_second` requests a
    /// second (every page and retry included).
    pub fn with_pacing(mut self, max_requests_per_second: f64) -> Self {
        self.pacer = Some(Arc::new(Pacer::new(max_requests_per_second)));
        self
    }

    /// The same client reading at most `bytes` of each answer.
    pub fn with_body_size_limit(mut self, bytes: usize) -> Self {
        self.body_size_limit = bytes;
        self
    }

    /// GETs `url` with `query` and the credential, and returns the body if the
    /// status is a success. Each attempt waits for its turn of the pacer and a
    /// slot of the limiter, and is counted by outcome once sent. Transient
    /// failures (connect, timeout, HTTP 5xx and 429) are retried up to
    /// [`MAX_RETRIES`] times with full-jitter backoff, or after the server's
    /// `Retry-After` when it is at most [`MAX_RETRY_AFTER`]. Errors name the path
    /// only, never the query.
    pub async fn get(
        &self,
        url: &Url,
        query: &[(&str, String)],
        credential: (&CredentialPlacement, &Secret),
    ) -> Result<Bytes, PollError> {
        let mut attempt = 0;
        loop {
            match self.get_once(url, query, credential).await {
                Err(error) if error.transient && attempt < MAX_RETRIES => {
                    let delay = match error.retry_after {
                        Some(after) if after > MAX_RETRY_AFTER => return Err(error),
                        Some(after) => after,
                        None => full_jitter(BACKOFF_BASE, BACKOFF_CAP, attempt),
                    };
                    tracing::debug!(
                        path = url.path(),
                        reason = %error.reason,
                        delay_ms = delay.as_millis() as u64,
                        "retrying"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn get_once(
        &self,
        url: &Url,
        query: &[(&str, String)],
        credential: (&CredentialPlacement, &Secret),
    ) -> Result<Bytes, PollError> {
        let path = url.path();
        // The permit is held for the whole request, body included; never closed.
        // A paced request waits for its turn without one, and claims the turn
        // once it has one (another request of the target may have gone first).
        let _permit = loop {
            if let Some(pacer) = &self.pacer {
                pacer.wait_turn().await;
            }
            let permit = self.limiter.acquire().await.ok();
            match &self.pacer {
                Some(pacer) if !pacer.try_start(tokio::time::Instant::now()) => continue,
                _ => break permit,
            }
        };
        let mut request = self
            .client
            .get(url.clone())
            .timeout(self.timeout)
            .query(query);
        request = match credential.0 {
            CredentialPlacement::Query(name) => {
                request.query(&[(name.as_ref(), credential.1.expose())])
            }
            CredentialPlacement::Header { name, prefix } => {
                let invalid =
                    || PollError::new(Reason::Auth, "credential is not a valid HTTP header value");
                let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
                let mut value =
                    HeaderValue::from_str(&format!("{prefix}{}", credential.1.expose()))
                        .map_err(|_| invalid())?;
                value.set_sensitive(true);
                request.header(name, value)
            }
            CredentialPlacement::Basic { username } => {
                request.basic_auth(username, Some(credential.1.expose()))
            }
            CredentialPlacement::Withheld => request,
        };
        // Counted from here: dropped unfinished (the poll ran out of time), it
        // counts as an error.
        let sent = Sent::start();
        let result = self.exchange(path, request).await;
        sent.finish(match &result {
            Ok(_) => Outcome::Success,
            Err(e) if e.reason == Reason::RateLimited => Outcome::RateLimited,
            Err(_) => Outcome::Error,
        });
        result
    }

    /// Sends `request` and reads a successful answer's body.
    async fn exchange(
        &self,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Bytes, PollError> {
        let response = request.send().await.map_err(|e| transport_error(path, e))?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let mut error = PollError::new(
                Reason::RateLimited,
                format!("GET {path}: HTTP 429 Too Many Requests"),
            );
            error.retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(error);
        }
        if !status.is_success() {
            return Err(PollError::status(path, status));
        }
        read_body(path, response, self.body_size_limit).await
    }
}

/// The error for an answer larger than `body_size_limit`: which bound, and by how much.
fn body_over_limit(path: &str, limit: usize, by: String) -> PollError {
    PollError::new(
        Reason::Limit,
        format!(
            "GET {path}: answer exceeds body_size_limit {} {by}",
            crate::units::format_bytes(limit as f64)
        ),
    )
}

/// Reads a successful answer's body, at most `limit` bytes, and refuses HTML.
async fn read_body(
    path: &str,
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Bytes, PollError> {
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if let Some(length) = response.content_length().filter(|l| *l > limit as u64) {
        return Err(body_over_limit(
            path,
            limit,
            format!(
                "by {} bytes (Content-Length {length})",
                length - limit as u64
            ),
        ));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(path, e))?
    {
        if body.len() + chunk.len() > limit {
            let over = body.len() + chunk.len() - limit;
            return Err(body_over_limit(
                path,
                limit,
                format!("by at least {over} bytes (reading stopped there)"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    if content_type.starts_with("text/html") || body.trim_ascii_start().starts_with(b"<") {
        return Err(PollError::decode(format!(
            "GET {path}: expected JSON, got HTML ({} bytes)",
            body.len()
        )));
    }
    Ok(body.freeze())
}

/// Retries after a transient failure, per request.
pub const MAX_RETRIES: u32 = 2;
/// The longest `Retry-After` waited for; a longer one fails the poll at once.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// Full-jitter backoff: a random delay up to `base` × 2^`attempt`, capped at `cap`.
/// Shared by provider requests and notifications.
pub(crate) fn full_jitter(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let ceiling = base.saturating_mul(1 << attempt.min(16)).min(cap);
    ceiling.mul_f64(fastrand::f64())
}

/// Classifies a transport error, dropping the URL (and with it the query string
/// that may hold the `app_key`) from its text.
fn transport_error(path: &str, error: reqwest::Error) -> PollError {
    let reason = if error.is_timeout() {
        Reason::Timeout
    } else if error.is_connect() {
        Reason::Connect
    } else if error.is_decode() || error.is_body() || broken_connection(&error) {
        // A body cut off mid-way is a broken connection, not bad JSON; so is a
        // kept-alive connection the server closed under the next request.
        Reason::Connect
    } else {
        Reason::Http
    };
    let error = error.without_url();
    let mut message = format!("GET {path}: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    PollError::new(reason, message)
}

/// Whether `error` says the connection broke under the request rather than that
/// the server answered wrongly: hyper's incomplete message (a pooled keep-alive
/// connection the server closed, or an answer cut off before its headers ended),
/// a request canceled or a connection closed under it, or a reset, aborted or
/// ended socket. Looks through the whole chain of causes.
fn broken_connection(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(hyper) = error.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() || hyper.is_canceled() || hyper.is_closed() {
                return true;
            }
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
            ) {
                return true;
            }
        }
        cause = error.source();
    }
    false
}
