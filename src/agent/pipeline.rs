//! What happens to one evaluation's alerts on their way to the receivers that
//! are not Alertmanager, as Alertmanager would do it: each firing alert is
//! checked against the silences and the inhibition rules, the rest (and the
//! alerts that resolved) are routed through the route tree into groups, and
//! the groups whose time has come are flushed. Pure and synchronous, so that
//! the benchmark measures exactly what the agent runs.

use std::collections::BTreeMap;

use crate::alerting::Alerting;
use crate::notify::group::{Destination, Flushed, Groups, Ledger};
use crate::notify::AlertEvent;
use crate::silences::Silences;

/// Why each firing alert is muted: the silences' IDs and the inhibiting
/// alerts' fingerprints (both empty: not muted), in the order of `firing`.
pub type Mutes = Vec<(Vec<String>, Vec<String>)>;

/// What the way to direct receivers needs besides the alerts.
pub struct Pipeline<'a> {
    pub section: &'a Alerting,
    pub silences: &'a Silences,
    /// Whether a receiver is a direct one (not `alertmanager`).
    pub direct: &'a dyn Fn(&str) -> bool,
}

impl Pipeline<'_> {
    /// Mutes, routes, groups and flushes one evaluation's alerts for the
    /// direct receivers; `groups` carry over from one evaluation to the next,
    /// `ledger` is what the receivers accepted.
    pub fn run(
        &self,
        groups: &mut Groups,
        ledger: &Ledger,
        firing: &[AlertEvent],
        resolved: &[AlertEvent],
        now: f64,
    ) -> (Vec<Flushed>, Mutes) {
        let Pipeline {
            section,
            silences,
            direct,
        } = self;
        let firing_labels: Vec<&BTreeMap<String, String>> =
            firing.iter().map(|e| &e.labels).collect();
        let sources = section.inhibitor.sources(&firing_labels);
        let mutes: Mutes = firing
            .iter()
            .map(|e| {
                (
                    silences.mutes(&e.labels, now),
                    sources.inhibited_by(&e.labels),
                )
            })
            .collect();
        let destinations = |labels: &BTreeMap<String, String>| -> Vec<Destination> {
            section
                .route
                .matching(labels)
                .into_iter()
                .filter(|node| direct(node.receiver()))
                .map(|node| {
                    let (key, group_labels) = node.group_key(labels);
                    Destination {
                        receiver: node.receiver().to_owned(),
                        key,
                        labels: group_labels,
                        timing: node.timing(),
                        send_resolved: section
                            .send_resolved
                            .get(node.receiver())
                            .copied()
                            .unwrap_or(true),
                    }
                })
                .collect()
        };
        let mut routed: Vec<(&AlertEvent, Vec<Destination>)> = Vec::new();
        for (event, (silenced, inhibited)) in firing.iter().zip(&mutes) {
            if silenced.is_empty() && inhibited.is_empty() {
                routed.push((event, destinations(&event.labels)));
            }
        }
        for event in resolved {
            routed.push((event, destinations(&event.labels)));
        }
        groups.update(routed, now);
        (groups.flush(now, ledger), mutes)
    }
}
