//! `GET /api/v1/history?target=NAME&pool=POOL&range=7d`: the points the front
//! page's charts draw ([`page::chart_points`]), as
//! `{"target", "pool", "range_seconds", "points": [[unix_seconds, remaining_bytes], ...]}`,
//! oldest first. `range` is a duration (`24h`, `7d`; 7 days by default), at
//! most the store's retention or 7 days, whichever is longer. A target this
//! process does not serve, or a pool its last poll did not report, is 404.

use std::time::{Duration, Instant};

use hyper::StatusCode;
use serde::Serialize;

use super::{page, App};
use crate::forecast::History;
use crate::readings::Reading;

/// The charts' longest window, and the default range.
const WEEK: Duration = Duration::from_secs(7 * 86_400);

/// The answer's body.
#[derive(Debug, Serialize)]
struct Answer {
    target: String,
    pool: String,
    range_seconds: f64,
    points: Vec<[f64; 2]>,
}

/// The JSON body, or the status and text of a refusal.
pub(super) async fn answer(
    app: &App,
    query: Option<&str>,
) -> Result<Vec<u8>, (StatusCode, String)> {
    let (mut target, mut pool, mut range) = (None, None, None);
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "target" => target = Some(value.into_owned()),
            "pool" => pool = Some(value.into_owned()),
            "range" => range = Some(value.into_owned()),
            _ => {}
        }
    }
    let bad = |text: String| (StatusCode::BAD_REQUEST, text + "\n");
    let (Some(target), Some(pool)) = (target, pool) else {
        return Err(bad(
            "Missing parameter: /api/v1/history?target=NAME&pool=POOL&range=7d".into(),
        ));
    };
    let longest = app.retention.max(WEEK);
    let range = match range.as_deref() {
        None => WEEK,
        Some(text) => humantime::parse_duration(text).map_err(|e| {
            bad(format!(
                "range {text:?} is not a duration like 24h or 7d: {e}"
            ))
        })?,
    };
    if range.is_zero() || range > longest {
        return Err(bad(format!(
            "range must be above 0 and at most {} (the store's retention, or 7 days)",
            humantime::format_duration(longest)
        )));
    }
    let provider = provider_of(app, &target, &pool).ok_or_else(|| {
        (
            StatusCode::NOT_FOUND,
            "Unknown target or pool: not served here, or not reported by the target's last poll\n"
                .to_owned(),
        )
    })?;
    let Some(storage) = app.storage.clone() else {
        return Err((
            StatusCode::NOT_FOUND,
            "No history: the exporter runs without a store (--storage.path)\n".to_owned(),
        ));
    };
    let seconds = range.as_secs_f64();
    let body = tokio::task::spawn_blocking(move || {
        let from = crate::units::unix_now() - seconds;
        let stored = storage.pool_points(provider, &target, &pool, from);
        let points = page::chart_points(&stored, from)
            .iter()
            .map(|p| [p.at, p.remaining])
            .collect();
        serde_json::to_vec(&Answer {
            target,
            pool,
            range_seconds: seconds,
            points,
        })
    })
    .await;
    match body {
        Ok(Ok(json)) => Ok(json),
        _ => Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            "History unavailable\n".to_owned(),
        )),
    }
}

/// The provider of `target` when its last poll reported `pool`.
fn provider_of(app: &App, target: &str, pool: &str) -> Option<&'static str> {
    let view = app.store.view();
    let snapshot = view.snapshots.iter().find(|s| s.target == target)?;
    let now = Instant::now();
    let reported = snapshot.readings(now).any(|r| match r {
        Reading::Summary(pools) => pools.iter().any(|p| p.pool == pool),
        _ => false,
    });
    reported.then_some(snapshot.provider)
}
