//! The subset of Alertmanager's API v2 that `amtool` needs (`silence add |
//! query | expire | import`, `alert query`, the version check):
//! `GET /api/v2/status`, `GET /api/v2/alerts`, `GET|POST /api/v2/silences`,
//! `GET|DELETE /api/v2/silence/{id}`. The JSON is Alertmanager's
//! (`api/v2/openapi.yaml`); the rules are [`crate::silences`]'.
//!
//! The alerts are the agent's firing alerts (pending ones are not
//! Alertmanager alerts), with what the agent found mutes them. There is no
//! cluster, no `POST /api/v2/alerts`, no alert groups and no receivers list;
//! an alert is never `unprocessed`. Request bodies must be JSON and at most
//! [`MAX_BODY`] bytes; a bad matcher or silence is 400 with the reason as
//! text, an unknown silence 404.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::{App, Chunks};
use crate::notify::matchers::Matcher;
use crate::silences::{ApiMatcher, Posted, Silence, SilenceError, Silences, State};
use crate::snapshots::ActiveAlert;
use crate::units::unix_now;

/// The largest request body taken (a silence is a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;
/// How long after the answer an alert is said to end (`endsAt`):
/// Alertmanager's default `resolve_timeout`. The agent keeps a firing alert
/// firing until its condition clears; this only tells a client that the
/// answer is fresh.
const ENDS_AFTER: f64 = 300.0;

/// `GET /api/v2/status`: enough for amtool's version check and `config show`.
pub(super) fn status(app: &App) -> Response<Chunks> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct AlertmanagerStatus {
        cluster: Cluster,
        version_info: VersionInfo,
        config: Config,
        uptime: String,
    }
    #[derive(Serialize)]
    struct Cluster {
        status: &'static str,
        peers: [(); 0],
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct VersionInfo {
        version: &'static str,
        revision: &'static str,
        branch: &'static str,
        build_user: &'static str,
        build_date: &'static str,
        go_version: &'static str,
    }
    #[derive(Serialize)]
    struct Config {
        original: &'static str,
    }
    json(
        StatusCode::OK,
        &AlertmanagerStatus {
            cluster: Cluster {
                status: "disabled",
                peers: [],
            },
            version_info: VersionInfo {
                version: crate::metrics::VERSION,
                revision: crate::metrics::REVISION,
                branch: "",
                build_user: "",
                build_date: "",
                go_version: "",
            },
            config: Config { original: "" },
            uptime: time(app.started_at),
        },
    )
}

/// An alert as `GET /api/v2/alerts` lists it (`gettableAlert`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Alert<'a> {
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    receivers: Vec<Receiver<'a>>,
    fingerprint: &'a str,
    starts_at: String,
    updated_at: String,
    ends_at: String,
    status: GettableAlert<'a>,
}

#[derive(Serialize)]
struct Receiver<'a> {
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GettableAlert<'a> {
    state: &'static str,
    silenced_by: &'a [String],
    inhibited_by: &'a [String],
    /// Time-interval mutes, which the exporter has not.
    muted_by: [(); 0],
}

/// `GET /api/v2/alerts`: the agent's firing alerts, filtered as Alertmanager
/// filters (`active`, `silenced`, `inhibited`, `filter`, `receiver`;
/// `unprocessed` is read and has nothing to select), by fingerprint.
pub(super) fn alerts(app: &App, query: Option<&str>) -> Response<Chunks> {
    let query = Query::of(query);
    let flags = (|| {
        let active = query.flag("active")?;
        let silenced = query.flag("silenced")?;
        let inhibited = query.flag("inhibited")?;
        query.flag("unprocessed")?;
        Ok::<_, String>((active, silenced, inhibited))
    })();
    let (active, silenced, inhibited) = match flags {
        Ok(flags) => flags,
        Err(reason) => return bad_request(reason),
    };
    let filter = match query.filter() {
        Ok(filter) => filter,
        Err(reason) => return bad_request(reason),
    };
    let receiver = match query.one("receiver").filter(|r| !r.is_empty()) {
        Some(r) => match Matcher::from_api("receiver", r, true, true) {
            Ok(m) => Some(m),
            Err(e) => return bad_request(format!("failed to parse receiver param: {e}")),
        },
        None => None,
    };
    let view = app.store.view();
    let now = unix_now();
    let mut listed: Vec<&ActiveAlert> = view
        .agent
        .active
        .iter()
        .filter(|a| a.state == "firing")
        .filter(|a| {
            receiver
                .as_ref()
                .is_none_or(|r| a.receivers.iter().any(|name| r.matches_value(name)))
        })
        .filter(|a| filter.iter().all(|m| m.matches(&a.labels)))
        .filter(|a| active || a.suppressed())
        .filter(|a| silenced || a.silenced_by.is_empty())
        .filter(|a| inhibited || a.inhibited_by.is_empty())
        .collect();
    listed.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    let answer: Vec<Alert> = listed
        .into_iter()
        .map(|a| Alert {
            labels: &a.labels,
            annotations: &a.annotations,
            receivers: a.receivers.iter().map(|name| Receiver { name }).collect(),
            fingerprint: &a.fingerprint,
            starts_at: time(a.since),
            updated_at: time(now),
            ends_at: time(now + ENDS_AFTER),
            status: GettableAlert {
                state: if a.suppressed() {
                    "suppressed"
                } else {
                    "active"
                },
                silenced_by: &a.silenced_by,
                inhibited_by: &a.inhibited_by,
                muted_by: [],
            },
        })
        .collect();
    json(StatusCode::OK, &answer)
}

/// A silence as the API shows it (`gettableSilence`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Gettable<'a> {
    id: &'a str,
    status: GettableSilence,
    updated_at: String,
    matchers: Vec<ApiMatcher>,
    starts_at: String,
    ends_at: String,
    created_by: &'a str,
    comment: &'a str,
    annotations: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct GettableSilence {
    state: &'static str,
}

fn gettable(s: &Silence, now: f64) -> Gettable<'_> {
    Gettable {
        id: &s.id,
        status: GettableSilence {
            state: s.state(now).as_str(),
        },
        updated_at: time(s.updated_at),
        matchers: s.matchers.iter().map(ApiMatcher::of).collect(),
        starts_at: time(s.starts_at),
        ends_at: time(s.ends_at),
        created_by: &s.created_by,
        comment: &s.comment,
        annotations: &s.annotations,
    }
}

/// `/api/v2/silences`: `GET` lists (params `filter`, and `active`,
/// `pending`, `expired` to leave a state out), `POST` creates or updates.
pub(super) async fn silences(app: &App, req: Request<Incoming>) -> Response<Chunks> {
    if req.method() == Method::POST {
        return post_silence(&app.silences, req).await;
    }
    let query = Query::of(req.uri().query());
    let filter = match query.filter() {
        Ok(filter) => filter,
        Err(reason) => return bad_request(reason),
    };
    let mut states = Vec::new();
    for state in State::ALL {
        match query.flag(state.as_str()) {
            Ok(true) => states.push(state),
            Ok(false) => {}
            Err(reason) => return bad_request(reason),
        }
    }
    let now = unix_now();
    let silences = app.silences.list(now);
    let answer: Vec<Gettable> = silences
        .iter()
        .filter(|s| states.contains(&s.state(now)))
        // Every filter matcher is one of the silence's (Alertmanager's
        // `CheckSilenceMatchesFilterLabels`).
        .filter(|s| filter.iter().all(|f| s.matchers.contains(f)))
        .map(|s| gettable(s, now))
        .collect();
    json(StatusCode::OK, &answer)
}

/// `/api/v2/silence/{id}`: `GET` shows it, `DELETE` expires it.
pub(super) async fn silence(app: &App, req: Request<Incoming>) -> Response<Chunks> {
    let id = req
        .uri()
        .path()
        .strip_prefix(SILENCE_PREFIX)
        .unwrap_or_default()
        .to_owned();
    let now = unix_now();
    if req.method() == Method::DELETE {
        let silences = Arc::clone(&app.silences);
        let expired = tokio::task::spawn_blocking(move || silences.expire(&id, now)).await;
        return match expired {
            Ok(Ok(())) => empty(StatusCode::OK),
            Ok(Err(e)) => refused(e),
            Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into()),
        };
    }
    match app.silences.get(&id) {
        Some(s) => json(StatusCode::OK, &gettable(&s, now)),
        None => refused(SilenceError::NotFound),
    }
}

/// Where a silence's path starts; the ID follows.
pub(super) const SILENCE_PREFIX: &str = "/api/v2/silence/";

/// A silence as a client posts it (`postableSilence`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Postable {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<ApiMatcher>,
    #[serde(default)]
    starts_at: Option<String>,
    ends_at: String,
    created_by: String,
    comment: String,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

async fn post_silence(silences: &Arc<Silences>, req: Request<Incoming>) -> Response<Chunks> {
    if !is_json(req.headers().get(CONTENT_TYPE)) {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON (Content-Type: application/json)".into(),
        );
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {MAX_BODY} bytes"),
            );
        }
        Err(_) => return bad_request("the body could not be read".into()),
    };
    let posted = match posted(&body) {
        Ok(posted) => posted,
        Err(reason) => return bad_request(reason),
    };
    let silences = Arc::clone(silences);
    let set = tokio::task::spawn_blocking(move || silences.set(posted, unix_now())).await;
    match set {
        Ok(Ok(id)) => {
            #[derive(Serialize)]
            struct Created {
                #[serde(rename = "silenceID")]
                silence_id: String,
            }
            json(StatusCode::OK, &Created { silence_id: id })
        }
        Ok(Err(e)) => refused(e),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into()),
    }
}

/// The posted silence, or why it is refused.
fn posted(body: &[u8]) -> Result<Posted, String> {
    let postable: Postable =
        serde_json::from_slice(body).map_err(|e| format!("invalid silence: {e}"))?;
    let matchers = postable
        .matchers
        .iter()
        .enumerate()
        .map(|(i, m)| {
            m.matcher()
                .map_err(|e| format!("invalid silence: invalid label matcher {i}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let starts_at = match postable.starts_at.as_deref() {
        Some(t) => parse_time(t).map_err(|e| format!("invalid startsAt: {e}"))?,
        None => None,
    };
    let ends_at = parse_time(&postable.ends_at)
        .map_err(|e| format!("invalid endsAt: {e}"))?
        .ok_or("invalid silence: invalid zero end timestamp")?;
    Ok(Posted {
        id: postable.id.filter(|id| !id.is_empty()),
        matchers,
        starts_at,
        ends_at,
        created_by: postable.created_by,
        comment: postable.comment,
        annotations: postable.annotations.unwrap_or_default(),
    })
}

/// An RFC 3339 time as unix seconds; Go's zero time (what a Go client sends
/// for "unset") is `None`.
fn parse_time(text: &str) -> Result<Option<f64>, String> {
    let t = chrono::DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("{text:?} is not an RFC 3339 time: {e}"))?;
    if t.timestamp() <= GO_ZERO_TIME {
        return Ok(None);
    }
    Ok(Some(
        t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) * 1e-9,
    ))
}

/// Go's zero `time.Time` (0001-01-01T00:00:00Z) in unix seconds.
const GO_ZERO_TIME: i64 = -62_135_596_800;

/// Unix seconds as the API writes times: RFC 3339, UTC, milliseconds.
fn time(seconds: f64) -> String {
    let millis = (seconds * 1000.0).floor() as i64;
    match chrono::DateTime::from_timestamp_millis(millis) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => "0001-01-01T00:00:00.000Z".to_owned(),
    }
}

/// Whether a `Content-Type` names JSON (`application/json`, any parameters).
fn is_json(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// A request's query parameters.
struct Query(Vec<(String, String)>);

impl Query {
    fn of(query: Option<&str>) -> Query {
        Query(
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn one<'a>(&'a self, key: &'a str) -> Option<&'a str> {
        self.all(key).last()
    }

    /// A boolean parameter; absent: `true` (every flag of the API defaults
    /// to true).
    fn flag(&self, key: &str) -> Result<bool, String> {
        match self.one(key) {
            None => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
            Some(v) => Err(format!("{key}: {v:?} is not a boolean (true or false)")),
        }
    }

    /// The `filter` matchers.
    fn filter(&self) -> Result<Vec<Matcher>, String> {
        self.all("filter")
            .map(|f| Matcher::parse(f).map_err(|e| format!("bad filter {f:?}: {e}")))
            .collect()
    }
}

fn refused(e: SilenceError) -> Response<Chunks> {
    let status = match &e {
        SilenceError::Invalid(_) => StatusCode::BAD_REQUEST,
        SilenceError::NotFound => StatusCode::NOT_FOUND,
        SilenceError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    text(status, e.to_string())
}

fn bad_request(reason: String) -> Response<Chunks> {
    text(StatusCode::BAD_REQUEST, reason)
}

fn text(status: StatusCode, mut body: String) -> Response<Chunks> {
    body.push('\n');
    let mut response = Response::new(Chunks::one(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn empty(status: StatusCode) -> Response<Chunks> {
    let mut response = Response::new(Chunks::one(Bytes::new()));
    *response.status_mut() = status;
    response
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Chunks> {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = Response::new(Chunks::one(Bytes::from(body)));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_with_milliseconds() {
        assert_eq!(time(1_700_000_000.123_4), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            parse_time("2023-11-14T22:13:20.123Z").unwrap(),
            Some(1_700_000_000.123)
        );
        assert_eq!(
            parse_time("2023-11-14T23:13:20+01:00").unwrap(),
            Some(1_700_000_000.0)
        );
        assert_eq!(parse_time("0001-01-01T00:00:00Z").unwrap(), None);
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn a_posted_silence_is_read_as_the_api_writes_it() {
        let body = br#"{"matchers":[{"name":"alertname","value":"A","isRegex":false},
            {"name":"target","value":"lite-.*","isRegex":true,"isEqual":false}],
            "startsAt":"2023-11-14T22:13:20.000Z","endsAt":"2023-11-14T23:13:20.000Z",
            "createdBy":"me","comment":"why","id":""}"#;
        let p = posted(body).unwrap();
        assert_eq!(p.id, None);
        assert_eq!(p.matchers[0].to_string(), "alertname=\"A\"");
        assert_eq!(p.matchers[1].to_string(), "target!~\"lite-.*\"");
        assert_eq!(p.starts_at, Some(1_700_000_000.0));
        assert_eq!(p.ends_at, 1_700_003_600.0);
        let bad = br#"{"matchers":[{"name":"a","value":"(","isRegex":true}],
            "endsAt":"2023-11-14T23:13:20Z","createdBy":"me","comment":""}"#;
        let reason = posted(bad).err().unwrap();
        assert!(
            reason.starts_with("invalid silence: invalid label matcher 0:"),
            "{reason}"
        );
        let missing = br#"{"matchers":[],"endsAt":"2023-11-14T23:13:20Z","comment":""}"#;
        let reason = posted(missing).err().unwrap();
        assert!(reason.contains("createdBy"), "{reason}");
    }

    #[test]
    fn only_json_bodies_are_taken() {
        let v = |s: &'static str| Some(HeaderValue::from_static(s));
        assert!(is_json(v("application/json").as_ref()));
        assert!(is_json(v("Application/JSON; charset=utf-8").as_ref()));
        assert!(!is_json(v("text/plain").as_ref()));
        assert!(!is_json(None));
    }
}
