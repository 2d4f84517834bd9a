//! The embedded store: one SQLite file (`proxy-quota-exporter.db`) in the
//! `--storage.path` directory, holding the history of every pool's figures, the
//! sub-accounts' usage at a coarser step, the alerting agent's state and the
//! silences.
//!
//! Every method here blocks on disk: async code calls them through
//! [`Store::blocking`], never on a runtime worker. A store that cannot be
//! opened is an error naming the path; the exporter then runs without one. A
//! failed operation afterwards is returned, logged (at most once a minute) and
//! counted in [`Store::errors`] (`proxy_exporter_storage_errors_total`); it
//! never stops polling or serving.

mod alerts;
mod history;
mod notifications;
mod recorder;
mod schema;
mod silences;
mod simulated;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, MAIN_DB};

use crate::snapshots::StoreStatus;

pub use alerts::StoredAlert;
pub use history::{AccountPoint, PoolPoint, Pruned, ACCOUNT_STEP};
pub use notifications::SavedNotifications;
pub use recorder::record;
pub use schema::SCHEMA_VERSION;

/// The database's file name inside the storage directory.
pub const DB_FILE: &str = "proxy-quota-exporter.db";
/// The lock file that keeps a second exporter off the same directory.
pub const LOCK_FILE: &str = "proxy-quota-exporter.lock";
/// The default `--storage.retention`.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(15 * 24 * 3600);
/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// At most one error line per this interval (the rest are counted).
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Where the store lives and what it keeps (`--storage.path`, `--storage.retention`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoreOptions {
    /// The directory of the database; created when missing.
    pub path: PathBuf,
    /// History older than this is deleted (at start, then hourly).
    pub retention: Duration,
}

/// A failed store operation. The message names the database's path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory, the lock or the database could not be opened or migrated.
    #[error("cannot open the store at {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    /// The database was written by a newer exporter.
    #[error("the store at {path} has schema version {found}, newer than this exporter's {known}: use a newer exporter or another --storage.path")]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// A read or write failed while running.
    #[error("store {path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

/// An open store; see the module documentation.
pub struct Store {
    conn: Mutex<Connection>,
    file: PathBuf,
    retention: Duration,
    errors: AtomicU64,
    last_logged: Mutex<Option<Instant>>,
    /// Unix seconds of the last prune that forgot sub-accounts' names.
    names_pruned_at: Mutex<Option<i64>>,
    /// Held (locked) for the store's life; `None` for a read-only store.
    _lock: Option<File>,
}

impl Store {
    /// Opens (creating when missing) the store in `options.path`, takes its
    /// lock and migrates its schema.
    pub fn open(options: &StoreOptions) -> Result<Store, StoreError> {
        let dir = &options.path;
        let file = dir.join(DB_FILE);
        let open_error = |path: &Path, reason: String| StoreError::Open {
            path: path.to_owned(),
            reason,
        };
        if std::fs::metadata(dir).is_ok_and(|m| !m.is_dir()) {
            return Err(open_error(
                dir,
                "is not a directory (--storage.path names the directory the store lives in)"
                    .to_owned(),
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| open_error(dir, e.to_string()))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| open_error(&lock_path, e.to_string()))?;
        // `File::try_lock` is stable since Rust 1.89, which rusqlite 0.43 needs anyway.
        let locked = lock.try_lock();
        locked.map_err(|e| {
            let reason = match e {
                std::fs::TryLockError::WouldBlock => {
                    "locked by another process (another exporter uses this --storage.path)"
                        .to_owned()
                }
                std::fs::TryLockError::Error(e) => e.to_string(),
            };
            open_error(&lock_path, reason)
        })?;
        let mut conn = Connection::open(&file).map_err(|e| open_error(&file, e.to_string()))?;
        // SQLite opens a file it cannot write read-only without a word; every
        // write would then fail.
        if conn.is_readonly(MAIN_DB).unwrap_or(true) {
            return Err(open_error(
                &file,
                "the database file is read-only for this process (check its owner and permissions, and that the file system is mounted read-write)".to_owned(),
            ));
        }
        configure(&conn).map_err(|e| open_error(&file, e.to_string()))?;
        schema::migrate(&mut conn, &file)?;
        Ok(Store {
            conn: Mutex::new(conn),
            file,
            retention: options.retention,
            errors: AtomicU64::new(0),
            last_logged: Mutex::new(None),
            names_pruned_at: Mutex::new(None),
            _lock: Some(lock),
        })
    }

    /// Opens the store in `dir` for reading only, without its lock, beside an
    /// exporter that may be writing it (`check` reads the history this way).
    /// `Ok(None)` when `dir` holds no database. Never creates, migrates or
    /// writes anything; the history's retention does not apply.
    pub fn open_read_only(dir: &Path) -> Result<Option<Store>, StoreError> {
        let file = dir.join(DB_FILE);
        if !file.exists() {
            return Ok(None);
        }
        let open_error = |e: rusqlite::Error| StoreError::Open {
            path: file.clone(),
            reason: e.to_string(),
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&file, flags).map_err(open_error)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        schema::require_current(&conn, &file)?;
        Ok(Some(Store {
            conn: Mutex::new(conn),
            file,
            retention: Duration::MAX,
            errors: AtomicU64::new(0),
            last_logged: Mutex::new(None),
            names_pruned_at: Mutex::new(None),
            _lock: None,
        }))
    }

    /// Opens the store, or logs why it cannot (with the path) and returns
    /// `None`: the exporter then runs without a store.
    pub fn open_or_log(options: &StoreOptions) -> Option<Arc<Store>> {
        match Self::open(options) {
            Ok(storage) => {
                tracing::info!(path = %storage.file.display(), retention = %humantime::format_duration(options.retention), "store opened");
                Some(Arc::new(storage))
            }
            Err(e) => {
                tracing::error!(error = %e, "running without a store: no history, alert state starts empty");
                None
            }
        }
    }

    /// [`Store::open_or_log`] on a blocking thread, for async callers.
    pub async fn open_in_background(options: StoreOptions) -> Option<Arc<Store>> {
        tokio::task::spawn_blocking(move || Self::open_or_log(&options))
            .await
            .ok()
            .flatten()
    }

    /// The database file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// How long history is kept.
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// How many operations failed since the store was opened (for a metric).
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The store's health for `/metrics`.
    pub fn status(&self) -> StoreStatus {
        StoreStatus::Open {
            errors: self.errors(),
        }
    }

    /// Runs `work` on a blocking thread (never on a runtime worker). A panic
    /// in `work` is returned as an error.
    pub async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let storage = Arc::clone(self);
        match tokio::task::spawn_blocking(move || work(&storage)).await {
            Ok(result) => result,
            Err(e) => Err(self.failed(e.to_string())),
        }
    }

    /// Runs `work` on the connection; a failure is counted and logged.
    fn with_conn<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        work(&mut conn).map_err(|e| self.failed(e.to_string()))
    }

    /// Counts a failure, logs it unless one was logged within the last minute,
    /// and returns it as an error.
    fn failed(&self, reason: String) -> StoreError {
        let count = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last_logged();
        if last.is_none_or(|at| at.elapsed() >= ERROR_LOG_INTERVAL) {
            *last = Some(Instant::now());
            tracing::error!(path = %self.file.display(), errors = count, error = %reason, "store operation failed (polling and serving go on)");
        }
        StoreError::Io {
            path: self.file.clone(),
            reason,
        }
    }

    fn names_pruned_at(&self) -> MutexGuard<'_, Option<i64>> {
        self.names_pruned_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn last_logged(&self) -> MutexGuard<'_, Option<Instant>> {
        self.last_logged.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// WAL journal (readers never wait for the writer), a busy timeout, and
/// `synchronous=NORMAL` (safe with WAL; a power cut loses at most the last
/// transactions, never the file).
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(journal_mode = %mode, "the store's file system does not support WAL");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}
