//! The web configuration file (`--web.config.file`) in the format of the
//! Prometheus exporter-toolkit: TLS for the HTTP server and bcrypt basic auth.
//! Passwords are checked off the async workers, a few at a time. Also the HTTP
//! server's limits ([`ServerLimits`]), which the file does not set: defaults, or
//! set in code by tests.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

/// TLS, authentication and connection limits for the HTTP server. The default
/// is plain HTTP without authentication and with the default limits.
#[derive(Default)]
pub struct WebConfig {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub basic_auth: BasicAuth,
    /// Not read from the file: [`ServerLimits::default`] unless set in code.
    pub limits: ServerLimits,
}

/// Why a web configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct WebConfigError {
    path: String,
    message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: String,
    key_file: String,
    min_version: Option<String>,
    max_version: Option<String>,
    client_auth_type: Option<String>,
}

impl WebConfig {
    /// Reads a web configuration file; certificate paths are relative to it.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let fail = |message: String| WebConfigError {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let (_, raw): (_, RawWebConfig) = crate::yaml::parse(&text)
            .map_err(|e| fail(format!("line {}: {}", e.line, e.message)))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let tls = raw
            .tls_server_config
            .map(|tls| tls_config(dir, tls).map_err(&fail))
            .transpose()?;
        let basic_auth = BasicAuth::new(raw.basic_auth_users)
            .map_err(|e| fail(format!("basic_auth_users: {e}")))?;
        Ok(WebConfig {
            tls,
            basic_auth,
            limits: ServerLimits::default(),
        })
    }
}

fn tls_config(dir: &Path, tls: RawTls) -> Result<Arc<rustls::ServerConfig>, String> {
    if let Some(kind) = tls
        .client_auth_type
        .as_deref()
        .filter(|k| *k != "NoClientCert")
    {
        return Err(format!(
            "tls_server_config: client_auth_type {kind} is not supported (only NoClientCert)"
        ));
    }
    // Index into `SUPPORTED`, oldest first.
    const SUPPORTED: [&rustls::SupportedProtocolVersion; 2] =
        [&rustls::version::TLS12, &rustls::version::TLS13];
    let version = |name: &str| match name {
        "TLS12" => Ok(0),
        "TLS13" => Ok(1),
        other => Err(format!(
            "tls_server_config: unsupported TLS version {other:?} (TLS12 or TLS13)"
        )),
    };
    let min = version(tls.min_version.as_deref().unwrap_or("TLS12"))?;
    let max = version(tls.max_version.as_deref().unwrap_or("TLS13"))?;
    if min > max {
        return Err("tls_server_config: min_version is above max_version".into());
    }
    let versions = &SUPPORTED[min..=max];
    let cert_path = dir.join(&tls.cert_file);
    let key_path = dir.join(&tls.key_file);
    let certs = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("tls_server_config: cert_file {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_server_config: cert_file {} holds no certificate",
            cert_path.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("tls_server_config: key_file {}: {e}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| format!("tls_server_config: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    Ok(Arc::new(config))
}

/// bcrypt basic authentication. Successful checks are remembered (as a SHA-256
/// of user, password and hash) so that a scrape every few seconds does not pay
/// for bcrypt each time; failures are never remembered, so guesses cannot evict
/// a remembered check. bcrypt runs on the blocking thread pool, on at most half
/// the CPUs at once, and an unknown user costs one bcrypt check of a dummy hash
/// like a known one, so that timing does not tell which users exist.
pub struct BasicAuth {
    users: BTreeMap<String, Arc<str>>,
    /// A hash of the highest cost among `users`, checked for unknown users.
    dummy: Arc<str>,
    verified: Mutex<HashSet<[u8; 32]>>,
    hashing: Arc<Semaphore>,
}

/// Successful checks remembered at most; one is forgotten to make room.
const MAX_VERIFIED: usize = 256;

/// bcrypt checks running at once: half the CPUs, at least 1 and at most 4, so
/// that password guesses leave CPUs to scrapes and polls.
fn hash_concurrency() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get() / 2)
        .clamp(1, 4)
}

impl Default for BasicAuth {
    fn default() -> Self {
        BasicAuth::disabled()
    }
}

impl BasicAuth {
    /// Users and their bcrypt hashes; the dummy hash for unknown users is made
    /// here, with the highest cost among the users'.
    fn new(users: BTreeMap<String, String>) -> Result<Self, String> {
        let mut cost = None;
        for (user, hash) in &users {
            let parts = hash
                .parse::<bcrypt::HashParts>()
                .map_err(|e| format!("{user}: not a bcrypt hash: {e}"))?;
            cost = cost.max(Some(parts.get_cost()));
        }
        let dummy = match cost {
            Some(cost) => bcrypt::hash(DUMMY_PASSWORD, cost)
                .map_err(|e| format!("cannot make a bcrypt hash of cost {cost}: {e}"))?,
            None => String::new(),
        };
        Ok(BasicAuth {
            users: users.into_iter().map(|(u, h)| (u, h.into())).collect(),
            dummy: dummy.into(),
            verified: Mutex::new(HashSet::new()),
            hashing: Arc::new(Semaphore::new(hash_concurrency())),
        })
    }

    /// No users configured: every request is allowed.
    pub fn disabled() -> Self {
        BasicAuth {
            users: BTreeMap::new(),
            dummy: "".into(),
            verified: Mutex::new(HashSet::new()),
            hashing: Arc::new(Semaphore::new(1)),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.users.is_empty()
    }

    /// Whether an `Authorization` header value grants access. Waits for a bcrypt
    /// check unless the same credentials succeeded before.
    pub async fn allows(&self, authorization: Option<&[u8]>) -> bool {
        if !self.enabled() {
            return true;
        }
        let Some((user, password)) = authorization.and_then(decode_basic) else {
            return false;
        };
        let (hash, known) = match self.users.get(&user) {
            Some(hash) => (Arc::clone(hash), true),
            None => (Arc::clone(&self.dummy), false),
        };
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .chain_update([0])
            .chain_update(hash.as_bytes())
            .finalize()
            .into();
        if known && self.verified().contains(&key) {
            return true;
        }
        let Ok(permit) = Arc::clone(&self.hashing).acquire_owned().await else {
            return false;
        };
        let matches = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            bcrypt::verify(password, &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let ok = known && matches;
        if ok {
            let mut verified = self.verified();
            if verified.len() >= MAX_VERIFIED {
                if let Some(&any) = verified.iter().next() {
                    verified.remove(&any);
                }
            }
            verified.insert(key);
        }
        ok
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The password of the dummy hash; no user can log in with it.
const DUMMY_PASSWORD: &str = "proxy-quota-exporter: no such user";

fn decode_basic(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?;
    // The scheme is case-insensitive (RFC 7235 section 2.1).
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Bounds on the HTTP server's connections, so that slow or idle clients cannot
/// hold the server. The defaults suit a scrape target; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time a client has to send a complete request header: from the end of the
    /// TLS handshake (or from accept) for a connection's first request, from the
    /// first byte of each later one. Also bounds the TLS handshake. Default 10 s.
    pub read_header_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request, and a response
    /// may wait for the client to read more of it. Default 90 s.
    pub idle_timeout: Duration,
    /// Connections served at once, TLS handshakes included. Further connections
    /// are not accepted until one closes: they wait in the listen backlog.
    /// Default 1024.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            read_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            max_connections: 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    }

    #[tokio::test]
    async fn basic_auth_checks_bcrypt_hashes() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let auth = BasicAuth::new([("prometheus".to_owned(), hash)].into()).unwrap();
        let allows = |user: &str, pass: &str| {
            let header = header(user, pass);
            let auth = &auth;
            async move { auth.allows(Some(header.as_bytes())).await }
        };
        assert!(allows("prometheus", "s3cret").await);
        assert_eq!(auth.verified().len(), 1);
        assert!(allows("prometheus", "s3cret").await, "cached");
        assert!(!allows("prometheus", "wrong").await);
        assert!(!allows("someone", "s3cret").await);
        assert!(!allows("someone", DUMMY_PASSWORD).await, "the dummy hash");
        assert_eq!(auth.verified().len(), 1, "failures are not cached");
        let shouted = header("prometheus", "s3cret").replacen("Basic", "BASIC", 1);
        assert!(auth.allows(Some(shouted.as_bytes())).await, "{shouted}");
        assert!(!auth.allows(Some(b"Bearer abc")).await);
        assert!(!auth.allows(None).await);
        assert!(BasicAuth::disabled().allows(None).await);
    }

    #[test]
    fn unknown_users_are_checked_against_a_hash_of_the_highest_cost() {
        let auth = BasicAuth::new(
            [
                ("a".to_owned(), bcrypt::hash("x", 4).unwrap()),
                ("b".to_owned(), bcrypt::hash("y", 6).unwrap()),
            ]
            .into(),
        )
        .unwrap();
        let dummy: bcrypt::HashParts = auth.dummy.parse().unwrap();
        assert_eq!(dummy.get_cost(), 6);
        assert!(
            BasicAuth::new([("c".to_owned(), "plain".to_owned())].into())
                .is_err_and(|e| e.contains("c: not a bcrypt hash"))
        );
    }

    #[tokio::test]
    async fn remembered_checks_are_bounded() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let auth = BasicAuth::new([("prometheus".to_owned(), hash)].into()).unwrap();
        auth.verified().extend((0..MAX_VERIFIED).map(|i| {
            let mut key = [0; 32];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            key
        }));
        assert!(
            auth.allows(Some(header("prometheus", "s3cret").as_bytes()))
                .await
        );
        assert_eq!(auth.verified().len(), MAX_VERIFIED);
    }
}
