//! The HTTP server: `/metrics` from the cached exposition, the landing page and
//! the health endpoints. Nothing here touches the network upstream.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::Encoder as _;
use tokio::net::TcpListener;

use crate::metrics;
use crate::poller::Shared;

/// State the request handlers read.
pub struct App {
    pub shared: Arc<Shared>,
    process: prometheus::Registry,
    notice: Option<String>,
}

impl App {
    pub fn new(shared: Arc<Shared>, notice: Option<String>) -> Self {
        let process = prometheus::Registry::new();
        #[cfg(target_os = "linux")]
        if let Err(e) = process.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        )) {
            tracing::warn!(error = %e, "process metrics unavailable");
        }
        App {
            shared,
            process,
            notice,
        }
    }
}

/// Serves HTTP on `listener` until `shutdown` resolves, then lets in-flight
/// requests finish.
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let app = Arc::clone(&app);
                let service = hyper::service::service_fn(move |req| {
                    let app = Arc::clone(&app);
                    async move { Ok::<_, Infallible>(handle(&app, req)) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), graceful.shutdown()).await;
}

fn handle(app: &App, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed\n");
    }
    match req.uri().path() {
        "/metrics" => metrics_response(app),
        "/" => landing_page(app),
        "/-/healthy" => text(StatusCode::OK, "Healthy\n"),
        "/-/ready" if app.shared.ready() => text(StatusCode::OK, "Ready\n"),
        "/-/ready" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: first poll of every target not finished\n",
        ),
        _ => text(StatusCode::NOT_FOUND, "Not found\n"),
    }
}

fn metrics_response(app: &App) -> Response<Full<Bytes>> {
    let cached = app.shared.encoded();
    let mut process = Vec::new();
    if let Err(e) = prometheus::TextEncoder::new().encode(&app.process.gather(), &mut process) {
        tracing::warn!(error = %e, "encoding process metrics failed");
        process.clear();
    }
    let mut body = Vec::with_capacity(cached.len() + process.len());
    body.extend_from_slice(&cached);
    body.extend_from_slice(&process);
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    response
}

fn landing_page(app: &App) -> Response<Full<Bytes>> {
    let mut html = String::from(concat!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>proxy-quota-exporter</title></head><body>",
        "<h1>proxy-quota-exporter</h1><p><a href=\"/metrics\">Metrics</a></p>",
    ));
    if let Some(notice) = &app.notice {
        let _ = write!(html, "<p><strong>{}</strong></p>", escape_html(notice));
    }
    html.push_str(
        "<table border=\"1\" cellpadding=\"4\"><tr><th>target</th><th>provider</th><th>endpoint</th><th>status</th><th>last error</th></tr>",
    );
    for t in app.shared.snapshots() {
        for e in &t.endpoints {
            let status = if e.success { "ok" } else { "failing" };
            let error = e
                .last_error
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_default();
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{status}</td><td>{}</td></tr>",
                escape_html(&t.target),
                t.provider,
                e.endpoint,
                escape_html(&error)
            );
        }
    }
    html.push_str("</table></body></html>\n");
    let mut response = Response::new(Full::new(Bytes::from(html)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
