//! The provider simulator as a library piece: the exporter pointed at it reads
//! all three providers, and its fault injection produces each error reason.

mod common;

use std::time::Duration;

use common::*;
use proxy_quota_exporter::providers::Endpoint;
use proxy_quota_exporter::simulator::{Fault, SimProvider, Simulator, SimulatorConfig};

#[tokio::test]
async fn the_exporter_reads_every_simulated_provider() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let exporter = Exporter::start(&simulator.demo_config_yaml(Duration::from_secs(60))).await;
    let m = exporter.metrics().await;
    for target in ["demo-bestproxy", "demo-proxylite", "demo-ipweb"] {
        assert_eq!(
            value(&m, "proxy_up", &[("target", target)]),
            Some(1.0),
            "{target}\n{m}"
        );
    }
    // The alerting agent's families need an `alerting` section (tests/agent_e2e.rs).
    let agent = [
        "proxy_exporter_alerts",
        "proxy_exporter_notifications_total",
    ];
    for name in proxy_quota_exporter::metrics::CATALOGUE
        .iter()
        .map(|d| d.name)
        .filter(|n| !agent.contains(n))
    {
        assert!(!samples(&m, name).is_empty(), "{name} missing");
    }
    // The simulator's sizes: 12 sub-accounts and 24 static IPs per gateway account
    // (one IP has lapsed but still has an expiry), 300 IPWeb customers.
    let accounts = samples(&m, "proxy_account_used_bytes");
    assert_eq!(accounts.len(), 24);
    assert_eq!(
        samples(&m, "proxy_static_ip_expiry_timestamp_seconds").len(),
        48
    );
    assert_eq!(samples(&m, "proxy_customer_usage_today_bytes").len(), 600);
    // An unlimited account has no limit; one account sits above 90 % of its limit.
    assert_eq!(samples(&m, "proxy_account_limit_bytes").len(), 22);
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
