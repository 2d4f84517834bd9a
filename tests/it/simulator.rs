//! The provider simulator as a library piece: the exporter pointed at it reads
//! all three providers, its data moves with time, and its fault injection
//! produces each error reason.

use crate::common;

use std::time::Duration;

use common::*;
use proxy_quota_exporter::providers::Endpoint;
use proxy_quota_exporter::simulator::{Fault, SimProvider, Simulator, SimulatorConfig};

#[tokio::test]
async fn the_exporter_reads_every_simulated_provider() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let exporter = Exporter::start(&simulator.demo_config_yaml(Duration::from_secs(60))).await;
    let m = exporter.metrics().await;
    for target in [
        "demo-bestproxy",
        "demo-proxylite",
        "demo-ipweb",
        "demo-custom",
    ] {
        assert_eq!(
            value(&m, "proxy_up", &[("target", target)]),
            Some(1.0),
            "{target}\n{m}"
        );
    }
    // The alerting agent's families need an `alerting` section (tests/it/agent_e2e.rs),
    // the store's a store (tests/it/storage.rs).
    let agent = [
        "proxy_exporter_alerts",
        "proxy_exporter_notifications_total",
        "proxy_exporter_notifications_pending",
        "proxy_exporter_storage_open",
        "proxy_exporter_storage_errors_total",
    ];
    for name in proxy_quota_exporter::metrics::CATALOGUE
        .iter()
        .map(|d| d.name)
        .filter(|n| !agent.contains(n))
    {
        assert!(!samples(&m, name).is_empty(), "{name} missing");
    }
    // The simulator's sizes: 12 sub-accounts and 24 static IPs per gateway account
    // and the custom API's (one IP has lapsed but still has an expiry), 300 IPWeb
    // customers.
    let accounts = samples(&m, "proxy_account_used_bytes");
    assert_eq!(accounts.len(), 36);
    assert_eq!(
        samples(&m, "proxy_static_ip_expiry_timestamp_seconds").len(),
        72
    );
    assert_eq!(samples(&m, "proxy_customer_usage_today_bytes").len(), 600);
    // An unlimited account has no limit; one account sits above 90 % of its limit.
    assert_eq!(samples(&m, "proxy_account_limit_bytes").len(), 33);
    let used = value(
        &m,
        "proxy_account_used_bytes",
        &[("target", "demo-bestproxy"), ("account", "user001")],
    )
    .unwrap();
    let limit = value(
        &m,
        "proxy_account_limit_bytes",
        &[("target", "demo-bestproxy"), ("account", "user001")],
    )
    .unwrap();
    assert!(used / limit > 0.9 && used / limit < 1.0, "{used} / {limit}");
    assert!(
        !m.contains("demo-password"),
        "passwords must never be exported"
    );
    // Recharges credited to the agent: 2048 and 500 GiB within the 30 days; the
    // one of 35 days ago is not counted.
    assert_eq!(
        value(
            &m,
            "proxy_recharge_last_30d_bytes",
            &[("target", "demo-ipweb"), ("direction", "received")]
        ),
        Some(2548.0 * 1024.0 * 1024.0 * 1024.0)
    );
    // The stock of the six simulated countries, of both kinds, and the host pool.
    assert_eq!(
        samples(&m, "proxy_static_ip_stock").len(),
        2 * 2 * 6,
        "two gateway targets"
    );
    assert_eq!(samples(&m, "proxy_host_pool_ips").len(), 2 * 6);
    assert!(!m.contains(proxy_quota_exporter::simulator::BESTPROXY_APP_KEY));
    exporter.stop().await;
}

#[tokio::test]
async fn injected_faults_map_to_their_reasons() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let cases = [
        (Endpoint::Usage, Fault::Http(500), "http"),
        (
            Endpoint::Summary,
            Fault::RateLimited {
                retry_after_secs: 1,
            },
            "rate_limited",
        ),
        (Endpoint::Packages, Fault::InvalidJson, "decode"),
        (Endpoint::Accounts, Fault::Html, "decode"),
        (Endpoint::StaticIps, Fault::Hang, "timeout"),
    ];
    for (endpoint, fault, _) in cases {
        simulator.set_fault(SimProvider::BestProxy, endpoint, Some(fault));
    }
    simulator.set_fault(
        SimProvider::ProxyLite,
        Endpoint::Summary,
        Some(Fault::AuthError),
    );
    simulator.set_fault(
        SimProvider::ProxyLite,
        Endpoint::Accounts,
        Some(Fault::DataNull),
    );
    simulator.set_fault(
        SimProvider::Ipweb,
        Endpoint::Customers,
        Some(Fault::AuthError),
    );
    let yaml = simulator
        .demo_config_yaml(Duration::from_secs(60))
        .replace("timeout: 5s", "timeout: 1s");
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    let errors = |target: &str, endpoint: &str, reason: &str| {
        value(
            &m,
            "proxy_exporter_poll_errors_total",
            &[
                ("target", target),
                ("endpoint", endpoint),
                ("reason", reason),
            ],
        )
    };
    for (endpoint, _, reason) in cases {
        assert_eq!(
            errors("demo-bestproxy", endpoint.as_str(), reason),
            Some(1.0),
            "{endpoint} → {reason}"
        );
    }
    assert_eq!(errors("demo-proxylite", "summary", "auth"), Some(1.0));
    assert_eq!(errors("demo-proxylite", "accounts", "decode"), Some(1.0));
    assert_eq!(errors("demo-proxylite", "usage", "auth"), Some(0.0));
    assert_eq!(errors("demo-ipweb", "customers", "auth"), Some(1.0));
    assert_eq!(
        value(&m, "proxy_up", &[("target", "demo-bestproxy")]),
        Some(0.0)
    );
    assert_eq!(
        value(&m, "proxy_up", &[("target", "demo-proxylite")]),
        Some(0.0)
    );
    // The endpoints without faults still deliver.
    assert!(value(
        &m,
        "proxy_usage_today_bytes",
        &[("target", "demo-proxylite")]
    )
    .is_some());
    exporter.stop().await;
}

#[tokio::test]
async fn a_wrong_credential_is_refused_like_the_real_apis() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let yaml = simulator
        .demo_config_yaml(Duration::from_secs(60))
        .replace(
            proxy_quota_exporter::simulator::PROXYLITE_APP_KEY,
            "wrong-key",
        )
        .replace(proxy_quota_exporter::simulator::IPWEB_TOKEN, "wrong-token");
    let exporter = Exporter::start(&yaml).await;
    let m = exporter.metrics().await;
    assert_eq!(
        value(&m, "proxy_up", &[("target", "demo-bestproxy")]),
        Some(1.0)
    );
    for (target, endpoint) in [("demo-proxylite", "summary"), ("demo-ipweb", "summary")] {
        let labels = [
            ("target", target),
            ("endpoint", endpoint),
            ("reason", "auth"),
        ];
        assert_eq!(
            value(&m, "proxy_exporter_poll_errors_total", &labels),
            Some(1.0),
            "{target}"
        );
    }
    exporter.stop().await;
}

/// Recharges arrive, IPs join the allow-list and the stock moves while the
/// simulator runs: its answers at the start and an hour later differ.
#[test]
fn the_simulated_recharges_allowlist_and_stock_move_with_time() {
    use proxy_quota_exporter::simulator::data::{
        Clock, Dataset, RechargeList, Sizes, StockList, GIVEN_RECHARGE_EVERY,
    };
    let defaults = SimulatorConfig::default();
    let dataset = Dataset::generate(
        defaults.seed,
        Sizes {
            sub_accounts: defaults.sub_accounts,
            static_ips: defaults.static_ips,
            customers: defaults.customers,
        },
    );
    let start = chrono::Utc::now();
    let at = |seconds: i64| Clock {
        start,
        now: start + chrono::Duration::seconds(seconds),
    };
    let given = |clock: &Clock| dataset.ipweb.recharges(RechargeList::Mine, clock);
    let (before, after) = (given(&at(0)), given(&at(3600)));
    assert_eq!(
        after.len() - before.len(),
        (3600 / GIVEN_RECHARGE_EVERY) as usize
    );
    assert!(after[0].at > before[0].at, "newest first, and newer");
    assert!(
        before.iter().any(|r| r.flow_mb < 0.0),
        "consumption rows among the recharges, as in the document's example"
    );
    let allowed = |clock: &Clock| {
        dataset.bestproxy.allowlist(clock)["list"]
            .as_array()
            .unwrap()
            .len()
    };
    assert!(allowed(&at(3600)) > allowed(&at(0)));
    let stock = |clock: &Clock| dataset.bestproxy.stock(StockList::Datacenter, clock);
    assert_ne!(stock(&at(0)), stock(&at(3600)));
    let nni = |clock: &Clock| dataset.ipweb.nni_consumption(clock);
    assert_ne!(nni(&at(0)), nni(&at(3600)));
}
