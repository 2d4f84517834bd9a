//! The agent's loop: every `evaluation_interval` it evaluates the rules against
//! the snapshot store (and the stored history, for the forecast), advances the
//! alert states, hands notifications to the receivers, saves the state, and
//! publishes its counts for `/metrics`. Alertmanager receivers get every firing
//! alert (and the `Watchdog`) every `resend_interval`; other receivers get an
//! alert when it fires, every `repeat_interval` while it fires, and when it
//! resolves. A reload's `alerting` section replaces rules, intervals and
//! receivers and keeps the alert states.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::agent::evaluate::{evaluate, Active, Input};
use crate::agent::state::{fingerprint, AlertState, States};
use crate::alerting::Alerting;
use crate::alerts::rules::RuleSet;
use crate::forecast::{History, NoHistory};
use crate::notify::{AlertEvent, Status};
use crate::notify::{BuildOptions, DispatchSettings, Dispatcher};
use crate::storage::{self, Storage};
use crate::store::{ActiveAlert, AgentStatus, Store};
use crate::units::unix_now;
use tokio::sync::watch;

/// How the agent runs: `alerting` of the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub evaluation_interval: Duration,
    pub resend_interval: Duration,
    pub repeat_interval: Duration,
    pub rules: RuleSet,
    pub runbook_base_url: String,
}

/// The receiver kind that gets every firing alert every `resend_interval`.
const ALERTMANAGER: &str = "alertmanager";

/// The agent's state between evaluations.
struct Agent {
    settings: Settings,
    states: States,
    /// When each alert (by fingerprint) was last sent to each receiver.
    sent: HashMap<(String, String), f64>,
    watchdog_sent: HashMap<String, f64>,
    /// When the agent started: the `Watchdog`'s `startsAt`.
    started: f64,
}

/// How long a receiver replaced by a reload may go on delivering what it holds.
const RETIRE_WITHIN: Duration = Duration::from_secs(30);

/// The agent of one `alerting` section, running.
struct Running {
    section: Alerting,
    agent: Agent,
    dispatcher: Arc<Dispatcher>,
    ticker: tokio::time::Interval,
}

/// Runs the agent for the configuration's `alerting` section, now and after
/// every reload (`alerting` announces each new section; `None` runs no agent),
/// until the task is aborted. A reload keeps the alert states (pending `for`
/// windows go on, firing alerts are not sent again before their interval) and
/// swaps the rules, intervals and receivers; a replaced receiver may deliver
/// what it still holds for a while.
pub async fn run(
    mut alerting: watch::Receiver<Option<Alerting>>,
    store: Arc<Store>,
    storage: Option<Arc<Storage>>,
) {
    let mut running: Option<Running> = None;
    let mut reloads_possible = true;
    loop {
        let section = alerting.borrow_and_update().clone();
        running = configure(running.take(), section, storage.as_ref()).await;
        match &running {
            None => store.set_agent_status(AgentStatus::default()),
            Some(_) if !store.view().agent.running => store.set_agent_status(AgentStatus {
                running: true,
                ..AgentStatus::default()
            }),
            Some(_) => {}
        }
        loop {
            let tick = async {
                match running.as_mut() {
                    Some(r) => {
                        r.ticker.tick().await;
                    }
                    None => std::future::pending().await,
                }
            };
            let reload = async {
                if reloads_possible {
                    alerting.changed().await
                } else {
                    std::future::pending().await
                }
            };
            tokio::select! {
                () = tick => {
                    if let Some(r) = running.as_mut() {
                        r.evaluate(&store, storage.as_ref()).await;
                    }
                }
                changed = reload => match changed {
                    Ok(()) => break,
                    // The supervisor is gone: no more reloads.
                    Err(_) => reloads_possible = false,
                },
            }
        }
    }
}

/// The agent for `section`: `previous` as it was when the section is the same;
/// with its states and new settings and receivers when it changed; resumed
/// from the store when there was none.
async fn configure(
    previous: Option<Running>,
    section: Option<Alerting>,
    storage: Option<&Arc<Storage>>,
) -> Option<Running> {
    if previous.as_ref().map(|r| &r.section) == section.as_ref() {
        return previous;
    }
    let agent = match previous {
        Some(previous) => {
            retire(previous.dispatcher);
            Some(previous.agent)
        }
        None => None,
    };
    let section = section?;
    let settings = Settings {
        evaluation_interval: section.evaluation_interval,
        resend_interval: section.resend_interval,
        repeat_interval: section.repeat_interval,
        rules: section.rules.clone(),
        runbook_base_url: crate::alerts::DEFAULT_RUNBOOK_BASE_URL.to_owned(),
    };
    let agent = match agent {
        Some(mut agent) => {
            agent.settings = settings;
            agent
        }
        None => {
            let saved = match storage {
                Some(s) => s
                    .blocking(|s| s.load_alert_states())
                    .await
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            Agent::resume(settings, saved)
        }
    };
    let mut ticker = tokio::time::interval(section.evaluation_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    Some(Running {
        dispatcher: Arc::new(receivers(&section)),
        section,
        agent,
        ticker,
    })
}

/// The dispatcher of a section's receivers; a receiver that cannot be built
/// is logged and left out.
fn receivers(section: &Alerting) -> Dispatcher {
    let options = BuildOptions::default();
    let receivers = section
        .receivers
        .iter()
        .filter_map(|spec| match spec.build(&options) {
            Ok(receiver) => Some((spec.name.clone(), receiver)),
            Err(e) => {
                tracing::error!(receiver = %spec.name, error = %e, "receiver left out");
                None
            }
        })
        .collect();
    Dispatcher::new(receivers, DispatchSettings::default())
}

/// Lets a replaced dispatcher deliver what it holds, for a while, then drops it.
fn retire(dispatcher: Arc<Dispatcher>) {
    tokio::spawn(async move {
        dispatcher.flush(RETIRE_WITHIN).await;
    });
}

impl Running {
    /// One evaluation: the states advanced, notifications handed over, the
    /// state saved and the counts published.
    async fn evaluate(&mut self, store: &Store, storage: Option<&Arc<Storage>>) {
        // Until every target has finished its first poll an alert could look
        // resolved, and a resumed `for` window would start over.
        let view = store.view();
        if !view.complete() {
            return;
        }
        let snapshots = view.snapshots;
        let rules = self.agent.settings.rules.clone();
        let base = self.agent.settings.runbook_base_url.clone();
        let history = storage.cloned();
        let now = unix_now();
        let evaluated = tokio::task::spawn_blocking(move || {
            let history: &dyn History = match &history {
                Some(storage) => storage.as_ref(),
                None => &NoHistory,
            };
            evaluate(&Input {
                snapshots: &snapshots,
                history,
                now,
                instant: Instant::now(),
                runbook_base_url: &base,
                rules: &rules,
            })
        })
        .await;
        let Ok(active) = evaluated else {
            tracing::error!("alert evaluation failed");
            return;
        };
        self.agent.evaluate(active, now, &self.dispatcher);
        store.set_agent_status(AgentStatus {
            alerts: self.agent.status(),
            notifications: self.dispatcher.counts(),
            active: self.agent.active(),
            running: true,
        });
        if let Some(storage) = storage {
            let saved = self.agent.saved();
            let saving = Arc::clone(storage);
            let outcome =
                tokio::task::spawn_blocking(move || saving.save_alert_states(&saved)).await;
            if !matches!(outcome, Ok(Ok(()))) {
                tracing::warn!("saving the alert state failed; it is kept in memory");
            }
            store.set_storage_status(storage.status());
        }
    }
}

impl Agent {
    /// The agent as the store left it: `for` timers and intervals continue.
    fn resume(settings: Settings, saved: Vec<storage::AlertState>) -> Self {
        let mut sent = HashMap::new();
        let mut states = Vec::new();
        for s in saved.into_iter().filter(|s| !s.resolved()) {
            // Recomputed: a store written before fingerprints were Alertmanager's
            // holds another kind.
            let fp = fingerprint(&s.labels);
            for (receiver, at) in &s.last_sent {
                sent.insert((fp.clone(), receiver.clone()), *at);
            }
            states.push(AlertState {
                labels: s.labels,
                annotations: s.annotations,
                value: s.value,
                active_since: s.pending_since,
                firing_since: s.firing_since,
            });
        }
        Agent {
            settings,
            states: States::resume(states),
            sent,
            watchdog_sent: HashMap::new(),
            started: unix_now(),
        }
    }

    /// Advances the states and hands what is due to each receiver.
    fn evaluate(&mut self, active: Vec<Active>, now: f64, dispatcher: &Dispatcher) {
        let rules = &self.settings.rules;
        let step = self.states.step(active, now, |a| {
            rules
                .variant(a.alert.name, a.severity)
                .map_or(Duration::ZERO, |v| v.for_)
        });
        let receivers: Vec<(String, &'static str)> = dispatcher
            .receivers()
            .map(|(n, k)| (n.to_owned(), k))
            .collect();
        for (receiver, kind) in receivers {
            let interval = if kind == ALERTMANAGER {
                self.settings.resend_interval
            } else {
                self.settings.repeat_interval
            };
            let mut batch: Vec<AlertEvent> = step.resolved.clone();
            for event in &step.firing {
                let key = (fingerprint(&event.labels), receiver.clone());
                let due = self
                    .sent
                    .get(&key)
                    .is_none_or(|at| now - at >= interval.as_secs_f64());
                if due {
                    self.sent.insert(key, now);
                    batch.push(event.clone());
                }
            }
            if kind == ALERTMANAGER {
                let last = self.watchdog_sent.get(&receiver).copied();
                if last.is_none_or(|at| now - at >= interval.as_secs_f64()) {
                    self.watchdog_sent.insert(receiver.clone(), now);
                    batch.push(watchdog(self.started));
                }
            }
            for event in &step.resolved {
                self.sent
                    .remove(&(fingerprint(&event.labels), receiver.clone()));
            }
            dispatcher.send(&receiver, batch);
        }
    }

    /// How many alerts are pending and firing, by alert name and severity.
    fn status(&self) -> Vec<(String, String, &'static str, u64)> {
        let mut counts = BTreeMap::<(String, String, &'static str), u64>::new();
        for s in self.states.all() {
            let state = if s.firing_since.is_some() {
                "firing"
            } else {
                "pending"
            };
            let name = s.labels.get("alertname").cloned().unwrap_or_default();
            let severity = s.labels.get("severity").cloned().unwrap_or_default();
            *counts.entry((name, severity, state)).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|((n, s, st), c)| (n, s, st, c))
            .collect()
    }

    /// Every pending and firing alert: firing before pending, critical before
    /// warning, then the longest held first.
    fn active(&self) -> Vec<ActiveAlert> {
        let mut active: Vec<ActiveAlert> = self
            .states
            .all()
            .map(|s| ActiveAlert {
                fingerprint: fingerprint(&s.labels),
                annotations: s.annotations.clone(),
                silenced_by: Vec::new(),
                inhibited_by: Vec::new(),
                receivers: Vec::new(),
                labels: s.labels.clone(),
                state: if s.firing_since.is_some() {
                    "firing"
                } else {
                    "pending"
                },
                since: s.firing_since.unwrap_or(s.active_since),
                summary: s.annotations.get("summary").cloned().unwrap_or_default(),
            })
            .collect();
        let rank = |a: &ActiveAlert| {
            (
                a.state != "firing",
                a.labels.get("severity").map(String::as_str) != Some("critical"),
            )
        };
        active.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.since.total_cmp(&b.since)));
        active
    }

    /// The states as the store keeps them.
    fn saved(&self) -> Vec<storage::AlertState> {
        // One pass over `sent`, not one per alert: alerts × receivers entries.
        let mut sent_by_alert: HashMap<&str, Vec<(String, f64)>> = HashMap::new();
        for ((fp, receiver), at) in &self.sent {
            sent_by_alert
                .entry(fp.as_str())
                .or_default()
                .push((receiver.clone(), *at));
        }
        self.states
            .all()
            .map(|s| {
                let fp = fingerprint(&s.labels);
                let last_sent = sent_by_alert
                    .get(fp.as_str())
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect();
                storage::AlertState {
                    alertname: s.labels.get("alertname").cloned().unwrap_or_default(),
                    fingerprint: fp,
                    labels: s.labels.clone(),
                    annotations: s.annotations.clone(),
                    value: s.value,
                    pending_since: s.active_since,
                    firing_since: s.firing_since,
                    ended_at: None,
                    last_sent,
                }
            })
            .collect()
    }
}

/// The always-firing alert that shows Alertmanager the agent is alive.
fn watchdog(started: f64) -> AlertEvent {
    let labels = BTreeMap::from([
        ("alertname".to_owned(), "Watchdog".to_owned()),
        ("severity".to_owned(), "none".to_owned()),
    ]);
    let annotations = BTreeMap::from([(
        "summary".to_owned(),
        "The proxy-quota-exporter alerting agent is alive; this alert always fires.".to_owned(),
    )]);
    AlertEvent {
        status: Status::Firing,
        labels,
        annotations,
        starts_at: UNIX_EPOCH + Duration::from_secs_f64(started.max(0.0)),
        ends_at: None,
        generator_url: "/".to_owned(),
    }
}
