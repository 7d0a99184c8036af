//! `ccbt`: the command-line BitTorrent client. This file only wires the pieces together:
//! arguments, logging, the command, and the exit code.

mod alerts;
mod alerts_args;
mod args;
mod commands;
mod daemon_args;
mod engine_args;
mod fd_limit;
mod file_indices;
mod inspect_args;
mod logging;
mod malloc_policy;
mod ops_args;
mod options;
mod peer_addr;
mod peers_args;
mod progress;
mod reload;
mod seeds_args;
mod settings;
mod stream_url_args;
mod tool_args;
mod units;
mod xet_args;

use std::process::ExitCode;

use clap::Parser as _;

use crate::args::{Command, ConfigCommand};

fn main() -> ExitCode {
    malloc_policy::apply();
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Usage errors exit with 2, `--help`/`--version` with 0 (clap's convention).
    let (cli, seeds) = if seeds_args::is_seeds_form(&argv) {
        let parsed = seeds_args::parse(argv);
        (parsed.cli, Some((parsed.form, parsed.daemon_argv)))
    } else {
        (args::Cli::parse_from(args::rewrite_short_form(argv)), None)
    };
    if let Command::Config(command @ (ConfigCommand::Set(_) | ConfigCommand::Validate(_))) = &cli.command {
        // They edit or check a file that may be invalid, so they load nothing first.
        // Plain stderr: nothing to warn about.
        logging::init(ccbt_config::LogLevel::Warn, None, &logging::Outputs::stderr_text());
        return finish(commands::config::run_on_file(command, &cli.global));
    }
    // Nothing starts on a bad configuration: every problem is printed, then ccbt stops.
    let settings = match settings::load_for(&cli) {
        Ok(settings) => settings,
        Err(problems) => {
            for problem in &problems {
                eprintln!("error: {problem}");
            }
            eprintln!("error: invalid configuration; nothing was started");
            return ExitCode::FAILURE;
        }
    };
    let level = settings.effective.config().observability.log_level;
    let outputs = logging::Outputs::from_config(&settings.effective, is_detached_daemon(&cli.command));
    for warning in logging::init(level, settings.log_filter.as_deref(), &outputs) {
        eprintln!("warning: {warning}");
    }
    if let Err(e) = fd_limit::raise() {
        tracing::warn!("cannot raise the limit of open files: {e}");
    }
    if let Some((form, daemon_argv)) = seeds {
        return finish(commands::run_seeds_form(&form, &cli, daemon_argv, &settings.effective));
    }
    reload::offer(reload::Reloader::new(&settings));
    reload::offer_settings(&settings);
    finish(commands::run(cli, &settings.effective))
}

/// The daemon `daemon start` runs in the background (its output is `<state_dir>/daemon.log`).
fn is_detached_daemon(command: &Command) -> bool {
    matches!(command, Command::Daemon(daemon_args::DaemonCommand::Start(start)) if start.detached)
}

fn finish(result: anyhow::Result<commands::Exit>) -> ExitCode {
    match result {
        Ok(exit) => exit.code(),
        Err(error) => {
            eprintln!("error: {}", render_error(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes as `outer: cause: root cause`. A cause whose text the previous
/// message already contains (errors that print their source inline) is not repeated.
fn render_error(error: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut previous = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !previous.is_empty() && previous.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
        previous = text;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::render_error;
    use anyhow::Context as _;

    #[test]
    fn error_chain_without_repeats() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = Err::<(), _>(io).context("cannot read x.torrent").unwrap_err();
        assert_eq!(render_error(&err), "cannot read x.torrent: no such file");
        // An error that prints its source inline, like the library error enums do.
        #[derive(Debug)]
        struct Inline(std::io::Error);
        impl std::fmt::Display for Inline {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "open failed: {}", self.0)
            }
        }
        impl std::error::Error for Inline {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = Err::<(), _>(Inline(io)).context("cannot check").unwrap_err();
        assert_eq!(render_error(&err), "cannot check: open failed: no such file");
    }
}
