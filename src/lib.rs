//! proxy-quota-exporter: polls proxy providers' APIs in the background and serves
//! their traffic, package, sub-account and static IP figures as Prometheus gauges.
//!
//! Data flows one way: [`config`] → [`supervisor`] and [`scheduler`] (one task
//! per target) → [`providers`] (plain [`readings`]) → [`snapshots`] →
//! [`exposition`] (bytes encoded by [`encoder`] from the [`metrics`] catalogue) →
//! [`server`]. ARCHITECTURE.md has the map.

pub mod agent;
pub mod alerting;
pub mod alerts;
pub mod bounded;
pub mod budget;
pub mod check;
pub mod config;
pub mod encoder;
pub mod exposition;
#[doc(hidden)]
pub mod failpoint;
pub mod forecast;
pub mod http;
pub mod lists;
pub mod metrics;
pub mod notify;
pub mod promql;
pub mod providers;
pub mod readings;
pub mod scheduler;
pub mod secret;
pub mod server;
pub mod shard;
pub mod silences;
pub mod simulator;
pub mod snapshots;
pub mod spike;
pub mod status;
pub mod store;
pub mod supervisor;
pub mod units;
pub mod web;
pub mod yaml;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub use config::Config;

/// How `run_with` serves beyond the configuration itself.
#[derive(Default)]
pub struct Options {
    /// The file the configuration came from: enables reloads (`SIGHUP` and
    /// `POST /-/reload`).
    pub config_file: Option<PathBuf>,
    /// TLS and basic authentication for the HTTP server.
    pub web: Option<web::WebConfig>,
    /// The embedded store (history, alert state); `None` runs without one, as
    /// does a store that cannot be opened.
    pub storage: Option<store::StoreOptions>,
    /// The share of the configuration's targets this process polls and serves,
    /// at start and after every reload (default: all of them).
    pub shard: shard::Shard,
    /// `--web.external-url`: where people reach the exporter (behind a proxy,
    /// say); alerts' `generatorURL` and the `Watchdog`'s `instance` come from
    /// it. `None`: `http://` and the listen address (the host name when it
    /// listens on every address).
    pub external_url: Option<String>,
    /// How the alerting agent delivers notifications (tests shorten the backoff).
    pub dispatch: Option<notify::DispatchSettings>,
}

/// A request to reload the configuration, answered with the outcome.
/// Polls every target of `config` and serves HTTP on `listener` until `shutdown`
/// resolves. Tests call this on `127.0.0.1:0`.
pub async fn run(listener: TcpListener, config: Config, shutdown: impl Future<Output = ()>) {
    run_with(listener, config, Options::default(), shutdown).await
}

/// [`run`] with reloads, web options, the store and sharding.
pub async fn run_with(
    listener: TcpListener,
    mut config: Config,
    options: Options,
    shutdown: impl Future<Output = ()>,
) {
    config.keep_shard(options.shard);
    let snapshots = snapshots::Snapshots::new(config.targets.iter().map(|t| t.name.clone()));
    let exposition = exposition::ExpositionCache::new(&snapshots, options.shard);
    let _encoding = AbortOnDrop(tokio::spawn(
        Arc::clone(&exposition).run(Arc::clone(&snapshots)),
    ));
    let retention = options
        .storage
        .as_ref()
        .map_or(store::DEFAULT_RETENTION, |s| s.retention);
    let store = open_store(options.storage, &snapshots).await;
    let _recording = store
        .clone()
        .map(|s| AbortOnDrop(tokio::spawn(store::record(Arc::clone(&snapshots), s))));
    let silences = open_silences(store.as_ref()).await;
    let _silence_upkeep = count_silences(&silences, &snapshots);
    let (alerting, alerting_changes) = tokio::sync::watch::channel(config.alerting.clone());
    let external_url = options
        .external_url
        .clone()
        .unwrap_or_else(|| default_external_url(&listener));
    let (stop_agent, agent_stopping) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(agent::run::run(
        alerting_changes,
        agent::run::Context {
            snapshots: Arc::clone(&snapshots),
            store: store.clone(),
            silences: Arc::clone(&silences),
            instance: agent::run::instance_of(&external_url),
            external_url: external_url.trim_end_matches('/').to_owned(),
            dispatch: options.dispatch.clone().unwrap_or_default(),
            shutdown: agent_stopping,
        },
    ));
    let (reload_tx, reload_rx) = mpsc::channel::<config::ReloadRequest>(4);
    let app = Arc::new(
        server::App::new(
            Arc::clone(&snapshots),
            exposition,
            config.notice.clone(),
            store.clone(),
            options.config_file.is_some().then_some(reload_tx),
            options.web,
        )
        .with_silences(Arc::clone(&silences))
        .with_alerting(alerting.subscribe())
        .with_retention(retention),
    );
    let supervisor = supervisor::supervise(
        config,
        options.config_file,
        options.shard,
        snapshots,
        reload_rx,
        alerting,
    );
    tokio::select! {
        () = server::serve(listener, app, shutdown) => {}
        () = supervisor => {}
    }
    // The agent delivers what is due and saves the rest before the snapshots closes.
    let _ = stop_agent.send(true);
    let mut agent = AbortOnDrop(agent);
    let grace = agent::run::SHUTDOWN_GRACE + std::time::Duration::from_secs(5);
    if tokio::time::timeout(grace, &mut agent.0).await.is_err() {
        tracing::warn!("the alerting agent did not stop in time");
    }
    drop((agent, _recording, _silence_upkeep, silences));
    if let Some(store) = store {
        close(store).await;
    }
}

/// Opens the store `settings` describe, if any, and says on `/metrics` whether
/// it opened.
async fn open_store(
    settings: Option<store::StoreOptions>,
    snapshots: &snapshots::Snapshots,
) -> Option<Arc<store::Store>> {
    let settings = settings?;
    let store = store::Store::open_in_background(settings).await;
    snapshots.set_storage_status(match &store {
        Some(store) => store.status(),
        None => snapshots::StoreStatus::Unavailable,
    });
    store
}

/// Keeps the silences' upkeep running and their counts on `/metrics`.
fn count_silences(
    silences: &Arc<silences::Silences>,
    snapshots: &Arc<snapshots::Snapshots>,
) -> AbortOnDrop {
    let snapshots = Arc::clone(snapshots);
    AbortOnDrop(tokio::spawn(Arc::clone(silences).maintain(
        move |(active, pending, expired)| {
            snapshots.set_silence_counts(snapshots::SilenceCounts {
                active: active as u64,
                pending: pending as u64,
                expired: expired as u64,
            })
        },
    )))
}

/// Where the exporter is reached when `--web.external-url` is not given:
/// `http://` and the listen address, with the machine's host name in place of
/// an address that means every interface.
fn default_external_url(listener: &TcpListener) -> String {
    let Ok(address) = listener.local_addr() else {
        return "http://localhost".to_owned();
    };
    if address.ip().is_unspecified() {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned());
        format!("http://{host}:{}", address.port())
    } else {
        format!("http://{address}")
    }
}

/// The silences, kept in `storage` when there is one (read from it off the
/// async workers), else in memory.
async fn open_silences(storage: Option<&Arc<store::Store>>) -> Arc<silences::Silences> {
    let kept = storage.map(|s| Arc::clone(s) as Arc<dyn silences::SilenceStore>);
    tokio::task::spawn_blocking(move || silences::Silences::new(kept))
        .await
        .unwrap_or_else(|_| silences::Silences::in_memory())
}

/// Waits (at most 5 s) until the tasks that used the store have wound down, so
/// that it is closed and its lock released when `run_with` returns: an
/// exporter started next on the same directory, in this process, finds it free.
async fn close(mut storage: Arc<store::Store>) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match Arc::try_unwrap(storage) {
            Ok(storage) => {
                drop(storage);
                return;
            }
            Err(shared) if tokio::time::Instant::now() < deadline => {
                storage = shared;
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(_) => {
                tracing::warn!("the store is still in use at shutdown");
                return;
            }
        }
    }
}

/// Stops a background task when the future that started it ends or is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
