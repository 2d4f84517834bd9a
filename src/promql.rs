//! PromQL's range functions over plain samples, as Prometheus 2 computes them,
//! so that the agent, `check` and the front page agree with the rule file on
//! the same samples: the samples of a closed range, `increase()` and `rate()`.
//! A sample is `(Unix seconds, value)`, oldest first.

/// The samples in `[start, end]`.
pub fn range(samples: &[(f64, f64)], start: f64, end: f64) -> &[(f64, f64)] {
    let from = samples.partition_point(|s| s.0 < start);
    let to = samples.partition_point(|s| s.0 <= end);
    &samples[from..to.max(from)]
}

/// PromQL's `increase(x[end - start])` evaluated at `end` (offset included in
/// `end`): the counter's growth over the samples in the range, a fall counted as
/// a reset, extrapolated towards the range's edges as `extrapolatedRate` does.
/// `None` with fewer than two samples.
pub fn increase(samples: &[(f64, f64)], start: f64, end: f64) -> Option<f64> {
    let s = range(samples, start, end);
    if s.len() < 2 {
        return None;
    }
    let (first, last) = (s[0], s[s.len() - 1]);
    let mut result = last.1 - first.1;
    for w in s.windows(2) {
        if w[1].1 < w[0].1 {
            result += w[0].1;
        }
    }
    let mut to_start = first.0 - start;
    let to_end = end - last.0;
    let sampled = last.0 - first.0;
    let average = sampled / (s.len() - 1) as f64;
    if result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = average * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        average / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        average / 2.0
    };
    Some(result * (interval / sampled))
}

/// PromQL's `rate(x[end - start])` at `end`: [`increase`] per second of the
/// range. `None` with fewer than two samples.
pub fn rate(samples: &[(f64, f64)], start: f64, end: f64) -> Option<f64> {
    Some(increase(samples, start, end)? / (end - start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increase_extrapolates_and_ignores_resets_as_promql() {
        // Samples every 60 s from 30 s in a 10 min range: extrapolated by 30 s
        // at the start and the end.
        let s: Vec<(f64, f64)> = (0..10)
            .map(|i| (30.0 + 60.0 * i as f64, 100.0 + 10.0 * i as f64))
            .collect();
        let inc = increase(&s, 0.0, 600.0).unwrap();
        assert!((inc - 90.0 * 600.0 / 540.0).abs() < 1e-9, "{inc}");
        // A reset: the value after it counts from 0.
        let s = [(0.0, 50.0), (60.0, 80.0), (120.0, 5.0), (180.0, 20.0)];
        assert_eq!(increase(&s, 0.0, 180.0), Some(50.0));
        assert_eq!(increase(&s[..1], 0.0, 180.0), None);
        assert_eq!(rate(&s, 0.0, 180.0), Some(50.0 / 180.0));
        // Closed ranges, as Prometheus 2's: samples on both edges count.
        assert_eq!(range(&s, 60.0, 120.0).len(), 2);
    }
}
