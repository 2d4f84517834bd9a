//! The alert state machine, as Prometheus keeps it per rule: an alert whose
//! condition holds is pending, and fires once it has held for the rule's `for`
//! (`for: 0s` fires at the first evaluation); when the condition stops holding,
//! a firing alert resolves and a pending one is forgotten. The state is plain
//! data, so that it can be stored and a restart resumes `for` timers.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::agent::evaluate::Active;
pub use crate::notify::fingerprint;
use crate::notify::{AlertEvent, Status};

/// One alert instance's state, keyed by the fingerprint of its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertState {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub value: f64,
    /// Unix seconds since the condition has held.
    pub active_since: f64,
    /// Unix seconds since the alert fires; `None` while pending.
    pub firing_since: Option<f64>,
}

/// What one evaluation changed.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    /// Alerts that began to fire in this evaluation.
    pub fired: Vec<AlertEvent>,
    /// Alerts that stopped firing in this evaluation.
    pub resolved: Vec<AlertEvent>,
    /// Every alert firing now (the newly fired included).
    pub firing: Vec<AlertEvent>,
    /// How many alerts are pending.
    pub pending: usize,
}

/// Every alert instance's state.
#[derive(Debug, Default)]
pub struct States {
    by_fingerprint: BTreeMap<String, AlertState>,
}

impl States {
    /// States resumed from storage.
    pub fn resume(saved: impl IntoIterator<Item = AlertState>) -> Self {
        States {
            by_fingerprint: saved
                .into_iter()
                .map(|s| (fingerprint(&s.labels), s))
                .collect(),
        }
    }

    /// Every state, for storage.
    pub fn all(&self) -> impl Iterator<Item = &AlertState> {
        self.by_fingerprint.values()
    }

    /// Advances every alert to `now` (Unix seconds) given the alerts whose
    /// condition holds; `for_of` gives each one's `for`.
    pub fn step(
        &mut self,
        active: Vec<Active>,
        now: f64,
        for_of: impl Fn(&Active) -> Duration,
    ) -> Step {
        let mut step = Step::default();
        let mut next = BTreeMap::new();
        for a in active {
            let key = fingerprint(&a.labels);
            let previous = self.by_fingerprint.remove(&key);
            let active_since = previous.as_ref().map_or(now, |p| p.active_since);
            let was_firing = previous.as_ref().and_then(|p| p.firing_since);
            let firing_since = was_firing
                .or_else(|| (now - active_since >= for_of(&a).as_secs_f64()).then_some(now));
            let state = AlertState {
                labels: a.labels,
                annotations: a.annotations,
                value: a.value,
                active_since,
                firing_since,
            };
            match firing_since {
                Some(_) => {
                    let event = event(&state, Status::Firing, None);
                    if was_firing.is_none() {
                        step.fired.push(event.clone());
                    }
                    step.firing.push(event);
                }
                None => step.pending += 1,
            }
            next.insert(key, state);
        }
        for gone in std::mem::replace(&mut self.by_fingerprint, next).into_values() {
            if gone.firing_since.is_some() {
                step.resolved
                    .push(event(&gone, Status::Resolved, Some(now)));
            }
        }
        step
    }
}

fn event(state: &AlertState, status: Status, ended: Option<f64>) -> AlertEvent {
    let at = |unix: f64| UNIX_EPOCH + Duration::from_secs_f64(unix.max(0.0));
    AlertEvent {
        status,
        labels: state.labels.clone(),
        annotations: state.annotations.clone(),
        starts_at: state.firing_since.map_or(SystemTime::UNIX_EPOCH, at),
        ends_at: ended.map(at),
        generator_url: "/".to_owned(),
    }
}
