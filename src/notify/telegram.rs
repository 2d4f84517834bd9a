//! The `telegram` receiver: the Bot API's
//! `POST https://api.telegram.org/bot<token>/sendMessage` with `chat_id` and
//! `text`. The token is part of the URL, so no URL ever reaches an error or a log.

use std::path::Path;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Deserializer, Serialize};

use super::settings::{one_secret, optional_secret, BuildOptions};
use super::{text, AlertEvent, HttpPost, NotifyError, Receiver};
use crate::secret::Secret;

/// The Bot API's base URL.
/// `sendMessage` takes "1-4096 characters after entities parsing" (the Bot
/// API's documentation). The Bot API server (TDLib, `MessageContent.cpp`)
/// refuses a bot's text longer than `message_text_length_max` (4096) Unicode
/// code points with "Message is too long"; Telegram's own offsets count
/// UTF-16 code units. We count UTF-16 code units: the same number for text of
/// the Basic Multilingual Plane, never fewer, so the text fits either way.
/// Sent without `parse_mode`, the text is its own result of entity parsing.
const MAX_TEXT: usize = 4096;

/// What a Telegram message holds: 4096 UTF-16 code units of plain text.
const LIMIT: text::Limit = text::Limit {
    max: MAX_TEXT,
    unit: text::Unit::Utf16,
    max_listed: usize::MAX,
    escape: text::plain,
};

/// `telegram: {bot_token, bot_token_file, chat_id}` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    #[serde(default, deserialize_with = "optional_secret")]
    pub bot_token: Option<Secret>,
    pub bot_token_file: Option<String>,
    /// A chat's numeric id (`"-1001234"`, quoted or not) or `@channelname`.
    #[serde(deserialize_with = "string_or_integer")]
    pub chat_id: String,
}

/// The validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub bot_token: Secret,
    pub chat_id: String,
}

impl TelegramConfig {
    /// Reads the bot token (or its file, relative to `base_dir`) and checks the chat.
    pub fn validate(&self, base_dir: &Path) -> Result<Settings, String> {
        let bot_token = one_secret(
            "telegram",
            "bot_token",
            self.bot_token.as_ref(),
            self.bot_token_file.as_deref(),
            base_dir,
            true,
        )?
        .ok_or("telegram: missing secret: set bot_token or bot_token_file")?;
        let token_chars = |c: char| c.is_ascii_alphanumeric() || c == ':' || c == '_' || c == '-';
        if !bot_token.expose().chars().all(token_chars) {
            return Err("telegram.bot_token: not a bot token (<id>:<secret>)".into());
        }
        let chat_id = self.chat_id.trim();
        let numeric = chat_id
            .strip_prefix('-')
            .unwrap_or(chat_id)
            .chars()
            .all(|c| c.is_ascii_digit());
        if chat_id.is_empty() || !(numeric || chat_id.starts_with('@')) {
            return Err("telegram.chat_id: must be a numeric chat id or @channelname".into());
        }
        Ok(Settings {
            bot_token,
            chat_id: chat_id.to_owned(),
        })
    }
}

/// A string, or an integer written without quotes.
fn string_or_integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(i64),
    }
    Ok(match Id::deserialize(deserializer)? {
        Id::Text(text) => text,
        Id::Number(n) => n.to_string(),
    })
}

/// The `sendMessage` request.
#[derive(Debug, Serialize)]
pub struct SendMessage<'a> {
    pub chat_id: &'a str,
    pub text: String,
    pub disable_web_page_preview: bool,
}

/// The Bot API's answer, as far as errors need it (its `description` is in
/// the quoted body).
#[derive(Debug, Default, Deserialize)]
struct Reply {
    #[serde(default)]
    ok: bool,
    parameters: Option<Parameters>,
}

#[derive(Debug, Default, Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

/// Sends to one Telegram chat.
pub struct Telegram {
    /// `<api>/bot<token>/sendMessage`: a secret as a whole.
    endpoint: Secret,
    bot_token: Secret,
    chat_id: String,
    http: HttpPost,
}

impl Telegram {
    /// A receiver for validated settings, against `options.telegram_api_url`.
    pub fn new(settings: &Settings, options: &BuildOptions) -> Result<Self, String> {
        let endpoint = format!(
            "{}/bot{}/sendMessage",
            options.telegram_api_url.trim_end_matches('/'),
            settings.bot_token.expose()
        );
        Ok(Telegram {
            endpoint: Secret::new(endpoint),
            bot_token: settings.bot_token.clone(),
            chat_id: settings.chat_id.clone(),
            http: HttpPost::new("telegram: POST sendMessage", options.timeout)?,
        })
    }
}

impl Receiver for Telegram {
    fn kind(&self) -> &'static str {
        "telegram"
    }

    fn send<'a>(&'a self, alerts: &'a [AlertEvent]) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let head = format!("{}\n\n", text::title_within(alerts, text::TITLE_MAX));
            let message = SendMessage {
                chat_id: &self.chat_id,
                text: text::digest(alerts, &head, &LIMIT),
                disable_web_page_preview: true,
            };
            let request = self.http.json(self.endpoint.expose(), &message)?;
            let secrets = [&self.endpoint, &self.bot_token];
            let answer = self.http.exchange(request, &secrets).await?;
            let reply: Reply = serde_json::from_slice(&answer.body).unwrap_or_default();
            let error = match self.http.status_error(&answer) {
                None if reply.ok => return Ok(()),
                // A success status without `"ok": true` is not the Bot API.
                None => NotifyError::permanent("telegram: POST sendMessage: answer is not ok"),
                Some(error) => error,
            };
            let retry_after = reply
                .parameters
                .and_then(|p| p.retry_after)
                .map(Duration::from_secs)
                .or(error.retry_after());
            Err(error.with_retry_after(retry_after).redacted(&secrets))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(token: &str, chat_id: &str) -> TelegramConfig {
        TelegramConfig {
            bot_token: Some(Secret::new(token)),
            bot_token_file: None,
            chat_id: chat_id.into(),
        }
    }

    #[test]
    fn validates_token_and_chat() {
        let dir = Path::new(".");
        assert!(config("123:abc_DEF-9", "-1001234").validate(dir).is_ok());
        assert!(config("123:abc", "@alerts").validate(dir).is_ok());
        let error = config("123:abc/../x", "1").validate(dir).unwrap_err();
        assert!(
            error.starts_with("telegram.bot_token") && !error.contains("abc"),
            "{error}"
        );
        assert!(config("123:abc", "chat").validate(dir).is_err());
    }

    #[test]
    fn chat_id_may_be_a_number() {
        let config: TelegramConfig =
            serde_json::from_str(r#"{"bot_token": "1:a", "chat_id": -1001234}"#).unwrap();
        assert_eq!(config.chat_id, "-1001234");
    }
}
