//! Test harness: starts the exporter in-process on 127.0.0.1:0 against a
//! wiremock upstream and reads its HTTP endpoints.

#![allow(dead_code)]

pub mod logs;
pub mod smtp;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use proxy_quota_exporter::Config;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The `app_key` the mocks accept.
pub const APP_KEY: &str = "test-app-key-5f1d9c";

/// A running exporter; stopped on drop.
pub struct Exporter {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Exporter {
    /// Parses `yaml` and runs the exporter with it.
    pub async fn start(yaml: &str) -> Exporter {
        let config = Config::parse(yaml, Path::new("test.yml")).expect("test config is valid");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(proxy_quota_exporter::run(listener, config, async {
            let _ = stopped.await;
        }));
        Exporter {
            addr,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::get(format!("http://{}{}", self.addr, path))
            .await
            .expect("exporter answers")
    }

    /// Waits until every target finished its first poll (as long as a busy
    /// machine needs: the wait costs nothing when the poll is quick).
    pub async fn wait_ready(&self) {
        for _ in 0..1200 {
            if self.get("/-/ready").await.status().is_success() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("exporter not ready within 30 s");
    }

    /// `/metrics` after the first poll of every target. A failed poll's
    /// error goes to the test's output, shown if the test fails: a series a
    /// test expects and does not find is then explained.
    pub async fn metrics(&self) -> String {
        self.wait_ready().await;
        let metrics = self.get("/metrics").await.text().await.unwrap();
        if metrics
            .lines()
            .any(|l| l.starts_with("proxy_exporter_poll_success{") && l.ends_with(" 0"))
        {
            let status = self.get("/api/v1/status").await.text().await.unwrap();
            eprintln!("a poll failed; /api/v1/status: {status}");
        }
        metrics
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(10), handle)
                .await
                .expect("exporter stops within 10 s")
                .unwrap();
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            handle.abort();
        }
    }
}

/// Kills a child process when the test ends, however it ends.
pub struct Guard(pub std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The built binary running `--demo` (polled every 2 s) on loopback `port`,
/// its output discarded; add flags, then spawn it under a [`Guard`].
pub fn demo_command(port: u16) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_proxy-quota-exporter"));
    command
        .args(["--demo", "--demo.interval", "2s"])
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fixture file from tests/fixtures.
pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture parsed as JSON, for tests that edit it.
pub fn fixture_json(name: &str) -> serde_json::Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

/// A target block for a gateway-family provider against `base_url`.
pub fn gateway_config(provider: &str, base_url: &str, endpoints: &str) -> String {
    format!(
        "targets:\n  - name: {provider}-main\n    provider: {provider}\n    base_url: {base_url}\n    app_key: {APP_KEY}\n    endpoints: {endpoints}\n"
    )
}

/// The sample lines of `metric` (with labels), without HELP/TYPE lines.
pub fn samples<'a>(metrics: &'a str, metric: &str) -> Vec<&'a str> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{metric}{{")) || l.starts_with(&format!("{metric} ")))
        .collect()
}

/// The value of the one series of `metric` whose labels include every `labels` pair.
pub fn value(metrics: &str, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<_> = samples(metrics, metric)
        .into_iter()
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .collect();
    assert!(matching.len() <= 1, "several series match: {matching:?}");
    matching
        .first()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
}

/// `proxy_exporter_poll_errors_total` of `endpoint` for `reason`.
pub fn poll_errors(metrics: &str, endpoint: &str, reason: &str) -> Option<f64> {
    value(
        metrics,
        "proxy_exporter_poll_errors_total",
        &[("endpoint", endpoint), ("reason", reason)],
    )
}

/// The calendar date at `offset_days` from today in +08:00, as the provider writes it.
pub fn provider_date(offset_days: i64) -> String {
    let now = chrono::Utc::now() + chrono::Duration::hours(8) + chrono::Duration::days(offset_days);
    now.format("%Y-%m-%d").to_string()
}

/// Runs `promtool check metrics` on an exposition and returns its complaints.
pub fn promtool_check_metrics(text: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (the README's test command installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() || !report.is_empty(),
        "promtool failed silently"
    );
    if out.status.success() {
        report
    } else {
        format!("exit {}: {report}", out.status)
    }
}

impl Exporter {
    /// Like [`Exporter::start`], with web options (server limits, TLS, basic auth).
    pub async fn start_with(yaml: &str, options: proxy_quota_exporter::Options) -> Exporter {
        let config = Config::parse(yaml, Path::new("test.yml")).expect("test config is valid");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(proxy_quota_exporter::run_with(
            listener,
            config,
            options,
            async {
                let _ = stopped.await;
            },
        ));
        Exporter {
            addr,
            stop: Some(stop),
            handle: Some(handle),
        }
    }
}
