//! One polling round of many targets against a simulator with a fixed latency:
//! how close it comes to the ideal `requests × latency / concurrency`.
//! `cargo run --release --example round -- [TARGETS] [LATENCY_MS] [CONCURRENCY]`
//! (defaults 1000, 50, 100).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use proxy_quota_exporter::simulator::{SimProvider, Simulator, SimulatorConfig, BESTPROXY_APP_KEY};
use proxy_quota_exporter::Config;

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let targets = *args.first().unwrap_or(&1000) as usize;
    let latency = Duration::from_millis(*args.get(1).unwrap_or(&50));
    let concurrency = *args.get(2).unwrap_or(&100) as usize;
    let simulator = Simulator::start(SimulatorConfig {
        latency,
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator starts");
    let mut yaml =
        format!("interval: 1h\ntimeout: 30s\nmax_concurrent_requests: {concurrency}\ntargets:\n");
    for i in 0..targets {
        let _ = write!(
            yaml,
            "  - name: t{i}\n    provider: bestproxy\n    base_url: {}\n    app_key: {BESTPROXY_APP_KEY}\n    endpoints: [summary]\n",
            simulator.base_url(SimProvider::BestProxy)
        );
    }
    let config = Config::parse(&yaml, Path::new("round.yml")).expect("valid config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let started = Instant::now();
    tokio::spawn(proxy_quota_exporter::run(
        listener,
        config,
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    loop {
        if client
            .get(format!("http://{addr}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ideal = targets as f64 * latency.as_secs_f64() / concurrency as f64;
    println!(
        "targets={targets} requests={targets} latency_ms={} concurrency={concurrency} round_s={elapsed:.3} ideal_s={ideal:.3} ratio={:.2}",
        latency.as_millis(),
        elapsed / ideal
    );
}
