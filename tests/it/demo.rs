//! `--demo` end to end: the binary with no configuration serves every metric
//! family of the contract for three simulated providers, remaining traffic falls
//! between polls, and the simulator's expiring static IPs show up with the right
//! timestamps.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use proxy_quota_exporter::simulator::data::{Dataset, Sizes};
use proxy_quota_exporter::simulator::SimulatorConfig;

/// Every metric family the contract names (CONTRACT.md, "Metrics", "More of
/// the providers' read endpoints", "Alerting agent", "Scale-out" and "Orders").
const CONTRACT_FAMILIES: &[&str] = &[
    "proxy_traffic_remaining_bytes",
    "proxy_traffic_purchased_bytes",
    "proxy_traffic_used_bytes",
    "proxy_traffic_expiring_bytes",
    "proxy_traffic_expired_bytes",
    "proxy_traffic_lifetime_purchased_bytes",
    "proxy_traffic_lifetime_used_bytes",
    "proxy_packages",
    "proxy_package_expiry_timestamp_seconds",
    "proxy_usage_today_bytes",
    "proxy_usage_yesterday_bytes",
    "proxy_account_used_bytes",
    "proxy_account_limit_bytes",
    "proxy_account_enabled",
    "proxy_account_info",
    "proxy_static_ip_expiry_timestamp_seconds",
    "proxy_static_ips",
    "proxy_customer_usage_today_bytes",
    "proxy_nni_usage_today_bytes",
    "proxy_nni_usage_yesterday_bytes",
    "proxy_recharge_last_timestamp_seconds",
    "proxy_recharge_last_30d_bytes",
    "proxy_allowlist_ips",
    "proxy_static_ip_stock",
    "proxy_host_pool_ips",
    // Orders (issue 25).
    "proxy_orders",
    "proxy_order_paid_30d",
    "proxy_order_last_paid_timestamp_seconds",
    "proxy_up",
    "proxy_exporter_poll_success",
    "proxy_exporter_poll_duration_seconds",
    "proxy_exporter_last_success_timestamp_seconds",
    "proxy_exporter_poll_errors_total",
    "proxy_exporter_build_info",
    // The alerting agent's.
    "proxy_exporter_alerts",
    "proxy_exporter_notifications_total",
    "proxy_exporter_notifications_pending",
    // Label values from providers (issue 21).
    "proxy_exporter_label_values_truncated_total",
    // Silences (issue 22).
    "proxy_exporter_silences",
    // Scale-out.
    "proxy_exporter_upstream_requests_total",
    "proxy_exporter_shard_info",
];

struct Demo(Child, u16);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn scrape(port: u16) -> Option<String> {
    reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()
}

/// Families the exporter adds beyond the contract (issue 6: configuration
/// reloads; issue 13: the store's health).
const EXTRA_FAMILIES: [&str; 4] = [
    "proxy_exporter_config_last_reload_successful",
    "proxy_exporter_config_last_reload_success_timestamp_seconds",
    "proxy_exporter_storage_open",
    "proxy_exporter_storage_errors_total",
];

#[test]
fn the_catalogue_is_the_contract() {
    let mut catalogue: Vec<_> = proxy_quota_exporter::metrics::CATALOGUE
        .iter()
        .map(|d| d.name)
        .collect();
    let mut expected: Vec<_> = CONTRACT_FAMILIES
        .iter()
        .chain(&EXTRA_FAMILIES)
        .copied()
        .collect();
    catalogue.sort_unstable();
    expected.sort_unstable();
    assert_eq!(catalogue, expected);
}

#[tokio::test]
async fn demo_serves_every_family_and_lives() {
    let started = chrono::Utc::now().timestamp();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let demo = Demo(
        Command::new(env!("CARGO_BIN_EXE_proxy-quota-exporter"))
            .args([
                "--demo",
                "--demo.interval",
                "1s",
                "--web.listen-address",
                &format!("127.0.0.1:{port}"),
            ])
            .env_remove("PROXY_QUOTA_EXPORTER_CONFIG_FILE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        port,
    );

    // Within 20 s: proxy_up 1 for each simulated provider.
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        if let Some(m) = scrape(demo.1).await {
            let up = ["demo-bestproxy", "demo-proxylite", "demo-ipweb"]
                .iter()
                .all(|t| value(&m, "proxy_up", &[("target", t)]) == Some(1.0));
            // The agent evaluates every 10 s in the demo.
            let evaluated = !samples(&m, "proxy_exporter_alerts").is_empty();
            if up && evaluated {
                break m;
            }
        }
        assert!(Instant::now() < deadline, "demo not up within 20 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for family in CONTRACT_FAMILIES {
        assert!(
            !samples(&first, family).is_empty(),
            "{family} missing from the demo"
        );
    }
    assert!(first.contains("process_resident_memory_bytes"));
    let page = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("SIMULATED"),
        "the landing page must say the data is simulated"
    );

    // Remaining traffic falls across two polls (1 s apart).
    let pool = [
        ("target", "demo-bestproxy"),
        ("pool", "dynamic_residential"),
    ];
    let before = value(&first, "proxy_traffic_remaining_bytes", &pool).unwrap();
    let ipweb_before = value(
        &first,
        "proxy_traffic_remaining_bytes",
        &[("target", "demo-ipweb"), ("pool", "primary")],
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let later = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let m = scrape(demo.1).await.unwrap();
        let ipweb = value(
            &m,
            "proxy_traffic_remaining_bytes",
            &[("target", "demo-ipweb"), ("pool", "primary")],
        );
        // Each target polls on its own schedule: wait for both to move.
        if value(&m, "proxy_traffic_remaining_bytes", &pool).unwrap() != before
            && ipweb != Some(ipweb_before)
        {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "remaining traffic did not change within 10 s"
        );
    };
    assert!(value(&later, "proxy_traffic_remaining_bytes", &pool).unwrap() < before);
    let ipweb_after = value(
        &later,
        "proxy_traffic_remaining_bytes",
        &[("target", "demo-ipweb"), ("pool", "primary")],
    )
    .unwrap();
    assert!(ipweb_after < ipweb_before, "{ipweb_after} < {ipweb_before}");

    // The simulator's static IPs expiring within 7 days, at their exact offsets
    // from the simulator's start (which lies within this test's run).
    let defaults = SimulatorConfig::default();
    let dataset = Dataset::generate(
        defaults.seed,
        Sizes {
            sub_accounts: defaults.sub_accounts,
            static_ips: defaults.static_ips,
            customers: defaults.customers,
        },
    );
    let now = chrono::Utc::now().timestamp();
    let soon: Vec<_> = dataset
        .bestproxy
        .static_ips
        .iter()
        .filter(|ip| ip.expires_in > 0 && ip.expires_in <= 7 * 86_400)
        .collect();
    assert!(
        soon.iter().any(|ip| ip.expires_in <= 2 * 86_400),
        "the demo needs an IP expiring within 2 days"
    );
    let mut anchors = Vec::new();
    for ip in soon {
        let labels = [("target", "demo-bestproxy"), ("ip", ip.ip.as_str())];
        let expiry =
            value(&later, "proxy_static_ip_expiry_timestamp_seconds", &labels).unwrap() as i64;
        let anchor = expiry - ip.expires_in;
        assert!(
            anchor >= started - 1 && anchor <= now,
            "{} expires at {expiry}, anchor {anchor} not in [{started}, {now}]",
            ip.ip
        );
        anchors.push(anchor);
    }
    anchors.dedup();
    assert_eq!(
        anchors.len(),
        1,
        "every expiry is the same start plus its own offset: {anchors:?}"
    );
}
