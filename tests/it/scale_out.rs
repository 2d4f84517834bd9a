//! Scale-out (the contract's "Scale-out"): three shards over one file of 90
//! targets poll and serve every target exactly once, as the simulator's request
//! log shows; `/probe` serves one target's lines of `/metrics` (auth and gzip
//! as `/metrics`, 400, 404, no series before the first poll); a reload keeps
//! to the shard; every request sent upstream is counted, retries included,
//! and `max_requests_per_second` spaces them.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::time::{Duration, Instant};

use common::{samples, value, Exporter};
use proxy_quota_exporter::providers::Endpoint;
use proxy_quota_exporter::shard::{shard_of, Shard};
use proxy_quota_exporter::simulator::{
    Fault, SimProvider, Simulator, SimulatorConfig, BESTPROXY_APP_KEY, IPWEB_TOKEN,
    PROXYLITE_APP_KEY,
};
use proxy_quota_exporter::Options;

/// One target of the simulator per name, the providers in turn, each with its
/// own credential (the demo key with the name as suffix), polled once an hour:
/// in a test, exactly once.
fn targets_yaml(simulator: &Simulator, names: &[String]) -> String {
    let mut yaml = String::from("interval: 1h\ntimeout: 20s\ntargets:\n");
    for (i, name) in names.iter().enumerate() {
        let (provider, sim, key, credential) = match i % 3 {
            0 => (
                "bestproxy",
                SimProvider::BestProxy,
                "app_key",
                BESTPROXY_APP_KEY,
            ),
            1 => (
                "proxylite",
                SimProvider::ProxyLite,
                "app_key",
                PROXYLITE_APP_KEY,
            ),
            _ => ("ipweb", SimProvider::Ipweb, "token", IPWEB_TOKEN),
        };
        yaml.push_str(&format!(
            "  - name: {name}\n    provider: {provider}\n    base_url: {}\n    {key}: {credential}.{name}\n",
            simulator.base_url(sim)
        ));
    }
    yaml
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("shop-{i:02}")).collect()
}

async fn get(exporter: &Exporter, path: &str) -> (u16, String) {
    let response = exporter.get(path).await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Waits until the exporter is ready; a loaded machine gets a minute.
async fn ready(exporter: &Exporter) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !exporter.get("/-/ready").await.status().is_success() {
        assert!(Instant::now() < deadline, "not ready within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `target` labels of `proxy_up` on a page.
fn served(metrics: &str) -> BTreeSet<String> {
    samples(metrics, "proxy_up")
        .iter()
        .filter_map(|l| l.split("target=\"").nth(1)?.split('"').next())
        .map(str::to_owned)
        .collect()
}

fn shard(index: u32, total: u32) -> Options {
    Options {
        shard: Shard::new(index, total).unwrap(),
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_poll_and_serve_each_of_90_targets_exactly_once() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let names = names(90);
    let yaml = targets_yaml(&simulator, &names);
    let mut exporters = Vec::new();
    for index in 0..3 {
        exporters.push(Exporter::start_with(&yaml, shard(index, 3)).await);
    }
    for exporter in &exporters {
        ready(exporter).await;
    }

    // The simulator saw every target's credential, and each endpoint of each
    // target exactly once: one poll by one process (every list fits one page,
    // and nothing failed, so nothing was retried).
    let mut requests: BTreeMap<(String, Endpoint), usize> = BTreeMap::new();
    for r in simulator.requests() {
        let suffix = r.credential_suffix.expect("every credential is accepted");
        *requests.entry((suffix, r.endpoint)).or_default() += 1;
    }
    let polled: BTreeSet<_> = requests.keys().map(|(t, _)| t.clone()).collect();
    assert_eq!(polled, names.iter().cloned().collect());
    // `recharges` reads two lists: two requests a poll.
    let once = |endpoint: &Endpoint| {
        if *endpoint == Endpoint::Recharges {
            2
        } else {
            1
        }
    };
    let repeated: Vec<_> = requests
        .iter()
        .filter(|((_, endpoint), n)| **n != once(endpoint))
        .collect();
    assert!(
        repeated.is_empty(),
        "{} (target, endpoint) pairs requested more than once, first: {:?}",
        repeated.len(),
        &repeated[..repeated.len().min(5)]
    );

    // Each process serves exactly its shard's targets; together all 90, once.
    let mut seen = BTreeSet::new();
    for (index, exporter) in exporters.iter().enumerate() {
        let (_, metrics) = get(exporter, "/metrics").await;
        let mine = served(&metrics);
        let expected: BTreeSet<_> = names
            .iter()
            .filter(|n| shard_of(n, 3) == index as u32)
            .cloned()
            .collect();
        assert_eq!(mine, expected, "shard {index}");
        assert!(
            !mine.is_empty() && mine.len() < 50,
            "shard {index}: {mine:?}"
        );
        assert!(seen.is_disjoint(&mine));
        seen.extend(mine);
        assert!(metrics.contains(&format!(
            "proxy_exporter_shard_info{{shard=\"{index}\",total_shards=\"3\"}} 1\n"
        )));
        // Its own count of the requests it sent equals what the simulator saw.
        for target in &expected {
            let sent: f64 = samples(&metrics, "proxy_exporter_upstream_requests_total")
                .iter()
                .filter(|l| l.contains(&format!("target=\"{target}\"")))
                .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
                .sum();
            let logged: usize = requests
                .iter()
                .filter(|((t, _), _)| t == target)
                .map(|(_, n)| n)
                .sum();
            assert_eq!(sent, logged as f64, "{target}");
        }
    }
    assert_eq!(seen.len(), 90);

    // A probe is answered by the owner only; the others say who owns it.
    for name in ["shop-00", "shop-41", "shop-89"] {
        let owner = shard_of(name, 3) as usize;
        for (index, exporter) in exporters.iter().enumerate() {
            let (status, body) = get(exporter, &format!("/probe?target={name}")).await;
            if index == owner {
                assert_eq!(status, 200, "{body}");
                assert!(body.contains("proxy_up{provider="), "{body}");
            } else {
                assert_eq!(status, 404, "{name} on shard {index}: {body}");
                assert_eq!(
                    body,
                    format!(
                        "Unknown target \"{name}\": not configured in shard {index} of 3 (a target of that name is served by shard {owner})\n"
                    )
                );
            }
        }
    }
    for exporter in exporters {
        exporter.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_is_one_targets_lines_of_metrics_with_the_same_gzip_and_auth() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let names = names(3);
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("pw", 4).unwrap();
    let web_file = dir.path().join("web.yml");
    std::fs::write(
        &web_file,
        format!("basic_auth_users:\n  prometheus: {hash}\n"),
    )
    .unwrap();
    let options = Options {
        web: Some(proxy_quota_exporter::web::WebConfig::load(&web_file).unwrap()),
        ..Options::default()
    };
    let exporter = Exporter::start_with(&targets_yaml(&simulator, &names), options).await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{}{path}", exporter.addr);
    let fetch = |path: String, gzip: bool| {
        let mut request = client.get(url(&path)).basic_auth("prometheus", Some("pw"));
        if gzip {
            request = request.header("Accept-Encoding", "gzip");
        }
        async move { request.send().await.unwrap() }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !fetch("/-/ready".into(), false).await.status().is_success() {
        assert!(Instant::now() < deadline, "not ready within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Without credentials: refused, as /metrics is.
    let refused = client
        .get(url("/probe?target=shop-00"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let metrics = fetch("/metrics".into(), false).await.text().await.unwrap();
    for name in &names {
        let response = fetch(format!("/probe?target={name}"), false).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let probe = response.text().await.unwrap();
        assert_eq!(probe, lines_of(&metrics, name), "{name}");
        assert!(probe.contains("proxy_traffic_remaining_bytes{"), "{probe}");
        assert!(!probe.contains("process_") && !probe.contains("build_info"));
        assert!(common::promtool_check_metrics(&probe).trim().is_empty());

        let zipped = fetch(format!("/probe?target={name}"), true).await;
        assert_eq!(zipped.headers()["content-encoding"], "gzip");
        let bytes = zipped.bytes().await.unwrap();
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, probe);
    }

    for (path, status, body) in [
        (
            "/probe",
            400,
            "Missing parameter: /probe?target=NAME names a configured target\n",
        ),
        (
            "/probe?target=",
            400,
            "Missing parameter: /probe?target=NAME names a configured target\n",
        ),
        (
            "/probe?target=nope",
            404,
            "Unknown target \"nope\": not configured\n",
        ),
    ] {
        let response = fetch(path.into(), false).await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(response.text().await.unwrap(), body, "{path}");
    }
    exporter.stop().await;
}

/// What `/probe?target=NAME` should be: the page's lines of that target, each
/// family's HELP and TYPE lines before its first one.
fn lines_of(metrics: &str, target: &str) -> String {
    let label = format!("target=\"{target}\"");
    let mut out = String::new();
    let mut header = String::new();
    for line in metrics.lines() {
        if line.starts_with("# HELP") {
            header = format!("{line}\n");
        } else if line.starts_with("# TYPE") {
            header.push_str(line);
            header.push('\n');
        } else if line.contains(&label) {
            out.push_str(&std::mem::take(&mut header));
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_whose_first_poll_runs_has_no_series_yet() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    simulator.set_fault(SimProvider::Ipweb, Endpoint::Usage, Some(Fault::Hang));
    let names = names(3);
    let exporter = Exporter::start(&targets_yaml(&simulator, &names)).await;
    // shop-02 is the IPWeb target, whose usage endpoint hangs for 20 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(&exporter, "/probe?target=shop-00").await;
        if status == 200 && !body.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "shop-00 not polled within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        get(&exporter, "/probe?target=shop-02").await,
        (200, String::new())
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_to_the_shard() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    let all = names(12);
    std::fs::write(&file, targets_yaml(&simulator, &all[..6])).unwrap();
    let options = Options {
        config_file: Some(file.clone()),
        ..shard(1, 2)
    };
    let yaml = std::fs::read_to_string(&file).unwrap();
    let exporter = Exporter::start_with(&yaml, options).await;
    ready(&exporter).await;
    let share = |names: &[String]| -> BTreeSet<String> {
        names
            .iter()
            .filter(|n| shard_of(n, 2) == 1)
            .cloned()
            .collect()
    };
    assert_eq!(
        served(&get(&exporter, "/metrics").await.1),
        share(&all[..6])
    );

    std::fs::write(&file, targets_yaml(&simulator, &all)).unwrap();
    let reloaded = reqwest::Client::new()
        .post(format!("http://{}/-/reload", exporter.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(reloaded.status(), 200);
    assert!(share(&all).len() > share(&all[..6]).len());
    let deadline = Instant::now() + Duration::from_secs(60);
    while served(&get(&exporter, "/metrics").await.1) != share(&all) {
        assert!(
            Instant::now() < deadline,
            "the reloaded shard not served within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Only this shard's targets were ever polled.
    let polled: BTreeSet<_> = simulator
        .requests()
        .into_iter()
        .filter_map(|r| r.credential_suffix)
        .collect();
    assert_eq!(polled, share(&all));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_sent_is_counted_retries_included() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    simulator.set_fault(
        SimProvider::BestProxy,
        Endpoint::Usage,
        Some(Fault::Http(503)),
    );
    simulator.set_fault(
        SimProvider::ProxyLite,
        Endpoint::Usage,
        Some(Fault::RateLimited {
            retry_after_secs: 0,
        }),
    );
    let names = names(2);
    let exporter = Exporter::start(&targets_yaml(&simulator, &names)).await;
    ready(&exporter).await;
    let (_, metrics) = get(&exporter, "/metrics").await;
    let count = |target: &str, endpoint: &str, outcome: &str| {
        value(
            &metrics,
            "proxy_exporter_upstream_requests_total",
            &[
                ("target", target),
                ("endpoint", endpoint),
                ("outcome", outcome),
            ],
        )
        .unwrap_or_else(|| panic!("no series for {target} {endpoint} {outcome}"))
    };
    // A transient failure is tried three times (two retries): each one counted.
    assert_eq!(count("shop-00", "usage", "error"), 3.0);
    assert_eq!(count("shop-00", "usage", "success"), 0.0);
    assert_eq!(count("shop-01", "usage", "rate_limited"), 3.0);
    assert_eq!(count("shop-01", "usage", "error"), 0.0);
    assert_eq!(count("shop-00", "summary", "success"), 1.0);
    // The same as the simulator's log, endpoint by endpoint.
    for (target, endpoint) in [
        ("shop-00", Endpoint::Usage),
        ("shop-01", Endpoint::Usage),
        ("shop-00", Endpoint::Accounts),
    ] {
        let logged = simulator
            .requests()
            .iter()
            .filter(|r| r.credential_suffix.as_deref() == Some(target) && r.endpoint == endpoint)
            .count();
        let counted: f64 = ["success", "rate_limited", "error"]
            .iter()
            .map(|o| count(target, endpoint.as_str(), o))
            .sum();
        assert_eq!(counted, logged as f64, "{target} {endpoint}");
    }
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_requests_per_second_spaces_a_targets_requests() {
    let simulator = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let names = names(1);
    // Seven endpoints, at most two requests a second: the poll takes 3 s at least.
    let yaml = targets_yaml(&simulator, &names).replace(
        "interval: 1h\n",
        "interval: 1h\nmax_requests_per_second: 2\n",
    );
    let exporter = Exporter::start(&yaml).await;
    ready(&exporter).await;
    let mut arrivals: Vec<Instant> = simulator.requests().iter().map(|r| r.at).collect();
    arrivals.sort_unstable();
    assert_eq!(arrivals.len(), 7);
    // Without pacing all seven arrive within milliseconds. Only a lower bound:
    // a loaded machine makes the span longer, never shorter; the slack of one
    // spacing covers a first request slowed by opening its connection.
    let span = arrivals[6] - arrivals[0];
    assert!(
        span >= Duration::from_millis(6 * 500 - 500),
        "7 requests at 2/s arrived within {span:?}"
    );
    let (_, metrics) = get(&exporter, "/metrics").await;
    let duration = value(
        &metrics,
        "proxy_exporter_poll_duration_seconds",
        &[("endpoint", "static_ips")],
    );
    assert!(duration.is_some());
    exporter.stop().await;
}

#[test]
fn the_binary_takes_the_shard_from_flags_or_environment_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    let names = names(90);
    let mut yaml = String::from("targets:\n");
    for name in &names {
        yaml.push_str(&format!(
            "  - {{name: {name}, provider: proxylite, app_key: k}}\n"
        ));
    }
    std::fs::write(&file, yaml).unwrap();
    let file = file.to_str().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_proxy-quota-exporter"))
            .args(["--config.check", "--config.file", file])
            .args(args)
            .env_remove("PROXY_QUOTA_EXPORTER_SHARD")
            .env_remove("PROXY_QUOTA_EXPORTER_TOTAL_SHARDS")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let in_shard_1 = names.iter().filter(|n| shard_of(n, 3) == 1).count();
    let valid = format!(
        "{file}: configuration is valid (90 targets; {in_shard_1} of them in shard 1 of 3)\n"
    );
    let (code, stdout, _) = run(&["--shard", "1", "--total-shards", "3"], &[]);
    assert_eq!((code, stdout), (Some(0), valid.clone()));
    let (code, stdout, _) = run(
        &[],
        &[
            ("PROXY_QUOTA_EXPORTER_SHARD", "1"),
            ("PROXY_QUOTA_EXPORTER_TOTAL_SHARDS", "3"),
        ],
    );
    assert_eq!((code, stdout), (Some(0), valid));
    let (code, stdout, _) = run(&[], &[]);
    assert_eq!(
        (code, stdout),
        (
            Some(0),
            format!("{file}: configuration is valid (90 targets)\n")
        )
    );
    for (args, error) in [
        (
            ["--shard", "3", "--total-shards", "3"],
            "error: --shard 3 is out of range for --total-shards 3 (shards are numbered 0 to 2)\n",
        ),
        (
            ["--shard", "0", "--total-shards", "0"],
            "error: --total-shards must be at least 1\n",
        ),
    ] {
        let (code, _, stderr) = run(&args, &[]);
        assert_eq!((code, stderr.as_str()), (Some(1), error), "{args:?}");
    }
}
