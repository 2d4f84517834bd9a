//! proxy-quota-exporter: polls proxy providers' APIs in the background and serves
//! their traffic, package, sub-account and static IP figures as Prometheus gauges.
//!
//! Data flows one way: [`config`] → [`supervisor`] and [`scheduler`] (one task
//! per target) → [`providers`] (plain [`readings`]) → [`store`] (snapshots) →
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
pub mod metrics;
pub mod notify;
pub mod providers;
pub mod readings;
pub mod scheduler;
pub mod secret;
pub mod server;
pub mod shard;
pub mod silences;
pub mod simulator;
pub mod status;
pub mod storage;
pub mod store;
pub mod supervisor;
pub mod units;
pub mod web;
pub mod yaml;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

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
    pub storage: Option<storage::StorageOptions>,
    /// The share of the configuration's targets this process polls and serves,
    /// at start and after every reload (default: all of them).
    pub shard: shard::Shard,
}

/// A request to reload the configuration, answered with the outcome.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

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
    let store = store::Store::new(config.targets.iter().map(|t| t.name.clone()));
    let exposition = exposition::ExpositionCache::new(&store, options.shard);
    let _encoding = AbortOnDrop(tokio::spawn(
        Arc::clone(&exposition).run(Arc::clone(&store)),
    ));
    let storage = match options.storage {
        Some(settings) => {
            let storage = storage::Storage::open_in_background(settings).await;
            store.set_storage_status(match &storage {
                Some(storage) => storage.status(),
                None => store::StorageStatus::Unavailable,
            });
            storage
        }
        None => None,
    };
    let _recording = storage
        .clone()
        .map(|s| AbortOnDrop(tokio::spawn(storage::record(Arc::clone(&store), s))));
    let (alerting, alerting_changes) = tokio::sync::watch::channel(config.alerting.clone());
    let _agent = AbortOnDrop(tokio::spawn(agent::run::run(
        alerting_changes,
        Arc::clone(&store),
        storage.clone(),
    )));
    let (reload_tx, reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let app = Arc::new(server::App::new(
        Arc::clone(&store),
        exposition,
        config.notice.clone(),
        storage.clone(),
        options.config_file.is_some().then_some(reload_tx),
        options.web,
    ));
    let supervisor = supervisor::supervise(
        config,
        options.config_file,
        options.shard,
        store,
        reload_rx,
        alerting,
    );
    tokio::select! {
        () = server::serve(listener, app, shutdown) => {}
        () = supervisor => {}
    }
    drop((_agent, _recording));
    if let Some(storage) = storage {
        close(storage).await;
    }
}

/// Waits (at most 5 s) until the tasks that used the store have wound down, so
/// that it is closed and its lock released when `run_with` returns: an
/// exporter started next on the same directory, in this process, finds it free.
async fn close(mut storage: Arc<storage::Storage>) {
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
