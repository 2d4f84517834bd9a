//! The recorder: follows the snapshots and writes each new poll's pools
//! and sub-accounts to the store, on a blocking thread, so that neither polls
//! nor scrapes ever wait for the disk. Prunes old history at start and hourly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::history::step_of;
use super::Store;
use crate::readings::Reading;
use crate::snapshots::{Snapshots, TargetSnapshot};
use crate::units::unix_now;

/// How often history older than the retention is deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// What one new poll of one target adds to the store.
struct NewPoll {
    provider: &'static str,
    target: String,
    at: i64,
    pools: Vec<Arc<Reading>>,
    accounts: Vec<Arc<Reading>>,
}

/// Records every new poll published to `store` into `storage` until aborted.
/// Polls are told apart by target and `polled_at`, so a change of the store
/// that is not a poll (a reload) writes nothing twice. When the disk is slower
/// than the polls, a target polled twice during one write has only its latest
/// poll recorded.
pub async fn record(store: Arc<Snapshots>, storage: Arc<Store>) {
    let mut changes = store.subscribe();
    let mut seen: HashMap<String, f64> = HashMap::new();
    let mut account_steps: HashMap<String, i64> = HashMap::new();
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let polls = new_polls(&store.snapshots(), &mut seen, &mut account_steps);
        if !polls.is_empty() {
            // Errors are counted and logged by the store; the next poll tries again.
            let _ = storage.blocking(move |s| write(s, &polls)).await;
            store.set_storage_status(storage.status());
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = prune.tick() => {
                let _ = storage.blocking(|s| s.prune(unix_now() as i64)).await;
                store.set_storage_status(storage.status());
            }
        }
    }
}

/// The polls among `snapshots` not yet recorded; forgets targets that are gone.
fn new_polls(
    snapshots: &[Arc<TargetSnapshot>],
    seen: &mut HashMap<String, f64>,
    account_steps: &mut HashMap<String, i64>,
) -> Vec<NewPoll> {
    seen.retain(|target, _| snapshots.iter().any(|s| &s.target == target));
    account_steps.retain(|target, _| seen.contains_key(target));
    let mut polls = Vec::new();
    for snapshot in snapshots {
        if seen.get(&snapshot.target) == Some(&snapshot.polled_at) {
            continue;
        }
        seen.insert(snapshot.target.clone(), snapshot.polled_at);
        let at = snapshot.polled_at.floor() as i64;
        let mut poll = NewPoll {
            provider: snapshot.provider,
            target: snapshot.target.clone(),
            at,
            pools: Vec::new(),
            accounts: Vec::new(),
        };
        // Only what this poll read: a failed endpoint keeps its last reading.
        for e in snapshot.endpoints.iter().filter(|e| e.success) {
            match e.reading.as_deref() {
                Some(Reading::Summary(_)) => poll.pools.extend(e.reading.clone()),
                Some(Reading::Accounts(_)) => poll.accounts.extend(e.reading.clone()),
                _ => {}
            }
        }
        if !poll.accounts.is_empty() {
            let step = step_of(at);
            if account_steps.get(&snapshot.target) == Some(&step) {
                poll.accounts.clear();
            } else {
                account_steps.insert(snapshot.target.clone(), step);
            }
        }
        if !poll.pools.is_empty() || !poll.accounts.is_empty() {
            polls.push(poll);
        }
    }
    polls
}

/// Writes `polls`; returns the rows added. Every target is tried even when
/// another fails; the first error is returned.
fn write(storage: &Store, polls: &[NewPoll]) -> Result<usize, super::StoreError> {
    let mut added = 0;
    let mut first_error = None;
    for poll in polls {
        for reading in poll.pools.iter().chain(&poll.accounts) {
            let result = match reading.as_ref() {
                Reading::Summary(pools) => {
                    storage.write_pools(poll.provider, &poll.target, poll.at, pools)
                }
                Reading::Accounts(accounts) => {
                    storage.write_accounts(poll.provider, &poll.target, poll.at, accounts)
                }
                _ => Ok(0),
            };
            match result {
                Ok(n) => added += n,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(added),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Endpoint;
    use crate::readings::{AccountReading, PoolReading};
    use crate::snapshots::EndpointSnapshot;

    fn endpoint(endpoint: Endpoint, success: bool, reading: Reading) -> EndpointSnapshot {
        EndpointSnapshot {
            endpoint,
            success,
            duration_seconds: 0.1,
            last_success_unix: None,
            errors: Default::default(),
            requests: Default::default(),
            labels_truncated: 0,
            reading: Some(Arc::new(reading)),
            stale_at: None,
            last_error: None,
        }
    }

    fn snapshot(polled_at: f64, summary_ok: bool) -> Arc<TargetSnapshot> {
        let pools = Reading::Summary(vec![PoolReading {
            pool: "p".into(),
            remaining_bytes: Some(1.0),
            ..Default::default()
        }]);
        let accounts = Reading::Accounts(vec![AccountReading {
            account: "a".into(),
            product: "x".into(),
            remark: String::new(),
            used_bytes: 5.0,
            limit_bytes: None,
            enabled: Some(true),
        }]);
        Arc::new(TargetSnapshot {
            target: "t".into(),
            provider: "bestproxy",
            display_name: "Display".into(),
            endpoints: vec![
                endpoint(Endpoint::Summary, summary_ok, pools),
                endpoint(Endpoint::Accounts, true, accounts),
            ],
            polled_at,
            credential_in_clear: false,
        })
    }

    #[test]
    fn a_poll_is_recorded_once_and_accounts_once_per_step() {
        let (mut seen, mut steps) = (HashMap::new(), HashMap::new());
        let first = new_polls(&[snapshot(7200.5, true)], &mut seen, &mut steps);
        assert_eq!(first.len(), 1);
        assert_eq!(
            (first[0].at, first[0].pools.len(), first[0].accounts.len()),
            (7200, 1, 1)
        );
        assert!(new_polls(&[snapshot(7200.5, true)], &mut seen, &mut steps).is_empty());
        let second = new_polls(&[snapshot(7260.0, true)], &mut seen, &mut steps);
        assert_eq!((second[0].pools.len(), second[0].accounts.len()), (1, 0));
        let next_step = new_polls(&[snapshot(10800.0, true)], &mut seen, &mut steps);
        assert_eq!(next_step[0].accounts.len(), 1);
    }

    #[test]
    fn a_failed_summary_writes_no_pool() {
        let (mut seen, mut steps) = (HashMap::new(), HashMap::new());
        let polls = new_polls(&[snapshot(100.0, false)], &mut seen, &mut steps);
        assert!(polls[0].pools.is_empty());
    }
}
