//! The one type that holds credentials (`app_key`, `token`, receivers' tokens and
//! URLs), the one reader of secret files, and `${VAR}` expansion. `Secret`'s `Debug` and `Display`
//! redact, so a secret cannot leak through a log line, an error or a panic.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A credential. Read it only where it goes on the wire, with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Secret(value.into())
    }

    /// The secret's text, for the request that carries it and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Secrets shorter than this are not looked for in texts: they would match
/// ordinary words, and no provider issues credentials that short.
const SHORTEST_REDACTED: usize = 6;

/// `text` with each secret of `secrets` replaced by `<redacted>`: a last guard
/// for texts that come from elsewhere (a server's answer, a library's error). A
/// secret's URL-encoded form is redacted too, and a secret URL's path and query
/// on their own, as a server may echo them. Forms shorter than
/// [`SHORTEST_REDACTED`] characters are left alone.
pub fn redact(text: &str, secrets: &[&Secret]) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        let value = secret.expose();
        let mut forms = vec![
            value.to_owned(),
            url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
        ];
        if let Ok(url) = url::Url::parse(value) {
            forms.push(url.as_str().to_owned());
            let path_and_query = &url[url::Position::BeforePath..];
            if path_and_query.len() > 1 {
                forms.push(path_and_query.to_owned());
            }
        }
        for form in forms
            .iter()
            .filter(|f| f.chars().count() >= SHORTEST_REDACTED)
        {
            text = text.replace(form.as_str(), "<redacted>");
        }
    }
    text
}

/// Reads a secret from `file` (relative to `base_dir` unless absolute): the
/// trailing line break is removed; a missing, unreadable or empty file is an
/// error that names the file, never its content.
pub fn read_secret_file(base_dir: &Path, file: &str) -> Result<String, String> {
    if file.trim().is_empty() {
        return Err("must not be empty".into());
    }
    let path = base_dir.join(PathBuf::from(file));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
    let secret = text.trim_end_matches(['\r', '\n']).to_owned();
    if secret.trim().is_empty() {
        return Err(format!("secret file {} is empty", path.display()));
    }
    Ok(secret)
}

/// Replaces `${NAME}` using `lookup` (`$${` stands for a literal `${`).
pub fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| "unterminated ${ in value".to_string())?;
            let name = &tail[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid environment variable name {name:?}"));
            }
            let value =
                lookup(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{redact, Secret};

    #[test]
    fn texts_lose_secrets_in_every_form_but_not_short_words() {
        let key = Secret::new("a+b/c=d-key");
        let text = "bad key a+b/c=d-key (sent as a%2Bb%2Fc%3Dd-key)";
        assert_eq!(
            redact(text, &[&key]),
            "bad key <redacted> (sent as <redacted>)"
        );
        let short = Secret::new("k");
        assert_eq!(redact("app_key rejected", &[&short]), "app_key rejected");
    }

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("hunter2-app-key");
        assert!(!format!("{s:?} {s} {:?}", Some(&s)).contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-app-key");
    }
}
