//! The notifications in the store: what each receiver accepted per group (the
//! ledger) and what still waits to be delivered, so that a restart neither
//! loses a notification nor repeats one. Saved whole after each evaluation.

use rusqlite::params;

use super::{Store, StoreError};
use crate::notify::group::{Entry, Ledger, Notification};

/// What the store holds of the notifications.
#[derive(Debug, Default)]
pub struct SavedNotifications {
    pub ledger: Ledger,
    pub pending: Vec<Notification>,
}

impl Store {
    /// The stored ledger and waiting notifications; a row that does not decode
    /// is skipped (and counted as a store error).
    pub fn load_notifications(&self) -> Result<SavedNotifications, StoreError> {
        let (ledger_rows, pending_rows) = self.with_conn(|conn| {
            let mut ledger =
                conn.prepare("SELECT receiver, group_key, entry FROM notification_ledger")?;
            let ledger = ledger
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut pending = conn.prepare("SELECT notification FROM notification_pending")?;
            let pending = pending
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((ledger, pending))
        })?;
        let mut entries = Vec::new();
        for (receiver, key, entry) in ledger_rows {
            match serde_json::from_str::<Entry>(&entry) {
                Ok(entry) => entries.push(((receiver, key), entry)),
                Err(e) => {
                    let _ = self.failed(format!(
                        "notification ledger of {receiver}: invalid JSON: {e}"
                    ));
                }
            }
        }
        let mut pending = Vec::new();
        for row in pending_rows {
            match serde_json::from_str::<Notification>(&row) {
                Ok(notification) => pending.push(notification),
                Err(e) => {
                    let _ = self.failed(format!("waiting notification: invalid JSON: {e}"));
                }
            }
        }
        Ok(SavedNotifications {
            ledger: Ledger::from_entries(entries),
            pending,
        })
    }

    /// Replaces the stored ledger and waiting notifications, in one transaction.
    pub fn save_notifications(
        &self,
        ledger: &Ledger,
        pending: &[Notification],
    ) -> Result<(), StoreError> {
        let entries: Vec<(String, String, String)> = ledger
            .entries()
            .filter_map(|((receiver, key), entry)| {
                let json = serde_json::to_string(entry).ok()?;
                Some((receiver.clone(), key.clone(), json))
            })
            .collect();
        let pending: Vec<(String, String, String)> = pending
            .iter()
            .filter_map(|n| {
                let json = serde_json::to_string(n).ok()?;
                Some((n.receiver.clone(), n.key.clone(), json))
            })
            .collect();
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            tx.execute("DELETE FROM notification_ledger", [])?;
            tx.execute("DELETE FROM notification_pending", [])?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR REPLACE INTO notification_ledger (receiver, group_key, entry) VALUES (?1, ?2, ?3)",
                )?;
                for (receiver, key, entry) in &entries {
                    insert.execute(params![receiver, key, entry])?;
                }
                let mut insert = tx.prepare_cached(
                    "INSERT OR REPLACE INTO notification_pending (receiver, group_key, notification) VALUES (?1, ?2, ?3)",
                )?;
                for (receiver, key, notification) in &pending {
                    insert.execute(params![receiver, key, notification])?;
                }
            }
            tx.commit()
        })
    }
}
