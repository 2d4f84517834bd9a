//! The front page and the status API at 100,000 sub-accounts: the server's work
//! for one `GET /` (the status with the page's lists, 7 days of each pool's
//! history read from a real store, the HTML) and one `GET /api/v1/status` (the
//! status and its JSON), with the agent's alerts as the shipped rules raise them
//! and `ProxyUsageSpike` evaluated as the server does. Prints the page's and the
//! answer's sizes. Run: `cargo bench --bench front_page`.

#[allow(dead_code)] // the benches' shared helpers; this bench uses some of them
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use proxy_quota_exporter::agent::evaluate::{evaluate, Input};
use proxy_quota_exporter::alerts::rules::RuleSet;
use proxy_quota_exporter::alerts::{DEFAULT_RUNBOOK_BASE_URL, USAGE_SPIKE_DEFAULTS};
use proxy_quota_exporter::forecast::{History, NoHistory};
use proxy_quota_exporter::lists::ListWindow;
use proxy_quota_exporter::notify::fingerprint;
use proxy_quota_exporter::providers::Endpoint;
use proxy_quota_exporter::readings::Reading;
use proxy_quota_exporter::server::page::{self, Histories};
use proxy_quota_exporter::snapshots::{ActiveAlert, View};
use proxy_quota_exporter::status::{self, Sources, Status};
use proxy_quota_exporter::store::{Store, StoreOptions};

const SUB_ACCOUNTS: usize = 100_000;
const WEEK: f64 = 7.0 * 86_400.0;

/// A store holding 7 days of the bench target's pools, a point every 5 minutes.
fn store_with_a_week(dir: &tempfile::TempDir) -> Store {
    let storage = Store::open(&StoreOptions {
        path: dir.path().to_owned(),
        retention: Duration::from_secs(8 * 86_400),
    })
    .expect("the store opens");
    for ago in (0..=WEEK as i64).rev().step_by(300) {
        let pools = common::pool_readings(ago as f64);
        storage
            .write_pools("bestproxy", "bench", common::NOW as i64 - ago, &pools)
            .expect("pools written");
    }
    storage
}

/// The store's view: the target and the alerts the shipped rules raise on it.
fn view() -> View {
    let snapshot = common::snapshot_of(vec![
        (
            Endpoint::Summary,
            Reading::Summary(common::pool_readings(0.0)),
        ),
        (
            Endpoint::Accounts,
            Reading::Accounts(common::account_readings(SUB_ACCOUNTS, 0)),
        ),
    ]);
    let snapshots = [Arc::clone(&snapshot)];
    let rules = RuleSet::default();
    let active = evaluate(&Input {
        snapshots: &snapshots,
        history: &NoHistory,
        now: common::NOW,
        instant: Instant::now(),
        runbook_base_url: DEFAULT_RUNBOOK_BASE_URL,
        rules: &rules,
    });
    let store = proxy_quota_exporter::snapshots::Snapshots::new(["bench".to_owned()]);
    let mut view = store.view();
    view.snapshots = vec![snapshot];
    view.agent.running = true;
    view.agent.active = active
        .into_iter()
        .map(|a| ActiveAlert {
            fingerprint: fingerprint(&a.labels),
            state: "firing",
            since: common::NOW - 600.0,
            summary: a.annotations.get("summary").cloned().unwrap_or_default(),
            labels: a.labels,
            annotations: a.annotations,
            silenced_by: Vec::new(),
            inhibited_by: Vec::new(),
            receivers: Vec::new(),
        })
        .collect();
    view
}

fn build(view: &View, history: &dyn History, lists: ListWindow) -> Status {
    status::build(
        view,
        &Sources {
            history,
            has_store: true,
            notice: None,
            silences: &[],
            shard: None,
            spike: Some(USAGE_SPIKE_DEFAULTS),
            now: common::NOW,
            instant: Instant::now(),
            lists,
        },
    )
}

/// What `GET /` does: the status, each pool's 7 days, the HTML.
fn front_page(view: &View, storage: &Store) -> String {
    let lists = ListWindow::default();
    let status = build(view, storage, lists.clone());
    let mut histories = Histories::new();
    for t in &status.targets {
        for p in &t.pools {
            let points =
                storage.pool_points(t.provider, &t.name, &p.pool, status.generated_at - WEEK);
            histories.insert((t.name.clone(), p.pool.clone()), points);
        }
    }
    page::render(&status, &histories, &lists)
}

/// What `GET /api/v1/status` does: the status and its JSON.
fn status_api(view: &View, storage: &Store) -> Vec<u8> {
    let status = build(view, storage, ListWindow::default());
    serde_json::to_vec_pretty(&status).expect("the status serialises")
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let storage = store_with_a_week(&dir);
    let view = view();
    let html = front_page(&view, &storage);
    let json = status_api(&view, &storage);
    let filtered = build(&view, &storage, ListWindow::new(Some("user04242"), None, 0));
    println!(
        "{SUB_ACCOUNTS} sub-accounts, {} alerts: page {} bytes ({} charts), status API {} bytes, ?q=user04242 finds {}",
        view.agent.active.len(),
        html.len(),
        html.matches("class=\"trend\"").count(),
        json.len(),
        filtered.targets[0].accounts_found_total,
    );
    let mut group = c.benchmark_group("front_page");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function(BenchmarkId::new("page", SUB_ACCOUNTS), |b| {
        b.iter(|| front_page(&view, &storage))
    });
    group.bench_function(BenchmarkId::new("status_api", SUB_ACCOUNTS), |b| {
        b.iter(|| status_api(&view, &storage))
    });
    group.bench_function(BenchmarkId::new("page_q", SUB_ACCOUNTS), |b| {
        b.iter(|| build(&view, &storage, ListWindow::new(Some("user04242"), None, 0)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
