//! The process metrics appended to every `/metrics` response, cached plain and
//! gzip.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prometheus::Encoder as _;

use super::App;
use crate::exposition::gzip;

/// The process metrics, plain and gzip, refreshed at most once a second.
pub(super) struct ProcessMetrics {
    at: Instant,
    pub(super) plain: Bytes,
    pub(super) gzip: Bytes,
}

impl App {
    pub(super) fn process_metrics(&self) -> Arc<ProcessMetrics> {
        let current = self.process_cache.load_full();
        if current.at.elapsed() < PROCESS_METRICS_MAX_AGE {
            return current;
        }
        // One scrape refreshes; the others keep serving the previous copy.
        let Ok(_refreshing) = self.process_refresh.try_lock() else {
            return current;
        };
        let fresh = Arc::new(encode_process(&self.process));
        self.process_cache.store(Arc::clone(&fresh));
        fresh
    }
}

const PROCESS_METRICS_MAX_AGE: Duration = Duration::from_secs(1);

pub(super) fn encode_process(registry: &prometheus::Registry) -> ProcessMetrics {
    let mut plain = Vec::new();
    if let Err(e) = prometheus::TextEncoder::new().encode(&registry.gather(), &mut plain) {
        tracing::warn!(error = %e, "encoding process metrics failed");
        plain.clear();
    }
    ProcessMetrics {
        at: Instant::now(),
        gzip: Bytes::from(gzip(&plain)),
        plain: Bytes::from(plain),
    }
}
