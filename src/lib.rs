//! proxy-quota-exporter: polls proxy providers' APIs in the background and serves
//! their traffic, package, sub-account and static IP figures as Prometheus gauges.
//!
//! Data flows one way: [`config`] → [`poller`] (one task per target) →
//! [`providers`] (plain readings) → [`metrics`] (encoded bytes) → [`server`].

pub mod config;
pub mod http;
pub mod metrics;
pub mod poller;
pub mod providers;
pub mod secret;
pub mod server;
pub mod simulator;
pub mod units;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub use config::Config;

/// Polls every target of `config` and serves HTTP on `listener` until `shutdown`
/// resolves. Tests call this on `127.0.0.1:0`.
pub async fn run(listener: TcpListener, config: Config, shutdown: impl Future<Output = ()>) {
    let shared = Arc::new(poller::Shared::new(config.targets.len()));
    let mut pollers = JoinSet::new();
    for target in config.targets {
        pollers.spawn(poller::run_target(
            target,
            config.max_staleness,
            Arc::clone(&shared),
        ));
    }
    let app = Arc::new(server::App::new(shared, config.notice));
    server::serve(listener, app, shutdown).await;
    pollers.shutdown().await;
}
