//! `/probe` at 1,000 targets (about 90 series each): a probe over loopback HTTP
//! (plain and gzip) and in memory, against what it would cost to encode the
//! target per request; and what a poll of one target costs the exposition (the
//! page rebuilt with 999 targets copied and one encoded) against encoding all.
//! Run: `cargo bench --bench probe` (`-- --quick` for a short run).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use proxy_quota_exporter::budget::Outcome;
use proxy_quota_exporter::encoder::{self, ExporterStatus, Source};
use proxy_quota_exporter::exposition::{ExpositionCache, Probe};
use proxy_quota_exporter::http::Reason;
use proxy_quota_exporter::providers::Endpoint;
use proxy_quota_exporter::readings::{AccountReading, DailyUsage, PoolReading, Reading};
use proxy_quota_exporter::server::{serve, App};
use proxy_quota_exporter::shard::Shard;
use proxy_quota_exporter::snapshots::{
    AgentStatus, EndpointSnapshot, ReloadStatus, Snapshots, TargetSnapshot,
};

const TARGETS: usize = 1_000;
const PROBED: &str = "target-0500";

fn name(i: usize) -> String {
    format!("target-{i:04}")
}

/// A gateway-like target: two pools, daily usage, five sub-accounts.
fn snapshot(i: usize) -> TargetSnapshot {
    let endpoint = |endpoint, reading| EndpointSnapshot {
        endpoint,
        success: true,
        duration_seconds: 0.4,
        last_success_unix: Some(1.7e9),
        errors: [0; Reason::COUNT],
        requests: [60; Outcome::COUNT],
        labels_truncated: 0,
        reading: Some(Arc::new(reading)),
        stale_at: None,
        last_error: None,
    };
    let pool = |pool: &str| PoolReading {
        pool: pool.into(),
        remaining_bytes: Some(1.5e9 + i as f64),
        purchased_bytes: Some(1e10),
        used_bytes: Some(8.5e9),
        expiring_bytes: Some(0.0),
        expired_bytes: Some(1e6),
        lifetime_purchased_bytes: Some(2e10),
        lifetime_used_bytes: Some(1.85e10),
        packages_total: Some(4.0),
        packages_active: Some(2.0),
        packages_expiring: Some(1.0),
        packages_expired: Some(1.0),
    };
    let accounts = (0..5)
        .map(|a| AccountReading {
            account: format!("user{a:03}"),
            product: "dynamic_residential".into(),
            remark: format!("team {a}"),
            used_bytes: 1e8 * a as f64,
            limit_bytes: Some(1e10),
            enabled: Some(true),
        })
        .collect();
    TargetSnapshot {
        target: name(i),
        provider: "proxylite",
        display_name: "Display".into(),
        endpoints: vec![
            endpoint(
                Endpoint::Summary,
                Reading::Summary(vec![pool("dynamic_residential"), pool("long_term_idc")]),
            ),
            endpoint(
                Endpoint::Usage,
                Reading::Usage(DailyUsage {
                    today_bytes: 1e8,
                    yesterday_bytes: 3e8,
                }),
            ),
            endpoint(Endpoint::Accounts, Reading::Accounts(accounts)),
        ],
        polled_at: 1.7e9,
        credential_in_clear: false,
    }
}

fn store() -> Arc<Snapshots> {
    let store = Snapshots::new((0..TARGETS).map(name));
    for i in 0..TARGETS {
        store.publish(snapshot(i));
    }
    store
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = store();
    let exposition = ExpositionCache::new(&store, Shard::ALL);
    let page = exposition.current();
    let series = page.plain.iter().filter(|b| **b == b'\n').count();
    let Probe::Found(chunks) = page.probe(PROBED, false) else {
        panic!("{PROBED} is in the exposition");
    };
    let probe_bytes: usize = chunks.iter().map(|c| c.len()).sum();
    eprintln!(
        "{TARGETS} targets: /metrics {} bytes ({series} lines, {} gzipped); /probe {probe_bytes} bytes",
        page.plain.len(),
        page.gzip.len()
    );

    // The server, as run_with wires it, on loopback.
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Arc::new(App::new(
        Arc::clone(&store),
        Arc::clone(&exposition),
        None,
        None,
        None,
        None,
    ));
    runtime.spawn(serve(listener, app, std::future::pending()));
    let client = reqwest::Client::new();
    let get = |path: String, gzip: bool| {
        let mut request = client.get(format!("http://{addr}{path}"));
        if gzip {
            request = request.header("Accept-Encoding", "gzip");
        }
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.bytes().await.unwrap()
        }
    };

    let mut group = c.benchmark_group("probe");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    let probe = format!("/probe?target={PROBED}");
    group.bench_function(BenchmarkId::new("http", TARGETS), |b| {
        b.iter(|| runtime.block_on(get(probe.clone(), false)))
    });
    group.bench_function(BenchmarkId::new("http-gzip", TARGETS), |b| {
        b.iter(|| runtime.block_on(get(probe.clone(), true)))
    });
    group.bench_function(BenchmarkId::new("lookup", TARGETS), |b| {
        b.iter(|| page.probe(PROBED, false))
    });
    // What a probe would cost if it encoded its target per request.
    let one = Arc::new(snapshot(500));
    let agent = AgentStatus::default();
    let status = ExporterStatus {
        reload: ReloadStatus {
            successful: true,
            success_timestamp: 1.7e9,
        },
        agent: &agent,
        storage: Default::default(),
        shard: Shard::ALL,
        silences: Default::default(),
    };
    group.bench_function(BenchmarkId::new("encode-one-target", TARGETS), |b| {
        b.iter(|| encoder::encode(std::slice::from_ref(&one), &status, Instant::now()))
    });
    group.finish();

    // What a poll of one target costs the exposition at 1,000 targets.
    let snapshots: Vec<TargetSnapshot> = (0..TARGETS).map(snapshot).collect();
    let all: Vec<Source> = snapshots.iter().map(Source::Snapshot).collect();
    let full = encoder::assemble(&all, &status, Instant::now());
    let mut group = c.benchmark_group("exposition");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function(BenchmarkId::new("encode-all", TARGETS), |b| {
        b.iter(|| encoder::assemble(&all, &status, Instant::now()))
    });
    let one_changed: Vec<Source> = snapshots
        .iter()
        .zip(&full.segments)
        .enumerate()
        .map(|(i, (snapshot, segments))| match i {
            500 => Source::Snapshot(snapshot),
            _ => Source::Page {
                bytes: &full.bytes,
                segments,
            },
        })
        .collect();
    group.bench_function(BenchmarkId::new("one-target-changed", TARGETS), |b| {
        b.iter(|| encoder::assemble(&one_changed, &status, Instant::now()))
    });
    group.bench_function(BenchmarkId::new("gzip-page", TARGETS), |b| {
        b.iter(|| proxy_quota_exporter::exposition::gzip(&full.bytes))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
