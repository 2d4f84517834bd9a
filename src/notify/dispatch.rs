//! Delivery: one task per receiver, so that a slow or failing receiver never
//! delays the agent or another receiver. A notification counts as sent only
//! once the receiver accepted it (HTTP 2xx, SMTP 250): then the [`Ledger`]
//! records it. Until then it waits, and a transient failure is tried again
//! after a capped full-jitter backoff (or the server's `Retry-After`), for as
//! long as it is the newest notification of its group: a newer one of the same
//! group replaces it, a flush with nothing to tell withdraws it. A refusal (a
//! 4xx) is not tried again; the group's next flush tells the receiver anew.
//! Sends of one receiver are spaced by [`DispatchSettings::min_interval`]. Every
//! attempt counts as a success or a failure
//! (`proxy_exporter_notifications_total{receiver,result}`); what waits is
//! `proxy_exporter_notifications_pending{receiver}`, and can be stored and
//! restored across restarts ([`Dispatcher::pending`], [`Dispatcher::restore`]).

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::FutureExt as _;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::group::{Ledger, Notification};
use super::{AlertEvent, NotifyError, Receiver};
use crate::units::unix_now;

/// How notifications are delivered.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// The first retry waits up to this long; each next one up to twice as long.
    pub backoff_base: Duration,
    /// The longest wait between two attempts.
    pub backoff_cap: Duration,
    /// The shortest time between two sends to one receiver.
    pub min_interval: Duration,
    /// The most notifications (groups) waiting per receiver; past it the oldest
    /// is dropped and counted as a failure.
    pub queue_capacity: usize,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(30),
            min_interval: Duration::from_secs(1),
            queue_capacity: 10_000,
        }
    }
}

/// The receivers' delivery tasks and what they accepted.
pub struct Dispatcher {
    lanes: Vec<Lane>,
    capacity: usize,
    ledger: Arc<Mutex<Ledger>>,
    /// Keys of notifications given with [`Dispatcher::send`] (one-off batches).
    one_off: AtomicU64,
}

/// One receiver's task and what it shares with the dispatcher.
struct Lane {
    name: String,
    kind: &'static str,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    state: Mutex<State>,
    wake: Notify,
    success: AtomicU64,
    failure: AtomicU64,
}

/// A receiver's notifications that wait, by group key, and the one being sent.
#[derive(Default)]
struct State {
    waiting: BTreeMap<String, Waiting>,
    in_flight: Option<Notification>,
    /// Orders the waiting notifications by arrival, for the capacity bound.
    arrivals: u64,
}

struct Waiting {
    notification: Notification,
    /// Attempts made so far.
    attempts: u32,
    due: Instant,
    arrival: u64,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Dispatcher {
    /// Starts a task per receiver `(name, receiver)`, with nothing accepted yet.
    pub fn new(receivers: Vec<(String, Box<dyn Receiver>)>, settings: DispatchSettings) -> Self {
        Dispatcher::restore(receivers, settings, Ledger::default(), Vec::new())
    }

    /// Starts a task per receiver, with what was accepted and what waited
    /// before (a restart, a reload). Notifications of receivers that are gone
    /// are dropped.
    pub fn restore(
        receivers: Vec<(String, Box<dyn Receiver>)>,
        settings: DispatchSettings,
        mut ledger: Ledger,
        pending: Vec<Notification>,
    ) -> Self {
        let capacity = settings.queue_capacity.max(1);
        let names: BTreeSet<&str> = receivers.iter().map(|(n, _)| n.as_str()).collect();
        ledger.prune(&names, unix_now());
        let ledger = Arc::new(Mutex::new(ledger));
        let lanes: Vec<Lane> = receivers
            .into_iter()
            .map(|(name, receiver)| {
                let shared = Arc::new(Shared {
                    state: Mutex::new(State::default()),
                    wake: Notify::new(),
                    success: AtomicU64::new(0),
                    failure: AtomicU64::new(0),
                });
                let kind = receiver.kind();
                let worker = Worker {
                    name: name.clone(),
                    receiver,
                    shared: Arc::clone(&shared),
                    settings: settings.clone(),
                    ledger: Arc::clone(&ledger),
                };
                Lane {
                    name,
                    kind,
                    shared,
                    task: tokio::spawn(worker.run()),
                }
            })
            .collect();
        let dispatcher = Dispatcher {
            lanes,
            capacity,
            ledger,
            one_off: AtomicU64::new(0),
        };
        for notification in pending {
            dispatcher.enqueue(notification);
        }
        dispatcher
    }

    /// Every receiver's name and kind.
    pub fn receivers(&self) -> impl Iterator<Item = (&str, &'static str)> {
        self.lanes.iter().map(|l| (l.name.as_str(), l.kind))
    }

    /// Hands `notification` to its receiver, replacing one of the same group
    /// that still waits; false when there is no such receiver.
    pub fn enqueue(&self, notification: Notification) -> bool {
        match self.lane(&notification.receiver) {
            Some(lane) => {
                lane.push(notification, self.capacity);
                true
            }
            None => false,
        }
    }

    /// Withdraws the notification of group `key` that waits for `receiver`.
    pub fn withdraw(&self, receiver: &str, key: &str) {
        if let Some(lane) = self.lane(receiver) {
            lane.shared.state().waiting.remove(key);
        }
    }

    /// Hands `batch` to the receiver called `name` as a notification of its
    /// own (no group); false when there is no such receiver.
    pub fn send(&self, name: &str, batch: Vec<AlertEvent>) -> bool {
        if self.lane(name).is_none() {
            return false;
        }
        if !batch.is_empty() {
            self.enqueue(self.one_off_notification(name, batch));
        }
        true
    }

    /// Hands `batch` to every receiver, as [`Dispatcher::send`].
    pub fn send_all(&self, batch: &[AlertEvent]) {
        if batch.is_empty() {
            return;
        }
        for lane in &self.lanes {
            self.enqueue(self.one_off_notification(&lane.name, batch.to_vec()));
        }
    }

    fn one_off_notification(&self, receiver: &str, alerts: Vec<AlertEvent>) -> Notification {
        let n = self.one_off.fetch_add(1, Ordering::Relaxed);
        Notification {
            receiver: receiver.to_owned(),
            key: format!("one-off:{n}"),
            group_labels: BTreeMap::new(),
            alerts,
            firing: BTreeSet::new(),
            resolved: BTreeSet::new(),
            partial: true,
            created: unix_now(),
        }
    }

    fn lane(&self, name: &str) -> Option<&Lane> {
        self.lanes.iter().find(|l| l.name == name)
    }

    /// What the receivers accepted, by group.
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every notification not yet accepted (waiting or being sent), for the store.
    pub fn pending(&self) -> Vec<Notification> {
        let mut pending = Vec::new();
        for lane in &self.lanes {
            let state = lane.shared.state();
            pending.extend(state.in_flight.iter().cloned());
            pending.extend(
                state
                    .waiting
                    .values()
                    .filter(|w| {
                        state
                            .in_flight
                            .as_ref()
                            .is_none_or(|f| f.key != w.notification.key)
                    })
                    .map(|w| w.notification.clone()),
            );
        }
        pending
    }

    /// Per receiver: attempts accepted, attempts failed (dropped ones
    /// included), and notifications not yet accepted.
    pub fn counts(&self) -> Vec<(String, u64, u64)> {
        self.lanes
            .iter()
            .map(|l| {
                (
                    l.name.clone(),
                    l.shared.success.load(Ordering::Relaxed),
                    l.shared.failure.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// Per receiver: the notifications not yet accepted.
    pub fn pending_counts(&self) -> Vec<(String, u64)> {
        self.lanes
            .iter()
            .map(|l| {
                let state = l.shared.state();
                let in_flight = state
                    .in_flight
                    .as_ref()
                    .is_some_and(|f| !state.waiting.contains_key(&f.key));
                (
                    l.name.clone(),
                    state.waiting.len() as u64 + u64::from(in_flight),
                )
            })
            .collect()
    }

    /// Waits until no notification is left to deliver, or `timeout`; true when
    /// none is left.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let idle = self.lanes.iter().all(|l| {
                let state = l.shared.state();
                state.waiting.is_empty() && state.in_flight.is_none()
            });
            if idle {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// At shutdown: tries every waiting notification once more now (a
    /// backoff is not waited out), for at most `grace`; true when every one
    /// was accepted. What is left stays in [`Dispatcher::pending`].
    pub async fn drain(&self, grace: Duration) -> bool {
        let now = Instant::now();
        for lane in &self.lanes {
            for waiting in lane.shared.state().waiting.values_mut() {
                waiting.due = waiting.due.min(now);
            }
            lane.shared.wake.notify_one();
        }
        self.flush(grace).await
    }
}

impl Lane {
    /// Queues `notification`, replacing one of the same group; drops the
    /// oldest when the receiver already has `capacity` waiting.
    fn push(&self, notification: Notification, capacity: usize) {
        let dropped = {
            let mut state = self.shared.state();
            state.arrivals += 1;
            let arrival = state.arrivals;
            let key = notification.key.clone();
            let dropped = if !state.waiting.contains_key(&key) && state.waiting.len() >= capacity {
                let oldest = state
                    .waiting
                    .iter()
                    .min_by_key(|(_, w)| w.arrival)
                    .map(|(k, _)| k.clone());
                oldest.and_then(|k| state.waiting.remove(&k))
            } else {
                None
            };
            // A newer state of a group that waits out a backoff takes its
            // place, attempts and turn: replacing does not defeat the backoff.
            let (attempts, due) = match state.waiting.get(&key) {
                Some(older) => (older.attempts, older.due),
                None => (0, Instant::now()),
            };
            state.waiting.insert(
                key,
                Waiting {
                    notification,
                    attempts,
                    due,
                    arrival,
                },
            );
            dropped
        };
        if let Some(dropped) = dropped {
            self.shared.failure.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                receiver = %self.name,
                kind = self.kind,
                alerts = dropped.notification.alerts.len(),
                "notification queue full: dropped the oldest notification"
            );
        }
        self.shared.wake.notify_one();
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        for lane in &self.lanes {
            lane.task.abort();
        }
    }
}

/// The task that delivers one receiver's notifications, one at a time.
struct Worker {
    name: String,
    receiver: Box<dyn Receiver>,
    shared: Arc<Shared>,
    settings: DispatchSettings,
    ledger: Arc<Mutex<Ledger>>,
}

impl Worker {
    async fn run(self) {
        let mut last_start: Option<Instant> = None;
        loop {
            let (notification, attempts) = self.next().await;
            if let Some(last) = last_start {
                tokio::time::sleep_until(last + self.settings.min_interval).await;
            }
            last_start = Some(Instant::now());
            let attempt = AssertUnwindSafe(self.receiver.send_notification(&notification))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(NotifyError::permanent("the receiver panicked")));
            self.settle(notification, attempts + 1, attempt);
        }
    }

    /// The next notification that is due, once it is (taken out of the
    /// waiting ones and marked in flight), and the attempts made on it.
    async fn next(&self) -> (Notification, u32) {
        loop {
            let wait = {
                let mut state = self.shared.state();
                let earliest = state
                    .waiting
                    .iter()
                    .min_by_key(|(_, w)| (w.due, w.arrival))
                    .map(|(k, w)| (k.clone(), w.due));
                match earliest {
                    Some((key, due)) if due <= Instant::now() => {
                        if let Some(waiting) = state.waiting.remove(&key) {
                            state.in_flight = Some(waiting.notification.clone());
                            return (waiting.notification, waiting.attempts);
                        }
                        None
                    }
                    Some((_, due)) => Some(due),
                    None => None,
                }
            };
            match wait {
                Some(due) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(due) => {}
                        () = self.shared.wake.notified() => {}
                    }
                }
                None => self.shared.wake.notified().await,
            }
        }
    }

    /// Records an attempt: accepted (the ledger learns it), to be tried again
    /// (unless a newer notification of the group came meanwhile), or given up.
    fn settle(&self, notification: Notification, attempts: u32, result: Result<(), NotifyError>) {
        let kind = self.receiver.kind();
        let alerts = notification.alerts.len();
        match result {
            Ok(()) => {
                self.shared.success.fetch_add(1, Ordering::Relaxed);
                self.ledger
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .accept(&notification, unix_now());
                tracing::debug!(receiver = %self.name, kind, alerts, attempts, "notification sent");
                self.shared.state().in_flight = None;
            }
            Err(error) => {
                self.shared.failure.fetch_add(1, Ordering::Relaxed);
                let retry = error.is_transient();
                let delay = match error.retry_after() {
                    Some(after) => after.min(self.settings.backoff_cap),
                    None => backoff(&self.settings, attempts - 1),
                };
                tracing::warn!(
                    receiver = %self.name,
                    kind,
                    alerts,
                    attempts,
                    retry_in_ms = retry.then_some(delay.as_millis() as u64),
                    error = %error,
                    "notification failed"
                );
                let mut state = self.shared.state();
                state.in_flight = None;
                if retry && !state.waiting.contains_key(&notification.key) {
                    state.arrivals += 1;
                    let arrival = state.arrivals;
                    state.waiting.insert(
                        notification.key.clone(),
                        Waiting {
                            notification,
                            attempts,
                            due: Instant::now() + delay,
                            arrival,
                        },
                    );
                }
            }
        }
    }
}

/// Full-jitter backoff: a random delay up to base × 2^retry, capped.
fn backoff(settings: &DispatchSettings, retry: u32) -> Duration {
    crate::http::full_jitter(settings.backoff_base, settings.backoff_cap, retry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let settings = DispatchSettings {
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_millis(300),
            ..DispatchSettings::default()
        };
        for retry in 0..40 {
            let delay = backoff(&settings, retry);
            assert!(
                delay <= Duration::from_millis(100) * (1 << retry.min(2)),
                "{delay:?}"
            );
            assert!(delay <= settings.backoff_cap);
        }
    }
}
