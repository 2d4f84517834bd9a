//! proxy-quota-exporter: polls proxy providers' APIs in the background and serves
//! their traffic, package, sub-account and static IP figures as Prometheus gauges.
//!
//! Data flows one way: [`config`] → [`poller`] (one task per target) →
//! [`providers`] (plain readings) → [`metrics`] (encoded bytes) → [`server`].

pub mod check;
pub mod config;
pub mod http;
pub mod metrics;
pub mod poller;
pub mod providers;
pub mod secret;
pub mod server;
pub mod simulator;
pub mod units;
pub mod web;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinSet;

pub use config::Config;

/// How `run_with` serves beyond the configuration itself.
#[derive(Default)]
pub struct Options {
    /// The file the configuration came from: enables reloads (`SIGHUP` and
    /// `POST /-/reload`).
    pub config_file: Option<PathBuf>,
    /// TLS and basic authentication for the HTTP server.
    pub web: Option<web::WebConfig>,
}

/// A request to reload the configuration, answered with the outcome.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// Polls every target of `config` and serves HTTP on `listener` until `shutdown`
/// resolves. Tests call this on `127.0.0.1:0`.
pub async fn run(listener: TcpListener, config: Config, shutdown: impl Future<Output = ()>) {
    run_with(listener, config, Options::default(), shutdown).await
}

/// [`run`] with reloads and web options.
pub async fn run_with(
    listener: TcpListener,
    config: Config,
    options: Options,
    shutdown: impl Future<Output = ()>,
) {
    let shared = poller::Shared::new(config.targets.iter().map(|t| t.name.clone()));
    let (reload_tx, reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let app = Arc::new(server::App::new(
        Arc::clone(&shared),
        config.notice.clone(),
        options.config_file.is_some().then_some(reload_tx),
        options.web,
    ));
    let supervisor = supervise(config, options.config_file, Arc::clone(&shared), reload_rx);
    tokio::select! {
        () = server::serve(listener, app, shutdown) => {}
        () = supervisor => {}
    }
}

/// Runs the pollers of the current configuration and swaps them on reload.
async fn supervise(
    config: Config,
    config_file: Option<PathBuf>,
    shared: Arc<poller::Shared>,
    mut requests: mpsc::Receiver<ReloadRequest>,
) {
    let mut pollers = start_pollers(config, &shared);
    let Some(path) = config_file else {
        // Nothing to reload from: poll until the server stops.
        return std::future::pending().await;
    };
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hangup_signal = async {
            match hangup.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup_signal = std::future::pending::<Option<()>>();
        let reply = tokio::select! {
            Some(reply) = requests.recv() => Some(reply),
            _ = hangup_signal => None,
        };
        let outcome = match Config::load(&path) {
            Ok(config) => {
                pollers.shutdown().await;
                shared.set_targets(config.targets.iter().map(|t| t.name.clone()));
                let targets = config.targets.len();
                pollers = start_pollers(config, &shared);
                shared.set_reload_result(true);
                tracing::info!(file = %path.display(), targets, "configuration reloaded");
                Ok(())
            }
            Err(e) => {
                shared.set_reload_result(false);
                tracing::error!(error = %e, "configuration reload refused; the running configuration stays");
                Err(e.to_string())
            }
        };
        if let Some(reply) = reply {
            let _ = reply.send(outcome);
        }
    }
}

fn start_pollers(config: Config, shared: &Arc<poller::Shared>) -> JoinSet<()> {
    let limiter = Arc::new(Semaphore::new(config.max_concurrent_requests));
    let mut pollers = JoinSet::new();
    for target in config.targets {
        pollers.spawn(poller::run_target(
            target,
            config.max_staleness,
            Arc::clone(&limiter),
            Arc::clone(shared),
        ));
    }
    pollers
}
