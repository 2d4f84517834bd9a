//! A bounded loopback load test: 200 concurrent connections scrape the exporter
//! binary for 10 s while the simulated upstream's polls fail and recover. Every
//! scrape must succeed and the resident memory must stay under a stated bound.
//! (A correctness-under-load test, not a benchmark: benchmarks live in `benches/`.)

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proxy_quota_exporter::providers::Endpoint;
use proxy_quota_exporter::simulator::{Fault, SimProvider, Simulator, SimulatorConfig};

const CONNECTIONS: usize = 200;
const DURATION: Duration = Duration::from_secs(10);
/// The stated bound: resident memory of the exporter under this load.
const MAX_RSS_BYTES: u64 = 64 * 1024 * 1024;

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_scrapers_for_ten_seconds_while_polls_fail_and_recover() {
    let simulator = Arc::new(Simulator::start(SimulatorConfig::default()).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        simulator
            .demo_config_yaml(Duration::from_secs(1))
            .replace("timeout: 5s", "timeout: 1s"),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_proxy-quota-exporter"))
        .args(["--config.file", config.to_str().unwrap()])
        // No store: memory is measured, and nothing is written beside the tests.
        .arg("--storage.path=")
        .args([
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
            "--log.level",
            "error",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        // A scrape that waits for a busy machine is slow, not failed: the bound
        // is on failures, and no scrape is cut short by the test itself.
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    // Start-up is not what is measured: wait for it as long as a busy machine needs.
    let ready_by = Instant::now() + Duration::from_secs(60);
    while !client
        .get(format!("http://127.0.0.1:{port}/-/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            Instant::now() < ready_by,
            "the exporter was not ready in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Faults come and go on every endpoint while the scrapers run.
    let chaos = tokio::spawn({
        let simulator = Arc::clone(&simulator);
        async move {
            let faults = [
                Fault::Http(500),
                Fault::Html,
                Fault::AuthError,
                Fault::InvalidJson,
            ];
            for round in 0.. {
                for (i, endpoint) in [
                    Endpoint::Summary,
                    Endpoint::Accounts,
                    Endpoint::StaticIps,
                    Endpoint::Usage,
                ]
                .into_iter()
                .enumerate()
                {
                    let fault = (round % 2 == 0).then_some(faults[(round + i) % faults.len()]);
                    simulator.set_fault(SimProvider::BestProxy, endpoint, fault);
                    simulator.set_fault(SimProvider::ProxyLite, endpoint, fault);
                }
                simulator.set_fault(
                    SimProvider::Ipweb,
                    Endpoint::Customers,
                    (round % 2 == 1).then_some(Fault::Http(503)),
                );
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
        }
    });

    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let first_failure = Arc::new(std::sync::Mutex::new(None::<String>));
    let peak_rss = Arc::new(AtomicUsize::new(rss_bytes(pid) as usize));
    let deadline = Instant::now() + DURATION;
    let monitor = tokio::spawn({
        let peak = Arc::clone(&peak_rss);
        async move {
            while Instant::now() < deadline {
                peak.fetch_max(rss_bytes(pid) as usize, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let scrapers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (client, url, ok, failed, first_failure) = (
                client.clone(),
                url.clone(),
                Arc::clone(&ok),
                Arc::clone(&failed),
                Arc::clone(&first_failure),
            );
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let outcome = match client.get(&url).send().await {
                        Ok(r) if r.status().is_success() => match r.text().await {
                            Ok(body) if body.contains("proxy_exporter_build_info") => Ok(()),
                            Ok(_) => Err("a body without proxy_exporter_build_info".to_owned()),
                            Err(e) => Err(format!("reading the body: {e}")),
                        },
                        Ok(r) => Err(format!("HTTP {}", r.status())),
                        Err(e) => Err(format!("{e}")),
                    };
                    match outcome {
                        Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(reason) => {
                            first_failure.lock().unwrap().get_or_insert(reason);
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    for scraper in scrapers {
        scraper.await.unwrap();
    }
    monitor.await.unwrap();
    chaos.abort();
    let _ = child.kill();
    let _ = child.wait();

    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let peak = peak_rss.load(Ordering::Relaxed) as u64;
    eprintln!(
        "load: {ok} scrapes ok, {failed} failed, peak RSS {} KiB",
        peak / 1024
    );
    assert_eq!(
        failed,
        0,
        "{failed} of {} scrapes failed, the first: {:?}",
        ok + failed,
        first_failure.lock().unwrap()
    );
    assert!(ok >= CONNECTIONS, "only {ok} scrapes in {DURATION:?}");
    assert!(
        peak > 0 && peak < MAX_RSS_BYTES,
        "peak RSS {peak} bytes is over the bound of {MAX_RSS_BYTES}"
    );
}
