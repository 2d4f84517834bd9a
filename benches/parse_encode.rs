//! Poll cost: decoding an account list answer and encoding the exposition, at
//! 1k, 10k and 100k sub-accounts (about 4 series each).
//! Run: `cargo bench --bench parse_encode`.

mod common;

use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use proxy_quota_exporter::encoder::{self, ExporterStatus};
use proxy_quota_exporter::providers::gateway::parse_accounts;
use proxy_quota_exporter::readings::Reading;
use proxy_quota_exporter::shard::Shard;
use proxy_quota_exporter::snapshots::{AgentStatus, ReloadStatus};

const RELOAD: ReloadStatus = ReloadStatus {
    successful: true,
    success_timestamp: 1.7e9,
};

fn status(agent: &AgentStatus) -> ExporterStatus<'_> {
    ExporterStatus {
        reload: RELOAD,
        agent,
        storage: Default::default(),
        shard: Shard::ALL,
        silences: Default::default(),
    }
}

fn bench(c: &mut Criterion) {
    let agent = AgentStatus::default();
    let mut group = c.benchmark_group("accounts");
    group.sample_size(10);
    for n in [1_000, 10_000, 100_000] {
        let body = common::account_list(n);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("parse", n), &body, |b, body| {
            b.iter(|| parse_accounts("/gateway/whitelist-account/list", body, 1024).unwrap())
        });
        let snapshot = common::snapshot(Reading::Accounts(
            parse_accounts("/x", &body, 1024).unwrap(),
        ));
        group.bench_with_input(BenchmarkId::new("encode", n), &snapshot, |b, snapshot| {
            b.iter(|| {
                encoder::encode(
                    std::slice::from_ref(snapshot),
                    &status(&agent),
                    Instant::now(),
                )
            })
        });
        group.bench_with_input(
            BenchmarkId::new("parse+encode+gzip", n),
            &body,
            |b, body| {
                b.iter(|| {
                    let accounts = parse_accounts("/x", body, 1024).unwrap();
                    let plain = encoder::encode(
                        &[common::snapshot(Reading::Accounts(accounts))],
                        &status(&agent),
                        Instant::now(),
                    );
                    proxy_quota_exporter::exposition::gzip(&plain)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
