//! The alerting agent's state, kept across restarts so that neither a `for`
//! timer nor a notification's interval starts over: one row per alert instance,
//! keyed by alert name and label fingerprint.

use std::collections::BTreeMap;

use rusqlite::params;

use super::{Store, StoreError};

/// One alert instance's stored state. Times are unix seconds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredAlert {
    pub alertname: String,
    /// The fingerprint of the alert's labels (the agent's, opaque here).
    pub fingerprint: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The value of the alert's expression at the last evaluation (NaN is
    /// stored as NULL and read back as NaN).
    pub value: f64,
    /// Since when the condition has held (pending, then firing).
    pub active_since: f64,
    /// Since when the alert fires; `None` while pending.
    pub firing_since: Option<f64>,
    /// When the alert resolved; `None` while pending or firing.
    pub ended_at: Option<f64>,
    /// When each receiver was last sent this alert, by receiver name.
    pub last_sent: BTreeMap<String, f64>,
}

impl StoredAlert {
    /// Whether the alert has resolved.
    pub fn resolved(&self) -> bool {
        self.ended_at.is_some()
    }
}

/// A stored row: the state without its maps, and the maps as JSON.
struct Raw {
    state: StoredAlert,
    json: [String; 3],
}

impl Store {
    /// Every stored alert state, ordered by alert name and fingerprint.
    pub fn load_alert_states(&self) -> Result<Vec<StoredAlert>, StoreError> {
        let rows: Vec<Raw> = self.with_conn(|conn| {
            let mut query = conn.prepare_cached(
                "SELECT alertname, fingerprint, value, pending_since, firing_since, ended_at,
                        labels, annotations, last_sent
                 FROM alert_state ORDER BY alertname, fingerprint",
            )?;
            let rows = query.query_map([], |r| {
                Ok(Raw {
                    state: StoredAlert {
                        alertname: r.get(0)?,
                        fingerprint: r.get(1)?,
                        value: r.get::<_, Option<f64>>(2)?.unwrap_or(f64::NAN),
                        active_since: r.get(3)?,
                        firing_since: r.get(4)?,
                        ended_at: r.get(5)?,
                        ..StoredAlert::default()
                    },
                    json: [r.get(6)?, r.get(7)?, r.get(8)?],
                })
            })?;
            rows.collect()
        })?;
        rows.into_iter().map(|row| self.decode(row)).collect()
    }

    /// Replaces the stored alert states with `states`: each is inserted or
    /// updated, and states absent from `states` are deleted, in one transaction.
    pub fn save_alert_states(&self, states: &[StoredAlert]) -> Result<(), StoreError> {
        let encoded: Vec<[String; 3]> = states
            .iter()
            .map(|s| [json(&s.labels), json(&s.annotations), json(&s.last_sent)])
            .collect();
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            tx.execute("CREATE TEMP TABLE IF NOT EXISTS kept (alertname TEXT, fingerprint TEXT, PRIMARY KEY (alertname, fingerprint))", [])?;
            tx.execute("DELETE FROM temp.kept", [])?;
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO alert_state (alertname, fingerprint, labels, annotations, value,
                         pending_since, firing_since, ended_at, last_sent)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (alertname, fingerprint) DO UPDATE SET
                         labels = excluded.labels, annotations = excluded.annotations,
                         value = excluded.value, pending_since = excluded.pending_since,
                         firing_since = excluded.firing_since, ended_at = excluded.ended_at,
                         last_sent = excluded.last_sent",
                )?;
                let mut keep =
                    tx.prepare_cached("INSERT OR IGNORE INTO temp.kept VALUES (?1, ?2)")?;
                for (s, [labels, annotations, last_sent]) in states.iter().zip(&encoded) {
                    upsert.execute(params![
                        s.alertname,
                        s.fingerprint,
                        labels,
                        annotations,
                        s.value,
                        s.active_since,
                        s.firing_since,
                        s.ended_at,
                        last_sent
                    ])?;
                    keep.execute(params![s.alertname, s.fingerprint])?;
                }
            }
            tx.execute(
                "DELETE FROM alert_state WHERE NOT EXISTS (SELECT 1 FROM temp.kept k
                 WHERE k.alertname = alert_state.alertname AND k.fingerprint = alert_state.fingerprint)",
                [],
            )?;
            tx.execute("DELETE FROM temp.kept", [])?;
            tx.commit()
        })
    }

    fn decode(&self, raw: Raw) -> Result<StoredAlert, StoreError> {
        let Raw { mut state, json } = raw;
        let invalid = |e: serde_json::Error| {
            self.failed(format!(
                "alert state {} {}: invalid JSON: {e}",
                state.alertname, state.fingerprint
            ))
        };
        let [labels, annotations, last_sent] = &json;
        let labels = serde_json::from_str(labels).map_err(invalid)?;
        let annotations = serde_json::from_str(annotations).map_err(invalid)?;
        let last_sent = serde_json::from_str(last_sent).map_err(invalid)?;
        state.labels = labels;
        state.annotations = annotations;
        state.last_sent = last_sent;
        Ok(state)
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    // A map of strings to strings or numbers always serializes.
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}
