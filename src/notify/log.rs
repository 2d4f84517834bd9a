//! The `log` receiver: one tracing line per alert (`alertname`, `severity`,
//! `status`, labels, summary, description, runbook), for `--demo` and for people
//! who ship logs. The line's format (logfmt or JSON) is the process' log format.

use futures::future::BoxFuture;
use serde::Deserialize;

use super::{text, AlertEvent, NotifyError, Receiver};

/// `log: {}` as written: no keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {}

/// Writes alerts to the process' log.
pub struct Log {
    name: String,
}

impl Log {
    /// A receiver called `name`.
    pub fn new(name: &str) -> Self {
        Log {
            name: name.to_owned(),
        }
    }
}

impl Receiver for Log {
    fn kind(&self) -> &'static str {
        "log"
    }

    fn send<'a>(&'a self, alerts: &'a [AlertEvent]) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            for alert in alerts {
                let annotation = |key: &str| alert.annotations.get(key).map_or("", String::as_str);
                tracing::info!(
                    receiver = %self.name,
                    alertname = alert.name(),
                    severity = text::label(alert, "severity"),
                    status = alert.status.as_str(),
                    labels = text::other_labels(alert).as_str(),
                    summary = annotation("summary"),
                    description = annotation("description"),
                    runbook_url = annotation("runbook_url"),
                    "alert"
                );
            }
            Ok(())
        })
    }
}
