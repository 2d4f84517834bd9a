//! Silences, kept across restarts: one row per silence, keyed by its ID. The
//! rules (states, updates, retention) are [`crate::silences`]'; this file only
//! reads and writes rows, for [`SilenceStore`].

use std::collections::BTreeMap;

use rusqlite::params;

use super::{Store, StoreError};
use crate::silences::{matchers_from_json, matchers_to_json, Silence, SilenceStore};

impl Store {
    /// Every stored silence. A row this version cannot read (a matcher it
    /// refuses) is logged and left out.
    pub fn load_silences(&self) -> Result<Vec<Silence>, StoreError> {
        type Row = (String, String, f64, f64, f64, String, String, String);
        let rows: Vec<Row> = self.with_conn(|conn| {
            let mut query = conn.prepare_cached(
                "SELECT id, matchers, starts_at, ends_at, updated_at, created_by, comment, annotations
                 FROM silences ORDER BY id",
            )?;
            let rows = query.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })?;
            rows.collect()
        })?;
        let mut silences = Vec::with_capacity(rows.len());
        for (id, matchers, starts_at, ends_at, updated_at, created_by, comment, annotations) in rows
        {
            let read = matchers_from_json(&matchers).and_then(|matchers| {
                let annotations: BTreeMap<String, String> =
                    serde_json::from_str(&annotations).map_err(|e| e.to_string())?;
                Ok((matchers, annotations))
            });
            match read {
                Ok((matchers, annotations)) => silences.push(Silence {
                    id,
                    matchers,
                    starts_at,
                    ends_at,
                    created_by,
                    comment,
                    updated_at,
                    annotations,
                }),
                Err(e) => {
                    self.failed(format!("silence {id}: unreadable, left out: {e}"));
                }
            }
        }
        Ok(silences)
    }

    /// Inserts or replaces `silences`, in one transaction.
    pub fn save_silences(&self, silences: &[Silence]) -> Result<(), StoreError> {
        let encoded: Vec<(String, String)> = silences
            .iter()
            .map(|s| {
                let annotations =
                    serde_json::to_string(&s.annotations).unwrap_or_else(|_| "{}".to_owned());
                (matchers_to_json(&s.matchers), annotations)
            })
            .collect();
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO silences (id, matchers, starts_at, ends_at, updated_at,
                         created_by, comment, annotations)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (id) DO UPDATE SET
                         matchers = excluded.matchers, starts_at = excluded.starts_at,
                         ends_at = excluded.ends_at, updated_at = excluded.updated_at,
                         created_by = excluded.created_by, comment = excluded.comment,
                         annotations = excluded.annotations",
                )?;
                for (s, (matchers, annotations)) in silences.iter().zip(&encoded) {
                    upsert.execute(params![
                        s.id,
                        matchers,
                        s.starts_at,
                        s.ends_at,
                        s.updated_at,
                        s.created_by,
                        s.comment,
                        annotations
                    ])?;
                }
            }
            tx.commit()
        })
    }

    /// Deletes the silences with these IDs, in one transaction.
    pub fn delete_silences(&self, ids: &[String]) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            {
                let mut delete = tx.prepare_cached("DELETE FROM silences WHERE id = ?1")?;
                for id in ids {
                    delete.execute([id])?;
                }
            }
            tx.commit()
        })
    }
}

impl SilenceStore for Store {
    fn load_silences(&self) -> Result<Vec<Silence>, String> {
        Store::load_silences(self).map_err(|e| e.to_string())
    }

    fn save_silences(&self, silences: &[Silence]) -> Result<(), String> {
        Store::save_silences(self, silences).map_err(|e| e.to_string())
    }

    fn delete_silences(&self, ids: &[String]) -> Result<(), String> {
        Store::delete_silences(self, ids).map_err(|e| e.to_string())
    }
}
