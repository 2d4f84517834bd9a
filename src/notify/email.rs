//! The `email` receiver: a plain-text mail per batch, subject
//! `[FIRING:n] alertname …`, the digest of the alerts as the body (at most
//! 100 alerts listed, 256 KiB), through an SMTP smarthost (lettre, rustls).
//!
//! Transport security: port 465 speaks TLS from the first byte; any other port
//! must offer STARTTLS, or nothing is sent (`require_tls: true`, the default).
//! `require_tls: false` upgrades only when the server offers STARTTLS and
//! otherwise sends in the clear; with credentials it is refused unless the
//! smarthost is a loopback address, so a password never crosses a network
//! unencrypted (as Go's `net/smtp`, and so Alertmanager, refuse too).

use std::net::IpAddr;
use std::path::Path;

use futures::future::BoxFuture;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;

use super::settings::{one_secret, optional_secret, BuildOptions};
use super::{text, AlertEvent, NotifyError, Receiver};
use crate::secret::{Redactor, Secret};

/// The port where SMTP starts with TLS (RFC 8314) rather than STARTTLS.
const SUBMISSIONS_PORT: u16 = 465;

/// Mail has no hard limit, but a mail of 2,000 alerts helps nobody and
/// servers refuse large mails (often from 10 MB): the body is at most 256 KiB
/// of UTF-8 text (before transfer encoding) and lists at most 100 alerts; the
/// rest are counted and on the front page.
const MAX_BODY: usize = 256 * 1024;
/// The most alerts one mail lists.
const MAX_LISTED: usize = 100;

/// What a mail's body holds (one byte is kept for the final line break).
const LIMIT: text::Limit = text::Limit {
    max: MAX_BODY - 1,
    unit: text::Unit::Bytes,
    max_listed: MAX_LISTED,
    escape: text::plain,
};

/// `email: {smarthost, from, to, auth_username, auth_password,
/// auth_password_file, require_tls}` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// `host:port`.
    pub smarthost: String,
    pub from: String,
    pub to: Vec<String>,
    pub auth_username: Option<String>,
    #[serde(default, deserialize_with = "optional_secret")]
    pub auth_password: Option<Secret>,
    pub auth_password_file: Option<String>,
    /// Default `true`: refuse a server that does not offer STARTTLS.
    pub require_tls: Option<bool>,
}

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (port 465).
    Implicit,
    /// STARTTLS, required.
    StartTls,
    /// STARTTLS when offered, else plain text (`require_tls: false`).
    Opportunistic,
}

/// The validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub credentials: Option<(String, Secret)>,
    pub security: Security,
}

impl EmailConfig {
    /// Checks the addresses and the smarthost, reads the password file
    /// (relative to `base_dir`), and refuses credentials in the clear.
    pub fn validate(&self, base_dir: &Path) -> Result<Settings, String> {
        let (host, port) = smarthost(&self.smarthost)?;
        let from: Mailbox = self
            .from
            .parse()
            .map_err(|e| format!("email.from: not a mail address ({e})"))?;
        if self.to.is_empty() {
            return Err("email.to: list at least one address".into());
        }
        let to = self
            .to
            .iter()
            .map(|a| a.parse::<Mailbox>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("email.to: not a mail address ({e})"))?;
        let password = one_secret(
            "email",
            "auth_password",
            self.auth_password.as_ref(),
            self.auth_password_file.as_deref(),
            base_dir,
            false,
        )?;
        let credentials = match (&self.auth_username, password) {
            (Some(user), Some(password)) => Some((user.clone(), password)),
            (None, None) => None,
            (Some(_), None) => {
                return Err("email: auth_username needs auth_password or auth_password_file".into())
            }
            (None, Some(_)) => return Err("email: auth_password needs auth_username".into()),
        };
        let security = match (port, self.require_tls.unwrap_or(true)) {
            (SUBMISSIONS_PORT, _) => Security::Implicit,
            (_, true) => Security::StartTls,
            (_, false) => Security::Opportunistic,
        };
        if security == Security::Opportunistic && credentials.is_some() && !is_loopback(&host) {
            return Err(
                "email.require_tls: false would send auth_password unencrypted; \
                 allowed only for a loopback smarthost"
                    .into(),
            );
        }
        Ok(Settings {
            host,
            port,
            from,
            to,
            credentials,
            security,
        })
    }
}

/// `host:port` (`[::1]:25` for IPv6) into its parts.
fn smarthost(text: &str) -> Result<(String, u16), String> {
    let invalid = || format!("email.smarthost: {text:?} is not host:port");
    let (host, port) = text.trim().rsplit_once(':').ok_or_else(invalid)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port.parse().map_err(|_| invalid())?;
    if host.is_empty() || port == 0 || host.contains(['/', ' ']) {
        return Err(invalid());
    }
    Ok((host.to_owned(), port))
}

/// Whether `host` is `localhost` or a loopback address.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Mails alerts through one smarthost.
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    /// Takes the password, and the `AUTH` lines that carry it, out of errors.
    redactor: Redactor,
}

impl Email {
    /// A receiver for validated settings; sets up TLS with the system's CA store.
    pub fn new(settings: &Settings, options: &BuildOptions) -> Result<Self, String> {
        let tls = || {
            TlsParameters::new(settings.host.clone())
                .map_err(|e| format!("email: cannot set up TLS: {e}"))
        };
        let tls = match settings.security {
            Security::Implicit => Tls::Wrapper(tls()?),
            Security::StartTls => Tls::Required(tls()?),
            Security::Opportunistic => Tls::Opportunistic(tls()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(options.timeout));
        if let Some((user, password)) = &settings.credentials {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(Email {
            transport: builder.build(),
            from: settings.from.clone(),
            to: settings.to.clone(),
            redactor: settings
                .credentials
                .as_ref()
                .map_or_else(Redactor::default, |(user, password)| {
                    Redactor::default().smtp(user, password)
                }),
        })
    }

    /// The mail for `alerts`.
    fn message(&self, alerts: &[AlertEvent]) -> Result<lettre::Message, NotifyError> {
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .subject(text::title_within(alerts, text::TITLE_MAX))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .body(format!("{}\n", text::digest(alerts, "", &LIMIT)))
            .map_err(|e| NotifyError::permanent(format!("email: cannot build the mail: {e}")))
    }
}

impl Receiver for Email {
    fn kind(&self) -> &'static str {
        "email"
    }

    fn send<'a>(&'a self, alerts: &'a [AlertEvent]) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let message = self.message(alerts)?;
            let error = match self.transport.send(message).await {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
            let mut text = format!("email: SMTP: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                // lettre's own Display already shows its first cause.
                if !text.contains(&cause.to_string()) {
                    text.push_str(&format!(": {cause}"));
                }
                source = cause.source();
            }
            let error = if error.is_permanent() || error.is_client() {
                NotifyError::permanent(text)
            } else {
                NotifyError::transient(text)
            };
            Err(error.redacted_by(&self.redactor))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(smarthost: &str, require_tls: Option<bool>) -> EmailConfig {
        EmailConfig {
            smarthost: smarthost.into(),
            from: "exporter@example.test".into(),
            to: vec!["ops@example.test".into()],
            auth_username: Some("user".into()),
            auth_password: Some(Secret::new("pw-hunter2")),
            auth_password_file: None,
            require_tls,
        }
    }

    #[test]
    fn port_and_require_tls_choose_the_security() {
        let dir = Path::new(".");
        let at = |host, tls| config(host, tls).validate(dir).map(|s| s.security);
        assert_eq!(at("smtp.example:465", None), Ok(Security::Implicit));
        assert_eq!(at("smtp.example:587", None), Ok(Security::StartTls));
        assert_eq!(
            at("127.0.0.1:2525", Some(false)),
            Ok(Security::Opportunistic)
        );
        assert_eq!(at("[::1]:2525", Some(false)), Ok(Security::Opportunistic));
        let error = at("smtp.example:25", Some(false)).unwrap_err();
        assert!(error.starts_with("email.require_tls"), "{error}");
        assert!(!error.contains("hunter2"));
    }

    #[test]
    fn smarthost_needs_a_port() {
        assert_eq!(
            smarthost("smtp.example:587"),
            Ok(("smtp.example".into(), 587))
        );
        assert_eq!(smarthost("[::1]:25"), Ok(("::1".into(), 25)));
        assert!(smarthost("smtp.example").is_err());
        assert!(smarthost(":25").is_err());
        assert!(smarthost("smtp.example:0").is_err());
    }
}
