//! Logging to stderr with tracing-subscriber. The default level is `warn` so the progress bar
//! stays clean; `--log-level` wins over the `CCBT_LOG_LEVEL` environment variable.

use std::io::{self, IsTerminal as _, Write};

use tracing_subscriber::EnvFilter;

use crate::args::LogLevel;
use crate::progress;

/// Environment variable read when `--log-level` is not given. Besides a level it accepts any
/// tracing filter, e.g. `warn,ccbt_engine=debug`.
pub const LOG_ENV: &str = "CCBT_LOG_LEVEL";

/// Installs the global subscriber. Returns a warning to print when `CCBT_LOG_LEVEL` is invalid
/// (the default is used instead: a typo in an environment variable should not stop a download).
pub fn init(level: Option<LogLevel>) -> Option<String> {
    let (filter, warning) = match level {
        Some(level) => (EnvFilter::new(directive(level)), None),
        None => from_env(std::env::var(LOG_ENV).ok().as_deref()),
    };
    let verbose = matches!(level, Some(LogLevel::Debug | LogLevel::Trace));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| ProgressAwareStderr)
        .with_target(verbose)
        // No colour codes in files and pipes.
        .with_ansi(io::stderr().is_terminal())
        .init();
    warning
}

/// The filter directive of a level: our crates at that level, dependencies no louder than `warn`
/// below `debug`, because their info output is noise to a user.
fn directive(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "warn,ccbt=info,ccbt_engine=info,ccbt_storage=info,ccbt_proto=info",
        LogLevel::Debug => "debug",
        LogLevel::Trace => "trace",
    }
}

/// The filter from the environment value, or `warn` and a warning when it is unusable.
fn from_env(value: Option<&str>) -> (EnvFilter, Option<String>) {
    let default = || EnvFilter::new(directive(LogLevel::Warn));
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return (default(), None);
    };
    // Accept the seeds' upper-case spelling (`CCBT_LOG_LEVEL=DEBUG`).
    let lower = value.to_ascii_lowercase();
    if let Some(level) = LogLevel::from_name(&lower) {
        return (EnvFilter::new(directive(level)), None);
    }
    match EnvFilter::try_new(value) {
        Ok(filter) => (filter, None),
        Err(e) => (default(), Some(format!("ignoring {LOG_ENV}={value:?}: {e}"))),
    }
}

impl LogLevel {
    fn from_name(name: &str) -> Option<LogLevel> {
        Some(match name {
            "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return None,
        })
    }
}

/// Writes each log record to stderr with the progress bar hidden for the moment, so log lines
/// scroll above the bar instead of tearing it.
struct ProgressAwareStderr;

impl Write for ProgressAwareStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        progress::suspend(|| io::stderr().lock().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        // The formatter hands over one whole record; keep it in one piece under one suspend.
        progress::suspend(|| io::stderr().lock().write_all(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values() {
        assert!(from_env(None).1.is_none());
        assert!(from_env(Some("  ")).1.is_none());
        assert!(from_env(Some("DEBUG")).1.is_none());
        assert_eq!(from_env(Some("DEBUG")).0.to_string(), "debug");
        assert!(from_env(Some("warn,ccbt_engine=trace")).1.is_none());
        let (filter, warning) = from_env(Some("ccbt=[loud"));
        assert_eq!(filter.to_string(), "warn");
        assert!(warning.unwrap().contains(LOG_ENV));
    }

    #[test]
    fn level_names() {
        assert_eq!(LogLevel::from_name("warning"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::from_name("loud"), None);
        assert_eq!(directive(LogLevel::Error), "error");
    }
}
