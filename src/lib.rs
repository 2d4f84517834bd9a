//! proxy-quota-exporter: polls proxy providers' APIs in the background and serves
//! their traffic, package, sub-account and static IP figures as Prometheus gauges.
//!
//! Data flows one way: [`config`] → [`poller`] (one task per target) →
//! [`providers`] (plain readings) → [`metrics`] (encoded bytes) → [`server`].

pub mod catalogue;
pub mod check;
pub mod config;
#[doc(hidden)]
pub mod failpoint;
pub mod http;
pub mod encoder;
pub mod poller;
pub mod providers;
pub mod readings;
pub mod secret;
pub mod server;
pub mod simulator;
pub mod units;
pub mod web;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Runs the pollers of the current configuration, restarts any that stops
/// unexpectedly, and swaps them on reload.
async fn supervise(
    config: Config,
    config_file: Option<PathBuf>,
    shared: Arc<poller::Shared>,
    mut requests: mpsc::Receiver<ReloadRequest>,
) {
    let mut pollers = Pollers::start(config, &shared);
    #[cfg(unix)]
    let mut hangup = config_file
        .as_ref()
        .and_then(|_| tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok());
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
            Some(ended) = pollers.tasks.join_next_with_id() => {
                pollers.reap(ended, &shared);
                continue;
            }
        };
        let Some(path) = config_file.as_deref() else {
            if let Some(reply) = reply {
                let _ = reply.send(Err("no configuration file to reload".into()));
            }
            continue;
        };
        let outcome = match load_isolated(path) {
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
                Err(e)
            }
        };
        if let Some(reply) = reply {
            let _ = reply.send(outcome);
        }
    }
}

/// Loads the configuration for a reload. A panic while loading (a bug, never
/// expected) refuses the reload like a bad file, so the running configuration
/// keeps serving.
fn load_isolated(path: &std::path::Path) -> Result<Config, String> {
    let loaded = std::panic::catch_unwind(|| {
        if failpoint::hit("reload") {
            panic!("failpoint reload hit");
        }
        Config::load(path)
    });
    match loaded {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(panic) => Err(format!(
            "{}: internal error while loading: {}",
            path.display(),
            panic_message(panic.as_ref())
        )),
    }
}

/// The text a panic carried, when it carried text.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// The first restart of a crashed poller waits this long; each further crash
/// in a row doubles it, up to [`MAX_RESTART_BACKOFF`].
const RESTART_BACKOFF: Duration = Duration::from_secs(1);
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(300);
/// A poller that ran this long before crashing starts its backoff afresh.
const HEALTHY_RUN: Duration = Duration::from_secs(600);

/// One running poller task.
struct Running {
    target: Target,
    handle: AbortHandle,
    started: Instant,
    /// Crashes in a row before this start.
    crashes: u32,
}

/// The running pollers, one task per target, and the settings they share.
struct Pollers {
    tasks: JoinSet<()>,
    running: HashMap<String, Running>,
    /// Which target each task polls.
    names: HashMap<tokio::task::Id, String>,
    max_staleness: Duration,
    max_concurrent_requests: usize,
    limiter: Arc<Semaphore>,
}

impl Pollers {
    fn start(config: Config, shared: &Arc<poller::Shared>) -> Self {
        let mut pollers = Pollers {
            tasks: JoinSet::new(),
            running: HashMap::new(),
            names: HashMap::new(),
            max_staleness: config.max_staleness,
            max_concurrent_requests: config.max_concurrent_requests,
            limiter: Arc::new(Semaphore::new(config.max_concurrent_requests)),
        };
        for target in config.targets {
            pollers.spawn(target, shared, None, 0);
        }
        pollers
    }

    /// Starts polling `target`; after `crashes` crashes in a row, first waits
    /// out the backoff and resumes from the target's last snapshot.
    fn spawn(
        &mut self,
        target: Target,
        shared: &Arc<poller::Shared>,
        resume: Option<Arc<poller::TargetSnapshot>>,
        crashes: u32,
    ) {
        let delay = match crashes {
            0 => Duration::ZERO,
            n => RESTART_BACKOFF
                .saturating_mul(1 << (n - 1).min(16))
                .min(MAX_RESTART_BACKOFF),
        };
        let poll = poller::run_target(
            target.clone(),
            self.max_staleness,
            Arc::clone(&self.limiter),
            Arc::clone(shared),
            resume,
        );
        let handle = self.tasks.spawn(async move {
            tokio::time::sleep(delay).await;
            poll.await;
        });
        self.names.insert(handle.id(), target.name.clone());
        let running = Running {
            target,
            handle,
            started: Instant::now() + delay,
            crashes,
        };
        self.running.insert(running.target.name.clone(), running);
    }

    /// Handles a poller task that ended: one stopped by a reload is forgotten;
    /// one that panicked (or returned, which it never should) is reported as
    /// failed with reason `internal` and restarted with backoff.
    fn reap(
        &mut self,
        ended: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
        shared: &Arc<poller::Shared>,
    ) {
        let (id, message) = match ended {
            Ok((id, ())) => (id, "poller stopped unexpectedly".to_owned()),
            Err(e) if e.is_cancelled() => {
                self.names.remove(&e.id());
                return;
            }
            Err(e) => {
                let id = e.id();
                let panic = e.into_panic();
                (
                    id,
                    format!("poller panicked: {}", panic_message(panic.as_ref())),
                )
            }
        };
        let Some(name) = self.names.remove(&id) else {
            return;
        };
        let Some(running) = self.running.remove(&name).filter(|r| r.handle.id() == id) else {
            return;
        };
        let crashes = if running.started.elapsed() >= HEALTHY_RUN {
            1
        } else {
            running.crashes + 1
        };
        tracing::error!(target = %name, error = %message, crashes, "poller stopped; restarting it");
        let snapshot = Arc::new(poller::crashed(
            shared.snapshot(&name).as_deref(),
            &running.target,
            &message,
        ));
        shared.publish(poller::TargetSnapshot::clone(&snapshot));
        self.spawn(running.target, shared, Some(snapshot), crashes);
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
                Some(running) if running.target == target => {
                    self.running.insert(target.name.clone(), running);
                }
                replaced => {
                    if let Some(running) = replaced {
                        running.handle.abort();
                    }
                    self.spawn(target, shared, None, 0);
                }
            }
        }
        for running in previous.into_values() {
            running.handle.abort();
        }
    }
}
