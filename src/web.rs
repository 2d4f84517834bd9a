//! The web configuration file (`--web.config.file`) in the format of the
//! Prometheus exporter-toolkit: TLS for the HTTP server and bcrypt basic auth.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// TLS and authentication for the HTTP server.
pub struct WebConfig {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub basic_auth: BasicAuth,
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
        let raw: RawWebConfig = serde_yaml::from_str(&text).map_err(|e| fail(e.to_string()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let tls = raw
            .tls_server_config
            .map(|tls| tls_config(dir, tls).map_err(&fail))
            .transpose()?;
        for (user, hash) in &raw.basic_auth_users {
            hash.parse::<bcrypt::HashParts>()
                .map_err(|e| fail(format!("basic_auth_users: {user}: not a bcrypt hash: {e}")))?;
        }
        Ok(WebConfig {
            tls,
            basic_auth: BasicAuth {
                users: raw.basic_auth_users,
                verified: Mutex::new(HashSet::new()),
            },
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
/// for bcrypt each time; failures are never cached.
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl BasicAuth {
    /// No users configured: every request is allowed.
    pub fn disabled() -> Self {
        BasicAuth {
            users: BTreeMap::new(),
            verified: Mutex::new(HashSet::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.users.is_empty()
    }

    /// Whether an `Authorization` header value grants access.
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        if !self.enabled() {
            return true;
        }
        let Some((user, password)) = authorization.and_then(decode_basic) else {
            return false;
        };
        let Some(hash) = self.users.get(&user) else {
            return false;
        };
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .chain_update([0])
            .chain_update(hash.as_bytes())
            .finalize()
            .into();
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.contains(&key) {
            return true;
        }
        let ok = bcrypt::verify(&password, hash).unwrap_or(false);
        if ok {
            verified.insert(key);
        }
        ok
    }
}

fn decode_basic(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?;
    let encoded = text
        .strip_prefix("Basic ")
        .or_else(|| text.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_checks_bcrypt_hashes() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let auth = BasicAuth {
            users: [("prometheus".to_owned(), hash)].into(),
            verified: Mutex::new(HashSet::new()),
        };
        let header = |user: &str, pass: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
            )
        };
        assert!(auth.allows(Some(header("prometheus", "s3cret").as_bytes())));
        assert!(
            auth.allows(Some(header("prometheus", "s3cret").as_bytes())),
            "cached"
        );
        assert!(!auth.allows(Some(header("prometheus", "wrong").as_bytes())));
        assert!(!auth.allows(Some(header("someone", "s3cret").as_bytes())));
        assert!(!auth.allows(Some(b"Bearer abc")));
        assert!(!auth.allows(None));
        assert!(BasicAuth::disabled().allows(None));
    }
}
