//! The demo's simulated past: [`fill`] writes seven days of history for the
//! demo's targets into an empty store, computed by the simulator's own
//! consumption model (the daily rhythm, the leaked sub-account's bursts, the
//! packages renewed before the start) from the very answers the simulated APIs
//! would have given then, so that the last simulated point meets the first live
//! reading. Every row is marked simulated in the store
//! (`Store::simulated_until`), so the front page and the status API can say so.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::custom::{self, Resource};
use super::data::{Clock, GatewayAccount, KB_PER_GB};
use super::Simulator;
use crate::providers::gateway::product_slug;
use crate::readings::{AccountReading, PoolReading};
use crate::store::{Store, StoreError, ACCOUNT_STEP};

/// How far back the simulated past reaches.
pub const SIMULATED_PAST: Duration = Duration::from_secs(7 * 86_400);

/// The spacing of the simulated pool points (a scrape interval, not the demo's
/// poll interval: seven days at 5 s would be 120,000 points a pool).
pub const POOL_STEP: Duration = Duration::from_secs(60);

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Which simulated account a demo target reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    BestProxy,
    ProxyLite,
    Ipweb,
    Custom,
}

/// One target of the demo's configuration ([`Simulator::demo_config_yaml`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoTarget {
    /// The provider's configuration name, as the store keys history by it.
    pub provider: &'static str,
    /// The target's name.
    pub target: &'static str,
    source: Source,
}

/// The demo's targets.
pub const DEMO_TARGETS: [DemoTarget; 4] = [
    DemoTarget {
        provider: "bestproxy",
        target: "demo-bestproxy",
        source: Source::BestProxy,
    },
    DemoTarget {
        provider: "proxylite",
        target: "demo-proxylite",
        source: Source::ProxyLite,
    },
    DemoTarget {
        provider: "ipweb",
        target: "demo-ipweb",
        source: Source::Ipweb,
    },
    DemoTarget {
        provider: "custom",
        target: "demo-custom",
        source: Source::Custom,
    },
];

/// The simulator's clock at `at` (Unix seconds), before its start or after.
fn clock_at(simulator: &Simulator, at: i64) -> Clock {
    Clock {
        start: simulator.start_time(),
        now: DateTime::<Utc>::from_timestamp(at, 0).unwrap_or_else(Utc::now),
    }
}

fn number(value: &Value, key: &str) -> Option<f64> {
    match &value[key] {
        Value::String(text) => text.parse().ok(),
        other => other.as_f64(),
    }
}

/// The pools a poll of `target` reads at `at` (Unix seconds): remaining,
/// purchased and used, in bytes, from the answer the simulated API gives then.
pub fn pools_at(simulator: &Simulator, target: &DemoTarget, at: i64) -> Vec<PoolReading> {
    let clock = clock_at(simulator, at);
    let dataset = simulator.dataset();
    let pool = |name: String, [remaining, purchased, used]: [Option<f64>; 3]| PoolReading {
        pool: name,
        remaining_bytes: remaining,
        purchased_bytes: purchased,
        used_bytes: used,
        ..PoolReading::default()
    };
    let figures =
        |v: &Value, keys: [&str; 3], unit: f64| keys.map(|k| number(v, k).map(|n| n * unit));
    match target.source {
        Source::BestProxy | Source::ProxyLite => {
            let account = gateway(simulator, target.source);
            account
                .pools
                .iter()
                .map(|p| {
                    let keys = ["effective", "effective_total", "effective_used"];
                    let name = product_slug(Some(i64::from(p.product_type)));
                    pool(name, figures(&p.summary(&clock), keys, KIB))
                })
                .collect()
        }
        Source::Ipweb => {
            let totals = dataset.ipweb.totals(&clock);
            let keys = ["residualFlow", "flowCount", "consumeFlow"];
            [("primary", "account"), ("secondary", "account2")]
                .into_iter()
                .map(|(name, key)| pool(name.to_owned(), figures(&totals[key], keys, MIB)))
                .collect()
        }
        Source::Custom => {
            let answer = custom::answer(&dataset.custom, Resource::Me, &HashMap::new(), &clock);
            let keys = ["available_traffic", "total_traffic", "used_traffic"];
            vec![pool(
                "residential".to_owned(),
                figures(&answer["data"], keys, GIB),
            )]
        }
    }
}

/// The sub-accounts a poll of `target` reads at `at` (Unix seconds), as their
/// APIs answer then (none for IPWeb, whose customers are not sub-accounts).
pub fn accounts_at(simulator: &Simulator, target: &DemoTarget, at: i64) -> Vec<AccountReading> {
    let clock = clock_at(simulator, at);
    let (account, custom) = match target.source {
        Source::Ipweb => return Vec::new(),
        Source::Custom => (&simulator.dataset().custom, true),
        source => (gateway(simulator, source), false),
    };
    account
        .sub_accounts
        .iter()
        .map(|a| {
            let item = GatewayAccount::account_item(a, &clock);
            let used_kb = number(&item, "usage_flow").unwrap_or(0.0);
            let (product, used_bytes) = if custom {
                // The custom API says GB with three decimals.
                let gb = (used_kb / KB_PER_GB * 1000.0).round() / 1000.0;
                ("residential".to_owned(), gb * GIB)
            } else {
                (product_slug(Some(i64::from(a.product_type))), used_kb * KIB)
            };
            AccountReading {
                account: a.username.clone(),
                product,
                remark: a.remark.clone(),
                used_bytes,
                limit_bytes: (a.limit_gb > 0).then(|| f64::from(a.limit_gb) * GIB),
                enabled: Some(a.enabled),
            }
        })
        .collect()
}

fn gateway(simulator: &Simulator, source: Source) -> &GatewayAccount {
    match source {
        Source::ProxyLite => &simulator.dataset().proxylite,
        _ => &simulator.dataset().bestproxy,
    }
}

/// What [`fill`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filled {
    /// Unix seconds of the oldest simulated point.
    pub from: i64,
    /// Unix seconds of the newest simulated point (one [`POOL_STEP`] before
    /// `now`).
    pub until: i64,
    /// Rows written.
    pub rows: usize,
}

/// Fills an empty `storage` with [`SIMULATED_PAST`] of the demo's targets'
/// history before `now` (Unix seconds): pools every [`POOL_STEP`] up to one
/// step before `now`, sub-accounts every [`ACCOUNT_STEP`] up to one step
/// before, all marked simulated. `Ok(None)` without writing when the store
/// already holds history (a `--storage.path` used before is never refilled).
pub fn fill(
    storage: &Store,
    simulator: &Simulator,
    now: i64,
) -> Result<Option<Filled>, StoreError> {
    if storage.has_history()? {
        return Ok(None);
    }
    let past = SIMULATED_PAST.as_secs() as i64;
    let pool_step = POOL_STEP.as_secs() as i64;
    let account_step = ACCOUNT_STEP.as_secs() as i64;
    let mut rows = 0;
    for target in &DEMO_TARGETS {
        let pools: Vec<_> = (1..=past / pool_step)
            .rev()
            .map(|k| {
                let at = now - k * pool_step;
                (at, pools_at(simulator, target, at))
            })
            .collect();
        let accounts: Vec<_> = (1..=past / account_step)
            .rev()
            .map(|k| {
                let at = now - k * account_step;
                (at, accounts_at(simulator, target, at))
            })
            .collect();
        rows += storage.write_simulated(target.provider, target.target, &pools, &accounts)?;
    }
    Ok(Some(Filled {
        from: now - past,
        until: now - pool_step,
        rows,
    }))
}
