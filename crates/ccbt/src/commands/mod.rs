//! One module per subcommand. `download` and `seed` run a session on a tokio runtime; `info`,
//! `create` and `verify` are synchronous (hashing runs on plain threads, never on the runtime).
//! `daemon` runs the session in the background; `torrents` (`add`, `list`, ...) drive it
//! through its API (`remote`).

mod alerts;
mod checkpoint_verify;
mod checkpoints;
pub mod config;
mod create;
mod create_v2;
mod create_xet;
pub mod daemon;
mod daemon_seeds;
mod dashboard;
mod dht;
mod download;
mod hint;
mod info;
mod info_xet;
mod inspect;
mod live;
mod metrics;
mod ops;
mod peer_trace;
mod remote;
mod resume;
mod scrape;
mod seed;
mod session_lock;
mod status_text;
mod stream;
mod stream_url;
mod torrents;
mod verify;
mod xet_follow;
mod xet_follows;
mod xet_hash;
mod xet_publish;
mod xet_store;

use std::process::ExitCode;

use ccbt_config::Effective;

use crate::args::{Cli, Command};
use crate::progress::ProgressConfig;
use crate::xet_args::XetCommand;

/// How a command ended, when it did not fail with an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked (exit 0).
    Success,
    /// The command ran but found a problem it already reported, e.g. bad pieces (exit 1).
    Failure,
    /// Stopped by Ctrl-C or SIGTERM before it was done (exit 130, the shell convention).
    Interrupted,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> ExitCode {
        match self {
            Exit::Success => ExitCode::SUCCESS,
            Exit::Failure => ExitCode::FAILURE,
            Exit::Interrupted => ExitCode::from(130),
        }
    }
}

/// Runs the parsed command line with its effective configuration (which already holds the
/// flags; a folder not given on the command line is the configuration's `download_dir`).
pub fn run(cli: Cli, settings: &Effective) -> anyhow::Result<Exit> {
    let download_dir = &settings.config().disk.download_dir;
    // The configuration flags given (a resume handed to a daemon uses none of them).
    let given = crate::settings::flag_overrides(&cli);
    // Foreground sessions hold the state folder's lock until they return (one session per
    // state folder: checkpoints, dht.dat and the created-files records live there).
    let _lock = match &cli.command {
        Command::Resume(_) if daemon::lock::read_daemon(state_dir(settings)).is_some() => None,
        Command::Xet(XetCommand::Follow(_)) if daemon::lock::read_daemon(state_dir(settings)).is_some() => {
            None
        }
        Command::Download(_)
        | Command::Magnet(_)
        | Command::Resume(_)
        | Command::Stream(_)
        | Command::Seed(_)
        | Command::Dht(_)
        | Command::Xet(XetCommand::Publish(_) | XetCommand::Follow(_)) => {
            Some(session_lock::hold(state_dir(settings))?)
        }
        _ => None,
    };
    match cli.command {
        Command::Download(mut args) => {
            args.common.dir.path = Some(download_dir.clone());
            runtime(settings)?.block_on(download::run(&args.sources, &args.resume, args.common, settings))
        }
        Command::Magnet(mut args) => {
            args.common.dir.path = Some(download_dir.clone());
            runtime(settings)?.block_on(download::run(&args.magnets, &args.resume, args.common, settings))
        }
        Command::Resume(args) if _lock.is_none() => torrents::resume(&args, &given, state_dir(settings)),
        Command::Resume(mut args) => {
            args.common.dir.path = Some(download_dir.clone());
            runtime(settings)?.block_on(resume::run(args, settings))
        }
        Command::Stream(mut args) => {
            args.dir.path = Some(download_dir.clone());
            runtime(settings)?.block_on(stream::run(args, settings))
        }
        Command::Seed(mut args) => {
            args.dir.path = Some(download_dir.clone());
            runtime(settings)?.block_on(seed::run(args, settings))
        }
        Command::Info(args) => info::run(&args),
        Command::Create(args) => create::run(&args, ProgressConfig::new(&args.progress)),
        Command::Verify(mut args) => {
            args.dir.path = Some(download_dir.clone());
            verify::run(&args, settings.config().disk.use_mmap, ProgressConfig::new(&args.progress))
        }
        Command::Scrape(args) => runtime(settings)?.block_on(scrape::run(&args)),
        Command::Dht(crate::args::DhtCommand::Status(args)) => {
            runtime(settings)?.block_on(dht::status(&args, settings))
        }
        Command::Config(command) => config::run(&command, &cli.global, settings),
        Command::Checkpoints(args) => checkpoints::run(&args, settings),
        Command::Daemon(command) => daemon::run(&command, settings),
        Command::Add(args) => torrents::add(&args, state_dir(settings)),
        Command::List(args) => torrents::list(&args, state_dir(settings)),
        Command::Status(args) => torrents::status(&args, state_dir(settings)),
        Command::Pause(args) => torrents::pause(&args, state_dir(settings)),
        Command::Remove(args) => ops::remove(&args, state_dir(settings)),
        Command::StreamUrl(args) => stream_url::run(&args, state_dir(settings)),
        Command::Files(args) => inspect::files(&args, state_dir(settings)),
        Command::Peers(args) => match (&args.command, &args.info_hash) {
            (Some(crate::peers_args::PeersCommand::Trace(trace)), _) => {
                peer_trace::run(trace, state_dir(settings))
            }
            (None, Some(info_hash)) => inspect::peers(info_hash, state_dir(settings)),
            // clap requires INFO_HASH without a subcommand.
            (None, None) => anyhow::bail!("ccbt peers: INFO_HASH is missing"),
        },
        Command::Trackers(args) => inspect::trackers(&args, state_dir(settings)),
        Command::Limits(args) => inspect::limits(&args, state_dir(settings)),
        Command::Recheck(args) => ops::recheck(&args, state_dir(settings)),
        Command::Reannounce(args) => ops::reannounce(&args, state_dir(settings)),
        Command::Dashboard(at) => dashboard::run(&at, &cli.global, settings),
        Command::Alerts(command) => alerts::run(&command, settings),
        Command::Xet(XetCommand::Publish(args)) => {
            runtime(settings)?.block_on(xet_publish::run(&args, settings))
        }
        Command::Xet(XetCommand::Follow(args)) => match daemon::lock::read_daemon(state_dir(settings)) {
            Some(info) => xet_follows::follow(&args, &remote::Daemon::open(state_dir(settings), &info)?),
            None => runtime(settings)?.block_on(xet_follow::run(&args, settings)),
        },
        Command::Xet(XetCommand::Follows(_)) => xet_follows::list(state_dir(settings)),
        Command::Xet(XetCommand::Unfollow(args)) => xet_follows::unfollow(&args.id, state_dir(settings)),
        Command::Xet(command) => xet_store::run(&command, settings),
    }
}

/// The seeds' form `ccbt --daemon --add SOURCE...`: `cli` is its `daemon start` command line.
pub fn run_seeds_form(
    form: &crate::seeds_args::SeedsForm,
    cli: &Cli,
    daemon_argv: Vec<std::ffi::OsString>,
    settings: &Effective,
) -> anyhow::Result<Exit> {
    let folder = match &cli.command {
        Command::Daemon(crate::daemon_args::DaemonCommand::Start(start)) => start.dir.path.as_deref(),
        _ => None,
    };
    daemon_seeds::run(form, folder, daemon_argv, settings)
}

/// The state folder, where a running daemon publishes its address and token.
fn state_dir(settings: &Effective) -> &std::path::Path {
    &settings.config().disk.state_dir
}

/// The async runtime of the commands that run a session (and of the few that only talk to the
/// network), with [`network_workers`] worker threads.
fn runtime(settings: &Effective) -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context as _;
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(network_workers(cpus, settings.config().disk.hash_workers))
        .enable_all()
        .thread_name("ccbt-rt")
        .build()
        .context("cannot start the async runtime")
}

/// Worker threads of the async runtime: the CPUs the hashing threads leave free, at least one.
/// The runtime only moves bytes (hashing, writing and reading pieces run on threads of their
/// own), and one worker moves a GiB in about half a CPU second; a second worker on a machine
/// whose CPUs the hashers already take wakes and steals for nothing: on 2 CPUs, one worker
/// downloaded 1 GiB faster and with fewer context switches and less CPU than two
/// (docs/benchmarks.md, issue 15, "one network thread"). libtorrent runs its network on one
/// thread too.
fn network_workers(cpus: usize, hash_workers: usize) -> usize {
    cpus.saturating_sub(hash_workers).max(1)
}

/// Default number of hashing threads for `create` and `verify`: the CPU count, at most 4
/// (beyond that the disk, not SHA-1, is the limit).
fn default_hash_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 4)
}

#[cfg(test)]
mod tests {
    use super::network_workers;

    #[test]
    fn the_runtime_takes_the_cpus_the_hashers_leave_and_at_least_one() {
        assert_eq!(network_workers(2, 2), 1);
        assert_eq!(network_workers(1, 4), 1);
        assert_eq!(network_workers(8, 4), 4);
        assert_eq!(network_workers(16, 1), 15);
    }
}
