//! The embedded store on real SQLite files in temporary directories: schema
//! migration and refusal of a newer one, history written by a running exporter
//! and read back, no double rows, retention, alert state across a restart, and
//! an exporter that keeps serving when its store cannot be opened (a path that
//! names a file, a database file it cannot write).

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use proxy_quota_exporter::readings::{AccountReading, PoolReading};
use proxy_quota_exporter::store::{
    Store, StoreError, StoreOptions, StoredAlert, ACCOUNT_STEP, DB_FILE, SCHEMA_VERSION,
};
use proxy_quota_exporter::{Config, Options};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn options(dir: &Path) -> StoreOptions {
    StoreOptions {
        path: dir.to_owned(),
        retention: Duration::from_secs(3600),
    }
}

fn user_version(file: &Path) -> i64 {
    rusqlite::Connection::open(file)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

/// Opens the store, retrying while a stopping exporter still holds it.
async fn reopen(dir: &Path) -> Store {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Store::open(&options(dir)) {
            Ok(storage) => return storage,
            Err(e) if Instant::now() > deadline => panic!("store not released: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// An exporter run in-process with a store; stopped on drop.
struct Running {
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<()>,
}

impl Running {
    async fn start(yaml: &str, storage: StoreOptions) -> Running {
        let config = Config::parse(yaml, Path::new("test.yml")).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(proxy_quota_exporter::run_with(
            listener,
            config,
            Options {
                storage: Some(storage),
                ..Options::default()
            },
            async {
                let _ = stopped.await;
            },
        ));
        Running {
            addr,
            stop: Some(stop),
            handle,
        }
    }

    /// `/metrics` once every target finished its first poll.
    async fn metrics(&self) -> String {
        let url = |path: &str| format!("http://{}{path}", self.addr);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !reqwest::get(url("/-/ready"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "exporter not ready within 10 s");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        reqwest::get(url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.handle)
            .await
            .expect("exporter stops within 10 s")
            .unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

fn pool(name: &str, remaining: f64) -> PoolReading {
    PoolReading {
        pool: name.to_owned(),
        remaining_bytes: Some(remaining),
        purchased_bytes: Some(1000.0),
        used_bytes: None,
        ..Default::default()
    }
}

fn account(name: &str, used: f64) -> AccountReading {
    AccountReading {
        account: name.to_owned(),
        product: "dynamic".to_owned(),
        remark: String::new(),
        used_bytes: used,
        limit_bytes: Some(100.0),
        enabled: Some(true),
    }
}

#[test]
fn an_empty_directory_is_created_and_migrated() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nested/data");
    let storage = Store::open(&options(&dir)).unwrap();
    assert_eq!(storage.file(), dir.join(DB_FILE));
    drop(storage);
    assert_eq!(user_version(&dir.join(DB_FILE)), SCHEMA_VERSION);
    // Opening again migrates nothing and loses nothing.
    let storage = Store::open(&options(&dir)).unwrap();
    assert!(storage.load_alert_states().unwrap().is_empty());
    assert_eq!(storage.errors(), 0);
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join(DB_FILE);
    rusqlite::Connection::open(&file)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let error = Store::open(&options(tmp.path())).err().unwrap();
    assert!(matches!(error, StoreError::NewerSchema { .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains("newer"), "{text}");
    assert_eq!(user_version(&file), SCHEMA_VERSION + 1);
}

#[test]
fn a_corrupt_file_and_a_second_opener_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(DB_FILE), vec![0x5a; 8192]).unwrap();
    let error = Store::open(&options(tmp.path())).err().unwrap();
    assert!(error.to_string().contains(DB_FILE), "{error}");

    let other = tempfile::tempdir().unwrap();
    let _first = Store::open(&options(other.path())).unwrap();
    let error = Store::open(&options(other.path())).err().unwrap();
    assert!(
        error.to_string().contains("locked by another process"),
        "{error}"
    );
}

#[test]
fn a_storage_path_that_names_a_file_is_not_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("store.db");
    std::fs::write(&file, "someone's file").unwrap();
    let error = Store::open(&options(&file)).err().unwrap();
    let text = error.to_string();
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains("is not a directory"), "{text}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "someone's file");
    // A file further up the path says so too.
    let error = Store::open(&options(&file.join("data"))).err().unwrap();
    assert!(error.to_string().contains("ot a directory"), "{error}");
}

#[test]
fn one_poll_is_one_row_and_accounts_keep_one_row_per_step() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = Store::open(&options(tmp.path())).unwrap();
    let at = 1_800_000_000;
    assert_eq!(
        storage
            .write_pools("bestproxy", "t", at, &[pool("p", 10.0)])
            .unwrap(),
        1
    );
    assert_eq!(
        storage
            .write_pools("bestproxy", "t", at, &[pool("p", 11.0)])
            .unwrap(),
        0
    );
    storage
        .write_pools("bestproxy", "t", at + 60, &[pool("p", 9.0)])
        .unwrap();
    let history = storage.pool_history("bestproxy", "t", "p", 0).unwrap();
    let remaining: Vec<_> = history.iter().map(|p| (p.at, p.remaining)).collect();
    assert_eq!(remaining, [(at, Some(10.0)), (at + 60, Some(9.0))]);
    assert_eq!(history[0].purchased, Some(1000.0));
    assert_eq!(history[0].used, None);
    assert!(
        storage
            .pool_history("bestproxy", "t", "p", at + 1)
            .unwrap()
            .len()
            == 1
    );
    assert!(storage
        .pool_history("bestproxy", "other", "p", 0)
        .unwrap()
        .is_empty());

    let step = ACCOUNT_STEP.as_secs() as i64;
    let start = at - at % step;
    assert_eq!(
        storage
            .write_accounts("bestproxy", "t", start, &[account("a", 1.0)])
            .unwrap(),
        1
    );
    assert_eq!(
        storage
            .write_accounts("bestproxy", "t", start + 60, &[account("a", 2.0)])
            .unwrap(),
        0
    );
    assert_eq!(
        storage
            .write_accounts("bestproxy", "t", start + step, &[account("a", 3.0)])
            .unwrap(),
        1
    );
    let used: Vec<_> = storage
        .account_history("bestproxy", "t", "dynamic", "a", 0)
        .unwrap()
        .iter()
        .map(|p| (p.at, p.used, p.limit))
        .collect();
    assert_eq!(
        used,
        [(start, 1.0, Some(100.0)), (start + step, 3.0, Some(100.0))]
    );
}

#[test]
fn history_older_than_the_retention_is_pruned() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = Store::open(&options(tmp.path())).unwrap(); // 1 h retention
    let now = 1_800_000_000;
    for (at, remaining) in [(now - 7200, 3.0), (now - 600, 2.0)] {
        storage
            .write_pools("ipweb", "t", at, &[pool("p", remaining)])
            .unwrap();
        storage
            .write_accounts("ipweb", "t", at, &[account("a", remaining)])
            .unwrap();
    }
    storage
        .write_pools("ipweb", "t", now - 7200, &[pool("gone", 1.0)])
        .unwrap();
    let pruned = storage.prune(now).unwrap();
    assert_eq!((pruned.pool_rows, pruned.account_rows), (2, 1));
    let left = storage.pool_history("ipweb", "t", "p", 0).unwrap();
    assert_eq!(left.iter().map(|p| p.at).collect::<Vec<_>>(), [now - 600]);
    assert!(storage
        .pool_history("ipweb", "t", "gone", 0)
        .unwrap()
        .is_empty());
    let accounts = storage
        .account_history("ipweb", "t", "dynamic", "a", 0)
        .unwrap();
    assert_eq!(
        accounts.iter().map(|p| p.at).collect::<Vec<_>>(),
        [now - 600]
    );
    assert_eq!(storage.prune(now).unwrap().pool_rows, 0);
}

fn alert(fingerprint: &str, firing: bool) -> StoredAlert {
    StoredAlert {
        alertname: "ProxyTrafficLow".to_owned(),
        fingerprint: fingerprint.to_owned(),
        labels: BTreeMap::from([
            ("pool".to_owned(), fingerprint.to_owned()),
            ("severity".to_owned(), "warning".to_owned()),
        ]),
        annotations: BTreeMap::from([("summary".to_owned(), "Traffic \"low\" ✓".to_owned())]),
        value: 0.05,
        active_since: 1_800_000_000.5,
        firing_since: firing.then_some(1_800_000_600.0),
        ended_at: None,
        last_sent: if firing {
            BTreeMap::from([
                ("am".to_owned(), 1_800_000_610.0),
                ("mail".to_owned(), 1_800_000_620.0),
            ])
        } else {
            BTreeMap::new()
        },
    }
}

#[test]
fn alert_state_survives_a_restart_and_absent_states_are_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let saved = vec![alert("a", true), alert("b", false)];
    let storage = Store::open(&options(tmp.path())).unwrap();
    storage.save_alert_states(&saved).unwrap();
    drop(storage);

    let storage = Store::open(&options(tmp.path())).unwrap();
    assert_eq!(storage.load_alert_states().unwrap(), saved);
    let mut resolved = alert("a", true);
    resolved.ended_at = Some(1_800_001_000.0);
    resolved.value = f64::NAN;
    storage
        .save_alert_states(std::slice::from_ref(&resolved))
        .unwrap();
    drop(storage);

    let storage = Store::open(&options(tmp.path())).unwrap();
    let loaded = storage.load_alert_states().unwrap();
    assert_eq!(
        loaded.len(),
        1,
        "b was absent from the last save: {loaded:?}"
    );
    assert!(loaded[0].resolved());
    assert!(loaded[0].value.is_nan());
    assert_eq!(loaded[0].last_sent, resolved.last_sent);
    storage.save_alert_states(&[]).unwrap();
    assert!(storage.load_alert_states().unwrap().is_empty());
    assert_eq!(storage.errors(), 0);
}

#[test]
fn a_damaged_row_is_an_error_that_is_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = Store::open(&options(tmp.path())).unwrap();
    storage.save_alert_states(&[alert("a", true)]).unwrap();
    rusqlite::Connection::open(tmp.path().join(DB_FILE))
        .unwrap()
        .execute("UPDATE alert_state SET labels = 'not json'", [])
        .unwrap();
    let error = storage.load_alert_states().unwrap_err();
    assert!(error.to_string().contains("invalid JSON"), "{error}");
    assert_eq!(storage.errors(), 1);
}

async fn summary_upstream() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/gateway/user-product/summary"))
        .respond_with(ResponseTemplate::new(200).set_body_string(fixture("gateway/summary.json")))
        .mount(&server)
        .await;
    server
}

/// One BestProxy target reading `server`'s summary every second.
fn polled_every_second(server: &MockServer) -> String {
    format!(
        "targets:\n  - name: t\n    provider: bestproxy\n    base_url: {}\n    app_key: k\n    interval: 1s\n    endpoints: [summary]\n",
        server.uri()
    )
}

fn summary_requests(requests: &[wiremock::Request]) -> usize {
    requests
        .iter()
        .filter(|r| r.url.path().ends_with("/summary"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_exporter_records_each_poll_once() {
    let server = summary_upstream().await;
    let tmp = tempfile::tempdir().unwrap();
    let yaml = polled_every_second(&server);
    let exporter = Running::start(&yaml, options(tmp.path())).await;
    let metrics = exporter.metrics().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while summary_requests(&server.received_requests().await.unwrap()) < 3 {
        assert!(Instant::now() < deadline, "fewer than 3 polls in 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    exporter.stop().await;
    let polls = summary_requests(&server.received_requests().await.unwrap());

    let storage = reopen(tmp.path()).await;
    let pools: Vec<&str> = samples(&metrics, "proxy_traffic_remaining_bytes")
        .iter()
        .filter_map(|l| l.split("pool=\"").nth(1)?.split('"').next())
        .collect();
    assert!(!pools.is_empty(), "{metrics}");
    for name in pools {
        let labels = [("target", "t"), ("pool", name)];
        let remaining = value(&metrics, "proxy_traffic_remaining_bytes", &labels);
        let purchased = value(&metrics, "proxy_traffic_purchased_bytes", &labels);
        let history = storage.pool_history("bestproxy", "t", name, 0).unwrap();
        assert!(
            history.len() >= 2 && history.len() <= polls,
            "{name}: {} rows, {polls} polls",
            history.len()
        );
        assert!(history.windows(2).all(|w| w[0].at < w[1].at), "{history:?}");
        for point in &history {
            assert_eq!(
                (point.remaining, point.purchased),
                (remaining, purchased),
                "{name}"
            );
        }
    }
    assert_eq!(storage.errors(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_store_leaves_the_exporter_serving() {
    let server = summary_upstream().await;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let yaml = gateway_config("bestproxy", &server.uri(), "[summary]");
    let exporter = Running::start(&yaml, options(&file.join("data"))).await;
    let metrics = exporter.metrics().await;
    assert_eq!(value(&metrics, "proxy_up", &[]), Some(1.0), "{metrics}");
    assert_eq!(
        value(&metrics, "proxy_exporter_storage_open", &[]),
        Some(0.0)
    );
    assert_eq!(
        value(&metrics, "proxy_exporter_storage_errors_total", &[]),
        Some(1.0)
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_failure_while_running_is_counted_and_polling_goes_on() {
    let server = summary_upstream().await;
    let tmp = tempfile::tempdir().unwrap();
    let yaml = polled_every_second(&server);
    let exporter = Running::start(&yaml, options(tmp.path())).await;
    let metrics = exporter.metrics().await;
    assert_eq!(
        value(&metrics, "proxy_exporter_storage_open", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(&metrics, "proxy_exporter_storage_errors_total", &[]),
        Some(0.0),
        "{metrics}"
    );
    // Someone breaks the database under the running exporter.
    rusqlite::Connection::open(tmp.path().join(DB_FILE))
        .unwrap()
        .execute_batch("DROP TABLE pool_history")
        .unwrap();
    let polled = summary_requests(&server.received_requests().await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = exporter.metrics().await;
        let errors = value(&metrics, "proxy_exporter_storage_errors_total", &[]);
        if errors.is_some_and(|e| e >= 1.0) {
            assert_eq!(value(&metrics, "proxy_up", &[]), Some(1.0), "{metrics}");
            break;
        }
        assert!(Instant::now() < deadline, "no error counted: {metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Polls go on after the failure.
    while summary_requests(&server.received_requests().await.unwrap()) < polled + 2 {
        assert!(Instant::now() < deadline, "polling stopped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    exporter.stop().await;
}

/// Runs the binary in `cwd` against `upstream` until it is ready, then stops it.
async fn run_binary(cwd: &Path, upstream: &str, extra: &[&str]) {
    let config = cwd.join("config.yml");
    std::fs::write(&config, gateway_config("bestproxy", upstream, "[summary]")).unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_proxy-quota-exporter"))
        .current_dir(cwd)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(extra)
        .env_remove("PROXY_QUOTA_EXPORTER_STORAGE_PATH")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _guard = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(15);
    let ready = format!("http://127.0.0.1:{port}/-/ready");
    while !reqwest::get(&ready)
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "binary not ready within 15 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_binary_keeps_its_store_in_data_unless_turned_off() {
    let server = summary_upstream().await;
    let default = tempfile::tempdir().unwrap();
    run_binary(default.path(), &server.uri(), &[]).await;
    assert!(default.path().join("data").join(DB_FILE).is_file());

    let off = tempfile::tempdir().unwrap();
    run_binary(off.path(), &server.uri(), &["--storage.path="]).await;
    assert!(!off.path().join("data").exists());

    let elsewhere = tempfile::tempdir().unwrap();
    let dir = elsewhere.path().join("store");
    let flag = format!("--storage.path={}", dir.display());
    run_binary(
        elsewhere.path(),
        &server.uri(),
        &[&flag, "--storage.retention=2d"],
    )
    .await;
    assert!(dir.join(DB_FILE).is_file());
}

#[test]
fn a_read_only_opener_needs_no_lock_and_refuses_what_it_cannot_read() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(Store::open_read_only(tmp.path()).unwrap().is_none());
    assert!(!tmp.path().join(DB_FILE).exists(), "nothing created");

    let writer = Store::open(&options(tmp.path())).unwrap();
    writer
        .write_pools("bestproxy", "t", 100, &[pool("p", 5.0)])
        .unwrap();
    let reader = Store::open_read_only(tmp.path()).unwrap().unwrap();
    let history = reader.pool_history("bestproxy", "t", "p", 0).unwrap();
    assert_eq!(history.len(), 1);
    assert!(reader
        .write_pools("bestproxy", "t", 200, &[pool("p", 4.0)])
        .is_err());
    drop((writer, reader));

    let newer = tempfile::tempdir().unwrap();
    rusqlite::Connection::open(newer.path().join(DB_FILE))
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let error = Store::open_read_only(newer.path()).err().unwrap();
    assert!(matches!(error, StoreError::NewerSchema { .. }), "{error}");
}

#[test]
fn names_of_sub_accounts_without_history_are_forgotten_once_a_day() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = Store::open(&options(tmp.path())).unwrap(); // 1 h retention
    let names = || -> i64 {
        rusqlite::Connection::open(tmp.path().join(DB_FILE))
            .unwrap()
            .query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))
            .unwrap()
    };
    let now = 1_800_000_000;
    let write = |at: i64, name: &str| {
        storage
            .write_accounts("ipweb", "t", at, &[account(name, 1.0)])
            .unwrap();
    };
    write(now - 7200, "left");
    write(now - 600, "stays");
    // The first prune forgets the name whose history is gone.
    assert_eq!(storage.prune(now).unwrap().account_rows, 1);
    assert_eq!(names(), 1);
    // Within a day, another name whose history goes keeps its row...
    write(now + 600, "left-later");
    write(now + 3000, "stays");
    assert_eq!(storage.prune(now + 4500).unwrap().account_rows, 2);
    assert_eq!(names(), 2);
    // ...until the first prune a day later.
    write(now + 86_400, "stays");
    assert_eq!(storage.prune(now + 87_400).unwrap().account_rows, 1);
    assert_eq!(names(), 1);
}

/// Set in the child process that runs the read-only test as an unprivileged user.
const READ_ONLY_DIR: &str = "PQE_TEST_READ_ONLY_STORE";
/// What that child prints once it ran the checks, so that a child that ran no
/// test cannot pass for one that did.
const READ_ONLY_CHECKED: &str = "read-only store checked";
/// The user and group the child runs as when the test runs as root: `nobody`.
const NOBODY: u32 = 65534;

/// A database file the exporter cannot write, in a directory it can: SQLite
/// would open it read-only without a word. The store refuses it at open, with the
/// path and the reason, and the exporter runs without a store
/// (`proxy_exporter_storage_open` 0). Root writes a read-only file all the same,
/// so as root the checks run in a child process of this test as `nobody`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_file_is_refused_at_open() {
    if let Some(dir) = std::env::var_os(READ_ONLY_DIR) {
        check_read_only_store(Path::new(&dir)).await;
        println!("{READ_ONLY_CHECKED}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let storage = Store::open(&options(&dir)).unwrap();
    storage
        .write_pools("bestproxy", "t", 100, &[pool("p", 5.0)])
        .unwrap();
    drop(storage);
    let file = dir.join(DB_FILE);
    set_mode(&file, 0o444);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        check_read_only_store(&dir).await;
        return;
    }
    for path in [tmp.path(), &dir, &file, &dir.join(storage_lock())] {
        std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let out = tokio::task::spawn_blocking(move || {
        use std::os::unix::process::CommandExt as _;
        // The harness names a test by its path below the crate root.
        let module = module_path!().split_once("::").map_or("", |(_, m)| m);
        let name = format!("{module}::a_read_only_database_file_is_refused_at_open");
        Command::new(std::env::current_exe().unwrap())
            .args([name.as_str(), "--exact", "--nocapture"])
            .env(READ_ONLY_DIR, &dir)
            .uid(NOBODY)
            .gid(NOBODY)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the check as nobody failed:\n{report}"
    );
    assert!(
        report.contains(READ_ONLY_CHECKED),
        "the child ran no check:\n{report}"
    );
}

fn storage_lock() -> &'static str {
    proxy_quota_exporter::store::LOCK_FILE
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The checks of [`a_read_only_database_file_is_refused_at_open`], in a process
/// that cannot write `dir`'s database file.
async fn check_read_only_store(dir: &Path) {
    let file = dir.join(DB_FILE);
    let denied = std::fs::OpenOptions::new().write(true).open(&file);
    assert!(
        denied
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied),
        "this process can write {}, so the test would not exercise a read-only store: {denied:?}",
        file.display()
    );
    let error = Store::open(&options(dir))
        .err()
        .expect("a read-only database is refused");
    let text = error.to_string();
    assert!(matches!(error, StoreError::Open { .. }), "{text}");
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains("read-only"), "{text}");

    let server = summary_upstream().await;
    let yaml = gateway_config("bestproxy", &server.uri(), "[summary]");
    let exporter = Running::start(&yaml, options(dir)).await;
    let metrics = exporter.metrics().await;
    assert_eq!(value(&metrics, "proxy_up", &[]), Some(1.0), "{metrics}");
    assert_eq!(
        value(&metrics, "proxy_exporter_storage_open", &[]),
        Some(0.0),
        "{metrics}"
    );
    exporter.stop().await;
    // Nothing was written: the history is the one from before.
    let reader = Store::open_read_only(dir).unwrap().unwrap();
    assert_eq!(
        reader.pool_history("bestproxy", "t", "p", 0).unwrap().len(),
        1
    );
}
