//! Background polling: one task per target, each on its own schedule. Every poll
//! builds a fresh [`TargetSnapshot`] and swaps it in whole, then the exposition
//! bytes are re-encoded once, so a scrape only copies bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use tokio::sync::Semaphore;
use tokio::time::MissedTickBehavior;

use crate::config::Target;
use crate::http::{PollError, Reason};
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
    /// When `reading` becomes older than `max_staleness` and stops being served.
    pub stale_at: Option<Instant>,
    pub last_error: Option<PollError>,
}

/// Snapshots of every target and their encoded exposition, shared with the server.
///
/// Polls publish snapshots; encoding is coalesced: a change after a quiet spell
/// is encoded at once, and changes that follow within [`ENCODE_SPACING`] are
/// folded into one encoding at the end of it. So a thousand targets finishing
/// their polls together cost a handful of encodings, not a thousand, and the
/// encoder never hogs the workers the polls run on.
pub struct Shared {
    inner: Mutex<Inner>,
    exposition: ArcSwap<Exposition>,
    /// Set by every change; cleared by the encoder that picks the change up.
    dirty: AtomicBool,
    /// Held while encoding.
    encoding: Mutex<()>,
    /// When the last encoding started.
    last_encoding: Mutex<Instant>,
    /// Whether a deferred encoding is already scheduled.
    scheduled: AtomicBool,
    /// When the next served reading goes stale (a re-encoding is timed for it).
    next_expiry: Mutex<Option<Instant>>,
}

/// The shortest time between two encodings of a busy exposition.
pub const ENCODE_SPACING: Duration = Duration::from_millis(25);

struct Inner {
    snapshots: BTreeMap<String, Arc<TargetSnapshot>>,
    /// The targets of the running configuration.
    expected: BTreeSet<String>,
    reload: ReloadStatus,
}

/// One encoding of every snapshot, plain and gzip-compressed.
pub struct Exposition {
    pub plain: Bytes,
    pub gzip: Bytes,
    /// Whether every configured target was in it.
    pub ready: bool,
}

/// The outcome of the last configuration (re)load.
#[derive(Debug, Clone, Copy)]
pub struct ReloadStatus {
    pub successful: bool,
    /// Unix seconds of the last successful load.
    pub success_timestamp: f64,
}

impl Shared {
    /// State for a configuration with these targets, loaded just now.
    pub fn new(targets: impl IntoIterator<Item = String>) -> Arc<Self> {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                snapshots: BTreeMap::new(),
                expected: targets.into_iter().collect(),
                reload: ReloadStatus {
                    successful: true,
                    success_timestamp: unix_now(),
                },
            }),
            exposition: ArcSwap::from_pointee(Exposition {
                plain: Bytes::new(),
                gzip: Bytes::new(),
                ready: false,
            }),
            dirty: AtomicBool::new(false),
            encoding: Mutex::new(()),
            last_encoding: Mutex::new(Instant::now() - ENCODE_SPACING),
            scheduled: AtomicBool::new(false),
            next_expiry: Mutex::new(None),
        });
        shared.dirty.store(true, Ordering::Release);
        shared.encode_pending();
        shared
    }

    /// The latest encoding of every snapshot.
    pub fn exposition(&self) -> Arc<Exposition> {
        self.exposition.load_full()
    }

    /// The latest snapshot of every target that has finished a poll.
    pub fn snapshots(&self) -> Vec<Arc<TargetSnapshot>> {
        self.lock().snapshots.values().cloned().collect()
    }

    /// Whether every configured target has finished its first poll and is in
    /// the exposition `/metrics` serves.
    pub fn ready(&self) -> bool {
        self.exposition.load().ready
    }

    /// Switches to a new set of targets: snapshots of removed targets vanish at
    /// once; those of kept targets stay until their next poll replaces them.
    pub fn set_targets(self: &Arc<Self>, targets: impl IntoIterator<Item = String>) {
        self.update(|inner| {
            inner.expected = targets.into_iter().collect();
            let expected = &inner.expected;
            inner.snapshots.retain(|name, _| expected.contains(name));
        });
    }

    /// Records the outcome of a configuration reload.
    pub fn set_reload_result(self: &Arc<Self>, successful: bool) {
        self.update(|inner| {
            inner.reload.successful = successful;
            if successful {
                inner.reload.success_timestamp = unix_now();
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a change, then makes sure an encoding that includes it follows:
    /// now, or at the end of the current spacing window.
    fn update(self: &Arc<Self>, change: impl FnOnce(&mut Inner)) {
        change(&mut self.lock());
        self.dirty.store(true, Ordering::Release);
        let since = self
            .last_encoding
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed();
        let runtime = tokio::runtime::Handle::try_current();
        match runtime {
            Ok(runtime) if since < ENCODE_SPACING => {
                if !self.scheduled.swap(true, Ordering::AcqRel) {
                    let shared = Arc::clone(self);
                    runtime.spawn(async move {
                        tokio::time::sleep(ENCODE_SPACING - since).await;
                        shared.scheduled.store(false, Ordering::Release);
                        shared.encode_pending();
                    });
                }
            }
            _ => self.encode_pending(),
        }
    }

    /// Encodes until no change is pending, unless another caller is encoding:
    /// that one sees `dirty` and encodes again.
    fn encode_pending(self: &Arc<Self>) {
        loop {
            let Ok(_encoding) = self.encoding.try_lock() else {
                return;
            };
            while self.dirty.swap(false, Ordering::AcqRel) {
                *self.last_encoding.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                let (all, reload, expected) = {
                    let inner = self.lock();
                    let all: Vec<_> = inner.snapshots.values().cloned().collect();
                    (all, inner.reload, inner.expected.clone())
                };
                let now = Instant::now();
                let plain = metrics::encode(&all, reload, now);
                let next_expiry = all
                    .iter()
                    .flat_map(|t| t.endpoints.iter().filter_map(|e| e.stale_at))
                    .filter(|at| *at > now)
                    .min();
                let ready = expected
                    .iter()
                    .all(|name| all.iter().any(|t| &t.target == name));
                self.exposition.store(Arc::new(Exposition {
                    gzip: Bytes::from(gzip(&plain)),
                    plain: Bytes::from(plain),
                    ready,
                }));
                if let Some(at) = next_expiry {
                    self.encode_at(at);
                }
            }
            drop(_encoding);
            // A change that came after the last check but before the unlock.
            if !self.dirty.load(Ordering::Acquire) {
                return;
            }
        }
    }

    /// Times a re-encoding for `at`, when a served reading goes stale, unless
    /// one is already timed for then or earlier.
    fn encode_at(self: &Arc<Self>, at: Instant) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut next = self.next_expiry.lock().unwrap_or_else(|e| e.into_inner());
        if next.is_some_and(|n| n <= at && n > Instant::now()) {
            return;
        }
        *next = Some(at);
        let shared = Arc::downgrade(self);
        runtime.spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            if let Some(shared) = shared.upgrade() {
                *shared.next_expiry.lock().unwrap_or_else(|e| e.into_inner()) = None;
                shared.update(|_| {});
            }
        });
    }

    /// Swaps in a target's new snapshot.
    fn publish(self: &Arc<Self>, snapshot: TargetSnapshot) {
        self.update(|inner| {
            // A poller stopped by a reload may finish one last poll.
            if inner.expected.contains(&snapshot.target) {
                inner
                    .snapshots
                    .insert(snapshot.target.clone(), Arc::new(snapshot));
            }
        });
    }
}

/// Gzip at the fast level: compression happens once per encoding, not per scrape.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 8),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
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
pub async fn run_target(
    target: Target,
    max_staleness: Duration,
    limiter: Arc<Semaphore>,
    shared: Arc<Shared>,
) {
    let client = match Client::for_target(&target, limiter) {
        Ok(client) => client,
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

/// Polls `endpoints` of a target concurrently, each within the poll deadline
/// (the longer of `interval` and `timeout`), and returns each one's duration and
/// outcome in order.
pub async fn poll_endpoints(
    target: &Target,
    client: &Client,
    endpoints: &[Endpoint],
) -> Vec<(Duration, Result<Reading, PollError>)> {
    let deadline = target.interval.max(target.timeout);
    futures::future::join_all(endpoints.iter().map(|&endpoint| async move {
        let started = Instant::now();
        let result = match tokio::time::timeout(deadline, client.poll(endpoint)).await {
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
    .await
}

/// Polls every enabled endpoint of a target concurrently and publishes the result.
async fn poll_once(
    target: &Target,
    client: &Client,
    states: &mut [EndpointState],
    max_staleness: Duration,
    shared: &Arc<Shared>,
) {
    let endpoints: Vec<_> = states.iter().map(|s| s.endpoint).collect();
    let results = poll_endpoints(target, client, &endpoints).await;

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
                stale_at: state.last_good.as_ref().map(|(_, at)| *at + max_staleness),
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

pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
