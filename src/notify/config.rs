//! Receiver configuration: the `alerting.receivers` entries as written
//! ([`RawReceiver`], one struct per kind in each receiver's file), their
//! validation into a [`ReceiverSpec`] (secrets read from their `_file`, held in
//! [`Secret`]), and building the [`Receiver`] from it.
//!
//! Errors are plain messages naming the key (`webhook.bearer_token_file: ...`);
//! the configuration module adds the file and line. That receiver names are
//! unique is the caller's check.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::{alertmanager, email, log, ntfy, slack, telegram, webhook, Receiver};
use crate::secret::Secret;

/// One entry of `alerting.receivers`: a name and exactly one kind.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReceiver {
    pub name: String,
    pub alertmanager: Option<alertmanager::AlertmanagerConfig>,
    pub webhook: Option<webhook::WebhookConfig>,
    pub ntfy: Option<ntfy::NtfyConfig>,
    pub slack: Option<slack::SlackConfig>,
    pub telegram: Option<telegram::TelegramConfig>,
    pub email: Option<email::EmailConfig>,
    pub log: Option<log::LogConfig>,
    /// Whether the receiver is told when an alert it heard fire resolves
    /// (default true); Alertmanager receivers always are.
    pub send_resolved: Option<bool>,
}

/// A validated receiver: its name and its kind's settings, secrets read.
/// Compared by value, so that a reload can tell whether a receiver changed.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverSpec {
    pub name: String,
    pub kind: Kind,
    /// `send_resolved` (default true).
    pub send_resolved: bool,
}

/// A receiver kind's validated settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Alertmanager(alertmanager::Settings),
    Webhook(webhook::Settings),
    Ntfy(ntfy::Settings),
    Slack(slack::Settings),
    Telegram(telegram::Settings),
    Email(email::Settings),
    Log,
}

/// Every kind's configuration key, in the order errors list them.
pub const KINDS: [&str; 7] = [
    "alertmanager",
    "webhook",
    "ntfy",
    "slack",
    "telegram",
    "email",
    "log",
];

/// What building a receiver needs beyond its configuration.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Per request (HTTP) or per SMTP command.
    pub timeout: Duration,
    /// The Telegram Bot API's base URL (tests point it at a local server).
    pub telegram_api_url: String,
    /// `alerting.resend_interval`: an `alertmanager` receiver sends a firing
    /// alert with `endsAt` 4 of these ahead.
    pub resend_interval: Duration,
}

/// The default per-request timeout of a receiver.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default `resend_interval` (the contract's, as in `alerting`).
pub const DEFAULT_RESEND_INTERVAL: Duration = Duration::from_secs(60);

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            timeout: DEFAULT_TIMEOUT,
            telegram_api_url: telegram::DEFAULT_API_URL.to_owned(),
            resend_interval: DEFAULT_RESEND_INTERVAL,
        }
    }
}

impl RawReceiver {
    /// Checks the entry and reads its secret files, relative to `base_dir`
    /// (the configuration file's directory). Errors name the receiver and key.
    pub fn validate(&self, base_dir: &Path) -> Result<ReceiverSpec, String> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err("receiver name must not be empty".into());
        }
        let at = |message: String| format!("receiver {name:?}: {message}");
        let set: Vec<&str> = KINDS
            .iter()
            .zip(self.kinds_set())
            .filter_map(|(kind, set)| set.then_some(*kind))
            .collect();
        if set.len() > 1 {
            return Err(at(format!(
                "sets {}: one kind per receiver",
                set.join(" and ")
            )));
        }
        let kind = if let Some(c) = &self.alertmanager {
            c.validate(base_dir).map(Kind::Alertmanager)
        } else if let Some(c) = &self.webhook {
            c.validate(base_dir).map(Kind::Webhook)
        } else if let Some(c) = &self.ntfy {
            c.validate(base_dir).map(Kind::Ntfy)
        } else if let Some(c) = &self.slack {
            c.validate(base_dir).map(Kind::Slack)
        } else if let Some(c) = &self.telegram {
            c.validate(base_dir).map(Kind::Telegram)
        } else if let Some(c) = &self.email {
            c.validate(base_dir).map(Kind::Email)
        } else if self.log.is_some() {
            Ok(Kind::Log)
        } else {
            return Err(at(format!("no kind: set one of {}", KINDS.join(", "))));
        };
        let kind = kind.map_err(at)?;
        if matches!(kind, Kind::Alertmanager(_)) && self.send_resolved == Some(false) {
            return Err(at(
                "send_resolved: an alertmanager receiver always gets resolved alerts (Alertmanager decides whom to tell)".into(),
            ));
        }
        Ok(ReceiverSpec {
            name: name.to_owned(),
            kind,
            send_resolved: self.send_resolved.unwrap_or(true),
        })
    }

    /// [`RawReceiver::validate`], then [`ReceiverSpec::build`].
    pub fn build(
        &self,
        base_dir: &Path,
        options: &BuildOptions,
    ) -> Result<Box<dyn Receiver>, String> {
        self.validate(base_dir)?.build(options)
    }

    /// Whether each kind of [`KINDS`] is set.
    fn kinds_set(&self) -> [bool; 7] {
        [
            self.alertmanager.is_some(),
            self.webhook.is_some(),
            self.ntfy.is_some(),
            self.slack.is_some(),
            self.telegram.is_some(),
            self.email.is_some(),
            self.log.is_some(),
        ]
    }
}

impl ReceiverSpec {
    /// The kind's configuration key.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Alertmanager(_) => "alertmanager",
            Kind::Webhook(_) => "webhook",
            Kind::Ntfy(_) => "ntfy",
            Kind::Slack(_) => "slack",
            Kind::Telegram(_) => "telegram",
            Kind::Email(_) => "email",
            Kind::Log => "log",
        }
    }

    /// Builds the receiver. Fails only when the HTTP client or the SMTP
    /// transport cannot be set up.
    pub fn build(&self, options: &BuildOptions) -> Result<Box<dyn Receiver>, String> {
        let name = &self.name;
        let built: Box<dyn Receiver> = match &self.kind {
            Kind::Alertmanager(s) => Box::new(alertmanager::Alertmanager::new(name, s, options)?),
            Kind::Webhook(s) => Box::new(webhook::Webhook::new(name, s, options)?),
            Kind::Ntfy(s) => Box::new(ntfy::Ntfy::new(s, options)?),
            Kind::Slack(s) => Box::new(slack::Slack::new(s, options)?),
            Kind::Telegram(s) => Box::new(telegram::Telegram::new(s, options)?),
            Kind::Email(s) => Box::new(email::Email::new(s, options)?),
            Kind::Log => Box::new(log::Log::new(name)),
        };
        Ok(built)
    }
}

/// Exactly one of `<key>` and `<key>_file` (when `required`), or at most one:
/// the secret, read from the file relative to `base_dir` with its trailing
/// newline trimmed. A secret with a control character (a line break inside a
/// token, say) is refused here, at load, as target credentials are, rather
/// than at the first notification.
pub(crate) fn one_secret(
    kind: &str,
    key: &str,
    value: Option<&Secret>,
    file: Option<&str>,
    base_dir: &Path,
    required: bool,
) -> Result<Option<Secret>, String> {
    let secret = match (value, file) {
        (Some(_), Some(_)) => Err(format!("{kind}: set either {key} or {key}_file, not both")),
        (Some(value), None) if value.expose().trim().is_empty() => {
            Err(format!("{kind}.{key}: must not be empty"))
        }
        (Some(value), None) => Ok(Some(value.clone())),
        (None, Some(file)) => crate::secret::read_secret_file(base_dir, file)
            .map(|s| Some(Secret::new(s)))
            .map_err(|m| format!("{kind}.{key}_file: {m}")),
        (None, None) if required => Err(format!("{kind}: missing secret: set {key} or {key}_file")),
        (None, None) => Ok(None),
    }?;
    if let Some(secret) = &secret {
        if secret.expose().chars().any(char::is_control) {
            let key = if file.is_some() {
                format!("{key}_file")
            } else {
                key.to_owned()
            };
            return Err(format!(
                "{kind}.{key}: secret contains control characters (a line break?)"
            ));
        }
    }
    Ok(secret)
}

/// An `http://` or `https://` URL with a host; the error never quotes it.
pub(crate) fn http_url(kind: &str, key: &str, url: &Secret) -> Result<url::Url, String> {
    // The URL parser drops tabs and line breaks silently: a URL holding one
    // is a mistake to point at, not to mend.
    if url.expose().trim().chars().any(char::is_control) {
        return Err(format!(
            "{kind}.{key}: contains control characters (a line break?)"
        ));
    }
    let parsed = url::Url::parse(url.expose().trim())
        .map_err(|e| format!("{kind}.{key}: not a valid URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "{kind}.{key}: must be an http:// or https:// URL with a host"
        ));
    }
    Ok(parsed)
}

/// Reads a string into a [`Secret`], so that no `Debug` of the configuration
/// shows it; `${VAR}` expands from the environment, as in targets' credentials.
pub(crate) fn secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
    let raw = String::deserialize(deserializer)?;
    crate::secret::expand_env(&raw, |name| std::env::var(name).ok())
        .map(Secret::new)
        .map_err(serde::de::Error::custom)
}

/// Reads an optional string into a [`Secret`], like [`secret`].
pub(crate) fn optional_secret<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Secret>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "secret")] Secret);
    Option::<Wrapped>::deserialize(deserializer).map(|s| s.map(|Wrapped(secret)| secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration module reads receivers through `crate::yaml`: every
    /// kind of the contract's example reads there too, with its errors' lines.
    #[test]
    fn the_contracts_example_reads_through_the_config_yaml_reader() {
        let text = r#"
- name: am
  alertmanager: {url: "http://127.0.0.1:9093"}
- name: hook
  webhook: {url: "https://hooks.example/x", bearer_token: tok}
- name: phone
  ntfy: {url: "https://ntfy.example/topic"}
- name: chat
  slack: {webhook_url: "https://hooks.slack.example/services/x"}
- name: tg
  telegram: {bot_token: "1:abc", chat_id: -1001234}
- name: mail
  email: {smarthost: "smtp.example:587", from: "a@example", to: ["b@example"], auth_username: a, auth_password: pw}
- name: console
  log: {}
"#;
        let (_, entries) = crate::yaml::parse::<Vec<RawReceiver>>(text)
            .map_err(|e| e.message)
            .unwrap();
        let kinds: Vec<&str> = entries
            .iter()
            .map(|e| e.validate(Path::new(".")).unwrap().kind_name())
            .collect();
        assert_eq!(kinds, KINDS);
        let Err(error) = crate::yaml::parse::<Vec<RawReceiver>>("- name: x\n  log: {level: 1}\n")
        else {
            panic!("an unknown key was read");
        };
        assert_eq!(error.line, 2);
        assert!(error.message.contains("level"), "{}", error.message);
    }

    #[test]
    fn secret_files_are_read_relative_to_the_base_and_trimmed() {
        let dir = std::env::temp_dir().join(format!("notify-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), "s3cret\r\n").unwrap();
        let secret = one_secret("ntfy", "token", None, Some("token"), &dir, false);
        assert_eq!(secret.unwrap().unwrap().expose(), "s3cret");
        assert_eq!(
            one_secret("ntfy", "token", None, None, &dir, false),
            Ok(None)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
