//! The simulator's consumption model over time: a daily rhythm (busy by day,
//! quiet by night, the peak 3× the trough), the bursts of the one sub-account
//! whose credential "leaked", and what a pool looked like before the start.
//! The live answers and the demo's simulated past are computed from the same
//! functions, so the two meet without a seam.

use std::f64::consts::TAU;

const DAY: f64 = 86_400.0;

/// How far the rate swings around its average: `1 ± RHYTHM`, so the busiest
/// moment uses 3× the quietest.
pub const RHYTHM: f64 = 0.5;

/// Seconds of "average use" in `[0, t]` (Unix seconds), an antiderivative of
/// the rhythm `1 + RHYTHM · sin(2π t / day)`: the rate peaks at 06:00 UTC
/// (14:00 in the providers' +08:00) and is lowest at 18:00 UTC (02:00 there).
fn busy_until(t: f64) -> f64 {
    let w = TAU / DAY;
    t - RHYTHM / w * (w * t).cos()
}

/// The rate of use at `t` (Unix seconds) relative to the day's average.
pub fn rhythm_at(t: f64) -> f64 {
    1.0 + RHYTHM * (TAU / DAY * t).sin()
}

/// Seconds of average use between `from` and `to` (Unix seconds); negative
/// when `to` is before `from`. A rate in bytes per second times this is what
/// was consumed between the two.
pub fn busy_seconds(from: f64, to: f64) -> f64 {
    busy_until(to) - busy_until(from)
}

/// The leaked sub-account's bursts: one a day, [`BURST_LENGTH`] seconds long,
/// the first starting [`BURST_LEAD`] seconds before the simulator starts (so a
/// demo sees `ProxyUsageSpike` within minutes).
pub const BURST_EVERY: f64 = DAY;
/// How long a burst lasts.
pub const BURST_LENGTH: f64 = 20.0 * 60.0;
/// How long before the simulator's start the burst under way at the start began.
pub const BURST_LEAD: f64 = 120.0;

/// Seconds spent bursting in `[start - BURST_LEAD, start + offset]` (negative
/// for a negative `offset`, counted back from there), `offset` seconds after
/// the simulator's start.
fn burst_until(offset: f64) -> f64 {
    let x = offset + BURST_LEAD;
    let cycles = x.div_euclid(BURST_EVERY);
    let into = x.rem_euclid(BURST_EVERY);
    cycles * BURST_LENGTH + into.min(BURST_LENGTH)
}

/// Seconds spent bursting between `from` and `to` seconds after the start
/// (negative when `to` is before `from`).
pub fn burst_seconds(from: f64, to: f64) -> f64 {
    burst_until(to) - burst_until(from)
}

/// Whether a burst is under way `offset` seconds after the start.
pub fn bursting(offset: f64) -> bool {
    (offset + BURST_LEAD).rem_euclid(BURST_EVERY) < BURST_LENGTH
}

/// How much of a package is left when the next is bought (what the simulated
/// past's renewals leave unused).
const LEFT_AT_RENEWAL: f64 = 0.02;

/// A pool's used figure when `consumed` (negative before the start) was
/// consumed since the start, where `used_at_start` of `total` was used: after
/// the start it grows until the pool is empty; before it, going back, a pool
/// whose used figure reaches 0 had just been renewed, and before that its
/// previous package of the same size was used up to all but
/// `LEFT_AT_RENEWAL` (a fall of the used figure, never consumption).
pub fn pool_used(used_at_start: f64, total: f64, consumed: f64) -> f64 {
    let used = used_at_start + consumed;
    if used >= 0.0 || total <= 0.0 {
        return used.min(total);
    }
    let full = total * (1.0 - LEFT_AT_RENEWAL);
    used.rem_euclid(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rhythm_averages_one_a_day_and_peaks_at_three_times_the_trough() {
        for start in [0.0, 12_345.0, 1.7e9] {
            let day = busy_seconds(start, start + DAY);
            assert!((day - DAY).abs() < 1e-3, "{day}");
        }
        let (peak, trough) = (rhythm_at(6.0 * 3600.0), rhythm_at(18.0 * 3600.0));
        assert!((peak / trough - 3.0).abs() < 1e-9, "{peak} / {trough}");
        // The antiderivative's slope is the rhythm.
        let t = 1.7e9 + 5000.0;
        let slope = busy_seconds(t, t + 1.0);
        assert!((slope - rhythm_at(t + 0.5)).abs() < 1e-6);
        assert!(busy_seconds(t, t - 10.0) < 0.0);
    }

    #[test]
    fn bursts_come_daily_and_the_first_is_under_way_at_the_start() {
        assert!(bursting(0.0) && bursting(-BURST_LEAD) && !bursting(-BURST_LEAD - 1.0));
        assert!(!bursting(BURST_LENGTH - BURST_LEAD + 1.0));
        assert!(bursting(BURST_EVERY));
        assert_eq!(burst_seconds(0.0, 60.0), 60.0);
        assert_eq!(burst_seconds(-BURST_EVERY, 0.0), BURST_LENGTH);
        assert_eq!(burst_seconds(0.0, -7.0 * BURST_EVERY), -7.0 * BURST_LENGTH);
    }

    #[test]
    fn a_pool_renewed_in_the_past_never_goes_below_zero_or_over_its_size() {
        assert_eq!(pool_used(50.0, 100.0, -20.0), 30.0);
        assert_eq!(pool_used(50.0, 100.0, 80.0), 100.0);
        // 60 before the start: the previous package was at 98 - 10.
        assert!((pool_used(50.0, 100.0, -60.0) - 88.0).abs() < 1e-9);
        for back in 0..1000 {
            let used = pool_used(50.0, 100.0, -(back as f64));
            assert!((0.0..=100.0).contains(&used), "{back}: {used}");
        }
    }
}
