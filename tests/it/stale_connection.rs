//! A stale pooled connection (issue 21, item 8): a provider (or a proxy in
//! front of it) that answers with `Connection: keep-alive` but then drops the
//! connection. The next request on the pooled connection gets no answer, or
//! half of one; hyper reports an incomplete message. That is a broken
//! connection, retried like any connect failure, never an `http` error that
//! fails the poll.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proxy_quota_exporter::http::{CredentialPlacement, HttpClient, Reason};
use proxy_quota_exporter::secret::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use url::Url;

const BODY: &str = r#"{"code":200,"msg":"ok","data":{}}"#;

/// What the server does with the second request on a connection.
#[derive(Clone, Copy)]
enum Second {
    /// Reads it and closes the socket without a word.
    Close,
    /// Reads it, writes half a status line and headers, and closes.
    HalfAnswer,
}

/// Reads one request head (up to the blank line); false at EOF.
async fn read_request(socket: &mut TcpStream) -> bool {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// A raw server: every connection gets one full keep-alive answer, then its
/// second request is met with `second`. Returns the URL and the count of
/// connections accepted.
async fn flaky_server(second: Second) -> (Url, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if !read_request(&mut socket).await {
                    return;
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
                    BODY.len()
                );
                if socket.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
                if !read_request(&mut socket).await {
                    return;
                }
                if let Second::HalfAnswer = second {
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: appl")
                        .await;
                    let _ = socket.flush().await;
                }
                // Dropped: the connection closes.
            });
        }
    });
    let url = Url::parse(&format!("http://{addr}/gateway/user-product/summary")).unwrap();
    (url, connections)
}

fn client() -> HttpClient {
    HttpClient::new(Duration::from_secs(5), Arc::new(Semaphore::new(4))).unwrap()
}

async fn two_requests_on_one_connection(second: Second) {
    let (url, connections) = flaky_server(second).await;
    let client = client();
    let credential = (
        &CredentialPlacement::query("app_key"),
        &Secret::new("k-123"),
    );
    let first = client.get(&url, &[], credential).await;
    assert_eq!(first.unwrap(), BODY.as_bytes());
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    // The pooled connection is reused, and the server drops it: the request is
    // retried on a new connection and succeeds.
    let again = client.get(&url, &[], credential).await;
    match again {
        Ok(body) => assert_eq!(body, BODY.as_bytes()),
        Err(e) => panic!(
            "a stale pooled connection failed the poll: {e} ({:?})",
            e.reason
        ),
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        2,
        "retried once, on a new connection"
    );
}

#[tokio::test]
async fn a_kept_alive_connection_closed_without_an_answer_is_retried() {
    two_requests_on_one_connection(Second::Close).await;
}

#[tokio::test]
async fn a_kept_alive_connection_closed_mid_answer_is_retried() {
    two_requests_on_one_connection(Second::HalfAnswer).await;
}

/// A server that accepts and closes every connection before answering: the
/// failure is `connect`, retried (three connections), and its message names the
/// path but not the query.
#[tokio::test]
async fn a_connection_closed_before_any_answer_is_a_connect_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                read_request(&mut socket).await;
            });
        }
    });
    let url = Url::parse(&format!("http://{addr}/gateway/user-product/summary")).unwrap();
    let error = client()
        .get(
            &url,
            &[],
            (
                &CredentialPlacement::query("app_key"),
                &Secret::new("k-secret-456"),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(error.reason, Reason::Connect, "{error}");
    assert!(
        error.message.contains("/gateway/user-product/summary"),
        "{error}"
    );
    assert!(!error.message.contains("k-secret-456"), "{error}");
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1 + proxy_quota_exporter::http::MAX_RETRIES as usize,
        "a connect failure is retried"
    );
}

/// The sibling in the receivers: a webhook whose kept-alive connection the
/// server closed under the next notification fails transiently (the
/// dispatcher tries again), never permanently.
#[tokio::test]
async fn a_receiver_on_a_stale_connection_fails_transiently() {
    use proxy_quota_exporter::notify::{AlertEvent, BuildOptions, RawReceiver, Status};
    let (url, _) = flaky_server(Second::Close).await;
    let url = url.join("/hook").unwrap();
    let raw: RawReceiver =
        serde_saphyr::from_str(&format!("{{name: hook, webhook: {{url: '{url}'}}}}")).unwrap();
    let receiver = raw
        .build(
            std::path::Path::new("."),
            &BuildOptions {
                timeout: Duration::from_secs(5),
                telegram_api_url: "http://unused.test".into(),
                ..BuildOptions::default()
            },
        )
        .unwrap();
    let alerts = [AlertEvent {
        status: Status::Firing,
        labels: [("alertname".to_string(), "ProxyTrafficLow".to_string())].into(),
        annotations: Default::default(),
        starts_at: std::time::SystemTime::UNIX_EPOCH,
        ends_at: None,
        generator_url: "http://exporter.test/".into(),
    }];
    receiver.send(&alerts).await.unwrap();
    let error = receiver.send(&alerts).await.unwrap_err();
    assert!(error.is_transient(), "{error}");
}

/// The client's pooled connections belong to the runtime that opened them: a
/// second runtime polls the same upstream through a connection of its own,
/// whether the first still runs or not. (A process-wide client handed the
/// second runtime the first one's kept-alive connection, driven by a task of
/// the first: once that runtime stopped, "dispatch task is gone", a failed
/// poll; the tests, one runtime each, met it now and then. Here the first
/// runtime is idle, so its connection cannot answer: only a connection of the
/// second runtime's own can.)
#[test]
fn a_second_runtime_polls_through_a_connection_of_its_own() {
    // The upstream outlives both runtimes: it runs on a thread of its own.
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let (url_sender, url) = std::sync::mpsc::channel();
    let connections = Arc::new(AtomicUsize::new(0));
    let connections_seen = Arc::clone(&connections);
    let upstream = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
            url_sender.send(url).unwrap();
            tokio::spawn(async move {
                loop {
                    let Ok((mut socket, _)) = listener.accept().await else {
                        return;
                    };
                    connections_seen.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        // Keeps every connection alive for as many requests as come.
                        while read_request(&mut socket).await {
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
                                BODY.len()
                            );
                            if socket.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
            tokio::task::spawn_blocking(move || stopped.recv()).await.unwrap().ok();
        });
    });
    let url = url.recv().unwrap();
    let credential = (&CredentialPlacement::query("app_key"), &Secret::new("k"));
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let first = runtime();
    let answer = first.block_on(client().get(&url, &[], credential));
    assert!(
        answer.is_ok(),
        "first runtime: {:?}",
        answer.err().map(|e| e.message)
    );
    // The first runtime is not driven now: its pooled connection is mute.
    let second = runtime();
    // A request on the mute connection would wait for the client's timeout
    // (60 s) and be retried; a connection of its own answers at once.
    let patient = HttpClient::new(Duration::from_secs(60), Arc::new(Semaphore::new(4))).unwrap();
    let answer = second.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), patient.get(&url, &[], credential)).await
    });
    assert!(
        matches!(answer, Ok(Ok(_))),
        "the second runtime's poll: {:?}",
        answer.map(|r| r.err().map(|e| e.message))
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        2,
        "one connection per runtime"
    );
    drop((first, second));
    drop(stop);
    upstream.join().unwrap();
}
