//! Receiver configuration: the `alerting.receivers` entries as written
//! ([`RawReceiver`], one struct per kind in each receiver's file), their
//! validation into a [`ReceiverSpec`] (secrets read by each kind through
//! [`super::settings`]), and building the [`Receiver`] from it.
//!
//! Errors are plain messages naming the key (`webhook.bearer_token_file: ...`);
//! the configuration module adds the file and line. That receiver names are
//! unique is the caller's check.

use serde::Deserialize;
use std::path::Path;

use super::settings::BuildOptions;
use super::{alertmanager, email, log, ntfy, slack, telegram, webhook, Receiver};

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
    pub kind: ReceiverKind,
    /// `send_resolved` (default true).
    pub send_resolved: bool,
}

/// A receiver kind's validated settings.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiverKind {
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
            c.validate(base_dir).map(ReceiverKind::Alertmanager)
        } else if let Some(c) = &self.webhook {
            c.validate(base_dir).map(ReceiverKind::Webhook)
        } else if let Some(c) = &self.ntfy {
            c.validate(base_dir).map(ReceiverKind::Ntfy)
        } else if let Some(c) = &self.slack {
            c.validate(base_dir).map(ReceiverKind::Slack)
        } else if let Some(c) = &self.telegram {
            c.validate(base_dir).map(ReceiverKind::Telegram)
        } else if let Some(c) = &self.email {
            c.validate(base_dir).map(ReceiverKind::Email)
        } else if self.log.is_some() {
            Ok(ReceiverKind::Log)
        } else {
            return Err(at(format!("no kind: set one of {}", KINDS.join(", "))));
        };
        let kind = kind.map_err(at)?;
        if matches!(kind, ReceiverKind::Alertmanager(_)) && self.send_resolved == Some(false) {
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
            ReceiverKind::Alertmanager(_) => "alertmanager",
            ReceiverKind::Webhook(_) => "webhook",
            ReceiverKind::Ntfy(_) => "ntfy",
            ReceiverKind::Slack(_) => "slack",
            ReceiverKind::Telegram(_) => "telegram",
            ReceiverKind::Email(_) => "email",
            ReceiverKind::Log => "log",
        }
    }

    /// Builds the receiver. Fails only when the HTTP client or the SMTP
    /// transport cannot be set up.
    pub fn build(&self, options: &BuildOptions) -> Result<Box<dyn Receiver>, String> {
        let name = &self.name;
        let built: Box<dyn Receiver> = match &self.kind {
            ReceiverKind::Alertmanager(s) => {
                Box::new(alertmanager::Alertmanager::new(name, s, options)?)
            }
            ReceiverKind::Webhook(s) => Box::new(webhook::Webhook::new(name, s, options)?),
            ReceiverKind::Ntfy(s) => Box::new(ntfy::Ntfy::new(s, options)?),
            ReceiverKind::Slack(s) => Box::new(slack::Slack::new(s, options)?),
            ReceiverKind::Telegram(s) => Box::new(telegram::Telegram::new(s, options)?),
            ReceiverKind::Email(s) => Box::new(email::Email::new(s, options)?),
            ReceiverKind::Log => Box::new(log::Log::new(name)),
        };
        Ok(built)
    }
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
}
