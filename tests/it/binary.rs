//! The compiled binary against wiremock at `--log.level trace`: the app_key, the
//! sub-account passwords and the orders' invoices and payment methods appear
//! nowhere in its output, logs, metrics or pages, and it sends only GETs to the
//! contract's read endpoints.

use crate::common;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::process::{Child, Command};
use std::time::Duration;

use common::*;
use serde_json::json;
use wiremock::matchers::{header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const GOOD_KEY: &str = "LEAKCHECK-good-key-7f3a9e";
const REVOKED_KEY: &str = "LEAKCHECK-revoked-key-21bc4d";
const UNREACHABLE_KEY: &str = "LEAKCHECK-unreachable-key-90aa1f";
const IPWEB_TOKEN: &str = "LEAKCHECK-ipweb-token-5e77c2";
const FAULT_KEY: &str = "LEAKCHECK-fault-key-b81e03";
const PASSWORDS: [&str; 2] = ["LEAKCHECK-password-one", "LEAKCHECK-password-two"];

/// IPWeb's read endpoints of the contract.
const IPWEB_READ_PATHS: [&str; 6] = [
    "/prod-api/api/agent/getFlowConsumeDetail",
    "/prod-api/api/agent/getFlowTotalFull",
    "/prod-api/open/dynamic/flowReport",
    "/prod-api/api/agent/getNNIFlowConsumeDetail",
    "/prod-api/open/dynamic/rechargeFlowListForMe",
    "/prod-api/open/dynamic/myRechargeFlowList",
];

/// The gateway family's read endpoints of the contract, under either prefix.
const READ_PATHS: [&str; 9] = [
    "/user-usage-flow/total",
    "/user-product/summary",
    "/user-product/list",
    "/whitelist-account/list",
    "/ip/get-static-ip",
    "/proxy-ip/list",
    "/ip/static-ip-region",
    "/host-pool/regions",
    "/order/list",
];

struct Running {
    child: Child,
    port: u16,
    stdout: File,
    stderr: File,
}

impl Running {
    /// Starts the binary with stdout and stderr going to files, so that a chatty
    /// `trace` log can never fill a pipe and stall the process.
    fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Running {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let stdout = tempfile::tempfile().unwrap();
        let stderr = tempfile::tempfile().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_proxy-quota-exporter"))
            .args(args)
            .args(["--web.listen-address", &listen])
            .envs(envs.iter().copied())
            .stdout(stdout.try_clone().unwrap())
            .stderr(stderr.try_clone().unwrap())
            .spawn()
            .unwrap();
        Running {
            child,
            port,
            stdout,
            stderr,
        }
    }

    async fn get(&self, path: &str) -> Option<reqwest::Response> {
        reqwest::get(format!("http://127.0.0.1:{}{path}", self.port))
            .await
            .ok()
    }

    async fn wait_ready(&self) {
        for _ in 0..300 {
            if let Some(r) = self.get("/-/ready").await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("binary not ready within 15 s");
    }

    /// Sends SIGTERM, waits (at most 10 s) for the exit and returns
    /// (status, stdout, stderr).
    fn terminate(mut self) -> (std::process::ExitStatus, String, String) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                panic!("the binary did not exit within 10 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let read = |file: &mut File| {
            let mut text = String::new();
            file.seek(SeekFrom::Start(0)).unwrap();
            file.read_to_string(&mut text).unwrap();
            text
        };
        let stdout = read(&mut self.stdout);
        let stderr = read(&mut self.stderr);
        (status, stdout, stderr)
    }
}

/// One failing target per fault class, each under its own path prefix.
const FAULTS: [(&str, u16); 7] = [
    ("http", 503),
    ("rate-limited", 429),
    ("html", 200),
    ("invalid-json", 200),
    ("api-code", 200),
    ("data-null", 200),
    ("timeout", 200),
];

fn fault_response(name: &str, status: u16) -> ResponseTemplate {
    let r = ResponseTemplate::new(status);
    match name {
        "html" => r.set_body_raw("<html>maintenance</html>", "text/html"),
        "invalid-json" => r.set_body_string("{\"code\":200,\"data\":{"),
        "api-code" => r.set_body_json(json!({"code": 500, "msg": "busy", "data": null})),
        "data-null" => r.set_body_json(json!({"code": 200, "msg": "ok", "data": null})),
        "timeout" => r.set_delay(Duration::from_secs(30)),
        "rate-limited" => r.insert_header("Retry-After", "3600"),
        _ => r,
    }
}

async fn upstream() -> MockServer {
    let server = MockServer::start().await;
    for (name, status) in FAULTS {
        Mock::given(method("GET"))
            .and(path_regex(format!("^/fault-{name}/")))
            .respond_with(fault_response(name, status))
            .mount(&server)
            .await;
    }
    let accounts = json!({"code": 200, "msg": "ok", "data": {"list": [
        {"id": 1, "username": "alice", "password": PASSWORDS[0], "remark": "r", "product_type": 9,
         "usage_flow": 10, "limit_flow": 1, "status": 1},
        {"id": 2, "username": "bob", "password": PASSWORDS[1], "remark": "r", "product_type": 9,
         "usage_flow": 10, "limit_flow": 0, "status": 1},
    ]}});
    // ProxyLite's example order, paid yesterday, its invoice and payment
    // method filled with the leak marker.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut orders: serde_json::Value = serde_json::from_str(
        &fixture("gateway/orders_proxylite.json").replace("2019-08-24T14:15:22Z", &yesterday),
    )
    .unwrap();
    let order = &mut orders["data"]["list"][0];
    order["status"] = json!(1);
    order["pm_title"] = json!("LEAKCHECK-payment-method");
    for (key, text) in order["invoice"].as_object_mut().unwrap() {
        if text.is_string() {
            *text = json!(format!("LEAKCHECK-invoice-{key}"));
        }
    }
    for (api, body) in [
        ("/gateway/whitelist-account/list", accounts),
        ("/gateway/order/list", orders),
        (
            "/gateway/user-product/summary",
            fixture_json("gateway/summary.json"),
        ),
        (
            "/gateway/user-usage-flow/total",
            fixture_json("gateway/usage.json"),
        ),
        (
            "/gateway/user-product/list",
            fixture_json("gateway/packages.json"),
        ),
        (
            "/gateway/ip/get-static-ip",
            fixture_json("gateway/static_ips.json"),
        ),
        (
            "/gateway/proxy-ip/list",
            fixture_json("gateway/allowlist.json"),
        ),
        (
            "/gateway/ip/static-ip-region",
            fixture_json("gateway/static_ip_region.json"),
        ),
        (
            "/gateway/host-pool/regions",
            fixture_json("gateway/host_pool_regions.json"),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(api))
            .and(query_param("app_key", GOOD_KEY))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
    }
    for (api, body) in [
        (
            "/prod-api/api/agent/getFlowTotalFull",
            fixture_json("ipweb/summary.json"),
        ),
        (
            "/prod-api/api/agent/getFlowConsumeDetail",
            fixture_json("ipweb/consume_detail.json"),
        ),
        (
            "/prod-api/open/dynamic/flowReport",
            fixture_json("ipweb/flow_report.json"),
        ),
        (
            "/prod-api/api/agent/getNNIFlowConsumeDetail",
            fixture_json("ipweb/nni_consume_detail.json"),
        ),
        (
            "/prod-api/open/dynamic/rechargeFlowListForMe",
            fixture_json("ipweb/recharge_flow_list_for_me.json"),
        ),
        (
            "/prod-api/open/dynamic/myRechargeFlowList",
            fixture_json("ipweb/my_recharge_flow_list.json"),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(api))
            .and(header("token", IPWEB_TOKEN))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
    }
    // Every other request (the revoked key) gets the API's invalid-key answer.
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"code": 3, "msg": "app_key无效", "data": null})),
        )
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn secrets_and_passwords_never_leave_the_process_and_only_reads_are_sent() {
    let server = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.key"), format!("{GOOD_KEY}\n")).unwrap();
    std::fs::write(dir.path().join("ipweb.token"), IPWEB_TOKEN).unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            r#"
interval: 1s
timeout: 2s
targets:
  - name: good
    provider: bestproxy
    base_url: {uri}
    app_key_file: good.key
  - name: good-stock
    provider: bestproxy
    base_url: {uri}
    app_key_file: good.key
    endpoints: [stock]
  - name: revoked
    provider: proxylite
    base_url: {uri}/end-point
    app_key: ${{LEAKCHECK_REVOKED}}
  - name: unreachable
    provider: bestproxy
    base_url: http://127.0.0.1:{dead}
    app_key: {UNREACHABLE_KEY}
  - name: reseller
    provider: ipweb
    base_url: {uri}/prod-api
    token_file: ipweb.token
  - name: reseller-revoked
    provider: ipweb
    base_url: {uri}/prod-api
    token: wrong-${{LEAKCHECK_REVOKED}}
{faults}"#,
            faults = FAULTS
                .iter()
                .map(|(name, _)| format!(
                    "  - name: fault-{name}\n    provider: bestproxy\n    base_url: {}/fault-{name}\n    app_key: {FAULT_KEY}\n    endpoints: [summary, accounts]\n",
                    server.uri()
                ))
                .collect::<String>(),
            uri = server.uri(),
            dead = free_port()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();

    let mut output = String::new();
    for format in ["logfmt", "json"] {
        let running = Running::spawn(
            &[
                "--config.file",
                config,
                "--log.level",
                "trace",
                "--log.format",
                format,
            ],
            &[("LEAKCHECK_REVOKED", REVOKED_KEY)],
        );
        running.wait_ready().await;
        // Let a second round of polls (with failures) be logged too.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let metrics = running.get("/metrics").await.unwrap().text().await.unwrap();
        for target in ["good", "good-stock"] {
            assert_eq!(
                value(&metrics, "proxy_up", &[("target", target)]),
                Some(1.0),
                "{target}: {metrics}"
            );
        }
        for endpoint in ["usage", "nni_usage", "recharges"] {
            let labels = [("target", "reseller"), ("endpoint", endpoint)];
            assert_eq!(
                value(&metrics, "proxy_exporter_poll_success", &labels),
                Some(1.0),
                "{endpoint}: {metrics}"
            );
        }
        assert_eq!(
            value(&metrics, "proxy_up", &[("target", "revoked")]),
            Some(0.0)
        );
        assert_eq!(
            value(&metrics, "proxy_up", &[("target", "unreachable")]),
            Some(0.0)
        );
        assert!(samples(&metrics, "proxy_account_used_bytes").len() == 2);
        let landing = running.get("/").await.unwrap().text().await.unwrap();
        for class in [
            "http",
            "rate_limited",
            "decode",
            "api",
            "timeout",
            "connect",
            "auth",
        ] {
            let counted = samples(&metrics, "proxy_exporter_poll_errors_total")
                .iter()
                .any(|l| l.contains(&format!("reason=\"{class}\"")) && !l.ends_with(" 0"));
            assert!(counted, "fault class {class} was not triggered:\n{metrics}");
        }
        // A refused reload names the problem, not the secrets in the file.
        let good = std::fs::read_to_string(config).unwrap();
        std::fs::write(
            config,
            good.replace("provider: bestproxy", "provider: bestproxy\n    bogus: 1"),
        )
        .unwrap();
        let refused = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/-/reload", running.port))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 500);
        let refused = refused.text().await.unwrap();
        std::fs::write(config, good).unwrap();
        assert!(refused.contains("bogus"), "{refused}");
        let (status, stdout, stderr) = running.terminate();
        assert!(status.success(), "exit {status}: {stderr}");
        assert!(
            stderr.contains("poll failed"),
            "failures must be logged:\n{stderr}"
        );
        output += &format!("{metrics}\n{landing}\n{refused}\n{stdout}\n{stderr}\n");
    }

    let check = Command::new(env!("CARGO_BIN_EXE_proxy-quota-exporter"))
        .args(["--config.check", "--config.file", config])
        .env("LEAKCHECK_REVOKED", REVOKED_KEY)
        .output()
        .unwrap();
    assert!(check.status.success());
    output += &String::from_utf8_lossy(&check.stdout);
    output += &String::from_utf8_lossy(&check.stderr);

    for secret in [GOOD_KEY, REVOKED_KEY, UNREACHABLE_KEY]
        .iter()
        .chain(&PASSWORDS)
    {
        assert!(!output.contains(secret), "{secret} leaked:\n{output}");
    }
    // The marker shared by every secret catches partial leaks (a truncated key).
    assert!(!output.contains("LEAKCHECK"), "a secret leaked:\n{output}");

    let requests = server.received_requests().await.unwrap();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r.method.as_str(), "GET", "{} {}", r.method, r.url.path());
        let p = r.url.path();
        // Fault targets live under /fault-NAME; what follows is the real path.
        let p = match p.strip_prefix("/fault-") {
            Some(rest) => &rest[rest.find('/').unwrap_or(0)..],
            None => p,
        };
        let allowed = IPWEB_READ_PATHS.contains(&p)
            || READ_PATHS
                .iter()
                .any(|read| p == format!("/gateway{read}") || p == format!("/end-point{read}"));
        assert!(allowed, "request to a path outside the read endpoints: {p}");
    }
}
