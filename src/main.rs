//! Command line entry point: flags, logging, signals.

use std::io::IsTerminal as _;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use clap::{Parser, Subcommand, ValueEnum};
use proxy_quota_exporter::config::ConfigError;
use proxy_quota_exporter::forecast::{History, NoHistory};
use proxy_quota_exporter::shard::Shard;
use proxy_quota_exporter::simulator::{Simulator, SimulatorConfig};
use proxy_quota_exporter::store::{Store, StoreOptions};
use proxy_quota_exporter::web::WebConfig;
use proxy_quota_exporter::{Config, Options};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

/// What `--version` prints after the program's name: the version and the git
/// revision it was built from (build.rs; "unknown" without git), as the
/// `proxy_exporter_build_info` metric's labels.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("PQE_GIT_REVISION"),
    ")"
);

/// Prometheus exporter for proxy traffic quotas, packages, sub-accounts and static IPs.
#[derive(Parser, Debug)]
#[command(version = VERSION, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Configuration file (YAML).
    #[arg(
        long = "config.file",
        env = "PROXY_QUOTA_EXPORTER_CONFIG_FILE",
        value_name = "FILE",
        global = true
    )]
    config_file: Option<PathBuf>,

    /// Validate the configuration file and exit.
    #[arg(long = "config.check")]
    config_check: bool,

    /// Run on simulated data: start the built-in simulator of the provider
    /// APIs on loopback and poll it. Needs no configuration and no account.
    /// Listens on 127.0.0.1:9877 and keeps its store in a temporary directory
    /// (removed at exit) unless --web.listen-address or --storage.path says
    /// otherwise.
    /// With --config.file, that file holds only an `alerting` section (your
    /// receivers and routes), used instead of the demo's, which logs alerts.
    #[arg(long = "demo", conflicts_with = "config_check")]
    demo: bool,

    /// Poll period in demo mode (at least 1s).
    #[arg(
        long = "demo.interval",
        env = "PROXY_QUOTA_EXPORTER_DEMO_INTERVAL",
        default_value = "5s",
        value_parser = parse_demo_interval,
        value_name = "DURATION"
    )]
    demo_interval: Duration,

    /// Address to listen on for HTTP (":9877" means every interface).
    /// [default: :9877, or 127.0.0.1:9877 under --demo]
    #[arg(
        long = "web.listen-address",
        env = "PROXY_QUOTA_EXPORTER_WEB_LISTEN_ADDRESS",
        value_name = "ADDRESS"
    )]
    listen_address: Option<String>,

    /// The URL under which the exporter is reached (behind a reverse proxy,
    /// say), as Prometheus' flag: alerts' generatorURL, the webhook's
    /// externalURL and the Watchdog's instance label point there. [default:
    /// http:// and the listen address]
    #[arg(
        long = "web.external-url",
        env = "PROXY_QUOTA_EXPORTER_WEB_EXTERNAL_URL",
        value_parser = parse_external_url,
        value_name = "URL"
    )]
    external_url: Option<String>,

    /// Web configuration file (Prometheus exporter-toolkit format): TLS and
    /// bcrypt basic authentication for every HTTP path.
    #[arg(
        long = "web.config.file",
        env = "PROXY_QUOTA_EXPORTER_WEB_CONFIG_FILE",
        value_name = "FILE"
    )]
    web_config_file: Option<PathBuf>,

    /// Directory of the embedded store (pool history, alert state); "" runs
    /// without a store. `check` reads the history from it, never writes.
    /// [default: data/, or a temporary directory removed at exit under --demo]
    #[arg(
        long = "storage.path",
        env = "PROXY_QUOTA_EXPORTER_STORAGE_PATH",
        value_name = "DIR",
        global = true
    )]
    storage_path: Option<String>,

    /// How long the store keeps history.
    #[arg(
        long = "storage.retention",
        env = "PROXY_QUOTA_EXPORTER_STORAGE_RETENTION",
        default_value = "15d",
        value_parser = parse_retention,
        value_name = "DURATION"
    )]
    storage_retention: Duration,

    /// Poll and serve only the targets whose name hashes to this shard (0 to
    /// --total-shards minus 1); see docs/scale-out.md.
    #[arg(
        long = "shard",
        env = "PROXY_QUOTA_EXPORTER_SHARD",
        default_value_t = 0,
        value_name = "N"
    )]
    shard: u32,

    /// How many exporter processes share the configuration's targets.
    #[arg(
        long = "total-shards",
        env = "PROXY_QUOTA_EXPORTER_TOTAL_SHARDS",
        default_value_t = 1,
        value_name = "M"
    )]
    total_shards: u32,

    /// Minimum level of log messages.
    #[arg(
        long = "log.level",
        env = "PROXY_QUOTA_EXPORTER_LOG_LEVEL",
        default_value = "info",
        global = true
    )]
    log_level: LogLevel,

    /// Format of log messages.
    #[arg(
        long = "log.format",
        env = "PROXY_QUOTA_EXPORTER_LOG_FORMAT",
        default_value = "logfmt",
        global = true
    )]
    log_format: LogFormat,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Poll every target once and print what is about to run out.
    ///
    /// Exit code: 0 ok, 1 warning, 2 critical, 3 unknown (a target could not be
    /// read). The worst state wins, and CRITICAL ranks above UNKNOWN: with one
    /// unreadable target and one critical one, `check` exits 2. A shortage that
    /// is known is the more urgent and actionable page; Nagios plugins such as
    /// check_disk likewise report the worst known state. The unreadable target
    /// is still listed with its error.
    ///
    /// `check --demo` polls the built-in simulator once instead of a
    /// configuration; its accounts are built to run short, so it exits 2.
    Check {
        /// Poll the built-in simulator (BestProxy, ProxyLite, IPWeb and one
        /// custom API, with the configuration `--demo` uses) instead of
        /// `--config.file`. Reads no store.
        #[arg(long = "demo", conflicts_with = "config_file")]
        demo: bool,

        /// `table` for people, `json` for scripts.
        #[arg(
            long = "output",
            env = "PROXY_QUOTA_EXPORTER_CHECK_OUTPUT",
            default_value = "table"
        )]
        output: OutputFormat,
    },
    /// Fetch one answer of a provider's API and list the JSON pointers of every
    /// number, timestamp and list in it: a start for a custom target.
    ///
    /// The credential is read from --credential-file or from the environment
    /// variable PROXY_QUOTA_EXPORTER_DISCOVER_CREDENTIAL (never from the command
    /// line, where other users could see it), sent as --header, --query or HTTP
    /// Basic's password, and never printed, in any form. One GET, nothing else.
    Discover {
        /// The URL to GET (http or https), with any fixed query parameters.
        #[arg(long = "url")]
        url: String,
        /// Send the credential in this header.
        #[arg(long = "header", conflicts_with_all = ["query", "basic_username"])]
        header: Option<String>,
        /// Text before the credential in the header (`Bearer `).
        #[arg(long = "prefix", requires = "header")]
        prefix: Option<String>,
        /// Send the credential as this query parameter.
        #[arg(long = "query", conflicts_with = "basic_username")]
        query: Option<String>,
        /// Send the credential as HTTP Basic's password for this user.
        #[arg(long = "basic-username")]
        basic_username: Option<String>,
        /// A file holding the credential (its first line).
        #[arg(long = "credential-file")]
        credential_file: Option<PathBuf>,
        /// The zone of zone-less timestamps.
        #[arg(long = "timezone", default_value = "+08:00")]
        timezone: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutputFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Logfmt,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_level, cli.log_format);
    if let Some(Command::Discover {
        url,
        header,
        prefix,
        query,
        basic_username,
        credential_file,
        timezone,
    }) = cli.command
    {
        let args = DiscoverArgs {
            url,
            header,
            prefix,
            query,
            basic_username,
            credential_file,
            timezone,
        };
        return match discover(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        };
    }
    if let Some(Command::Check { demo, output }) = &cli.command {
        let result = if *demo || cli.demo {
            check_demo(*output, cli.demo_interval)
        } else if let Some(config_file) = cli.config_file.as_deref() {
            check(config_file, *output, cli.storage_path.as_deref())
        } else {
            eprintln!(
                "error: check needs --config.file FILE (or --demo to try it on simulated data)"
            );
            return ExitCode::from(3);
        };
        return match result {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(3)
            }
        };
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `discover` subcommand's arguments, taken out of the command line.
struct DiscoverArgs {
    url: String,
    header: Option<String>,
    prefix: Option<String>,
    query: Option<String>,
    basic_username: Option<String>,
    credential_file: Option<PathBuf>,
    timezone: String,
}

/// `discover`: one GET with the credential, the pointers of its figures.
fn discover(args: DiscoverArgs) -> anyhow::Result<()> {
    use proxy_quota_exporter::http::CredentialPlacement;
    use proxy_quota_exporter::providers::custom::discover::{run, Request};
    use proxy_quota_exporter::secret::Secret;
    let url = url::Url::parse(&args.url).with_context(|| format!("--url {:?}", args.url))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        bail!("--url must be http or https");
    }
    let placement = match (args.header, args.query, args.basic_username) {
        (Some(name), None, None) => CredentialPlacement::Header {
            name: name.into(),
            prefix: args.prefix.unwrap_or_default().into(),
        },
        (None, Some(name), None) => CredentialPlacement::Query(name.into()),
        (None, None, Some(username)) => CredentialPlacement::Basic { username },
        _ => bail!("say where the credential goes: --header NAME [--prefix TEXT], --query NAME or --basic-username USER"),
    };
    let credential = match (args.credential_file, std::env::var("PROXY_QUOTA_EXPORTER_DISCOVER_CREDENTIAL")) {
        (Some(file), _) => {
            let text = proxy_quota_exporter::secret::read_secret_file(Path::new(""), &file.to_string_lossy())
                .map_err(|m| anyhow!("--credential-file: {m}"))?;
            text
        }
        (None, Ok(value)) if !value.trim().is_empty() => value.trim().to_owned(),
        _ => bail!("give the credential in --credential-file FILE or in PROXY_QUOTA_EXPORTER_DISCOVER_CREDENTIAL"),
    };
    let zone = args
        .timezone
        .parse()
        .map_err(|e| anyhow!("--timezone: {e}"))?;
    let request = Request {
        url,
        placement,
        credential: Secret::new(credential),
        timeout: Duration::from_secs(10),
        zone,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match runtime.block_on(run(request)) {
        Ok(text) => {
            print!("{text}");
            Ok(())
        }
        Err(text) => Err(anyhow!(text)),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let shard = Shard::new(cli.shard, cli.total_shards)?;
    let address = listen_address(cli.listen_address.as_deref().unwrap_or(if cli.demo {
        DEMO_LISTEN_ADDRESS
    } else {
        DEFAULT_LISTEN_ADDRESS
    }))?;
    let web = cli
        .web_config_file
        .as_deref()
        .map(WebConfig::load)
        .transpose()?;
    // Declared before the runtime, so dropped after it (when the exporter has
    // stopped): dropping it removes the demo's store.
    let demo_store = match cli.storage_path {
        None if cli.demo => Some(TempStore::create()?),
        _ => None,
    };
    let storage = storage_options(&cli, demo_store.as_ref());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if cli.demo {
        return runtime.block_on(async {
            let simulator = start_simulator().await?;
            let config = match cli.config_file.as_deref() {
                Some(file) => demo_config_with_alerting(&simulator, cli.demo_interval, file)?,
                None => demo_config(&simulator, cli.demo_interval)?,
            };
            tracing::warn!(simulator = %simulator.url(), "{DEMO_NOTICE}");
            if let Some(store) = &demo_store {
                tracing::info!(
                    path = %store.0.display(),
                    "the demo's store is a temporary directory, removed at exit \
                     (--storage.path DIR keeps it)"
                );
            }
            tokio::task::block_in_place(|| fill_demo_history(storage.as_ref(), &simulator));
            let options = Options {
                config_file: None,
                web,
                storage,
                shard,
                external_url: cli.external_url.clone(),
                dispatch: None,
            };
            serve(address, config, options).await
        });
    }

    let Some(path) = cli.config_file.as_deref() else {
        bail!("no configuration: pass --config.file FILE (or --demo to try the exporter on simulated data)");
    };
    let config = Config::load(path)?;
    if cli.config_check {
        println!("{}", valid_config_line(path, &config, shard));
        return Ok(());
    }
    let options = Options {
        config_file: Some(path.to_owned()),
        web,
        storage,
        shard,
        external_url: cli.external_url.clone(),
        dispatch: None,
    };
    runtime.block_on(serve(address, config, options))
}

/// What `--config.check` prints for a valid file: how many targets, and how
/// many of them the shard polls.
fn valid_config_line(path: &std::path::Path, config: &Config, shard: Shard) -> String {
    let total = config.targets.len();
    let mut line = format!(
        "{}: configuration is valid ({total} target{}",
        path.display(),
        if total == 1 { "" } else { "s" }
    );
    if shard != Shard::ALL {
        let mine = config
            .targets
            .iter()
            .filter(|t| shard.owns(&t.name))
            .count();
        line.push_str(&format!("; {mine} of them in {shard}"));
    }
    line.push(')');
    line
}

/// `--web.external-url`: an absolute http(s) URL without query or fragment.
fn parse_external_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must have no query or fragment".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// `--storage.path` when not given (as Prometheus and Alertmanager).
const DEFAULT_STORAGE_PATH: &str = "data/";

/// `--web.listen-address` when not given: every IPv4 interface, as exporters do.
const DEFAULT_LISTEN_ADDRESS: &str = ":9877";

/// `--web.listen-address` under `--demo` when not given: loopback only.
const DEMO_LISTEN_ADDRESS: &str = "127.0.0.1:9877";

/// The demo's store when `--storage.path` is not given: a fresh directory under
/// the system's temporary directory, removed when this is dropped.
struct TempStore(PathBuf);

impl TempStore {
    fn create() -> anyhow::Result<TempStore> {
        let base = std::env::temp_dir();
        for attempt in 0..100u32 {
            let path = base.join(format!(
                "proxy-quota-exporter-demo-{}-{attempt}",
                std::process::id()
            ));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempStore(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(anyhow!(
                        "cannot create the demo's store under {}: {e}; \
                         pass --storage.path DIR (or \"\" for none)",
                        base.display()
                    ))
                }
            }
        }
        bail!(
            "cannot create the demo's store under {}: every name is taken; \
             pass --storage.path DIR",
            base.display()
        )
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(path = %self.0.display(), "cannot remove the demo's store: {e}");
        }
    }
}

const DEMO_NOTICE: &str = "Demo mode: every figure is SIMULATED data from the built-in provider simulator, not a real account.";

/// Fills the demo's store, when it holds no history yet, with the simulated
/// week before now (`simulator::history::fill`), so that charts, days left and
/// forecasts work from the first page view. A store that cannot be opened or
/// written is logged and left to the exporter, which runs without it. Nothing
/// without a store (`--storage.path ""`).
fn fill_demo_history(options: Option<&StoreOptions>, simulator: &Simulator) {
    let Some(options) = options else {
        return;
    };
    let now = chrono::Utc::now().timestamp();
    let filled = Store::open(options).and_then(|storage| {
        proxy_quota_exporter::simulator::history::fill(&storage, simulator, now)
    });
    match filled {
        Ok(Some(filled)) => tracing::info!(
            rows = filled.rows,
            days = (filled.until - filled.from) / 86_400 + 1,
            "the demo's store was empty: filled with a simulated week before now (marked simulated)"
        ),
        Ok(None) => tracing::info!("the demo's store holds history already: not filled"),
        Err(e) => tracing::warn!(error = %e, "cannot fill the demo's store with simulated history"),
    }
}

/// Starts the built-in simulator of the provider APIs on loopback.
async fn start_simulator() -> anyhow::Result<Simulator> {
    Simulator::start(SimulatorConfig::default())
        .await
        .context("cannot start the provider simulator")
}

/// The configuration of `--demo` and `check --demo`: one target per simulated
/// provider, polled every `interval`, and the agent logging its alerts.
///
/// The text is generated, so an error here is a bug, not the user's file: it is
/// reported without a file name (the configuration has none) and without a
/// line of a text nobody can see.
fn demo_config(simulator: &Simulator, interval: Duration) -> anyhow::Result<Config> {
    let yaml = format!(
        "{}{}",
        simulator.demo_config_yaml(interval),
        proxy_quota_exporter::simulator::DEMO_ALERTING_YAML
    );
    generated_demo_config(&yaml)
}

/// The demo's configuration with the `alerting` section of `file` (receivers a
/// user wants to try on simulated data) in place of the demo's own. The file
/// holds only that section; its errors name it and its lines.
fn demo_config_with_alerting(
    simulator: &Simulator,
    interval: Duration,
    file: &Path,
) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("{}: cannot read configuration", file.display()))?;
    let keys: std::collections::BTreeMap<String, serde::de::IgnoredAny> =
        serde_saphyr::from_str(&text).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    if let Some(other) = keys.keys().find(|k| k.as_str() != "alerting") {
        bail!(
            "{}: under --demo the file may hold only an `alerting` section (the targets are \
             the simulator's); it has `{other}`",
            file.display()
        );
    }
    if !keys.contains_key("alerting") {
        bail!(
            "{}: under --demo the file must hold an `alerting` section",
            file.display()
        );
    }
    // The file first, so that its lines keep their numbers in errors.
    let yaml = format!(
        "{}\n{}",
        text.trim_end(),
        simulator.demo_config_yaml(interval)
    );
    let mut config = Config::parse(&yaml, file)?;
    config.notice = Some(DEMO_NOTICE.to_owned());
    Ok(config)
}

/// Reads the generated demo configuration `yaml`.
fn generated_demo_config(yaml: &str) -> anyhow::Result<Config> {
    let mut config = Config::parse(yaml, Path::new("")).map_err(|e| {
        let message = match e {
            ConfigError::Invalid { message, .. } | ConfigError::Read { message, .. } => message,
            several @ ConfigError::Several(_) => several.to_string(),
        };
        anyhow!("the built-in demo configuration was refused (a bug, please report it): {message}")
    })?;
    config.notice = Some(DEMO_NOTICE.to_owned());
    Ok(config)
}

async fn serve(address: SocketAddr, config: Config, options: Options) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
        anyhow!(
            "cannot listen on {address}: {e}; choose another address with \
             --web.listen-address HOST:PORT (or the environment variable \
             PROXY_QUOTA_EXPORTER_WEB_LISTEN_ADDRESS)"
        )
    })?;
    let local = listener.local_addr()?;
    tracing::info!(
        version = proxy_quota_exporter::metrics::VERSION,
        address = %local,
        targets = config.targets.len(),
        tls = options.web.as_ref().is_some_and(|w| w.tls.is_some()),
        "proxy-quota-exporter listening"
    );
    let scheme = if options.web.as_ref().is_some_and(|w| w.tls.is_some()) {
        "https"
    } else {
        "http"
    };
    let host = match local.ip() {
        ip if ip.is_unspecified() => "localhost".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    tracing::info!(
        "open {scheme}://{host}:{}/ for the front page (/metrics for Prometheus)",
        local.port()
    );
    proxy_quota_exporter::run_with(listener, config, options, shutdown_signal()).await;
    tracing::info!("shut down");
    Ok(())
}

/// Runs `check` and returns its exit code.
fn check(
    config_file: &Path,
    output: OutputFormat,
    storage_path: Option<&str>,
) -> anyhow::Result<u8> {
    let config = Config::load(config_file)?;
    let storage = check_history(storage_path);
    let history: &dyn History = match &storage {
        Some(storage) => storage,
        None => &NoHistory,
    };
    let report = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(proxy_quota_exporter::check::run(&config, history));
    print_report(&report, output)
}

/// Runs `check --demo`: polls the built-in simulator once, with the
/// configuration `--demo` uses, and returns the exit code. No store is read:
/// the simulator starts afresh each time, and a real account's history must
/// not mix with simulated figures.
fn check_demo(output: OutputFormat, interval: Duration) -> anyhow::Result<u8> {
    eprintln!("note: {DEMO_NOTICE}");
    let report = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let simulator = start_simulator().await?;
            let config = demo_config(&simulator, interval)?;
            anyhow::Ok(proxy_quota_exporter::check::run(&config, &NoHistory).await)
        })?;
    print_report(&report, output)
}

/// Prints `check`'s report and returns its exit code.
fn print_report(
    report: &proxy_quota_exporter::check::Report,
    output: OutputFormat,
) -> anyhow::Result<u8> {
    match output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(report)?),
        OutputFormat::Table => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            print!(
                "{}",
                proxy_quota_exporter::check::render_table(report, color)
            );
        }
    }
    Ok(report.exit_code)
}

/// The store `check` reads its trends from, read-only and beside a running
/// exporter: `--storage.path` (`data/` when not given; "" for none). Without
/// one, days left come from yesterday's usage.
fn check_history(storage_path: Option<&str>) -> Option<Store> {
    let path = match storage_path {
        Some("") => return None,
        Some(path) => path,
        None => DEFAULT_STORAGE_PATH,
    };
    match Store::open_read_only(Path::new(path)) {
        Ok(Some(storage)) => Some(storage),
        Ok(None) => {
            if storage_path.is_some() {
                eprintln!("note: no store in {path}: days left from yesterday's usage");
            }
            None
        }
        Err(e) => {
            eprintln!("warning: {e}: days left from yesterday's usage");
            None
        }
    }
}

/// The store's options: `--storage.path` (`data/` when not given, except under
/// `--demo`, whose simulated figures must not mix with a real account's history:
/// `demo_store`, a temporary directory; "" for no store) and `--storage.retention`.
fn storage_options(cli: &Cli, demo_store: Option<&TempStore>) -> Option<StoreOptions> {
    let path = match (cli.storage_path.as_deref(), demo_store) {
        (Some(""), _) => return None,
        (Some(path), _) => Path::new(path),
        (None, Some(store)) => store.0.as_path(),
        (None, None) => Path::new(DEFAULT_STORAGE_PATH),
    };
    Some(StoreOptions {
        path: path.into(),
        retention: cli.storage_retention,
    })
}

/// The shortest `--demo.interval`: the configuration's least `interval`.
const MIN_DEMO_INTERVAL: Duration = Duration::from_secs(1);

/// Parses `--demo.interval`: a duration of at least [`MIN_DEMO_INTERVAL`]. clap
/// names the flag with the error, so a bad value is refused as the flag's.
fn parse_demo_interval(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d < MIN_DEMO_INTERVAL => Err(format!(
            "must be at least {}",
            humantime::format_duration(MIN_DEMO_INTERVAL)
        )),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses `--storage.retention`: a duration above zero.
fn parse_retention(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err("must be more than 0s".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses an address like Prometheus exporters do: ":9877" listens everywhere.
fn listen_address(text: &str) -> anyhow::Result<SocketAddr> {
    let full = if text.starts_with(':') {
        format!("0.0.0.0{text}")
    } else {
        text.to_owned()
    };
    let invalid = || format!("invalid --web.listen-address {text:?} (expected host:port or :port)");
    full.to_socket_addrs()
        .with_context(invalid)?
        .next()
        .with_context(invalid)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown signal received");
}

fn init_logging(level: LogLevel, format: LogFormat) {
    let level = match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Trace => "trace",
    };
    // Dependencies log at their own level only when asked for trace; their debug
    // output (connection pools, TLS) drowns the exporter's own lines otherwise.
    let filter = if level == "trace" {
        EnvFilter::new("trace")
    } else {
        EnvFilter::new(format!("warn,proxy_quota_exporter={level}"))
    };
    // The event's module is left out: the `target` field names the configured target.
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_target(false)
                    .with_writer(std::io::stderr),
            )
            .init(),
        LogFormat::Logfmt => registry
            .with(
                tracing_logfmt::builder()
                    .with_target(false)
                    .layer()
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_simulator<T>(f: impl FnOnce(&Simulator) -> T) -> T {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let simulator = runtime.block_on(start_simulator()).unwrap();
        f(&simulator)
    }

    #[test]
    fn the_least_demo_interval_the_flag_takes_is_a_valid_demo_configuration() {
        assert!(parse_demo_interval("999ms").is_err());
        assert_eq!(parse_demo_interval("1s"), Ok(MIN_DEMO_INTERVAL));
        let config = with_simulator(|s| demo_config(s, MIN_DEMO_INTERVAL)).unwrap();
        assert_eq!(config.targets.len(), 4);
        assert_eq!(config.notice.as_deref(), Some(DEMO_NOTICE));
    }

    #[test]
    fn a_refused_demo_configuration_names_no_file() {
        let error = with_simulator(|s| demo_config(s, Duration::from_millis(10)))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("the built-in demo configuration was refused"),
            "{error}"
        );
        assert!(error.contains("interval"), "{error}");
        assert!(
            !error.contains("<demo>") && !error.contains(":1:"),
            "{error}"
        );
    }
}
