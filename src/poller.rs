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

use crate::config::Target;
use crate::http::{PollError, Reason};
use crate::catalogue::{self, MetricDef};
use crate::encoder;
use crate::readings::{Emit, Reading};
use crate::providers::{Client, Endpoint};

/// The state of one target after its last poll.
#[derive(Debug, Clone)]
pub struct TargetSnapshot {
    pub target: String,
    pub provider: &'static str,
    pub endpoints: Vec<EndpointSnapshot>,
    /// Unix seconds at the end of the poll.
    pub polled_at: f64,
    /// Whether the target's credential crosses the network unencrypted (plain
    /// HTTP to a host other than loopback).
    pub credential_in_clear: bool,
}

impl TargetSnapshot {
    /// Whether the last poll of every enabled endpoint succeeded (`proxy_up`).
    pub fn up(&self) -> bool {
        self.endpoints.iter().all(|e| e.success)
    }

    /// Writes the target's poll status samples of `family` (`proxy_up` and the
    /// `proxy_exporter_poll_*` families): label values after `provider` and `target`.
    pub fn status_samples(&self, family: &MetricDef, emit: &mut Emit) {
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        if family.is(&catalogue::UP) {
            emit(&[], flag(self.up()));
        }
        for e in &self.endpoints {
            let endpoint = e.endpoint.as_str();
            if family.is(&catalogue::POLL_SUCCESS) {
                emit(&[endpoint], flag(e.success));
            } else if family.is(&catalogue::POLL_DURATION) {
                emit(&[endpoint], e.duration_seconds);
            } else if family.is(&catalogue::LAST_SUCCESS) {
                if let Some(at) = e.last_success_unix {
                    emit(&[endpoint], at);
                }
            } else if family.is(&catalogue::POLL_ERRORS) {
                for reason in Reason::ALL {
                    emit(&[endpoint, reason.as_str()], e.errors[reason.index()] as f64);
                }
            }
        }
    }
}

/// One endpoint of a target after its last poll.
#[derive(Debug, Clone)]
pub struct EndpointSnapshot {
    pub endpoint: Endpoint,
    pub success: bool,
    pub duration_seconds: f64,
    pub last_success_unix: Option<f64>,
    /// Failed polls so far, indexed by [`Reason::index`].
    pub errors: [u64; Reason::COUNT],
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
                let plain = encoder::encode(&all, reload, now);
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

    /// The latest snapshot of one target.
    pub fn snapshot(&self, target: &str) -> Option<Arc<TargetSnapshot>> {
        self.lock().snapshots.get(target).cloned()
    }

    /// Swaps in a target's new snapshot.
    pub fn publish(self: &Arc<Self>, snapshot: TargetSnapshot) {
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
    errors: [u64; Reason::COUNT],
    last_good: Option<Arc<Reading>>,
    /// When `last_good` stops being served: `max_staleness` after the start of
    /// the first poll that did not replace it.
    stale_at: Option<Instant>,
    last_success_unix: Option<f64>,
}

impl EndpointState {
    fn new(endpoint: Endpoint, resume: Option<&TargetSnapshot>) -> Self {
        let previous = resume.and_then(|s| s.endpoints.iter().find(|e| e.endpoint == endpoint));
        EndpointState {
            endpoint,
            errors: previous.map_or([0; Reason::COUNT], |e| e.errors),
            last_good: previous.and_then(|e| e.reading.clone()),
            stale_at: previous.and_then(|e| e.stale_at),
            last_success_unix: previous.and_then(|e| e.last_success_unix),
        }
    }
}

/// Polls one target forever: first right away, then every `interval`, the
/// first of them after a small random offset so that targets do not hit their
/// APIs in lockstep. `resume` carries the counters and last good values of a
/// poller that stopped unexpectedly, so that a restart continues them.
pub async fn run_target(
    target: Target,
    max_staleness: Duration,
    limiter: Arc<Semaphore>,
    shared: Arc<Shared>,
    resume: Option<Arc<TargetSnapshot>>,
) {
    let client = match Client::for_target(&target, limiter) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(target = %target.name, error = %e.without_url(), "cannot build HTTP client");
            return;
        }
    };
    if resume.is_none() && credential_in_clear(&target.base_url) {
        tracing::warn!(
            target = %target.name,
            provider = target.provider.name,
            host = target.base_url.host_str().unwrap_or(""),
            "the credential is sent over plain HTTP and can be read on the network; use an https base_url if the provider offers one"
        );
    }
    let mut states: Vec<EndpointState> = target
        .endpoints
        .iter()
        .map(|&endpoint| EndpointState::new(endpoint, resume.as_deref()))
        .collect();
    let jitter = target
        .interval
        .mul_f64(fastrand::f64() * 0.1)
        .min(Duration::from_secs(10));
    let mut next_poll = Instant::now();
    let mut first = true;
    loop {
        tokio::time::sleep_until(next_poll.into()).await;
        let started = Instant::now();
        let due = started + target.interval + if first { jitter } else { Duration::ZERO };
        first = false;
        let schedule = Schedule { due, max_staleness };
        poll_once(&target, &client, &mut states, schedule, &shared).await;
        // A poll that overran its interval is followed by the next one at once.
        next_poll = due.max(Instant::now());
    }
}

/// When the poll after this one is due, and how long values outlive a poll
/// that does not replace them.
#[derive(Clone, Copy)]
struct Schedule {
    due: Instant,
    max_staleness: Duration,
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
///
/// A good reading is served until `max_staleness` after the start of the first
/// poll that does not replace it: while polls succeed on schedule no value ever
/// disappears, whatever `interval` and `max_staleness` are; once they fail (or
/// hang), values disappear at most `max_staleness` after the failing poll began.
async fn poll_once(
    target: &Target,
    client: &Client,
    states: &mut [EndpointState],
    schedule: Schedule,
    shared: &Arc<Shared>,
) {
    if crate::failpoint::hit(&format!("poll:{}", target.name)) {
        panic!("failpoint poll:{} hit", target.name);
    }
    let endpoints: Vec<_> = states.iter().map(|s| s.endpoint).collect();
    let mut results = poll_endpoints(target, client, &endpoints).await;
    enforce_sample_limit(target, &endpoints, &mut results);

    let now = Instant::now();
    let endpoints = states
        .iter_mut()
        .zip(results)
        .map(|(state, (elapsed, result))| {
            let (success, last_error) = match result {
                Ok(reading) => {
                    state.last_good = Some(Arc::new(reading));
                    // The next poll starts at `due`, or at once if this one overran.
                    state.stale_at = Some(schedule.due.max(now) + schedule.max_staleness);
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
            if state.stale_at.is_some_and(|at| now >= at) {
                state.last_good = None;
                state.stale_at = None;
            }
            EndpointSnapshot {
                endpoint: state.endpoint,
                success,
                duration_seconds: elapsed.as_secs_f64(),
                last_success_unix: state.last_success_unix,
                errors: state.errors,
                reading: state.last_good.clone(),
                stale_at: state.stale_at,
                last_error,
            }
        })
        .collect();

    shared.publish(TargetSnapshot {
        target: target.name.clone(),
        provider: target.provider.name,
        endpoints,
        polled_at: unix_now(),
        credential_in_clear: credential_in_clear(&target.base_url),
    });
}

/// Fails the largest readings of a poll with reason `limit` until the rest fit
/// the target's `sample_limit`; the failed endpoints keep their last good values.
fn enforce_sample_limit(
    target: &Target,
    endpoints: &[Endpoint],
    results: &mut [(Duration, Result<Reading, PollError>)],
) {
    let mut sizes: Vec<(usize, usize)> = results
        .iter()
        .enumerate()
        .filter_map(|(i, (_, r))| r.as_ref().ok().map(|r| (i, r.series())))
        .collect();
    let total: usize = sizes.iter().map(|(_, n)| n).sum();
    if total <= target.sample_limit {
        return;
    }
    sizes.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let mut kept = total;
    for (index, series) in sizes {
        if kept <= target.sample_limit {
            break;
        }
        results[index].1 = Err(PollError::new(
            Reason::Limit,
            format!(
                "{}: {series} series would bring the target to {total}, over sample_limit {} by {}",
                endpoints[index],
                target.sample_limit,
                total - target.sample_limit
            ),
        ));
        kept -= series;
    }
}

/// The snapshot that stands in for a poller that stopped unexpectedly: every
/// endpoint failed with reason `internal`, its last good values kept until they
/// go stale as usual.
pub fn crashed(
    previous: Option<&TargetSnapshot>,
    target: &Target,
    message: &str,
) -> TargetSnapshot {
    let error = PollError::new(Reason::Internal, message.to_owned());
    let endpoints = target
        .endpoints
        .iter()
        .map(|&endpoint| {
            let mut state = EndpointState::new(endpoint, previous);
            state.errors[Reason::Internal.index()] += 1;
            EndpointSnapshot {
                endpoint,
                success: false,
                duration_seconds: 0.0,
                last_success_unix: state.last_success_unix,
                errors: state.errors,
                reading: state.last_good,
                stale_at: state.stale_at,
                last_error: Some(error.clone()),
            }
        })
        .collect();
    TargetSnapshot {
        target: target.name.clone(),
        provider: target.provider.name,
        endpoints,
        polled_at: unix_now(),
        credential_in_clear: credential_in_clear(&target.base_url),
    }
}

/// Whether a credential sent to `base_url` crosses a network in clear text:
/// plain HTTP to anything but a loopback address.
pub fn credential_in_clear(base_url: &url::Url) -> bool {
    let loopback = match base_url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    base_url.scheme() == "http" && !loopback
}

pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
