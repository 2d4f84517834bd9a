//! The `alertmanager` receiver, as Prometheus feeds Alertmanager: Alertmanager's
//! API v2, `POST {url}/api/v2/alerts` to every URL of `urls`, with a JSON array
//! of `{labels, annotations, startsAt, endsAt, generatorURL}`, times in RFC 3339.
//!
//! A firing alert carries `endsAt` = now + 4 × `resend_interval` (as Prometheus
//! does with its resend delay), so that no `resolve_timeout` resolves it while
//! the agent keeps re-sending it, and Alertmanager resolves it by itself once
//! the agent stops; a resolved alert carries the time it resolved.
//!
//! Delivered means that at least one Alertmanager took the alerts (HTTP 2xx):
//! Alertmanagers of one cluster share what they were sent, and the agent sends
//! every firing alert again every `resend_interval`, so an Alertmanager that
//! missed one send gets the alert at the next; each URL that failed is logged
//! with its host. Only when every URL failed does the send fail (and the
//! dispatcher retry it, to every URL).
//!
//! Authentication and TLS are Prometheus' HTTP client configuration:
//! `basic_auth`, `bearer_token(_file)`, `tls_config` (`ca_file`, `cert_file`,
//! `key_file`, `server_name`, `insecure_skip_verify`), every file read and
//! checked at load.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::future::BoxFuture;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::{Deserialize, Deserializer, Serialize};

use super::settings::{http_url, one_secret, optional_secret, secret, BuildOptions};
use super::{bearer, rfc3339, AlertEvent, HttpPost, NotifyError, Receiver, Status};
use crate::secret::{Redactor, Secret};

/// How errors name the request (never with its URL).
const WHAT: &str = "alertmanager: POST /api/v2/alerts";

/// How many resend intervals a firing alert's `endsAt` lies ahead.
pub const ENDS_AT_RESENDS: u32 = 4;

/// The largest CA or certificate file read.
const MAX_PEM_FILE: u64 = 1024 * 1024;

/// Connecting to an Alertmanager, as the shared client (`crate::http`) does.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `alertmanager: {urls | url, basic_auth, bearer_token(_file), tls_config}` as
/// written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// One Alertmanager's base URL (with its `--web.route-prefix`, if any);
    /// the form before `urls`, still accepted.
    #[serde(default, deserialize_with = "optional_secret")]
    pub url: Option<Secret>,
    /// Every Alertmanager's base URL: each gets every alert.
    #[serde(default, deserialize_with = "optional_secrets")]
    pub urls: Option<Vec<Secret>>,
    pub basic_auth: Option<BasicAuthConfig>,
    #[serde(default, deserialize_with = "optional_secret")]
    pub bearer_token: Option<Secret>,
    pub bearer_token_file: Option<String>,
    pub tls_config: Option<TlsConfig>,
}

/// `basic_auth: {username, password | password_file}` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    pub username: String,
    #[serde(default, deserialize_with = "optional_secret")]
    pub password: Option<Secret>,
    pub password_file: Option<String>,
}

/// `tls_config` as written: Prometheus' keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM CA certificates that replace the system's roots.
    pub ca_file: Option<String>,
    /// PEM client certificate (chain), with `key_file`.
    pub cert_file: Option<String>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<String>,
    /// The name the server's certificate must hold, instead of the URL's host.
    pub server_name: Option<String>,
    /// Accept any server certificate.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// The validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// At least one, no two alike.
    pub endpoints: Vec<Endpoint>,
    pub auth: Option<Auth>,
    pub tls: Option<TlsSettings>,
}

/// One Alertmanager.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// The base URL as written; held as a secret, as it may carry credentials.
    pub base: Secret,
    /// `{base}/api/v2/alerts`.
    pub url: Secret,
    /// `host[:port]`: how logs name this Alertmanager.
    pub host: String,
}

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    Basic { username: String, password: Secret },
    Bearer(Secret),
}

/// `tls_config`, its files read and parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsSettings {
    /// `ca_file`'s certificates; the system's roots when `None`.
    pub ca: Option<Vec<CertificateDer<'static>>>,
    /// `cert_file`'s chain and `key_file`'s PEM text.
    pub identity: Option<(Vec<CertificateDer<'static>>, Secret)>,
    pub server_name: Option<ServerName<'static>>,
    pub insecure_skip_verify: bool,
}

/// Reads an optional list of strings into [`Secret`]s, `${VAR}` expanded.
fn optional_secrets<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<Secret>>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "secret")] Secret);
    Option::<Vec<Wrapped>>::deserialize(deserializer)
        .map(|list| list.map(|list| list.into_iter().map(|Wrapped(s)| s).collect()))
}

impl AlertmanagerConfig {
    /// Checks the URLs, the authentication and the TLS settings, reading their
    /// files relative to `base_dir` (the configuration file's directory).
    /// Errors name the key (`alertmanager.urls[1]: ...`), never a secret.
    pub fn validate(&self, base_dir: &Path) -> Result<Settings, String> {
        let urls: Vec<(String, &Secret)> = match (&self.url, &self.urls) {
            (Some(_), Some(_)) => {
                return Err("alertmanager: set either url or urls, not both".into())
            }
            (Some(url), None) => vec![("url".to_owned(), url)],
            (None, Some(urls)) if urls.is_empty() => {
                return Err("alertmanager.urls: must list at least one URL".into())
            }
            (None, Some(urls)) => urls
                .iter()
                .enumerate()
                .map(|(i, url)| (format!("urls[{i}]"), url))
                .collect(),
            (None, None) => return Err("alertmanager: missing urls (or url)".into()),
        };
        let mut endpoints: Vec<Endpoint> = Vec::with_capacity(urls.len());
        for (key, url) in urls {
            let endpoint = Endpoint::new(&key, url)?;
            if let Some(i) = endpoints.iter().position(|e| e.url == endpoint.url) {
                return Err(format!("alertmanager.{key}: the same URL as urls[{i}]"));
            }
            endpoints.push(endpoint);
        }
        let bearer = one_secret(
            "alertmanager",
            "bearer_token",
            self.bearer_token.as_ref(),
            self.bearer_token_file.as_deref(),
            base_dir,
            false,
        )?;
        let auth = match (&self.basic_auth, bearer) {
            (Some(_), Some(_)) => {
                return Err("alertmanager: set either basic_auth or bearer_token, not both".into())
            }
            (Some(basic), None) => Some(basic.validate(base_dir)?),
            (None, Some(token)) => Some(Auth::Bearer(token)),
            (None, None) => None,
        };
        let tls = match &self.tls_config {
            Some(tls) => {
                let tls = tls.validate(base_dir)?;
                // Every mistake at load: a key that does not fit its
                // certificate, a CA rustls cannot use.
                client_config(&tls)?;
                Some(tls)
            }
            None => None,
        };
        Ok(Settings {
            endpoints,
            auth,
            tls,
        })
    }
}

impl Endpoint {
    /// The endpoint of the base URL written at `key`.
    fn new(key: &str, base: &Secret) -> Result<Self, String> {
        let url = http_url("alertmanager", key, base)?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "alertmanager.{key}: must not have a query or a fragment"
            ));
        }
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => unreachable!("http_url checks the host"),
        };
        let endpoint = format!("{}/api/v2/alerts", url.as_str().trim_end_matches('/'));
        Ok(Endpoint {
            base: Secret::new(base.expose().trim()),
            url: Secret::new(endpoint),
            host,
        })
    }
}

impl BasicAuthConfig {
    fn validate(&self, base_dir: &Path) -> Result<Auth, String> {
        let username = self.username.trim();
        if username.is_empty() {
            return Err("alertmanager.basic_auth.username: must not be empty".into());
        }
        if username.contains(':') || username.chars().any(char::is_control) {
            return Err(
                "alertmanager.basic_auth.username: must hold no ':' and no control characters"
                    .into(),
            );
        }
        let password = one_secret(
            "alertmanager.basic_auth",
            "password",
            self.password.as_ref(),
            self.password_file.as_deref(),
            base_dir,
            true,
        )?
        .expect("a required secret");
        Ok(Auth::Basic {
            username: username.to_owned(),
            password,
        })
    }
}

impl TlsConfig {
    fn validate(&self, base_dir: &Path) -> Result<TlsSettings, String> {
        let ca = self
            .ca_file
            .as_deref()
            .map(|file| certificates(base_dir, "ca_file", file))
            .transpose()?;
        let identity = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Some((
                certificates(base_dir, "cert_file", cert)?,
                private_key(base_dir, key)?,
            )),
            (None, None) => None,
            _ => return Err("alertmanager.tls_config: set cert_file and key_file together".into()),
        };
        let server_name = match self.server_name.as_deref().map(str::trim) {
            Some("") => {
                return Err("alertmanager.tls_config.server_name: must not be empty".into())
            }
            Some(name) => Some(ServerName::try_from(name.to_owned()).map_err(|_| {
                format!(
                    "alertmanager.tls_config.server_name: {name:?} is neither a DNS name nor an IP address"
                )
            })?),
            None => None,
        };
        Ok(TlsSettings {
            ca,
            identity,
            server_name,
            insecure_skip_verify: self.insecure_skip_verify,
        })
    }
}

/// The PEM certificates of `file` (relative to `base_dir`), at least one.
fn certificates(
    base_dir: &Path,
    key: &str,
    file: &str,
) -> Result<Vec<CertificateDer<'static>>, String> {
    if file.trim().is_empty() {
        return Err(format!("alertmanager.tls_config.{key}: must not be empty"));
    }
    let path = base_dir.join(file);
    let at = |message: String| {
        format!(
            "alertmanager.tls_config.{key}: {}: {message}",
            path.display()
        )
    };
    let text = crate::secret::read_bounded(&path, MAX_PEM_FILE)
        .map_err(|e| at(format!("cannot read: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| at(format!("not PEM certificates ({e})")))?;
    if certs.is_empty() {
        return Err(at("holds no PEM certificate".into()));
    }
    Ok(certs)
}

/// The PEM private key of `file` (relative to `base_dir`), as text; errors
/// never quote the file.
fn private_key(base_dir: &Path, file: &str) -> Result<Secret, String> {
    let text = crate::secret::read_secret_file(base_dir, file)
        .map_err(|m| format!("alertmanager.tls_config.key_file: {m}"))?;
    PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|_| {
        format!(
            "alertmanager.tls_config.key_file: {}: holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
            base_dir.join(file).display()
        )
    })?;
    Ok(Secret::new(text))
}

/// The rustls configuration of `tls`: its roots (or the system's and
/// webpki's), its client certificate, its server name.
fn client_config(tls: &TlsSettings) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(AnyCertificate(provider.clone()))
    } else {
        let roots = match &tls.ca {
            Some(certs) => {
                let mut roots = RootCertStore::empty();
                for cert in certs {
                    roots
                        .add(cert.clone())
                        .map_err(|e| format!("alertmanager.tls_config.ca_file: {e}"))?;
                }
                roots
            }
            None => default_roots(),
        };
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("alertmanager.tls_config: {e}"))?;
        match &tls.server_name {
            Some(name) => Arc::new(NamedServer {
                inner: webpki,
                name: name.clone(),
            }),
            None => webpki,
        }
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("alertmanager.tls_config: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match &tls.identity {
        Some((certs, key)) => {
            let key = PrivateKeyDer::from_pem_slice(key.expose().as_bytes())
                .map_err(|_| "alertmanager.tls_config.key_file: holds no PEM private key")?;
            builder
                .with_client_auth_cert(certs.clone(), key)
                .map_err(|e| format!("alertmanager.tls_config: cert_file and key_file: {e}"))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The roots the shared client trusts: webpki's and the system's.
fn default_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in rustls_native_certs::load_native_certs().certs {
        // Native stores hold the odd certificate rustls cannot read.
        let _ = roots.add(cert);
    }
    roots
}

/// Verifies the server's certificate for a configured name (`server_name`)
/// rather than the URL's host.
#[derive(Debug)]
struct NamedServer {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NamedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `insecure_skip_verify`: any certificate, for any name; the handshake's
/// signatures are still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client like the shared one (no redirects, no `Referer`) with `tls`'s
/// roots, certificate and server name.
fn tls_client(tls: &TlsSettings) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("proxy-quota-exporter/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .use_preconfigured_tls(client_config(tls)?)
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {}", e.without_url()))
}

/// One alert of the API v2 `postableAlerts` array.
#[derive(Debug, Serialize)]
pub struct PostableAlert<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub annotations: &'a BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt", skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    #[serde(rename = "generatorURL")]
    pub generator_url: &'a str,
}

impl<'a> PostableAlert<'a> {
    /// The API's form of `alert`; while it fires, it ends at `firing_ends_at`
    /// ([`firing_ends_at`]), once resolved when it resolved.
    pub fn new(alert: &'a AlertEvent, firing_ends_at: SystemTime) -> Self {
        let ends_at = match alert.status {
            Status::Firing => Some(firing_ends_at),
            Status::Resolved => alert.ends_at,
        };
        PostableAlert {
            labels: &alert.labels,
            annotations: &alert.annotations,
            starts_at: rfc3339(alert.starts_at),
            ends_at: ends_at.map(rfc3339),
            generator_url: &alert.generator_url,
        }
    }
}

/// The `endsAt` of an alert that fires at `now`: [`ENDS_AT_RESENDS`] resend
/// intervals ahead, so that Alertmanager keeps it active however many sends
/// short of that go astray.
pub fn firing_ends_at(now: SystemTime, resend_interval: Duration) -> SystemTime {
    let ahead = resend_interval
        .saturating_mul(ENDS_AT_RESENDS)
        .min(FARTHEST_ENDS_AT);
    now + ahead
}

/// How far ahead `endsAt` may lie, whatever the resend interval.
const FARTHEST_ENDS_AT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Posts alerts to every Alertmanager of a receiver.
pub struct Alertmanager {
    name: String,
    endpoints: Vec<Endpoint>,
    auth: Option<Auth>,
    /// Every form of the URLs and credentials, to keep out of errors.
    redactor: Redactor,
    resend_interval: Duration,
    http: HttpPost,
}

impl Alertmanager {
    /// A receiver called `name` for validated settings; its own HTTP client
    /// when it has a `tls_config`, the shared one otherwise.
    pub fn new(name: &str, settings: &Settings, options: &BuildOptions) -> Result<Self, String> {
        let http = match &settings.tls {
            Some(tls) => HttpPost {
                client: tls_client(tls)?,
                timeout: options.timeout,
                what: WHAT,
            },
            None => HttpPost::new(WHAT, options.timeout)?,
        };
        let bases: Vec<&Secret> = settings.endpoints.iter().map(|e| &e.base).collect();
        let redactor = match &settings.auth {
            Some(Auth::Basic { username, password }) => {
                Redactor::of(&bases).basic(username, password)
            }
            Some(Auth::Bearer(token)) => Redactor::of(&bases).secret(token),
            None => Redactor::of(&bases),
        };
        Ok(Alertmanager {
            name: name.to_owned(),
            endpoints: settings.endpoints.clone(),
            auth: settings.auth.clone(),
            redactor,
            resend_interval: options.resend_interval,
            http,
        })
    }

    /// One POST of `body` to one Alertmanager.
    async fn post(&self, endpoint: &Endpoint, body: Bytes) -> Result<(), NotifyError> {
        let mut request = self
            .http
            .request(endpoint.url.expose())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        match &self.auth {
            Some(Auth::Basic { username, password }) => {
                request = request.basic_auth(username, Some(password.expose()));
            }
            Some(Auth::Bearer(token)) => {
                request = request.header(AUTHORIZATION, bearer(token)?);
            }
            None => {}
        }
        let answer = self
            .http
            .exchange(request, &[])
            .await
            .map_err(|e| e.redacted_by(&self.redactor))?;
        match self.http.status_error(&answer) {
            None => Ok(()),
            Some(error) => Err(error.redacted_by(&self.redactor)),
        }
    }

    /// The receiver's outcome from each endpoint's: a success when any
    /// Alertmanager took the alerts (the others' failures logged), else one
    /// error naming each host.
    fn outcome(&self, results: Vec<Result<(), NotifyError>>) -> Result<(), NotifyError> {
        if results.iter().any(Result::is_ok) {
            for (endpoint, result) in self.endpoints.iter().zip(&results) {
                if let Err(error) = result {
                    tracing::warn!(
                        receiver = %self.name,
                        kind = "alertmanager",
                        alertmanager = %endpoint.host,
                        error = %error,
                        "an Alertmanager did not take the alerts; another did"
                    );
                }
            }
            return Ok(());
        }
        let mut errors: Vec<NotifyError> = results.into_iter().filter_map(Result::err).collect();
        if errors.len() == 1 {
            return Err(errors.remove(0));
        }
        let transient = errors.iter().any(NotifyError::is_transient);
        let retry_after = errors
            .iter()
            .filter(|e| e.is_transient())
            .filter_map(NotifyError::retry_after)
            .max();
        let each: Vec<String> = self
            .endpoints
            .iter()
            .zip(&errors)
            .map(|(endpoint, error)| {
                let message = error.message();
                let reason = message
                    .strip_prefix(WHAT)
                    .map_or(message, |m| m.trim_start_matches(": "));
                format!("{}: {reason}", endpoint.host)
            })
            .collect();
        let message = format!(
            "{WHAT}: failed at all {} URLs: {}",
            errors.len(),
            each.join("; ")
        );
        Err(if transient {
            NotifyError::transient(message).with_retry_after(retry_after)
        } else {
            NotifyError::permanent(message)
        })
    }
}

impl Receiver for Alertmanager {
    fn kind(&self) -> &'static str {
        "alertmanager"
    }

    fn send<'a>(&'a self, alerts: &'a [AlertEvent]) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let ends_at = firing_ends_at(SystemTime::now(), self.resend_interval);
            let body: Vec<PostableAlert> = alerts
                .iter()
                .map(|alert| PostableAlert::new(alert, ends_at))
                .collect();
            let body = Bytes::from(serde_json::to_vec(&body).map_err(|e| {
                NotifyError::permanent(format!("{WHAT}: cannot encode the JSON body: {e}"))
            })?);
            let sends = self
                .endpoints
                .iter()
                .map(|endpoint| self.post(endpoint, body.clone()));
            let results = futures::future::join_all(sends).await;
            self.outcome(results)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::text::tests::alert;
    use crate::notify::Status;

    fn config(yaml: &str) -> AlertmanagerConfig {
        crate::yaml::parse::<AlertmanagerConfig>(yaml)
            .map_err(|e| e.message)
            .unwrap()
            .1
    }

    fn refused(yaml: &str, dir: &Path) -> String {
        config(yaml).validate(dir).unwrap_err()
    }

    #[test]
    fn endpoint_keeps_a_route_prefix() {
        for (url, endpoint, host) in [
            ("http://am:9093", "http://am:9093/api/v2/alerts", "am:9093"),
            ("http://am:9093/", "http://am:9093/api/v2/alerts", "am:9093"),
            (
                "https://u:p@am/prefix/",
                "https://u:p@am/prefix/api/v2/alerts",
                "am",
            ),
        ] {
            let settings = config(&format!("url: {url:?}"))
                .validate(Path::new("."))
                .unwrap();
            assert_eq!(settings.endpoints.len(), 1);
            assert_eq!(settings.endpoints[0].url.expose(), endpoint);
            assert_eq!(settings.endpoints[0].host, host);
        }
        let dir = Path::new(".");
        assert!(refused("url: ftp://am", dir).starts_with("alertmanager.url:"));
        assert!(refused("url: 'http://am/?x=1'", dir).contains("query"));
    }

    #[test]
    fn urls_every_one_checked() {
        let dir = Path::new(".");
        let settings = config("urls: ['http://am-0:9093', 'http://am-1:9093/']")
            .validate(dir)
            .unwrap();
        let hosts: Vec<&str> = settings.endpoints.iter().map(|e| e.host.as_str()).collect();
        assert_eq!(hosts, ["am-0:9093", "am-1:9093"]);
        assert_eq!(
            refused("urls: []", dir),
            "alertmanager.urls: must list at least one URL"
        );
        assert_eq!(refused("{}", dir), "alertmanager: missing urls (or url)");
        assert!(refused("{url: 'http://a', urls: ['http://b']}", dir).contains("not both"));
        let bad = refused("urls: ['http://am-0', 'am-1 s3cret']", dir);
        assert!(
            bad.starts_with("alertmanager.urls[1]: not a valid URL"),
            "{bad}"
        );
        assert!(!bad.contains("s3cret"));
        let control = refused("urls: [\"http://am-0/\\tx\"]", dir);
        assert!(
            control.contains("urls[0]: contains control characters"),
            "{control}"
        );
        assert_eq!(
            refused("urls: ['http://am:9093', 'http://am:9093/']", dir),
            "alertmanager.urls[1]: the same URL as urls[0]"
        );
    }

    #[test]
    fn authentication_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "pass-s3cret\n").unwrap();
        let settings = config("{url: 'http://am', basic_auth: {username: exp, password_file: pw}}")
            .validate(dir.path())
            .unwrap();
        assert_eq!(
            settings.auth,
            Some(Auth::Basic {
                username: "exp".into(),
                password: Secret::new("pass-s3cret")
            })
        );
        let settings = config("{url: 'http://am', bearer_token: tok-s3cret}")
            .validate(dir.path())
            .unwrap();
        assert_eq!(settings.auth, Some(Auth::Bearer(Secret::new("tok-s3cret"))));
        for (yaml, error) in [
            (
                "{url: 'http://am', bearer_token: t, basic_auth: {username: u, password: p}}",
                "alertmanager: set either basic_auth or bearer_token, not both",
            ),
            (
                "{url: 'http://am', basic_auth: {username: u}}",
                "alertmanager.basic_auth: missing secret: set password or password_file",
            ),
            (
                "{url: 'http://am', basic_auth: {username: 'a:b', password: p}}",
                "alertmanager.basic_auth.username: must hold no ':' and no control characters",
            ),
            (
                "{url: 'http://am', bearer_token: t, bearer_token_file: pw}",
                "alertmanager: set either bearer_token or bearer_token_file, not both",
            ),
        ] {
            assert_eq!(refused(yaml, dir.path()), error);
        }
    }

    #[test]
    fn tls_files_are_read_at_load_and_a_bad_pem_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["am.test".into()]).unwrap();
        std::fs::write(dir.path().join("ca.pem"), cert.cert.pem()).unwrap();
        std::fs::write(dir.path().join("client.pem"), cert.cert.pem()).unwrap();
        std::fs::write(
            dir.path().join("client-key.pem"),
            cert.signing_key.serialize_pem(),
        )
        .unwrap();
        std::fs::write(dir.path().join("junk.pem"), "not a certificate\n").unwrap();
        let settings = config(
            "{url: 'https://am', tls_config: {ca_file: ca.pem, cert_file: client.pem, key_file: client-key.pem, server_name: am.test}}",
        )
        .validate(dir.path())
        .unwrap();
        let tls = settings.tls.clone().unwrap();
        assert_eq!(tls.ca.unwrap().len(), 1);
        assert_eq!(tls.server_name.unwrap().to_str(), "am.test");
        assert!(!format!("{settings:?}").contains("PRIVATE KEY"));
        Alertmanager::new("am", &settings, &BuildOptions::default()).unwrap();

        for (tls, error) in [
            ("{ca_file: junk.pem}", "alertmanager.tls_config.ca_file: "),
            ("{ca_file: nope.pem}", "alertmanager.tls_config.ca_file: "),
            (
                "{cert_file: junk.pem, key_file: client-key.pem}",
                "alertmanager.tls_config.cert_file: ",
            ),
            (
                "{cert_file: client.pem, key_file: junk.pem}",
                "alertmanager.tls_config.key_file: ",
            ),
            (
                "{cert_file: client.pem}",
                "alertmanager.tls_config: set cert_file and key_file together",
            ),
            (
                "{server_name: 'a b'}",
                "alertmanager.tls_config.server_name: ",
            ),
        ] {
            let message = refused(
                &format!("{{url: 'https://am', tls_config: {tls}}}"),
                dir.path(),
            );
            assert!(message.starts_with(error), "{tls}: {message}");
        }
        let junk = refused(
            "{url: 'https://am', tls_config: {ca_file: junk.pem}}",
            dir.path(),
        );
        assert!(junk.contains("junk.pem"), "{junk}");
        // A key that is not the certificate's.
        let other = rcgen::generate_simple_self_signed(vec!["x.test".into()]).unwrap();
        std::fs::write(
            dir.path().join("other-key.pem"),
            other.signing_key.serialize_pem(),
        )
        .unwrap();
        let mismatch = refused(
            "{url: 'https://am', tls_config: {cert_file: client.pem, key_file: other-key.pem}}",
            dir.path(),
        );
        assert!(
            mismatch.starts_with("alertmanager.tls_config: cert_file and key_file"),
            "{mismatch}"
        );
        assert!(!mismatch.contains("PRIVATE"));
    }

    #[test]
    fn firing_alerts_end_four_resends_ahead_resolved_when_they_resolved() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_557_600);
        let ends_at = firing_ends_at(now, Duration::from_secs(60));
        assert_eq!(ends_at, now + Duration::from_secs(240));
        let firing = alert("ProxyTrafficLow", "critical", Status::Firing);
        let json = serde_json::to_value(PostableAlert::new(&firing, ends_at)).unwrap();
        assert_eq!(json["startsAt"], "2024-05-01T10:00:00Z");
        assert_eq!(json["endsAt"], "2024-05-01T10:04:00Z");
        assert_eq!(json["labels"]["alertname"], "ProxyTrafficLow");
        let resolved = alert("ProxyTrafficLow", "critical", Status::Resolved);
        let json = serde_json::to_value(PostableAlert::new(&resolved, ends_at)).unwrap();
        assert_eq!(json["endsAt"], "2024-05-01T10:10:00Z");
        assert_eq!(json["generatorURL"], "http://exporter.test:9877/#alerts");
        assert_eq!(
            firing_ends_at(now, Duration::MAX),
            now + FARTHEST_ENDS_AT,
            "never at once, nor an overflow"
        );
    }

    #[test]
    fn all_failed_is_one_error_naming_each_host() {
        let settings = config("urls: ['http://am-0:9093', 'http://am-1:9093']")
            .validate(Path::new("."))
            .unwrap();
        let am = Alertmanager::new("am", &settings, &BuildOptions::default()).unwrap();
        let error = am
            .outcome(vec![
                Err(NotifyError::permanent(format!(
                    "{WHAT}: HTTP 400 Bad Request"
                ))),
                Err(NotifyError::transient(format!("{WHAT}: HTTP 503"))
                    .with_retry_after(Some(Duration::from_secs(2)))),
            ])
            .unwrap_err();
        assert_eq!(
            error.message(),
            "alertmanager: POST /api/v2/alerts: failed at all 2 URLs: am-0:9093: HTTP 400 Bad Request; am-1:9093: HTTP 503"
        );
        assert!(error.is_transient());
        assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
        assert!(am
            .outcome(vec![Err(NotifyError::permanent("x")), Ok(())])
            .is_ok());
    }
}
