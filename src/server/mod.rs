//! The HTTP server: `/metrics` from the cached exposition, the front page,
//! the health endpoints and Alertmanager's API v2 for silences. Nothing here touches the network upstream. Every
//! connection is bounded ([`ServerLimits`]): a cap on how many are served at once,
//! a time limit for a request header and for an idle keep-alive connection.
//!
//! This file owns the server state ([`App`]), the accept loop and the serving of
//! one connection; the rest lives beside it, one concern a file.

mod api_v2;
mod body;
mod history;
pub mod page;
mod process;
mod routes;
mod timeouts;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::alerting::Alerting;
use crate::alerts::{self, Spike, Threshold, USAGE_SPIKE};
use crate::config::ReloadRequest;
use crate::exposition::ExpositionCache;
use crate::forecast::{History, NoHistory};
use crate::silences::Silences;
use crate::snapshots::Snapshots;
use crate::status::{Sources, Status};
use crate::store::Store;
use crate::web::ServerLimits;
use crate::web::{BasicAuth, WebConfig};

pub use body::Chunks;
use process::{encode_process, ProcessMetrics};
use timeouts::{Clock, Timed};

/// State the request handlers read.
pub struct App {
    pub store: Arc<Snapshots>,
    pub exposition: Arc<ExpositionCache>,
    process: prometheus::Registry,
    process_cache: ArcSwap<ProcessMetrics>,
    process_refresh: std::sync::Mutex<()>,
    notice: Option<String>,
    /// The store's history, for the front page's days left and charts.
    storage: Option<Arc<Store>>,
    /// Where `POST /-/reload` sends its request; `None` without a config file.
    reload: Option<mpsc::Sender<ReloadRequest>>,
    /// The silences of Alertmanager's API v2 and the front page.
    silences: Arc<Silences>,
    /// Unix seconds the server was set up at (the API's `uptime`).
    started_at: f64,
    tls: Option<TlsAcceptor>,
    basic_auth: BasicAuth,
    limits: ServerLimits,
    /// The running configuration's `alerting` section, for `ProxyUsageSpike`'s
    /// figures on the front page; `None`: the catalogue's.
    alerting: Option<watch::Receiver<Option<Alerting>>>,
    /// `--storage.retention`: how far back `/api/v1/history` may reach.
    retention: Duration,
}

impl App {
    pub fn new(
        store: Arc<Snapshots>,
        exposition: Arc<ExpositionCache>,
        notice: Option<String>,
        storage: Option<Arc<Store>>,
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
            storage,
            reload,
            silences: Silences::in_memory(),
            started_at: crate::units::unix_now(),
            tls,
            basic_auth,
            limits,
            alerting: None,
            retention: crate::store::DEFAULT_RETENTION,
        }
    }
}

impl App {
    /// The silences the API changes and the page shows (without this, the
    /// server has silences of its own, in memory).
    pub fn with_silences(mut self, silences: Arc<Silences>) -> Self {
        self.silences = silences;
        self
    }

    /// The running configuration's `alerting` section, followed across reloads
    /// (`ProxyUsageSpike`'s figures with its overrides).
    pub fn with_alerting(mut self, alerting: watch::Receiver<Option<Alerting>>) -> Self {
        self.alerting = Some(alerting);
        self
    }

    /// The store's retention (`--storage.retention`), the longest range
    /// `/api/v1/history` serves beyond the charts' 7 days.
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// `ProxyUsageSpike`'s figures as the agent and `check` evaluate them: the
    /// configuration's rule set (the catalogue's without an `alerting`
    /// section); `None` when the rule is turned off.
    fn spike_rule(&self) -> Option<Spike> {
        let rules = self
            .alerting
            .as_ref()
            .and_then(|a| a.borrow().as_ref().map(|a| a.rules.clone()))
            .unwrap_or_default();
        rules
            .variant(USAGE_SPIKE.name, alerts::Severity::Warning)
            .and_then(|v| match v.threshold {
                Some(Threshold::Spike(s)) => Some(s),
                _ => None,
            })
    }

    /// The status of every target with the long lists cut to `lists`, and
    /// with `histories` the last 7 days of every pool, read off the async
    /// workers (the store is on disk).
    async fn status(
        &self,
        histories: bool,
        lists: crate::lists::ListWindow,
    ) -> Option<(Status, page::Histories)> {
        let view = self.store.view();
        let storage = self.storage.clone();
        let notice = self.notice.clone();
        let silences = self.silences.list(crate::units::unix_now());
        let shard = self.exposition.shard();
        let shard = (shard.total() > 1).then(|| shard.to_string());
        let spike = self.spike_rule();
        let built = tokio::task::spawn_blocking(move || {
            let history: &dyn History = match &storage {
                Some(storage) => storage.as_ref(),
                None => &NoHistory,
            };
            let now = crate::units::unix_now();
            let status = crate::status::build(
                &view,
                &Sources {
                    history,
                    has_store: storage.is_some(),
                    notice: notice.as_deref(),
                    silences: &silences,
                    shard,
                    spike,
                    now,
                    instant: Instant::now(),
                    lists,
                },
            );
            let mut charts = page::Histories::new();
            if histories && storage.is_some() {
                for t in &status.targets {
                    for p in &t.pools {
                        let points =
                            history.pool_points(t.provider, &t.name, &p.pool, now - 7.0 * 86_400.0);
                        charts.insert((t.name.clone(), p.pool.clone()), points);
                    }
                }
            }
            (status, charts)
        });
        built.await.ok()
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
                // A response of many chunks (a probe) goes out in several writes:
                // without this, Nagle's algorithm holds the last one back until the
                // client's delayed ACK, some 40 ms later.
                let _ = stream.set_nodelay(true);
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
            let response = routes::handle(&app, req).await;
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
