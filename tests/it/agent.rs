//! The alerting agent's evaluation and state machine: conditions read from
//! snapshots as the rule file's PromQL reads the series, annotations rendered as
//! Prometheus renders them, `for` timers, resolution, and a restart that resumes
//! a `for` window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proxy_quota_exporter::agent::evaluate::{evaluate, Active, Input};
use proxy_quota_exporter::agent::state::States;
use proxy_quota_exporter::alerts::rules::RuleSet;
use proxy_quota_exporter::forecast::{History, NoHistory, Point as PoolPoint};
use proxy_quota_exporter::http::{PollError, Reason};
use proxy_quota_exporter::providers::Endpoint;
use proxy_quota_exporter::readings::{AccountReading, PoolReading, Reading};
use proxy_quota_exporter::snapshots::{EndpointSnapshot, TargetSnapshot};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const NOW: f64 = 1_800_000_000.0;

fn endpoint(
    endpoint: Endpoint,
    reading: Option<Reading>,
    error: Option<PollError>,
) -> EndpointSnapshot {
    EndpointSnapshot {
        endpoint,
        success: error.is_none(),
        duration_seconds: 0.1,
        last_success_unix: Some(NOW),
        errors: [0; Reason::COUNT],
        requests: Default::default(),
        labels_truncated: 0,
        reading: reading.map(Arc::new),
        stale_at: None,
        last_error: error,
    }
}

fn target(endpoints: Vec<EndpointSnapshot>) -> Arc<TargetSnapshot> {
    Arc::new(TargetSnapshot {
        target: "lite".into(),
        provider: "proxylite",
        display_name: "Display".into(),
        endpoints,
        polled_at: NOW,
        credential_in_clear: false,
    })
}

fn pool(remaining_gib: f64, purchased_gib: f64) -> Reading {
    Reading::Summary(vec![PoolReading {
        pool: "dynamic_residential".into(),
        remaining_bytes: Some(remaining_gib * GIB),
        purchased_bytes: Some(purchased_gib * GIB),
        ..PoolReading::default()
    }])
}

fn run(snapshots: &[Arc<TargetSnapshot>], history: &dyn History, now: f64) -> Vec<Active> {
    evaluate(&Input {
        snapshots,
        history,
        now,
        instant: Instant::now(),
        runbook_base_url: "docs/runbook.md",
        rules: &RuleSet::default(),
    })
}

fn named<'a>(active: &'a [Active], name: &str) -> Vec<&'a Active> {
    active.iter().filter(|a| a.alert.name == name).collect()
}

#[test]
fn a_low_pool_fires_each_severity_whose_threshold_it_meets() {
    let five_percent = [target(vec![endpoint(
        Endpoint::Summary,
        Some(pool(5.0, 100.0)),
        None,
    )])];
    let active = run(&five_percent, &NoHistory, NOW);
    let low = named(&active, "ProxyTrafficLow");
    assert_eq!(low.len(), 1, "{low:?}");
    assert_eq!(low[0].labels["severity"], "warning");
    assert_eq!(low[0].labels["pool"], "dynamic_residential");
    assert_eq!(
        low[0].annotations["description"],
        "Only 5GiB of traffic left in pool dynamic_residential of proxylite target lite, less than 10 % of what was purchased. Top up before it runs out."
    );
    assert_eq!(
        low[0].annotations["runbook_url"],
        "docs/runbook.md#proxytrafficlow"
    );

    let one_percent = [target(vec![endpoint(
        Endpoint::Summary,
        Some(pool(1.0, 100.0)),
        None,
    )])];
    let active = run(&one_percent, &NoHistory, NOW);
    let severities: Vec<_> = named(&active, "ProxyTrafficLow")
        .iter()
        .map(|a| a.labels["severity"].clone())
        .collect();
    assert_eq!(severities, ["warning", "critical"]);

    let plenty = [target(vec![endpoint(
        Endpoint::Summary,
        Some(pool(50.0, 100.0)),
        None,
    )])];
    assert!(named(&run(&plenty, &NoHistory, NOW), "ProxyTrafficLow").is_empty());
}

/// A pool consumed at `rate` for `hours` up to [`NOW`], with 8 GiB left then
/// (before any top-up); a point every 10 minutes.
struct Falling {
    /// Bytes consumed per second.
    rate: f64,
    hours: i64,
    /// What a top-up 40 minutes before now added to purchased (`remaining_too`:
    /// and to remaining, as a top-up does; else a purchase that changed alone).
    top_up: f64,
    remaining_too: bool,
}

impl History for Falling {
    fn pool_points(&self, _: &str, _: &str, _: &str, since: f64) -> Vec<PoolPoint> {
        (0..=self.hours * 6)
            .map(|i| NOW - (self.hours * 3600 - i * 600) as f64)
            .filter(|at| *at >= since)
            .map(|at| {
                let topped = if NOW - at < 2400.0 { self.top_up } else { 0.0 };
                PoolPoint {
                    at,
                    remaining: 8.0 * GIB
                        + self.rate * (NOW - at)
                        + if self.remaining_too { topped } else { 0.0 },
                    purchased: 100.0 * GIB + topped,
                }
            })
            .collect()
    }
}

#[test]
fn the_forecast_reads_the_six_hour_trend_and_skips_a_changed_purchase() {
    // 6 h of history, 2 GiB an hour, 8 GiB left now: 4 h to go.
    let rate = 2.0 * GIB / 3600.0;
    let falling = |top_up| Falling {
        rate,
        hours: 6,
        top_up,
        remaining_too: false,
    };
    let snapshot = [target(vec![endpoint(
        Endpoint::Summary,
        Some(pool(8.0, 100.0)),
        None,
    )])];
    let active = run(&snapshot, &falling(0.0), NOW);
    let forecast = named(&active, "ProxyTrafficExhaustionForecast");
    let severities: Vec<_> = forecast
        .iter()
        .map(|a| a.labels["severity"].as_str())
        .collect();
    assert_eq!(severities, ["warning", "critical"]);
    assert!(
        (forecast[0].value - 4.0 * 3600.0).abs() < 1.0,
        "{}",
        forecast[0].value
    );
    assert!(forecast[0].annotations["description"].contains("runs out of traffic in 4h 0m 0s"));

    let topped_up = run(&snapshot, &falling(100.0 * GIB), NOW);
    assert!(named(&topped_up, "ProxyTrafficExhaustionForecast").is_empty());
    assert!(named(
        &run(&snapshot, &NoHistory, NOW),
        "ProxyTrafficExhaustionForecast"
    )
    .is_empty());
}

#[test]
fn after_a_day_the_forecast_reads_the_days_average_which_a_top_up_leaves_alone() {
    // 30 h at 2 GiB an hour; a top-up of 100 GiB 40 minutes ago: 108 GiB left,
    // 54 h at the day's rate (the 6 h trend would wait out the top-up).
    let rate = 2.0 * GIB / 3600.0;
    let history = Falling {
        rate,
        hours: 30,
        top_up: 100.0 * GIB,
        remaining_too: true,
    };
    let snapshot = [target(vec![endpoint(
        Endpoint::Summary,
        Some(pool(108.0, 200.0)),
        None,
    )])];
    let active = run(&snapshot, &history, NOW);
    let forecast = named(&active, "ProxyTrafficExhaustionForecast");
    let severities: Vec<_> = forecast
        .iter()
        .map(|a| a.labels["severity"].as_str())
        .collect();
    assert_eq!(severities, ["warning"], "under 3 days, over one");
    let hours = forecast[0].value / 3600.0;
    assert!((hours - 54.0).abs() < 0.5, "{hours} h");
}

#[test]
fn a_target_down_says_when_the_credential_is_rejected() {
    let rejected = PollError::new(Reason::Auth, "code 3");
    let down = [target(vec![endpoint(
        Endpoint::Summary,
        None,
        Some(rejected),
    )])];
    let active = run(&down, &NoHistory, NOW);
    let alert = named(&active, "ProxyTargetDown");
    assert_eq!(alert.len(), 1);
    assert!(alert[0].annotations["description"].ends_with(
        "The provider rejects the credential (reason auth): check its credential (app_key, token or credential)."
    ));
    let timeout = PollError::new(Reason::Timeout, "slow");
    let slow = [target(vec![endpoint(
        Endpoint::Summary,
        None,
        Some(timeout),
    )])];
    let alert = run(&slow, &NoHistory, NOW);
    assert!(!named(&alert, "ProxyTargetDown")[0].annotations["description"].contains("credential"));
}

fn account(used_gib: f64, limit_gib: Option<f64>) -> Reading {
    Reading::Accounts(vec![AccountReading {
        account: "user001".into(),
        product: "dynamic_residential".into(),
        remark: String::new(),
        used_bytes: used_gib * GIB,
        limit_bytes: limit_gib.map(|l| l * GIB),
        enabled: Some(true),
    }])
}

#[test]
fn for_timers_hold_fire_resolve_and_survive_a_restart() {
    let near = [target(vec![endpoint(
        Endpoint::Accounts,
        Some(account(95.0, Some(100.0))),
        None,
    )])];
    let ten_minutes = |_: &Active| Duration::from_secs(600);
    let mut states = States::default();
    let step = states.step(run(&near, &NoHistory, NOW), NOW, ten_minutes);
    assert_eq!((step.pending, step.fired.len()), (1, 0));

    // A restart in the middle of the `for` window resumes it.
    let mut states = States::resume(states.all().cloned().collect::<Vec<_>>());
    let step = states.step(
        run(&near, &NoHistory, NOW + 300.0),
        NOW + 300.0,
        ten_minutes,
    );
    assert_eq!((step.pending, step.fired.len()), (1, 0));
    let step = states.step(
        run(&near, &NoHistory, NOW + 600.0),
        NOW + 600.0,
        ten_minutes,
    );
    assert_eq!(step.fired.len(), 1);
    assert_eq!(step.fired[0].labels["alertname"], "ProxyAccountNearLimit");
    assert!(step.fired[0].annotations["description"].contains("has used 95% of its traffic limit"));

    // Still firing after a restart: not fired again.
    let mut states = States::resume(states.all().cloned().collect::<Vec<_>>());
    let step = states.step(
        run(&near, &NoHistory, NOW + 660.0),
        NOW + 660.0,
        ten_minutes,
    );
    assert_eq!((step.fired.len(), step.firing.len()), (0, 1));

    // Unlimited now: resolved once, with its end.
    let unlimited = [target(vec![endpoint(
        Endpoint::Accounts,
        Some(account(95.0, None)),
        None,
    )])];
    let step = states.step(
        run(&unlimited, &NoHistory, NOW + 720.0),
        NOW + 720.0,
        ten_minutes,
    );
    assert_eq!(step.resolved.len(), 1);
    assert!(step.resolved[0].ends_at.is_some());
    let step = states.step(
        run(&unlimited, &NoHistory, NOW + 780.0),
        NOW + 780.0,
        ten_minutes,
    );
    assert!(step.resolved.is_empty());
}

#[test]
fn for_zero_fires_at_the_first_evaluation() {
    let near = [target(vec![endpoint(
        Endpoint::Accounts,
        Some(account(120.0, Some(100.0))),
        None,
    )])];
    let mut states = States::default();
    let step = states.step(run(&near, &NoHistory, NOW), NOW, |_| Duration::ZERO);
    let fired: Vec<_> = step
        .fired
        .iter()
        .map(|e| e.labels["severity"].as_str())
        .collect();
    assert_eq!(fired, ["warning", "critical"]);
}
