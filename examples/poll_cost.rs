//! CPU time and peak memory of one poll of a big account list: decoding the
//! answer and encoding (plain and gzip) the exposition.
//! `cargo run --release --example poll_cost -- [SUB_ACCOUNTS]` (default 100000).

use proxy_quota_exporter::encoder;
use proxy_quota_exporter::providers::gateway::parse_accounts;
use proxy_quota_exporter::readings::Reading;
use proxy_quota_exporter::snapshots::ReloadStatus;

#[path = "../benches/common.rs"]
mod common;

/// (user + system CPU seconds, peak resident bytes) of this process so far.
fn usage() -> (f64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
    });
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    (ticks / 100.0, hwm * 1024)
}

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000usize);
    let body = common::account_list(n);
    let (cpu_before, peak_before) = usage();
    let accounts =
        parse_accounts("/gateway/whitelist-account/list", &body, 1024).expect("valid answer");
    let snapshot = common::snapshot(Reading::Accounts(accounts));
    let agent = Default::default();
    let status = encoder::ExporterStatus {
        reload: ReloadStatus {
            successful: true,
            success_timestamp: 0.0,
        },
        agent: &agent,
        storage: Default::default(),
        shard: proxy_quota_exporter::shard::Shard::ALL,
        silences: Default::default(),
    };
    let plain = encoder::encode(&[snapshot], &status, std::time::Instant::now());
    let gzip = proxy_quota_exporter::exposition::gzip(&plain);
    let (cpu_after, peak_after) = usage();
    let series = plain.iter().filter(|b| **b == b'\n').count();
    println!(
        "sub_accounts={n} response_bytes={} series~{series} exposition_bytes={} gzip_bytes={} cpu_s={:.3} peak_growth_bytes={} peak_growth_over_response={:.2}",
        body.len(),
        plain.len(),
        gzip.len(),
        cpu_after - cpu_before,
        peak_after.saturating_sub(peak_before),
        peak_after.saturating_sub(peak_before) as f64 / body.len() as f64
    );
}
