//! Log lines written by the code under test, captured for assertions: for one
//! test (on its thread; tests run on a current-thread runtime, so the tasks
//! they spawn log there too) or for the whole test binary.

use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use tracing::Level;

/// What was logged; cloned into the subscriber as its writer.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Lines at `debug` and above, written while the guard lives.
    pub fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        Logs::capture_at(Level::DEBUG)
    }

    /// Lines at `level` and above, written while the guard lives.
    pub fn capture_at(level: Level) -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        (
            logs.clone(),
            tracing::subscriber::set_default(logs.subscriber(level)),
        )
    }

    /// The whole binary's log, at `trace`, from the first call on.
    pub fn global() -> &'static Logs {
        static LOGS: OnceLock<Logs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Logs::default();
            tracing::subscriber::set_global_default(logs.subscriber(Level::TRACE)).unwrap();
            logs
        })
    }

    fn subscriber(&self, level: Level) -> impl tracing::Subscriber + Send + Sync {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish()
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
