//! The alerting agent's way to direct receivers for 10,000 active alerts in one
//! evaluation: silences checked, inhibition (the default rule), the route tree,
//! grouping and the flush, exactly as `agent::pipeline::Pipeline::run` runs
//! them in the agent; with one receiver, and with two (what one more costs).
//! Run: `cargo bench --bench notify_pipeline`; docs/performance.md has figures.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use proxy_quota_exporter::agent::pipeline::Pipeline;
use proxy_quota_exporter::config::Config;
use proxy_quota_exporter::notify::group::{Groups, Ledger};
use proxy_quota_exporter::notify::matchers::Matcher;
use proxy_quota_exporter::notify::{AlertEvent, Status};
use proxy_quota_exporter::silences::{Posted, Silences};

const ALERTS: usize = 10_000;

/// 10,000 firing `ProxyAccountNearLimit` alerts over 10 targets: half warning,
/// half critical, so the default inhibition has twins to mute.
fn alerts() -> Vec<AlertEvent> {
    (0..ALERTS)
        .map(|i| {
            let severity = if i % 2 == 0 { "warning" } else { "critical" };
            let labels = BTreeMap::from([
                ("alertname".to_owned(), "ProxyAccountNearLimit".to_owned()),
                ("severity".to_owned(), severity.to_owned()),
                ("provider".to_owned(), "bestproxy".to_owned()),
                ("target".to_owned(), format!("target-{}", (i / 2) % 10)),
                ("account".to_owned(), format!("user-{}", i / 2)),
                ("product".to_owned(), "dynamic_residential".to_owned()),
            ]);
            AlertEvent {
                status: Status::Firing,
                labels,
                annotations: BTreeMap::from([("summary".to_owned(), "near its limit".to_owned())]),
                starts_at: SystemTime::UNIX_EPOCH,
                ends_at: None,
                generator_url: String::new(),
            }
        })
        .collect()
}

/// An `alerting` section with `receivers` webhooks and a route tree: critical
/// alerts of the first five targets to the first receiver, the rest to the
/// last; grouped by alertname and target.
fn section(receivers: usize) -> proxy_quota_exporter::alerting::Alerting {
    let mut yaml = String::from(
        "targets:\n  - {name: t, provider: proxylite, app_key: k}\nalerting:\n  receivers:\n",
    );
    for r in 0..receivers {
        yaml.push_str(&format!(
            "    - name: r{r}\n      webhook: {{url: \"http://127.0.0.1:9/{r}\"}}\n"
        ));
    }
    yaml.push_str(&format!(
        "  route:\n    receiver: r{}\n    group_by: [alertname, target]\n    group_wait: 0s\n    routes:\n      - matchers: ['severity=\"critical\"', 'target=~\"target-[0-4]\"']\n        receiver: r0\n",
        receivers - 1
    ));
    Config::parse(&yaml, Path::new("bench.yml"))
        .expect("the bench configuration is valid")
        .alerting
        .expect("it has an alerting section")
}

/// Ten silences, one of which matches a tenth of the alerts.
fn silences() -> std::sync::Arc<Silences> {
    let silences = Silences::in_memory();
    for i in 0..10 {
        let matcher = Matcher::parse(&format!("target=\"target-{i}\"")).unwrap();
        let account = Matcher::parse(if i == 0 {
            "account=~\".*\""
        } else {
            "account=\"nobody\""
        })
        .unwrap();
        silences
            .set(
                Posted {
                    id: None,
                    matchers: vec![matcher, account],
                    starts_at: None,
                    ends_at: 4_000_000_000.0,
                    created_by: "bench".into(),
                    comment: "bench".into(),
                    annotations: BTreeMap::new(),
                },
                1_000_000.0,
            )
            .unwrap();
    }
    silences
}

fn pipeline(c: &mut Criterion) {
    let alerts = alerts();
    let silences = silences();
    let mut group = c.benchmark_group("route_and_group");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(ALERTS as u64));
    for receivers in [1, 2] {
        let section = section(receivers);
        let ledger = Ledger::default();
        group.bench_with_input(
            BenchmarkId::new("receivers", receivers),
            &receivers,
            |b, _| {
                b.iter_batched(
                    Groups::default,
                    |mut groups| {
                        let pipeline = Pipeline {
                            section: &section,
                            silences: &silences,
                            direct: &|_| true,
                        };
                        pipeline.run(&mut groups, &ledger, &alerts, &[], 1_000_000.0)
                    },
                    BatchSize::LargeInput,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
