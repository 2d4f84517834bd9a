//! The supervisor: runs one poller task per target of the running
//! configuration, restarts a poller that stops unexpectedly (reporting it as
//! failed with reason `internal`), and applies reloads (`SIGHUP`,
//! `POST /-/reload`) without touching unchanged targets; a reload's `alerting`
//! section is handed to the agent.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::{AbortHandle, JoinSet};

use crate::alerting::Alerting;
use crate::config::ReloadRequest;
use crate::config::{Config, Target};
use crate::shard::Shard;
use crate::snapshots::{Snapshots, TargetSnapshot};
use crate::{failpoint, scheduler};

/// Runs the pollers of the current configuration, restarts any that stops
/// unexpectedly, and swaps them on reload. `config` holds `shard`'s targets
/// already; a reloaded file is cut down to them the same way.
pub async fn supervise(
    config: Config,
    config_file: Option<PathBuf>,
    shard: Shard,
    store: Arc<Snapshots>,
    mut requests: mpsc::Receiver<ReloadRequest>,
    alerting: watch::Sender<Option<Alerting>>,
) {
    let mut pollers = Pollers::start(config, &store);
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
                pollers.reap(ended, &store);
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
            Ok(mut config) => {
                config.keep_shard(shard);
                store.set_targets(config.targets.iter().map(|t| t.name.clone()));
                alerting.send_if_modified(|running| {
                    let changed = *running != config.alerting;
                    if changed {
                        running.clone_from(&config.alerting);
                    }
                    changed
                });
                let targets = config.targets.len();
                pollers.apply(config, &store).await;
                store.set_reload_result(true);
                tracing::info!(file = %path.display(), targets, "configuration reloaded");
                Ok(())
            }
            Err(e) => {
                store.set_reload_result(false);
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
    fn start(config: Config, store: &Arc<Snapshots>) -> Self {
        let mut pollers = Pollers {
            tasks: JoinSet::new(),
            running: HashMap::new(),
            names: HashMap::new(),
            max_staleness: config.max_staleness,
            max_concurrent_requests: config.max_concurrent_requests,
            limiter: Arc::new(Semaphore::new(config.max_concurrent_requests)),
        };
        for target in config.targets {
            pollers.spawn(target, store, None, 0);
        }
        pollers
    }

    /// Starts polling `target`; after `crashes` crashes in a row, first waits
    /// out the backoff and resumes from the target's last snapshot.
    fn spawn(
        &mut self,
        target: Target,
        store: &Arc<Snapshots>,
        resume: Option<Arc<TargetSnapshot>>,
        crashes: u32,
    ) {
        let delay = match crashes {
            0 => Duration::ZERO,
            n => RESTART_BACKOFF
                .saturating_mul(1 << (n - 1).min(16))
                .min(MAX_RESTART_BACKOFF),
        };
        let poll = scheduler::run_target(
            target.clone(),
            self.max_staleness,
            Arc::clone(&self.limiter),
            Arc::clone(store),
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
        store: &Arc<Snapshots>,
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
        let snapshot = Arc::new(scheduler::crashed(
            store.snapshot(&name).as_deref(),
            &running.target,
            &message,
        ));
        store.publish(TargetSnapshot::clone(&snapshot));
        self.spawn(running.target, store, Some(snapshot), crashes);
    }

    /// Switches to a reloaded configuration. Unchanged targets keep polling, with
    /// their counters and last values; changed and new ones are (re)started,
    /// removed ones stopped. A change of the shared settings restarts all.
    async fn apply(&mut self, config: Config, store: &Arc<Snapshots>) {
        if config.max_staleness != self.max_staleness
            || config.max_concurrent_requests != self.max_concurrent_requests
        {
            self.tasks.shutdown().await;
            *self = Pollers::start(config, store);
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
                    self.spawn(target, store, None, 0);
                }
            }
        }
        for running in previous.into_values() {
            running.handle.abort();
        }
    }
}
