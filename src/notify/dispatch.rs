//! Delivery: one task and one bounded queue per receiver, so that a slow or
//! failing receiver never delays the agent or another receiver. A batch is
//! tried at most [`DispatchSettings::max_attempts`] times (transient failures
//! only, full-jitter backoff), sends of one receiver are spaced by
//! [`DispatchSettings::min_interval`], and each batch counts once as a success
//! or a failure (`proxy_exporter_notifications_total{receiver,result}`).

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::FutureExt as _;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{AlertEvent, NotifyError, Receiver};

/// How batches are delivered. The defaults suit production; tests shorten them.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Attempts per batch, the first included (at least 1).
    pub max_attempts: u32,
    /// The first retry waits up to this long; each further one up to twice as long.
    pub backoff_base: Duration,
    /// The longest wait between two attempts.
    pub backoff_cap: Duration,
    /// The least time between the starts of two batches to one receiver.
    pub min_interval: Duration,
    /// Batches waiting per receiver; when full, the oldest is dropped.
    pub queue_capacity: usize,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            max_attempts: 3,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(10),
            min_interval: Duration::from_secs(1),
            queue_capacity: 64,
        }
    }
}

/// Delivers batches to receivers, each on its own task.
pub struct Dispatcher {
    lanes: Vec<Lane>,
    /// Batches waiting per receiver.
    capacity: usize,
}

/// One receiver's queue, counters and task.
struct Lane {
    name: String,
    kind: &'static str,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// What a lane's task and the dispatcher share.
struct Shared {
    state: Mutex<State>,
    wake: Notify,
    success: AtomicU64,
    failure: AtomicU64,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Vec<AlertEvent>>,
    /// Whether the task is working on a batch it took from the queue.
    busy: bool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // The lock is never held across a panic point that matters: a poisoned
        // queue is still a queue.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the next batch and marks the lane busy.
    async fn next(&self) -> Vec<AlertEvent> {
        loop {
            {
                let mut state = self.state();
                if let Some(batch) = state.queue.pop_front() {
                    state.busy = true;
                    return batch;
                }
            }
            self.wake.notified().await;
        }
    }
}

impl Dispatcher {
    /// Starts one task per named receiver. Must be called within a Tokio runtime.
    pub fn new(receivers: Vec<(String, Box<dyn Receiver>)>, settings: DispatchSettings) -> Self {
        let capacity = settings.queue_capacity.max(1);
        let lanes = receivers
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
                };
                Lane {
                    name,
                    kind,
                    shared,
                    task: tokio::spawn(worker.run()),
                }
            })
            .collect();
        Dispatcher { lanes, capacity }
    }

    /// The receivers' names and kinds, in configuration order.
    pub fn receivers(&self) -> impl Iterator<Item = (&str, &'static str)> {
        self.lanes.iter().map(|l| (l.name.as_str(), l.kind))
    }

    /// Queues `batch` for the receiver `name`, without waiting. When its queue is
    /// full the oldest batch is dropped, logged and counted as a failure. An empty
    /// batch is ignored. Returns `false` for an unknown receiver.
    pub fn send(&self, name: &str, batch: Vec<AlertEvent>) -> bool {
        let Some(lane) = self.lanes.iter().find(|l| l.name == name) else {
            return false;
        };
        if !batch.is_empty() {
            lane.push(batch, self.capacity);
        }
        true
    }

    /// Queues `batch` for every receiver.
    pub fn send_all(&self, batch: &[AlertEvent]) {
        if batch.is_empty() {
            return;
        }
        for lane in &self.lanes {
            lane.push(batch.to_vec(), self.capacity);
        }
    }

    /// Per receiver, in configuration order: its name, the batches delivered,
    /// and the batches given up on (failed, or dropped from a full queue).
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

    /// Waits until every queue is empty and no batch is in flight, or `timeout`
    /// passes; returns whether everything was delivered or given up on. For
    /// shutdown and tests.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let idle = self.lanes.iter().all(|l| {
                let state = l.shared.state();
                state.queue.is_empty() && !state.busy
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
}

impl Lane {
    /// Appends `batch`, dropping the oldest batch first when `capacity` is reached.
    fn push(&self, batch: Vec<AlertEvent>, capacity: usize) {
        let dropped = {
            let mut state = self.shared.state();
            let dropped = if state.queue.len() >= capacity {
                state.queue.pop_front()
            } else {
                None
            };
            state.queue.push_back(batch);
            dropped
        };
        if let Some(dropped) = dropped {
            self.shared.failure.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                receiver = %self.name,
                kind = self.kind,
                alerts = dropped.len(),
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

/// A lane's task: takes batches in order, paces and delivers them.
struct Worker {
    name: String,
    receiver: Box<dyn Receiver>,
    shared: Arc<Shared>,
    settings: DispatchSettings,
}

impl Worker {
    async fn run(self) {
        let mut last_start: Option<Instant> = None;
        loop {
            let batch = self.shared.next().await;
            if let Some(last) = last_start {
                tokio::time::sleep_until(last + self.settings.min_interval).await;
            }
            last_start = Some(Instant::now());
            let delivery = AssertUnwindSafe(self.deliver(&batch)).catch_unwind().await;
            let result = delivery
                .unwrap_or_else(|_| Err((1, NotifyError::permanent("the receiver panicked"))));
            self.record(batch.len(), result);
            self.shared.state().busy = false;
        }
    }

    /// Tries `batch` until it is delivered, fails for good, or the attempts run
    /// out. Returns the attempts made with the last error.
    async fn deliver(&self, batch: &[AlertEvent]) -> Result<u32, (u32, NotifyError)> {
        let max_attempts = self.settings.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            match self.receiver.send(batch).await {
                Ok(()) => return Ok(attempt),
                Err(error) if error.is_transient() && attempt < max_attempts => {
                    let delay = match error.retry_after() {
                        Some(after) if after > self.settings.backoff_cap => {
                            return Err((attempt, error))
                        }
                        Some(after) => after,
                        None => backoff(&self.settings, attempt - 1),
                    };
                    tracing::debug!(
                        receiver = %self.name,
                        kind = self.receiver.kind(),
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        error = %error,
                        "notification failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) => return Err((attempt, error)),
            }
        }
    }

    /// Counts and logs a batch's outcome.
    fn record(&self, alerts: usize, result: Result<u32, (u32, NotifyError)>) {
        let kind = self.receiver.kind();
        match result {
            Ok(attempts) => {
                self.shared.success.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(receiver = %self.name, kind, alerts, attempts, "notification sent");
            }
            Err((attempts, error)) => {
                self.shared.failure.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    receiver = %self.name,
                    kind,
                    alerts,
                    attempts,
                    error = %error,
                    "notification failed"
                );
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
