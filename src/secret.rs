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

/// How much of a secret's form must precede a `…` (where a text was cut short)
/// for that remnant to be redacted too.
const SHORTEST_REMNANT: usize = 4;

/// What marks a text cut short (as `bounded::shorten` and every other
/// shortener of error texts write it); kept here so that `secret` imports nothing.
const ELLIPSIS: char = '…';

/// Every form in which some credentials go on the wire, to take out of texts
/// that came from elsewhere (a server's answer, a library's error): the value as
/// given, percent-encoded (`+` or `%20` for a space), JSON-escaped, in base64,
/// a secret URL's path and query and its user information, HTTP Basic's
/// `base64(user:password)` and SMTP's `AUTH PLAIN`. A form cut short just
/// before a `…` is redacted too, so that shortening a text before redacting it
/// leaks no prefix of a secret. Forms shorter than [`SHORTEST_REDACTED`]
/// characters are left alone.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so that a form inside another does not break its match.
    forms: Vec<Secret>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} forms)", self.forms.len())
    }
}

impl Redactor {
    /// A redactor of `secrets`, each in every form it may take on the wire
    /// alone ([`Redactor::secret`]).
    pub fn of(secrets: &[&Secret]) -> Self {
        secrets
            .iter()
            .fold(Redactor::default(), |redactor, secret| {
                redactor.secret(secret)
            })
    }

    /// Adds `secret` as given, percent-encoded, JSON-escaped and in base64;
    /// for a URL, also its path and query, and the Basic header that its user
    /// information turns into.
    pub fn secret(mut self, secret: &Secret) -> Self {
        let value = secret.expose();
        self.add(value.to_owned());
        self.add(url::form_urlencoded::byte_serialize(value.as_bytes()).collect());
        self.add(percent_encoded(value, false));
        self.add(percent_encoded(value, true));
        if let Ok(json) = serde_json::to_string(value) {
            self.add(json[1..json.len() - 1].to_owned());
        }
        self.add_base64(value.as_bytes());
        if let Ok(url) = url::Url::parse(value) {
            self.add(url.as_str().to_owned());
            let path_and_query = &url[url::Position::BeforePath..];
            if path_and_query.len() > 1 {
                self.add(path_and_query.to_owned());
            }
            if let Some(password) = url.password() {
                self.add(password.to_owned());
                let decoded = |text: &str| {
                    url::form_urlencoded::parse(format!("x={text}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                let password = Secret::new(decoded(password));
                self = self.basic(&decoded(url.username()), &password);
            }
        }
        self.sort();
        self
    }

    /// Adds HTTP Basic authentication of `username` with `password`: the
    /// password in all its forms, and `base64(username:password)`.
    pub fn basic(mut self, username: &str, password: &Secret) -> Self {
        self = self.secret(password);
        self.add_base64(format!("{username}:{}", password.expose()).as_bytes());
        self.sort();
        self
    }

    /// Adds SMTP authentication of `username` with `password`: the password in
    /// all its forms, and `AUTH PLAIN`'s `base64(\0username\0password)`.
    pub fn smtp(mut self, username: &str, password: &Secret) -> Self {
        self = self.secret(password);
        self.add_base64(format!("\0{username}\0{}", password.expose()).as_bytes());
        self.sort();
        self
    }

    /// `text` with every form replaced by `<redacted>`, and any form's first
    /// [`SHORTEST_REMNANT`] or more characters that stand right before a `…`.
    pub fn apply(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for form in &self.forms {
            if text.contains(form.expose()) {
                text = text.replace(form.expose(), REDACTED);
            }
        }
        if text.contains(ELLIPSIS) {
            text = self.redact_remnants(&text);
        }
        text
    }

    /// Redacts what is left of a form that a cut ended (`…` right after it).
    fn redact_remnants(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(ELLIPSIS) {
            let before = &rest[..at];
            let remnant = self
                .forms
                .iter()
                .filter_map(|form| longest_prefix_ending(before, form.expose()))
                .max()
                .unwrap_or(0);
            out.push_str(&before[..before.len() - remnant]);
            if remnant > 0 {
                out.push_str(REDACTED);
            }
            out.push(ELLIPSIS);
            rest = &rest[at + ELLIPSIS.len_utf8()..];
        }
        out.push_str(rest);
        out
    }

    fn add(&mut self, form: String) {
        if form.chars().count() >= SHORTEST_REDACTED
            && !self.forms.iter().any(|f| f.expose() == form)
        {
            self.forms.push(Secret::new(form));
        }
    }

    /// Base64 as HTTP Basic and SMTP write it, and without padding, and its
    /// URL-safe alphabet.
    fn add_base64(&mut self, bytes: &[u8]) {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        use base64::Engine as _;
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            self.add(engine.encode(bytes));
        }
    }

    fn sort(&mut self) {
        self.forms
            .sort_by_key(|form| std::cmp::Reverse(form.expose().len()));
    }
}

/// What a secret is replaced by.
const REDACTED: &str = "<redacted>";

/// The length in bytes of the longest start of `form`, at least
/// [`SHORTEST_REMNANT`] characters and shorter than the whole, that `text` ends with.
fn longest_prefix_ending(text: &str, form: &str) -> Option<usize> {
    form.char_indices()
        .map(|(at, _)| at)
        .skip(SHORTEST_REMNANT)
        .filter(|&at| text.ends_with(&form[..at]))
        .max()
}

/// Every byte but RFC 3986's unreserved characters as `%XX`, in upper or
/// lower case hex.
fn percent_encoded(value: &str, lower: bool) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else if lower {
            out.push_str(&format!("%{byte:02x}"));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `text` with each secret of `secrets`, in every form it takes on the wire
/// alone, replaced by `<redacted>` ([`Redactor::of`]).
pub fn redact(text: &str, secrets: &[&Secret]) -> String {
    Redactor::of(secrets).apply(text)
}

/// Why a secret's `<key>` / `<key>_file` pair was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// Both keys or neither was given: the message is about the pair.
    Pair(String),
    /// The key at fault (`<key>` or `<key>_file`) and why.
    Key { key: String, message: String },
}

/// The one rule for a secret given as `<key>` or as `<key>_file`, for targets'
/// credentials and receivers' secrets alike: at most one of the two; a file is
/// read with [`read_secret_file`] relative to `base_dir` (the configuration
/// file's directory); the secret must not be blank nor hold a control
/// character (a line break inside a token, say), which is refused at load
/// rather than at the first request. `None` when neither key is given.
pub fn value_or_file(
    key: &str,
    value: Option<String>,
    file: Option<&str>,
    base_dir: &Path,
) -> Result<Option<Secret>, SourceError> {
    let file_key = || format!("{key}_file");
    let (secret, at) = match (value, file) {
        (Some(_), Some(_)) => {
            return Err(SourceError::Pair(format!(
                "set either {key} or {key}_file, not both"
            )))
        }
        (None, None) => return Ok(None),
        (Some(value), None) => (value, key.to_owned()),
        (None, Some(file)) => {
            let secret = read_secret_file(base_dir, file).map_err(|message| SourceError::Key {
                key: file_key(),
                message,
            })?;
            (secret, file_key())
        }
    };
    let refuse = |message: &str| SourceError::Key {
        key: at.clone(),
        message: message.to_owned(),
    };
    if secret.trim().is_empty() {
        return Err(refuse("secret is empty"));
    }
    if secret.chars().any(char::is_control) {
        return Err(refuse("secret contains control characters (a line break?)"));
    }
    Ok(Some(Secret::new(secret)))
}

/// [`value_or_file`] where one of the two keys must be given.
pub fn required_value_or_file(
    key: &str,
    value: Option<String>,
    file: Option<&str>,
    base_dir: &Path,
) -> Result<Secret, SourceError> {
    value_or_file(key, value, file, base_dir)?
        .ok_or_else(|| SourceError::Pair(format!("missing secret: set {key} or {key}_file")))
}

/// The largest secret file read: far above any credential, far below what
/// would hurt (`app_key_file: /dev/zero` is refused, not read forever).
pub const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Reads a secret from `file` (relative to `base_dir` unless absolute): the
/// trailing line break is removed; a missing, unreadable, empty or larger than
/// [`MAX_SECRET_FILE`] file is an error that names the file, never its content.
/// A file other users may read is accepted with a warning, as ssh warns about
/// a private key (see [`loosely_permitted`]).
pub fn read_secret_file(base_dir: &Path, file: &str) -> Result<String, String> {
    if file.trim().is_empty() {
        return Err("must not be empty".into());
    }
    let path = base_dir.join(PathBuf::from(file));
    let text = read_bounded(&path, MAX_SECRET_FILE)
        .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
    let secret = text.trim_end_matches(['\r', '\n']).to_owned();
    if secret.trim().is_empty() {
        return Err(format!("secret file {} is empty", path.display()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(metadata) = std::fs::metadata(&path) {
            let mode = metadata.permissions().mode();
            if loosely_permitted(mode) {
                tracing::warn!(
                    file = %path.display(),
                    mode = format!("{:04o}", mode & 0o7777),
                    "secret file is accessible to other users; restrict it (chmod 600)"
                );
            }
        }
    }
    Ok(secret)
}

/// Whether a secret file's `mode` lets users other than its owner at it
/// (`mode & 0o077`), group read alone excepted: a Kubernetes secret volume
/// with `fsGroup` (deploy/kubernetes, `defaultMode: 0440`) is owned by root
/// and read by the exporter through its group.
pub fn loosely_permitted(mode: u32) -> bool {
    let others = mode & 0o077;
    others != 0 && others != 0o040
}

/// Reads the text file at `path`, refusing one longer than `limit` bytes
/// (a device or a pipe that never ends included) without reading further.
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(std::io::Error::other(format!("larger than {limit} bytes")));
    }
    Ok(text)
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
    #[test]
    fn secret_files_open_to_others_are_loosely_permitted() {
        for mode in [0o100644, 0o604, 0o660, 0o640 | 0o004, 0o620, 0o777] {
            assert!(super::loosely_permitted(mode), "{mode:o}");
        }
        for mode in [0o100600, 0o400, 0o440, 0o700] {
            assert!(!super::loosely_permitted(mode), "{mode:o}");
        }
    }

    use super::{redact, Redactor, Secret};
    use base64::Engine as _;

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
    fn every_wire_form_is_redacted() {
        let key = Secret::new("s3cret pass/+");
        let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        let basic = Redactor::default().basic("bob", &key);
        for form in [
            b64("bob:s3cret pass/+"),
            "s3cret%20pass%2F%2B".into(),
            "s3cret%20pass%2f%2b".into(),
            "s3cret+pass%2F%2B".into(),
            b64("s3cret pass/+"),
        ] {
            let text = format!("401: Authorization: Basic {form} refused");
            assert_eq!(
                basic.apply(&text),
                "401: Authorization: Basic <redacted> refused",
                "{form}"
            );
        }
        let smtp = Redactor::default().smtp("bob", &key);
        let plain = b64("\0bob\0s3cret pass/+");
        assert_eq!(smtp.apply(&format!("535 {plain}")), "535 <redacted>");
        let json = Redactor::of(&[&Secret::new("quote\"d-key")]);
        assert_eq!(
            json.apply(r#"{"key":"quote\"d-key"}"#),
            r#"{"key":"<redacted>"}"#
        );
    }

    #[test]
    fn a_url_with_user_information_is_redacted_as_its_basic_header() {
        let url = Secret::new("https://hook:pa%20ss-word@hooks.example/x");
        let header = base64::engine::general_purpose::STANDARD.encode("hook:pa ss-word");
        assert_eq!(
            redact(&format!("echo {header}; pa ss-word"), &[&url]),
            "echo <redacted>; <redacted>"
        );
    }

    #[test]
    fn a_secret_cut_short_loses_its_remnant() {
        let key = Secret::new("abcdef-123456-key");
        assert_eq!(
            redact("bad key abcdef-12…, retry", &[&key]),
            "bad key <redacted>…, retry"
        );
        // Three characters are not enough to tell a secret from a word.
        assert_eq!(redact("bad key abc…", &[&key]), "bad key abc…");
        assert_eq!(redact("nothing … here", &[&key]), "nothing … here");
    }

    #[test]
    fn an_endless_secret_file_is_refused_not_read() {
        let error = super::read_secret_file(std::path::Path::new("/"), "/dev/zero").unwrap_err();
        assert!(error.contains("larger than 65536 bytes"), "{error}");
    }

    #[test]
    fn the_cut_mark_is_the_one_shorteners_write() {
        assert_eq!(super::ELLIPSIS, crate::bounded::ELLIPSIS);
    }

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("hunter2-app-key");
        assert!(!format!("{s:?} {s} {:?}", Some(&s)).contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-app-key");
    }
}
