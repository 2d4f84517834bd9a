//! The HTTP server's bounds, on loopback with an in-process exporter: a client that
//! sends half a request header (plain or over TLS), stalls a TLS handshake or idles
//! on a keep-alive connection is disconnected, connections over the cap wait in the
//! listen backlog, a scrape answers while 1,000 slow clients are connected, and
//! password guessing does not stall a scrape.

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{gateway_config, Exporter};
use proxy_quota_exporter::web::ServerLimits;
use proxy_quota_exporter::web::WebConfig;
use proxy_quota_exporter::Options;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HALF_A_HEADER: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: exporter\r\n";
const HEALTH_REQUEST: &[u8] = b"GET /-/healthy HTTP/1.1\r\nHost: exporter\r\n\r\n";

/// Runs the exporter with `limits` against an upstream that refuses connections:
/// `/metrics` answers all the same.
async fn start(limits: ServerLimits) -> Exporter {
    let web = WebConfig {
        limits,
        ..WebConfig::default()
    };
    start_with_web(web).await
}

async fn start_with_web(web: WebConfig) -> Exporter {
    let config = gateway_config("proxylite", "http://127.0.0.1:9", "[summary]");
    let options = Options {
        web: Some(web),
        ..Options::default()
    };
    Exporter::start_with(&config, options).await
}

/// Reads until the server closes `stream` (end of file or reset) and returns when,
/// or `None` if it is still open at `deadline`.
async fn closed_at(stream: &mut (impl AsyncRead + Unpin), deadline: Instant) -> Option<Instant> {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(Instant::now()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Sends `GET /-/healthy` and reads its answer; the connection stays open.
async fn health_check(stream: &mut TcpStream) {
    stream.write_all(HEALTH_REQUEST).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.ends_with(b"Healthy\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("answered within 5 s")
            .unwrap();
        assert!(n > 0, "connection closed before the answer");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200 "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_half_a_header_is_disconnected_after_the_header_timeout() {
    let header_timeout = Duration::from_secs(1);
    let exporter = start(ServerLimits {
        read_header_timeout: header_timeout,
        ..ServerLimits::default()
    })
    .await;
    let started = Instant::now();
    // Nothing at all, half a header at once, and half a header dribbled byte by byte:
    // progress does not extend the timeout.
    let mut silent = TcpStream::connect(exporter.addr).await.unwrap();
    let mut half = TcpStream::connect(exporter.addr).await.unwrap();
    half.write_all(HALF_A_HEADER).await.unwrap();
    let (mut dribble_read, mut dribble_write) = TcpStream::connect(exporter.addr)
        .await
        .unwrap()
        .into_split();
    let dribbler = tokio::spawn(async move {
        for byte in HALF_A_HEADER.iter().cycle() {
            if dribble_write.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let deadline = started + Duration::from_secs(10);
    for (name, closed) in [
        ("silent", closed_at(&mut silent, deadline).await),
        ("half a header", closed_at(&mut half, deadline).await),
        ("dribbling", {
            let mut buf = [0u8; 64];
            loop {
                match tokio::time::timeout_at(deadline.into(), dribble_read.read(&mut buf)).await {
                    Err(_) => break None,
                    Ok(Ok(0) | Err(_)) => break Some(Instant::now()),
                    Ok(Ok(_)) => {}
                }
            }
        }),
    ] {
        let closed = closed
            .unwrap_or_else(|| panic!("{name} client still connected after 10 s"))
            .duration_since(started);
        assert!(
            closed >= header_timeout - Duration::from_millis(100)
                && closed < header_timeout + Duration::from_secs(2),
            "{name} client disconnected after {closed:?}, header timeout {header_timeout:?}"
        );
    }
    dribbler.abort();
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_a_stalled_handshake_and_half_a_header_are_cut_at_the_header_timeout() {
    let header_timeout = Duration::from_secs(1);
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    std::fs::write(dir.path().join("server.crt"), cert.cert.pem()).unwrap();
    std::fs::write(
        dir.path().join("server.key"),
        cert.signing_key.serialize_pem(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("web.yml"),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    )
    .unwrap();
    let mut web = WebConfig::load(&dir.path().join("web.yml")).unwrap();
    web.limits = ServerLimits {
        read_header_timeout: header_timeout,
        ..ServerLimits::default()
    };
    let exporter = start_with_web(web).await;

    // A correct scrape goes through.
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let response = client
        .get(format!("https://{}/metrics", exporter.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // No handshake at all, and a handshake followed by half a header.
    let started = Instant::now();
    let mut silent = TcpStream::connect(exporter.addr).await.unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut half = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            TcpStream::connect(exporter.addr).await.unwrap(),
        )
        .await
        .unwrap();
    half.write_all(HALF_A_HEADER).await.unwrap();
    half.flush().await.unwrap();
    let deadline = started + Duration::from_secs(10);
    for (name, closed) in [
        ("silent", closed_at(&mut silent, deadline).await),
        ("half a header", closed_at(&mut half, deadline).await),
    ] {
        let closed = closed
            .unwrap_or_else(|| panic!("{name} TLS client still connected after 10 s"))
            .duration_since(started);
        assert!(
            closed >= header_timeout - Duration::from_millis(100)
                && closed < header_timeout + Duration::from_secs(2),
            "{name} TLS client disconnected after {closed:?}, header timeout {header_timeout:?}"
        );
    }
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let idle_timeout = Duration::from_secs(3);
    let exporter = start(ServerLimits {
        read_header_timeout: Duration::from_secs(1),
        idle_timeout,
        ..ServerLimits::default()
    })
    .await;
    let mut stream = TcpStream::connect(exporter.addr).await.unwrap();
    health_check(&mut stream).await;
    // Waiting for the next request is idle time, not header time: the connection
    // outlives the header timeout.
    tokio::time::sleep(Duration::from_secs(2)).await;
    health_check(&mut stream).await;
    let answered = Instant::now();
    let closed = closed_at(&mut stream, answered + Duration::from_secs(10))
        .await
        .expect("idle connection still open 10 s after its last answer")
        .duration_since(answered);
    assert!(
        closed >= idle_timeout - Duration::from_millis(100)
            && closed < idle_timeout + Duration::from_secs(2),
        "idle connection closed after {closed:?}, idle timeout {idle_timeout:?}"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_in_the_backlog_until_a_slot_frees() {
    let header_timeout = Duration::from_secs(2);
    let exporter = start(ServerLimits {
        read_header_timeout: header_timeout,
        max_connections: 4,
        ..ServerLimits::default()
    })
    .await;
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(exporter.addr).await.unwrap();
        stream.write_all(HALF_A_HEADER).await.unwrap();
        slow.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The fifth connection is in the listen backlog: its request waits unread.
    let mut fifth = TcpStream::connect(exporter.addr).await.unwrap();
    fifth.write_all(HEALTH_REQUEST).await.unwrap();
    let mut buf = [0u8; 1024];
    let early = tokio::time::timeout(Duration::from_secs(1), fifth.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a connection over the cap was served at once: {early:?}"
    );
    // When the slow clients time out, it is accepted and answered.
    let n = tokio::time::timeout(Duration::from_secs(5), fifth.read(&mut buf))
        .await
        .expect("answered once a slot freed")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 "));
    let answered = started.elapsed();
    assert!(
        answered >= header_timeout - Duration::from_millis(100),
        "answered after {answered:?}, before the slow clients' header timeout"
    );
    exporter.stop().await;
}

/// Slow clients in the 1,000-client test; each takes two descriptors in this
/// process (client and server side).
const SLOW_CLIENTS: usize = 1000;

/// Raises the soft open-file limit to what `SLOW_CLIENTS` need, within the hard limit.
fn raise_open_file_limit() {
    let needed = (2 * SLOW_CLIENTS + 512) as libc::rlim_t;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < needed {
            assert!(
                limit.rlim_max >= needed,
                "the hard open-file limit {} is below the {needed} this test needs",
                limit.rlim_max
            );
            limit.rlim_cur = needed;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_answers_quickly_while_1000_slow_clients_are_connected() {
    raise_open_file_limit();
    let header_timeout = Duration::from_secs(6);
    let exporter = start(ServerLimits {
        read_header_timeout: header_timeout,
        ..ServerLimits::default()
    })
    .await;
    let started = Instant::now();
    let mut slow = Vec::with_capacity(SLOW_CLIENTS);
    for _ in 0..SLOW_CLIENTS {
        let mut stream = TcpStream::connect(exporter.addr).await.unwrap();
        stream.write_all(HALF_A_HEADER).await.unwrap();
        slow.push(stream);
    }
    let connected = started.elapsed();

    // Each scrape on a new connection, so that each goes through accept.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = format!("http://{}/metrics", exporter.addr);
    for _ in 0..5 {
        let scrape = Instant::now();
        let response = tokio::time::timeout(Duration::from_secs(2), async {
            let response = client.get(&url).send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        })
        .await
        .unwrap_or_else(|_| {
            panic!("no scrape answer within 2 s while {SLOW_CLIENTS} slow clients are connected")
        });
        assert_eq!(response.0, 200);
        assert!(response.1.contains("proxy_exporter_build_info"));
        assert!(scrape.elapsed() < Duration::from_secs(2));
    }
    assert!(
        started.elapsed() < header_timeout,
        "the scrapes ended after the slow clients' header timeout ({:?}; connecting took {connected:?})",
        started.elapsed()
    );

    // Then every slow client is disconnected by the header timeout.
    let deadline = started + header_timeout + Duration::from_secs(5);
    let closed = futures::future::join_all(slow.iter_mut().map(|s| closed_at(s, deadline))).await;
    let open = closed.iter().filter(|c| c.is_none()).count();
    assert_eq!(
        open,
        0,
        "{open} of {SLOW_CLIENTS} slow clients still connected {:?} after they connected",
        deadline.duration_since(started)
    );
    exporter.stop().await;
}

const GUESSERS: usize = 32;
const GUESSING: Duration = Duration::from_secs(5);
const PASSWORD: &str = "right-horse-battery-staple";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_stays_fast_while_32_clients_guess_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash(PASSWORD, 10).unwrap();
    let file = dir.path().join("web.yml");
    std::fs::write(
        &file,
        format!("basic_auth_users:\n  prometheus: {hash}\n  grafana: {hash}\n"),
    )
    .unwrap();
    let web = WebConfig::load(&file).unwrap();
    let exporter = start_with_web(web).await;
    let url = format!("http://{}/metrics", exporter.addr);

    let scraper = reqwest::Client::new();
    let scrape = || async {
        let at = Instant::now();
        let response = scraper
            .get(&url)
            .basic_auth("prometheus", Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap();
        at.elapsed()
    };
    // The first check pays for bcrypt; later ones are remembered.
    tokio::time::timeout(Duration::from_secs(30), scrape())
        .await
        .expect("first scrape within 30 s");

    let stop = Arc::new(AtomicBool::new(false));
    let guesses = Arc::new(AtomicUsize::new(0));
    let guessers: Vec<_> = (0..GUESSERS)
        .map(|i| {
            let (stop, guesses, url) = (Arc::clone(&stop), Arc::clone(&guesses), url.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                // Known and unknown users alike.
                let user = if i % 2 == 0 { "prometheus" } else { "nobody" };
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let response = client
                        .get(&url)
                        .basic_auth(user, Some(format!("guess-{i}-{n}")))
                        .send()
                        .await;
                    if let Ok(response) = response {
                        assert_eq!(response.status(), 401);
                        guesses.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut scrapes = 0;
    while started.elapsed() < GUESSING {
        let took = tokio::time::timeout(Duration::from_secs(20), scrape())
            .await
            .expect("scrape within 20 s");
        slowest = slowest.max(took);
        scrapes += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for guesser in guessers {
        guesser.abort();
    }
    let guesses = guesses.load(Ordering::Relaxed);
    println!("{scrapes} scrapes, slowest {slowest:?}; {guesses} wrong guesses answered");
    assert!(
        slowest < Duration::from_secs(1),
        "a scrape took {slowest:?} while {GUESSERS} clients guessed passwords"
    );
    assert!(guesses > 0, "the guessers got no answer");
    exporter.stop().await;
}
