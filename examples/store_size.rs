//! Snapshots size per day and the time of each write: one simulated day written
//! into a fresh store (in a temp dir), its size after a checkpoint (database +
//! WAL) and the wall time per write, for
//! - the demo's size: 3 targets with 6 pools, polled every 60 s (the
//!   configuration's default `interval`) and every 5 s (`--demo.interval`'s
//!   default), and their 24 sub-accounts hourly;
//! - 1,000 and 100,000 sub-accounts of one target, hourly (24 steps);
//!
//! and then the hourly prune of the 100k store once its first hour has expired.
//!
//! `cargo run --release --example store_size [-- MAX_SECONDS]`: the 100k day
//! stops writing after MAX_SECONDS (default 60) and its size per day is
//! extrapolated from the hours written, which the output says.

use std::path::Path;
use std::time::{Duration, Instant};

use proxy_quota_exporter::store::{Store, StoreOptions, ACCOUNT_STEP, DB_FILE};
use rusqlite::Connection;

#[allow(dead_code)] // the benches' helpers; this program uses some of them
#[path = "../benches/common.rs"]
mod common;

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// Midnight (UTC) of the simulated day.
fn day_start() -> i64 {
    (common::NOW as i64).div_euclid(DAY) * DAY
}

fn open(dir: &Path, retention: Duration) -> Store {
    Store::open(&StoreOptions {
        path: dir.to_owned(),
        retention,
    })
    .expect("the store opens")
}

/// Wall times of one kind of write.
#[derive(Default)]
struct Times {
    all: Vec<Duration>,
}

impl Times {
    fn time<T>(&mut self, write: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = write();
        self.all.push(started.elapsed());
        out
    }

    fn summary(&self) -> String {
        if self.all.is_empty() {
            return "none".to_owned();
        }
        let total: Duration = self.all.iter().sum();
        let mut sorted = self.all.clone();
        sorted.sort();
        format!(
            "{} writes, mean {}, median {}, max {}",
            self.all.len(),
            ms(total / self.all.len() as u32),
            ms(sorted[sorted.len() / 2]),
            ms(sorted[sorted.len() - 1])
        )
    }
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 1.0 {
        format!("{:.0} µs", ms * 1e3)
    } else {
        format!("{ms:.1} ms")
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

/// The store's size after a checkpoint: database, WAL, and the bytes of each
/// table and index (from `dbstat`, when SQLite has it).
struct Size {
    db: u64,
    wal: u64,
    by_name: Vec<(String, u64)>,
}

impl Size {
    fn of(storage: &Store) -> Size {
        let file = storage.file();
        let conn = Connection::open(file).expect("a second connection opens");
        let (busy, _, _): (i64, i64, i64) = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .expect("checkpoint");
        assert_eq!(busy, 0, "the checkpoint was blocked");
        let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let wal = file.with_file_name(format!("{DB_FILE}-wal"));
        let by_name = conn
            .prepare("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
            .and_then(|mut q| {
                q.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
                    .collect()
            })
            .unwrap_or_default();
        Size {
            db: len(file),
            wal: len(&wal),
            by_name,
        }
    }

    fn total(&self) -> u64 {
        self.db + self.wal
    }

    fn of_name(&self, name: &str) -> u64 {
        self.by_name
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, b)| *b)
    }

    fn report(&self, rows: &[(&str, i64)]) {
        println!(
            "  size: {} (database {}, WAL {} after checkpoint)",
            mb(self.total()),
            mb(self.db),
            mb(self.wal)
        );
        if self.by_name.is_empty() {
            println!("  (dbstat not available: no size per table)");
        }
        for (name, bytes) in &self.by_name {
            let per_row = rows
                .iter()
                .find(|(n, _)| n == name)
                .filter(|(_, count)| *count > 0)
                .map(|(_, count)| format!(", {:.1} bytes a row", *bytes as f64 / *count as f64))
                .unwrap_or_default();
            println!("    {name}: {}{per_row}", mb(*bytes));
        }
    }
}

fn rows(storage: &Store) -> Vec<(&'static str, i64)> {
    let conn = Connection::open(storage.file()).expect("a second connection opens");
    ["pool_history", "account_usage", "accounts"]
        .into_iter()
        .map(|table| {
            let n = conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .expect("count");
            (table, n)
        })
        .collect()
}

/// One day of the demo: its pools every `interval` seconds, its two gateway
/// targets' 12 sub-accounts each at the first poll of every hour.
fn demo_day(interval: i64) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let storage = open(dir.path(), Duration::from_secs(15 * DAY as u64));
    let start = day_start();
    let (mut pools, mut accounts) = (Times::default(), Times::default());
    let mut last_step = None;
    let started = Instant::now();
    for i in 0..DAY / interval {
        let at = start + i * interval;
        let ago = (start + DAY - at) as f64;
        for (provider, target, readings) in common::demo_pools(ago) {
            pools
                .time(|| storage.write_pools(provider, target, at, &readings))
                .expect("pools written");
        }
        let step = at.div_euclid(ACCOUNT_STEP.as_secs() as i64);
        if last_step != Some(step) {
            last_step = Some(step);
            let hour = ((at - start) / HOUR) as u32;
            for (provider, target) in [
                ("bestproxy", "demo-bestproxy"),
                ("proxylite", "demo-proxylite"),
            ] {
                let readings = common::account_readings(12, hour);
                accounts
                    .time(|| storage.write_accounts(provider, target, at, &readings))
                    .expect("accounts written");
            }
        }
    }
    let elapsed = started.elapsed();
    println!(
        "demo, pools every {interval} s ({} polls of 3 targets, 6 pools), 24 sub-accounts hourly: one day written in {:.1} s",
        DAY / interval,
        elapsed.as_secs_f64()
    );
    println!("  write_pools (one target, 2 pools): {}", pools.summary());
    println!(
        "  write_accounts (one target, 12 sub-accounts): {}",
        accounts.summary()
    );
    let rows = rows(&storage);
    Size::of(&storage).report(&rows);
}

/// One day of `n` sub-accounts of one target, hourly; stops writing after
/// `budget` (at least two hours are written) and extrapolates. With `prune`,
/// then times the hourly prune once the first hour has expired.
fn accounts_day(n: usize, budget: Duration, prune: bool) {
    let dir = tempfile::tempdir().expect("a temp dir");
    // A retention of one day, so that the prune below deletes the first hour.
    let storage = open(dir.path(), Duration::from_secs(DAY as u64));
    let start = day_start();
    let mut times = Times::default();
    let started = Instant::now();
    let mut hours = 0;
    for hour in 0..24 {
        let readings = common::account_readings(n, hour);
        let at = start + i64::from(hour) * HOUR + 5;
        let added = times
            .time(|| storage.write_accounts("bestproxy", "big", at, &readings))
            .expect("accounts written");
        assert_eq!(added, n);
        hours += 1;
        if hours >= 2 && started.elapsed() > budget {
            break;
        }
    }
    println!(
        "{n} sub-accounts of one target, hourly: {hours} of 24 steps written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let first = times.all[0];
    let rest = Times {
        all: times.all[1..].to_vec(),
    };
    println!("  first step (adds the {n} names): {}", ms(first));
    println!("  later steps: {}", rest.summary());
    let rows = rows(&storage);
    let size = Size::of(&storage);
    size.report(&rows);
    let usage = size.of_name("account_usage");
    let per_day = if usage > 0 {
        usage as f64 * 24.0 / f64::from(hours)
    } else {
        size.total() as f64 * 24.0 / f64::from(hours)
    };
    let names = size.of_name("accounts") + size.of_name("sqlite_autoindex_accounts_1");
    println!(
        "  per day: {} of usage rows{} (a store keeping `--storage.retention` days holds that many times this), plus {} of names, once",
        mb(per_day as u64),
        if hours < 24 {
            format!(" (extrapolated from {hours} hours)")
        } else {
            String::new()
        },
        mb(names)
    );
    if prune && hours == 24 {
        let now = start + DAY + HOUR;
        let started = Instant::now();
        let pruned = storage.prune(now).expect("pruned");
        println!(
            "  prune of the expired first hour ({} rows deleted, {} left): {}",
            pruned.account_rows,
            rows.iter()
                .find(|(t, _)| *t == "account_usage")
                .map_or(0, |(_, n)| *n)
                - pruned.account_rows as i64,
            ms(started.elapsed())
        );
        let conn = Connection::open(storage.file()).expect("a second connection opens");
        let mut plan = conn
            .prepare(
                "EXPLAIN QUERY PLAN DELETE FROM accounts
                 WHERE id NOT IN (SELECT account_id FROM account_usage)",
            )
            .expect("plan");
        let steps: Vec<String> = plan
            .query_map([], |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("plan");
        println!("  plan of the prune's name cleanup: {}", steps.join("; "));
    }
}

fn main() {
    let budget = Duration::from_secs(
        std::env::args()
            .nth(1)
            .and_then(|a| a.parse().ok())
            .unwrap_or(60),
    );
    println!(
        "# store size per day ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    demo_day(60);
    demo_day(5);
    accounts_day(1_000, budget, false);
    accounts_day(100_000, budget, true);
}
