//! Shared inputs for the benchmarks: an account list answer of any size and the
//! snapshot it becomes.

use std::sync::Arc;

use proxy_quota_exporter::providers::Endpoint;
use proxy_quota_exporter::readings::Reading;
use proxy_quota_exporter::snapshots::{EndpointSnapshot, TargetSnapshot};

/// A `whitelist-account/list` answer with `n` sub-accounts, as the API documents it.
pub fn account_list(n: usize) -> Vec<u8> {
    let mut body = String::with_capacity(n * 200 + 64);
    body.push_str(r#"{"code":200,"msg":"success","data":{"list":["#);
    for i in 0..n {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"id":{i},"username":"user{i:06}","password":"secret-{i}","created_at":"2024-01-01 00:00:00","remark":"team {}","product_type":9,"usage_flow":{},"limit_flow":{},"status":{}}}"#,
            i % 50,
            (i * 7919) % 100_000_000,
            if i % 10 == 0 { 0 } else { 100 },
            u8::from(i % 13 != 0)
        ));
    }
    body.push_str("]}}");
    body.into_bytes()
}

/// A target snapshot holding `reading` as its account list.
pub fn snapshot(reading: Reading) -> Arc<TargetSnapshot> {
    Arc::new(TargetSnapshot {
        target: "bench".into(),
        provider: "bestproxy",
        display_name: "Display".into(),
        endpoints: vec![EndpointSnapshot {
            endpoint: Endpoint::Accounts,
            success: true,
            duration_seconds: 0.5,
            last_success_unix: Some(1.7e9),
            errors: [0; proxy_quota_exporter::http::Reason::COUNT],
            requests: Default::default(),
            labels_truncated: 0,
            reading: Some(Arc::new(reading)),
            stale_at: None,
            last_error: None,
        }],
        polled_at: 1.7e9,
        credential_in_clear: false,
    })
}

use proxy_quota_exporter::readings::{AccountReading, PoolReading};

/// The moment (unix seconds) the agent and store benchmarks evaluate at.
#[allow(dead_code)] // not every bench uses every helper
pub const NOW: f64 = 1.7e9;

/// `n` sub-accounts as a gateway reading holds them: limits in whole GiB, usage
/// in whole KiB (as the APIs report them). One in ten is unlimited, one in a
/// hundred above 90 % of its limit (`ProxyAccountNearLimit` warning), one in
/// five hundred over it (warning and critical), the rest below 80 %. `hour`
/// adds an hour of traffic per unit, as the store sees usage grow.
#[allow(dead_code)] // not every bench uses every helper
pub fn account_readings(n: usize, hour: u32) -> Vec<AccountReading> {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    (0..n)
        .map(|i| {
            let limit = (10 * (1 + i % 20)) as f64 * GIB;
            let share = if i % 500 == 7 {
                1.02
            } else if i % 100 == 3 {
                0.95
            } else {
                (i * 7919 % 800) as f64 / 1000.0
            };
            let used_kib =
                (limit * share / 1024.0).floor() + f64::from(hour) * (i % 64 * 512) as f64;
            AccountReading {
                account: format!("user{i:06}"),
                product: if i % 7 == 6 {
                    "dynamic_residential_ip"
                } else {
                    "dynamic_residential"
                }
                .to_owned(),
                remark: format!("team {}", i % 50),
                used_bytes: used_kib * 1024.0,
                limit_bytes: (i % 10 != 0).then_some(limit),
                enabled: Some(i % 13 != 0),
            }
        })
        .collect()
}

/// The pools of the agent's bench target, `ago` seconds before [`NOW`]: one
/// healthy and draining for days, one idle, one below 10 % of its purchase
/// (`ProxyTrafficLow` warning) running dry within 3 days, one below 2 %
/// (critical) running dry within hours (`ProxyTrafficExhaustionForecast`
/// warning and critical, given their history); the first has traffic expiring.
#[allow(dead_code)] // not every bench uses every helper
pub fn pool_readings(ago: f64) -> Vec<PoolReading> {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    // (pool, purchased GiB, remaining GiB at NOW, GiB consumed per hour)
    let pools = [
        ("dynamic_residential", 500.0, 300.0, 2.5),
        ("long_term_idc", 100.0, 80.0, 0.0),
        ("static_residential", 200.0, 15.0, 0.4),
        ("dynamic_residential_ip", 100.0, 1.5, 0.5),
    ];
    pools
        .iter()
        .enumerate()
        .map(|(i, &(pool, purchased, remaining, per_hour))| {
            let remaining = ((remaining + per_hour * ago / 3600.0) * GIB / 1024.0).round() * 1024.0;
            PoolReading {
                pool: pool.to_owned(),
                remaining_bytes: Some(remaining),
                purchased_bytes: Some(purchased * GIB),
                used_bytes: Some(purchased * GIB - remaining),
                expiring_bytes: Some(if i == 0 { 12.0 * GIB } else { 0.0 }),
                ..PoolReading::default()
            }
        })
        .collect()
}

/// A target snapshot (target `bench`, BestProxy) of successful polls of
/// `readings`, polled at [`NOW`].
#[allow(dead_code)] // not every bench uses every helper
pub fn snapshot_of(readings: Vec<(Endpoint, Reading)>) -> Arc<TargetSnapshot> {
    Arc::new(TargetSnapshot {
        target: "bench".into(),
        provider: "bestproxy",
        display_name: "Display".into(),
        endpoints: readings
            .into_iter()
            .map(|(endpoint, reading)| EndpointSnapshot {
                endpoint,
                success: true,
                duration_seconds: 0.5,
                last_success_unix: Some(NOW),
                errors: [0; proxy_quota_exporter::http::Reason::COUNT],
                requests: Default::default(),
                labels_truncated: 0,
                reading: Some(Arc::new(reading)),
                stale_at: None,
                last_error: None,
            })
            .collect(),
        polled_at: NOW,
        credential_in_clear: false,
    })
}

/// The `--demo` targets' pools, `ago` seconds before [`NOW`]: (provider,
/// target, pools). Two per gateway target (in KiB, as their APIs report), two
/// for IPWeb (in MiB with two decimals); the first pools drain.
#[allow(dead_code)] // not every bench uses every helper
pub fn demo_pools(ago: f64) -> Vec<(&'static str, &'static str, Vec<PoolReading>)> {
    const MIB: f64 = 1024.0 * 1024.0;
    let gateway = || pool_readings(ago)[..2].to_vec();
    let ipweb = [
        ("primary", 5120.0, 1_249_280.37, 1.5),
        ("secondary", 200.0, 184_319.95, 0.05),
    ]
    .into_iter()
    .map(|(pool, count_gib, left_mib, mib_per_second)| {
        let left = ((left_mib + mib_per_second * ago) * 100.0).round() / 100.0;
        PoolReading {
            pool: pool.to_owned(),
            remaining_bytes: Some(left * MIB),
            purchased_bytes: Some(count_gib * 1024.0 * MIB),
            used_bytes: Some((count_gib * 1024.0 - left) * MIB),
            ..PoolReading::default()
        }
    })
    .collect();
    vec![
        ("bestproxy", "demo-bestproxy", gateway()),
        ("proxylite", "demo-proxylite", gateway()),
        ("ipweb", "demo-ipweb", ipweb),
    ]
}
