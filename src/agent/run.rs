//! The agent's loop: every `evaluation_interval` it evaluates the rules against
//! the snapshots (and the store's history, for the forecast), advances the
//! alert states and hands notifications over, as Prometheus and Alertmanager
//! would together:
//!
//! - `alertmanager` receivers get every firing alert every `resend_interval`
//!   (and the `Watchdog`), and a resolved alert once, as Prometheus sends them;
//!   Alertmanager groups, inhibits and silences by itself.
//! - Other receivers get what the route tree sends them, grouped, with
//!   silenced and inhibited alerts left out ([`crate::notify::group`]).
//!
//! Alerts carry the external labels, `generatorURL` points at the front page.
//! The alert states, what receivers accepted and what waits are saved in the
//! store after every evaluation; at shutdown what is due is delivered within
//! [`SHUTDOWN_GRACE`] and the rest is saved for the next start. A reload's
//! `alerting` section replaces rules, intervals, routes and receivers and keeps
//! the alert states, the ledger and what waits.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use tokio::sync::watch;

use crate::agent::evaluate::{evaluate, Active, Input};
use crate::agent::pipeline::{Fate, Pipeline};
use crate::agent::state::{fingerprint, AlertState, States};
use crate::alerting::Alerting;
use crate::forecast::{History, NoHistory};
use crate::notify::group::{Flushed, Groups, Ledger, Notification};
use crate::notify::{
    fingerprint_u64, AlertEvent, BuildOptions, DispatchSettings, Dispatcher, Status,
};
use crate::silences::Silences;
use crate::snapshots::{ActiveAlert, AgentStatus, Snapshots};
use crate::store::{self, Store};
use crate::units::unix_now;

/// The longest the agent delivers what is due at shutdown before it exits.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How an Alertmanager receiver's notifications are keyed: one per receiver.
const ALERTMANAGER_KEY: &str = "alertmanager";

/// The receiver kind that gets alerts as Prometheus sends them.
const ALERTMANAGER: &str = "alertmanager";

/// What the agent gets from the process, beside the configuration.
#[derive(Clone)]
pub struct Context {
    pub snapshots: Arc<Snapshots>,
    pub store: Option<Arc<Store>>,
    pub silences: Arc<Silences>,
    /// `--web.external-url`, or the listen address as a URL; no trailing `/`.
    pub external_url: String,
    /// The `instance` label of the `Watchdog`: the external URL's host and port.
    pub instance: String,
    pub dispatch: DispatchSettings,
    /// Becomes true when the process shuts down.
    pub shutdown: watch::Receiver<bool>,
}

impl Context {
    /// A context for `snapshots` with no store, fresh silences, the default
    /// delivery settings and the given external URL, and never a shutdown
    /// (for tests and embedding).
    pub fn new(snapshots: Arc<Snapshots>, external_url: &str) -> Context {
        let (_, shutdown) = watch::channel(false);
        Context {
            snapshots,
            store: None,
            silences: Silences::in_memory(),
            external_url: external_url.trim_end_matches('/').to_owned(),
            instance: instance_of(external_url),
            dispatch: DispatchSettings::default(),
            shutdown,
        }
    }
}

/// The `host:port` of `url`, as Prometheus' `instance` label.
pub fn instance_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            _ => url.to_owned(),
        },
        Err(_) => url.to_owned(),
    }
}

/// The agent's state between evaluations.
struct Agent {
    section: Alerting,
    states: States,
    groups: Groups,
    /// Per Alertmanager receiver: resolved alerts it heard fire and has not
    /// yet accepted the resolve of.
    resolved_for_alertmanager: HashMap<String, BTreeMap<u64, AlertEvent>>,
    /// When the agent started: the `Watchdog`'s `startsAt`.
    started: f64,
}

/// The agent of one `alerting` section, running.
struct Running {
    agent: Agent,
    dispatcher: Dispatcher,
    ticker: tokio::time::Interval,
}

/// Runs the agent for the configuration's `alerting` section, now and after
/// every reload (`alerting` announces each new section; `None` runs no agent),
/// until the context's shutdown, when it delivers what is due within
/// [`SHUTDOWN_GRACE`] and saves the rest.
pub async fn run(mut alerting: watch::Receiver<Option<Alerting>>, context: Context) {
    let mut shutdown = context.shutdown.clone();
    let mut running: Option<Running> = None;
    let mut reloads_possible = true;
    loop {
        let section = alerting.borrow_and_update().clone();
        running = configure(running.take(), section, &context).await;
        match &running {
            None => context.snapshots.set_agent_status(AgentStatus::default()),
            Some(_) if !context.snapshots.view().agent.running => {
                context.snapshots.set_agent_status(AgentStatus {
                    running: true,
                    ..AgentStatus::default()
                })
            }
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
                        r.evaluate(&context).await;
                    }
                }
                changed = reload => match changed {
                    Ok(()) => break,
                    // The supervisor is gone: no more reloads.
                    Err(_) => reloads_possible = false,
                },
                () = stopping(&mut shutdown) => {
                    if let Some(r) = running.take() {
                        r.stop(&context).await;
                    }
                    return;
                }
            }
        }
    }
}

/// Returns once the process shuts down (or the sender is gone).
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|down| *down).await.map(|_| ());
}

/// The agent for `section`: `previous` as it was when the section is the same;
/// with its states, groups, ledger and waiting notifications and the new
/// settings and receivers when it changed; resumed from the store when there
/// was none.
async fn configure(
    previous: Option<Running>,
    section: Option<Alerting>,
    context: &Context,
) -> Option<Running> {
    if previous.as_ref().map(|r| &r.agent.section) == section.as_ref() {
        return previous;
    }
    let Some(section) = section else {
        if let Some(previous) = previous {
            previous.stop(context).await;
        }
        return None;
    };
    let (agent, ledger, pending) = match previous {
        Some(previous) => {
            let ledger = previous.dispatcher.ledger().clone();
            let pending = previous.dispatcher.pending();
            let mut agent = previous.agent;
            agent.section = section.clone();
            (agent, ledger, pending)
        }
        None => {
            let (saved, notifications) = match &context.store {
                Some(s) => (
                    s.blocking(|s| s.load_alert_states())
                        .await
                        .unwrap_or_default(),
                    s.blocking(|s| s.load_notifications())
                        .await
                        .unwrap_or_default(),
                ),
                None => Default::default(),
            };
            (
                Agent::resume(section.clone(), saved),
                notifications.ledger,
                notifications.pending,
            )
        }
    };
    let mut ticker = tokio::time::interval(section.evaluation_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    Some(Running {
        dispatcher: receivers(&section, context, ledger, pending),
        agent,
        ticker,
    })
}

/// The dispatcher of a section's receivers, with what was accepted and what
/// waits; a receiver that cannot be built is logged and left out.
fn receivers(
    section: &Alerting,
    context: &Context,
    ledger: Ledger,
    pending: Vec<Notification>,
) -> Dispatcher {
    let options = BuildOptions {
        resend_interval: section.resend_interval,
        ..BuildOptions::default()
    };
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
    Dispatcher::restore(receivers, context.dispatch.clone(), ledger, pending)
}

impl Running {
    /// One evaluation: the states advanced, notifications handed over, the
    /// state saved and the counts published.
    async fn evaluate(&mut self, context: &Context) {
        // Until every target has finished its first poll an alert could look
        // resolved, and a resumed `for` window would start over.
        let view = context.snapshots.view();
        if !view.complete() {
            return;
        }
        let snapshots = view.snapshots;
        let rules = self.agent.section.rules.clone();
        let base = self.agent.section.runbook_base_url.clone();
        let history = context.store.clone();
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
        let statuses = self.agent.evaluate(active, now, &self.dispatcher, context);
        context.snapshots.set_agent_status(AgentStatus {
            alerts: self.agent.status(&statuses),
            notifications: self.dispatcher.counts(),
            pending: self.dispatcher.pending_counts(),
            active: statuses,
            running: true,
        });
        self.save(context).await;
    }

    /// Saves the alert states, the ledger and what waits.
    async fn save(&self, context: &Context) {
        let Some(storage) = &context.store else {
            return;
        };
        let states = self.agent.saved();
        let ledger = self.dispatcher.ledger().clone();
        let pending = self.dispatcher.pending();
        let saving = Arc::clone(storage);
        let outcome = tokio::task::spawn_blocking(move || {
            saving.save_alert_states(&states)?;
            saving.save_notifications(&ledger, &pending)
        })
        .await;
        if !matches!(outcome, Ok(Ok(()))) {
            tracing::warn!("saving the alert state failed; it is kept in memory");
        }
        context.snapshots.set_storage_status(storage.status());
    }

    /// At shutdown: delivers what is due within [`SHUTDOWN_GRACE`], saves the rest.
    async fn stop(self, context: &Context) {
        if !self.dispatcher.drain(SHUTDOWN_GRACE).await {
            let left: u64 = self
                .dispatcher
                .pending_counts()
                .iter()
                .map(|(_, n)| n)
                .sum();
            tracing::warn!(
                notifications = left,
                "notifications not delivered at shutdown; kept for the next start"
            );
        }
        self.save(context).await;
    }
}

impl Agent {
    /// The agent as the store left it: `for` timers continue.
    fn resume(section: Alerting, saved: Vec<store::StoredAlert>) -> Self {
        let states = saved
            .into_iter()
            .filter(|s| !s.resolved())
            .map(|s| AlertState {
                labels: s.labels,
                annotations: s.annotations,
                value: s.value,
                active_since: s.active_since,
                firing_since: s.firing_since,
            })
            .collect::<Vec<_>>();
        Agent {
            section,
            states: States::resume(states),
            groups: Groups::default(),
            resolved_for_alertmanager: HashMap::new(),
            started: unix_now(),
        }
    }

    /// Advances the states, hands what is due to each receiver, and returns
    /// every pending and firing alert as the front page and the API show it.
    fn evaluate(
        &mut self,
        active: Vec<Active>,
        now: f64,
        dispatcher: &Dispatcher,
        context: &Context,
    ) -> Vec<ActiveAlert> {
        let rules = &self.section.rules;
        let step = self.states.step(active, now, |a| {
            rules
                .variant(a.alert.name, a.severity)
                .map_or(Duration::ZERO, |v| v.for_)
        });
        let firing: Vec<AlertEvent> = step
            .firing
            .iter()
            .map(|e| self.outgoing(e, context))
            .collect();
        let resolved: Vec<AlertEvent> = step
            .resolved
            .iter()
            .map(|e| self.outgoing(e, context))
            .collect();

        let kinds: BTreeMap<String, &'static str> = dispatcher
            .receivers()
            .map(|(n, k)| (n.to_owned(), k))
            .collect();
        let fates = self.hand_over(&firing, &resolved, &kinds, now, dispatcher, context);
        shown(&self.states, &step.firing, &fates, &kinds)
    }

    /// Hands the alerts to the receivers: to direct ones muted alerts left
    /// out, routed and grouped; to Alertmanager ones everything, as Prometheus
    /// sends it. Returns each firing alert's fate.
    fn hand_over(
        &mut self,
        firing: &[AlertEvent],
        resolved: &[AlertEvent],
        kinds: &BTreeMap<String, &'static str>,
        now: f64,
        dispatcher: &Dispatcher,
        context: &Context,
    ) -> Vec<Fate> {
        let direct = |name: &str| kinds.get(name).is_some_and(|k| *k != ALERTMANAGER);
        let (flushed, fates) = {
            let ledger = dispatcher.ledger();
            let pipeline = Pipeline {
                section: &self.section,
                silences: &context.silences,
                direct: &direct,
            };
            pipeline.run(&mut self.groups, &ledger, firing, resolved, now)
        };
        for flushed in flushed {
            match flushed {
                Flushed::Notify(notification) => {
                    dispatcher.enqueue(notification);
                }
                Flushed::Quiet { receiver, key } => dispatcher.withdraw(&receiver, &key),
            }
        }
        // Alertmanager receivers: everything, as Prometheus sends it.
        for (receiver, kind) in kinds {
            if *kind == ALERTMANAGER {
                let waiting = self
                    .resolved_for_alertmanager
                    .entry(receiver.clone())
                    .or_default();
                let due = AlertmanagerDue {
                    section: &self.section,
                    started: self.started,
                    context,
                };
                if let Some(n) =
                    due.notification(receiver, waiting, firing, resolved, now, dispatcher)
                {
                    dispatcher.enqueue(n);
                }
            }
        }

        fates
    }

    /// An alert as it leaves the agent: with the external labels (an alert's
    /// own label wins, as in Prometheus) and a link to the front page.
    fn outgoing(&self, event: &AlertEvent, context: &Context) -> AlertEvent {
        let mut event = event.clone();
        for (name, value) in &self.section.external_labels {
            event
                .labels
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
        event.generator_url = format!(
            "{}/#alert-{}",
            context.external_url,
            fingerprint(&event.labels)
        );
        event
    }

    /// How many alerts are pending, firing and suppressed, by alert name and
    /// severity.
    fn status(&self, shown: &[ActiveAlert]) -> Vec<(String, String, &'static str, u64)> {
        let mut counts = BTreeMap::<(String, String, &'static str), u64>::new();
        for a in shown {
            let name = a.labels.get("alertname").cloned().unwrap_or_default();
            let severity = a.labels.get("severity").cloned().unwrap_or_default();
            *counts
                .entry((name.clone(), severity.clone(), a.state))
                .or_default() += 1;
            if a.suppressed() {
                *counts.entry((name, severity, "suppressed")).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .map(|((n, s, st), c)| (n, s, st, c))
            .collect()
    }

    /// The states as the store keeps them.
    fn saved(&self) -> Vec<store::StoredAlert> {
        self.states
            .all()
            .map(|s| store::StoredAlert {
                alertname: s.labels.get("alertname").cloned().unwrap_or_default(),
                fingerprint: fingerprint(&s.labels),
                labels: s.labels.clone(),
                annotations: s.annotations.clone(),
                value: s.value,
                active_since: s.active_since,
                firing_since: s.firing_since,
                ended_at: None,
                last_sent: Default::default(),
            })
            .collect()
    }
}

/// What decides an Alertmanager receiver's due alerts.
struct AlertmanagerDue<'a> {
    section: &'a Alerting,
    started: f64,
    context: &'a Context,
}

impl AlertmanagerDue<'_> {
    /// What an Alertmanager receiver is due: firing alerts it has not accepted
    /// within `resend_interval` (new ones at once), resolved alerts it heard
    /// fire, and the `Watchdog`; `None` when nothing is due.
    fn notification(
        &self,
        receiver: &str,
        waiting: &mut BTreeMap<u64, AlertEvent>,
        firing: &[AlertEvent],
        resolved: &[AlertEvent],
        now: f64,
        dispatcher: &Dispatcher,
    ) -> Option<Notification> {
        let context = self.context;
        let resend = self.section.resend_interval.as_secs_f64();
        let ledger = dispatcher.ledger();
        let entry = ledger.get(receiver, ALERTMANAGER_KEY);
        let heard = |fp: &u64| entry.is_some_and(|e| e.firing.contains_key(fp));
        // A resolve is kept until the receiver accepted it.
        waiting.retain(|fp, _| heard(fp));
        for event in resolved {
            let fp = fingerprint_u64(&event.labels);
            if heard(&fp) {
                waiting.insert(fp, event.clone());
            }
        }
        let due = |fp: &u64| {
            entry
                .and_then(|e| e.firing.get(fp))
                .is_none_or(|at| now - at >= resend)
        };
        let mut watchdog = watchdog(
            self.started,
            &self.section.external_labels,
            &context.instance,
        );
        watchdog.generator_url = format!("{}/", context.external_url);
        let mut alerts: Vec<AlertEvent> = firing
            .iter()
            .chain(std::iter::once(&watchdog))
            .filter(|e| due(&fingerprint_u64(&e.labels)))
            .cloned()
            .collect();
        if alerts.is_empty() && waiting.is_empty() {
            return None;
        }
        let firing_fps = alerts.iter().map(|e| fingerprint_u64(&e.labels)).collect();
        let resolved_fps = waiting.keys().copied().collect();
        alerts.extend(waiting.values().cloned());
        Some(Notification {
            receiver: receiver.to_owned(),
            key: ALERTMANAGER_KEY.to_owned(),
            group_labels: BTreeMap::new(),
            alerts,
            firing: firing_fps,
            resolved: resolved_fps,
            partial: true,
            created: now,
        })
    }
}

/// The always-firing alert that shows Alertmanager the agent is alive: one
/// per replica, told apart by `instance` and the external labels.
fn watchdog(
    started: f64,
    external_labels: &BTreeMap<String, String>,
    instance: &str,
) -> AlertEvent {
    let mut labels = external_labels.clone();
    labels.insert("alertname".to_owned(), "Watchdog".to_owned());
    labels.insert("severity".to_owned(), "none".to_owned());
    labels.insert("instance".to_owned(), instance.to_owned());
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
        generator_url: String::new(),
    }
}

/// Every pending and firing alert as the front page and the API show it
/// (firing and critical first, then the oldest), with the fate of the firing ones.
fn shown(
    states: &States,
    firing: &[AlertEvent],
    fates: &[Fate],
    kinds: &BTreeMap<String, &'static str>,
) -> Vec<ActiveAlert> {
    // What the front page and the API show.
    let mut shown = Vec::new();
    let by_fp: HashMap<String, usize> = firing
        .iter()
        .enumerate()
        .map(|(i, e)| (fingerprint(&e.labels), i))
        .collect();
    for s in states.all() {
        let fp = fingerprint(&s.labels);
        let (silenced_by, inhibited_by, receivers) = match by_fp.get(&fp) {
            Some(&i) => {
                let fate = &fates[i];
                let receivers: BTreeSet<String> = fate
                    .routed_to
                    .iter()
                    .cloned()
                    .chain(
                        kinds
                            .iter()
                            .filter(|(_, k)| **k == ALERTMANAGER)
                            .map(|(n, _)| n.clone()),
                    )
                    .collect();
                (
                    fate.silenced_by.clone(),
                    fate.inhibited_by.clone(),
                    receivers.into_iter().collect(),
                )
            }
            None => Default::default(),
        };
        shown.push(ActiveAlert {
            fingerprint: fp,
            labels: s.labels.clone(),
            annotations: s.annotations.clone(),
            state: if s.firing_since.is_some() {
                "firing"
            } else {
                "pending"
            },
            since: s.firing_since.unwrap_or(s.active_since),
            summary: s.annotations.get("summary").cloned().unwrap_or_default(),
            silenced_by,
            inhibited_by,
            receivers,
        });
    }
    let rank = |a: &ActiveAlert| {
        (
            a.state != "firing",
            a.labels.get("severity").map(String::as_str) != Some("critical"),
        )
    };
    shown.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.since.total_cmp(&b.since)));
    shown
}
