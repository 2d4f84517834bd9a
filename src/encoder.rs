//! The encoder: turns target snapshots into Prometheus text exposition bytes,
//! family by family in catalogue order, asking each reading and each target's
//! poll status for its samples. It knows the format, not what a reading means.
//!
//! A page is laid out by [`assemble`]: for every family of the catalogue its
//! HELP and TYPE lines (when it has samples), then each target's lines of that
//! family, then the exporter's own families. A target's lines are either
//! encoded from its snapshot or copied from an earlier page ([`Source`]), and
//! the page says where each target's lines of each family landed
//! ([`Segment`]): the exposition cache encodes only the targets that changed,
//! and `/probe` serves a target's slices of the page.

use std::collections::HashSet;
use std::hash::{BuildHasher as _, RandomState};
use std::io::Write as _;
use std::ops::Range;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use bytes::Bytes;

use crate::metrics::{self, MetricDef, MetricType, CATALOGUE};
use crate::shard::Shard;
use crate::snapshots::{AgentStatus, ReloadStatus, SilenceCounts, StoreStatus, TargetSnapshot};

/// The Content-Type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The exporter's own state, written into its families (those without
/// `provider` and `target`).
#[derive(Debug, Clone, Copy)]
pub struct ExporterStatus<'a> {
    pub reload: ReloadStatus,
    pub agent: &'a AgentStatus,
    pub storage: StoreStatus,
    pub shard: Shard,
    pub silences: SilenceCounts,
}

/// Where the sample lines of one family of one target are in a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The family's position in [`CATALOGUE`].
    pub family: usize,
    pub range: Range<usize>,
}

/// Where [`assemble`] takes a target's lines from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// Encoded from the snapshot: its readings that are not stale, and its poll
    /// status.
    Snapshot(&'a TargetSnapshot),
    /// Copied from an earlier page: its bytes, and the target's segments in
    /// them in catalogue order.
    Page {
        bytes: &'a [u8],
        segments: &'a [Segment],
    },
}

/// A laid-out page: its bytes, and for each source (in order) where its lines
/// are in them, family by family.
#[derive(Debug)]
pub struct Page {
    pub bytes: Vec<u8>,
    pub segments: Vec<Vec<Segment>>,
}

/// Encodes every target's snapshot plus the exporter's own families into one
/// page. Readings whose `stale_at` has passed by `now` are left out.
pub fn encode(targets: &[Arc<TargetSnapshot>], exporter: &ExporterStatus, now: Instant) -> Vec<u8> {
    let sources: Vec<_> = targets.iter().map(|t| Source::Snapshot(t)).collect();
    assemble(&sources, exporter, now).bytes
}

/// Lays out a page: for each family of the catalogue, its HELP and TYPE lines
/// (only when it has samples), then the lines of that family of every source in
/// turn (encoded at `now`, or copied), or the exporter's own samples.
pub fn assemble(sources: &[Source], exporter: &ExporterStatus, now: Instant) -> Page {
    let copied: usize = sources
        .iter()
        .map(|s| match s {
            Source::Page { segments, .. } => segments.iter().map(|g| g.range.len()).sum(),
            Source::Snapshot(_) => 0,
        })
        .sum();
    let mut out = Vec::with_capacity(copied + 16 * 1024);
    let mut placed: Vec<Vec<Segment>> = sources.iter().map(|_| Vec::new()).collect();
    let mut cursors = vec![0; sources.len()];
    let mut lines = Lines::new();
    for (index, &family) in CATALOGUE.iter().enumerate() {
        let header_at = out.len();
        out.extend_from_slice(&HEADERS[index]);
        let body_at = out.len();
        if family.per_target() {
            for ((source, cursor), placed) in sources.iter().zip(&mut cursors).zip(&mut placed) {
                let start = out.len();
                match source {
                    Source::Snapshot(target) => {
                        lines.reset();
                        target_samples(target, family, now, &mut lines, &mut out);
                    }
                    Source::Page { bytes, segments } => {
                        while segments.get(*cursor).is_some_and(|s| s.family < index) {
                            *cursor += 1;
                        }
                        if let Some(segment) = segments.get(*cursor).filter(|s| s.family == index) {
                            *cursor += 1;
                            out.extend_from_slice(&bytes[segment.range.clone()]);
                        }
                    }
                }
                if out.len() > start {
                    placed.push(Segment {
                        family: index,
                        range: start..out.len(),
                    });
                }
            }
        } else {
            lines.reset();
            exporter_samples(family, exporter, &mut |values, v| {
                lines.sample(&mut out, family, values, v)
            });
        }
        if out.len() == body_at {
            out.truncate(header_at);
        }
    }
    Page {
        bytes: out,
        segments: placed,
    }
}

/// Writes one target's samples of `family`.
fn target_samples(
    target: &TargetSnapshot,
    family: &'static MetricDef,
    now: Instant,
    lines: &mut Lines,
    out: &mut Vec<u8>,
) {
    let mut emit = |labels: &[&str], v: f64| {
        let mut values = [""; MAX_LABELS];
        let n = (2 + labels.len()).min(MAX_LABELS);
        values[0] = target.provider;
        values[1] = &target.target;
        values[2..n].copy_from_slice(&labels[..n - 2]);
        lines.sample(out, family, &values[..n], v);
    };
    for reading in target.readings(now) {
        reading.samples(family, &mut emit);
    }
    target.status_samples(family, &mut emit);
}

/// The HELP and TYPE lines of the family at `index` of the catalogue.
pub fn header(index: usize) -> Bytes {
    HEADERS[index].clone()
}

/// The HELP and TYPE lines of every family, in catalogue order.
static HEADERS: LazyLock<Vec<Bytes>> = LazyLock::new(|| {
    CATALOGUE
        .iter()
        .map(|def| {
            let kind = match def.kind {
                MetricType::Gauge => "gauge",
                MetricType::Counter => "counter",
            };
            Bytes::from(format!(
                "# HELP {} {}\n# TYPE {} {kind}\n",
                def.name, def.help, def.name
            ))
        })
        .collect()
});

/// The most labels a family of the catalogue has (a test checks it).
const MAX_LABELS: usize = 8;

/// The exporter's own series: build information, its shard, the last reload,
/// what the alerting agent counts, the silences and the store's health.
fn exporter_samples(
    family: &MetricDef,
    exporter: &ExporterStatus,
    emit: &mut dyn FnMut(&[&str], f64),
) {
    let reload = exporter.reload;
    let agent = exporter.agent;
    let storage = &exporter.storage;
    if family.is(&metrics::BUILD_INFO) {
        emit(&[metrics::VERSION, metrics::REVISION], 1.0);
    } else if family.is(&metrics::SHARD_INFO) {
        let shard = exporter.shard.index().to_string();
        let total = exporter.shard.total().to_string();
        emit(&[&shard, &total], 1.0);
    } else if family.is(&metrics::CONFIG_RELOAD_SUCCESSFUL) {
        emit(&[], if reload.successful { 1.0 } else { 0.0 });
    } else if family.is(&metrics::CONFIG_RELOAD_TIMESTAMP) {
        emit(&[], reload.success_timestamp);
    } else if family.is(&metrics::AGENT_ALERTS) {
        for (name, severity, state, count) in &agent.alerts {
            emit(&[name, severity, state], *count as f64);
        }
    } else if family.is(&metrics::NOTIFICATIONS) {
        for (receiver, success, failure) in &agent.notifications {
            emit(&[receiver, "success"], *success as f64);
            emit(&[receiver, "failure"], *failure as f64);
        }
    } else if family.is(&metrics::NOTIFICATIONS_PENDING) {
        for (receiver, pending) in &agent.pending {
            emit(&[receiver], *pending as f64);
        }
    } else if family.is(&metrics::SILENCES) {
        let silences = exporter.silences;
        emit(&["active"], silences.active as f64);
        emit(&["pending"], silences.pending as f64);
        emit(&["expired"], silences.expired as f64);
    } else if family.is(&metrics::STORAGE_OPEN) {
        match storage {
            StoreStatus::Off => {}
            StoreStatus::Open { .. } => emit(&[], 1.0),
            StoreStatus::Unavailable => emit(&[], 0.0),
        }
    } else if family.is(&metrics::STORAGE_ERRORS) {
        match storage {
            StoreStatus::Off => {}
            StoreStatus::Open { errors } => emit(&[], *errors as f64),
            // The failed opening.
            StoreStatus::Unavailable => emit(&[], 1.0),
        }
    }
}

/// Writes sample lines of one family at a time, each label set once.
struct Lines {
    /// Hashes of the label sets written since the last reset (a 64-bit keyed
    /// hash: storing every line would double the memory of a big exposition).
    seen: HashSet<u64>,
    hasher: RandomState,
    line: Vec<u8>,
}

impl Lines {
    fn new() -> Self {
        Lines {
            seen: HashSet::new(),
            hasher: RandomState::new(),
            line: Vec::with_capacity(256),
        }
    }

    /// Starts the next family.
    fn reset(&mut self) {
        self.seen.clear();
    }

    /// Writes a sample of `def` with `values` for its labels, in order, to
    /// `out`. A label set already written since the last reset is skipped, so
    /// an upstream listing the same account twice cannot break the exposition.
    fn sample(&mut self, out: &mut Vec<u8>, def: &MetricDef, values: &[&str], value: f64) {
        debug_assert_eq!(
            values.len(),
            def.labels.len(),
            "{} written with label values {values:?}, catalogue says {:?}",
            def.name,
            def.labels
        );
        self.line.clear();
        self.line.extend_from_slice(def.name.as_bytes());
        if !values.is_empty() {
            self.line.push(b'{');
            for (i, (name, value)) in def.labels.iter().zip(values).enumerate() {
                if i > 0 {
                    self.line.push(b',');
                }
                self.line.extend_from_slice(name.as_bytes());
                self.line.extend_from_slice(b"=\"");
                escape_label_value(&mut self.line, value);
                self.line.push(b'"');
            }
            self.line.push(b'}');
        }
        if !self.seen.insert(self.hasher.hash_one(&self.line)) {
            tracing::debug!(metric = def.name, "duplicate series skipped");
            return;
        }
        out.extend_from_slice(&self.line);
        out.push(b' ');
        write_value(out, value);
        out.push(b'\n');
    }
}

fn escape_label_value(out: &mut Vec<u8>, value: &str) {
    for b in value.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

fn write_value(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
    } else if value.fract() == 0.0 && value.abs() < 9.0e15 {
        let _ = write!(out, "{}", value as i64);
    } else {
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_fits_the_label_buffer() {
        for family in CATALOGUE {
            assert!(family.labels.len() <= MAX_LABELS, "{}", family.name);
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = Vec::new();
        escape_label_value(&mut out, "a \"quoted\" \\ back\nslash");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"a \"quoted\" \\ back\nslash"#
        );
    }

    #[test]
    fn values_are_formatted_exactly() {
        let fmt = |v: f64| {
            let mut out = Vec::new();
            write_value(&mut out, v);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(fmt(1073741824.0), "1073741824");
        assert_eq!(fmt(611225.6), "611225.6");
        assert_eq!(fmt(f64::NAN), "NaN");
        assert_eq!(fmt(f64::INFINITY), "+Inf");
        assert_eq!(fmt(1.0e20), "100000000000000000000");
    }

    #[test]
    fn duplicate_series_are_written_once() {
        let mut out = Vec::new();
        let labels = |account| ["p", "t", account, "x"];
        let mut lines = Lines::new();
        lines.sample(&mut out, &metrics::ACCOUNT_USED, &labels("a"), 1.0);
        lines.sample(&mut out, &metrics::ACCOUNT_USED, &labels("a"), 2.0);
        lines.sample(&mut out, &metrics::ACCOUNT_USED, &labels("b"), 3.0);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("proxy_account_used_bytes{").count(), 2);
        assert!(text.contains(
            "proxy_account_used_bytes{provider=\"p\",target=\"t\",account=\"a\",product=\"x\"} 1\n"
        ));
    }
}
