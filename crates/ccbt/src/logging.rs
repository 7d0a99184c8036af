//! Logging with tracing-subscriber. The level is `log_level` of the configuration (default
//! `warn`, so the progress bar stays clean; `--log-level` and `CCBT_LOG_LEVEL` are its flag and
//! variable). `CCBT_LOG_LEVEL` may instead hold a tracing filter such as `warn,ccbt_engine=debug`,
//! which `settings` hands over as `filter`.
//!
//! Records go to stderr and, with `log_file`, to that file (rotated by `rotate.rs`) in
//! `log_format` (text or JSON lines). With a file, stderr keeps warnings and errors only: the
//! user at the terminal still sees what went wrong, without the detail burying the progress.
//! The detached daemon has no terminal: its stderr is `<state_dir>/daemon.log`, rotated with the
//! same limits.

mod rotate;

use std::io::{self, IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ccbt_config::{Effective, LogFormat, LogLevel};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layered, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{fmt, reload, EnvFilter, Layer, Registry};

use crate::commands::daemon::lock::LOG_FILE as DAEMON_LOG;
use crate::progress;
use crate::settings::LOG_ENV;
use rotate::{Limits, RotatingFile, RotatingLog};

/// Where the records go and in which format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outputs {
    pub format: LogFormat,
    /// `log_file`, a relative path taken under `state_dir`.
    pub file: Option<PathBuf>,
    /// The rotation limits of every file below.
    pub limits: Limits,
    /// For the detached daemon: the file its stderr is (`<state_dir>/daemon.log`), written
    /// through the rotation too, with stdout and stderr following each new file.
    pub stderr_file: Option<PathBuf>,
}

impl Outputs {
    /// Plain text on stderr (commands that run before the configuration is loaded).
    pub fn stderr_text() -> Outputs {
        let limits = Limits { max_bytes: u64::MAX, max_files: 1 };
        Outputs { format: LogFormat::Text, file: None, limits, stderr_file: None }
    }

    /// The outputs the configuration asks for; `detached` for the daemon `daemon start` runs in
    /// the background.
    pub fn from_config(effective: &Effective, detached: bool) -> Outputs {
        let config = effective.config();
        let (obs, state_dir) = (&config.observability, &config.disk.state_dir);
        let limits =
            Limits { max_bytes: u64::from(obs.log_max_size_mib) * 1024 * 1024, max_files: obs.log_max_files };
        // `join` keeps an absolute path as it is.
        let mut file = obs.log_file.as_deref().map(|file| state_dir.join(file));
        let stderr_file = detached.then(|| state_dir.join(DAEMON_LOG));
        if file.is_some() && file == stderr_file {
            // `log_file = "daemon.log"` for the daemon: one file with everything, written once.
            file = None;
        }
        Outputs { format: obs.log_format, file, limits, stderr_file }
    }
}

/// The subscriber below the output layers: the registry and the reloadable level filter.
type Base = Layered<reload::Layer<EnvFilter, Registry>, Registry>;
type BoxedLayer = Box<dyn Layer<Base> + Send + Sync>;

/// Installs the global subscriber. Returns warnings to print: the filter from `CCBT_LOG_LEVEL`
/// is invalid (the level is used instead: a typo in an environment variable should not stop a
/// download), or a log file cannot be opened (stderr gets every record instead: a log folder
/// that is not writable should not stop `config show`, nor the command that would fix it).
pub fn init(level: LogLevel, filter: Option<&str>, outputs: &Outputs) -> Vec<String> {
    let (filter, warning) = match filter {
        Some(text) => from_filter(level, text),
        None => (EnvFilter::new(directive(level)), None),
    };
    let mut warnings: Vec<String> = warning.into_iter().collect();
    let layers = output_layers(level, outputs, &mut warnings);
    let (filter, handle) = reload::Layer::new(filter);
    tracing_subscriber::registry().with(filter).with(layers).init();
    let _ = LEVEL_HANDLE.set(handle);
    warnings
}

/// One layer for stderr (or the daemon's `daemon.log`), one for `log_file` when set.
fn output_layers(level: LogLevel, outputs: &Outputs, warnings: &mut Vec<String>) -> Vec<BoxedLayer> {
    let verbose = matches!(level, LogLevel::Debug | LogLevel::Trace);
    let daemon_log = outputs.stderr_file.as_ref().and_then(|path| open(path, outputs.limits, true, warnings));
    let stderr = match daemon_log {
        Some(log) => layer(outputs.format, log, false, verbose),
        // No colour codes in pipes.
        None => layer(outputs.format, || ProgressAwareStderr, io::stderr().is_terminal(), verbose),
    };
    let file = outputs.file.as_ref().and_then(|path| open(path, outputs.limits, false, warnings));
    match file {
        Some(file) => {
            vec![stderr.with_filter(LevelFilter::WARN).boxed(), layer(outputs.format, file, false, true)]
        }
        None => vec![stderr],
    }
}

/// The rotating log at `path`, or `None` and a warning.
fn open(
    path: &Path,
    limits: Limits,
    redirect_stdio: bool,
    warnings: &mut Vec<String>,
) -> Option<RotatingLog> {
    match RotatingFile::open(path, limits, redirect_stdio) {
        Ok(file) => Some(RotatingLog::new(file)),
        Err(e) => {
            warnings
                .push(format!("cannot open the log file {}: {e}; logging to stderr instead", path.display()));
            None
        }
    }
}

/// A formatting layer writing to `writer`: text (with the target when `target`) or JSON lines.
fn layer<W>(format: LogFormat, writer: W, ansi: bool, target: bool) -> BoxedLayer
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Text => fmt::layer().with_writer(writer).with_target(target).with_ansi(ansi).boxed(),
        LogFormat::Json => fmt::layer().json().with_writer(writer).with_ansi(false).boxed(),
    }
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

    fn outputs(file_text: &str, detached: bool) -> Outputs {
        let file = ccbt_config::ConfigFile { path: "/etc/ccbt.toml".into(), text: file_text.to_owned() };
        let sources = ccbt_config::Sources { file: Some(file), ..Default::default() };
        Outputs::from_config(&ccbt_config::load(&sources).unwrap(), detached)
    }

    #[test]
    fn log_file_paths_resolve_under_the_state_folder() {
        let text = "[disk]\nstate_dir = \"/s\"\n[observability]\nlog_file = \"ccbt.log\"\n";
        let relative = outputs(text, false);
        assert_eq!(relative.file, Some(PathBuf::from("/s/ccbt.log")));
        assert_eq!(relative.limits, Limits { max_bytes: 10 * 1024 * 1024, max_files: 5 });
        assert_eq!(relative.stderr_file, None);
        let text = "[disk]\nstate_dir = \"/s\"\n[observability]\nlog_file = \"/var/log/ccbt/x.log\"\n\
                    log_format = \"json\"\nlog_max_size_mib = 2\nlog_max_files = 1\n";
        let absolute = outputs(text, true);
        assert_eq!(absolute.file, Some(PathBuf::from("/var/log/ccbt/x.log")));
        assert_eq!(absolute.format, LogFormat::Json);
        assert_eq!(absolute.limits, Limits { max_bytes: 2 * 1024 * 1024, max_files: 1 });
        assert_eq!(absolute.stderr_file, Some(PathBuf::from("/s/daemon.log")));
        assert_eq!(outputs("[disk]\nstate_dir = \"/s\"\n", false).file, None);
        let text = "[disk]\nstate_dir = \"/s\"\n[observability]\nlog_file = \"daemon.log\"\n";
        let daemon = outputs(text, true);
        assert_eq!((daemon.file, daemon.stderr_file), (None, Some(PathBuf::from("/s/daemon.log"))));
        assert_eq!(outputs(text, false).file, Some(PathBuf::from("/s/daemon.log")));
    }

    #[test]
    fn level_directives() {
        assert_eq!(directive(LogLevel::Error), "error");
        assert_eq!(directive(LogLevel::Debug), "debug");
    }
}
