//! What the alerting agent hands to receivers: one alert, firing or resolved,
//! with the labels and annotations of the rule file's alert of the same name.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// Whether an alert fires or has just resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Firing,
    Resolved,
}

impl Status {
    /// `firing` or `resolved`, as Alertmanager writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// One alert as receivers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    pub status: Status,
    /// `alertname`, `severity`, `provider`, `target` and the alert's own labels
    /// (`pool`, `account`, `product`, `ip`, `package_id`, `status`).
    pub labels: BTreeMap<String, String>,
    /// `summary`, `description`, `runbook_url`.
    pub annotations: BTreeMap<String, String>,
    /// When the alert started firing.
    pub starts_at: SystemTime,
    /// When it resolved; `None` while it fires.
    pub ends_at: Option<SystemTime>,
    /// A link back to the exporter's page for the alert.
    pub generator_url: String,
}

impl AlertEvent {
    /// The `alertname` label.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    /// The identity of the alert: [`fingerprint`] of its labels.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.labels)
    }
}

/// The identity of an alert with these labels, the same across restarts and
/// builds: the first 8 bytes of a SHA-256 of the labels, in hex.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    use sha2::{Digest as _, Sha256};
    let mut hasher = Sha256::new();
    for (name, value) in labels {
        hasher.update(name.as_bytes());
        hasher.update([0xff]);
        hasher.update(value.as_bytes());
        hasher.update([0xfe]);
    }
    hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
