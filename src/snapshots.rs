//! The snapshots: the latest [`TargetSnapshot`] of every target, the
//! targets of the running configuration and the outcome of the last reload.
//! Pollers publish whole snapshots; readers (the exposition cache, the landing
//! page, the alerting agent) take consistent copies. Every change is announced on a watch
//! channel, so the snapshots know nothing of who reads it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;

use crate::budget::Outcome;
use crate::http::{PollError, Reason};
use crate::metrics::{self, MetricDef};
use crate::providers::Endpoint;
use crate::readings::{Emit, Reading};
use crate::units::unix_now;

/// The state of one target after its last poll.
#[derive(Debug, Clone)]
pub struct TargetSnapshot {
    pub target: String,
    pub provider: &'static str,
    /// The provider's name for people, or the target's own `display_name`.
    pub display_name: String,
    pub endpoints: Vec<EndpointSnapshot>,
    /// Unix seconds at the end of the poll.
    pub polled_at: f64,
    /// Whether the target's credential crosses the network unencrypted (plain
    /// HTTP to a host other than loopback).
    pub credential_in_clear: bool,
}

impl TargetSnapshot {
    /// The readings of the target's endpoints that are not stale at `now`.
    pub fn readings(&self, now: Instant) -> impl Iterator<Item = &Reading> {
        self.endpoints
            .iter()
            .filter(move |e| e.stale_at.is_none_or(|at| at > now))
            .filter_map(|e| e.reading.as_deref())
    }

    /// Whether the last poll of every enabled endpoint succeeded (`proxy_up`).
    pub fn up(&self) -> bool {
        self.endpoints.iter().all(|e| e.success)
    }

    /// Writes the target's poll status samples of `family` (`proxy_up`, the
    /// `proxy_exporter_poll_*` families, the upstream requests and the label
    /// values cut): label values
    /// after `provider` and `target`.
    pub fn status_samples(&self, family: &MetricDef, emit: &mut Emit) {
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        if family.is(&metrics::UP) {
            emit(&[], flag(self.up()));
        } else if family.is(&metrics::LABEL_VALUES_TRUNCATED) {
            let cut: u64 = self.endpoints.iter().map(|e| e.labels_truncated).sum();
            emit(&[], cut as f64);
        }
        for e in &self.endpoints {
            let endpoint = e.endpoint.as_str();
            if family.is(&metrics::POLL_SUCCESS) {
                emit(&[endpoint], flag(e.success));
            } else if family.is(&metrics::POLL_DURATION) {
                emit(&[endpoint], e.duration_seconds);
            } else if family.is(&metrics::LAST_SUCCESS) {
                if let Some(at) = e.last_success_unix {
                    emit(&[endpoint], at);
                }
            } else if family.is(&metrics::POLL_ERRORS) {
                for reason in Reason::ALL {
                    emit(
                        &[endpoint, reason.as_str()],
                        e.errors[reason.index()] as f64,
                    );
                }
            } else if family.is(&metrics::UPSTREAM_REQUESTS) {
                for outcome in Outcome::ALL {
                    emit(
                        &[endpoint, outcome.as_str()],
                        e.requests[outcome.index()] as f64,
                    );
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
    /// Requests sent to the provider so far, indexed by [`Outcome::index`].
    pub requests: [u64; Outcome::COUNT],
    /// Label values cut to `label_value_length_limit` so far.
    pub labels_truncated: u64,
    /// The last good reading, while it is younger than `max_staleness`.
    pub reading: Option<Arc<Reading>>,
    /// When `reading` becomes older than `max_staleness` and stops being served.
    pub stale_at: Option<Instant>,
    pub last_error: Option<PollError>,
}

/// The outcome of the last configuration (re)load.
#[derive(Debug, Clone, Copy)]
pub struct ReloadStatus {
    pub successful: bool,
    /// Unix seconds of the last successful load.
    pub success_timestamp: f64,
}

/// Every snapshot, at one moment.
pub struct View {
    /// The latest snapshot of every target that has finished a poll, by name.
    pub snapshots: Vec<Arc<TargetSnapshot>>,
    /// The targets of the running configuration.
    pub expected: BTreeSet<String>,
    pub reload: ReloadStatus,
    pub agent: AgentStatus,
    pub storage: StoreStatus,
    pub silences: SilenceCounts,
}

/// How many silences there are in each state, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SilenceCounts {
    pub active: u64,
    pub pending: u64,
    pub expired: u64,
}

/// The embedded store's health, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum StoreStatus {
    /// No store configured (`--storage.path ""`): no series.
    #[default]
    Off,
    /// Open; `errors` operations failed since (each logged).
    Open { errors: u64 },
    /// Configured, but it could not be opened: the exporter runs without it.
    Unavailable,
}

/// What the alerting agent last reported, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentStatus {
    /// (alertname, severity, `pending`/`firing`, count).
    pub alerts: Vec<(String, String, &'static str, u64)>,
    /// (receiver, accepted attempts, failed attempts).
    pub notifications: Vec<(String, u64, u64)>,
    /// (receiver, notifications not yet accepted).
    pub pending: Vec<(String, u64)>,
    /// Every pending and firing alert, for the front page and the status API.
    pub active: Vec<ActiveAlert>,
    /// Whether an agent runs (an `alerting` section is configured).
    pub running: bool,
}

/// One alert the agent holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAlert {
    /// `alertname`, `severity`, `provider`, `target` and the alert's own labels
    /// (without the external labels).
    pub labels: std::collections::BTreeMap<String, String>,
    /// Alertmanager's fingerprint of `labels` ([`crate::notify::fingerprint`]).
    pub fingerprint: String,
    /// `pending` or `firing`.
    pub state: &'static str,
    /// Unix seconds: since when it has been pending, or firing.
    pub since: f64,
    pub summary: String,
    /// `summary`, `description`, `runbook_url`.
    pub annotations: std::collections::BTreeMap<String, String>,
    /// The IDs of the active silences that mute it (empty: not silenced).
    pub silenced_by: Vec<String>,
    /// The fingerprints of the firing alerts that inhibit it (empty: not inhibited).
    pub inhibited_by: Vec<String>,
    /// The receivers its route sends it to (Alertmanager receivers included).
    pub receivers: Vec<String>,
}

impl ActiveAlert {
    /// Whether a silence or an inhibition mutes it (Alertmanager's `suppressed`).
    pub fn suppressed(&self) -> bool {
        !self.silenced_by.is_empty() || !self.inhibited_by.is_empty()
    }
}

impl View {
    /// Whether every configured target has a snapshot.
    pub fn complete(&self) -> bool {
        self.expected
            .iter()
            .all(|name| self.snapshots.iter().any(|t| &t.target == name))
    }
}

/// The latest snapshot of every target; see the module documentation.
pub struct Snapshots {
    inner: Mutex<Inner>,
    changes: watch::Sender<u64>,
}

struct Inner {
    snapshots: BTreeMap<String, Arc<TargetSnapshot>>,
    expected: BTreeSet<String>,
    reload: ReloadStatus,
    agent: AgentStatus,
    storage: StoreStatus,
    silences: SilenceCounts,
}

impl Snapshots {
    /// An empty store for a configuration with these targets, loaded just now.
    pub fn new(targets: impl IntoIterator<Item = String>) -> Arc<Self> {
        Arc::new(Snapshots {
            inner: Mutex::new(Inner {
                snapshots: BTreeMap::new(),
                expected: targets.into_iter().collect(),
                reload: ReloadStatus {
                    successful: true,
                    success_timestamp: unix_now(),
                },
                agent: AgentStatus::default(),
                storage: StoreStatus::default(),
                silences: SilenceCounts::default(),
            }),
            changes: watch::Sender::new(0),
        })
    }

    /// A receiver that is told of every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// A consistent copy of everything held now.
    pub fn view(&self) -> View {
        let inner = self.lock();
        View {
            snapshots: inner.snapshots.values().cloned().collect(),
            expected: inner.expected.clone(),
            reload: inner.reload,
            agent: inner.agent.clone(),
            storage: inner.storage,
            silences: inner.silences,
        }
    }

    /// The latest snapshot of every target that has finished a poll.
    pub fn snapshots(&self) -> Vec<Arc<TargetSnapshot>> {
        self.lock().snapshots.values().cloned().collect()
    }

    /// The latest snapshot of one target.
    pub fn snapshot(&self, target: &str) -> Option<Arc<TargetSnapshot>> {
        self.lock().snapshots.get(target).cloned()
    }

    /// Switches to a new set of targets: snapshots of removed targets vanish at
    /// once; those of kept targets stay until their next poll replaces them.
    pub fn set_targets(&self, targets: impl IntoIterator<Item = String>) {
        self.update(|inner| {
            inner.expected = targets.into_iter().collect();
            let expected = &inner.expected;
            inner.snapshots.retain(|name, _| expected.contains(name));
        });
    }

    /// Records the outcome of a configuration reload.
    pub fn set_reload_result(&self, successful: bool) {
        self.update(|inner| {
            inner.reload.successful = successful;
            if successful {
                inner.reload.success_timestamp = unix_now();
            }
        });
    }

    /// Records what the alerting agent holds and counts, when it changed.
    pub fn set_agent_status(&self, status: AgentStatus) {
        if self.lock().agent != status {
            self.update(|inner| inner.agent = status);
        }
    }

    /// Records the embedded store's health, when it changed.
    pub fn set_storage_status(&self, status: StoreStatus) {
        if self.lock().storage != status {
            self.update(|inner| inner.storage = status);
        }
    }

    /// Records how many silences there are in each state, when it changed.
    pub fn set_silence_counts(&self, counts: SilenceCounts) {
        if self.lock().silences != counts {
            self.update(|inner| inner.silences = counts);
        }
    }

    /// Swaps in a target's new snapshot. A poller stopped by a reload may finish
    /// one last poll: a target no longer configured is ignored.
    pub fn publish(&self, snapshot: TargetSnapshot) {
        self.update(|inner| {
            if inner.expected.contains(&snapshot.target) {
                inner
                    .snapshots
                    .insert(snapshot.target.clone(), Arc::new(snapshot));
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut Inner)) {
        change(&mut self.lock());
        self.changes
            .send_modify(|version| *version = version.wrapping_add(1));
    }
}
