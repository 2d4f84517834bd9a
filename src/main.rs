//! Command line entry point: flags, logging, signals.

use std::io::IsTerminal as _;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand, ValueEnum};
use proxy_quota_exporter::shard::Shard;
use proxy_quota_exporter::simulator::{Simulator, SimulatorConfig};
use proxy_quota_exporter::storage::StorageOptions;
use proxy_quota_exporter::web::WebConfig;
use proxy_quota_exporter::{Config, Options};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

/// Prometheus exporter for proxy traffic quotas, packages, sub-accounts and static IPs.
#[derive(Parser, Debug)]
#[command(version, about)]
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

    /// Run on simulated data: start the built-in simulator of all three provider
    /// APIs on loopback and poll it. Needs no configuration and no account.
    #[arg(long = "demo", conflicts_with_all = ["config_file", "config_check"])]
    demo: bool,

    /// Poll period in demo mode.
    #[arg(
        long = "demo.interval",
        env = "PROXY_QUOTA_EXPORTER_DEMO_INTERVAL",
        default_value = "5s",
        value_parser = humantime::parse_duration,
        value_name = "DURATION"
    )]
    demo_interval: Duration,

    /// Address to listen on for HTTP (":9877" means every interface).
    #[arg(
        long = "web.listen-address",
        env = "PROXY_QUOTA_EXPORTER_WEB_LISTEN_ADDRESS",
        default_value = ":9877",
        value_name = "ADDRESS"
    )]
    listen_address: String,

    /// Web configuration file (Prometheus exporter-toolkit format): TLS and
    /// bcrypt basic authentication for every HTTP path.
    #[arg(
        long = "web.config.file",
        env = "PROXY_QUOTA_EXPORTER_WEB_CONFIG_FILE",
        value_name = "FILE"
    )]
    web_config_file: Option<PathBuf>,

    /// Directory of the embedded store (pool history, alert state); "" runs
    /// without a store. [default: data/, or no store under --demo]
    #[arg(
        long = "storage.path",
        env = "PROXY_QUOTA_EXPORTER_STORAGE_PATH",
        value_name = "DIR"
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
    /// Poll every target once and print what is about to run out. Exit code:
    /// 0 ok, 1 warning, 2 critical, 3 unknown (a target could not be read).
    Check {
        /// `table` for people, `json` for scripts.
        #[arg(
            long = "output",
            env = "PROXY_QUOTA_EXPORTER_CHECK_OUTPUT",
            default_value = "table"
        )]
        output: OutputFormat,
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
    if let Some(Command::Check { output }) = &cli.command {
        let Some(config_file) = cli.config_file.as_deref() else {
            eprintln!("error: check needs --config.file FILE");
            return ExitCode::from(3);
        };
        return match check(config_file, *output) {
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

fn run(cli: Cli) -> anyhow::Result<()> {
    let shard = Shard::new(cli.shard, cli.total_shards)?;
    let address = listen_address(&cli.listen_address)?;
    let web = cli
        .web_config_file
        .as_deref()
        .map(WebConfig::load)
        .transpose()?;
    let storage = storage_options(&cli);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if cli.demo {
        return runtime.block_on(async {
            let simulator = Simulator::start(SimulatorConfig::default())
                .await
                .context("cannot start the provider simulator")?;
            let mut config = Config::parse(
                &format!(
                    "{}{}",
                    simulator.demo_config_yaml(cli.demo_interval),
                    proxy_quota_exporter::simulator::DEMO_ALERTING_YAML
                ),
                Path::new("<demo>"),
            )?;
            config.notice = Some(DEMO_NOTICE.to_owned());
            tracing::warn!(simulator = %simulator.url(), "{DEMO_NOTICE}");
            let options = Options {
                config_file: None,
                web,
                storage,
                shard,
            };
            serve(address, config, options).await
        });
    }

    let Some(path) = cli.config_file.as_deref() else {
        bail!("no configuration: pass --config.file FILE (or --demo to try the exporter on simulated data)");
    };
    let config = Config::load(path)?;
    if cli.config_check {
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
        println!("{line})");
        return Ok(());
    }
    let options = Options {
        config_file: Some(path.to_owned()),
        web,
        storage,
        shard,
    };
    runtime.block_on(serve(address, config, options))
}

/// `--storage.path` when not given (as Prometheus and Alertmanager).
const DEFAULT_STORAGE_PATH: &str = "data/";

const DEMO_NOTICE: &str = "Demo mode: every figure is SIMULATED data from the built-in provider simulator, not a real account.";

async fn serve(address: SocketAddr, config: Config, options: Options) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    tracing::info!(
        version = proxy_quota_exporter::metrics::VERSION,
        address = %listener.local_addr()?,
        targets = config.targets.len(),
        tls = options.web.as_ref().is_some_and(|w| w.tls.is_some()),
        "proxy-quota-exporter listening"
    );
    proxy_quota_exporter::run_with(listener, config, options, shutdown_signal()).await;
    tracing::info!("shut down");
    Ok(())
}

/// Runs `check` and returns its exit code.
fn check(config_file: &Path, output: OutputFormat) -> anyhow::Result<u8> {
    let config = Config::load(config_file)?;
    let report = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(proxy_quota_exporter::check::run(&config));
    match output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Table => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            print!(
                "{}",
                proxy_quota_exporter::check::render_table(&report, color)
            );
        }
    }
    Ok(report.exit_code)
}

/// The store's options: `--storage.path` (`data/` when not given, except under
/// `--demo`, whose simulated figures must not mix with a real account's history;
/// "" for no store) and `--storage.retention`.
fn storage_options(cli: &Cli) -> Option<StorageOptions> {
    let path = match cli.storage_path.as_deref() {
        Some("") => return None,
        Some(path) => path,
        None if cli.demo => return None,
        None => DEFAULT_STORAGE_PATH,
    };
    Some(StorageOptions {
        path: path.into(),
        retention: cli.storage_retention,
    })
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
