//! The alerting agent and the store: one evaluation of the rules at 1k and 100k
//! sub-accounts (without history, and with the forecast reading a real store),
//! the state step and save that follow an evaluation, and the store's writes: a
//! demo polling round's pools and one hourly step of sub-accounts at 1k and 100k.
//! Run: `cargo bench --bench agent_store`.

#[allow(dead_code)] // the benches' shared helpers; this bench uses some of them
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use proxy_quota_exporter::agent::evaluate::{evaluate, Active, Input};
use proxy_quota_exporter::agent::state::{fingerprint, States};
use proxy_quota_exporter::alerts::rules::RuleSet;
use proxy_quota_exporter::alerts::DEFAULT_RUNBOOK_BASE_URL;
use proxy_quota_exporter::forecast::{History, NoHistory, FORECAST_WINDOW};
use proxy_quota_exporter::providers::Endpoint;
use proxy_quota_exporter::readings::Reading;
use proxy_quota_exporter::snapshots::TargetSnapshot;
use proxy_quota_exporter::store::{self, Store, StoreOptions, ACCOUNT_STEP, DEFAULT_RETENTION};

const SIZES: [usize; 2] = [1_000, 100_000];

fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
}

fn open_store(dir: &tempfile::TempDir) -> Store {
    Store::open(&StoreOptions {
        path: dir.path().to_owned(),
        retention: DEFAULT_RETENTION,
    })
    .expect("the store opens")
}

/// A store holding the bench target's pools polled every minute over the
/// forecast window (6 h: 361 points per pool).
fn store_with_history(dir: &tempfile::TempDir) -> Store {
    let storage = open_store(dir);
    let window = FORECAST_WINDOW.as_secs() as i64;
    for ago in (0..=window).rev().step_by(60) {
        let pools = common::pool_readings(ago as f64);
        storage
            .write_pools("bestproxy", "bench", common::NOW as i64 - ago, &pools)
            .expect("pools written");
    }
    storage
}

/// The bench target with its pools and `n` sub-accounts.
fn agent_snapshot(n: usize) -> Arc<TargetSnapshot> {
    common::snapshot_of(vec![
        (
            Endpoint::Summary,
            Reading::Summary(common::pool_readings(0.0)),
        ),
        (
            Endpoint::Accounts,
            Reading::Accounts(common::account_readings(n, 0)),
        ),
    ])
}

fn run(snapshots: &[Arc<TargetSnapshot>], history: &dyn History, rules: &RuleSet) -> Vec<Active> {
    evaluate(&Input {
        snapshots,
        history,
        now: common::NOW,
        instant: Instant::now(),
        runbook_base_url: DEFAULT_RUNBOOK_BASE_URL,
        rules,
    })
}

fn count(active: &[Active], alert: &str) -> usize {
    active.iter().filter(|a| a.alert.name == alert).count()
}

fn evaluation(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let storage = store_with_history(&dir);
    let rules = RuleSet::default();
    let mut group = c.benchmark_group("evaluate");
    configure(&mut group);
    for n in SIZES {
        let snapshots = [agent_snapshot(n)];
        let without = run(&snapshots, &NoHistory, &rules);
        let with = run(&snapshots, &storage, &rules);
        // Warning and critical for the pool running dry within hours, warning
        // for the one within 3 days: the history is read and used.
        assert_eq!(count(&with, "ProxyTrafficExhaustionForecast"), 3);
        assert_eq!(count(&without, "ProxyTrafficExhaustionForecast"), 0);
        println!(
            "{n} sub-accounts: {} alerts active ({} ProxyAccountNearLimit) without history, {} with",
            without.len(),
            count(&without, "ProxyAccountNearLimit"),
            with.len()
        );
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("no_history", n), &snapshots, |b, s| {
            b.iter(|| run(s, &NoHistory, &rules))
        });
        group.bench_with_input(BenchmarkId::new("store_history", n), &snapshots, |b, s| {
            b.iter(|| run(s, &storage, &rules))
        });
    }
    group.finish();
}

/// The states as the agent saves them (one receiver, sent at `now`).
fn saved(states: &States, now: f64) -> Vec<store::StoredAlert> {
    states
        .all()
        .map(|s| store::StoredAlert {
            alertname: s.labels.get("alertname").cloned().unwrap_or_default(),
            fingerprint: fingerprint(&s.labels),
            labels: s.labels.clone(),
            annotations: s.annotations.clone(),
            value: s.value,
            active_since: s.active_since,
            firing_since: s.firing_since,
            ended_at: None,
            last_sent: BTreeMap::from([("log".to_owned(), now)]),
        })
        .collect()
}

/// What follows an evaluation: the alert states advanced (steady state: the
/// same alerts as at the last evaluation) and saved to the store.
fn agent_cycle(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let storage = open_store(&dir);
    let rules = RuleSet::default();
    let for_of = |a: &Active| {
        rules
            .variant(a.alert.name, a.severity)
            .map_or(Duration::ZERO, |v| v.for_)
    };
    let mut group = c.benchmark_group("agent_cycle");
    configure(&mut group);
    for n in SIZES {
        let active = run(&[agent_snapshot(n)], &NoHistory, &rules);
        let mut states = States::default();
        states.step(active.clone(), common::NOW, for_of);
        let mut now = common::NOW;
        group.throughput(Throughput::Elements(active.len() as u64));
        group.bench_with_input(BenchmarkId::new("step", n), &active, |b, active| {
            b.iter_batched(
                || active.clone(),
                |active| {
                    now += 30.0;
                    states.step(active, now, for_of)
                },
                BatchSize::LargeInput,
            )
        });
        let saved = saved(&states, now);
        storage.save_alert_states(&saved).expect("states saved");
        group.bench_with_input(BenchmarkId::new("save_states", n), &saved, |b, saved| {
            b.iter(|| storage.save_alert_states(saved).expect("states saved"))
        });
    }
    group.finish();
}

fn store_writes(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_write");
    configure(&mut group);

    // One demo polling round: each target's pools in its own transaction, as
    // the recorder writes them; a new second every round.
    let dir = tempfile::tempdir().expect("a temp dir");
    let storage = open_store(&dir);
    let demo = common::demo_pools(0.0);
    let mut at = common::NOW as i64;
    group.bench_function("pools_demo_round", |b| {
        b.iter(|| {
            at += 60;
            for (provider, target, pools) in &demo {
                let added = storage
                    .write_pools(provider, target, at, pools)
                    .expect("pools written");
                assert_eq!(added, pools.len());
            }
        })
    });

    // One hourly step of a target's sub-accounts (names already known); a new
    // step every iteration, or the step's dedupe would write nothing.
    let step = ACCOUNT_STEP.as_secs() as i64;
    for n in SIZES {
        let dir = tempfile::tempdir().expect("a temp dir");
        let storage = open_store(&dir);
        let accounts = common::account_readings(n, 0);
        let mut at = common::NOW as i64 / step * step;
        let started = Instant::now();
        storage
            .write_accounts("bestproxy", "bench", at, &accounts)
            .expect("accounts written");
        println!(
            "{n} sub-accounts: first step (names added too) {:.1} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        if n >= 100_000 {
            group.sampling_mode(SamplingMode::Flat);
        }
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(
            BenchmarkId::new("accounts_step", n),
            &accounts,
            |b, accounts| {
                b.iter(|| {
                    at += step;
                    let added = storage
                        .write_accounts("bestproxy", "bench", at, accounts)
                        .expect("accounts written");
                    assert_eq!(added, accounts.len());
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, evaluation, agent_cycle, store_writes);
criterion_main!(benches);
