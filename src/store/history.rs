//! History: every pool's figures per successful summary poll, and each
//! sub-account's usage at most once per [`ACCOUNT_STEP`]; reading it back, and
//! deleting what is older than the retention.

use std::time::Duration;

use rusqlite::{params, OptionalExtension as _, Transaction};

use super::{Store, StoreError};
use crate::forecast;
use crate::readings::{AccountReading, PoolReading};

/// Sub-account usage is kept at most once per account per this step (the first
/// poll of each step): at 100k sub-accounts that is 2.4M rows a day instead of
/// one per poll.
pub const ACCOUNT_STEP: Duration = Duration::from_secs(3600);

/// How often [`Store::prune`] forgets the names of sub-accounts whose history
/// is all gone (the first prune does).
const NAMES_PRUNED_EVERY: i64 = 86_400;

/// One pool's figures at one poll (bytes; `None` where the provider did not say).
#[derive(Debug, Clone, PartialEq)]
pub struct PoolPoint {
    /// Unix seconds of the poll.
    pub at: i64,
    pub remaining: Option<f64>,
    pub purchased: Option<f64>,
    pub used: Option<f64>,
}

/// One sub-account's usage at one poll.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountPoint {
    /// Unix seconds of the poll.
    pub at: i64,
    pub used: f64,
    /// `None` for an unlimited account.
    pub limit: Option<f64>,
}

/// What [`Store::prune`] deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Pruned {
    pub pool_rows: usize,
    pub account_rows: usize,
}

pub(super) fn step_of(at: i64) -> i64 {
    at.div_euclid(ACCOUNT_STEP.as_secs() as i64)
}

impl Store {
    /// Records one poll's pools of a target at `at` (unix seconds). A second
    /// write for the same pool and second is ignored. Returns the rows added.
    pub fn write_pools(
        &self,
        provider: &str,
        target: &str,
        at: i64,
        pools: &[PoolReading],
    ) -> Result<usize, StoreError> {
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            let mut added = 0;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO pool_history (pool_id, at, remaining, purchased, used)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for p in pools {
                    let id = pool_id(&tx, provider, target, &p.pool)?;
                    added += insert.execute(params![
                        id,
                        at,
                        p.remaining_bytes,
                        p.purchased_bytes,
                        p.used_bytes
                    ])?;
                }
            }
            tx.commit()?;
            Ok(added)
        })
    }

    /// Records a target's sub-accounts at `at` (unix seconds), unless they were
    /// already recorded in the same [`ACCOUNT_STEP`]. Returns the rows added.
    pub fn write_accounts(
        &self,
        provider: &str,
        target: &str,
        at: i64,
        accounts: &[AccountReading],
    ) -> Result<usize, StoreError> {
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            let mut added = 0;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO account_usage (step, account_id, at, used, limit_bytes)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for a in accounts {
                    let id = account_id(&tx, provider, target, &a.product, &a.account)?;
                    added += insert.execute(params![
                        step_of(at),
                        id,
                        at,
                        a.used_bytes,
                        a.limit_bytes
                    ])?;
                }
            }
            tx.commit()?;
            Ok(added)
        })
    }

    /// One pool's history from `since` (unix seconds, inclusive), oldest first.
    pub fn pool_history(
        &self,
        provider: &str,
        target: &str,
        pool: &str,
        since: i64,
    ) -> Result<Vec<PoolPoint>, StoreError> {
        self.with_conn(|conn| {
            let mut query = conn.prepare_cached(
                "SELECT h.at, h.remaining, h.purchased, h.used
                 FROM pools p JOIN pool_history h ON h.pool_id = p.id
                 WHERE p.provider = ?1 AND p.target = ?2 AND p.pool = ?3 AND h.at >= ?4
                 ORDER BY h.at",
            )?;
            let rows = query.query_map(params![provider, target, pool, since], |row| {
                Ok(PoolPoint {
                    at: row.get(0)?,
                    remaining: row.get(1)?,
                    purchased: row.get(2)?,
                    used: row.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    /// One sub-account's history from `since` (unix seconds), oldest first. It
    /// scans every account's rows of the period: meant for one account at a
    /// time, not for all of them.
    pub fn account_history(
        &self,
        provider: &str,
        target: &str,
        product: &str,
        account: &str,
        since: i64,
    ) -> Result<Vec<AccountPoint>, StoreError> {
        self.with_conn(|conn| {
            let mut query = conn.prepare_cached(
                "SELECT u.at, u.used, u.limit_bytes
                 FROM accounts a JOIN account_usage u ON u.account_id = a.id
                 WHERE a.provider = ?1 AND a.target = ?2 AND a.product = ?3 AND a.account = ?4
                   AND u.step >= ?5 AND u.at >= ?6
                 ORDER BY u.at",
            )?;
            let args = params![provider, target, product, account, step_of(since), since];
            let rows = query.query_map(args, |row| {
                Ok(AccountPoint {
                    at: row.get(0)?,
                    used: row.get(1)?,
                    limit: row.get(2)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Deletes history older than the retention at `now` (unix seconds), and
    /// the names of pools and accounts left without history.
    pub fn prune(&self, now: i64) -> Result<Pruned, StoreError> {
        let cutoff = now.saturating_sub(self.retention.as_secs() as i64);
        self.with_conn(|conn| {
            let tx = conn.transaction()?;
            let pool_rows = tx.execute("DELETE FROM pool_history WHERE at < ?1", [cutoff])?;
            tx.execute(
                "DELETE FROM pools WHERE NOT EXISTS
                 (SELECT 1 FROM pool_history h WHERE h.pool_id = pools.id)",
                [],
            )?;
            let account_rows = tx.execute(
                "DELETE FROM account_usage WHERE step <= ?1 AND at < ?2",
                params![step_of(cutoff), cutoff],
            )?;
            // Forgetting the names of sub-accounts without history reads every
            // row kept (seconds at 100k sub-accounts and 15 days): once a day.
            let forget_names = account_rows > 0
                && self
                    .names_pruned_at()
                    .is_none_or(|at| now - at >= NAMES_PRUNED_EVERY);
            if forget_names {
                tx.execute(
                    "DELETE FROM accounts WHERE id NOT IN (SELECT account_id FROM account_usage)",
                    [],
                )?;
            }
            tx.commit()?;
            if forget_names {
                *self.names_pruned_at() = Some(now);
            }
            Ok(Pruned {
                pool_rows,
                account_rows,
            })
        })
    }
}

/// The id of a pool's name, added when new.
pub(super) fn pool_id(
    tx: &Transaction,
    provider: &str,
    target: &str,
    pool: &str,
) -> rusqlite::Result<i64> {
    let found = tx
        .prepare_cached("SELECT id FROM pools WHERE provider = ?1 AND target = ?2 AND pool = ?3")?
        .query_row(params![provider, target, pool], |r| r.get(0))
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    tx.prepare_cached("INSERT INTO pools (provider, target, pool) VALUES (?1, ?2, ?3)")?
        .execute(params![provider, target, pool])?;
    Ok(tx.last_insert_rowid())
}

/// The id of a sub-account's name, added when new.
pub(super) fn account_id(
    tx: &Transaction,
    provider: &str,
    target: &str,
    product: &str,
    account: &str,
) -> rusqlite::Result<i64> {
    let found = tx
        .prepare_cached(
            "SELECT id FROM accounts
             WHERE provider = ?1 AND target = ?2 AND product = ?3 AND account = ?4",
        )?
        .query_row(params![provider, target, product, account], |r| r.get(0))
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    tx.prepare_cached(
        "INSERT INTO accounts (provider, target, product, account) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![provider, target, product, account])?;
    Ok(tx.last_insert_rowid())
}

/// The history the forecast reads. A failed read is an empty history (the
/// forecast waits); it is counted and logged like every store error.
impl forecast::History for Store {
    fn pool_points(
        &self,
        provider: &str,
        target: &str,
        pool: &str,
        since: f64,
    ) -> Vec<forecast::Point> {
        self.pool_history(provider, target, pool, since as i64)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| {
                Some(forecast::Point {
                    at: p.at as f64,
                    remaining: p.remaining?,
                    // Unknown counts as a change: the forecast then waits.
                    purchased: p.purchased.unwrap_or(f64::NAN),
                })
            })
            .collect()
    }

    fn account_used(
        &self,
        provider: &str,
        target: &str,
        product: &str,
        account: &str,
        since: f64,
    ) -> Vec<(f64, f64)> {
        self.account_history(provider, target, product, account, since.ceil() as i64)
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.at as f64, p.used))
            .collect()
    }

    fn account_step(&self) -> f64 {
        ACCOUNT_STEP.as_secs_f64()
    }

    fn simulated_until(&self, provider: &str, target: &str, pool: &str) -> Option<f64> {
        Store::simulated_until(self, provider, target, pool)
            .ok()
            .flatten()
            .map(|at| at as f64)
    }
}
