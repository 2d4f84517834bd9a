//! The upstream budget: every request sent to a provider is counted by outcome
//! (`proxy_exporter_upstream_requests_total`), and a target's requests can be
//! paced (`max_requests_per_second`).
//!
//! Counting: the scheduler polls each endpoint inside [`counting`], which makes
//! a [`Tally`] the current one for that poll (a task-local, so the providers
//! need not pass it through every helper); `http.rs` records each request it
//! sends there with [`Sent`]. A provider that spawned a task of its own would
//! leave the scope: none does.
//!
//! Pacing: a [`Pacer`] lets the requests of one target (pages and retries
//! included) start at least `1 / rate` apart.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// How a request sent to a provider ended: the `outcome` label of
/// `proxy_exporter_upstream_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer, read in full. Whether its content was usable is the poll's
    /// business (`proxy_exporter_poll_errors_total`).
    Success,
    /// HTTP 429: the provider's throttle answered.
    RateLimited,
    /// Anything else: no connection, a timeout, another HTTP status, an answer
    /// over `body_size_limit` or not JSON, or a request abandoned when its poll
    /// ran out of time.
    Error,
}

impl Outcome {
    /// Every outcome, in the order of [`Outcome::index`].
    pub const ALL: [Outcome; Outcome::COUNT] =
        [Outcome::Success, Outcome::RateLimited, Outcome::Error];
    /// How many outcomes there are: the size of a per-outcome counter array.
    pub const COUNT: usize = 3;

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::RateLimited => "rate_limited",
            Outcome::Error => "error",
        }
    }

    /// The position of this outcome in [`Outcome::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The requests one endpoint's poll sent, by outcome.
#[derive(Debug, Default)]
pub struct Tally([AtomicU64; Outcome::COUNT]);

impl Tally {
    /// The counts, indexed by [`Outcome::index`].
    pub fn counts(&self) -> [u64; Outcome::COUNT] {
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
    }
}

tokio::task_local! {
    static CURRENT: Arc<Tally>;
}

/// Runs `poll`, counting every request it sends into `tally`.
pub async fn counting<F: Future>(tally: Arc<Tally>, poll: F) -> F::Output {
    CURRENT.scope(tally, poll).await
}

/// One request on its way to a provider. It is counted exactly once: with the
/// outcome given to [`Sent::finish`], or as [`Outcome::Error`] when it is
/// dropped unfinished (its poll was abandoned). Outside [`counting`] nothing is
/// counted.
pub struct Sent {
    tally: Option<Arc<Tally>>,
    outcome: Outcome,
}

impl Sent {
    /// A request about to be sent.
    pub fn start() -> Sent {
        Sent {
            tally: CURRENT.try_with(Arc::clone).ok(),
            outcome: Outcome::Error,
        }
    }

    /// The request ended with `outcome`.
    pub fn finish(mut self, outcome: Outcome) {
        self.outcome = outcome;
    }
}

impl Drop for Sent {
    fn drop(&mut self) {
        if let Some(tally) = &self.tally {
            tally.0[self.outcome.index()].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The longest spacing a pacer keeps, whatever the rate (a rate that small is
/// refused by the configuration's checks anyway).
const MAX_SPACING: Duration = Duration::from_secs(86_400);

/// Spaces the starts of one target's requests at least `1 / rate` seconds apart.
///
/// A request waits for its turn ([`Pacer::wait_turn`]), then for whatever else it
/// needs (a slot of `max_concurrent_requests`), and only then claims the start
/// ([`Pacer::try_start`]); if another request of the target started meanwhile, it
/// waits again. So the spacing holds between the moments requests are really
/// sent, and nothing is held while waiting for a turn.
#[derive(Debug)]
pub struct Pacer {
    spacing: Duration,
    /// When the last request started.
    last: Mutex<Option<Instant>>,
}

impl Pacer {
    /// A pacer for at most `max_requests_per_second` requests a second (a
    /// positive number; fractions mean one request every so many seconds).
    pub fn new(max_requests_per_second: f64) -> Pacer {
        let spacing = Duration::try_from_secs_f64(1.0 / max_requests_per_second)
            .unwrap_or(MAX_SPACING)
            .min(MAX_SPACING);
        Pacer {
            spacing,
            last: Mutex::new(None),
        }
    }

    /// The time between two request starts.
    pub fn spacing(&self) -> Duration {
        self.spacing
    }

    /// Waits until a request may start: one spacing after the last start.
    pub async fn wait_turn(&self) {
        let next = self.lock().map(|last| last + self.spacing);
        if let Some(at) = next {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Claims the start of a request at `now` if one spacing has passed since
    /// the last start; `false` means wait for the next turn.
    pub fn try_start(&self, now: Instant) -> bool {
        let mut last = self.lock();
        if last.is_some_and(|at| now < at + self.spacing) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// Waits for a turn and claims it.
    pub async fn start(&self) {
        loop {
            self.wait_turn().await;
            if self.try_start(Instant::now()) {
                return;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_are_one_spacing_apart_and_free_after_a_quiet_spell() {
        let pacer = Pacer::new(2.0);
        let spacing = Duration::from_millis(500);
        assert_eq!(pacer.spacing(), spacing);
        let t0 = Instant::now();
        assert!(pacer.try_start(t0));
        assert!(!pacer.try_start(t0));
        assert!(!pacer.try_start(t0 + Duration::from_millis(499)));
        assert!(pacer.try_start(t0 + spacing));
        // After a quiet spell the next request goes at once.
        let later = t0 + Duration::from_secs(10);
        assert!(pacer.try_start(later));
        assert!(!pacer.try_start(later + Duration::from_millis(1)));
    }

    #[tokio::test]
    async fn waiting_requests_start_no_earlier_than_their_turn() {
        let pacer = Arc::new(Pacer::new(50.0));
        let begin = Instant::now();
        let starts = futures::future::join_all((0..4).map(|_| {
            let pacer = Arc::clone(&pacer);
            async move {
                pacer.start().await;
                Instant::now() - begin
            }
        }))
        .await;
        let mut starts = starts;
        starts.sort_unstable();
        // Only lower bounds: a loaded machine makes every start later, never earlier.
        for (i, start) in starts.iter().enumerate() {
            assert!(
                *start >= pacer.spacing() * i as u32,
                "start {i} at {start:?}"
            );
        }
    }

    /// Requests whose turns came while they waited for something else (a slot
    /// of `max_concurrent_requests`) still start one spacing apart.
    #[tokio::test]
    async fn a_turn_delayed_by_the_limiter_keeps_the_spacing() {
        let pacer = Arc::new(Pacer::new(10.0));
        let limiter = Arc::new(tokio::sync::Semaphore::new(0));
        let starts = Arc::new(Mutex::new(Vec::new()));
        let requests: Vec<_> = (0..3)
            .map(|_| {
                let (pacer, limiter, starts) = (
                    Arc::clone(&pacer),
                    Arc::clone(&limiter),
                    Arc::clone(&starts),
                );
                tokio::spawn(async move {
                    loop {
                        pacer.wait_turn().await;
                        let _permit = limiter.acquire().await.unwrap();
                        let now = Instant::now();
                        if pacer.try_start(now) {
                            starts.lock().unwrap().push(now);
                            return;
                        }
                    }
                })
            })
            .collect();
        // Every turn passes while the limiter is full, then it frees up at once.
        tokio::time::sleep(Duration::from_millis(250)).await;
        limiter.add_permits(3);
        for request in requests {
            request.await.unwrap();
        }
        let mut starts = starts.lock().unwrap().clone();
        starts.sort_unstable();
        for pair in starts.windows(2) {
            assert!(pair[1] - pair[0] >= pacer.spacing(), "{starts:?}");
        }
    }

    #[test]
    fn extreme_rates_do_not_panic() {
        assert_eq!(Pacer::new(1e-300).spacing(), MAX_SPACING);
        assert_eq!(Pacer::new(f64::MIN_POSITIVE).spacing(), MAX_SPACING);
        assert_eq!(Pacer::new(1e300).spacing(), Duration::ZERO);
    }

    #[tokio::test]
    async fn requests_are_counted_once_in_their_poll_only() {
        let tally = Arc::new(Tally::default());
        counting(Arc::clone(&tally), async {
            Sent::start().finish(Outcome::Success);
            Sent::start().finish(Outcome::RateLimited);
            drop(Sent::start());
        })
        .await;
        Sent::start().finish(Outcome::Success);
        assert_eq!(tally.counts(), [1, 1, 1]);
    }
}
