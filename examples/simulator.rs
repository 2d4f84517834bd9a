//! Runs the provider simulator on loopback for benchmarks and manual tests.
//! `cargo run --release --example simulator -- [--sub-accounts N] [--static-ips N]
//! [--customers N] [--latency-ms MS]`; prints its URL and serves until killed.

use std::time::Duration;

use proxy_quota_exporter::simulator::{Simulator, SimulatorConfig};

#[tokio::main]
async fn main() {
    let mut config = SimulatorConfig::default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = || {
            pair.get(1)
                .and_then(|v| v.parse::<usize>().ok())
                .expect("a number after each flag")
        };
        match pair[0].as_str() {
            "--sub-accounts" => config.sub_accounts = value(),
            "--static-ips" => config.static_ips = value(),
            "--customers" => config.customers = value(),
            "--latency-ms" => config.latency = Duration::from_millis(value() as u64),
            other => panic!("unknown flag {other}"),
        }
    }
    let simulator = Simulator::start(config).await.expect("simulator starts");
    println!("{}", simulator.url());
    std::future::pending::<()>().await;
}
