//! Log setup and the log-once helper for causes that can repeat per request.

use std::collections::HashSet;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// Installs the stderr log subscriber at `level` (`debug`, `info`, `warn`, `error`).
/// `RUST_LOG`, when set, overrides it. Calling it twice is harmless.
pub fn init(level: &str) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(level.to_ascii_lowercase()));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: journald, files and log shippers get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Remembers which causes were logged so each is logged once; later ones are only counted.
#[derive(Default)]
pub struct LogOnce {
    seen: Mutex<HashSet<String>>,
}

impl LogOnce {
    /// True the first time a cause is seen.
    pub fn first(&self, cause: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 1024 {
            // Bound memory if causes are unbounded (e.g. carry request IDs).
            seen.clear();
        }
        seen.insert(cause.to_string())
    }
}

/// An error with its sources (`client error (Connect): invalid peer certificate: …`), since
/// many errors (hyper's among them) hide the cause behind a generic message.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let part = s.to_string();
        if !msg.contains(&part) {
            msg = format!("{msg}: {part}");
        }
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_each_cause_once() {
        let once = LogOnce::default();
        assert!(once.first("connection refused"));
        assert!(!once.first("connection refused"));
        assert!(once.first("timeout"));
    }
}
