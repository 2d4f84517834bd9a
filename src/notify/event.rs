//! What the alerting agent hands to receivers: one alert, firing or resolved,
//! with the labels and annotations of the rule file's alert of the same name.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// Whether an alert fires or has just resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// One alert as receivers see it (kept in the store while a notification
/// waits to be delivered).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// The identity of an alert with these labels, as Alertmanager computes it
/// (`model.LabelSet.Fingerprint` of prometheus/common): FNV-1a 64 over the
/// label names in order, each name and value followed by the byte 0xff, in 16
/// hex digits. So a webhook's `fingerprint` equals Alertmanager's for the same
/// labels, and it is the same across restarts and builds.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    format!("{:016x}", fingerprint_u64(labels))
}

/// [`fingerprint`] as a number.
pub fn fingerprint_u64(labels: &BTreeMap<String, String>) -> u64 {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    let add = |mut hash: u64, bytes: &[u8]| {
        for &byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
        hash
    };
    labels.iter().fold(OFFSET, |hash, (name, value)| {
        let hash = add(add(hash, name.as_bytes()), &[0xff]);
        add(add(hash, value.as_bytes()), &[0xff])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_alertmanagers() {
        // The empty set is FNV-1a's offset basis, as in prometheus/common.
        assert_eq!(fingerprint(&BTreeMap::new()), "cbf29ce484222325");
        let labels = BTreeMap::from([("a".to_owned(), "b".to_owned())]);
        // FNV-1a 64 of "a\xffb\xff", worked out by hand from the algorithm.
        let expected = [b'a', 0xff, b'b', 0xff]
            .iter()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
        assert_eq!(fingerprint(&labels), format!("{expected:016x}"));
    }
}
