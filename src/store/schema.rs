//! The store's schema and its migrations. `PRAGMA user_version` holds the number
//! of migrations applied; each runs once, in its own transaction, at open. A
//! database migrated further than this exporter knows is refused, never
//! touched.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// Migration `n` (1-based) brings the schema from version `n - 1` to `n`.
const MIGRATIONS: &[&str] = &[
    // 1: pool history, sub-account usage, alert state.
    "
    CREATE TABLE pools (
        id INTEGER PRIMARY KEY,
        provider TEXT NOT NULL,
        target TEXT NOT NULL,
        pool TEXT NOT NULL,
        UNIQUE (provider, target, pool)
    );
    -- One row per successful summary poll per pool; unix seconds; bytes.
    CREATE TABLE pool_history (
        pool_id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        remaining REAL,
        purchased REAL,
        used REAL,
        PRIMARY KEY (pool_id, at)
    ) WITHOUT ROWID;
    CREATE INDEX pool_history_at ON pool_history (at);
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        provider TEXT NOT NULL,
        target TEXT NOT NULL,
        product TEXT NOT NULL,
        account TEXT NOT NULL,
        UNIQUE (provider, target, product, account)
    );
    -- At most one row per account per step (`step` = at / ACCOUNT_STEP).
    CREATE TABLE account_usage (
        step INTEGER NOT NULL,
        account_id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        used REAL NOT NULL,
        limit_bytes REAL,
        PRIMARY KEY (step, account_id)
    ) WITHOUT ROWID;
    -- The alerting agent's state; times in unix seconds, maps as JSON objects.
    CREATE TABLE alert_state (
        alertname TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        labels TEXT NOT NULL,
        annotations TEXT NOT NULL,
        value REAL, -- NULL for NaN
        pending_since REAL NOT NULL,
        firing_since REAL,
        ended_at REAL,
        last_sent TEXT NOT NULL,
        PRIMARY KEY (alertname, fingerprint)
    ) WITHOUT ROWID;
    ",
    // 2: notifications: what each receiver accepted per group (the ledger), and
    // what waits to be delivered; both as JSON.
    "
    CREATE TABLE notification_ledger (
        receiver TEXT NOT NULL,
        group_key TEXT NOT NULL,
        entry TEXT NOT NULL,
        PRIMARY KEY (receiver, group_key)
    ) WITHOUT ROWID;
    CREATE TABLE notification_pending (
        receiver TEXT NOT NULL,
        group_key TEXT NOT NULL,
        notification TEXT NOT NULL,
        PRIMARY KEY (receiver, group_key)
    ) WITHOUT ROWID;
    ",
    // 3: silences (Alertmanager's; times in unix seconds, matchers and
    // annotations as JSON in the API's form).
    "
    CREATE TABLE silences (
        id TEXT PRIMARY KEY,
        matchers TEXT NOT NULL,
        starts_at REAL NOT NULL,
        ends_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        created_by TEXT NOT NULL,
        comment TEXT NOT NULL,
        annotations TEXT NOT NULL
    ) WITHOUT ROWID;
    ",
    // 4: history marked as simulated (`--demo`'s week before its start); the
    // partial index finds a pool's simulated points without reading the rest.
    "
    ALTER TABLE pool_history ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE account_usage ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX pool_history_simulated ON pool_history (pool_id, at) WHERE simulated = 1;
    ",
];

/// The schema version this exporter writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The schema version of `conn`'s database; refuses a newer one.
fn version(conn: &Connection, file: &Path) -> Result<i64, StoreError> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| open_error(file, e))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: file.to_owned(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

fn open_error(file: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Open {
        path: file.to_owned(),
        reason: e.to_string(),
    }
}

/// Refuses a database that a reader of this version cannot read: newer, or
/// not yet migrated to this version (a running exporter migrates it at start).
pub(super) fn require_current(conn: &Connection, file: &Path) -> Result<(), StoreError> {
    let found = version(conn, file)?;
    if found < SCHEMA_VERSION {
        return Err(StoreError::Open {
            path: file.to_owned(),
            reason: format!(
                "schema version {found}, older than this exporter's {SCHEMA_VERSION}: start the exporter on it once to migrate it"
            ),
        });
    }
    Ok(())
}

/// Applies the migrations `conn` lacks; refuses a newer schema.
pub(super) fn migrate(conn: &mut Connection, file: &Path) -> Result<(), StoreError> {
    let open_error = |e: rusqlite::Error| open_error(file, e);
    let found = version(conn, file)?;
    for (done, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction().map_err(open_error)?;
        tx.execute_batch(migration).map_err(open_error)?;
        tx.pragma_update(None, "user_version", done as i64 + 1)
            .map_err(open_error)?;
        tx.commit().map_err(open_error)?;
        tracing::debug!(path = %file.display(), version = done + 1, "store schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_an_empty_database_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        for table in [
            "pools",
            "pool_history",
            "accounts",
            "account_usage",
            "alert_state",
            "silences",
        ] {
            let n: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "{table}");
        }
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let error = migrate(&mut conn, Path::new("x.db")).unwrap_err();
        assert!(matches!(error, StoreError::NewerSchema { .. }), "{error}");
        assert!(error.to_string().contains("x.db"), "{error}");
    }
}
