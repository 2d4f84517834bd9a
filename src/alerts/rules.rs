//! The rules the agent evaluates: the alert catalogue with the configuration's
//! overrides (`alerting.rules`: `warning`, `critical`, `for`, `enabled`) applied.
//! Without overrides they are the shipped rule file's rules.

use std::time::Duration;

use crate::alerts::{self, Alert, Severity, Threshold, Variant};

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
    /// The catalogue as shipped, without `ProxyExporterDown` (which watches the
    /// exporter from outside; the `Watchdog` alert stands in for it).
    fn default() -> Self {
        RuleSet(
            alerts::CATALOGUE
                .iter()
                .filter(|a| a.name != EXPORTER_DOWN)
                .map(|alert| Rule {
                    alert,
                    variants: alert.variants.to_vec(),
                })
                .collect(),
        )
    }
}

/// The alert the agent cannot evaluate.
pub const EXPORTER_DOWN: &str = "ProxyExporterDown";

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
        if name == EXPORTER_DOWN {
            return Err(format!(
                "{name}: watches the exporter from outside and is not evaluated in-process (the Watchdog alert stands in for it)"
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
    }
}
