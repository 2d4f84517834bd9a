//! Usage spikes (`ProxyUsageSpike`): a pool's or a sub-account's consumption
//! over the last window against its average over the baseline before, computed
//! as the rule file's PromQL computes it, so that the agent, `check` and the
//! front page agree with Prometheus on the same samples.
//!
//! Consumption is Prometheus 2's `increase()` of a figure that only grows with
//! use (a pool's purchased minus remaining traffic, a sub-account's used
//! traffic): a fall is a counter reset (a new package, a monthly reset of used),
//! never consumption, and a top-up, which raises purchased and remaining alike,
//! leaves the figure alone. Ranges are closed (`[t - range, t]`), as Prometheus
//! 2's range selectors.

use crate::alerts::Spike;
use crate::forecast::History;
pub use crate::promql::increase;
use crate::promql::range;

/// Prometheus' lookback for an instant selector (`x offset 24h`).
const LOOKBACK: f64 = 300.0;

/// One sample: (Unix seconds, value).
pub type Sample = (f64, f64);

/// A spike's figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Consumed over the window (bytes): the alert's value.
    pub consumed: f64,
    /// The baseline's average scaled to the window (bytes).
    pub usual: f64,
    /// Whether the alert's condition holds.
    pub spiking: bool,
}

/// The figures of the rule at `now`, from `samples` (oldest first, every
/// sample since at least `now - window - baseline`); `None` while the rule is
/// not evaluated: less than two samples in the window or in the baseline, or
/// no sample `min_history` ago (within Prometheus' 5 minutes of lookback).
pub fn read(samples: &[Sample], now: f64, spike: &Spike) -> Option<Reading> {
    read_spaced(samples, now, spike, 0.0)
}

/// [`read`] of samples kept at most `step` seconds apart (a sub-account's
/// hourly rows in the store, and the latest poll): the sample `min_history` ago
/// is looked for within `step` plus Prometheus' lookback, and the baseline's
/// average is taken per `step` of time rather than per sample (the window holds
/// the latest poll besides its rows, which would count it twice), as a series
/// scraped evenly would have it. `step` 0: every poll is a sample, as in
/// Prometheus.
fn read_spaced(samples: &[Sample], now: f64, spike: &Spike, step: f64) -> Option<Reading> {
    let window = spike.window.as_secs_f64();
    let baseline = spike.baseline.as_secs_f64();
    let history_at = now - spike.min_history.as_secs_f64();
    if range(samples, history_at - LOOKBACK - step + 0.001, history_at).is_empty() {
        return None;
    }
    let consumed = increase(samples, now - window, now)?;
    let before_end = now - window;
    let before = increase(samples, before_end - baseline, before_end)?;
    let (before_count, window_count) = if step > 0.0 {
        (baseline / step, (window / step).max(1.0))
    } else {
        let count = |from: f64, to: f64| range(samples, from, to).len() as f64;
        (
            count(before_end - baseline, before_end),
            count(now - window, now),
        )
    };
    // In the rule's order of operations, so that a tie falls the same way.
    let limit = spike.factor * before / before_count * window_count;
    Some(Reading {
        consumed,
        usual: before / before_count * window_count,
        spiking: consumed > limit && consumed > spike.min_bytes,
    })
}

/// How far back [`read`] needs samples from, at `now`.
pub fn since(now: f64, spike: &Spike) -> f64 {
    let back = (spike.window + spike.baseline).max(spike.min_history);
    now - back.as_secs_f64() - LOOKBACK
}

/// `samples` with `latest` added when it is newer than the last of them (a
/// poll not stored yet, or a sub-account's reading between its hourly rows).
pub fn with_latest(mut samples: Vec<Sample>, latest: Option<Sample>) -> Vec<Sample> {
    if let Some(latest) = latest.filter(|l| l.1.is_finite()) {
        if samples.last().is_none_or(|last| latest.0 > last.0) {
            samples.push(latest);
        }
    }
    samples
}

/// A pool's figures at `now` ([`read`]): its consumed figure (purchased minus
/// remaining) from the stored history since [`since`], with `latest` (this
/// poll's `(unix seconds, purchased - remaining)`) added when newer. The agent,
/// `check` and the front page read a pool through this.
pub fn pool(
    history: &dyn History,
    (provider, target, pool): (&str, &str, &str),
    latest: Option<Sample>,
    now: f64,
    rule: &Spike,
) -> Option<Reading> {
    let samples = history
        .pool_points(provider, target, pool, since(now, rule))
        .iter()
        .map(|q| (q.at, q.purchased - q.remaining))
        .filter(|s| s.1.is_finite())
        .collect();
    read(&with_latest(samples, latest), now, rule)
}

/// A sub-account's figures at `now` ([`read`]): its used traffic from the
/// stored history since [`since`] (one [`History::account_step`] earlier, the
/// sample `min_history` ago being looked for that much further back), with `latest` (this poll's `(unix seconds,
/// used bytes)`) added when newer. `None` without reading the history while it
/// has used less than `min_bytes` in all (it cannot have consumed more within
/// the window). The agent, `check` and the front page read a sub-account
/// through this.
pub fn account(
    history: &dyn History,
    (provider, target, product, account): (&str, &str, &str, &str),
    latest: Sample,
    now: f64,
    rule: &Spike,
) -> Option<Reading> {
    if latest.1 < rule.min_bytes {
        return None;
    }
    let step = history.account_step();
    let since = since(now, rule) - step;
    let stored = history.account_used(provider, target, product, account, since);
    read_spaced(&with_latest(stored, Some(latest)), now, rule, step)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

    fn spike() -> Spike {
        crate::alerts::USAGE_SPIKE_DEFAULTS
    }

    /// A sample a minute for `minutes`, growing by `per_minute(m)`.
    fn series(minutes: i64, per_minute: impl Fn(i64) -> f64) -> Vec<Sample> {
        let mut value = 0.0;
        (0..=minutes)
            .map(|m| {
                value += per_minute(m);
                ((m * 60) as f64, value)
            })
            .collect()
    }

    #[test]
    fn hourly_rows_are_averaged_per_hour_not_per_row() {
        // 8 days of hourly rows at 1 GiB an hour, and the latest poll 30 minutes
        // after the last row: steady use is its usual hour, 4x that spikes.
        let rows: Vec<Sample> = (0..=192)
            .map(|h| ((h * 3600) as f64, h as f64 * GIB))
            .collect();
        let now = 192.0 * 3600.0 + 1800.0;
        let steady = with_latest(rows.clone(), Some((now, 192.5 * GIB)));
        let r = read_spaced(&steady, now, &spike(), 3600.0).unwrap();
        assert!((r.usual - GIB).abs() < 0.01 * GIB, "{r:?}");
        assert!((r.consumed - GIB).abs() < 0.01 * GIB && !r.spiking, "{r:?}");
        let burst = with_latest(rows, Some((now, 194.0 * GIB)));
        let r = read_spaced(&burst, now, &spike(), 3600.0).unwrap();
        assert!(
            r.spiking && (r.consumed - 4.0 * GIB).abs() < 0.01 * GIB,
            "{r:?}"
        );
    }

    #[test]
    fn a_spike_fires_and_steady_use_a_top_up_or_a_reset_do_not() {
        let minutes = 2 * 24 * 60;
        let now = (minutes * 60) as f64;
        // 10 MiB a minute, then 100 MiB a minute for the last hour.
        let steady = |_| 10.0 * 1024.0 * 1024.0;
        let spiking = series(minutes, |m| {
            if m > minutes - 60 {
                100.0 * 1024.0 * 1024.0
            } else {
                steady(m)
            }
        });
        let r = read(&spiking, now, &spike()).unwrap();
        assert!(r.spiking && r.consumed > 5.0 * GIB, "{r:?}");
        assert!(
            !read(&series(minutes, steady), now, &spike())
                .unwrap()
                .spiking
        );
        // A monthly reset of used in the last hour: never a spike.
        let mut reset = series(minutes, steady);
        let at_reset = reset[(minutes - 30) as usize].1;
        for s in reset.iter_mut().skip((minutes - 30) as usize) {
            s.1 -= at_reset;
        }
        assert!(!read(&reset, now, &spike()).unwrap().spiking);
        // Less than 24 h of history: not evaluated.
        let young = series(20 * 60, |m| if m > 19 * 60 { 100.0 * GIB } else { 1.0 });
        assert_eq!(read(&young, (20 * 3600) as f64, &spike()), None);
        // Below min_bytes: not a spike, however sudden.
        let small = Spike {
            min_bytes: 100.0 * GIB,
            ..spike()
        };
        assert!(!read(&spiking, now, &small).unwrap().spiking);
    }
}
