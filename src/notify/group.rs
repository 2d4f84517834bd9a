//! Aggregation groups and the notification log, with Alertmanager's semantics
//! (its dispatcher's `aggrGroup` and its dedup stage): alerts that a route
//! sends to one receiver and that share the route's `group_by` labels form a
//! group; a group is first flushed `group_wait` after it appeared, then every
//! `group_interval`; a flush notifies only when the receiver has not heard of a
//! firing alert yet, when an alert it heard fire has resolved (with
//! `send_resolved`), or when `repeat_interval` has passed. What a receiver has
//! heard is the [`Ledger`], written only when it *accepted* a notification,
//! so a failed notification is notified again, and a resolved alert is
//! notified only to receivers that were told it fired.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::event::fingerprint_u64;
pub use super::route::Timing;
use super::{AlertEvent, Status};

/// Where one alert goes: one receiver's group of one route.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    pub receiver: String,
    /// The route's identity and the group's labels: unique per group.
    pub key: String,
    /// The `group_by` labels' values (`commonLabels` start from these).
    pub labels: BTreeMap<String, String>,
    pub timing: Timing,
    pub send_resolved: bool,
}

/// What a receiver was last told of one group, once it accepted it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The alerts it heard fire, with when it accepted that (Unix seconds).
    pub firing: BTreeMap<u64, f64>,
    /// The alerts it heard resolve.
    pub resolved: BTreeSet<u64>,
    /// When it accepted the last notification (Unix seconds).
    pub at: f64,
}

/// What every receiver accepted, per group: `(receiver, group key)` → entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    entries: BTreeMap<(String, String), Entry>,
}

/// How long an entry of a group that no longer exists is kept: Alertmanager
/// keeps its notification log 120 h.
const LEDGER_RETENTION: f64 = 120.0 * 3600.0;

impl Ledger {
    /// A ledger of stored entries.
    pub fn from_entries(entries: impl IntoIterator<Item = ((String, String), Entry)>) -> Self {
        Ledger {
            entries: entries.into_iter().collect(),
        }
    }

    /// Every entry, for the store.
    pub fn entries(&self) -> impl Iterator<Item = (&(String, String), &Entry)> {
        self.entries.iter()
    }

    /// What `receiver` accepted last of group `key`.
    pub fn get(&self, receiver: &str, key: &str) -> Option<&Entry> {
        self.entries.get(&(receiver.to_owned(), key.to_owned()))
    }

    /// Records that `notification` was accepted at `now` (a one-off
    /// notification that tells of no alert by fingerprint leaves no entry).
    pub fn accept(&mut self, notification: &Notification, now: f64) {
        if notification.partial
            && notification.firing.is_empty()
            && notification.resolved.is_empty()
        {
            return;
        }
        let entry = self
            .entries
            .entry((notification.receiver.clone(), notification.key.clone()))
            .or_default();
        let mut firing = BTreeMap::new();
        for fp in &notification.firing {
            // An alert told again keeps counting its resends from now.
            firing.insert(*fp, now);
        }
        // Alerts carried in the entry that this notification does not mention
        // (an Alertmanager receiver's notifications carry only what is due) stay.
        if notification.partial {
            for (fp, at) in &entry.firing {
                if !notification.resolved.contains(fp) {
                    firing.entry(*fp).or_insert(*at);
                }
            }
        }
        entry.firing = firing;
        entry.resolved = notification.resolved.clone();
        entry.at = now;
    }

    /// Drops the entries of receivers that are gone, and those that told of
    /// nothing firing and are older than the retention.
    pub fn prune(&mut self, receivers: &BTreeSet<&str>, now: f64) {
        self.entries.retain(|(receiver, _), entry| {
            receivers.contains(receiver.as_str())
                && (!entry.firing.is_empty() || now - entry.at < LEDGER_RETENTION)
        });
    }
}

/// One notification for one receiver: the alerts of a group, or the due
/// alerts of an Alertmanager receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub receiver: String,
    /// The group's key: a newer notification of the same key replaces one that
    /// is still waiting.
    pub key: String,
    /// The group's labels (`groupLabels`).
    pub group_labels: BTreeMap<String, String>,
    /// Firing alerts first, then resolved ones, each in the order of their labels.
    pub alerts: Vec<AlertEvent>,
    /// Fingerprints of the firing alerts in `alerts`.
    pub firing: BTreeSet<u64>,
    /// Fingerprints of the resolved alerts the receiver was told fired.
    pub resolved: BTreeSet<u64>,
    /// Whether the notification carries only some of what fires (an
    /// Alertmanager receiver's due alerts), so that accepting it keeps the rest.
    #[serde(default)]
    pub partial: bool,
    /// When it was made (Unix seconds).
    pub created: f64,
}

/// What a group's flush says.
#[derive(Debug, Clone, PartialEq)]
pub enum Flushed {
    /// Tell the receiver this.
    Notify(Notification),
    /// Nothing to tell: withdraw any notification of the group still waiting.
    Quiet { receiver: String, key: String },
}

impl Flushed {
    /// The notification, if there is one.
    pub fn notification(self) -> Option<Notification> {
        match self {
            Flushed::Notify(n) => Some(n),
            Flushed::Quiet { .. } => None,
        }
    }
}

/// One group being aggregated.
#[derive(Debug)]
struct Group {
    destination: Destination,
    /// Non-muted firing alerts of the last evaluation, and resolved alerts the
    /// receiver may still have to hear of, by fingerprint; each with the
    /// evaluation that last brought it.
    alerts: BTreeMap<u64, (Arc<AlertEvent>, u64)>,
    /// When the group is flushed next (Unix seconds).
    next_flush: f64,
}

/// Every group of every receiver: receiver → group key → group.
#[derive(Debug, Default)]
pub struct Groups {
    groups: BTreeMap<String, BTreeMap<String, Group>>,
    /// Counts the evaluations, to tell which alerts the last one brought.
    generation: u64,
}

impl Groups {
    /// Takes one evaluation's alerts, each with where its routes send it: the
    /// firing alerts that no silence or inhibition mutes, and the alerts that
    /// resolved in this evaluation. A firing alert that is missing from an
    /// evaluation (muted now) leaves its groups without a resolved notice.
    pub fn update<'a>(
        &mut self,
        alerts: impl IntoIterator<Item = (&'a AlertEvent, Vec<Destination>)>,
        now: f64,
    ) {
        self.generation += 1;
        let generation = self.generation;
        for (alert, destinations) in alerts {
            if destinations.is_empty() {
                continue;
            }
            let fp = fingerprint_u64(&alert.labels);
            let alert = Arc::new(alert.clone());
            for destination in destinations {
                let groups = match self.groups.get_mut(destination.receiver.as_str()) {
                    Some(groups) => groups,
                    None => self.groups.entry(destination.receiver.clone()).or_default(),
                };
                let group = match groups.get_mut(destination.key.as_str()) {
                    Some(group) => {
                        // A reload may have changed the route's timing.
                        group.destination.timing = destination.timing;
                        group.destination.send_resolved = destination.send_resolved;
                        group
                    }
                    None => groups.entry(destination.key.clone()).or_insert(Group {
                        next_flush: now + destination.timing.group_wait.as_secs_f64(),
                        destination,
                        alerts: BTreeMap::new(),
                    }),
                };
                group.alerts.insert(fp, (Arc::clone(&alert), generation));
            }
        }
        for group in self.groups.values_mut().flat_map(|g| g.values_mut()) {
            group
                .alerts
                .retain(|_, (alert, seen)| alert.status == Status::Resolved || *seen == generation);
        }
    }

    /// What each group whose flush time has come says at `now`, given what
    /// receivers accepted, as Alertmanager's dedup stage decides: a
    /// notification, or that there is nothing to tell (so that a notification
    /// of the group still waiting to be delivered is withdrawn: it would tell
    /// of a state that is gone). Groups with nothing left are dropped, and say so.
    pub fn flush(&mut self, now: f64, ledger: &Ledger) -> Vec<Flushed> {
        let mut flushed = Vec::new();
        let groups = self.groups.iter_mut().flat_map(|(receiver, groups)| {
            groups.iter_mut().map(move |(key, g)| (receiver, key, g))
        });
        for (receiver, key, group) in groups {
            let entry = ledger.get(receiver, key);
            // A resolved alert its receiver never heard fire is of no interest
            // to it.
            group.alerts.retain(|fp, (alert, _)| {
                alert.status == Status::Firing || entry.is_some_and(|e| e.firing.contains_key(fp))
            });
            if group.alerts.is_empty() {
                flushed.push(Flushed::Quiet {
                    receiver: receiver.clone(),
                    key: key.clone(),
                });
                continue;
            }
            if now < group.next_flush {
                continue;
            }
            let interval = group.destination.timing.group_interval.as_secs_f64();
            while group.next_flush <= now {
                group.next_flush += interval.max(1.0);
            }
            flushed.push(match group.notification(now, entry) {
                Some(notification) => Flushed::Notify(notification),
                None => Flushed::Quiet {
                    receiver: receiver.clone(),
                    key: key.clone(),
                },
            });
        }
        for groups in self.groups.values_mut() {
            groups.retain(|_, g| !g.alerts.is_empty());
        }
        self.groups.retain(|_, groups| !groups.is_empty());
        flushed
    }

    /// How many groups there are.
    pub fn len(&self) -> usize {
        self.groups.values().map(BTreeMap::len).sum()
    }

    /// Whether there is no group.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

impl Group {
    /// The notification this flush sends, if Alertmanager's dedup stage would
    /// send one.
    fn notification(&self, now: f64, entry: Option<&Entry>) -> Option<Notification> {
        let firing: BTreeSet<u64> = self
            .alerts
            .iter()
            .filter(|(_, (a, _))| a.status == Status::Firing)
            .map(|(fp, _)| *fp)
            .collect();
        let resolved: BTreeSet<u64> = self
            .alerts
            .iter()
            .filter(|(_, (a, _))| a.status == Status::Resolved)
            .map(|(fp, _)| *fp)
            .collect();
        let send_resolved = self.destination.send_resolved;
        let repeat = self.destination.timing.repeat_interval.as_secs_f64();
        let needed = match entry {
            None => !firing.is_empty(),
            Some(entry) => {
                let told_firing: BTreeSet<u64> = entry.firing.keys().copied().collect();
                if !firing.is_subset(&told_firing) {
                    true
                } else if firing.is_empty() {
                    // Every alert it heard fire has resolved (or is muted now).
                    !entry.firing.is_empty()
                } else if send_resolved && !resolved.is_subset(&entry.resolved) {
                    true
                } else {
                    now - entry.at >= repeat
                }
            }
        };
        if !needed {
            return None;
        }
        let of = |status: Status| {
            let mut alerts: Vec<&Arc<AlertEvent>> = self
                .alerts
                .values()
                .map(|(a, _)| a)
                .filter(|a| a.status == status)
                .collect();
            // In the order of their label sets, as Alertmanager's dispatcher sorts them.
            alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
            alerts.into_iter().map(|a| AlertEvent::clone(a))
        };
        let mut alerts: Vec<AlertEvent> = of(Status::Firing).collect();
        if send_resolved {
            alerts.extend(of(Status::Resolved));
        }
        Some(Notification {
            receiver: self.destination.receiver.clone(),
            key: self.destination.key.clone(),
            group_labels: self.destination.labels.clone(),
            alerts,
            firing,
            resolved,
            partial: false,
            created: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn alert(name: &str, status: Status) -> AlertEvent {
        AlertEvent {
            status,
            labels: BTreeMap::from([("alertname".to_owned(), name.to_owned())]),
            annotations: BTreeMap::new(),
            starts_at: SystemTime::UNIX_EPOCH,
            ends_at: None,
            generator_url: String::new(),
        }
    }

    fn to(receiver: &str, wait: u64, interval: u64, repeat: u64) -> Vec<Destination> {
        vec![Destination {
            receiver: receiver.into(),
            key: "{}:{}".into(),
            labels: BTreeMap::new(),
            timing: Timing {
                group_wait: Duration::from_secs(wait),
                group_interval: Duration::from_secs(interval),
                repeat_interval: Duration::from_secs(repeat),
            },
            send_resolved: true,
        }]
    }

    /// The notifications of a flush.
    fn notify(flushed: Vec<Flushed>) -> Vec<Notification> {
        flushed
            .into_iter()
            .filter_map(Flushed::notification)
            .collect()
    }

    fn names(n: &Notification) -> Vec<String> {
        n.alerts
            .iter()
            .map(|a| format!("{}:{}", a.name(), a.status.as_str()))
            .collect()
    }

    #[test]
    fn group_wait_then_group_interval_then_repeat_interval() {
        let mut groups = Groups::default();
        let mut ledger = Ledger::default();
        let a = alert("A", Status::Firing);
        groups.update([(&a, to("r", 30, 300, 3600))], 0.0);
        assert!(notify(groups.flush(10.0, &ledger)).is_empty(), "group_wait");
        let first = notify(groups.flush(30.0, &ledger));
        assert_eq!(names(&first[0]), ["A:firing"]);
        ledger.accept(&first[0], 31.0);
        // A second alert joins: told at the next group_interval tick, not before.
        let b = alert("B", Status::Firing);
        groups.update(
            [(&a, to("r", 30, 300, 3600)), (&b, to("r", 30, 300, 3600))],
            40.0,
        );
        assert!(notify(groups.flush(100.0, &ledger)).is_empty());
        let second = notify(groups.flush(330.0, &ledger));
        assert_eq!(names(&second[0]), ["A:firing", "B:firing"]);
        ledger.accept(&second[0], 330.0);
        // Nothing new: quiet until repeat_interval.
        assert!(notify(groups.flush(630.0, &ledger)).is_empty());
        assert_eq!(
            notify(groups.flush(3930.0, &ledger)).len(),
            1,
            "repeat_interval"
        );
    }

    #[test]
    fn a_notification_not_accepted_is_sent_again_at_the_next_flush() {
        let mut groups = Groups::default();
        let ledger = Ledger::default();
        let a = alert("A", Status::Firing);
        groups.update([(&a, to("r", 0, 60, 3600))], 0.0);
        assert_eq!(notify(groups.flush(0.0, &ledger)).len(), 1);
        // Not accepted (the receiver was down): the next flush tells it again.
        assert_eq!(notify(groups.flush(60.0, &ledger)).len(), 1);
    }

    #[test]
    fn resolved_goes_only_where_the_firing_went() {
        let mut groups = Groups::default();
        let mut ledger = Ledger::default();
        let a = alert("A", Status::Firing);
        groups.update(
            [
                (&a, to("told", 0, 60, 3600)),
                (&a, to("never", 0, 60, 3600)),
            ],
            0.0,
        );
        for n in notify(groups.flush(0.0, &ledger)) {
            if n.receiver == "told" {
                ledger.accept(&n, 1.0);
            }
        }
        let resolved = alert("A", Status::Resolved);
        groups.update(
            [
                (&resolved, to("told", 0, 60, 3600)),
                (&resolved, to("never", 0, 60, 3600)),
            ],
            50.0,
        );
        let due = notify(groups.flush(60.0, &ledger));
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!(due[0].receiver, "told");
        assert_eq!(names(&due[0]), ["A:resolved"]);
        ledger.accept(&due[0], 61.0);
        assert!(notify(groups.flush(120.0, &ledger)).is_empty());
        assert!(groups.is_empty(), "the resolved group is gone");
    }

    #[test]
    fn a_group_whose_alert_resolved_unheard_withdraws_its_waiting_notification() {
        let mut groups = Groups::default();
        let ledger = Ledger::default();
        let a = alert("A", Status::Firing);
        groups.update([(&a, to("r", 0, 60, 3600))], 0.0);
        assert_eq!(notify(groups.flush(0.0, &ledger)).len(), 1);
        // Not accepted yet; then A resolves: the waiting notification must go.
        let resolved = alert("A", Status::Resolved);
        groups.update([(&resolved, to("r", 0, 60, 3600))], 30.0);
        assert_eq!(
            groups.flush(30.0, &ledger),
            vec![Flushed::Quiet {
                receiver: "r".into(),
                key: "{}:{}".into()
            }]
        );
        assert!(groups.is_empty());
    }

    #[test]
    fn a_muted_alert_is_neither_told_nor_resolved() {
        let mut groups = Groups::default();
        let mut ledger = Ledger::default();
        let a = alert("A", Status::Firing);
        let b = alert("B", Status::Firing);
        groups.update(
            [(&a, to("r", 0, 60, 3600)), (&b, to("r", 0, 60, 3600))],
            0.0,
        );
        let first = notify(groups.flush(0.0, &ledger));
        ledger.accept(&first[0], 0.0);
        // B is silenced: missing from the evaluation; A still fires.
        groups.update([(&a, to("r", 0, 60, 3600))], 30.0);
        assert!(
            notify(groups.flush(60.0, &ledger)).is_empty(),
            "no resolved notice for B"
        );
    }
}
