//! A pool's remaining traffic as an inline SVG chart, drawn on the server: a
//! y-scale fitted to the window's own values (so that a week's burn shows,
//! not a line flat against 0..purchased), value ticks in IEC units, time ticks
//! (days over a long window), and the forecast to exhaustion as a dashed line
//! where the pool has one. The drawn points ride along in `data-points`, and
//! the page's script (`/static/page.js`, allowed by the CSP) shows the value
//! at a point on hover and under the arrow keys. `GET /api/v1/history`
//! serves the very same points ([`chart_points`]).

use std::fmt::Write as _;

use maud::{html, Markup};

use super::format::{time, DAY};
use crate::forecast::Point;

/// The most points a chart draws (and `/api/v1/history` serves).
pub const CHART_POINTS: usize = 240;

/// The viewBox, in SVG units (the chart keeps its aspect ratio, so text is
/// never stretched).
const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 170.0;
/// The plot area within it: left, top, right, bottom (axis labels outside).
const PLOT: [f64; 4] = [92.0, 10.0, 470.0, 138.0];
/// The time steps a time axis chooses from (seconds), the first that gives at
/// most [`MAX_TIME_TICKS`].
const TIME_STEPS: [f64; 10] = [
    60.0,
    300.0,
    900.0,
    1800.0,
    3600.0,
    3.0 * 3600.0,
    6.0 * 3600.0,
    12.0 * 3600.0,
    DAY,
    2.0 * DAY,
];
const MAX_TIME_TICKS: f64 = 7.0;

/// The points a chart of `history` since `from` draws, oldest first: at most
/// [`CHART_POINTS`], every n-th, the newest always kept.
pub fn chart_points(history: &[Point], from: f64) -> Vec<Point> {
    let first = history.partition_point(|p| p.at < from);
    let points = &history[first..];
    let step = points.len().div_ceil(CHART_POINTS).max(1);
    let mut drawn: Vec<Point> = points.iter().step_by(step).copied().collect();
    if let Some(last) = points.last() {
        if !(points.len() - 1).is_multiple_of(step) {
            drawn.push(*last);
        }
    }
    drawn
}

/// When the pool runs empty at the trend of days left, from a poll.
#[derive(Debug, Clone, Copy)]
pub(super) struct Forecast {
    /// Unix seconds.
    pub empty_at: f64,
    /// The rate it assumes, in words.
    pub basis: &'static str,
}

/// The chart's figure: caption, SVG, the readout the script fills, or an
/// honest note when there are fewer than two points.
pub(super) fn chart(
    caption: &str,
    history: &[Point],
    from: f64,
    forecast: Option<Forecast>,
    simulated_until: Option<f64>,
) -> Markup {
    let points = chart_points(history, from);
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return empty(caption);
    };
    if points.len() < 2 {
        return empty(caption);
    }
    let scale = Scale::new(&points, forecast);
    html! {
        figure.chart {
            figcaption {
                (caption)
                @if first.at > from + 60.0 {
                    " " span.since { "(since " (time(first.at)) ")" }
                }
                " · times in UTC"
                @if let Some(f) = forecast {
                    " · " span.forecast { "dashed: empty " (time(f.empty_at)) " at " (f.basis) }
                }
                @if let Some(until) = simulated_until.filter(|u| *u >= first.at) {
                    " · " span.simulated { "simulated until " (time(until)) }
                }
            }
            svg.line viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" tabindex="0"
                aria-label={ "remaining traffic, " (caption) ": " (bytes_label(last.remaining)) " at the end" }
                data-points=(data_points(&points))
                data-domain=(format!("{} {} {} {}", scale.x0, scale.x1, scale.lo, scale.hi))
                data-plot=(format!("{} {} {} {}", PLOT[0], PLOT[1], PLOT[2], PLOT[3])) {
                (axes(&scale))
                polygon.area points=(scale.area(&points)) {}
                polyline.trend points=(scale.line(&points)) {}
                @if let Some(f) = forecast {
                    (forecast_line(&scale, last, f))
                }
                line.cursor x1="0" y1=(PLOT[1]) x2="0" y2=(PLOT[3]) {}
                circle.dot cx="0" cy="0" r="3.5" {}
            }
            p.readout aria-live="polite" { "Hover or focus the chart (then ←/→) for a value." }
        }
    }
}

fn empty(caption: &str) -> Markup {
    html! {
        figure.chart {
            figcaption { (caption) }
            p.empty { "Not enough history yet." }
        }
    }
}

/// `at remaining` pairs, space-separated, for the page's script and tests.
fn data_points(points: &[Point]) -> String {
    let mut out = String::with_capacity(points.len() * 24);
    for p in points {
        let _ = write!(out, "{} {};", p.at, p.remaining);
    }
    out.pop();
    out
}

/// The dashed line from the newest point towards empty, cut at the chart's end.
fn forecast_line(scale: &Scale, last: &Point, f: Forecast) -> Markup {
    let end = scale.x1;
    let value = forecast_value(last, f, end);
    html! {
        line.forecast x1=(fmt1(scale.x(last.at))) y1=(fmt1(scale.y(last.remaining)))
            x2=(fmt1(scale.x(end))) y2=(fmt1(scale.y(value))) {}
    }
}

/// The forecast's value at `at`: a straight line from the newest point to 0
/// at `empty_at`.
fn forecast_value(last: &Point, f: Forecast, at: f64) -> f64 {
    let span = (f.empty_at - last.at).max(1.0);
    (last.remaining * (1.0 - (at - last.at) / span)).max(0.0)
}

/// Grid lines and tick labels of both axes.
fn axes(scale: &Scale) -> Markup {
    let [left, top, right, bottom] = PLOT;
    html! {
        @for (value, label) in scale.value_ticks() {
            line.grid x1=(left) x2=(right) y1=(fmt1(scale.y(value))) y2=(fmt1(scale.y(value))) {}
            text.tick x=(left - 6.0) y=(fmt1(scale.y(value) + 4.0)) text-anchor="end" { (label) }
        }
        @for (at, label, anchor) in scale.time_ticks() {
            line.grid x1=(fmt1(scale.x(at))) x2=(fmt1(scale.x(at))) y1=(top) y2=(bottom) {}
            text.tick x=(fmt1(scale.x(at))) y=(bottom + 20.0) text-anchor=(anchor) { (label) }
        }
        line.axis x1=(left) x2=(right) y1=(bottom) y2=(bottom) {}
    }
}

fn fmt1(v: f64) -> String {
    format!("{v:.1}")
}

/// From time and bytes to the plot's coordinates.
struct Scale {
    x0: f64,
    x1: f64,
    lo: f64,
    hi: f64,
}

impl Scale {
    /// Time from the first point to the last (and on to the forecast's end, a
    /// third of the span further at most); values from the window's lowest to
    /// its highest, with a margin.
    fn new(points: &[Point], forecast: Option<Forecast>) -> Scale {
        let (first, last) = (points[0], points[points.len() - 1]);
        let x0 = first.at;
        let span = (last.at - x0).max(60.0);
        let mut x1 = last.at.max(x0 + 60.0);
        let (mut lo, mut hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p.remaining), hi.max(p.remaining))
        });
        if let Some(f) = forecast {
            x1 = f.empty_at.min(last.at + span / 3.0).max(x1);
            lo = lo.min(forecast_value(&last, f, x1));
        }
        let range = if hi - lo > 0.0 {
            hi - lo
        } else {
            (hi.abs() * 0.02).max(1024.0)
        };
        hi += range * 0.08;
        lo = if lo >= 0.0 {
            (lo - range * 0.08).max(0.0)
        } else {
            lo - range * 0.08
        };
        Scale { x0, x1, lo, hi }
    }

    fn x(&self, at: f64) -> f64 {
        PLOT[0] + (at - self.x0) / (self.x1 - self.x0) * (PLOT[2] - PLOT[0])
    }

    fn y(&self, value: f64) -> f64 {
        PLOT[3] - (value - self.lo) / (self.hi - self.lo) * (PLOT[3] - PLOT[1])
    }

    fn line(&self, points: &[Point]) -> String {
        let mut out = String::with_capacity(points.len() * 12);
        for p in points {
            let _ = write!(out, "{:.1},{:.1} ", self.x(p.at), self.y(p.remaining));
        }
        out.pop();
        out
    }

    fn area(&self, points: &[Point]) -> String {
        let (first, last) = (points[0], points[points.len() - 1]);
        format!(
            "{:.1},{:.1} {} {:.1},{:.1}",
            self.x(first.at),
            PLOT[3],
            self.line(points),
            self.x(last.at),
            PLOT[3]
        )
    }

    /// Three to eight round values in one IEC unit, labelled (`12.5 GiB`).
    fn value_ticks(&self) -> Vec<(f64, String)> {
        let ticks = self.value_ticks_by(5.0);
        if ticks.len() >= 3 {
            ticks
        } else {
            self.value_ticks_by(10.0)
        }
    }

    /// Round values about a `parts`-th of the scale apart.
    fn value_ticks_by(&self, parts: f64) -> Vec<(f64, String)> {
        let unit = unit_of(self.hi.abs().max(self.lo.abs()));
        let size = 1024f64.powi(unit as i32);
        let step = nice_step((self.hi - self.lo) / size / parts);
        let decimals = (0..4)
            .find(|d| {
                let scaled = step * 10f64.powi(*d as i32);
                (scaled - scaled.round()).abs() < 1e-9
            })
            .unwrap_or(4);
        let mut ticks = Vec::new();
        let mut v = (self.lo / size / step).ceil() * step;
        while v * size <= self.hi && ticks.len() < 8 {
            ticks.push((v * size, format!("{v:.decimals$} {}", UNITS[unit])));
            v += step;
        }
        ticks
    }

    /// Round times within the span, days over a long one, hours otherwise,
    /// each with its label's anchor; ticks too near an end to hold a centred
    /// label are left out. Fewer than two ticks: the span's two ends.
    fn time_ticks(&self) -> Vec<(f64, String, &'static str)> {
        let span = self.x1 - self.x0;
        let step = TIME_STEPS
            .iter()
            .copied()
            .find(|s| span / s <= MAX_TIME_TICKS)
            .unwrap_or(7.0 * DAY);
        let label = |at: f64, format: &str| {
            chrono::DateTime::from_timestamp(at as i64, 0).map(|t| t.format(format).to_string())
        };
        let mut ticks = Vec::new();
        let mut at = (self.x0 / step).ceil() * step;
        while at <= self.x1 && ticks.len() < 10 {
            let x = self.x(at);
            let format = if at % DAY == 0.0 { "%b %-d" } else { "%H:%M" };
            if x - PLOT[0] >= TICK_ROOM && PLOT[2] - x >= TICK_ROOM {
                ticks.extend(label(at, format).map(|l| (at, l, "middle")));
            }
            at += step;
        }
        if ticks.len() < 2 {
            ticks.clear();
            ticks.extend(label(self.x0, "%H:%M:%S").map(|l| (self.x0, l, "start")));
            ticks.extend(label(self.x1, "%H:%M:%S").map(|l| (self.x1, l, "end")));
        }
        ticks
    }
}

/// How far from the plot's ends a centred time label must be, in SVG units.
const TICK_ROOM: f64 = 22.0;

const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// The IEC unit (as a power of 1024) that shows `value` below 1024.
fn unit_of(value: f64) -> usize {
    let mut unit = 0;
    let mut v = value;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    unit
}

/// 1, 2, 2.5 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power)
}

/// `12.3 GiB` for a label.
fn bytes_label(value: f64) -> String {
    crate::units::format_bytes(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

    fn point(at: f64, remaining: f64) -> Point {
        Point {
            at,
            remaining,
            purchased: 500.0 * GIB,
        }
    }

    #[test]
    fn a_chart_draws_at_most_its_points_and_always_the_newest() {
        let history: Vec<Point> = (0..1000).map(|i| point(i as f64, 1.0)).collect();
        let drawn = chart_points(&history, 100.0);
        assert!(drawn.len() <= CHART_POINTS + 1, "{}", drawn.len());
        assert_eq!(drawn[0].at, 100.0);
        assert_eq!(drawn.last().unwrap().at, 999.0);
        let times: Vec<f64> = drawn.iter().map(|p| p.at).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
        assert_eq!(chart_points(&history[..3], 0.0).len(), 3);
        assert!(chart_points(&history, 5000.0).is_empty());
    }

    #[test]
    fn a_week_of_burn_fills_the_height_of_the_chart() {
        // 107 GiB a day out of 500 GiB: the scale spans what the week used.
        let history: Vec<Point> = (0..=7)
            .map(|d| point(d as f64 * DAY, (450.0 - 10.0 * d as f64) * GIB))
            .collect();
        let scale = Scale::new(&history, None);
        assert!(scale.lo > 300.0 * GIB && scale.hi < 460.0 * GIB);
        let ys: Vec<f64> = history.iter().map(|p| scale.y(p.remaining)).collect();
        assert!(ys[7] - ys[0] > 0.8 * (PLOT[3] - PLOT[1]), "{ys:?}");
        let ticks = scale.value_ticks();
        assert!((3..=8).contains(&ticks.len()), "{ticks:?}");
        assert!(ticks.iter().all(|(_, l)| l.ends_with(" GiB")), "{ticks:?}");
        // A tick a day, those at the plot's very ends left out.
        let days = scale.time_ticks();
        assert_eq!(days.len(), 6, "{days:?}");
        assert_eq!(days[0], (DAY, "Jan 2".to_owned(), "middle"));
        assert_eq!(days[5].1, "Jan 7");
    }

    #[test]
    fn the_forecast_runs_to_empty_within_the_extended_span() {
        let history = [point(0.0, 10.0 * GIB), point(3600.0, 9.0 * GIB)];
        let f = Forecast {
            empty_at: 3600.0 + 9.0 * 3600.0,
            basis: "the last 6 h trend",
        };
        let scale = Scale::new(&history, Some(f));
        // A third of the hour further.
        assert_eq!(scale.x1, 3600.0 + 1200.0);
        let html = chart("Last 24 h", &history, 0.0, Some(f), None).into_string();
        assert!(html.contains("class=\"forecast\""), "{html}");
        assert!(
            html.contains("data-points=\"0 10737418240;3600 9663676416\""),
            "{html}"
        );
        // A scale that a fifth-step would tick twice gets more ticks.
        let wide = Scale {
            x0: 0.0,
            x1: 1.0,
            lo: 201.0 * GIB,
            hi: 226.5 * GIB,
        };
        assert_eq!(wide.value_ticks_by(5.0).len(), 2);
        let ticks = wide.value_ticks();
        assert!(ticks.len() >= 3, "{ticks:?}");
        // Half a minute of history: its two ends, to the second.
        let young = Scale::new(&[point(30.0, 1.0), point(60.0, 0.5)], None);
        let ends = young.time_ticks();
        assert_eq!(ends.len(), 2, "{ends:?}");
        assert_eq!((ends[0].2, ends[1].2), ("start", "end"));
        assert_eq!(ends[0].1, "00:00:30");
        let flat = chart("Last 24 h", &history[..1], 0.0, None, None).into_string();
        assert!(flat.contains("Not enough history yet."), "{flat}");
    }
}
