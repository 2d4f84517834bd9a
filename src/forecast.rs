//! The exhaustion forecast: how fast a pool is consumed, and so when it runs
//! dry. The rate is the average use of the last day ([`FORECAST_RATE_WINDOW`]):
//! PromQL's `rate()` of the consumed figure (purchased minus remaining, which a
//! top-up leaves alone and a new package resets), once a day of history exists;
//! before that, the least-squares trend of the remaining traffic over the last
//! [`FORECAST_WINDOW`] (`deriv`), unless the purchased figure changed within it.
//! The backtest (`examples/forecast_backtest.rs`, docs/performance.md) chose
//! the day's average: on a pool busy by day and quiet by night its median error
//! is under 1 %, the 6 h trend's 31 %. The agent's
//! `ProxyTrafficExhaustionForecast`, `check` and the front page all read "days
//! left" from [`forecast`], so they agree with each other and with the rule file.

use std::time::Duration;

pub use crate::alerts::{FORECAST_RATE_WINDOW, FORECAST_WINDOW};

/// Prometheus' lookback for an instant selector (`x offset 24h`).
const LOOKBACK: f64 = 300.0;

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

/// What a pool's forecast rate was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The average use of the last [`FORECAST_RATE_WINDOW`].
    LastDay,
    /// The trend of the last [`FORECAST_WINDOW`]: less than a day of history.
    Trend,
}

/// A pool's forecast at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// Bytes consumed per second (0 while nothing is).
    pub consumption: f64,
    pub basis: Basis,
}

impl Forecast {
    /// Seconds until `remaining` bytes are gone at this rate; `None` while
    /// nothing is consumed.
    pub fn seconds_left(&self, remaining: f64) -> Option<f64> {
        (self.consumption > 0.0).then(|| remaining / self.consumption)
    }

    /// Days until `remaining` bytes are gone (what the front page, the status
    /// API and `check` show); `None` while nothing is consumed.
    pub fn days_left(&self, remaining: f64) -> Option<f64> {
        self.seconds_left(remaining).map(|s| s / 86_400.0)
    }

    /// The rule's condition: consumed, and `remaining` is gone within `horizon`.
    pub fn runs_dry_within(&self, remaining: f64, horizon: Duration) -> bool {
        self.seconds_left(remaining)
            .is_some_and(|s| s < horizon.as_secs_f64())
    }
}

/// The forecast of a pool at `now`, as the rule file's
/// `proxy:traffic_consumption_bytes_per_second:forecast` reads it: the stored
/// history and `latest` (a poll not stored yet, which replaces stored points
/// from its time on) when given. The day's average ([`Basis::LastDay`]) once a
/// point a day old exists (within Prometheus' 5 minutes of lookback), else the
/// 6 h trend ([`Basis::Trend`], see [`trend`] for when there is none).
pub fn forecast(
    history: &dyn History,
    provider: &str,
    target: &str,
    pool: &str,
    now: f64,
    latest: Option<Point>,
) -> Option<Forecast> {
    let day = FORECAST_RATE_WINDOW.as_secs_f64();
    let mut points = history.pool_points(provider, target, pool, now - day - LOOKBACK);
    if let Some(latest) = latest {
        points.retain(|point| point.at < latest.at);
        points.push(latest);
    }
    if let Some(rate) = last_day_rate(&points, now, day) {
        return Some(Forecast {
            consumption: rate.max(0.0),
            basis: Basis::LastDay,
        });
    }
    let since = now - FORECAST_WINDOW.as_secs_f64();
    points.retain(|point| point.at >= since);
    let trend = trend(&points, now)?;
    Some(Forecast {
        consumption: trend.consumption(),
        basis: Basis::Trend,
    })
}

/// `rate(proxy:traffic_consumed_bytes[24h]) and proxy:traffic_consumed_bytes
/// offset 24h`: `None` without a point a day old.
fn last_day_rate(points: &[Point], now: f64, day: f64) -> Option<f64> {
    let consumed: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.at, p.purchased - p.remaining))
        .filter(|s| s.1.is_finite())
        .collect();
    let day_ago = now - day;
    consumed
        .iter()
        .any(|s| s.0 > day_ago - LOOKBACK && s.0 <= day_ago)
        .then(|| crate::promql::rate(&consumed, day_ago, now))
        .flatten()
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

    /// A pool's history every 10 minutes for `hours` before `now`, used at
    /// `rate(t)` bytes a second.
    struct Used {
        hours: i64,
        rate: fn(f64) -> f64,
    }

    impl History for Used {
        fn pool_points(&self, _: &str, _: &str, _: &str, since: f64) -> Vec<Point> {
            let now = (self.hours * 3600) as f64;
            let mut left = 1e12;
            (0..=self.hours * 6)
                .map(|i| {
                    let at = (i * 600) as f64;
                    if i > 0 {
                        left -= (self.rate)(at - 300.0) * 600.0;
                    }
                    Point {
                        at,
                        remaining: left,
                        purchased: 2e12,
                    }
                })
                .filter(|p| p.at >= since && p.at <= now)
                .collect()
        }
    }

    #[test]
    fn a_day_of_history_is_read_at_its_average_and_less_at_the_six_hour_trend() {
        // Busy by day (3 units a second from 6h to 18h), quiet by night (1).
        let daily = |t: f64| {
            if (t / 3600.0) % 24.0 >= 6.0 && (t / 3600.0) % 24.0 < 18.0 {
                3.0
            } else {
                1.0
            }
        };
        // At 28h, 4 h into the night: the day's average is 2, the trend 1.
        let day = forecast(
            &Used {
                hours: 28,
                rate: daily,
            },
            "p",
            "t",
            "x",
            28.0 * 3600.0,
            None,
        )
        .unwrap();
        assert_eq!(day.basis, Basis::LastDay);
        assert!((day.consumption - 2.0).abs() < 0.01, "{day:?}");
        assert!(day.runs_dry_within(2.0 * 86_400.0 * 0.99, Duration::from_secs(86_400)));
        assert!(!day.runs_dry_within(2.0 * 86_400.0 * 1.01, Duration::from_secs(86_400)));
        // At 12h there is no day of history: the 6 h trend of the day.
        let young = forecast(
            &Used {
                hours: 12,
                rate: daily,
            },
            "p",
            "t",
            "x",
            12.0 * 3600.0,
            None,
        )
        .unwrap();
        assert_eq!(young.basis, Basis::Trend);
        assert!((young.consumption - 3.0).abs() < 0.01, "{young:?}");
        assert_eq!(forecast(&NoHistory, "p", "t", "x", 0.0, None), None);
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
