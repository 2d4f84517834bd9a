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

/// The incoming webhook's message: `mrkdwn` text, in which Slack reads `<…>`
/// as a link or a mention (`<!channel>`) and `&…;` as an entity.
#[derive(Debug, Serialize)]
pub struct Message {
    pub text: String,
}

impl Message {
    /// The title in bold, then one block per alert; every text escaped, so that
    /// what a provider named an account is shown as written, never as a link
    /// or a mention.
    pub fn new(alerts: &[AlertEvent]) -> Self {
        let text = format!(
            "*{}*\n\n{}",
            escape(&text::title(alerts)),
            escape(&text::body(alerts))
        );
        Message {
            text: without_cut_entity(text::truncate(&text, MAX_TEXT)),
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

/// A text cut by [`text::truncate`] without an escape the cut split (`&am…`).
fn without_cut_entity(mut text: String) -> String {
    let Some(body) = text.strip_suffix('…') else {
        return text;
    };
    if let Some(at) = body.rfind('&') {
        if !body[at..].contains(';') {
            text = format!("{}…", &body[..at]);
        }
    }
    text
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
    fn a_cut_never_splits_an_escape() {
        assert_eq!(without_cut_entity("a &am…".into()), "a …");
        assert_eq!(without_cut_entity("a &amp; b…".into()), "a &amp; b…");
        assert_eq!(without_cut_entity("a & b".into()), "a & b");
    }
}
