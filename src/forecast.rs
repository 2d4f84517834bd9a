//! The exhaustion forecast: the least-squares trend of a pool's remaining
//! traffic over the last [`FORECAST_WINDOW`], computed as PromQL's `deriv` and
//! `predict_linear` compute it. The agent's `ProxyTrafficExhaustionForecast`,
//! `check` and the front page all read "days left" from here, so they agree
//! with each other and with the rule file.

use std::time::Duration;

pub use crate::alerts::FORECAST_WINDOW;

/// One point of a pool's history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Unix seconds.
    pub at: f64,
    /// Bytes.
    pub remaining: f64,
    /// Bytes; NaN when unknown (which counts as a change of package).
    pub purchased: f64,
}

/// Where the forecast reads a pool's recent history from.
pub trait History {
    /// The points of a pool since `since` (Unix seconds), oldest first.
    fn pool_points(&self, provider: &str, target: &str, pool: &str, since: f64) -> Vec<Point>;

    /// A sub-account's used traffic since `since` (Unix seconds), oldest first,
    /// as `(unix seconds, bytes)`; `ProxyUsageSpike` reads it. None by default.
    fn account_used(
        &self,
        _provider: &str,
        _target: &str,
        _product: &str,
        _account: &str,
        _since: f64,
    ) -> Vec<(f64, f64)> {
        Vec::new()
    }

    /// Seconds between a sub-account's stored points at most (the store keeps
    /// one an hour); 0 (the default) when every poll is kept.
    fn account_step(&self) -> f64 {
        0.0
    }

    /// Until when (Unix seconds) a pool's history is simulated (`--demo`'s
    /// week before its start); `None` (the default) when none of it is.
    fn simulated_until(&self, _provider: &str, _target: &str, _pool: &str) -> Option<f64> {
        None
    }
}

/// No history: every forecast stays silent.
pub struct NoHistory;

impl History for NoHistory {
    fn pool_points(&self, _: &str, _: &str, _: &str, _: f64) -> Vec<Point> {
        Vec::new()
    }
}

/// The trend of a pool's remaining traffic at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Bytes per second; negative while traffic is consumed.
    pub slope: f64,
    /// The trend's value at the moment it was computed for (`predict_linear`'s base).
    pub at_now: f64,
}

/// The trend of `points` at `now`, as the rule's `predict_linear(...[6h])` sees
/// it. `None` with fewer than two points, when the purchased figure changed
/// within them (a recharge or a new package breaks the line, and the rule's
/// `changes(...) == 0` waits), or when every point has the same time.
pub fn trend(points: &[Point], now: f64) -> Option<Trend> {
    if points.len() < 2
        // NaN differs from everything: an unknown purchased figure breaks the line too.
        || points.windows(2).any(|w| w[0].purchased != w[1].purchased)
    {
        return None;
    }
    let n = points.len() as f64;
    let (mut sx, mut sy, mut sxy, mut sxx) = (0.0, 0.0, 0.0, 0.0);
    for p in points {
        let x = p.at - now;
        sx += x;
        sy += p.remaining;
        sxy += x * p.remaining;
        sxx += x * x;
    }
    let denominator = n * sxx - sx * sx;
    if denominator == 0.0 {
        return None;
    }
    let slope = (n * sxy - sx * sy) / denominator;
    Some(Trend {
        slope,
        at_now: sy / n - slope * sx / n,
    })
}

/// The trend of a pool over the [`FORECAST_WINDOW`] before `now`: its stored
/// history, and `latest` (a poll not stored yet, which replaces stored points
/// from its time on) when given. See [`trend`] for when there is none.
pub fn recent_trend(
    history: &dyn History,
    provider: &str,
    target: &str,
    pool: &str,
    now: f64,
    latest: Option<Point>,
) -> Option<Trend> {
    let since = now - FORECAST_WINDOW.as_secs_f64();
    let mut points = history.pool_points(provider, target, pool, since);
    if let Some(latest) = latest {
        points.retain(|point| point.at < latest.at);
        points.push(latest);
    }
    trend(&points, now)
}

/// Seconds until `remaining` bytes are gone at the average rate of use over
/// the `window` before `now`: PromQL's `rate()` of the consumed figure
/// (`consumed`: `(unix seconds, bytes)` of a figure that only grows with use,
/// oldest first; a fall is a reset, never use). `None` while nothing is used.
pub fn seconds_left_at_average(
    consumed: &[(f64, f64)],
    remaining: f64,
    now: f64,
    window: f64,
) -> Option<f64> {
    let rate = crate::promql::rate(consumed, now - window, now)?;
    (rate > 0.0).then(|| remaining / rate)
}

impl Trend {
    /// Bytes consumed per second (0 while the trend does not fall).
    pub fn consumption(&self) -> f64 {
        (-self.slope).max(0.0)
    }

    /// Seconds until `remaining` bytes are gone at this trend's rate; `None`
    /// while nothing is consumed.
    pub fn seconds_left(&self, remaining: f64) -> Option<f64> {
        let consumption = self.consumption();
        (consumption > 0.0).then(|| remaining / consumption)
    }

    /// Days until `remaining` bytes are gone at this trend's rate (what the
    /// front page, the status API and `check` show); `None` while nothing is
    /// consumed.
    pub fn days_left(&self, remaining: f64) -> Option<f64> {
        self.seconds_left(remaining).map(|s| s / 86_400.0)
    }

    /// The rule's condition: consumed, and the trend crosses zero within `horizon`.
    pub fn runs_dry_within(&self, horizon: Duration) -> bool {
        self.consumption() > 0.0 && self.at_now + self.slope * horizon.as_secs_f64() < 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(at: f64, remaining: f64) -> Point {
        Point {
            at,
            remaining,
            purchased: 100.0,
        }
    }

    #[test]
    fn a_straight_line_is_its_own_trend() {
        let points = [point(0.0, 100.0), point(10.0, 90.0), point(20.0, 80.0)];
        let t = trend(&points, 20.0).unwrap();
        assert!((t.slope + 1.0).abs() < 1e-9);
        assert!((t.at_now - 80.0).abs() < 1e-9);
        assert_eq!(t.seconds_left(80.0), Some(80.0));
        assert!(t.runs_dry_within(Duration::from_secs(81)));
        assert!(!t.runs_dry_within(Duration::from_secs(79)));
    }

    #[test]
    fn no_trend_without_two_points_or_across_a_recharge() {
        assert_eq!(trend(&[point(0.0, 1.0)], 0.0), None);
        let mut recharged = [point(0.0, 100.0), point(10.0, 90.0)];
        recharged[1].purchased = 200.0;
        assert_eq!(trend(&recharged, 10.0), None);
        let mut unknown = [point(0.0, 100.0), point(10.0, 90.0)];
        unknown[0].purchased = f64::NAN;
        unknown[1].purchased = f64::NAN;
        assert_eq!(trend(&unknown, 10.0), None);
        assert_eq!(trend(&[point(5.0, 1.0), point(5.0, 2.0)], 5.0), None);
    }

    #[test]
    fn a_rising_or_flat_trend_never_runs_dry() {
        let flat = trend(&[point(0.0, 5.0), point(10.0, 5.0)], 10.0).unwrap();
        assert_eq!(flat.seconds_left(5.0), None);
        assert!(!flat.runs_dry_within(Duration::from_secs(1 << 30)));
        let rising = trend(&[point(0.0, 5.0), point(10.0, 6.0)], 10.0).unwrap();
        assert_eq!(rising.seconds_left(6.0), None);
    }
}
