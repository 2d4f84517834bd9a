//! The scheduler: one task per target, polling on its own schedule. Every poll
//! builds a fresh [`TargetSnapshot`] (readings, outcomes, counters, when values
//! go stale) and publishes it whole to the [`Snapshots`]. An endpoint with a
//! minimum interval ([`Endpoint::min_interval`], `stock`) sits out the target's
//! polls until it is due again; meanwhile its last outcome and values are
//! carried over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::budget::{self, Outcome, Tally};
use crate::config::Target;
use crate::http::{PollError, Reason};
use crate::providers::{Client, Endpoint};
use crate::readings::Reading;
use crate::snapshots::{EndpointSnapshot, Snapshots, TargetSnapshot};
use crate::units::unix_now;

/// What a target's task keeps from poll to poll for one endpoint.
struct EndpointState {
    endpoint: Endpoint,
    errors: [u64; Reason::COUNT],
    /// Requests sent so far, by [`Outcome::index`].
    requests: [u64; Outcome::COUNT],
    /// Label values cut to `label_value_length_limit` so far.
    labels_truncated: u64,
    last_good: Option<Arc<Reading>>,
    /// When `last_good` stops being served: `max_staleness` after the start of
    /// the first poll that did not replace it.
    stale_at: Option<Instant>,
    last_success_unix: Option<f64>,
    /// The outcome of the endpoint's last poll, carried into the snapshots of
    /// the target's polls it sits out.
    success: bool,
    duration_seconds: f64,
    last_error: Option<PollError>,
    /// When the endpoint is polled again; `None`: at the target's next poll.
    next_due: Option<Instant>,
}

impl EndpointState {
    /// Counts a poll of the endpoint and keeps its reading (served until
    /// `confirmed_until`) or its error.
    fn record(&mut self, target: &Target, poll: EndpointPoll, confirmed_until: Instant) {
        for (total, sent) in self.requests.iter_mut().zip(poll.requests) {
            *total += sent;
        }
        self.labels_truncated += poll.labels_truncated;
        self.duration_seconds = poll.duration.as_secs_f64();
        match poll.result {
            Ok(reading) => {
                self.last_good = Some(Arc::new(reading));
                self.stale_at = Some(confirmed_until);
                self.last_success_unix = Some(unix_now());
                self.success = true;
                self.last_error = None;
                tracing::debug!(target = %target.name, endpoint = %self.endpoint, "poll succeeded");
            }
            Err(error) => {
                self.errors[error.reason.index()] += 1;
                tracing::warn!(
                    target = %target.name,
                    provider = target.provider.name,
                    endpoint = %self.endpoint,
                    reason = %error.reason,
                    error = %error.message,
                    "poll failed"
                );
                self.success = false;
                self.last_error = Some(error);
            }
        }
    }

    /// What the endpoint's state shows in a snapshot.
    fn snapshot(&self) -> EndpointSnapshot {
        EndpointSnapshot {
            endpoint: self.endpoint,
            success: self.success,
            duration_seconds: self.duration_seconds,
            last_success_unix: self.last_success_unix,
            errors: self.errors,
            requests: self.requests,
            labels_truncated: self.labels_truncated,
            reading: self.last_good.clone(),
            stale_at: self.stale_at,
            last_error: self.last_error.clone(),
        }
    }

    fn new(endpoint: Endpoint, resume: Option<&TargetSnapshot>) -> Self {
        let previous = resume.and_then(|s| s.endpoints.iter().find(|e| e.endpoint == endpoint));
        EndpointState {
            endpoint,
            errors: previous.map_or([0; Reason::COUNT], |e| e.errors),
            requests: previous.map_or([0; Outcome::COUNT], |e| e.requests),
            labels_truncated: previous.map_or(0, |e| e.labels_truncated),
            last_good: previous.and_then(|e| e.reading.clone()),
            stale_at: previous.and_then(|e| e.stale_at),
            last_success_unix: previous.and_then(|e| e.last_success_unix),
            success: false,
            duration_seconds: 0.0,
            last_error: None,
            next_due: None,
        }
    }

    /// Whether a poll of the target that starts at `at` polls this endpoint.
    fn is_due(&self, at: Instant) -> bool {
        self.next_due.is_none_or(|due| at >= due)
    }

    /// Sets when the endpoint is due after a poll that started at `started`: a
    /// success waits out the endpoint's minimum interval, a failure is retried
    /// at the target's next poll.
    fn schedule_after(&mut self, success: bool, started: Instant) {
        let min_interval = self.endpoint.min_interval();
        self.next_due = (success && !min_interval.is_zero()).then(|| started + min_interval);
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
    store: Arc<Snapshots>,
    resume: Option<Arc<TargetSnapshot>>,
) {
    let client = match Client::for_target(&target.connection(), limiter) {
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
        let schedule = Schedule {
            started,
            due,
            max_staleness,
        };
        poll_once(&target, &client, &mut states, schedule, &store).await;
        // A poll that overran its interval is followed by the next one at once.
        next_poll = due.max(Instant::now());
    }
}

/// When this poll started, when the poll after it is due, and how long values
/// outlive a poll that does not replace them.
#[derive(Clone, Copy)]
struct Schedule {
    started: Instant,
    due: Instant,
    max_staleness: Duration,
}

/// What polling one endpoint once gave: how long it took, the reading or why
/// there is none, and the requests it sent by [`Outcome::index`].
pub struct EndpointPoll {
    pub duration: Duration,
    pub result: Result<Reading, PollError>,
    pub requests: [u64; Outcome::COUNT],
    /// Label values of the reading cut to `label_value_length_limit`.
    pub labels_truncated: u64,
}

/// Polls `endpoints` of a target concurrently, each within the poll deadline
/// (the longer of `interval` and `timeout`), and returns each one's outcome in
/// order. Every label value a reading took from the provider is cleaned and
/// bounded here, before anything else sees it.
pub async fn poll_endpoints(
    target: &Target,
    client: &Client,
    endpoints: &[Endpoint],
) -> Vec<EndpointPoll> {
    let deadline = target.interval.max(target.timeout);
    futures::future::join_all(endpoints.iter().map(|&endpoint| async move {
        let started = Instant::now();
        let tally = Arc::new(Tally::default());
        let poll = budget::counting(Arc::clone(&tally), client.poll(endpoint));
        let mut result = match tokio::time::timeout(deadline, poll).await {
            Ok(result) => result,
            Err(_) => Err(PollError::new(
                Reason::Timeout,
                format!(
                    "poll did not finish within {}",
                    humantime::format_duration(deadline)
                ),
            )),
        };
        let labels_truncated = match &mut result {
            Ok(reading) => reading.bound_labels(target.label_value_length_limit),
            Err(_) => 0,
        };
        if labels_truncated > 0 {
            tracing::debug!(target = %target.name, %endpoint, labels_truncated, "label values cut to label_value_length_limit");
        }
        EndpointPoll {
            duration: started.elapsed(),
            result,
            requests: tally.counts(),
            labels_truncated,
        }
    }))
    .await
}

/// Polls every due endpoint of a target concurrently and publishes the result.
///
/// A good reading is served until `max_staleness` after the start of the first
/// poll that does not replace it: while polls succeed on schedule no value ever
/// disappears, whatever `interval` and `max_staleness` are; once they fail (or
/// hang), values disappear at most `max_staleness` after the failing poll began.
/// An endpoint that sits out this poll (not due: its last poll succeeded less
/// than its minimum interval ago) was not polled, so its reading counts as
/// confirmed until the next poll of the target.
async fn poll_once(
    target: &Target,
    client: &Client,
    states: &mut [EndpointState],
    schedule: Schedule,
    store: &Snapshots,
) {
    if crate::failpoint::hit(&format!("poll:{}", target.name)) {
        panic!("failpoint poll:{} hit", target.name);
    }
    let due: Vec<bool> = states.iter().map(|s| s.is_due(schedule.started)).collect();
    let endpoints: Vec<_> = states
        .iter()
        .zip(&due)
        .filter(|(_, due)| **due)
        .map(|(s, _)| s.endpoint)
        .collect();
    let mut results = poll_endpoints(target, client, &endpoints).await;
    let carried_series = states
        .iter()
        .zip(&due)
        .filter(|(_, due)| !**due)
        .filter_map(|(s, _)| s.last_good.as_deref())
        .map(Reading::series)
        .sum();
    enforce_sample_limit(target, &endpoints, &mut results, carried_series);

    let now = Instant::now();
    // The next poll starts at `due`, or at once if this one overran.
    let confirmed_until = schedule.due.max(now) + schedule.max_staleness;
    let mut results = results.into_iter();
    for (state, due) in states.iter_mut().zip(due) {
        if !due {
            if state.last_good.is_some() {
                state.stale_at = Some(confirmed_until);
            }
            continue;
        }
        let Some(poll) = results.next() else {
            break;
        };
        state.record(target, poll, confirmed_until);
        state.schedule_after(state.success, schedule.started);
    }
    let endpoints = states
        .iter_mut()
        .map(|state| {
            if state.stale_at.is_some_and(|at| now >= at) {
                state.last_good = None;
                state.stale_at = None;
            }
            state.snapshot()
        })
        .collect();
    store.publish(target_snapshot(target, endpoints));
}

/// A target's snapshot of `endpoints`, as polled now.
fn target_snapshot(target: &Target, endpoints: Vec<EndpointSnapshot>) -> TargetSnapshot {
    TargetSnapshot {
        target: target.name.clone(),
        provider: target.provider.name,
        display_name: target.display_name().to_owned(),
        endpoints,
        polled_at: unix_now(),
        credential_in_clear: credential_in_clear(&target.base_url),
    }
}

/// Fails the largest readings of a poll with reason `limit` until the rest, and
/// the `carried_series` of endpoints that sat out the poll, fit the target's
/// `sample_limit`; the failed endpoints keep their last good values.
fn enforce_sample_limit(
    target: &Target,
    endpoints: &[Endpoint],
    results: &mut [EndpointPoll],
    carried_series: usize,
) {
    let mut sizes: Vec<(usize, usize)> = results
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.result.as_ref().ok().map(|r| (i, r.series())))
        .collect();
    let total: usize = carried_series + sizes.iter().map(|(_, n)| n).sum::<usize>();
    if total <= target.sample_limit {
        return;
    }
    sizes.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let mut kept = total;
    for (index, series) in sizes {
        if kept <= target.sample_limit {
            break;
        }
        results[index].result = Err(PollError::new(
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
            state.success = false;
            state.duration_seconds = 0.0;
            state.last_error = Some(error.clone());
            state.snapshot()
        })
        .collect();
    target_snapshot(target, endpoints)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_without_a_minimum_interval_is_always_due() {
        let start = Instant::now();
        let mut state = EndpointState::new(Endpoint::Usage, None);
        assert!(state.is_due(start));
        state.schedule_after(true, start);
        assert!(state.is_due(start));
        state.schedule_after(false, start);
        assert!(state.is_due(start));
    }

    #[test]
    fn stock_sits_out_its_minimum_interval_after_a_success_but_not_after_a_failure() {
        let start = Instant::now();
        let mut state = EndpointState::new(Endpoint::Stock, None);
        assert!(state.is_due(start), "the first poll reads it");
        state.schedule_after(true, start);
        let just_before = start + Endpoint::Stock.min_interval() - Duration::from_millis(1);
        assert!(!state.is_due(start + Duration::from_secs(60)));
        assert!(!state.is_due(just_before));
        assert!(state.is_due(start + Endpoint::Stock.min_interval()));
        state.schedule_after(false, start);
        assert!(
            state.is_due(start + Duration::from_secs(60)),
            "a failure is retried at the next poll"
        );
    }
}
