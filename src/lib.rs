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

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::{AbortHandle, JoinSet};

pub use config::Config;
use config::Target;

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
    let mut pollers = Pollers::start(config, &shared);
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
                shared.set_targets(config.targets.iter().map(|t| t.name.clone()));
                let targets = config.targets.len();
                pollers.apply(config, &shared).await;
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

/// The running pollers, one task per target, and the settings they share.
struct Pollers {
    tasks: JoinSet<()>,
    running: HashMap<String, (Target, AbortHandle)>,
    max_staleness: Duration,
    max_concurrent_requests: usize,
    limiter: Arc<Semaphore>,
}

impl Pollers {
    fn start(config: Config, shared: &Arc<poller::Shared>) -> Self {
        let mut pollers = Pollers {
            tasks: JoinSet::new(),
            running: HashMap::new(),
            max_staleness: config.max_staleness,
            max_concurrent_requests: config.max_concurrent_requests,
            limiter: Arc::new(Semaphore::new(config.max_concurrent_requests)),
        };
        for target in config.targets {
            pollers.spawn(target, shared);
        }
        pollers
    }

    fn spawn(&mut self, target: Target, shared: &Arc<poller::Shared>) {
        let handle = self.tasks.spawn(poller::run_target(
            target.clone(),
            self.max_staleness,
            Arc::clone(&self.limiter),
            Arc::clone(shared),
        ));
        self.running.insert(target.name.clone(), (target, handle));
    }

    /// Switches to a reloaded configuration. Unchanged targets keep polling, with
    /// their counters and last values; changed and new ones are (re)started,
    /// removed ones stopped. A change of the shared settings restarts all.
    async fn apply(&mut self, config: Config, shared: &Arc<poller::Shared>) {
        if config.max_staleness != self.max_staleness
            || config.max_concurrent_requests != self.max_concurrent_requests
        {
            self.tasks.shutdown().await;
            *self = Pollers::start(config, shared);
            return;
        }
        let mut previous = std::mem::take(&mut self.running);
        for target in config.targets {
            match previous.remove(&target.name) {
                Some((old, handle)) if old == target => {
                    self.running.insert(target.name.clone(), (old, handle));
                }
                replaced => {
                    if let Some((_, handle)) = replaced {
                        handle.abort();
                    }
                    self.spawn(target, shared);
                }
            }
        }
        for (_, handle) in previous.into_values() {
            handle.abort();
        }
        // Reap the stopped tasks so the set does not grow with reloads.
        while self.tasks.try_join_next().is_some() {}
    }
}
