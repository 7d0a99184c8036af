//! The seeds' daemon form, `ccbt --daemon --add a.torrent --add "magnet:?..." [-o DIR]`: top-level
//! flags that no subcommand takes. A command line whose flags before any subcommand name
//! include `--daemon` or `--add` is parsed here; every other one by [`crate::args::Cli`], so
//! the subcommands are untouched and still required there.

use std::ffi::OsString;

use clap::{Args, Parser};

use crate::args::{Cli, Command, GlobalArgs};
use crate::daemon_args::{DaemonCommand, DaemonStartArgs};

/// `ccbt --daemon [--add SOURCE]... [daemon start flags]`.
#[derive(Debug, Parser)]
#[command(
    name = "ccbt",
    version,
    about = "Start the ccbt daemon (or use the one running for the state folder) and add torrents to it",
    after_help = "Same as `ccbt daemon start [flags]` followed by `ccbt add SOURCE [-o DIR]` for each --add."
)]
pub struct SeedsCli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub form: SeedsForm,
    #[command(flatten)]
    pub start: DaemonStartArgs,
}

/// The flags that make the form.
#[derive(Debug, Args)]
pub struct SeedsForm {
    /// Start the daemon in the background, or use the one already running for the state folder.
    #[arg(long, required = true)]
    pub daemon: bool,
    /// A .torrent file or "magnet:?xt=urn:btih:..." link to add to the daemon (repeat for more);
    /// into -o DIR when given.
    #[arg(long = "add", value_name = "FILE.torrent|MAGNET", requires = "daemon")]
    pub adds: Vec<String>,
    /// Add them paused (.torrent files only).
    #[arg(long, requires = "daemon")]
    pub paused: bool,
}

/// What `main` runs for this form: the `daemon start` command line (for the settings and the
/// daemon), the form, and the flags to hand the daemon process.
pub struct Parsed {
    pub cli: Cli,
    pub form: SeedsForm,
    pub daemon_argv: Vec<OsString>,
}

/// Whether `argv` uses the form: `--daemon` or `--add` among the flags before the first word
/// that is not a flag (a subcommand or the short form's torrent).
pub fn is_seeds_form(argv: &[OsString]) -> bool {
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else { return false };
        if text == "--daemon" || text == "--add" || text.starts_with("--add=") {
            return true;
        }
        if text == "--" || !text.starts_with('-') || text == "-" {
            return false;
        }
        if takes_value(text) {
            args.next();
        }
    }
    false
}

/// Whether `flag` (`--name` or `-n`, without `=value`) takes the next argument as its value,
/// per the form's definition (which includes the global flags and those of `daemon start`).
fn takes_value(flag: &str) -> bool {
    use clap::CommandFactory as _;
    SeedsCli::command().get_arguments().any(|a| {
        a.get_action().takes_values()
            && (a.get_long().is_some_and(|l| flag.strip_prefix("--") == Some(l))
                || a.get_short()
                    .is_some_and(|c| flag.len() == 2 && flag.strip_prefix('-') == Some(&c.to_string())))
    })
}

/// Parses the form (exiting with clap's usage error, code 2, when it is wrong).
pub fn parse(argv: Vec<OsString>) -> Parsed {
    let seeds = SeedsCli::parse_from(argv.clone());
    if seeds.start.foreground {
        clap::Error::raw(
            clap::error::ErrorKind::ArgumentConflict,
            "--foreground does not go with --daemon: use `ccbt daemon start --foreground`\n",
        )
        .exit();
    }
    let daemon_argv = daemon_argv(&argv);
    let cli = Cli { global: seeds.global, command: Command::Daemon(DaemonCommand::Start(seeds.start)) };
    Parsed { cli, form: seeds.form, daemon_argv }
}

/// `daemon start --foreground` and every flag of `argv` but the form's own.
fn daemon_argv(argv: &[OsString]) -> Vec<OsString> {
    let mut out: Vec<OsString> = ["daemon", "start", "--foreground"].map(OsString::from).into();
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--daemon" | "--paused") => {}
            Some("--add") => {
                args.next();
            }
            Some(text) if text.starts_with("--add=") => {}
            _ => out.push(arg.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn definition_is_consistent() {
        SeedsCli::command().debug_assert();
    }

    #[test]
    fn the_form_is_recognized_only_before_a_subcommand() {
        assert!(is_seeds_form(&argv(&["ccbt", "--daemon", "--add", "a.torrent"])));
        assert!(is_seeds_form(&argv(&["ccbt", "--add=a.torrent"])));
        assert!(is_seeds_form(&argv(&["ccbt", "--log-level", "info", "--daemon"])));
        assert!(is_seeds_form(&argv(&["ccbt", "-o", "out", "--add", "a.torrent"])));
        assert!(!is_seeds_form(&argv(&["ccbt", "--log-level", "info", "download", "--add"])));
        assert!(!is_seeds_form(&argv(&["ccbt", "add", "a.torrent"])));
        assert!(!is_seeds_form(&argv(&["ccbt", "a.torrent", "--daemon"])));
        assert!(!is_seeds_form(&argv(&["ccbt", "daemon", "start"])));
        assert!(!is_seeds_form(&argv(&["ccbt"])));
    }

    #[test]
    fn parses_adds_folder_and_daemon_flags() {
        let args = ["ccbt", "--daemon", "--add", "a.torrent", "--add=magnet:?xt=urn:btih:x", "-o", "out"];
        let seeds = SeedsCli::try_parse_from(args).unwrap();
        assert!(seeds.form.daemon);
        assert_eq!(seeds.form.adds, ["a.torrent", "magnet:?xt=urn:btih:x"]);
        assert_eq!(seeds.start.dir.path.as_deref(), Some(std::path::Path::new("out")));
        let seeds =
            SeedsCli::try_parse_from(["ccbt", "--daemon", "--api-port", "0", "--state-dir", "s"]).unwrap();
        assert_eq!(seeds.start.api_port, Some(0));
        assert!(seeds.form.adds.is_empty());
        assert_eq!(
            daemon_argv(&argv(&["ccbt", "--daemon", "--add", "a", "--add=b", "--paused", "-o", "out"])),
            argv(&["daemon", "start", "--foreground", "-o", "out"])
        );
    }

    #[test]
    fn add_without_daemon_is_a_usage_error() {
        let err = SeedsCli::try_parse_from(["ccbt", "--add", "a.torrent"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--daemon"), "{err}");
        let err = SeedsCli::try_parse_from(["ccbt", "--daemon", "--add"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
