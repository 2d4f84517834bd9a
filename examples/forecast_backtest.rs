//! The exhaustion forecast's backtest (issue 27): synthetic 30-day traces of a
//! pool's consumption replayed through candidate forecast methods, reporting
//! for each the error of the predicted time left against the true one.
//!
//! ```text
//! cargo run --release --example forecast_backtest
//! ```
//!
//! Each trace is a sample every 5 minutes of a pool's consumed traffic (a
//! counter that only grows with use) and whether its purchased figure changed
//! (a top-up). At every hour from day 8 to day 30 and for each horizon of
//! 12 h, 1, 3 and 7 days, the pool is given as much traffic as the trace really
//! consumes in that horizon, so the true time left is the horizon; a method
//! predicts it from the samples before that hour alone. The error is
//! |predicted − true| / true; the table gives its median and 90th percentile
//! over every hour and horizon, and how often the method answered at all.
//! Deterministic: the noise comes from a fixed seed.

use proxy_quota_exporter::forecast::{self, History, Point};
use proxy_quota_exporter::promql;

const STEP: f64 = 300.0;
const HOUR: f64 = 3600.0;
const DAY: f64 = 86_400.0;
/// Days of history before the first evaluation (the weekly methods need 7).
const FIRST_DAY: usize = 8;
const LAST_DAY: usize = 30;
/// The horizons a pool is given (the alert's 1 and 3 days among them).
const HORIZONS: [f64; 4] = [0.5 * DAY, DAY, 3.0 * DAY, 7.0 * DAY];
/// Each 5-minute step's use is its rate times a uniform factor in 1 ± NOISE.
const NOISE: f64 = 0.25;

/// A pool's history: consumed bytes at each step, and the steps at which its
/// purchased figure changed (a top-up).
struct Trace {
    name: &'static str,
    consumed: Vec<f64>,
    top_ups: Vec<usize>,
}

fn daily(t: f64) -> f64 {
    1.0 + 0.5 * (std::f64::consts::TAU * t / DAY).sin()
}

/// Busy on weekdays (1.2×), quiet at weekends (0.5×), averaging 1 a week.
fn weekly(t: f64) -> f64 {
    let weekday = (t / DAY) as usize % 7;
    daily(t) * if weekday < 5 { 1.2 } else { 0.5 }
}

fn trace(name: &'static str, rate: impl Fn(f64) -> f64, top_up_every: Option<f64>) -> Trace {
    let mut rng = fastrand::Rng::with_seed(27);
    let steps = ((LAST_DAY as f64 + 7.5) * DAY / STEP) as usize;
    let mut consumed = Vec::with_capacity(steps);
    let mut total = 0.0;
    for k in 0..steps {
        consumed.push(total);
        let t = k as f64 * STEP;
        total += rate(t + STEP / 2.0) * STEP * (1.0 + NOISE * (2.0 * rng.f64() - 1.0));
    }
    let top_ups = match top_up_every {
        Some(every) => (1..)
            .map(|n| (n as f64 * every / STEP) as usize)
            .take_while(|&k| k < steps)
            .collect(),
        None => Vec::new(),
    };
    Trace {
        name,
        consumed,
        top_ups,
    }
}

fn traces() -> Vec<Trace> {
    vec![
        trace("steady", |_| 1.0, None),
        trace("daily cycle (peak 3× trough)", daily, None),
        trace("weekly cycle", weekly, None),
        trace(
            "step change (2× on day 15)",
            |t| daily(t) * if t < 15.0 * DAY { 1.0 } else { 2.0 },
            None,
        ),
        // Topped up every 2.5 days: the purchased figure changes, the consumed one does not.
        trace("top-ups (daily cycle)", daily, Some(2.5 * DAY)),
    ]
}

/// What a method sees at step `now`: the trace's samples up to it.
struct View<'a> {
    trace: &'a Trace,
    now: usize,
}

impl View<'_> {
    fn at(&self, k: usize) -> f64 {
        k as f64 * STEP
    }

    /// The steps of the last `window` seconds, `now` included.
    fn since(&self, window: f64) -> usize {
        self.now.saturating_sub((window / STEP) as usize)
    }

    /// The remaining traffic as the store would hold it: falling with use,
    /// and the purchased figure, which each top-up changes.
    fn points(&self, window: f64, remaining_now: f64) -> Vec<Point> {
        let c = &self.trace.consumed;
        (self.since(window)..=self.now)
            .map(|k| Point {
                at: self.at(k),
                remaining: remaining_now + c[self.now] - c[k],
                purchased: self.trace.top_ups.iter().filter(|&&u| u <= k).count() as f64,
            })
            .collect()
    }

    /// The consumed figure as `(unix seconds, bytes)` over the last `window`.
    fn consumed(&self, window: f64) -> Vec<(f64, f64)> {
        (self.since(window)..=self.now)
            .map(|k| (self.at(k), self.trace.consumed[k]))
            .collect()
    }
}

/// A forecast method: seconds left for `remaining` at the view's now.
type Method = fn(&View, f64) -> Option<f64>;

/// Today's and the other least-squares trends of the remaining traffic, silent
/// across a top-up (as the rule's `changes(purchased) > 0`).
fn linear(view: &View, remaining: f64, window: f64) -> Option<f64> {
    let now = view.at(view.now);
    forecast::trend(&view.points(window, remaining), now)?.seconds_left(remaining)
}

/// The average rate of use over the `window` before now: PromQL's `rate()` of
/// the consumed figure.
fn average(view: &View, remaining: f64, window: f64) -> Option<f64> {
    let now = view.at(view.now);
    let rate = promql::rate(&view.consumed(window + STEP), now - window, now)?;
    (rate > 0.0).then(|| remaining / rate)
}

/// The trace as the store would hold it, for [`forecast::forecast`].
struct Stored<'a> {
    view: &'a View<'a>,
    remaining: f64,
}

impl History for Stored<'_> {
    fn pool_points(&self, _: &str, _: &str, _: &str, since: f64) -> Vec<Point> {
        let window = self.view.at(self.view.now) - since;
        self.view.points(window, self.remaining)
    }
}

/// What the exporter ships: [`forecast::forecast`] (the last day's average,
/// the 6 h trend before a day of history), on the stored points.
fn shipped(view: &View, remaining: f64) -> Option<f64> {
    let history = Stored { view, remaining };
    let now = view.at(view.now);
    forecast::forecast(&history, "", "", "", now, None)?.seconds_left(remaining)
}

/// Replays the consumption of the `period` before now, over and over, until
/// `remaining` is used up (a seasonal-naive forecast).
fn replay(view: &View, remaining: f64, period: f64) -> Option<f64> {
    let c = &view.trace.consumed;
    let start = view.now.checked_sub((period / STEP) as usize)?;
    let per_period = c[view.now] - c[start];
    if per_period <= 0.0 {
        return None;
    }
    let whole = (remaining / per_period).floor();
    let mut left = remaining - whole * per_period;
    let mut seconds = whole * period;
    for k in start..view.now {
        let used = c[k + 1] - c[k];
        if used >= left {
            return Some(seconds + STEP * left / used);
        }
        left -= used;
        seconds += STEP;
    }
    Some(seconds)
}

/// [`replay`] of last week, scaled by how the last day's use compares with
/// the same day a week before (a seasonal forecast that follows a new level).
fn replay_levelled(view: &View, remaining: f64) -> Option<f64> {
    let c = &view.trace.consumed;
    let (day, week) = ((DAY / STEP) as usize, (7.0 * DAY / STEP) as usize);
    let week_ago = view.now.checked_sub(week)?;
    let last_day = c[view.now] - c[view.now - day];
    let that_day = c[week_ago] - c[week_ago.checked_sub(day)?];
    if that_day <= 0.0 || last_day <= 0.0 {
        return None;
    }
    replay(view, remaining * that_day / last_day, 7.0 * DAY)
}

const METHODS: &[(&str, Method)] = &[
    ("linear 6 h (before this change)", |v, r| {
        linear(v, r, 6.0 * HOUR)
    }),
    ("linear 24 h", |v, r| linear(v, r, DAY)),
    ("linear 7 d", |v, r| linear(v, r, 7.0 * DAY)),
    ("average rate 24 h", |v, r| average(v, r, DAY)),
    ("average rate 7 d", |v, r| average(v, r, 7.0 * DAY)),
    ("same hours yesterday", |v, r| replay(v, r, DAY)),
    ("same hours last week", |v, r| replay(v, r, 7.0 * DAY)),
    ("same hours last week × last day's level", replay_levelled),
    ("shipped: forecast::forecast (average 24 h)", shipped),
];

/// The errors of `method` on `trace` at every hour and horizon, and how many
/// times it answered of how many it was asked.
fn errors(trace: &Trace, method: Method) -> (Vec<f64>, usize, usize) {
    errors_within(trace, method, &HORIZONS)
}

/// [`errors`] for the given horizons only.
fn errors_within(trace: &Trace, method: Method, horizons: &[f64]) -> (Vec<f64>, usize, usize) {
    let mut errors = Vec::new();
    let mut asked = 0;
    let per_hour = (HOUR / STEP) as usize;
    let per_day = (DAY / STEP) as usize;
    for now in (FIRST_DAY * per_day..LAST_DAY * per_day).step_by(per_hour) {
        for &horizon in horizons {
            asked += 1;
            let until = now + (horizon / STEP) as usize;
            let remaining = trace.consumed[until] - trace.consumed[now];
            if let Some(predicted) = method(&View { trace, now }, remaining) {
                errors.push((predicted - horizon).abs() / horizon);
            }
        }
    }
    let answered = errors.len();
    errors.sort_by(f64::total_cmp);
    (errors, answered, asked)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let traces = traces();
    println!(
        "Relative error of the predicted time left, median / 90th percentile (answered share)\n"
    );
    let mut header = String::from("| method |");
    let mut rule = String::from("|---|");
    for t in &traces {
        header.push_str(&format!(" {} |", t.name));
        rule.push_str("---|");
    }
    println!("{header}\n{rule}");
    for (name, method) in METHODS {
        let mut row = format!("| {name} |");
        for t in &traces {
            let (e, answered, asked) = errors(t, *method);
            let share = answered as f64 / asked as f64 * 100.0;
            let cell = if e.is_empty() {
                " no answer".to_owned()
            } else {
                format!(
                    " {:.1} % / {:.1} %",
                    quantile(&e, 0.5) * 100.0,
                    quantile(&e, 0.9) * 100.0
                )
            };
            row.push_str(&cell);
            if answered < asked {
                row.push_str(&format!(" ({share:.0} %)"));
            }
            row.push_str(" |");
        }
        println!("{row}");
    }
    let daily = &traces[1];
    println!(
        "\nThe {} trace by horizon, median / 90th percentile\n",
        daily.name
    );
    let hours: Vec<String> = HORIZONS
        .iter()
        .map(|h| format!(" {} h |", h / HOUR))
        .collect();
    println!(
        "| method |{}\n|---|{}",
        hours.concat(),
        "---|".repeat(HORIZONS.len())
    );
    for (name, method) in METHODS {
        let mut row = format!("| {name} |");
        for horizon in HORIZONS {
            let (e, _, _) = errors_within(daily, *method, &[horizon]);
            let cell = format!(
                " {:.1} % / {:.1} % |",
                quantile(&e, 0.5) * 100.0,
                quantile(&e, 0.9) * 100.0
            );
            row.push_str(&cell);
        }
        println!("{row}");
    }
}
