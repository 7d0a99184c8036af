//! Logging to stderr with tracing-subscriber. The level is `log_level` of the configuration
//! (default `warn`, so the progress bar stays clean; `--log-level` and `CCBT_LOG_LEVEL` are its
//! flag and variable). `CCBT_LOG_LEVEL` may instead hold a tracing filter such as
//! `warn,ccbt_engine=debug`, which `settings` hands over as `filter`.

use std::io::{self, IsTerminal as _, Write};
use std::sync::OnceLock;

use ccbt_config::LogLevel;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

use crate::progress;
use crate::settings::LOG_ENV;

/// Installs the global subscriber. Returns a warning to print when the filter from
/// `CCBT_LOG_LEVEL` is invalid (the level is used instead: a typo in an environment variable
/// should not stop a download).
pub fn init(level: LogLevel, filter: Option<&str>) -> Option<String> {
    let (filter, warning) = match filter {
        Some(text) => from_filter(level, text),
        None => (EnvFilter::new(directive(level)), None),
    };
    let verbose = matches!(level, LogLevel::Debug | LogLevel::Trace);
    let (filter, handle) = reload::Layer::new(filter);
    let output = fmt::layer()
        .with_writer(|| ProgressAwareStderr)
        .with_target(verbose)
        // No colour codes in files and pipes.
        .with_ansi(io::stderr().is_terminal());
    tracing_subscriber::registry().with(filter).with(output).init();
    let _ = LEVEL_HANDLE.set(handle);
    warning
}

/// The handle that changes the filter of the installed subscriber (hot reload of `log_level`).
static LEVEL_HANDLE: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Changes the log level of the running process (hot reload of `log_level`).
pub fn set_level(level: LogLevel) -> Result<(), String> {
    let handle = LEVEL_HANDLE.get().ok_or("logging is not initialised")?;
    handle.reload(EnvFilter::new(directive(level))).map_err(|e| e.to_string())
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

/// The tracing filter `text`, or the level's filter and a warning when it is unusable.
fn from_filter(level: LogLevel, text: &str) -> (EnvFilter, Option<String>) {
    match EnvFilter::try_new(text) {
        Ok(filter) => (filter, None),
        Err(e) => (EnvFilter::new(directive(level)), Some(format!("ignoring {LOG_ENV}={text:?}: {e}"))),
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
    fn filters() {
        let (filter, warning) = from_filter(LogLevel::Warn, "warn,ccbt_engine=trace");
        assert!(warning.is_none());
        assert_eq!(filter.to_string(), "ccbt_engine=trace,warn");
        let (filter, warning) = from_filter(LogLevel::Info, "ccbt=[loud");
        assert_eq!(filter.to_string(), EnvFilter::new(directive(LogLevel::Info)).to_string());
        assert!(warning.unwrap().contains(LOG_ENV));
    }

    #[test]
    fn level_directives() {
        assert_eq!(directive(LogLevel::Error), "error");
        assert_eq!(directive(LogLevel::Debug), "debug");
    }
}
