//! Simulated history: the rows `--demo` writes into an empty store for the
//! week before it started, marked `simulated = 1` so that nothing mistakes
//! them for what a provider said, and how to find them again.

use rusqlite::params;

use super::history::{account_id, pool_id, step_of};
use super::{Store, StoreError};
use crate::readings::{AccountReading, PoolReading};

impl Store {
    /// Whether the store holds any pool or sub-account history (simulated or
    /// not): `--demo` fills only a store without.
    pub fn has_history(&self) -> Result<bool, StoreError> {
        self.with_conn(|conn| {
            conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM pool_history) OR EXISTS (SELECT 1 FROM account_usage)",
                [],
                |row| row.get(0),
            )
        })
    }

    /// Writes simulated history of one target in one transaction, every row
    /// marked simulated: `pools` and `accounts` as `(unix seconds, readings)`,
    /// oldest first; sub-accounts at most once per step, as
    /// [`Store::write_accounts`]. Returns the rows added.
    pub fn write_simulated(
        &self,
        provider: &str,
        target: &str,
        pools: &[(i64, Vec<PoolReading>)],
        accounts: &[(i64, Vec<AccountReading>)],
    ) -> Result<usize, StoreError> {
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            let mut added = 0;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO pool_history (pool_id, at, remaining, purchased, used, simulated)
                     VALUES (?1, ?2, ?3, ?4, ?5, 1)",
                )?;
                for (at, readings) in pools {
                    for p in readings {
                        let id = pool_id(&tx, provider, target, &p.pool)?;
                        let row = (p.remaining_bytes, p.purchased_bytes, p.used_bytes);
                        added += insert.execute(params![id, at, row.0, row.1, row.2])?;
                    }
                }
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO account_usage (step, account_id, at, used, limit_bytes, simulated)
                     VALUES (?1, ?2, ?3, ?4, ?5, 1)",
                )?;
                for (at, readings) in accounts {
                    for a in readings {
                        let id = account_id(&tx, provider, target, &a.product, &a.account)?;
                        let row = (step_of(*at), a.used_bytes, a.limit_bytes);
                        added += insert.execute(params![row.0, id, at, row.1, row.2])?;
                    }
                }
            }
            tx.commit()?;
            Ok(added)
        })
    }

    /// Until when (Unix seconds, inclusive) a pool's stored history is
    /// simulated: its newest point marked simulated (`--demo` fills an empty
    /// store with the week before it started), or `None` when none of its
    /// history is simulated. Points at or before it are the simulator's model,
    /// not readings; those after are the live polls. The front page and
    /// `/api/v1/status` (`pools[].simulated_until`) read it to say so.
    pub fn simulated_until(
        &self,
        provider: &str,
        target: &str,
        pool: &str,
    ) -> Result<Option<i64>, StoreError> {
        self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT max(h.at) FROM pools p JOIN pool_history h ON h.pool_id = p.id
                 WHERE p.provider = ?1 AND p.target = ?2 AND p.pool = ?3 AND h.simulated = 1",
            )?
            .query_row(params![provider, target, pool], |row| row.get(0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    fn pool(remaining: f64) -> PoolReading {
        PoolReading {
            pool: "p".into(),
            remaining_bytes: Some(remaining),
            purchased_bytes: Some(100.0),
            used_bytes: Some(100.0 - remaining),
            ..PoolReading::default()
        }
    }

    #[test]
    fn simulated_rows_are_marked_and_live_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Store::open(&StoreOptions {
            path: dir.path().to_owned(),
            retention: crate::store::DEFAULT_RETENTION,
        })
        .unwrap();
        assert!(!storage.has_history().unwrap());
        assert_eq!(storage.simulated_until("x", "t", "p").unwrap(), None);
        let simulated = [(100, vec![pool(90.0)]), (160, vec![pool(80.0)])];
        assert_eq!(
            storage.write_simulated("x", "t", &simulated, &[]).unwrap(),
            2
        );
        storage.write_pools("x", "t", 220, &[pool(70.0)]).unwrap();
        assert!(storage.has_history().unwrap());
        assert_eq!(storage.simulated_until("x", "t", "p").unwrap(), Some(160));
        assert_eq!(storage.simulated_until("x", "other", "p").unwrap(), None);
        let history = storage.pool_history("x", "t", "p", 0).unwrap();
        assert_eq!(history.len(), 3, "simulated and live points read alike");
    }
}
