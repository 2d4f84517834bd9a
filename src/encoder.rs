//! The encoder: turns target snapshots into Prometheus text exposition bytes,
//! family by family in catalogue order, asking each reading and each target's
//! poll status for its samples. It knows the format, not what a reading means.

use std::collections::HashSet;
use std::hash::{BuildHasher as _, RandomState};
use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use crate::metrics::{self, Kind, MetricDef, CATALOGUE};
use crate::store::{AgentStatus, ReloadStatus, StorageStatus, TargetSnapshot};

/// The Content-Type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Encodes every target's snapshot plus the exporter's own status (build,
/// reload, agent, store). Readings whose `stale_at` has passed by `now` are
/// left out.
pub fn encode(
    targets: &[Arc<TargetSnapshot>],
    reload: ReloadStatus,
    agent: &AgentStatus,
    storage: StorageStatus,
    now: Instant,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 * 1024);
    for &family in CATALOGUE {
        let mut f = Family::new(&mut out, family);
        if !family.per_target() {
            let status = ExporterStatus {
                reload,
                agent,
                storage,
            };
            exporter_samples(family, &status, &mut |values, v| f.sample(values, v));
            continue;
        }
        for t in targets {
            let mut emit = |labels: &[&str], v: f64| {
                let mut values = [""; MAX_LABELS];
                let n = (2 + labels.len()).min(MAX_LABELS);
                values[0] = t.provider;
                values[1] = &t.target;
                values[2..n].copy_from_slice(&labels[..n - 2]);
                f.sample(&values[..n], v);
            };
            for reading in t.readings(now) {
                reading.samples(family, &mut emit);
            }
            t.status_samples(family, &mut emit);
        }
    }
    out
}

/// The most labels a family of the catalogue has (a test checks it).
const MAX_LABELS: usize = 8;

/// What the exporter's own series report.
struct ExporterStatus<'a> {
    reload: ReloadStatus,
    agent: &'a AgentStatus,
    storage: StorageStatus,
}

/// The exporter's own series: build information, the last reload, the agent's
/// counts and the store's health.
fn exporter_samples(
    family: &MetricDef,
    status: &ExporterStatus,
    emit: &mut dyn FnMut(&[&str], f64),
) {
    let ExporterStatus {
        reload,
        agent,
        storage,
    } = status;
    if family.is(&metrics::BUILD_INFO) {
        emit(&[metrics::VERSION, metrics::REVISION], 1.0);
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
    } else if family.is(&metrics::STORAGE_OPEN) {
        match storage {
            StorageStatus::Off => {}
            StorageStatus::Open { .. } => emit(&[], 1.0),
            StorageStatus::Unavailable => emit(&[], 0.0),
        }
    } else if family.is(&metrics::STORAGE_ERRORS) {
        match storage {
            StorageStatus::Off => {}
            StorageStatus::Open { errors } => emit(&[], *errors as f64),
            // The failed opening.
            StorageStatus::Unavailable => emit(&[], 1.0),
        }
    }
}

/// Writes one family: the header before its first sample, each label set once.
struct Family<'a> {
    out: &'a mut Vec<u8>,
    def: &'static MetricDef,
    header_written: bool,
    /// Hashes of the label sets written so far (a 64-bit keyed hash: storing
    /// every line would double the memory of a big exposition).
    seen: HashSet<u64>,
    hasher: RandomState,
    line: Vec<u8>,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut Vec<u8>, def: &'static MetricDef) -> Self {
        Family {
            out,
            def,
            header_written: false,
            seen: HashSet::new(),
            hasher: RandomState::new(),
            line: Vec::with_capacity(256),
        }
    }

    /// Adds a sample with `values` for the family's labels, in order. A label
    /// set already written in this family is skipped, so an upstream listing the
    /// same account twice cannot break the exposition.
    fn sample(&mut self, values: &[&str], value: f64) {
        debug_assert_eq!(
            values.len(),
            self.def.labels.len(),
            "{} written with label values {values:?}, catalogue says {:?}",
            self.def.name,
            self.def.labels
        );
        self.line.clear();
        self.line.extend_from_slice(self.def.name.as_bytes());
        if !values.is_empty() {
            self.line.push(b'{');
            for (i, (name, value)) in self.def.labels.iter().zip(values).enumerate() {
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
            tracing::debug!(metric = self.def.name, "duplicate series skipped");
            return;
        }
        if !self.header_written {
            self.header_written = true;
            let kind = match self.def.kind {
                Kind::Gauge => "gauge",
                Kind::Counter => "counter",
            };
            let _ = writeln!(self.out, "# HELP {} {}", self.def.name, self.def.help);
            let _ = writeln!(self.out, "# TYPE {} {kind}", self.def.name);
        }
        self.out.extend_from_slice(&self.line);
        self.out.push(b' ');
        write_value(self.out, value);
        self.out.push(b'\n');
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
    fn duplicate_series_are_written_once_and_headers_only_with_samples() {
        let mut out = Vec::new();
        let labels = |account| ["p", "t", account, "x"];
        {
            let mut f = Family::new(&mut out, &metrics::ACCOUNT_USED);
            f.sample(&labels("a"), 1.0);
            f.sample(&labels("a"), 2.0);
            f.sample(&labels("b"), 3.0);
        }
        Family::new(&mut out, &metrics::ACCOUNT_LIMIT);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("proxy_account_used_bytes{").count(), 2);
        assert!(text.contains(
            "proxy_account_used_bytes{provider=\"p\",target=\"t\",account=\"a\",product=\"x\"} 1\n"
        ));
        assert!(!text.contains("proxy_account_limit_bytes"));
    }
}
