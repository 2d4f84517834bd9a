//! The agent's loop: every `evaluation_interval` it evaluates the rules against
//! the snapshot store (and the stored history, for the forecast), advances the
//! alert states, hands notifications to the receivers, saves the state, and
//! publishes its counts for `/metrics`. Alertmanager receivers get every firing
//! alert (and the `Watchdog`) every `resend_interval`; other receivers get an
//! alert when it fires, every `repeat_interval` while it fires, and when it
//! resolves.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::agent::evaluate::{evaluate, Active, Input};
use crate::agent::event::{AlertEvent, Status};
use crate::agent::rules::RuleSet;
use crate::agent::state::{fingerprint, AlertState, States};
use crate::alerting::Alerting;
use crate::forecast::{History, NoHistory};
use crate::notify::{BuildOptions, DispatchSettings, Dispatcher};
use crate::storage::{self, Storage};
use crate::store::Store;
use crate::units::unix_now;

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

/// Starts the agent for a configuration's `alerting` section: builds the
/// receivers (a receiver that cannot be built is logged and left out) and
/// spawns the loop. `None` when nothing is configured to notify.
pub fn start(
    alerting: Alerting,
    store: Arc<Store>,
    storage: Option<Arc<Storage>>,
) -> Option<tokio::task::JoinHandle<()>> {
    let options = BuildOptions::default();
    let receivers: Vec<_> = alerting
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
    let dispatcher = Arc::new(Dispatcher::new(receivers, DispatchSettings::default()));
    let settings = Settings {
        evaluation_interval: alerting.evaluation_interval,
        resend_interval: alerting.resend_interval,
        repeat_interval: alerting.repeat_interval,
        rules: alerting.rules,
        runbook_base_url: crate::alerts::DEFAULT_RUNBOOK_BASE_URL.to_owned(),
    };
    Some(tokio::spawn(run(settings, store, storage, dispatcher)))
}

/// Runs the agent until the task is aborted.
pub async fn run(
    settings: Settings,
    store: Arc<Store>,
    storage: Option<Arc<Storage>>,
    dispatcher: Arc<Dispatcher>,
) {
    let saved = match &storage {
        Some(s) => s
            .blocking(|s| s.load_alert_states())
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let mut agent = Agent::resume(settings, saved);
    let mut ticker = tokio::time::interval(agent.settings.evaluation_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        // Until every target has finished its first poll an alert could look
        // resolved, and a resumed `for` window would start over.
        let view = store.view();
        if !view.complete() {
            continue;
        }
        let snapshots = view.snapshots;
        let rules = agent.settings.rules.clone();
        let base = agent.settings.runbook_base_url.clone();
        let history = storage.clone();
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
            continue;
        };
        agent.evaluate(active, now, &dispatcher);
        store.set_agent_status(agent.status(), dispatcher.counts());
        if let Some(storage) = &storage {
            let saved = agent.saved();
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
            for (receiver, at) in &s.last_sent {
                sent.insert((s.fingerprint.clone(), receiver.clone()), *at);
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

    /// The states as the store keeps them.
    fn saved(&self) -> Vec<storage::AlertState> {
        self.states
            .all()
            .map(|s| {
                let fp = fingerprint(&s.labels);
                let last_sent = self
                    .sent
                    .iter()
                    .filter(|((f, _), _)| *f == fp)
                    .map(|((_, r), at)| (r.clone(), *at))
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
