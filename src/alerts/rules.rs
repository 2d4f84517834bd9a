//! The rules the agent evaluates: the alert catalogue with the configuration's
//! overrides (`alerting.rules`: `warning`, `critical`, `for`, `enabled`) applied.
//! Without overrides they are the shipped rule file's rules.

use std::time::Duration;

use crate::alerts::{self, Alert, AlertId, Scope, Severity, Threshold, Variant};

/// One alert as the agent evaluates it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub alert: &'static Alert,
    /// One per severity, thresholds and `for` possibly overridden.
    pub variants: Vec<Variant>,
}

/// Every enabled rule, in catalogue order.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet(pub Vec<Rule>);

impl Default for RuleSet {
    /// The catalogue as shipped, without the rules for Prometheus only
    /// ([`Scope::PrometheusOnly`]: `ProxyExporterDown` and the others that watch
    /// the exporter itself, which cannot report its own failure through itself).
    fn default() -> Self {
        RuleSet(
            alerts::CATALOGUE
                .iter()
                .filter(|a| a.scope == Scope::Everywhere)
                .map(|alert| Rule {
                    alert,
                    variants: alert.variants.to_vec(),
                })
                .collect(),
        )
    }
}

/// A configured threshold: a ratio, or a duration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Figure {
    Ratio(f64),
    Duration(Duration),
}

/// A refused override: the alert it names, and why (the message names it too).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleError {
    pub alert: String,
    pub message: String,
}

/// One alert's overrides from the configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Override {
    pub warning: Option<Figure>,
    pub critical: Option<Figure>,
    pub for_: Option<Duration>,
    pub enabled: Option<bool>,
    /// `ProxyUsageSpike`'s own figures (refused for other alerts).
    pub spike: SpikeOverride,
}

/// `ProxyUsageSpike`'s figures as configured: `factor`, `window`, `baseline`,
/// `min_history`, `min_bytes`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SpikeOverride {
    pub factor: Option<f64>,
    pub window: Option<Duration>,
    pub baseline: Option<Duration>,
    pub min_history: Option<Duration>,
    /// Bytes.
    pub min_bytes: Option<f64>,
}

impl SpikeOverride {
    fn is_empty(&self) -> bool {
        *self == SpikeOverride::default()
    }
}

impl RuleSet {
    /// The catalogue with `overrides` applied; an error names the alert and the
    /// key (`ProxyTrafficLow: critical: ...`), and says which override it is about.
    pub fn with(overrides: &[(String, Override)]) -> Result<RuleSet, RuleError> {
        let mut set = RuleSet::default();
        for (name, o) in overrides {
            set.apply(name, o).map_err(|message| RuleError {
                alert: name.clone(),
                message,
            })?;
        }
        Ok(set)
    }

    /// Applies one alert's overrides.
    fn apply(&mut self, name: &str, o: &Override) -> Result<(), String> {
        if let Some(alert) = alerts::alert(name).filter(|a| a.scope == Scope::PrometheusOnly) {
            let stand_in = match alert.id {
                AlertId::ExporterDown => "the Watchdog alert stands in for it",
                _ => "Prometheus evaluates it from the rule file",
            };
            return Err(format!(
                "{name}: watches the exporter from outside and is not evaluated in-process ({stand_in})"
            ));
        }
        let Some(index) = self.0.iter().position(|r| r.alert.name == name) else {
            let known: Vec<_> = self.0.iter().map(|r| r.alert.name).collect();
            return Err(format!(
                "unknown alert {name:?} (known: {})",
                known.join(", ")
            ));
        };
        if o.enabled == Some(false) {
            self.0.remove(index);
            return Ok(());
        }
        let rule = &mut self.0[index];
        for (key, severity, figure) in [
            ("warning", Severity::Warning, o.warning),
            ("critical", Severity::Critical, o.critical),
        ] {
            if let Some(figure) = figure {
                override_threshold(rule, severity, figure)
                    .map_err(|m| format!("{name}: {key}: {m}"))?;
            }
        }
        if let Some(for_) = o.for_ {
            rule.variants.iter_mut().for_each(|v| v.for_ = for_);
        }
        if !o.spike.is_empty() {
            override_spike(rule, &o.spike).map_err(|m| format!("{name}: {m}"))?;
        }
        Ok(())
    }

    /// The most severe evaluated variant of `alert` whose threshold `met`
    /// accepts (a variant without a threshold is always met, the caller having
    /// checked the alert's own condition). `None` for a disabled alert.
    pub fn level(&self, alert: &str, met: impl Fn(Threshold) -> bool) -> Option<Severity> {
        let rule = self.0.iter().find(|r| r.alert.name == alert)?;
        alerts::most_severe(&rule.variants, met)
    }

    /// The rule of `alert` at `severity`, if it is evaluated.
    pub fn variant(&self, alert: &str, severity: Severity) -> Option<&Variant> {
        self.0
            .iter()
            .find(|r| r.alert.name == alert)?
            .variants
            .iter()
            .find(|v| v.severity == severity)
    }
}

fn override_spike(rule: &mut Rule, o: &SpikeOverride) -> Result<(), String> {
    for variant in &mut rule.variants {
        let Some(Threshold::Spike(spike)) = &mut variant.threshold else {
            return Err(
                "factor, window, baseline, min_history and min_bytes are ProxyUsageSpike's keys"
                    .into(),
            );
        };
        if let Some(factor) = o.factor {
            if !(factor > 0.0 && factor.is_finite()) {
                return Err(format!(
                    "factor: must be a number greater than 0, not {factor}"
                ));
            }
            spike.factor = factor;
        }
        for (key, value, slot) in [
            ("window", o.window, &mut spike.window),
            ("baseline", o.baseline, &mut spike.baseline),
        ] {
            if let Some(d) = value {
                if d.is_zero() || d.subsec_nanos() != 0 {
                    return Err(format!(
                        "{key}: must be a whole number of seconds greater than 0"
                    ));
                }
                *slot = d;
            }
        }
        if let Some(d) = o.min_history {
            if d.subsec_nanos() != 0 {
                return Err("min_history: must be a whole number of seconds".into());
            }
            spike.min_history = d;
        }
        if let Some(bytes) = o.min_bytes {
            spike.min_bytes = bytes;
        }
    }
    Ok(())
}

fn override_threshold(rule: &mut Rule, severity: Severity, figure: Figure) -> Result<(), String> {
    let Some(variant) = rule.variants.iter_mut().find(|v| v.severity == severity) else {
        return Err(format!(
            "{} has no {} severity",
            rule.alert.name,
            severity.as_str()
        ));
    };
    variant.threshold = match (variant.threshold, figure) {
        (None, _) => return Err("this alert has no threshold to set".into()),
        (Some(Threshold::Ratio(cmp, _)), Figure::Ratio(r)) if r > 0.0 && r.is_finite() => {
            Some(Threshold::Ratio(cmp, r))
        }
        (Some(Threshold::Ratio(..)), Figure::Ratio(r)) => {
            return Err(format!("must be a ratio greater than 0, not {r}"))
        }
        (Some(Threshold::Ratio(..)), Figure::Duration(_)) => {
            return Err("must be a ratio such as 0.1, not a duration".into())
        }
        (Some(Threshold::Within(_)), Figure::Duration(d)) if !d.is_zero() => {
            Some(Threshold::Within(d))
        }
        (Some(Threshold::Within(_)), _) => {
            return Err("must be a duration greater than 0 such as 7d, not a number".into())
        }
        (Some(Threshold::Spike(_)), _) => {
            return Err(
                "this alert's figures are factor, window, baseline, min_history and min_bytes"
                    .into(),
            )
        }
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_change_thresholds_and_for_and_disable() {
        let set = RuleSet::with(&[
            (
                "ProxyTrafficLow".into(),
                Override {
                    warning: Some(Figure::Ratio(0.2)),
                    for_: Some(Duration::ZERO),
                    ..Override::default()
                },
            ),
            (
                "ProxyAccountNearLimit".into(),
                Override {
                    enabled: Some(false),
                    ..Override::default()
                },
            ),
        ])
        .unwrap();
        let warning = set.variant("ProxyTrafficLow", Severity::Warning).unwrap();
        assert!(warning.threshold.unwrap().met(0.15));
        assert_eq!(warning.for_, Duration::ZERO);
        assert!(warning.summary().contains("below 20 % of its traffic"));
        assert!(set
            .variant("ProxyAccountNearLimit", Severity::Warning)
            .is_none());
        assert!(set
            .variant("ProxyExporterDown", Severity::Critical)
            .is_none());
    }

    #[test]
    fn wrong_overrides_are_refused_with_alert_and_key() {
        let refuse =
            |name: &str, o: Override| RuleSet::with(&[(name.into(), o)]).unwrap_err().message;
        let days = |n: u64| Some(Figure::Duration(Duration::from_secs(n * 86_400)));
        assert!(refuse(
            "ProxyTrafficLow",
            Override {
                warning: days(1),
                ..Override::default()
            }
        )
        .starts_with("ProxyTrafficLow: warning: must be a ratio"));
        assert!(refuse(
            "ProxyPackageExpiringSoon",
            Override {
                critical: days(1),
                ..Override::default()
            }
        )
        .contains("has no critical severity"));
        assert!(refuse(
            "ProxyStaticIPExpiringSoon",
            Override {
                warning: Some(Figure::Ratio(0.5)),
                ..Override::default()
            }
        )
        .contains("must be a duration"));
        assert!(refuse(
            "ProxyTargetDown",
            Override {
                critical: Some(Figure::Ratio(0.5)),
                ..Override::default()
            }
        )
        .contains("no threshold"));
        assert!(refuse("ProxyTrafficLw", Override::default()).starts_with("unknown alert"));
        assert!(refuse("ProxyExporterDown", Override::default()).contains("Watchdog"));
        for name in [
            "ProxyExporterReloadFailed",
            "ProxyExporterNotificationsFailing",
            "ProxyExporterStoreDown",
        ] {
            assert!(
                refuse(name, Override::default()).contains("not evaluated in-process"),
                "{name}"
            );
        }
    }

    /// The agent (and `check`, which reads the same rule set) evaluates every
    /// alert but the rules for Prometheus only.
    #[test]
    fn the_default_rules_leave_out_the_rules_for_prometheus_only() {
        let evaluated: Vec<_> = RuleSet::default().0.iter().map(|r| r.alert.name).collect();
        let prometheus_only: Vec<_> = alerts::CATALOGUE
            .iter()
            .filter(|a| a.scope == Scope::PrometheusOnly)
            .map(|a| a.name)
            .collect();
        assert_eq!(
            prometheus_only,
            [
                "ProxyExporterDown",
                "ProxyExporterReloadFailed",
                "ProxyExporterNotificationsFailing",
                "ProxyExporterStoreDown",
            ]
        );
        assert_eq!(
            evaluated.len() + prometheus_only.len(),
            alerts::CATALOGUE.len()
        );
        assert!(evaluated.iter().all(|n| !prometheus_only.contains(n)));
    }
}
