//! The YAML configuration: parsing, `${VAR}` expansion, secret files, defaults and
//! validation. Every error names the file, the line and the key.
//!
//! [`crate::yaml`] parses the text into a tree that keeps the line of every key and
//! value; the raw settings are read from that tree, so a parse error names its path
//! and line, and a rule broken afterwards names the line of its key. The keys every
//! target has are read here; a provider's credential key comes from its
//! `ProviderSpec`, and its own keys are read by the provider (`read_options`).

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use url::Url;

use crate::alerting::{Alerting, RawAlerting};
use crate::bounded::{DEFAULT_LABEL_VALUE_LENGTH_LIMIT, MIN_LABEL_VALUE_LENGTH_LIMIT};
use crate::providers::{self, Connection, Endpoint, Options, OptionsError, ProviderSpec};
use crate::secret::{self, expand_env, Secret};
use crate::shard::Shard;
use crate::units::Zone;
use crate::yaml;

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// A request to reload the configuration file (from `POST /-/reload` or
/// SIGHUP), answered with the outcome: `Err` holds the reason shown to the caller.
pub type ReloadRequest = tokio::sync::oneshot::Sender<Result<(), String>>;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(600);
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 32;
/// Series one target may export, over all its endpoints, unless `sample_limit` says otherwise.
pub const DEFAULT_SAMPLE_LIMIT: usize = 200_000;
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub max_staleness: Duration,
    /// Upstream requests in flight at once, over all targets.
    pub max_concurrent_requests: usize,
    pub targets: Vec<Target>,
    /// A notice shown on the landing page (the demo says its data is simulated).
    pub notice: Option<String>,
    /// The alerting agent's settings; `None` runs no agent.
    pub alerting: Option<Alerting>,
}

/// One validated target with every default filled in. Two targets are equal
/// when polling one would be polling the other: every setting, the credential
/// included.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub provider: &'static ProviderSpec,
    /// The name people see on the front page and in `check` instead of the
    /// provider's (`display_name`).
    pub display_name: Option<String>,
    pub base_url: Url,
    pub credential: Secret,
    pub endpoints: Vec<Endpoint>,
    pub interval: Duration,
    pub timeout: Duration,
    pub timezone: Zone,
    pub unit_base: u32,
    /// The provider's own settings (`product_types` for the gateway family, ...).
    pub options: Options,
    /// The largest answer read per request, in bytes.
    pub body_size_limit: usize,
    /// The most series the target's readings may produce together.
    pub sample_limit: usize,
    /// The most bytes of a label value that came from the provider
    /// (`label_value_length_limit`).
    pub label_value_length_limit: usize,
    /// The most requests a second sent to the provider for this target (pages
    /// and retries included); `None` does not pace them.
    pub max_requests_per_second: Option<f64>,
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read configuration: {message}")]
    Read { path: String, message: String },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: String,
        line: usize,
        message: String,
    },
    /// Every mistake found in one file, one per target or section, in order.
    #[error("{} mistakes:\n{}", .0.len(), .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Several(Vec<ConfigError>),
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Config::parse(&text, path)
    }

    /// Validates configuration text; `path` names it in errors and anchors
    /// relative secret file paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let (tree, raw) = yaml::parse::<RawConfig>(text).map_err(|e| ConfigError::Invalid {
            path: file.clone(),
            line: e.line,
            message: e.message,
        })?;
        let source = Source {
            file,
            text,
            tree: &tree,
            base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let defaults = Defaults::from_raw(&raw, &source)?;
        let mut names = HashSet::new();
        let mut targets = Vec::with_capacity(raw.targets.len());
        // Each target and the alerting section are checked whatever the others
        // hold, so that one run names every mistake (a missing secret in each
        // of three targets, say).
        let mut errors = Vec::new();
        for index in 0..raw.targets.len() {
            match read_target(index, &source, &defaults, &mut names) {
                Ok(target) => targets.push(target),
                Err(e) => errors.push(e),
            }
        }
        let alerting = match raw
            .alerting
            .map(|section| section.validate(&source.base_dir))
        {
            None => None,
            Some(Ok(alerting)) => Some(alerting),
            Some(Err((path, message))) => {
                errors.push(source.invalid(source.line_of(&path), format!("alerting: {message}")));
                None
            }
        };
        if errors.len() == 1 {
            return Err(errors.remove(0));
        }
        if !errors.is_empty() {
            return Err(ConfigError::Several(errors));
        }
        Ok(Config {
            max_staleness: raw.max_staleness.unwrap_or(DEFAULT_MAX_STALENESS),
            max_concurrent_requests: defaults.max_concurrent_requests,
            targets,
            notice: None,
            alerting,
        })
    }
}

/// Reads and checks target `index` of the file; `names` holds the names of the
/// targets before it.
fn read_target(
    index: usize,
    source: &Source,
    defaults: &Defaults,
    names: &mut HashSet<String>,
) -> Result<Target, ConfigError> {
    let Some(entry) = yaml::Entry::new(source.tree, source.text, "targets", index) else {
        return Err(source.refuse("targets", "a target is not a mapping"));
    };
    let t: RawTarget = entry
        .read()
        .map_err(|e| source.invalid(e.line, e.message))?;
    let mut at = TargetAt {
        source,
        index,
        name: t.name.clone().unwrap_or_default(),
    };
    let spec = t.provider.as_deref().and_then(providers::spec);
    check_keys(&entry, spec, &at)?;
    let (Some(name), Some(provider)) = (t.name.clone(), t.provider.clone()) else {
        let missing = if t.name.is_none() { "name" } else { "provider" };
        let message = format!("targets[{index}]: missing field `{missing}`");
        return Err(source.invalid(entry.line(), message));
    };
    check_name(&name).map_err(|m| at.refuse("name", m))?;
    if !names.insert(name.clone()) {
        return Err(at.refuse("name", "duplicate target name"));
    }
    at.name = name.clone();
    target(t, name, &provider, &entry, &at, defaults)
}

/// The file being checked: its name, its YAML tree (for the lines of keys) and the
/// directory that relative secret file paths start from.
struct Source<'a> {
    file: String,
    text: &'a str,
    tree: &'a yaml::Node,
    base_dir: PathBuf,
}

impl Source<'_> {
    fn invalid(&self, line: usize, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.file.clone(),
            line,
            message,
        }
    }

    /// The line of the deepest key of `path` (`["alerting", "rules", "X"]`, an
    /// item as `[2]`) that the file has.
    fn line_of(&self, path: &[String]) -> usize {
        let mut node = self.tree;
        let mut line = 1;
        for step in path {
            let next = match step.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                Some(index) => index
                    .parse()
                    .ok()
                    .and_then(|i| node.item(i))
                    .map(|n| (n.line(), n)),
                None => node.entry(step).map(|(k, v)| (k.line(), v)),
            };
            let Some((at, child)) = next else { break };
            line = at;
            node = child;
        }
        line
    }

    /// Refuses a top-level setting at the line of its key (line 1 when it is absent).
    fn refuse(&self, key: &str, message: impl fmt::Display) -> ConfigError {
        let line = self.tree.entry(key).map_or(1, |(k, _)| k.line());
        self.invalid(line, format!("{key}: {message}"))
    }
}

/// One target of the file, to refuse its settings at the right line.
struct TargetAt<'a> {
    source: &'a Source<'a>,
    index: usize,
    name: String,
}

impl<'a> TargetAt<'a> {
    /// A refusal from reading the YAML, already located and worded.
    fn located(&self, e: yaml::Error) -> ConfigError {
        self.source.invalid(e.line, e.message)
    }

    /// Refuses a setting of this target at the line of its key; a key that is absent
    /// (a missing secret) at the target's first line.
    fn refuse(&self, key: &str, message: impl fmt::Display) -> ConfigError {
        let tree = self.source.tree;
        let line = match tree
            .entry("targets")
            .and_then(|(_, list)| list.item(self.index))
        {
            Some(item) => item.entry(key).map_or(item.line(), |(k, _)| k.line()),
            None => tree.entry("targets").map_or(1, |(k, _)| k.line()),
        };
        let message = format!("targets[{}] ({}): {key}: {message}", self.index, self.name);
        self.source.invalid(line, message)
    }
}

impl TargetAt<'_> {
    /// Refuses a key nested in this target's entry (`["pools", "[0]", "used"]`)
    /// at the line of the deepest part of `path` the file has; `message` names
    /// the key.
    fn refuse_at(&self, path: &[String], message: impl fmt::Display) -> ConfigError {
        let mut full = vec!["targets".to_owned(), format!("[{}]", self.index)];
        full.extend(path.iter().cloned());
        let message = format!("targets[{}] ({}): {message}", self.index, self.name);
        self.source.invalid(self.source.line_of(&full), message)
    }
}

/// The top-level settings that targets inherit.
struct Defaults {
    zone: Zone,
    max_concurrent_requests: usize,
    unit_base: u32,
    body_size_limit: usize,
    sample_limit: usize,
    label_value_length_limit: usize,
    interval: Duration,
    timeout: Duration,
    max_requests_per_second: Option<f64>,
}

impl Defaults {
    /// Checks the top-level settings, and that there is a target.
    fn from_raw(raw: &RawConfig, source: &Source) -> Result<Defaults, ConfigError> {
        let zone = match &raw.timezone {
            None => Zone::default(),
            Some(z) => z.0.parse().map_err(|e| source.refuse("timezone", e))?,
        };
        let max_concurrent_requests = raw
            .max_concurrent_requests
            .unwrap_or(DEFAULT_MAX_CONCURRENT_REQUESTS);
        if max_concurrent_requests == 0 {
            return Err(source.refuse("max_concurrent_requests", "must be at least 1"));
        }
        let unit_base = raw.unit_base.unwrap_or(1024);
        check_unit_base(unit_base).map_err(|m| source.refuse("unit_base", m))?;
        let body_size_limit = raw
            .body_size_limit
            .map_or(crate::http::DEFAULT_BODY_SIZE_LIMIT, |s| s.0);
        if body_size_limit == 0 {
            return Err(source.refuse("body_size_limit", "must be greater than 0"));
        }
        let sample_limit = raw.sample_limit.unwrap_or(DEFAULT_SAMPLE_LIMIT);
        if sample_limit == 0 {
            return Err(source.refuse("sample_limit", "must be at least 1"));
        }
        let label_value_length_limit = raw
            .label_value_length_limit
            .unwrap_or(DEFAULT_LABEL_VALUE_LENGTH_LIMIT);
        check_label_value_length_limit(label_value_length_limit)
            .map_err(|m| source.refuse("label_value_length_limit", m))?;
        let interval = raw.interval.unwrap_or(DEFAULT_INTERVAL);
        let timeout = raw.timeout.unwrap_or(DEFAULT_TIMEOUT);
        check_interval(interval, timeout).map_err(|(key, m)| source.refuse(key, m))?;
        if let Some(rate) = raw.max_requests_per_second {
            check_rate(rate).map_err(|m| source.refuse("max_requests_per_second", m))?;
        }
        if raw.targets.is_empty() {
            return Err(source.refuse("targets", "at least one target is required"));
        }
        Ok(Defaults {
            zone,
            max_concurrent_requests,
            unit_base,
            body_size_limit,
            sample_limit,
            label_value_length_limit,
            interval,
            timeout,
            max_requests_per_second: raw.max_requests_per_second,
        })
    }
}

/// Checks one target and fills in its defaults.
fn target(
    t: RawTarget,
    name: String,
    provider: &str,
    entry: &yaml::Entry,
    at: &TargetAt,
    defaults: &Defaults,
) -> Result<Target, ConfigError> {
    let spec = providers::spec(provider).ok_or_else(|| {
        let known: Vec<_> = providers::PROVIDERS.iter().map(|p| p.name).collect();
        let known = known.join(", ");
        at.refuse(
            "provider",
            format!("unknown provider {provider:?} (known: {known})"),
        )
    })?;
    let base_url = match (&t.base_url, spec.default_base_url) {
        (Some(u), _) => parse_base_url(&u.0).map_err(|m| at.refuse("base_url", m))?,
        (None, Some(default)) => parse_base_url(default).map_err(|m| at.refuse("base_url", m))?,
        (None, None) => {
            let message = format!("required for provider {}", spec.name);
            return Err(at.refuse("base_url", message));
        }
    };
    let credential = credential(entry, spec, at)?;
    let options = (spec.read_options)(entry, &at.source.base_dir).map_err(|e| match e {
        OptionsError::Read(e) => at.located(e),
        OptionsError::Invalid { key, message } => at.refuse(key, message),
        OptionsError::InvalidAt { path, message } => at.refuse_at(&path, message),
    })?;
    let endpoints = endpoints(t.endpoints.clone(), spec, &options, at)?;

    let limits = limits(&t, &name, endpoints.len(), at, defaults)?;
    let display_name = display_name(t.display_name, at)?;
    Ok(Target {
        name,
        provider: spec,
        display_name,
        base_url,
        credential,
        endpoints,
        interval: limits.interval,
        timeout: limits.timeout,
        timezone: limits.timezone,
        unit_base: limits.unit_base,
        options,
        body_size_limit: limits.body_size_limit,
        sample_limit: limits.sample_limit,
        label_value_length_limit: limits.label_value_length_limit,
        max_requests_per_second: limits.max_requests_per_second,
    })
}

/// A target's clock, units, bounds and pace, defaults filled in.
struct Limits {
    timezone: Zone,
    unit_base: u32,
    body_size_limit: usize,
    sample_limit: usize,
    label_value_length_limit: usize,
    interval: Duration,
    timeout: Duration,
    max_requests_per_second: Option<f64>,
}

/// Reads and checks a target's [`Limits`]; `endpoints` is how many it polls.
fn limits(
    t: &RawTarget,
    name: &str,
    endpoints: usize,
    at: &TargetAt,
    defaults: &Defaults,
) -> Result<Limits, ConfigError> {
    let timezone = match &t.timezone {
        None => defaults.zone,
        Some(z) => z.0.parse().map_err(|e| at.refuse("timezone", e))?,
    };
    let unit_base = t.unit_base.unwrap_or(defaults.unit_base);
    check_unit_base(unit_base).map_err(|m| at.refuse("unit_base", m))?;
    let body_size_limit = t
        .body_size_limit
        .as_ref()
        .map_or(defaults.body_size_limit, |s| s.0);
    if body_size_limit == 0 {
        return Err(at.refuse("body_size_limit", "must be greater than 0"));
    }
    let sample_limit = t.sample_limit.unwrap_or(defaults.sample_limit);
    if sample_limit == 0 {
        return Err(at.refuse("sample_limit", "must be at least 1"));
    }
    let label_value_length_limit = t
        .label_value_length_limit
        .unwrap_or(defaults.label_value_length_limit);
    check_label_value_length_limit(label_value_length_limit)
        .map_err(|m| at.refuse("label_value_length_limit", m))?;
    let interval = t.interval.unwrap_or(defaults.interval);
    let timeout = t.timeout.unwrap_or(defaults.timeout);
    check_interval(interval, timeout).map_err(|(key, m)| at.refuse(key, m))?;
    if let Some(rate) = t.max_requests_per_second {
        check_rate(rate).map_err(|m| at.refuse("max_requests_per_second", m))?;
    }
    let max_requests_per_second = t
        .max_requests_per_second
        .or(defaults.max_requests_per_second);
    if let Some(rate) = max_requests_per_second {
        // Named at the target's own key if it has one, else at the top-level key.
        check_rate_fits(rate, interval, endpoints).map_err(|m| {
            if t.max_requests_per_second.is_some() {
                at.refuse("max_requests_per_second", m)
            } else {
                let message = format!("targets[{}] ({name}): {m}", at.index);
                at.source.refuse("max_requests_per_second", message)
            }
        })?;
    }
    Ok(Limits {
        timezone,
        unit_base,
        body_size_limit,
        sample_limit,
        label_value_length_limit,
        interval,
        timeout,
        max_requests_per_second,
    })
}

/// `display_name`: shown to people, so not blank and without control characters.
fn display_name(name: Option<String>, at: &TargetAt) -> Result<Option<String>, ConfigError> {
    match name {
        Some(text) if text.trim().is_empty() || text.chars().any(char::is_control) => Err(at
            .refuse(
                "display_name",
                "must not be empty or hold control characters",
            )),
        name => Ok(name),
    }
}

/// `label_value_length_limit`: room for a readable start and the hash that
/// keeps cut values apart.
fn check_label_value_length_limit(limit: usize) -> Result<(), String> {
    if limit < MIN_LABEL_VALUE_LENGTH_LIMIT {
        return Err(format!(
            "must be at least {MIN_LABEL_VALUE_LENGTH_LIMIT} (bytes), not {limit}"
        ));
    }
    Ok(())
}

/// `max_requests_per_second`: a number above 0 (fractions allowed).
fn check_rate(rate: f64) -> Result<(), String> {
    if rate.is_finite() && rate > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "must be a number greater than 0 (0.5 is one request every 2 s), not {rate}"
        ))
    }
}

/// A pace that cannot fit one request per endpoint into an interval would make
/// every poll overrun: refused.
fn check_rate_fits(rate: f64, interval: Duration, endpoints: usize) -> Result<(), String> {
    let per_interval = rate * interval.as_secs_f64();
    if per_interval < endpoints as f64 {
        return Err(format!(
            "{rate} allows {per_interval:.2} requests per interval ({}), fewer than the {endpoints} a poll needs at least (one per endpoint)",
            humantime::format_duration(interval)
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), &'static str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.is_empty() || !name.chars().all(allowed) {
        return Err("must be non-empty and use only letters, digits, '_' and '-'");
    }
    Ok(())
}

/// Refuses a key that neither every target nor this provider has: one another
/// provider reads is "not used by" this one, anything else is unknown. Without a
/// known provider, every provider's keys are allowed (the provider is refused next).
fn check_keys(
    entry: &yaml::Entry,
    spec: Option<&ProviderSpec>,
    at: &TargetAt,
) -> Result<(), ConfigError> {
    let keys_of = |p: &ProviderSpec| {
        let mut keys = vec![
            p.credential_key.to_owned(),
            format!("{}_file", p.credential_key),
        ];
        keys.extend(p.own_keys.iter().map(|k| (*k).to_owned()));
        keys
    };
    let allowed: Vec<String> = match spec {
        Some(spec) => keys_of(spec),
        None => providers::PROVIDERS.iter().flat_map(keys_of).collect(),
    };
    for (key, line) in entry.keys() {
        if COMMON_KEYS.contains(&key) || allowed.iter().any(|k| k == key) {
            continue;
        }
        let other = providers::PROVIDERS
            .iter()
            .find(|p| keys_of(p).iter().any(|k| k == key));
        return Err(match (spec, other) {
            (Some(spec), Some(other))
                if other.credential_key != spec.credential_key
                    && keys_of(other)[..2].iter().any(|k| k == key) =>
            {
                let message = format!(
                    "not used by provider {} (use {} or {}_file)",
                    spec.name, spec.credential_key, spec.credential_key
                );
                at.refuse(key, message)
            }
            (Some(spec), Some(_)) => at.refuse(key, format!("not used by provider {}", spec.name)),
            _ => {
                let expected: Vec<_> = COMMON_KEYS
                    .iter()
                    .map(|k| (*k).to_owned())
                    .chain(allowed.iter().cloned())
                    .map(|k| format!("`{k}`"))
                    .collect();
                let message = format!(
                    "targets[{}]: unknown field `{key}`, expected one of {}",
                    at.index,
                    expected.join(", ")
                );
                at.source.invalid(line, yaml::hint(message))
            }
        });
    }
    Ok(())
}

/// The target's secret: the provider's credential key (`app_key`, `token`) or
/// the file that `<key>_file` names.
fn credential(
    entry: &yaml::Entry,
    spec: &ProviderSpec,
    at: &TargetAt,
) -> Result<Secret, ConfigError> {
    let key = spec.credential_key;
    let key_file = format!("{key}_file");
    let value = entry.read_key::<Expanded>(key).map_err(|e| at.located(e))?;
    let file = entry
        .read_key::<Expanded>(&key_file)
        .map_err(|e| at.located(e))?;
    let base_dir = &at.source.base_dir;
    let file = file.as_ref().map(|f| f.0.as_str());
    secret::required_value_or_file(key, value.map(|v| v.0), file, base_dir).map_err(|e| match e {
        secret::SourceError::Pair(message) => at.refuse(key, message),
        secret::SourceError::Key { key, message } => at.refuse(&key, message),
    })
}

/// The endpoints to poll: the provider's default ones, or the listed ones (any
/// of the provider's, optional ones included), each once. For a provider whose
/// endpoints follow from its settings, the ones those settings describe.
fn endpoints(
    list: Option<Vec<Endpoint>>,
    spec: &ProviderSpec,
    options: &Options,
    at: &TargetAt,
) -> Result<Vec<Endpoint>, ConfigError> {
    let (defaults, known): (Vec<Endpoint>, Vec<Endpoint>) = match spec.configured_endpoints {
        Some(configured) => {
            let described = configured(options);
            (described.clone(), described)
        }
        None => (spec.endpoints.to_vec(), spec.all_endpoints().collect()),
    };
    let Some(list) = list else {
        return Ok(defaults);
    };
    if list.is_empty() {
        return Err(at.refuse("endpoints", "must list at least one endpoint"));
    }
    let mut seen = HashSet::new();
    for e in &list {
        if !known.contains(e) {
            let known: Vec<_> = known.iter().map(|e| e.as_str()).collect();
            let known = known.join(", ");
            let message = if spec.configured_endpoints.is_some() {
                format!("{e} is not an endpoint this target describes (described: {known})")
            } else {
                format!(
                    "{e} is not an endpoint of provider {} (known: {known})",
                    spec.name
                )
            };
            return Err(at.refuse("endpoints", message));
        }
        if !seen.insert(*e) {
            return Err(at.refuse("endpoints", format!("{e} listed twice")));
        }
    }
    Ok(list)
}

fn check_interval(interval: Duration, timeout: Duration) -> Result<(), (&'static str, String)> {
    if interval < MIN_INTERVAL {
        return Err((
            "interval",
            format!(
                "must be at least {}",
                humantime::format_duration(MIN_INTERVAL)
            ),
        ));
    }
    if timeout.is_zero() {
        return Err(("timeout", "must be greater than 0".into()));
    }
    Ok(())
}

fn check_unit_base(base: u32) -> Result<(), String> {
    if base == 1024 || base == 1000 {
        Ok(())
    } else {
        Err(format!("must be 1024 or 1000, not {base}"))
    }
}

fn parse_base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("invalid URL {text:?}: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("{text:?} must be an http or https URL"));
    }
    if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a query string or credentials; use app_key/token".into());
    }
    Ok(url)
}

/// A string with `${VAR}` replaced from the environment; `$${` stays a literal `${`.
/// An unset variable is an error, so a missing secret is never sent as "".
/// It may hold a secret, so its `Debug` shows only the length.
#[derive(Clone)]
struct Expanded(String);

impl fmt::Debug for Expanded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Expanded(<{} characters redacted>)",
            self.0.chars().count()
        )
    }
}

impl<'de> Deserialize<'de> for Expanded {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Expanding inside the visitor makes the parser report the value's own line.
        struct ExpandVisitor;
        impl serde::de::Visitor<'_> for ExpandVisitor {
            type Value = Expanded;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, raw: &str) -> Result<Expanded, E> {
                expand_env(raw, |name| std::env::var(name).ok())
                    .map(Expanded)
                    .map_err(E::custom)
            }
        }
        d.deserialize_str(ExpandVisitor)
    }
}

/// A size in bytes: a number, or a string with a unit (`16MiB`, `10MB`).
#[derive(Debug, Clone, Copy)]
struct Size(usize);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl serde::de::Visitor<'_> for SizeVisitor {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as 16MiB, 10MB or a number of bytes")
            }
            fn visit_u64<E: serde::de::Error>(self, bytes: u64) -> Result<Size, E> {
                usize::try_from(bytes)
                    .map(Size)
                    .map_err(|_| E::custom("size too large"))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Size, E> {
                let bytes = crate::units::parse_size(text).map_err(E::custom)?;
                self.visit_u64(bytes)
            }
        }
        d.deserialize_any(SizeVisitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default, with = "humantime_serde")]
    interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    max_staleness: Option<Duration>,
    timezone: Option<Expanded>,
    unit_base: Option<u32>,
    max_concurrent_requests: Option<usize>,
    body_size_limit: Option<Size>,
    sample_limit: Option<usize>,
    label_value_length_limit: Option<usize>,
    max_requests_per_second: Option<f64>,
    #[serde(default)]
    /// Read one by one ([`read_target`]), so that a mistake in one target
    /// does not hide those of the others.
    targets: Vec<serde::de::IgnoredAny>,
    alerting: Option<RawAlerting>,
}

/// The keys every target has. A provider's credential keys and its own keys are
/// read by [`credential`] and the provider; [`check_keys`] refuses the rest.
#[derive(Deserialize)]
struct RawTarget {
    /// Required; checked after the keys, so that an unknown key is named first.
    name: Option<String>,
    provider: Option<String>,
    display_name: Option<String>,
    base_url: Option<Expanded>,
    endpoints: Option<Vec<Endpoint>>,
    #[serde(default, with = "humantime_serde")]
    interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    timezone: Option<Expanded>,
    unit_base: Option<u32>,
    body_size_limit: Option<Size>,
    sample_limit: Option<usize>,
    label_value_length_limit: Option<usize>,
    max_requests_per_second: Option<f64>,
}

/// The fields of [`RawTarget`], in the order an unknown-key error lists them.
const COMMON_KEYS: &[&str] = &[
    "name",
    "provider",
    "display_name",
    "base_url",
    "endpoints",
    "interval",
    "timeout",
    "timezone",
    "unit_base",
    "body_size_limit",
    "sample_limit",
    "label_value_length_limit",
    "max_requests_per_second",
];

impl Config {
    /// Drops the targets that `shard` does not poll, and says how many are left.
    pub fn keep_shard(&mut self, shard: Shard) {
        if shard == Shard::ALL {
            return;
        }
        let configured = self.targets.len();
        self.targets.retain(|t| shard.owns(&t.name));
        tracing::info!(
            shard = shard.index(),
            total_shards = shard.total(),
            targets = self.targets.len(),
            configured,
            "polling this shard's share of the targets"
        );
    }
}

impl Target {
    /// The name people see for this target's provider: its own `display_name`,
    /// else the provider's.
    pub fn display_name(&self) -> &str {
        self.display_name
            .as_deref()
            .unwrap_or(self.provider.display_name)
    }

    /// What the provider sees of this target.
    pub fn connection(&self) -> Connection<'_> {
        Connection {
            spec: self.provider,
            base_url: &self.base_url,
            credential: &self.credential,
            timeout: self.timeout,
            body_size_limit: self.body_size_limit,
            timezone: self.timezone,
            unit_base: self.unit_base,
            sample_limit: self.sample_limit,
            max_requests_per_second: self.max_requests_per_second,
            options: &self.options,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.provider.name)
    }
}

#[cfg(test)]
mod tests {
    use super::{expand_env, Expanded};

    /// Every key that takes a string, at the top level (`None`) or in a target.
    const STRING_KEYS: &[(Option<&str>, &str)] = &[
        (None, "interval"),
        (None, "timeout"),
        (None, "max_staleness"),
        (None, "timezone"),
        (None, "body_size_limit"),
        (Some("gateway"), "name"),
        (Some("gateway"), "provider"),
        (Some("gateway"), "base_url"),
        (Some("gateway"), "app_key"),
        (Some("gateway"), "app_key_file"),
        (Some("gateway"), "interval"),
        (Some("gateway"), "timeout"),
        (Some("gateway"), "timezone"),
        (Some("gateway"), "static_ip_expiry_field"),
        (Some("gateway"), "body_size_limit"),
        (Some("ipweb"), "token"),
        (Some("ipweb"), "token_file"),
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Parsing refuses or accepts; it never panics, whatever the text.
        #[test]
        fn any_string_in_any_key_never_panics(text in "\\PC{0,12}|[+\\-]?[0-9:é٨８+\\- ]{0,8}", key in 0..STRING_KEYS.len()) {
            let quoted = serde_json::to_string(&text).unwrap();
            let (section, name) = STRING_KEYS[key];
            let gateway = |key: &str| if section == Some("gateway") && key == name { quoted.clone() } else {
                match key {
                    "name" => "g".into(),
                    "provider" => "bestproxy".into(),
                    "base_url" => "https://api.example".into(),
                    _ => "k".into(),
                }
            };
            let mut yaml = String::new();
            if section.is_none() {
                yaml.push_str(&format!("{name}: {quoted}\n"));
            }
            yaml.push_str(&format!(
                "targets:\n  - name: {}\n    provider: {}\n    base_url: {}\n",
                gateway("name"), gateway("provider"), gateway("base_url")
            ));
            match (section, name) {
                (Some("gateway"), "app_key_file") => yaml.push_str(&format!("    app_key_file: {quoted}\n")),
                _ => yaml.push_str("    app_key: k\n"),
            }
            if section == Some("gateway") && !["name", "provider", "base_url", "app_key", "app_key_file"].contains(&name) {
                yaml.push_str(&format!("    {name}: {quoted}\n"));
            }
            if section == Some("gateway") && name == "app_key" {
                yaml = yaml.replace("    app_key: k\n", &format!("    app_key: {quoted}\n"));
            }
            if section == Some("ipweb") {
                yaml.push_str(&format!("  - name: i\n    provider: ipweb\n    {name}: {quoted}\n"));
            }
            let _ = super::Config::parse(&yaml, std::path::Path::new("/nonexistent/config.yml"));
        }

        #[test]
        fn any_text_as_a_file_never_panics(text in "\\PC{0,200}") {
            let _ = super::Config::parse(&text, std::path::Path::new("/nonexistent/config.yml"));
        }
    }

    #[test]
    fn expanded_values_redact_in_debug() {
        let value = Expanded("hunter2-token".into());
        assert!(!format!("{value:?} {:?}", Some(&value)).contains("hunter2"));
    }

    #[test]
    fn expands_variables() {
        let env = |n: &str| (n == "TOKEN").then(|| "s3cret".to_string());
        assert_eq!(expand_env("${TOKEN}", env).unwrap(), "s3cret");
        assert_eq!(expand_env("a-${TOKEN}-b", env).unwrap(), "a-s3cret-b");
        assert_eq!(expand_env("$${TOKEN} $5", env).unwrap(), "${TOKEN} $5");
        assert!(expand_env("${MISSING}", env)
            .unwrap_err()
            .contains("MISSING is not set"));
        assert!(expand_env("${TOKEN", env).is_err());
        assert!(expand_env("${BAD NAME}", env).is_err());
    }
}
