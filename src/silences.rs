//! Silences, as Alertmanager keeps them: a set of label matchers and a time
//! window; while a silence is active, the alerts its matchers all match are
//! muted. Created, updated and expired through the server's subset of
//! Alertmanager's API v2 (so `amtool` works against the exporter), read by
//! the alerting agent ([`Silences::mutes`]), the front page and `/metrics`.
//!
//! The rules are Alertmanager's (`silence/silence.go`, `api/v2/api.go`): the
//! states (pending before `startsAt`, active until `endsAt`, then expired),
//! the validation, when a change updates a silence in place and when it
//! expires it and creates a new one with a new ID, and how long an expired
//! silence is kept ([`RETENTION`], Alertmanager's `--data.retention`).
//!
//! [`Silences`] is shared (`Arc`) and internally synchronised. Readers never
//! wait for the disk: writers are serialised among themselves, save to the
//! store ([`SilenceStore`], the embedded SQLite store implements it) and only
//! then swap the change in. Without a store, silences live in memory.
//! Methods that write ([`Silences::set`], [`Silences::expire`],
//! [`Silences::gc`]) block on the store: async code calls them off the
//! runtime's workers (`spawn_blocking`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::notify::matchers::Matcher;

/// How long an expired silence is kept (Alertmanager's default
/// `--data.retention=120h`), counted from its end.
pub const RETENTION: Duration = Duration::from_secs(120 * 3600);
/// The most silences held, expired ones included: a client cannot fill the
/// memory and the store.
pub const MAX_SILENCES: usize = 10_000;
/// The longest [`Silences::maintain`] sleeps without looking again (a clock
/// that jumped, a store that failed).
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60);

/// A silence's state at a moment, as Alertmanager computes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Between `startsAt` and `endsAt` (both included): it mutes.
    Active,
    /// Before `startsAt`.
    Pending,
    /// After `endsAt`.
    Expired,
}

impl State {
    pub const ALL: [State; 3] = [State::Active, State::Pending, State::Expired];

    /// The name Alertmanager's API and the metric use.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Pending => "pending",
            State::Expired => "expired",
        }
    }
}

/// One silence. Times are unix seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    /// A random UUID (version 4).
    pub id: String,
    /// Every one must match an alert's labels for the silence to mute it.
    pub matchers: Vec<Matcher>,
    pub starts_at: f64,
    pub ends_at: f64,
    pub created_by: String,
    pub comment: String,
    /// When it was created or last changed.
    pub updated_at: f64,
    /// Free-form annotations (Alertmanager 0.28's `--annotation`).
    pub annotations: BTreeMap<String, String>,
}

impl Silence {
    /// Its state at `now` (Alertmanager's `getState`).
    pub fn state(&self, now: f64) -> State {
        if now < self.starts_at {
            State::Pending
        } else if now > self.ends_at {
            State::Expired
        } else {
            State::Active
        }
    }

    /// Whether it is active at `now` and every matcher matches `labels`.
    pub fn mutes(&self, labels: &BTreeMap<String, String>, now: f64) -> bool {
        self.state(now) == State::Active && self.matchers.iter().all(|m| m.matches(labels))
    }

    /// The matchers as people read them: `alertname="X", target=~"lite-.*"`.
    pub fn matchers_text(&self) -> String {
        let mut text = String::new();
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                text.push_str(", ");
            }
            let _ = write!(text, "{m}");
        }
        text
    }
}

/// A silence as a client posts it: new without `id`, a change of the silence
/// `id` with it.
#[derive(Debug, Clone)]
pub struct Posted {
    pub id: Option<String>,
    pub matchers: Vec<Matcher>,
    /// `None`: now.
    pub starts_at: Option<f64>,
    pub ends_at: f64,
    pub created_by: String,
    pub comment: String,
    pub annotations: BTreeMap<String, String>,
}

/// Why a silence was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SilenceError {
    /// A bad silence (HTTP 400); the reason is Alertmanager's wording.
    #[error("{0}")]
    Invalid(String),
    /// No silence has this ID (HTTP 404).
    #[error("silence not found")]
    NotFound,
    /// The store could not save it (HTTP 500); nothing changed.
    #[error("the silence could not be saved: {0}")]
    Store(String),
}

/// Where silences outlive a restart (the embedded store implements it).
/// Every method blocks.
pub trait SilenceStore: Send + Sync {
    /// Every stored silence.
    fn load_silences(&self) -> Result<Vec<Silence>, String>;
    /// Inserts or replaces `silences` (by ID), all or none.
    fn save_silences(&self, silences: &[Silence]) -> Result<(), String>;
    /// Deletes the silences with these IDs.
    fn delete_silences(&self, ids: &[String]) -> Result<(), String>;
}

/// Every silence; see the module documentation.
pub struct Silences {
    held: RwLock<BTreeMap<String, Silence>>,
    /// Held by a writer from reading what it changes until the change is
    /// saved and swapped in.
    writer: Mutex<()>,
    store: Option<Arc<dyn SilenceStore>>,
    changes: watch::Sender<u64>,
}

impl Silences {
    /// Silences kept in `store`, loaded from it now (blocks); in memory only
    /// without one (logged). A silence the store holds that this version cannot
    /// read is logged and left out.
    pub fn new(store: Option<Arc<dyn SilenceStore>>) -> Arc<Silences> {
        let mut held = BTreeMap::new();
        match &store {
            Some(s) => match s.load_silences() {
                Ok(silences) => {
                    tracing::debug!(count = silences.len(), "silences loaded from the store");
                    held.extend(silences.into_iter().map(|s| (s.id.clone(), s)));
                }
                Err(e) => {
                    tracing::error!(error = %e, "the stored silences could not be read: starting without them");
                }
            },
            None => tracing::info!(
                "no store: silences live in memory and are lost when the exporter stops"
            ),
        }
        Arc::new(Silences {
            held: RwLock::new(held),
            writer: Mutex::new(()),
            store,
            changes: watch::Sender::new(0),
        })
    }

    /// Silences in memory only.
    pub fn in_memory() -> Arc<Silences> {
        Arc::new(Silences {
            held: RwLock::new(BTreeMap::new()),
            writer: Mutex::new(()),
            store: None,
            changes: watch::Sender::new(0),
        })
    }

    /// Whether silences are kept in a store (and outlive a restart).
    pub fn persistent(&self) -> bool {
        self.store.is_some()
    }

    /// A receiver that is told of every change (a silence created, updated,
    /// expired or dropped). A silence that becomes active or expires with
    /// time is no change: read the state at the moment you need it.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Creates a silence or changes one, as Alertmanager's `POST
    /// /api/v2/silences`: returns the silence's ID, a new one when the change
    /// could not be made in place (then the old silence, unless already
    /// expired, is expired). Blocks on the store.
    ///
    /// In place: the same matchers (in the same order), and for an active
    /// silence the same start (to the second) and an end not in the past, for
    /// a pending one a start not in the past. An expired silence is never
    /// changed. A new silence that would start in the past starts now.
    pub fn set(&self, posted: Posted, now: f64) -> Result<String, SilenceError> {
        let starts_at = posted.starts_at.unwrap_or(now);
        // The API's own checks come first, in Alertmanager's words.
        if starts_at >= posted.ends_at {
            return Err(invalid("start time must be before end time"));
        }
        if posted.ends_at < now {
            return Err(invalid("end time can't be in the past"));
        }
        validate(&posted.matchers)?;
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let previous = match posted.id.as_deref() {
            Some(id) => Some(self.get(id).ok_or(SilenceError::NotFound)?),
            None => None,
        };
        let mut silence = Silence {
            id: String::new(),
            matchers: posted.matchers,
            starts_at,
            ends_at: posted.ends_at,
            created_by: posted.created_by,
            comment: posted.comment,
            updated_at: now,
            annotations: posted.annotations,
        };
        if let Some(previous) = &previous {
            if can_update(previous, &silence, now) {
                silence.id = previous.id.clone();
                self.commit(vec![silence])?;
                return Ok(previous.id.clone());
            }
        }
        if self.read().len() >= MAX_SILENCES {
            return Err(invalid(&format!(
                "exceeded maximum number of silences: {MAX_SILENCES} (expired ones are kept {})",
                humantime::format_duration(RETENTION)
            )));
        }
        silence.id = new_id();
        silence.starts_at = silence.starts_at.max(now);
        let id = silence.id.clone();
        let mut changed = vec![silence];
        if let Some(previous) = previous {
            if previous.state(now) != State::Expired {
                changed.push(expired(previous, now));
            }
        }
        self.commit(changed)?;
        Ok(id)
    }

    /// Expires the silence `id` now (Alertmanager's `DELETE
    /// /api/v2/silence/{id}`): an active one ends now, a pending one starts
    /// and ends now; an expired one stays as it is. Blocks on the store.
    pub fn expire(&self, id: &str, now: f64) -> Result<(), SilenceError> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let silence = self.get(id).ok_or(SilenceError::NotFound)?;
        if silence.state(now) == State::Expired {
            return Ok(());
        }
        self.commit(vec![expired(silence, now)])
    }

    /// The silence `id`.
    pub fn get(&self, id: &str) -> Option<Silence> {
        self.read().get(id).cloned()
    }

    /// Every silence, in Alertmanager's order: active ones first (the soonest
    /// to end first), then pending ones (the soonest to start first), then
    /// expired ones (the latest to end first).
    pub fn list(&self, now: f64) -> Vec<Silence> {
        let mut silences: Vec<Silence> = self.read().values().cloned().collect();
        silences.sort_by(|a, b| {
            let (sa, sb) = (a.state(now), b.state(now));
            sa.cmp(&sb).then_with(|| match sa {
                State::Active => a.ends_at.total_cmp(&b.ends_at),
                State::Pending => a.starts_at.total_cmp(&b.starts_at),
                State::Expired => b.ends_at.total_cmp(&a.ends_at),
            })
        });
        silences
    }

    /// The IDs of the silences active at `now` that mute an alert with
    /// `labels`, in ID order (empty: not silenced).
    pub fn mutes(&self, labels: &BTreeMap<String, String>, now: f64) -> Vec<String> {
        self.read()
            .values()
            .filter(|s| s.mutes(labels, now))
            .map(|s| s.id.clone())
            .collect()
    }

    /// How many silences are (active, pending, expired) at `now`.
    pub fn counts(&self, now: f64) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for s in self.read().values() {
            match s.state(now) {
                State::Active => counts.0 += 1,
                State::Pending => counts.1 += 1,
                State::Expired => counts.2 += 1,
            }
        }
        counts
    }

    /// Drops the silences that expired longer than [`RETENTION`] ago, from
    /// memory and the store; returns how many. Blocks on the store.
    pub fn gc(&self, now: f64) -> usize {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let old: Vec<String> = self
            .read()
            .values()
            .filter(|s| gone(s, now))
            .map(|s| s.id.clone())
            .collect();
        if old.is_empty() {
            return 0;
        }
        if let Some(store) = &self.store {
            if let Err(e) = store.delete_silences(&old) {
                tracing::warn!(error = %e, "expired silences could not be deleted from the store; trying again later");
                return 0;
            }
        }
        let mut held = self.write();
        for id in &old {
            held.remove(id);
        }
        drop(held);
        self.changes
            .send_modify(|version| *version = version.wrapping_add(1));
        old.len()
    }

    /// The next moment after `now` at which a silence changes state or is
    /// due to be dropped.
    pub fn next_change(&self, now: f64) -> Option<f64> {
        let retention = RETENTION.as_secs_f64();
        self.read()
            .values()
            .flat_map(|s| [s.starts_at, s.ends_at, s.ends_at + retention])
            .filter(|at| *at >= now)
            .min_by(f64::total_cmp)
    }

    /// Keeps the silences up to date until the task is aborted: drops those
    /// past their retention, and hands `publish` the (active, pending,
    /// expired) counts whenever a silence changes or changes state.
    pub async fn maintain(self: Arc<Self>, publish: impl Fn((usize, usize, usize)) + Send) {
        let mut changes = self.subscribe();
        loop {
            changes.borrow_and_update();
            let now = crate::units::unix_now();
            let garbage = self.read().values().any(|s| gone(s, now));
            if garbage {
                let silences = Arc::clone(&self);
                let _ = tokio::task::spawn_blocking(move || silences.gc(now)).await;
            }
            publish(self.counts(now));
            // A silence expires just after its end.
            let wait = self
                .next_change(now)
                .map_or(MAINTENANCE_INTERVAL, |at| {
                    Duration::from_secs_f64((at - now).max(0.0) + 0.001)
                })
                .min(MAINTENANCE_INTERVAL);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = changes.changed() => {}
            }
        }
    }

    /// Saves `changed` and swaps it in. The caller holds the writer lock.
    fn commit(&self, changed: Vec<Silence>) -> Result<(), SilenceError> {
        if let Some(store) = &self.store {
            store.save_silences(&changed).map_err(SilenceError::Store)?;
        }
        let mut held = self.write();
        for silence in changed {
            tracing::info!(id = %silence.id, matchers = %silence.matchers_text(), starts_at = silence.starts_at, ends_at = silence.ends_at, created_by = %silence.created_by, "silence saved");
            held.insert(silence.id.clone(), silence);
        }
        drop(held);
        self.changes
            .send_modify(|version| *version = version.wrapping_add(1));
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Silence>> {
        self.held.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Silence>> {
        self.held.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn invalid(reason: &str) -> SilenceError {
    SilenceError::Invalid(reason.to_owned())
}

/// Alertmanager's `validateSilence` for one matcher set: at least one
/// matcher, and not only matchers that match the empty string (such a
/// silence would mute every alert without the label). As Alertmanager, only
/// `=` and `=~` count as matching the empty string.
fn validate(matchers: &[Matcher]) -> Result<(), SilenceError> {
    if matchers.is_empty() {
        return Err(invalid("invalid silence: at least one matcher required"));
    }
    let nothing = BTreeMap::new();
    if matchers
        .iter()
        .all(|m| m.op().is_equal() && m.matches(&nothing))
    {
        return Err(invalid(
            "invalid silence: at least one matcher must not match the empty string",
        ));
    }
    Ok(())
}

/// Whether `previous` can become `next` without rewriting history
/// (Alertmanager's `canUpdate`).
fn can_update(previous: &Silence, next: &Silence, now: f64) -> bool {
    // The same matchers in the same order: names, operators and values.
    if previous.matchers != next.matchers {
        return false;
    }
    match previous.state(now) {
        State::Active => {
            previous.starts_at.floor() == next.starts_at.floor() && next.ends_at >= now
        }
        State::Pending => next.starts_at >= now,
        State::Expired => false,
    }
}

/// `silence` expired at `now`.
fn expired(mut silence: Silence, now: f64) -> Silence {
    if silence.state(now) == State::Pending {
        silence.starts_at = now;
    }
    silence.ends_at = now;
    silence.updated_at = now;
    silence
}

/// Whether `silence` is past its retention at `now`.
fn gone(silence: &Silence, now: f64) -> bool {
    silence.ends_at + RETENTION.as_secs_f64() <= now
}

/// A random UUID, version 4 (RFC 9562), as Alertmanager gives its silences.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    for b in &mut bytes {
        *b = fastrand::u8(..);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A matcher in Alertmanager's API form, as the API and the store write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiMatcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    /// Absent: `true` (the API's default).
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl ApiMatcher {
    pub fn of(m: &Matcher) -> ApiMatcher {
        ApiMatcher {
            name: m.name().to_owned(),
            value: m.value().to_owned(),
            is_regex: m.op().is_regex(),
            is_equal: m.op().is_equal(),
        }
    }

    /// The matcher; an invalid label name or regular expression is refused
    /// with the reason.
    pub fn matcher(&self) -> Result<Matcher, String> {
        Matcher::from_api(&self.name, &self.value, self.is_regex, self.is_equal)
    }
}

/// Matchers as the JSON array the store keeps.
pub fn matchers_to_json(matchers: &[Matcher]) -> String {
    let api: Vec<ApiMatcher> = matchers.iter().map(ApiMatcher::of).collect();
    serde_json::to_string(&api).unwrap_or_else(|_| "[]".to_owned())
}

/// Matchers from the JSON array the store keeps.
pub fn matchers_from_json(json: &str) -> Result<Vec<Matcher>, String> {
    let api: Vec<ApiMatcher> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    api.iter().map(ApiMatcher::matcher).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn posted(matchers: &[&str], starts_at: Option<f64>, ends_at: f64) -> Posted {
        Posted {
            id: None,
            matchers: matchers
                .iter()
                .map(|m| Matcher::parse(m).unwrap())
                .collect(),
            starts_at,
            ends_at,
            created_by: "tester".into(),
            comment: "maintenance".into(),
            annotations: BTreeMap::new(),
        }
    }

    const NOW: f64 = 1_700_000_000.0;

    #[test]
    fn ids_are_uuid_v4() {
        let id = new_id();
        assert_eq!(id.len(), 36, "{id}");
        let parts: Vec<_> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{id}");
        assert_eq!(&id[14..15], "4", "{id}");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(new_id(), id);
    }

    #[test]
    fn states_follow_the_window() {
        let s = Silences::in_memory();
        let id = s
            .set(
                posted(&["alertname=\"A\""], Some(NOW + 10.0), NOW + 20.0),
                NOW,
            )
            .unwrap();
        let silence = s.get(&id).unwrap();
        assert_eq!(silence.state(NOW), State::Pending);
        assert_eq!(silence.state(NOW + 10.0), State::Active);
        assert_eq!(silence.state(NOW + 20.0), State::Active);
        assert_eq!(silence.state(NOW + 20.001), State::Expired);
        assert_eq!(s.counts(NOW), (0, 1, 0));
        assert_eq!(s.counts(NOW + 15.0), (1, 0, 0));
        assert_eq!(s.counts(NOW + 25.0), (0, 0, 1));
        assert_eq!(s.next_change(NOW), Some(NOW + 10.0));
        assert_eq!(s.next_change(NOW + 11.0), Some(NOW + 20.0));
    }

    #[test]
    fn an_active_silence_mutes_what_all_its_matchers_match() {
        let s = Silences::in_memory();
        let id = s
            .set(
                posted(
                    &["alertname=\"A\"", "target=~\"lite-.*\""],
                    None,
                    NOW + 60.0,
                ),
                NOW,
            )
            .unwrap();
        let hit = labels(&[("alertname", "A"), ("target", "lite-1")]);
        let miss = labels(&[("alertname", "A"), ("target", "best")]);
        assert_eq!(s.mutes(&hit, NOW + 1.0), std::slice::from_ref(&id));
        assert!(s.mutes(&miss, NOW + 1.0).is_empty());
        assert!(s.mutes(&hit, NOW + 61.0).is_empty(), "expired");
        s.expire(&id, NOW + 2.0).unwrap();
        assert!(s.mutes(&hit, NOW + 3.0).is_empty(), "expired by hand");
        assert_eq!(s.get(&id).unwrap().ends_at, NOW + 2.0);
    }

    #[test]
    fn validation_is_alertmanagers() {
        let s = Silences::in_memory();
        let refused = |p: Posted| s.set(p, NOW).unwrap_err().to_string();
        assert_eq!(
            refused(posted(&[], None, NOW + 60.0)),
            "invalid silence: at least one matcher required"
        );
        assert_eq!(
            refused(posted(&["foo=\"\"", "bar=~\".*\""], None, NOW + 60.0)),
            "invalid silence: at least one matcher must not match the empty string"
        );
        assert_eq!(
            refused(posted(&["a=\"b\""], Some(NOW + 60.0), NOW + 60.0)),
            "start time must be before end time"
        );
        assert_eq!(
            refused(posted(&["a=\"b\""], Some(NOW - 120.0), NOW - 60.0)),
            "end time can't be in the past"
        );
        // A negative matcher alone is taken, as Alertmanager takes it.
        s.set(posted(&["foo!=\"bar\""], None, NOW + 60.0), NOW)
            .unwrap();
        // A start in the past becomes now.
        let id = s
            .set(posted(&["a=\"b\""], Some(NOW - 60.0), NOW + 60.0), NOW)
            .unwrap();
        assert_eq!(s.get(&id).unwrap().starts_at, NOW);
    }

    #[test]
    fn updates_in_place_or_replace_as_alertmanager() {
        let s = Silences::in_memory();
        let id = s.set(posted(&["a=\"b\""], None, NOW + 60.0), NOW).unwrap();
        // An active silence's end and comment change in place.
        let mut change = posted(&["a=\"b\""], Some(NOW), NOW + 120.0);
        change.id = Some(id.clone());
        change.comment = "longer".into();
        assert_eq!(s.set(change, NOW + 1.0).unwrap(), id);
        let kept = s.get(&id).unwrap();
        assert_eq!(
            (kept.ends_at, kept.comment.as_str()),
            (NOW + 120.0, "longer")
        );
        assert_eq!(kept.updated_at, NOW + 1.0);
        // Other matchers: a new silence, the old one expired.
        let mut change = posted(&["a=\"c\""], Some(NOW), NOW + 120.0);
        change.id = Some(id.clone());
        let new = s.set(change, NOW + 2.0).unwrap();
        assert_ne!(new, id);
        assert_eq!(s.get(&id).unwrap().state(NOW + 3.0), State::Expired);
        assert_eq!(s.get(&new).unwrap().state(NOW + 3.0), State::Active);
        // An unknown ID.
        let mut change = posted(&["a=\"c\""], None, NOW + 120.0);
        change.id = Some("nope".into());
        assert_eq!(s.set(change, NOW), Err(SilenceError::NotFound));
        assert_eq!(s.expire("nope", NOW), Err(SilenceError::NotFound));
        // Sorted: active (soonest end first), then expired.
        let order: Vec<_> = s.list(NOW + 3.0).into_iter().map(|s| s.id).collect();
        assert_eq!(order, [new, id]);
    }

    #[test]
    fn a_pending_silence_expires_at_once() {
        let s = Silences::in_memory();
        let id = s
            .set(posted(&["a=\"b\""], Some(NOW + 100.0), NOW + 200.0), NOW)
            .unwrap();
        s.expire(&id, NOW + 1.0).unwrap();
        let silence = s.get(&id).unwrap();
        assert_eq!((silence.starts_at, silence.ends_at), (NOW + 1.0, NOW + 1.0));
        assert_eq!(silence.state(NOW + 2.0), State::Expired);
        // Expiring an expired silence changes nothing.
        s.expire(&id, NOW + 5.0).unwrap();
        assert_eq!(s.get(&id).unwrap().ends_at, NOW + 1.0);
    }

    #[test]
    fn expired_silences_are_kept_for_the_retention() {
        let s = Silences::in_memory();
        let id = s.set(posted(&["a=\"b\""], None, NOW + 60.0), NOW).unwrap();
        let retention = RETENTION.as_secs_f64();
        assert_eq!(s.gc(NOW + 60.0 + retention - 1.0), 0);
        assert!(s.get(&id).is_some());
        assert_eq!(s.gc(NOW + 60.0 + retention), 1);
        assert!(s.get(&id).is_none());
    }

    #[test]
    fn matchers_round_trip_through_json() {
        let matchers: Vec<Matcher> = ["a=\"b\"", "c!~\"d.*\""]
            .iter()
            .map(|m| Matcher::parse(m).unwrap())
            .collect();
        let json = matchers_to_json(&matchers);
        assert_eq!(
            json,
            r#"[{"name":"a","value":"b","isRegex":false,"isEqual":true},{"name":"c","value":"d.*","isRegex":true,"isEqual":false}]"#
        );
        assert_eq!(matchers_from_json(&json).unwrap(), matchers);
    }
}
