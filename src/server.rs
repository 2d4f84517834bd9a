//! The HTTP server: `/metrics` from the cached exposition, the landing page and
//! the health endpoints. Nothing here touches the network upstream. Every
//! connection is bounded ([`ServerLimits`]): a cap on how many are served at once,
//! a time limit for a request header and for an idle keep-alive connection.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, VARY,
    WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::Watcher;
use prometheus::Encoder as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;

use crate::{catalogue, encoder};
use crate::exposition::{gzip, ExpositionCache};
use crate::store::Store;
use crate::web::{BasicAuth, WebConfig};
use crate::ReloadRequest;

/// State the request handlers read.
pub struct App {
    pub store: Arc<Store>,
    pub exposition: Arc<ExpositionCache>,
    process: prometheus::Registry,
    process_cache: ArcSwap<ProcessMetrics>,
    process_refresh: std::sync::Mutex<()>,
    notice: Option<String>,
    /// Where `POST /-/reload` sends its request; `None` without a config file.
    reload: Option<mpsc::Sender<ReloadRequest>>,
    tls: Option<TlsAcceptor>,
    basic_auth: BasicAuth,
    limits: ServerLimits,
}

impl App {
    pub fn new(
        store: Arc<Store>,
        exposition: Arc<ExpositionCache>,
        notice: Option<String>,
        reload: Option<mpsc::Sender<ReloadRequest>>,
        web: Option<WebConfig>,
    ) -> Self {
        let process = prometheus::Registry::new();
        #[cfg(target_os = "linux")]
        if let Err(e) = process.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        )) {
            tracing::warn!(error = %e, "process metrics unavailable");
        }
        let (tls, basic_auth, limits) = match web {
            Some(web) => (web.tls.map(TlsAcceptor::from), web.basic_auth, web.limits),
            None => (None, BasicAuth::disabled(), ServerLimits::default()),
        };
        App {
            store,
            exposition,
            process_cache: ArcSwap::from_pointee(encode_process(&process)),
            process_refresh: std::sync::Mutex::new(()),
            process,
            notice,
            reload,
            tls,
            basic_auth,
            limits,
        }
    }
}

/// Bounds on the HTTP server's connections, so that slow or idle clients cannot
/// hold the server. The defaults suit a scrape target; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time a client has to send a complete request header: from the end of the
    /// TLS handshake (or from accept) for a connection's first request, from the
    /// first byte of each later one. Also bounds the TLS handshake. Default 10 s.
    pub read_header_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request, and a response
    /// may wait for the client to read more of it. Default 90 s.
    pub idle_timeout: Duration,
    /// Connections served at once, TLS handshakes included. Further connections
    /// are not accepted until one closes: they wait in the listen backlog.
    /// Default 1024.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            read_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            max_connections: 1024,
        }
    }
}

/// Serves HTTP on `listener` until `shutdown` resolves, then lets in-flight
/// requests finish.
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let limits = app.limits;
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let mut warned_full: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if warned_full.is_none_or(|at| at.elapsed() >= FULL_WARNING_INTERVAL) {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached; new connections wait in the listen backlog"
                    );
                    warned_full = Some(Instant::now());
                }
                tokio::select! {
                    slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let app = Arc::clone(&app);
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let _slot = slot;
                    match app.tls.clone() {
                        Some(acceptor) => {
                            let handshake = tokio::time::timeout(limits.read_header_timeout, acceptor.accept(stream)).await;
                            match handshake {
                                Ok(Ok(tls)) => serve_connection(tls, app, watcher).await,
                                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!("TLS handshake timed out"),
                            }
                        }
                        None => serve_connection(stream, app, watcher).await,
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

/// How often a full server logs that it is full.
const FULL_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// Serves one HTTP/1 connection, plain or TLS, until it closes, a timeout of
/// [`ServerLimits`] ends it or shutdown does.
async fn serve_connection<S>(stream: S, app: Arc<App>, watcher: Watcher)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let clock = Arc::new(Clock::new(app.limits));
    let stream = Timed::new(stream, Arc::clone(&clock));
    let service = hyper::service::service_fn(move |req| {
        let app = Arc::clone(&app);
        let request = clock.request_begins();
        async move {
            let response = handle(&app, req).await;
            drop(request);
            Ok::<_, Infallible>(response)
        }
    });
    // `Timed` applies the header timeout. Hyper's own (it needs a timer) would
    // also count the wait for the next request on a keep-alive connection.
    let conn = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Which of a connection's timeouts runs, and since when.
struct Clock {
    limits: ServerLimits,
    state: Mutex<ClockState>,
}

struct ClockState {
    /// Requests whose header is complete and whose handler runs: no timeout.
    handling: usize,
    /// When the request header being read began; `None` between requests.
    header_since: Option<Instant>,
    /// The last write to the client, or the end of the last handler.
    last_progress: Instant,
    /// The connection task, woken when a handler ends: hyper does not poll the
    /// stream again by itself, and the idle timeout must be armed.
    waker: Option<Waker>,
}

/// The failure a [`Clock`] reports when its deadline passes.
enum Expired {
    Header,
    Idle,
}

impl Clock {
    fn new(limits: ServerLimits) -> Self {
        let now = Instant::now();
        Clock {
            limits,
            state: Mutex::new(ClockState {
                handling: 0,
                header_since: Some(now),
                last_progress: now,
                waker: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The deadline that applies now and what passing it means; remembers the
    /// task waiting for the stream.
    fn deadline(&self, waker: &Waker) -> Option<(Instant, Expired)> {
        let mut state = self.state();
        if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.waker = Some(waker.clone());
        }
        if state.handling > 0 {
            None
        } else if let Some(since) = state.header_since {
            Some((since + self.limits.read_header_timeout, Expired::Header))
        } else {
            Some((
                state.last_progress + self.limits.idle_timeout,
                Expired::Idle,
            ))
        }
    }

    fn read_progress(&self) {
        let mut state = self.state();
        if state.handling == 0 && state.header_since.is_none() {
            state.header_since = Some(Instant::now());
        }
    }

    fn write_progress(&self) {
        self.state().last_progress = Instant::now();
    }

    /// A request header is complete: no timeout until the returned guard drops.
    fn request_begins(self: &Arc<Self>) -> Handling {
        let mut state = self.state();
        state.handling += 1;
        state.header_since = None;
        Handling(Arc::clone(self))
    }
}

/// A running handler; its drop restarts the connection's idle clock.
struct Handling(Arc<Clock>);

impl Drop for Handling {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.0.state();
            state.handling -= 1;
            state.header_since = None;
            state.last_progress = Instant::now();
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A connection's stream whose reads and writes fail once its [`Clock`]'s
/// deadline passes. Hyper polls the stream whenever it waits for the client, so
/// a failure here ends the connection.
struct Timed<S> {
    inner: S,
    clock: Arc<Clock>,
    sleep: Pin<Box<Sleep>>,
    armed_for: Option<Instant>,
}

impl<S> Timed<S> {
    fn new(inner: S, clock: Arc<Clock>) -> Self {
        Timed {
            inner,
            clock,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed_for: None,
        }
    }

    /// Called when the stream is not ready: the error to end the connection with
    /// once the deadline has passed; until then, a wake-up at the deadline.
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        let (deadline, expired) = self.clock.deadline(cx.waker())?;
        if self.armed_for != Some(deadline) {
            self.sleep.as_mut().reset(deadline.into());
            self.armed_for = Some(deadline);
        }
        self.sleep.as_mut().poll(cx).is_ready().then(|| {
            let message = match expired {
                Expired::Header => format!(
                    "no complete request header within {:?}",
                    self.clock.limits.read_header_timeout
                ),
                Expired::Idle => format!("idle for {:?}", self.clock.limits.idle_timeout),
            };
            io::Error::new(io::ErrorKind::TimedOut, message)
        })
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => this
                .expired(cx)
                .map_or(Poll::Pending, |e| Poll::Ready(Err(e))),
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.clock.read_progress();
                Poll::Ready(Ok(()))
            }
            ready => ready,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Pending => this
                .expired(cx)
                .map_or(Poll::Pending, |e| Poll::Ready(Err(e))),
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.clock.write_progress();
                }
                Poll::Ready(Ok(n))
            }
            ready => ready,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => this
                .expired(cx)
                .map_or(Poll::Pending, |e| Poll::Ready(Err(e))),
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.clock.write_progress();
                }
                Poll::Ready(Ok(n))
            }
            ready => ready,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this
                .expired(cx)
                .map_or(Poll::Pending, |e| Poll::Ready(Err(e))),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_shutdown(cx) {
            Poll::Pending => this
                .expired(cx)
                .map_or(Poll::Pending, |e| Poll::Ready(Err(e))),
            ready => ready,
        }
    }
}

async fn handle(app: &App, req: Request<Incoming>) -> Response<Chunks> {
    let authorization = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    if !app.basic_auth.allows(authorization).await {
        let mut response = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"proxy-quota-exporter\""),
        );
        return response;
    }
    if req.uri().path() == "/-/reload" {
        return reload(app, req.method()).await;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed\n");
    }
    match req.uri().path() {
        "/metrics" => metrics_response(app, accepts_gzip(req.headers().get(ACCEPT_ENCODING))),
        "/" => landing_page(app),
        "/-/healthy" => text(StatusCode::OK, "Healthy\n"),
        "/-/ready" if app.exposition.ready() => text(StatusCode::OK, "Ready\n"),
        "/-/ready" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: first poll of every target not finished\n",
        ),
        _ => text(StatusCode::NOT_FOUND, "Not found\n"),
    }
}

async fn reload(app: &App, method: &Method) -> Response<Chunks> {
    if method != Method::POST && method != Method::PUT {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Use POST to reload\n");
    }
    let Some(requests) = &app.reload else {
        return text(
            StatusCode::BAD_REQUEST,
            "No configuration file to reload (started without --config.file)\n",
        );
    };
    let (reply, outcome) = oneshot::channel();
    if requests.send(reply).await.is_err() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "Shutting down\n");
    }
    match outcome.await {
        Ok(Ok(())) => text(StatusCode::OK, "Configuration reloaded\n"),
        Ok(Err(reason)) => {
            let mut response = Response::new(Chunks::one(Bytes::from(format!(
                "Reload refused, the running configuration stays: {reason}\n"
            ))));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "Shutting down\n"),
    }
}

fn metrics_response(app: &App, accepts_gzip: bool) -> Response<Chunks> {
    let exposition = app.exposition.current();
    let process = app.process_metrics();
    // Both parts are cached bytes: a scrape copies nothing. Two gzip members in a
    // row are one valid gzip stream.
    let body = if accepts_gzip {
        Chunks(vec![exposition.gzip.clone(), process.gzip.clone()].into())
    } else {
        Chunks(vec![exposition.plain.clone(), process.plain.clone()].into())
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(encoder::CONTENT_TYPE),
    );
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if accepts_gzip {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// Whether an `Accept-Encoding` header allows gzip (`gzip;q=0` does not).
fn accepts_gzip(header: Option<&HeaderValue>) -> bool {
    let Some(value) = header.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value.split(',').any(|coding| {
        let mut fields = coding.split(';').map(str::trim);
        let is_gzip = fields
            .next()
            .is_some_and(|c| c.eq_ignore_ascii_case("gzip"));
        let quality = fields
            .find_map(|f| f.strip_prefix("q="))
            .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0));
        is_gzip && quality > 0.0
    })
}

/// A response body of ready-made chunks, sent without copying.
pub struct Chunks(VecDeque<Bytes>);

impl Chunks {
    fn one(bytes: Bytes) -> Self {
        Chunks(VecDeque::from([bytes]))
    }
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(hyper::body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
    }
}

/// The process metrics, plain and gzip, refreshed at most once a second.
struct ProcessMetrics {
    at: Instant,
    plain: Bytes,
    gzip: Bytes,
}

impl App {
    fn process_metrics(&self) -> Arc<ProcessMetrics> {
        let current = self.process_cache.load_full();
        if current.at.elapsed() < PROCESS_METRICS_MAX_AGE {
            return current;
        }
        // One scrape refreshes; the others keep serving the previous copy.
        let Ok(_refreshing) = self.process_refresh.try_lock() else {
            return current;
        };
        let fresh = Arc::new(encode_process(&self.process));
        self.process_cache.store(Arc::clone(&fresh));
        fresh
    }
}

const PROCESS_METRICS_MAX_AGE: Duration = Duration::from_secs(1);

fn encode_process(registry: &prometheus::Registry) -> ProcessMetrics {
    let mut plain = Vec::new();
    if let Err(e) = prometheus::TextEncoder::new().encode(&registry.gather(), &mut plain) {
        tracing::warn!(error = %e, "encoding process metrics failed");
        plain.clear();
    }
    ProcessMetrics {
        at: Instant::now(),
        gzip: Bytes::from(gzip(&plain)),
        plain: Bytes::from(plain),
    }
}

fn landing_page(app: &App) -> Response<Chunks> {
    let now = crate::units::unix_now();
    let mut html = String::from(concat!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>proxy-quota-exporter</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin-bottom:1.5em}",
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.ok{color:#1a7f37}.failing{color:#cf222e}",
        ".notice{background:#fff8c5;padding:.6em;border:1px solid #d4a72c}</style></head><body>",
        "<h1>proxy-quota-exporter</h1>"
    ));
    if let Some(notice) = &app.notice {
        let _ = write!(
            html,
            "<p class=\"notice\"><strong>{}</strong></p>",
            escape_html(notice)
        );
    }
    let _ = write!(
        html,
        "<p>Version {} ({}). <a href=\"/metrics\">Metrics</a> · <a href=\"/-/healthy\">Health</a> · <a href=\"/-/ready\">Readiness</a>: {}</p>",
        catalogue::VERSION,
        catalogue::REVISION,
        if app.exposition.ready() { "ready" } else { "waiting for the first poll of every target" }
    );
    let snapshots = app.store.snapshots();
    if snapshots.is_empty() {
        html.push_str("<p>No poll has finished yet.</p>");
    }
    for t in snapshots {
        let up = t.up();
        let provider = crate::providers::spec(t.provider).map_or(t.provider, |p| p.display_name);
        let _ = write!(
            html,
            "<h2>{} <small>({provider})</small> <span class=\"{}\">{}</span></h2><p>Last poll {} ({} s ago).</p>",
            escape_html(&t.target),
            if up { "ok" } else { "failing" },
            if up { "up" } else { "failing" },
            format_unix(t.polled_at),
            (now - t.polled_at).max(0.0).round()
        );
        if t.credential_in_clear {
            html.push_str(
                "<p class=\"notice\">The credential of this target is sent over plain HTTP and can be read on the network: use an https base_url if the provider offers one.</p>",
            );
        }
        html.push_str("<table><tr><th>endpoint</th><th>status</th><th>last success</th><th>last error</th></tr>");
        for e in &t.endpoints {
            let status = if e.success { "ok" } else { "failing" };
            let error = e
                .last_error
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_default();
            let _ = write!(
                html,
                "<tr><td>{}</td><td class=\"{status}\">{status}</td><td>{}</td><td>{}</td></tr>",
                e.endpoint,
                e.last_success_unix
                    .map_or_else(|| "never".to_owned(), format_unix),
                escape_html(&error)
            );
        }
        html.push_str("</table>");
    }
    html.push_str("</body></html>\n");
    let mut response = Response::new(Chunks::one(Bytes::from(html)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// Unix seconds as `2026-11-22 08:25:01 UTC`.
fn format_unix(seconds: f64) -> String {
    chrono::DateTime::from_timestamp(seconds as i64, 0).map_or_else(
        || seconds.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn text(status: StatusCode, body: &'static str) -> Response<Chunks> {
    let mut response = Response::new(Chunks::one(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_negotiated() {
        let accepts = |v: &'static str| accepts_gzip(Some(&HeaderValue::from_static(v)));
        assert!(accepts("gzip"));
        assert!(accepts("deflate, GZIP;q=0.5"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("identity"));
        assert!(!accepts_gzip(None));
    }
}
