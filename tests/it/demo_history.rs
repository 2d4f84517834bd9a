//! `--demo`'s simulated week (issue 24) and its usage spike (issue 27): an
//! empty store is filled with seven days of the simulator's own model, marked
//! simulated, continuous with the live polls, with days left at once; a store
//! with history is left alone; and the leaked sub-account's burst fires
//! `ProxyUsageSpike` in the agent within minutes of the start.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use proxy_quota_exporter::agent::evaluate::{evaluate, Input};
use proxy_quota_exporter::agent::state::States;
use proxy_quota_exporter::alerts::{self, rules::RuleSet};
use proxy_quota_exporter::forecast;
use proxy_quota_exporter::http::Reason;
use proxy_quota_exporter::providers::Endpoint;
use proxy_quota_exporter::readings::Reading;
use proxy_quota_exporter::simulator::data::LEAKED_ACCOUNT;
use proxy_quota_exporter::simulator::history::{
    accounts_at, fill, pools_at, DemoTarget, DEMO_TARGETS, POOL_STEP, SIMULATED_PAST,
};
use proxy_quota_exporter::simulator::{Simulator, SimulatorConfig, DEMO_ALERTING_YAML};
use proxy_quota_exporter::snapshots::{EndpointSnapshot, TargetSnapshot};
use proxy_quota_exporter::store::{Store, StoreOptions, DEFAULT_RETENTION};
use proxy_quota_exporter::{Config, Options};

const MIB: f64 = 1024.0 * 1024.0;

fn options(dir: &std::path::Path) -> StoreOptions {
    StoreOptions {
        path: dir.to_owned(),
        retention: DEFAULT_RETENTION,
    }
}

/// The demo's pools that drain (the `long_term_idc` ones stay put).
fn draining(pool: &str) -> bool {
    pool != "long_term_idc"
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_store_gets_a_simulated_week_that_meets_the_live_polls() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let now = simulator.start_time().timestamp();
    let step = POOL_STEP.as_secs() as i64;
    {
        let storage = Store::open(&options(dir.path())).unwrap();
        let filled = fill(&storage, &simulator, now).unwrap().unwrap();
        assert_eq!(filled.from, now - SIMULATED_PAST.as_secs() as i64);
        assert_eq!(filled.until, now - step);
        for target in &DEMO_TARGETS {
            for pool in pools_at(&simulator, target, now) {
                let points = storage
                    .pool_history(target.provider, target.target, &pool.pool, 0)
                    .unwrap();
                let name = format!("{} {}", target.target, pool.pool);
                assert_eq!(points.len() as i64, (now - filled.from) / step, "{name}");
                assert_eq!(points[0].at, filled.from, "{name}");
                let until = storage.simulated_until(target.provider, target.target, &pool.pool);
                assert_eq!(until.unwrap(), Some(filled.until), "{name}");
                let mut renewals = 0;
                for w in points.windows(2) {
                    let (a, b) = (&w[0], &w[1]);
                    let (remaining, purchased, used) =
                        (b.remaining.unwrap(), b.purchased.unwrap(), b.used.unwrap());
                    assert!(
                        (remaining + used - purchased).abs() <= 10.0 * MIB,
                        "{name} at {}",
                        b.at
                    );
                    if b.used < a.used {
                        renewals += 1;
                    } else {
                        assert!(b.remaining <= a.remaining, "{name}: rises at {}", b.at);
                    }
                }
                assert!(renewals <= 3, "{name}: {renewals} renewals in a week");
                // Days left from the history alone, before any live poll.
                let trend = forecast::forecast(
                    &storage,
                    target.provider,
                    target.target,
                    &pool.pool,
                    now as f64,
                    None,
                );
                let days = trend.and_then(|t| t.days_left(pool.remaining_bytes.unwrap()));
                assert_eq!(days.is_some(), draining(&pool.pool), "{name}: {days:?}");
            }
        }
        let leaked = storage
            .account_history(
                "bestproxy",
                "demo-bestproxy",
                "dynamic_residential",
                LEAKED_ACCOUNT,
                0,
            )
            .unwrap();
        assert_eq!(leaked.len(), 7 * 24);
        // A store with history is never refilled.
        assert_eq!(fill(&storage, &simulator, now + 60).unwrap(), None);
    }

    // The exporter on that store: days left in the status at its first poll,
    // each pool's simulated span said, and the first live point where the
    // simulated line was heading.
    let yaml = format!(
        "{}{DEMO_ALERTING_YAML}",
        simulator.demo_config_yaml(Duration::from_secs(60))
    );
    let exporter = Exporter::start_with(
        &yaml,
        Options {
            storage: Some(options(dir.path())),
            ..Options::default()
        },
    )
    .await;
    exporter.wait_ready().await;
    let text = exporter.get("/api/v1/status").await.text().await.unwrap();
    let status: serde_json::Value = serde_json::from_str(&text).unwrap();
    exporter.stop().await;
    let storage = Store::open_read_only(dir.path()).unwrap().unwrap();
    for target in &DEMO_TARGETS {
        let shown = status["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == target.target)
            .unwrap_or_else(|| panic!("{} missing: {status}", target.target));
        for pool in shown["pools"].as_array().unwrap() {
            let name = pool["pool"].as_str().unwrap();
            let label = format!("{} {name}", target.target);
            assert_eq!(
                pool["simulated_until"].as_f64(),
                Some((now - step) as f64),
                "{label}"
            );
            assert_eq!(
                pool["days_left"].is_number(),
                draining(name),
                "{label}: {pool}"
            );
            let points = storage
                .pool_history(target.provider, target.target, name, now - step)
                .unwrap();
            let (last_simulated, live) = (&points[0], &points[1]);
            assert_eq!(last_simulated.at, now - step, "{label}");
            // The live point is the model's figure at its time, and lower than
            // the last simulated one by at most what the fastest pool burns
            // between them (7.5 GiB an hour at the day's peak), plus rounding.
            let model = pools_at(&simulator, target, live.at);
            let model = model.iter().find(|p| p.pool == name).unwrap();
            let remaining = live.remaining.unwrap();
            let slack = 11.0 * MIB + 7.5 * 1024.0 * MIB / 3600.0 * 5.0;
            assert!(
                (remaining - model.remaining_bytes.unwrap()).abs() <= slack,
                "{label}"
            );
            let fell = last_simulated.remaining.unwrap() - remaining;
            let burn = 7.5 * 1024.0 * MIB / 3600.0 * (live.at - last_simulated.at + 5) as f64;
            assert!(
                (-10.0 * MIB..=burn + 10.0 * MIB).contains(&fell),
                "{label}: fell {fell}"
            );
        }
    }
}

/// The demo's poll of `target` at `at` as the agent sees it: the simulator's
/// figures then, fresh.
fn snapshot(simulator: &Simulator, target: &DemoTarget, at: i64) -> Arc<TargetSnapshot> {
    let ok = |endpoint, reading| EndpointSnapshot {
        endpoint,
        success: true,
        duration_seconds: 0.1,
        last_success_unix: Some(at as f64),
        errors: [0; Reason::COUNT],
        requests: Default::default(),
        labels_truncated: 0,
        reading: Some(Arc::new(reading)),
        stale_at: None,
        last_error: None,
    };
    Arc::new(TargetSnapshot {
        target: target.target.into(),
        provider: target.provider,
        display_name: target.target.into(),
        endpoints: vec![
            ok(
                Endpoint::Summary,
                Reading::Summary(pools_at(simulator, target, at)),
            ),
            ok(
                Endpoint::Accounts,
                Reading::Accounts(accounts_at(simulator, target, at)),
            ),
        ],
        polled_at: at as f64,
        credential_in_clear: false,
    })
}

/// The demo shows `ProxyUsageSpike` (issue 27): the first 15 minutes after the
/// start, a poll every 15 s computed from the simulator's model and recorded
/// as the recorder does, run through the agent's evaluation and state machine
/// with the demo's rules, on the store filled with the simulated week. Walked
/// in simulated time, so nothing waits: the leaked sub-account fires within
/// minutes, and nothing else spikes.
#[tokio::test(flavor = "multi_thread")]
async fn the_leaked_sub_account_fires_the_usage_spike_within_minutes_of_the_demo() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let yaml = format!(
        "{}{DEMO_ALERTING_YAML}",
        simulator.demo_config_yaml(Duration::from_secs(5))
    );
    let config = Config::parse(&yaml, std::path::Path::new("demo.yml")).unwrap();
    let rules = config.alerting.unwrap().rules;
    let rules = RuleSet(
        rules
            .0
            .into_iter()
            .filter(|r| r.alert.id == alerts::AlertId::UsageSpike)
            .collect(),
    );
    let dir = tempfile::tempdir().unwrap();
    let storage = Store::open(&options(dir.path())).unwrap();
    let start = simulator.start_time().timestamp();
    fill(&storage, &simulator, start).unwrap().unwrap();
    let mut states = States::default();
    let mut fired = Vec::new();
    for k in 0..=60 {
        let at = start + 1 + 15 * k;
        let snapshots: Vec<_> = DEMO_TARGETS
            .iter()
            .map(|t| snapshot(&simulator, t, at))
            .collect();
        for (t, s) in DEMO_TARGETS.iter().zip(&snapshots) {
            for reading in s.readings(Instant::now()) {
                match reading {
                    Reading::Summary(pools) => storage.write_pools(t.provider, t.target, at, pools),
                    Reading::Accounts(accounts) => {
                        storage.write_accounts(t.provider, t.target, at, accounts)
                    }
                    _ => Ok(0),
                }
                .unwrap();
            }
        }
        let active = evaluate(&Input {
            snapshots: &snapshots,
            history: &storage,
            now: at as f64,
            instant: Instant::now(),
            runbook_base_url: alerts::DEFAULT_RUNBOOK_BASE_URL,
            rules: &rules,
        });
        let step = states.step(active, at as f64, |a| {
            rules
                .variant(a.alert.name, a.severity)
                .map_or(Duration::ZERO, |v| v.for_)
        });
        for event in step.firing {
            let who = event
                .labels
                .get("account")
                .or(event.labels.get("pool"))
                .cloned();
            fired.push((
                at - start,
                event.labels["target"].clone(),
                who.unwrap_or_default(),
            ));
        }
    }
    let first = fired
        .first()
        .unwrap_or_else(|| panic!("no spike within 15 minutes"));
    assert!(first.0 <= 10 * 60, "fired {} s after the start", first.0);
    assert!(
        fired
            .iter()
            .all(|(_, target, who)| target == "demo-bestproxy" && who == LEAKED_ACCOUNT),
        "only the leaked sub-account spikes: {fired:?}"
    );
}
