//! The `slack` receiver: a Slack incoming webhook, `POST {"text": ...}` to the
//! webhook URL, which is itself the credential (read from `webhook_url` or
//! `webhook_url_file`).

use std::path::Path;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::config::{http_url, one_secret, optional_secret, BuildOptions};
use super::{text, AlertEvent, HttpPost, NotifyError, Receiver};
use crate::secret::Secret;

/// Slack cuts messages longer than this many characters.
const MAX_TEXT: usize = 39_000;

/// `slack: {webhook_url, webhook_url_file}` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    #[serde(default, deserialize_with = "optional_secret")]
    pub webhook_url: Option<Secret>,
    pub webhook_url_file: Option<String>,
}

/// The validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub webhook_url: Secret,
}

impl SlackConfig {
    /// Reads the webhook URL (or its file, relative to `base_dir`) and checks it.
    pub fn validate(&self, base_dir: &Path) -> Result<Settings, String> {
        let webhook_url = one_secret(
            "slack",
            "webhook_url",
            self.webhook_url.as_ref(),
            self.webhook_url_file.as_deref(),
            base_dir,
            true,
        )?
        .ok_or("slack: missing secret: set webhook_url or webhook_url_file")?;
        http_url("slack", "webhook_url", &webhook_url)?;
        Ok(Settings { webhook_url })
    }
}

/// The incoming webhook's message: plain text.
#[derive(Debug, Serialize)]
pub struct Message {
    pub text: String,
}

impl Message {
    /// The title, then one block per alert.
    pub fn new(alerts: &[AlertEvent]) -> Self {
        let text = format!("*{}*\n\n{}", text::title(alerts), text::body(alerts));
        Message {
            text: text::truncate(&text, MAX_TEXT),
        }
    }
}

/// Posts to one Slack incoming webhook.
pub struct Slack {
    webhook_url: Secret,
    http: HttpPost,
}

impl Slack {
    /// A receiver for validated settings.
    pub fn new(settings: &Settings, options: &BuildOptions) -> Result<Self, String> {
        Ok(Slack {
            webhook_url: settings.webhook_url.clone(),
            http: HttpPost::new("slack: POST", options.timeout)?,
        })
    }
}

impl Receiver for Slack {
    fn kind(&self) -> &'static str {
        "slack"
    }

    fn send<'a>(&'a self, alerts: &'a [AlertEvent]) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let request = self
                .http
                .json(self.webhook_url.expose(), &Message::new(alerts))?;
            self.http
                .send(request, &[&self.webhook_url])
                .await
                .map(drop)
        })
    }
}
