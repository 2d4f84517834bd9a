//! Request routing and the handlers: authorization, `/metrics` and `/probe`
//! with gzip negotiation, the front page and its assets, `/api/v1/status` and
//! `/api/v1/history` (`history.rs`), the
//! health endpoints, `/-/reload`, Alertmanager's API v2 subset (`api_v2.rs`;
//! reloads and silence changes are refused to a browser's cross-origin
//! request); 404 for an unknown path, 405 with `Allow` for a method a path does
//! not take, `nosniff` on every answer.

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderValue, ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE,
    HOST, ORIGIN, VARY, WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS,
};
use hyper::{Method, Request, Response, StatusCode, Uri};
use tokio::sync::oneshot;

use super::api_v2;
use super::history;
use super::page;
use super::{App, Chunks};
use crate::encoder;
use crate::exposition::Probe;
use crate::shard;

/// Answers one request. Every answer, errors included, carries
/// `X-Content-Type-Options: nosniff`, so that no browser takes a plain-text
/// answer that quotes the request (a probe's unknown target) for HTML.
pub(super) async fn handle(app: &App, req: Request<Incoming>) -> Response<Chunks> {
    let mut response = route(app, req).await;
    response
        .headers_mut()
        .insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

async fn route(app: &App, req: Request<Incoming>) -> Response<Chunks> {
    let authorization = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    if !app.basic_auth.allows(authorization).await {
        let mut response = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"proxy-quota-exporter\""),
        );
        return response;
    }
    // An unknown path is 404 whatever the method; a known one answers 405 with
    // `Allow` to a method it does not take.
    let Some(route) = Route::of(req.uri().path()) else {
        return text(StatusCode::NOT_FOUND, "Not found\n");
    };
    if !route.allows(req.method()) {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            match route {
                Route::Reload => "Use POST to reload\n",
                _ => "Method not allowed\n",
            },
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(route.methods()));
        return response;
    }
    let gzip = accepts_gzip(req.headers().get(ACCEPT_ENCODING));
    match route {
        Route::Metrics => metrics_response(app, gzip),
        Route::Probe => probe_response(app, req.uri().query(), gzip),
        Route::FrontPage => front_page(app, req.uri().query()).await,
        Route::Status => status_api(app, req.uri().query()).await,
        Route::History => match history::answer(app, req.uri().query()).await {
            Ok(json) => typed(Bytes::from(json), "application/json"),
            Err((status, reason)) => owned_text(status, reason),
        },
        Route::Stylesheet => asset(page::STYLESHEET, "text/css; charset=utf-8"),
        Route::Script => asset(page::SCRIPT, "text/javascript; charset=utf-8"),
        Route::Healthy => text(StatusCode::OK, "Healthy\n"),
        Route::Ready if app.exposition.ready() => text(StatusCode::OK, "Ready\n"),
        Route::Ready => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: first poll of every target not finished\n",
        ),
        Route::Reload => {
            let scheme = if app.tls.is_some() { "https" } else { "http" };
            if cross_origin(req.headers(), req.uri(), scheme) {
                return text(
                    StatusCode::FORBIDDEN,
                    "Refused: a cross-origin request (a web page of another origin) cannot reload the configuration\n",
                );
            }
            reload(app).await
        }
        Route::AmStatus => api_v2::status(app),
        Route::AmAlerts => api_v2::alerts(app, req.uri().query()),
        Route::AmSilences | Route::AmSilence => {
            let scheme = if app.tls.is_some() { "https" } else { "http" };
            let changes = !matches!(*req.method(), Method::GET | Method::HEAD);
            if changes && cross_origin(req.headers(), req.uri(), scheme) {
                return text(
                    StatusCode::FORBIDDEN,
                    "Refused: a cross-origin request (a web page of another origin) cannot change silences\n",
                );
            }
            if route == Route::AmSilences {
                api_v2::silences(app, req).await
            } else {
                api_v2::silence(app, req).await
            }
        }
    }
}

/// The paths the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Metrics,
    Probe,
    FrontPage,
    Status,
    /// `GET /api/v1/history`: the charts' points.
    History,
    Stylesheet,
    Script,
    Healthy,
    Ready,
    Reload,
    /// Alertmanager's `GET /api/v2/status`.
    AmStatus,
    /// Alertmanager's `GET /api/v2/alerts`.
    AmAlerts,
    /// Alertmanager's `GET|POST /api/v2/silences`.
    AmSilences,
    /// Alertmanager's `GET|DELETE /api/v2/silence/{id}`.
    AmSilence,
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        Some(match path {
            "/metrics" => Route::Metrics,
            "/probe" => Route::Probe,
            "/" => Route::FrontPage,
            "/api/v1/status" => Route::Status,
            "/api/v1/history" => Route::History,
            "/static/page.css" => Route::Stylesheet,
            "/static/page.js" => Route::Script,
            "/-/healthy" => Route::Healthy,
            "/-/ready" => Route::Ready,
            "/-/reload" => Route::Reload,
            "/api/v2/status" => Route::AmStatus,
            "/api/v2/alerts" => Route::AmAlerts,
            "/api/v2/silences" => Route::AmSilences,
            _ => match path.strip_prefix(api_v2::SILENCE_PREFIX) {
                Some(id) if !id.is_empty() && !id.contains('/') => Route::AmSilence,
                _ => return None,
            },
        })
    }

    /// The methods the path takes, as the `Allow` header of a 405 lists them.
    fn methods(self) -> &'static str {
        match self {
            // As Prometheus' own `/-/reload`.
            Route::Reload => "POST, PUT",
            Route::AmSilences => "GET, HEAD, POST",
            Route::AmSilence => "GET, HEAD, DELETE",
            _ => "GET, HEAD",
        }
    }

    fn allows(self, method: &Method) -> bool {
        match self {
            Route::Reload => method == Method::POST || method == Method::PUT,
            Route::AmSilences if method == Method::POST => true,
            Route::AmSilence if method == Method::DELETE => true,
            _ => method == Method::GET || method == Method::HEAD,
        }
    }
}

/// Whether a request was sent by a browser for a page of another origin, as Go's
/// `net/http.CrossOriginProtection` decides: by `Sec-Fetch-Site` when the browser
/// sends it (only `same-origin` and `none`, a request the user made, pass; a page
/// on another port of the same host is `same-site` and refused), otherwise by
/// `Origin`, which must be the server's own (`scheme://Host`; `null` is not).
/// A request with neither header is not a browser's cross-origin request (curl,
/// Prometheus, scripts) and passes.
fn cross_origin(headers: &HeaderMap, uri: &Uri, scheme: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return false;
    };
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let (Ok(origin), Some(host)) = (origin.to_str(), host) else {
        return true;
    };
    let (Ok(origin), Ok(own)) = (
        url::Url::parse(origin),
        url::Url::parse(&format!("{scheme}://{host}")),
    ) else {
        return true;
    };
    let (origin, own) = (origin.origin(), own.origin());
    !(origin.is_tuple() && origin == own)
}

async fn reload(app: &App) -> Response<Chunks> {
    let Some(requests) = &app.reload else {
        return text(
            StatusCode::BAD_REQUEST,
            "No configuration file to reload (started without --config.file)\n",
        );
    };
    let (reply, outcome) = oneshot::channel();
    if requests.send(reply).await.is_err() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "Shutting down\n");
    }
    match outcome.await {
        Ok(Ok(())) => text(StatusCode::OK, "Configuration reloaded\n"),
        Ok(Err(reason)) => owned_text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Reload refused, the running configuration stays: {reason}\n"),
        ),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "Shutting down\n"),
    }
}

fn metrics_response(app: &App, accepts_gzip: bool) -> Response<Chunks> {
    let exposition = app.exposition.current();
    let process = app.process_metrics();
    // Both parts are cached bytes: a scrape copies nothing. Two gzip members in a
    // row are one valid gzip stream.
    let body = if accepts_gzip {
        Chunks(vec![exposition.gzip.clone(), process.gzip.clone()].into())
    } else {
        Chunks(vec![exposition.plain.clone(), process.plain.clone()].into())
    };
    exposition_response(body, accepts_gzip)
}

/// `/probe?target=NAME`: one target's series, from the same cached page as
/// `/metrics` (a probe never calls a provider). A target whose first poll has not
/// finished answers with no series; a name this process does not serve is 404.
fn probe_response(app: &App, query: Option<&str>, accepts_gzip: bool) -> Response<Chunks> {
    let target = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(key, _)| key == "target")
            .map(|(_, value)| value.into_owned())
    });
    let Some(target) = target.filter(|t| !t.is_empty()) else {
        return text(
            StatusCode::BAD_REQUEST,
            "Missing parameter: /probe?target=NAME names a configured target\n",
        );
    };
    let shard = app.exposition.shard();
    let chunks = match app.exposition.current().probe(&target, accepts_gzip) {
        Probe::Found(chunks) => chunks,
        Probe::Pending if accepts_gzip => vec![crate::exposition::gzip(b"").into()],
        Probe::Pending => Vec::new(),
        Probe::Unknown => {
            let mut reason = format!("Unknown target {target:?}: not configured");
            if shard.total() > 1 {
                reason = format!(
                    "{reason} in {shard} (a target of that name is served by shard {})",
                    shard::shard_of(&target, shard.total())
                );
            }
            return owned_text(StatusCode::NOT_FOUND, reason + "\n");
        }
    };
    exposition_response(Chunks(chunks.into()), accepts_gzip)
}

/// A response with exposition bytes.
fn exposition_response(body: Chunks, gzip: bool) -> Response<Chunks> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(encoder::CONTENT_TYPE),
    );
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// Whether an `Accept-Encoding` header allows gzip (`gzip;q=0` does not).
fn accepts_gzip(header: Option<&HeaderValue>) -> bool {
    let Some(value) = header.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value.split(',').any(|coding| {
        let mut fields = coding.split(';').map(str::trim);
        let is_gzip = fields
            .next()
            .is_some_and(|c| c.eq_ignore_ascii_case("gzip"));
        let quality = fields
            .find_map(|f| f.strip_prefix("q="))
            .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0));
        is_gzip && quality > 0.0
    })
}

fn text(status: StatusCode, body: &'static str) -> Response<Chunks> {
    text_bytes(status, Bytes::from_static(body.as_bytes()))
}

fn owned_text(status: StatusCode, body: String) -> Response<Chunks> {
    text_bytes(status, Bytes::from(body))
}

fn text_bytes(status: StatusCode, body: Bytes) -> Response<Chunks> {
    let mut response = Response::new(Chunks::one(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// `/`: the front page, with a policy that allows nothing from elsewhere.
/// `?q=` filters its long lists by name (`limit` and `offset` are the API's).
async fn front_page(app: &App, query: Option<&str>) -> Response<Chunks> {
    let q = query.and_then(|query| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == "q")
            .map(|(_, value)| value.into_owned())
    });
    let lists = crate::lists::ListWindow::new(q.as_deref(), None, 0);
    let Some((status, histories)) = app.status(true, lists.clone()).await else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "Status unavailable\n");
    };
    let html = page::render(&status, &histories, &lists);
    with_policy(typed(Bytes::from(html), "text/html; charset=utf-8"))
}

/// `/api/v1/status`: the front page's figures as JSON; `q`, `limit` and
/// `offset` choose the entries of the long lists.
async fn status_api(app: &App, query: Option<&str>) -> Response<Chunks> {
    let lists = match crate::lists::ListWindow::from_query(query) {
        Ok(lists) => lists,
        Err(reason) => return owned_text(StatusCode::BAD_REQUEST, reason + "\n"),
    };
    let Some((status, _)) = app.status(false, lists).await else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "Status unavailable\n");
    };
    match serde_json::to_vec_pretty(&status) {
        Ok(json) => typed(Bytes::from(json), "application/json"),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "Status unavailable\n"),
    }
}

fn asset(content: &'static str, content_type: &'static str) -> Response<Chunks> {
    let mut response = with_policy(typed(Bytes::from_static(content.as_bytes()), content_type));
    response.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=300"),
    );
    response
}

fn typed(body: Bytes, content_type: &'static str) -> Response<Chunks> {
    let mut response = Response::new(Chunks::one(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn with_policy(mut response: Response<Chunks>) -> Response<Chunks> {
    response.headers_mut().insert(
        hyper::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(page::CONTENT_SECURITY_POLICY),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_negotiated() {
        let accepts = |v: &'static str| accepts_gzip(Some(&HeaderValue::from_static(v)));
        assert!(accepts("gzip"));
        assert!(accepts("deflate, GZIP;q=0.5"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("identity"));
        assert!(!accepts_gzip(None));
    }
}
