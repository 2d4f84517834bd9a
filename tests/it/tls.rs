//! `--web.config.file`: a real Prometheus scrapes the exporter over TLS with basic
//! auth from an exporter-toolkit web config, and is refused without credentials.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{demo_command, free_port, Guard};
use serde_json::Value;

#[tokio::test]
async fn prometheus_scrapes_over_tls_with_basic_auth_and_is_refused_without() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    std::fs::write(dir.path().join("server.crt"), cert.cert.pem()).unwrap();
    std::fs::write(
        dir.path().join("server.key"),
        cert.signing_key.serialize_pem(),
    )
    .unwrap();
    let password = "scrape-password-9d1";
    let hash = bcrypt::hash(password, 6).unwrap();
    std::fs::write(
        dir.path().join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS12\nbasic_auth_users:\n  prometheus: {hash}\n"
        ),
    )
    .unwrap();

    let exporter_port = free_port();
    let _exporter = Guard(
        demo_command(exporter_port)
            .args([
                "--web.config.file",
                dir.path().join("web.yml").to_str().unwrap(),
            ])
            .spawn()
            .unwrap(),
    );

    // Directly: no credentials or wrong ones get 401 and no data; plain HTTP fails.
    let ca = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{exporter_port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(15);
    let anonymous = loop {
        match client.get(&url).send().await {
            Ok(r) => break r,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("exporter not reachable over TLS: {e}"),
        }
    };
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    assert!(!anonymous.text().await.unwrap().contains("proxy_"));
    let wrong = client
        .get(&url)
        .basic_auth("prometheus", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let right = client
        .get(&url)
        .basic_auth("prometheus", Some(password))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    // A reload from the exporter's own origin is https://, not http://; the demo
    // has no configuration file, so one that passes the origin check is a 400.
    let reload = format!("https://127.0.0.1:{exporter_port}/-/reload");
    for (origin, expected) in [
        (format!("https://127.0.0.1:{exporter_port}"), 400),
        (format!("http://127.0.0.1:{exporter_port}"), 403),
    ] {
        let response = client
            .post(&reload)
            .basic_auth("prometheus", Some(password))
            .header("origin", &origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "Origin: {origin}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    let plain = reqwest::get(format!("http://127.0.0.1:{exporter_port}/metrics")).await;
    assert!(
        !plain.is_ok_and(|r| r.status().is_success()),
        "plain HTTP must not serve metrics"
    );

    // A real Prometheus: one job with TLS and credentials, one without credentials.
    std::fs::write(dir.path().join("password"), password).unwrap();
    let prometheus_port = free_port();
    let config = format!(
        r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: with-auth
    scheme: https
    tls_config:
      ca_file: {dir}/server.crt
    basic_auth:
      username: prometheus
      password_file: {dir}/password
    static_configs:
      - targets: ['127.0.0.1:{exporter_port}']
  - job_name: without-auth
    scheme: https
    tls_config:
      ca_file: {dir}/server.crt
    static_configs:
      - targets: ['127.0.0.1:{exporter_port}']
"#,
        dir = dir.path().display()
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let _prometheus = Guard(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "prometheus is installed (the README's test command installs Debian's package)",
            ),
    );
    let query = |q: &'static str| async move {
        let body = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{prometheus_port}/api/v1/query"))
            .query(&[("query", q)])
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let v: Value = serde_json::from_str(&body).ok()?;
        v["data"]["result"]
            .as_array()
            .and_then(|r| r.first())
            .map(|s| s["value"][1].as_str().unwrap_or("").to_owned())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let with = query(r#"up{job="with-auth"}"#).await;
        let without = query(r#"up{job="without-auth"}"#).await;
        let data = query(r#"count(proxy_up{job="with-auth"} == 1)"#).await;
        if with.as_deref() == Some("1")
            && without.as_deref() == Some("0")
            && data.as_deref() == Some("4")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "expected up 1 with auth, 0 without, 4 targets up; got {with:?} {without:?} {data:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        query(r#"proxy_up{job="without-auth"}"#).await.is_none(),
        "no data without credentials"
    );
}
