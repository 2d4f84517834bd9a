//! One evaluation of the alert catalogue against the current snapshots: which
//! alerts' conditions hold now, with the labels, value and annotations the rule
//! file's alert of the same name and severity would have. Each condition is the
//! in-process reading of that rule's PromQL; `for` is the state machine's job.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::agent::template;
use crate::alerts::rules::RuleSet;
use crate::alerts::{self, Alert, AlertId, Severity, Threshold, Variant};
use crate::forecast::{self, History};
use crate::http::Reason;
use crate::readings::{Reading, STATIC_IP_STATUSES};
use crate::snapshots::TargetSnapshot;
use crate::spike;

/// An alert whose condition holds now.
#[derive(Debug, Clone, PartialEq)]
pub struct Active {
    pub alert: &'static Alert,
    pub severity: Severity,
    /// `alertname`, `severity`, `provider`, `target` and the alert's own labels.
    pub labels: BTreeMap<String, String>,
    /// The expression's value (the figure the description names).
    pub value: f64,
    /// `summary`, `description`, `runbook_url`.
    pub annotations: BTreeMap<String, String>,
}

/// What one evaluation reads.
pub struct Input<'a> {
    pub snapshots: &'a [Arc<TargetSnapshot>],
    pub history: &'a dyn History,
    /// Unix seconds.
    pub now: f64,
    /// The same moment, for readings' `stale_at`.
    pub instant: Instant,
    pub runbook_base_url: &'a str,
    /// The rules to evaluate: the catalogue with the configuration's overrides.
    pub rules: &'a RuleSet,
}

/// Every alert whose condition holds now, in catalogue order.
pub fn evaluate(input: &Input) -> Vec<Active> {
    let mut active = Vec::new();
    for rule in &input.rules.0 {
        let alert = rule.alert;
        for variant in &rule.variants {
            for t in input.snapshots {
                let mut found = Vec::new();
                conditions(alert, variant, t, input, &mut found);
                for (own_labels, value, with_block) in found {
                    active.push(activate(
                        alert, variant, t, own_labels, value, with_block, input,
                    ));
                }
            }
        }
    }
    active
}

/// An alert's own labels, its value, and whether its `{{ with }}` block applies.
type Found = (Vec<(&'static str, String)>, f64, bool);

fn conditions(
    alert: &Alert,
    variant: &Variant,
    t: &TargetSnapshot,
    input: &Input,
    found: &mut Vec<Found>,
) {
    let met = |value: f64| variant.threshold.is_none_or(|th| th.met(value));
    match alert.id {
        AlertId::TrafficLow => {
            for p in pools(t, input.instant) {
                if let (Some(share), Some(left)) = (p.remaining_share(), p.remaining_bytes) {
                    if met(share) {
                        found.push((vec![("pool", p.pool.clone())], left, false));
                    }
                }
            }
        }
        AlertId::TrafficExhaustionForecast => forecast(variant, t, input, found),
        AlertId::TrafficExpiringSoon => {
            for p in pools(t, input.instant) {
                if let Some(expiring) = p.expiring_bytes.filter(|e| *e > 0.0) {
                    found.push((vec![("pool", p.pool.clone())], expiring, false));
                }
            }
        }
        AlertId::PackageExpiringSoon => package_expiring(variant, t, input, found),
        AlertId::AccountNearLimit => accounts_near_limit(variant, t, input, found),
        AlertId::StaticIpExpiringSoon => static_ips_expiring(variant, t, input, found),
        AlertId::StaticIpUnhealthy => static_ips_unhealthy(t, input, found),
        AlertId::TargetDown if !t.up() => {
            let auth = t.endpoints.iter().any(|e| {
                e.last_error
                    .as_ref()
                    .is_some_and(|e| e.reason == Reason::Auth)
            });
            found.push((Vec::new(), 0.0, auth));
        }
        AlertId::TargetDown => {}
        AlertId::UsageSpike => usage_spike(variant, t, input, found),
        // ProxyExporterDown watches the exporter from outside: the Watchdog
        // alert stands in for it.
        AlertId::ExporterDown => {}
        // Rules for Prometheus only (`Scope::PrometheusOnly`): they watch the
        // agent's own reloads, deliveries and store, which it cannot report
        // through itself. The default rule set never holds them.
        AlertId::ExporterReloadFailed
        | AlertId::ExporterNotificationsFailing
        | AlertId::ExporterStoreDown => {}
    }
}

/// Packages that expire within the threshold; the value is the time left.
fn package_expiring(variant: &Variant, t: &TargetSnapshot, input: &Input, found: &mut Vec<Found>) {
    let met = |value: f64| variant.threshold.is_none_or(|th| th.met(value));
    for reading in t.readings(input.instant) {
        if let Reading::Packages(packages) = reading {
            for p in packages {
                let Some(at) = p.expiry_timestamp else {
                    continue;
                };
                let left = at as f64 - input.now;
                if left > 0.0 && met(left) {
                    let labels = vec![
                        ("package_id", p.package_id.clone()),
                        ("product", p.product.clone()),
                    ];
                    found.push((labels, left, false));
                }
            }
        }
    }
}

/// Sub-accounts at or over the threshold's share of their limit.
fn accounts_near_limit(
    variant: &Variant,
    t: &TargetSnapshot,
    input: &Input,
    found: &mut Vec<Found>,
) {
    let met = |value: f64| variant.threshold.is_none_or(|th| th.met(value));
    for reading in t.readings(input.instant) {
        if let Reading::Accounts(accounts) = reading {
            for a in accounts {
                let Some(ratio) = a.used_share() else {
                    continue;
                };
                if met(ratio) {
                    let labels = vec![
                        ("account", a.account.clone()),
                        ("product", a.product.clone()),
                    ];
                    found.push((labels, ratio, false));
                }
            }
        }
    }
}

/// Static IPs that expire within the threshold; the value is the time left.
fn static_ips_expiring(
    variant: &Variant,
    t: &TargetSnapshot,
    input: &Input,
    found: &mut Vec<Found>,
) {
    let met = |value: f64| variant.threshold.is_none_or(|th| th.met(value));
    for reading in t.readings(input.instant) {
        if let Reading::StaticIps(ips) = reading {
            for ip in &ips.ips {
                let left = ip.expiry_timestamp as f64 - input.now;
                if left > 0.0 && met(left) {
                    let labels = vec![
                        ("ip", ip.ip.clone()),
                        ("product", ip.product.clone()),
                        ("country", ip.country.clone()),
                    ];
                    found.push((labels, left, false));
                }
            }
        }
    }
}

/// Static IPs in an unhealthy status, counted per product and status.
fn static_ips_unhealthy(t: &TargetSnapshot, input: &Input, found: &mut Vec<Found>) {
    for reading in t.readings(input.instant) {
        if let Reading::StaticIps(ips) = reading {
            for (product, counts) in &ips.status_counts {
                for (status, count) in STATIC_IP_STATUSES.iter().zip(counts) {
                    if alerts::UNHEALTHY_STATIC_IP_STATUSES.contains(status) && *count > 0 {
                        let labels = vec![
                            ("product", product.clone()),
                            ("status", (*status).to_owned()),
                        ];
                        found.push((labels, *count as f64, false));
                    }
                }
            }
        }
    }
}

/// The rule's forecast ([`forecast::forecast`]): at the last day's average use
/// (or the last 6 h trend while the pool is younger than a day) the pool is
/// consumed and runs dry within the threshold. The value is the time left at
/// that rate, in seconds.
fn forecast(variant: &Variant, t: &TargetSnapshot, input: &Input, found: &mut Vec<Found>) {
    let Some(Threshold::Within(horizon)) = variant.threshold else {
        return;
    };
    for p in pools(t, input.instant) {
        let Some(remaining) = p.remaining_bytes else {
            continue;
        };
        let history = input.history;
        let forecast = forecast::forecast(history, t.provider, &t.target, &p.pool, input.now, None);
        let Some(forecast) = forecast else {
            continue;
        };
        if let Some(left) = forecast.seconds_left(remaining) {
            if forecast.runs_dry_within(remaining, horizon) {
                found.push((vec![("pool", p.pool.clone())], left, false));
            }
        }
    }
}

/// The rule's usage spikes ([`spike::read`]): each pool's consumed figure
/// (purchased minus remaining) and each sub-account's used traffic, from the
/// store's history and the snapshot's reading. A sub-account is read only once
/// it has used `min_bytes` in all (its history is read one account at a time).
fn usage_spike(variant: &Variant, t: &TargetSnapshot, input: &Input, found: &mut Vec<Found>) {
    let Some(Threshold::Spike(rule)) = variant.threshold else {
        return;
    };
    let history = input.history;
    for p in pools(t, input.instant) {
        let latest = p
            .purchased_bytes
            .zip(p.remaining_bytes)
            .map(|(bought, left)| (t.polled_at, bought - left));
        let key = (t.provider, t.target.as_str(), p.pool.as_str());
        if let Some(r) = spike::pool(history, key, latest, input.now, &rule).filter(|r| r.spiking) {
            found.push((vec![("pool", p.pool.clone())], r.consumed, false));
        }
    }
    for reading in t.readings(input.instant) {
        let Reading::Accounts(accounts) = reading else {
            continue;
        };
        for a in accounts {
            let key = (
                t.provider,
                t.target.as_str(),
                a.product.as_str(),
                a.account.as_str(),
            );
            let latest = (t.polled_at, a.used_bytes);
            if let Some(r) =
                spike::account(history, key, latest, input.now, &rule).filter(|r| r.spiking)
            {
                let labels = vec![
                    ("account", a.account.clone()),
                    ("product", a.product.clone()),
                ];
                found.push((labels, r.consumed, false));
            }
        }
    }
}

fn activate(
    alert: &'static Alert,
    variant: &Variant,
    t: &TargetSnapshot,
    own_labels: Vec<(&'static str, String)>,
    value: f64,
    with_block: bool,
    input: &Input,
) -> Active {
    let mut labels = BTreeMap::from([
        ("alertname".to_owned(), alert.name.to_owned()),
        ("severity".to_owned(), variant.severity.as_str().to_owned()),
        ("provider".to_owned(), t.provider.to_owned()),
        ("target".to_owned(), t.target.clone()),
    ]);
    labels.extend(own_labels.into_iter().map(|(k, v)| (k.to_owned(), v)));
    let annotations = BTreeMap::from([
        (
            "summary".to_owned(),
            template::render(&variant.summary(), &labels, value, with_block),
        ),
        (
            "description".to_owned(),
            template::render(&variant.description(), &labels, value, with_block),
        ),
        (
            "runbook_url".to_owned(),
            alert.runbook_url(input.runbook_base_url),
        ),
    ]);
    Active {
        alert,
        severity: variant.severity,
        labels,
        value,
        annotations,
    }
}

fn pools(t: &TargetSnapshot, now: Instant) -> impl Iterator<Item = &crate::readings::PoolReading> {
    t.readings(now).flat_map(|r| match r {
        Reading::Summary(pools) => pools.as_slice(),
        _ => &[],
    })
}
