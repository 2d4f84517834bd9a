//! What happens to one evaluation's alerts on their way to the receivers that
//! are not Alertmanager, as Alertmanager would do it: each firing alert is
//! checked against the silences and the inhibition rules, the rest (and the
//! alerts that resolved) are routed through the route tree into groups, and
//! the groups whose time has come are flushed. Pure and synchronous, so that
//! the benchmark measures exactly what the agent runs.

use std::collections::BTreeMap;

use crate::alerting::Alerting;
use crate::notify::group::{Destination, Flushed, Groups, Ledger};
use crate::notify::route::RouteNode;
use crate::notify::AlertEvent;
use crate::silences::Silences;

/// What became of one firing alert: the silences that mute it (their IDs),
/// the alerts that inhibit it (their fingerprints) — both empty when nothing
/// mutes it — and the receivers its routes name (direct or not, muted or not),
/// for the front page and the API.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fate {
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
    pub routed_to: Vec<String>,
}

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
    ) -> (Vec<Flushed>, Vec<Fate>) {
        let Pipeline {
            section,
            silences,
            direct,
        } = self;
        let firing_labels: Vec<&BTreeMap<String, String>> =
            firing.iter().map(|e| &e.labels).collect();
        let sources = section.inhibitor.sources(&firing_labels);
        let destinations = |labels: &BTreeMap<String, String>, nodes: &[&RouteNode]| {
            nodes
                .iter()
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
                .collect::<Vec<_>>()
        };
        let mut routed: Vec<(&AlertEvent, Vec<Destination>)> = Vec::new();
        let mut fates = Vec::with_capacity(firing.len());
        for event in firing {
            let nodes = section.route.matching(&event.labels);
            let fate = Fate {
                silenced_by: silences.mutes(&event.labels, now),
                inhibited_by: sources.inhibited_by(&event.labels),
                routed_to: nodes.iter().map(|n| n.receiver().to_owned()).collect(),
            };
            if fate.silenced_by.is_empty() && fate.inhibited_by.is_empty() {
                routed.push((event, destinations(&event.labels, &nodes)));
            }
            fates.push(fate);
        }
        for event in resolved {
            let nodes = section.route.matching(&event.labels);
            routed.push((event, destinations(&event.labels, &nodes)));
        }
        groups.update(routed, now);
        (groups.flush(now, ledger), fates)
    }
}
