//! The agent's evaluator and the shipped rule file agree: one synthetic history
//! of seven hours is run through the agent (snapshots minute by minute, its
//! state machine with the catalogue's `for`) and written out as a
//! `promtool test rules` file whose expected alerts are the ones the agent
//! fired. promtool then evaluates the real rule file on the same series: the
//! same alerts, with the same labels and annotations, fire at the same times.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use proxy_quota_exporter::agent::evaluate::{evaluate, Active, Input};
use proxy_quota_exporter::agent::state::States;
use proxy_quota_exporter::alerts;
use proxy_quota_exporter::alerts::rules::RuleSet;
use proxy_quota_exporter::forecast::{History, Point as PoolPoint};
use proxy_quota_exporter::http::{PollError, Reason};
use proxy_quota_exporter::notify::AlertEvent;
use proxy_quota_exporter::providers::Endpoint;
use proxy_quota_exporter::readings::{
    AccountReading, PackageReading, PoolReading, Reading, StaticIp, StaticIpReading,
};
use proxy_quota_exporter::snapshots::{EndpointSnapshot, TargetSnapshot};

const GIB: i64 = 1024 * 1024 * 1024;
const DAY: i64 = 86_400;
const MINUTES: i64 = 420;
const PROVIDER: &str = "proxylite";
const TARGET: &str = "lite";

/// The scenario at minute `m`: every figure an integer, so that the series
/// promtool reads are the very numbers the agent reads.
struct At(i64);

impl At {
    fn remaining(&self) -> i64 {
        12 * GIB + 321_654_987 - 460_123 * 60 * self.0
    }
    fn purchased(&self) -> i64 {
        100 * GIB
    }
    fn expiring(&self) -> i64 {
        if self.0 < 200 {
            5 * GIB + 12_345
        } else {
            0
        }
    }
    fn account_used(&self) -> i64 {
        85 * GIB + 51_234_567 * self.0
    }
    fn invalid_ips(&self) -> i64 {
        if self.0 < 100 {
            0
        } else {
            2
        }
    }
    fn up(&self) -> bool {
        self.0 < 300
    }
    fn auth_errors(&self) -> i64 {
        (self.0 - 299).max(0)
    }
}

const ACCOUNT_LIMIT: i64 = 100 * GIB;
/// (package id, expiry in Unix seconds): within 3 days, and not.
const PACKAGES: [(&str, i64); 2] = [("p1", 2 * DAY + 777), ("p2", 5 * DAY)];
/// (ip, expiry): within 2 days, within 7 days, later.
const IPS: [(&str, i64); 3] = [
    ("203.0.113.1", DAY + 999),
    ("203.0.113.2", 5 * DAY),
    ("203.0.113.3", 30 * DAY),
];

fn snapshot(m: i64) -> Arc<TargetSnapshot> {
    let at = At(m);
    let pool = PoolReading {
        pool: "dynamic_residential".into(),
        remaining_bytes: Some(at.remaining() as f64),
        purchased_bytes: Some(at.purchased() as f64),
        expiring_bytes: Some(at.expiring() as f64),
        ..PoolReading::default()
    };
    let packages = PACKAGES
        .iter()
        .map(|(id, expiry)| PackageReading {
            package_id: (*id).into(),
            product: "dynamic_residential".into(),
            expiry_timestamp: Some(*expiry),
        })
        .collect();
    let accounts = vec![AccountReading {
        account: "user001".into(),
        product: "dynamic_residential".into(),
        remark: String::new(),
        used_bytes: at.account_used() as f64,
        limit_bytes: Some(ACCOUNT_LIMIT as f64),
        enabled: Some(true),
    }];
    let ips = StaticIpReading {
        ips: IPS
            .iter()
            .map(|(ip, expiry)| StaticIp {
                ip: (*ip).into(),
                product: "static_residential".into(),
                country: "US".into(),
                expiry_timestamp: *expiry,
            })
            .collect(),
        status_counts: vec![(
            "static_residential".into(),
            [5, at.invalid_ips() as u64, 0, 0],
        )],
    };
    let ok = |endpoint, reading| EndpointSnapshot {
        endpoint,
        success: true,
        duration_seconds: 0.1,
        last_success_unix: Some((m * 60) as f64),
        errors: [0; Reason::COUNT],
        requests: Default::default(),
        labels_truncated: 0,
        reading: Some(Arc::new(reading)),
        stale_at: None,
        last_error: None,
    };
    let mut usage = EndpointSnapshot {
        reading: None,
        ..ok(Endpoint::Usage, Reading::Packages(Vec::new()))
    };
    if !at.up() {
        usage.success = false;
        usage.last_error = Some(PollError::new(Reason::Auth, "code 3"));
    }
    Arc::new(TargetSnapshot {
        target: TARGET.into(),
        provider: PROVIDER,
        display_name: "Display".into(),
        endpoints: vec![
            usage,
            ok(Endpoint::Summary, Reading::Summary(vec![pool])),
            ok(Endpoint::Packages, Reading::Packages(packages)),
            ok(Endpoint::Accounts, Reading::Accounts(accounts)),
            ok(Endpoint::StaticIps, Reading::StaticIps(ips)),
        ],
        polled_at: (m * 60) as f64,
        credential_in_clear: false,
    })
}

/// The stored history as Prometheus 2's range selector reads it: every sample
/// in `[now - 6h, now]`.
struct Scenario {
    now_minute: i64,
}

impl History for Scenario {
    fn pool_points(&self, _: &str, _: &str, _: &str, since: f64) -> Vec<PoolPoint> {
        (0..=self.now_minute)
            .filter(|m| (m * 60) as f64 >= since)
            .map(|m| PoolPoint {
                at: (m * 60) as f64,
                remaining: At(m).remaining() as f64,
                purchased: At(m).purchased() as f64,
            })
            .collect()
    }
}

/// How a series reads its value from the scenario.
type Figure = Box<dyn Fn(&At) -> i64>;

/// The series promtool reads, one sample a minute.
fn input_series() -> String {
    let pool = format!("provider=\"{PROVIDER}\",target=\"{TARGET}\",pool=\"dynamic_residential\"");
    let target = format!("provider=\"{PROVIDER}\",target=\"{TARGET}\"");
    let mut series: Vec<(String, Figure)> = vec![
        (format!("proxy_traffic_remaining_bytes{{{pool}}}"), Box::new(|a| a.remaining())),
        (format!("proxy_traffic_purchased_bytes{{{pool}}}"), Box::new(|a| a.purchased())),
        (format!("proxy_traffic_expiring_bytes{{{pool}}}"), Box::new(|a| a.expiring())),
        (
            format!("proxy_account_used_bytes{{{target},account=\"user001\",product=\"dynamic_residential\"}}"),
            Box::new(|a| a.account_used()),
        ),
        (
            format!("proxy_account_limit_bytes{{{target},account=\"user001\",product=\"dynamic_residential\"}}"),
            Box::new(|_| ACCOUNT_LIMIT),
        ),
        (
            format!("proxy_static_ips{{{target},product=\"static_residential\",status=\"invalid\"}}"),
            Box::new(|a| a.invalid_ips()),
        ),
        (
            format!("proxy_static_ips{{{target},product=\"static_residential\",status=\"active\"}}"),
            Box::new(|_| 5),
        ),
        (format!("proxy_up{{{target}}}"), Box::new(|a| i64::from(a.up()))),
        (
            format!("proxy_exporter_poll_errors_total{{{target},endpoint=\"usage\",reason=\"auth\"}}"),
            Box::new(|a| a.auth_errors()),
        ),
    ];
    for (id, expiry) in PACKAGES {
        series.push((
            format!("proxy_package_expiry_timestamp_seconds{{{target},package_id=\"{id}\",product=\"dynamic_residential\"}}"),
            Box::new(move |_| expiry),
        ));
    }
    for (ip, expiry) in IPS {
        series.push((
            format!("proxy_static_ip_expiry_timestamp_seconds{{{target},ip=\"{ip}\",product=\"static_residential\",country=\"US\"}}"),
            Box::new(move |_| expiry),
        ));
    }
    let mut out = String::new();
    for (name, value) in series {
        let values: Vec<String> = (0..=MINUTES).map(|m| value(&At(m)).to_string()).collect();
        let _ = writeln!(
            out,
            "      - series: '{name}'\n        values: '{}'",
            values.join(" ")
        );
    }
    out
}

fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// One `alert_rule_test` entry: what the agent has firing for `alertname`.
fn expected(minute: i64, alertname: &str, firing: &[AlertEvent]) -> String {
    let mut out = format!("      - eval_time: {minute}m\n        alertname: {alertname}\n");
    let mine: Vec<_> = firing.iter().filter(|e| e.name() == alertname).collect();
    if mine.is_empty() {
        out.push_str("        exp_alerts: []\n");
        return out;
    }
    out.push_str("        exp_alerts:\n");
    for event in mine {
        let labels: BTreeMap<_, _> = event
            .labels
            .iter()
            .filter(|(k, _)| *k != "alertname")
            .collect();
        let labels: Vec<_> = labels
            .iter()
            .map(|(k, v)| format!("{k}: {}", yaml_string(v)))
            .collect();
        let _ = writeln!(out, "          - exp_labels: {{{}}}", labels.join(", "));
        out.push_str("            exp_annotations:\n");
        for (k, v) in &event.annotations {
            let _ = writeln!(out, "              {k}: {}", yaml_string(v));
        }
    }
    out
}

fn for_of(active: &Active) -> std::time::Duration {
    active
        .alert
        .variants
        .iter()
        .find(|v| v.severity == active.severity)
        .map_or(std::time::Duration::ZERO, |v| v.for_)
}

#[test]
fn the_agent_fires_what_the_rule_file_fires() {
    // The alerts the agent evaluates: the rules for Prometheus only watch the
    // exporter itself.
    let names: Vec<_> = alerts::CATALOGUE
        .iter()
        .filter(|a| a.scope == alerts::Scope::Everywhere)
        .map(|a| a.name)
        .collect();
    let mut states = States::default();
    let mut cases = String::new();
    let mut fired = BTreeMap::<(String, String), usize>::new();
    for minute in 0..=MINUTES {
        let snapshots = [snapshot(minute)];
        let active = evaluate(&Input {
            snapshots: &snapshots,
            history: &Scenario { now_minute: minute },
            now: (minute * 60) as f64,
            instant: Instant::now(),
            runbook_base_url: alerts::DEFAULT_RUNBOOK_BASE_URL,
            rules: &RuleSet::default(),
        });
        let step = states.step(active, (minute * 60) as f64, for_of);
        for event in &step.firing {
            let key = (event.name().to_owned(), event.labels["severity"].clone());
            *fired.entry(key).or_default() += 1;
        }
        if minute % 10 == 0 {
            for name in &names {
                cases.push_str(&expected(minute, name, &step.firing));
            }
        }
    }
    // The scenario makes every alert fire, at every severity it has, but
    // ProxyUsageSpike, which needs a day of history: its own test follows.
    for alert in alerts::CATALOGUE
        .iter()
        .filter(|a| names.contains(&a.name) && a.id != alerts::AlertId::UsageSpike)
    {
        for variant in alert.variants {
            let key = (alert.name.to_owned(), variant.severity.as_str().to_owned());
            assert!(fired.contains_key(&key), "{key:?} never fired: {fired:?}");
        }
    }

    promtool_agrees(&input_series(), "1m", &cases);
}

/// Runs promtool on the shipped rule file with `series` and the expected
/// `cases`, evaluating every `interval`; fails with promtool's words.
fn promtool_agrees(series: &str, interval: &str, cases: &str) {
    let rules =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/proxy-quota.rules.yml");
    let test = format!(
        "rule_files:\n  - {}\nevaluation_interval: {interval}\n# Recording rules first, as the agent computes the ratios at once (without\n# an order promtool may evaluate the alerts on the previous minute's ratios).\ngroup_eval_order: [proxy-quota.recording, proxy-quota.alerts]\ntests:\n  - interval: {interval}\n    input_series:\n{}    alert_rule_test:\n{cases}",
        rules.display(),
        series
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.test.yml");
    std::fs::write(&file, &test).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .expect("promtool is installed (the README's test command installs it)");
    assert!(
        out.status.success(),
        "promtool disagrees with the agent:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// ProxyUsageSpike's scenario, a step every 5 minutes for 32 h: 50 MB a step
/// for 30 h, then 1 GiB a step for a pool and a sub-account (they spike); a
/// pool topped up by 50 GiB and a sub-account whose used figure resets to 0
/// (monthly) at 30 h stay quiet.
const SPIKE_STEPS: i64 = 384;
const STEP: i64 = 300;

fn spike_figures(k: i64) -> [(&'static str, i64); 6] {
    let steady = 50_000_000 * k.min(360);
    let spike = GIB * (k - 360).max(0);
    let topped = if k > 360 { 50 * GIB } else { 0 };
    [
        ("spiking_purchased", 100 * GIB),
        ("spiking_remaining", 100 * GIB - steady - spike),
        ("topped_purchased", 100 * GIB + topped),
        ("topped_remaining", 100 * GIB - 50_000_000 * k + topped),
        ("leaked_used", steady + spike),
        (
            "monthly_used",
            if k <= 360 {
                50_000_000 * k
            } else {
                50_000_000 * (k - 361)
            },
        ),
    ]
}

fn spike_figure(k: i64, name: &str) -> i64 {
    spike_figures(k).iter().find(|(n, _)| *n == name).unwrap().1
}

struct SpikeHistory {
    now_step: i64,
}

impl History for SpikeHistory {
    fn pool_points(&self, _: &str, _: &str, pool: &str, since: f64) -> Vec<PoolPoint> {
        (0..=self.now_step)
            .filter(|k| (k * STEP) as f64 >= since)
            .map(|k| PoolPoint {
                at: (k * STEP) as f64,
                remaining: spike_figure(k, &format!("{pool}_remaining")) as f64,
                purchased: spike_figure(k, &format!("{pool}_purchased")) as f64,
            })
            .collect()
    }

    fn account_used(
        &self,
        _: &str,
        _: &str,
        _: &str,
        account: &str,
        since: f64,
    ) -> Vec<(f64, f64)> {
        (0..=self.now_step)
            .filter(|k| (k * STEP) as f64 >= since)
            .map(|k| {
                (
                    (k * STEP) as f64,
                    spike_figure(k, &format!("{account}_used")) as f64,
                )
            })
            .collect()
    }
}

fn spike_snapshot(k: i64) -> Arc<TargetSnapshot> {
    let pools = ["spiking", "topped"]
        .iter()
        .map(|pool| PoolReading {
            pool: (*pool).into(),
            remaining_bytes: Some(spike_figure(k, &format!("{pool}_remaining")) as f64),
            purchased_bytes: Some(spike_figure(k, &format!("{pool}_purchased")) as f64),
            ..PoolReading::default()
        })
        .collect();
    let accounts = ["leaked", "monthly"]
        .iter()
        .map(|account| AccountReading {
            account: (*account).into(),
            product: "dynamic_residential".into(),
            remark: String::new(),
            used_bytes: spike_figure(k, &format!("{account}_used")) as f64,
            limit_bytes: None,
            enabled: Some(true),
        })
        .collect();
    let ok = |endpoint, reading| EndpointSnapshot {
        endpoint,
        success: true,
        duration_seconds: 0.1,
        last_success_unix: Some((k * STEP) as f64),
        errors: [0; Reason::COUNT],
        requests: Default::default(),
        labels_truncated: 0,
        reading: Some(Arc::new(reading)),
        stale_at: None,
        last_error: None,
    };
    Arc::new(TargetSnapshot {
        target: TARGET.into(),
        provider: PROVIDER,
        display_name: "Display".into(),
        endpoints: vec![
            ok(Endpoint::Summary, Reading::Summary(pools)),
            ok(Endpoint::Accounts, Reading::Accounts(accounts)),
        ],
        polled_at: (k * STEP) as f64,
        credential_in_clear: false,
    })
}

/// The 32 h scenario (`spike_snapshot`, `SpikeHistory`) through the agent with
/// the rule `id` alone: the alerts firing at each step, in order.
fn replay_scenario(id: alerts::AlertId) -> Vec<Vec<AlertEvent>> {
    let only = RuleSet(
        RuleSet::default()
            .0
            .into_iter()
            .filter(|r| r.alert.id == id)
            .collect(),
    );
    let mut states = States::default();
    (0..SPIKE_STEPS)
        .map(|k| {
            let snapshots = [spike_snapshot(k)];
            let active = evaluate(&Input {
                snapshots: &snapshots,
                history: &SpikeHistory { now_step: k },
                now: (k * STEP) as f64,
                instant: Instant::now(),
                runbook_base_url: alerts::DEFAULT_RUNBOOK_BASE_URL,
                rules: &only,
            });
            states.step(active, (k * STEP) as f64, for_of).firing
        })
        .collect()
}

/// The agent and Prometheus agree on ProxyUsageSpike: the same spikes fire
/// at the same times with the same annotations, and the top-up and the reset
/// stay quiet in both.
#[test]
fn the_agent_fires_the_usage_spike_the_rule_file_fires() {
    let mut cases = String::new();
    let mut fired = std::collections::BTreeSet::new();
    for (k, firing) in (0..).zip(replay_scenario(alerts::AlertId::UsageSpike)) {
        for event in &firing {
            let subject = event.labels.get("pool").or(event.labels.get("account"));
            fired.insert(subject.cloned().unwrap_or_default());
        }
        if k >= 348 && k % 2 == 0 {
            cases.push_str(&expected(k * 5, "ProxyUsageSpike", &firing));
        }
    }
    assert_eq!(
        fired.into_iter().collect::<Vec<_>>(),
        ["leaked", "spiking"],
        "the spikes fire; the top-up and the reset do not"
    );
    let target = format!("provider=\"{PROVIDER}\",target=\"{TARGET}\"");
    let mut series = String::new();
    for (name, _) in spike_figures(0) {
        let (subject, figure) = name.split_once('_').unwrap();
        let metric = match figure {
            "used" => format!(
                "proxy_account_used_bytes{{{target},account=\"{subject}\",product=\"dynamic_residential\"}}"
            ),
            _ => format!("proxy_traffic_{figure}_bytes{{{target},pool=\"{subject}\"}}"),
        };
        let values: Vec<String> = (0..SPIKE_STEPS)
            .map(|k| spike_figure(k, name).to_string())
            .collect();
        let _ = writeln!(
            series,
            "      - series: '{metric}'\n        values: '{}'",
            values.join(" ")
        );
    }
    promtool_agrees(&series, "5m", &cases);
}

/// The agent and Prometheus agree on ProxyTrafficExhaustionForecast across
/// the first day and after it (ProxyUsageSpike's 32 h scenario): the 6 h trend
/// while a pool has less than a day of history, the last day's average use
/// after; the pool whose use jumps at 30 h fires, the one topped up then does
/// not.
#[test]
fn the_agent_forecasts_what_the_rule_file_forecasts_before_and_after_a_day() {
    let mut cases = String::new();
    let mut fired = std::collections::BTreeSet::new();
    for (k, firing) in (0..).zip(replay_scenario(alerts::AlertId::TrafficExhaustionForecast)) {
        for event in &firing {
            fired.insert(event.labels.get("pool").cloned().unwrap_or_default());
        }
        if k >= 240 && k % 2 == 0 {
            cases.push_str(&expected(k * 5, "ProxyTrafficExhaustionForecast", &firing));
        }
    }
    assert_eq!(fired.into_iter().collect::<Vec<_>>(), ["spiking"]);
    let target = format!("provider=\"{PROVIDER}\",target=\"{TARGET}\"");
    let mut series = String::new();
    for pool in ["spiking", "topped"] {
        for figure in ["remaining", "purchased"] {
            let values: Vec<String> = (0..SPIKE_STEPS)
                .map(|k| spike_figure(k, &format!("{pool}_{figure}")).to_string())
                .collect();
            let _ = writeln!(
                series,
                "      - series: 'proxy_traffic_{figure}_bytes{{{target},pool=\"{pool}\"}}'\n        values: '{}'",
                values.join(" ")
            );
        }
    }
    promtool_agrees(&series, "5m", &cases);
}
