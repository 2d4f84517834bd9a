//! Request routing and the handlers: authorization, `/metrics` and `/probe`
//! with gzip negotiation, the front page and its assets, `/api/v1/status`, the
//! health endpoints and `/-/reload`.

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, VARY,
    WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::oneshot;

use super::landing;
use super::{App, Chunks};
use crate::encoder;
use crate::exposition::Probe;
use crate::shard;

pub(super) async fn handle(app: &App, req: Request<Incoming>) -> Response<Chunks> {
    let authorization = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    if !app.basic_auth.allows(authorization).await {
        let mut response = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"proxy-quota-exporter\""),
        );
        return response;
    }
    if req.uri().path() == "/-/reload" {
        return reload(app, req.method()).await;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed\n");
    }
    let gzip = accepts_gzip(req.headers().get(ACCEPT_ENCODING));
    match req.uri().path() {
        "/metrics" => metrics_response(app, gzip),
        "/probe" => probe_response(app, req.uri().query(), gzip),
        "/" => front_page(app).await,
        "/api/v1/status" => status_api(app).await,
        "/static/page.css" => asset(landing::STYLESHEET, "text/css; charset=utf-8"),
        "/static/page.js" => asset(landing::SCRIPT, "text/javascript; charset=utf-8"),
        "/-/healthy" => text(StatusCode::OK, "Healthy\n"),
        "/-/ready" if app.exposition.ready() => text(StatusCode::OK, "Ready\n"),
        "/-/ready" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: first poll of every target not finished\n",
        ),
        _ => text(StatusCode::NOT_FOUND, "Not found\n"),
    }
}

async fn reload(app: &App, method: &Method) -> Response<Chunks> {
    if method != Method::POST && method != Method::PUT {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Use POST to reload\n");
    }
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
        Ok(Err(reason)) => {
            let mut response = Response::new(Chunks::one(Bytes::from(format!(
                "Reload refused, the running configuration stays: {reason}\n"
            ))));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
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
async fn front_page(app: &App) -> Response<Chunks> {
    let Some((status, histories)) = app.status(true).await else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "Status unavailable\n");
    };
    let html = landing::render(&status, &histories);
    with_policy(typed(Bytes::from(html), "text/html; charset=utf-8"))
}

/// `/api/v1/status`: the front page's figures as JSON.
async fn status_api(app: &App) -> Response<Chunks> {
    let Some((status, _)) = app.status(false).await else {
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
        HeaderValue::from_static(landing::CONTENT_SECURITY_POLICY),
    );
    response.headers_mut().insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
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
