//! The `slack` receiver: a Slack incoming webhook, `POST {"text": ...}` to the
//! webhook URL, which is itself the credential (read from `webhook_url` or
//! `webhook_url_file`).

use std::borrow::Cow;
use std::path::Path;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::settings::{http_url, one_secret, optional_secret, BuildOptions};
use super::{text, AlertEvent, HttpPost, NotifyError, Receiver};
use crate::secret::Secret;

/// Slack truncates a message whose `text` is longer than 40,000 characters
/// (chat.postMessage's documentation; api.slack.com/changelog/2018-04-truncating-really-long-messages).
/// Measured here in UTF-8 bytes of the escaped text as sent, which are never
/// fewer than its characters however Slack counts them (code points or
/// UTF-16 code units), so a message is never cut by Slack.
const MAX_TEXT: usize = 40_000;

/// What a Slack message holds: 40,000 bytes of escaped text, as many alerts
/// as fit.
const LIMIT: text::Limit = text::Limit {
    max: MAX_TEXT,
    unit: text::Unit::Bytes,
    max_listed: usize::MAX,
    escape: escaped,
};

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

/// The incoming webhook's message: `mrkdwn` text, in which Slack reads `<…>`
/// as a link or a mention (`<!channel>`) and `&…;` as an entity.
#[derive(Debug, Serialize)]
pub struct Message {
    pub text: String,
}

impl Message {
    /// The title in bold, then the digest of the alerts ([`text::digest`]),
    /// at most [`MAX_TEXT`] bytes; every text escaped, so that what a
    /// provider named an account is shown as written, never as a link or a
    /// mention, and measured once escaped.
    pub fn new(alerts: &[AlertEvent]) -> Self {
        let title = text::title_within(alerts, text::TITLE_MAX);
        let head = format!("*{}*\n\n", escape(&title));
        Message {
            text: text::digest(alerts, &head, &LIMIT),
        }
    }
}

/// `text` with `&`, `<` and `>` as Slack's message formatting asks
/// (`&amp;`, `&lt;`, `&gt;`): the three characters it reads as markup.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// [`escape`] for the digest, which escapes piece by piece and never cuts
/// inside what one character became.
fn escaped(text: &str) -> Cow<'_, str> {
    if text.contains(['&', '<', '>']) {
        Cow::Owned(escape(text))
    } else {
        Cow::Borrowed(text)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::text::tests::alert;
    use crate::notify::Status;

    #[test]
    fn provider_text_cannot_mention_or_link() {
        let mut event = alert("ProxyAccountNearLimit", "warning", Status::Firing);
        let name = "<!channel> <https://evil.example/pay|Renew your plan here> & co";
        event.labels.insert("account".into(), name.into());
        event.annotations.insert(
            "summary".into(),
            format!("Sub-account {name} is near its limit"),
        );
        let text = Message::new(&[event]).text;
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        assert!(
            text.contains(
                "&lt;!channel&gt; &lt;https://evil.example/pay|Renew your plan here&gt; &amp; co"
            ),
            "{text}"
        );
        assert!(
            text.starts_with("*[FIRING:1] ProxyAccountNearLimit*"),
            "{text}"
        );
    }

    #[test]
    fn a_long_message_fits_and_never_splits_an_escape() {
        let alerts: Vec<AlertEvent> = (0..3000)
            .map(|i| {
                let mut event = alert("ProxyAccountNearLimit", "warning", Status::Firing);
                event
                    .labels
                    .insert("account".into(), format!("{i} {}", "<&>".repeat(400)));
                event
            })
            .collect();
        let text = Message::new(&alerts).text;
        assert!(text.len() <= MAX_TEXT, "{}", text.len());
        assert!(!text.contains('<') && !text.contains('>'));
        let rest = text
            .replace("&amp;", "")
            .replace("&lt;", "")
            .replace("&gt;", "");
        assert!(!rest.contains('&'), "an escape was cut");
        assert!(text.contains("\n+"), "left out alerts are counted");
    }
}
