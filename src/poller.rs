//! Background polling: one task per target, each on its own schedule. Every poll
//! builds a fresh [`TargetSnapshot`] and swaps it in whole, then the exposition
//! bytes are re-encoded once, so a scrape only copies bytes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use tokio::time::MissedTickBehavior;

use crate::config::Target;
use crate::http::{HttpClient, PollError, Reason};
use crate::metrics;
use crate::providers::{Client, Endpoint, Reading};

/// The state of one target after its last poll.
#[derive(Debug)]
pub struct TargetSnapshot {
    pub target: String,
    pub provider: &'static str,
    pub endpoints: Vec<EndpointSnapshot>,
    /// Unix seconds at the end of the poll.
    pub polled_at: f64,
}

/// One endpoint of a target after its last poll.
#[derive(Debug)]
pub struct EndpointSnapshot {
    pub endpoint: Endpoint,
    pub success: bool,
    pub duration_seconds: f64,
    pub last_success_unix: Option<f64>,
    /// Failed polls so far, indexed by [`Reason::index`].
    pub errors: [u64; 7],
    /// The last good reading, while it is younger than `max_staleness`.
    pub reading: Option<Arc<Reading>>,
    pub last_error: Option<PollError>,
}

/// Snapshots of every target and their encoded exposition, shared with the server.
pub struct Shared {
    snapshots: Mutex<BTreeMap<String, Arc<TargetSnapshot>>>,
    encoded: ArcSwap<Bytes>,
    targets: usize,
    first_polls_done: AtomicUsize,
}

impl Shared {
    pub fn new(targets: usize) -> Self {
        Shared {
            snapshots: Mutex::new(BTreeMap::new()),
            encoded: ArcSwap::from_pointee(Bytes::from(metrics::encode(&[]))),
            targets,
            first_polls_done: AtomicUsize::new(0),
        }
    }

    /// The exposition of the latest snapshots.
    pub fn encoded(&self) -> Arc<Bytes> {
        self.encoded.load_full()
    }

    /// The latest snapshot of every target that has finished a poll.
    pub fn snapshots(&self) -> Vec<Arc<TargetSnapshot>> {
        self.lock().values().cloned().collect()
    }

    /// Whether every target has finished its first poll.
    pub fn ready(&self) -> bool {
        self.first_polls_done.load(Ordering::Relaxed) >= self.targets
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<TargetSnapshot>>> {
        self.snapshots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Swaps in a target's new snapshot and re-encodes the exposition.
    fn publish(&self, snapshot: TargetSnapshot) {
        let mut map = self.lock();
        let first = map
            .insert(snapshot.target.clone(), Arc::new(snapshot))
            .is_none();
        let all: Vec<_> = map.values().cloned().collect();
        self.encoded
            .store(Arc::new(Bytes::from(metrics::encode(&all))));
        drop(map);
        if first {
            self.first_polls_done.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What a target's task keeps from poll to poll for one endpoint.
struct EndpointState {
    endpoint: Endpoint,
    errors: [u64; 7],
    last_good: Option<(Arc<Reading>, Instant)>,
    last_success_unix: Option<f64>,
}

/// Polls one target forever: first right away, then every `interval` after a
/// small random offset so that targets do not hit their APIs in lockstep.
pub async fn run_target(target: Target, max_staleness: Duration, shared: Arc<Shared>) {
    let client = match HttpClient::new(target.timeout) {
        Ok(http) => (target.provider.build)(&target, http),
        Err(e) => {
            tracing::error!(target = %target.name, error = %e.without_url(), "cannot build HTTP client");
            return;
        }
    };
    let mut states: Vec<EndpointState> = target
        .endpoints
        .iter()
        .map(|&endpoint| EndpointState {
            endpoint,
            errors: [0; 7],
            last_good: None,
            last_success_unix: None,
        })
        .collect();

    poll_once(&target, &client, &mut states, max_staleness, &shared).await;
    let jitter = target
        .interval
        .mul_f64(fastrand::f64() * 0.1)
        .min(Duration::from_secs(10));
    tokio::time::sleep(jitter).await;
    let mut ticker = tokio::time::interval(target.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        poll_once(&target, &client, &mut states, max_staleness, &shared).await;
    }
}

/// Polls every enabled endpoint of a target concurrently and publishes the result.
async fn poll_once(
    target: &Target,
    client: &Client,
    states: &mut [EndpointState],
    max_staleness: Duration,
    shared: &Shared,
) {
    let deadline = target.interval.max(target.timeout);
    let results = futures::future::join_all(states.iter().map(|s| async move {
        let started = Instant::now();
        let result = match tokio::time::timeout(deadline, client.poll(s.endpoint)).await {
            Ok(result) => result,
            Err(_) => Err(PollError::new(
                Reason::Timeout,
                format!(
                    "poll did not finish within {}",
                    humantime::format_duration(deadline)
                ),
            )),
        };
        (started.elapsed(), result)
    }))
    .await;

    let now = Instant::now();
    let endpoints = states
        .iter_mut()
        .zip(results)
        .map(|(state, (elapsed, result))| {
            let (success, last_error) = match result {
                Ok(reading) => {
                    state.last_good = Some((Arc::new(reading), now));
                    state.last_success_unix = Some(unix_now());
                    tracing::debug!(target = %target.name, endpoint = %state.endpoint, "poll succeeded");
                    (true, None)
                }
                Err(error) => {
                    state.errors[error.reason.index()] += 1;
                    tracing::warn!(
                        target = %target.name,
                        provider = target.provider.name,
                        endpoint = %state.endpoint,
                        reason = %error.reason,
                        error = %error.message,
                        "poll failed"
                    );
                    (false, Some(error))
                }
            };
            if state
                .last_good
                .as_ref()
                .is_some_and(|(_, at)| now.duration_since(*at) > max_staleness)
            {
                state.last_good = None;
            }
            EndpointSnapshot {
                endpoint: state.endpoint,
                success,
                duration_seconds: elapsed.as_secs_f64(),
                last_success_unix: state.last_success_unix,
                errors: state.errors,
                reading: state.last_good.as_ref().map(|(r, _)| Arc::clone(r)),
                last_error,
            }
        })
        .collect();

    shared.publish(TargetSnapshot {
        target: target.name.clone(),
        provider: target.provider.name,
        endpoints,
        polled_at: unix_now(),
    });
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
