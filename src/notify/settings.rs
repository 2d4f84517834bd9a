//! What every receiver kind reads its settings with: the options of building a
//! receiver, a secret given as `<key>` or `<key>_file`, an HTTP URL. The kinds
//! import these; the registry (`config.rs`) imports the kinds, never the
//! other way round.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::secret::{self, Secret, SourceError};

/// The Telegram Bot API's address.
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";

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

/// The contract's default `alerting.resend_interval`.
pub const DEFAULT_RESEND_INTERVAL: Duration = Duration::from_secs(60);

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            timeout: DEFAULT_TIMEOUT,
            telegram_api_url: DEFAULT_TELEGRAM_API_URL.to_owned(),
            resend_interval: DEFAULT_RESEND_INTERVAL,
        }
    }
}

/// A receiver's `<key>` or `<key>_file` by the one rule of
/// [`secret::value_or_file`] (exactly one when `required`), its errors led by
/// the kind (`webhook.bearer_token_file: ...`).
pub(crate) fn one_secret(
    kind: &str,
    key: &str,
    value: Option<&Secret>,
    file: Option<&str>,
    base_dir: &Path,
    required: bool,
) -> Result<Option<Secret>, String> {
    let value = value.map(|v| v.expose().to_owned());
    let found = if required {
        secret::required_value_or_file(key, value, file, base_dir).map(Some)
    } else {
        secret::value_or_file(key, value, file, base_dir)
    };
    found.map_err(|e| match e {
        SourceError::Pair(message) => format!("{kind}: {message}"),
        SourceError::Key { key, message } => format!("{kind}.{key}: {message}"),
    })
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
