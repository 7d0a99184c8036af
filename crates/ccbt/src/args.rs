//! Command-line arguments (clap derive) and the rewrite that turns the short form
//! `ccbt FILE.torrent [flags]` into `ccbt download FILE.torrent [flags]`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::daemon_args::{AddArgs, DaemonCommand, PauseArgs, RemoveArgs, StateDirArg, StatusArgs};
pub use crate::engine_args::{DiscoveryArgs, EngineArgs, LimitsArgs};
pub use crate::inspect_args::{FilesArgs, LimitsCommandArgs, ListArgs, TorrentArg};
pub use crate::tool_args::{
    CheckpointsArgs, CheckpointsCleanArgs, CheckpointsCommand, CheckpointsExportArgs, CheckpointsVerifyArgs,
    ConfigCommand, DhtCommand, DhtStatusArgs, ExportFormat, ScrapeArgs,
};
use crate::units::parse_size;

const EXAMPLES: &str = "\
Examples:
  ccbt download ubuntu.torrent -o ~/Downloads     download into ~/Downloads
  ccbt ubuntu.torrent                             short form of `download` (into the current folder)
  ccbt ubuntu.torrent --seed --peer 192.0.2.7:6881
  ccbt download a.torrent b.torrent \"magnet:?xt=urn:btih:...\" -o ~/Downloads   several at once
  ccbt magnet \"magnet:?xt=urn:btih:...\" -o ~/Downloads   fetch metadata from peers, then download
  ccbt stream movie.torrent | mpv -               play a file while it downloads (into the current folder)
  ccbt seed ubuntu.torrent -d ~/Downloads         check existing data and serve it
  ccbt create ./photos -o photos.torrent --tracker udp://tracker.example:6969/announce
  ccbt verify photos.torrent -d .                 check data on disk against the torrent
  ccbt info photos.torrent
  ccbt scrape photos.torrent                      seeders/leechers/completed from its trackers
  ccbt dht status                                 join the DHT and show nodes, buckets, lookups
  ccbt daemon start -o ~/Downloads                run in the background; then `ccbt add x.torrent`,
                                                  `ccbt list`, `status`, `pause`, `remove`, `daemon stop`
  ccbt --daemon --add a.torrent --add \"magnet:?xt=...\" -o ~/Downloads
                                                  start the daemon (or use the running one), add both

The data folder is `-o DIR` or `-d DIR` (the same flag) on download, magnet, stream, seed and verify.

Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted (Ctrl-C).";

/// ccbt: a high-performance BitTorrent client.
#[derive(Debug, Parser)]
#[command(
    name = "ccbt",
    version,
    about = "ccbt: a high-performance BitTorrent client",
    long_about = "ccbt: a high-performance BitTorrent client.\n\n\
        `ccbt FILE.torrent [flags]` is short for `ccbt download FILE.torrent [flags]`.",
    after_help = EXAMPLES,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted by every command, before or after the command name.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Log verbosity on stderr, and in `log_file` when set [default: `log_level` of the
    /// configuration, `warn`; the CCBT_LOG_LEVEL variable also accepts filters like
    /// `warn,ccbt_engine=debug`].
    #[arg(long, global = true, value_enum, ignore_case = true, value_name = "LEVEL")]
    pub log_level: Option<LogLevel>,
    /// Configuration file to read (it must exist) instead of ./ccbt.toml or
    /// $XDG_CONFIG_HOME/ccbt/ccbt.toml; `config set` writes it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Do not watch the configuration file for changes while a session runs
    /// [config: `config_reload`].
    #[arg(long, global = true)]
    pub no_config_reload: bool,
}

/// Progress flags, only on the commands that show progress (`download`, `magnet`, `seed`,
/// `create`, `verify`).
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct ProgressArgs {
    /// Print no progress bar or progress lines (errors and the final summary still print).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// When stderr is not a terminal (pipes, CI logs): at most one progress line per SECS
    /// seconds, and only when something changed (at least one every 10 minutes while running).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub progress_interval: u64,
}

/// Log levels of `--log-level`, quietest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Download .torrent files or magnet links into a folder and exit once every piece is verified (or keep seeding with --seed).
    Download(DownloadArgs),
    /// Download magnet links: fetch their metadata from peers, save the .torrent, then download (same flags as download).
    Magnet(MagnetArgs),
    /// Write one file of a torrent to stdout in order while it downloads, each byte once its piece is verified (`ccbt stream x.torrent | mpv -`); progress goes to stderr.
    Stream(StreamArgs),
    /// Continue a download from its checkpoint, by info hash (or a unique prefix): no need to name the torrent or the folder again (same flags as download). While a daemon runs, the daemon continues it instead.
    Resume(ResumeArgs),
    /// Check existing data of a torrent and serve it to peers until Ctrl-C.
    Seed(SeedArgs),
    /// Show what a .torrent file contains: name, info hash, sizes, files, trackers.
    Info(InfoArgs),
    /// Create a .torrent file from a file or a folder.
    Create(CreateArgs),
    /// Check data on disk against a torrent's piece hashes.
    Verify(VerifyArgs),
    /// Ask trackers how many seeders and leechers a torrent has (BEP 48 / BEP 15 scrape).
    Scrape(ScrapeArgs),
    /// DHT commands.
    #[command(subcommand)]
    Dht(DhtCommand),
    /// Show, read, change and check the configuration (ccbt.toml, CCBT_* variables, flags).
    #[command(subcommand, after_help = crate::tool_args::CONFIG_HELP)]
    Config(ConfigCommand),
    /// List, clean, delete, verify and export checkpoints (the saved resume state of each torrent).
    #[command(after_help = CHECKPOINTS_HELP)]
    Checkpoints(CheckpointsArgs),
    /// Run ccbt in the background with a control API: start, status, stop.
    #[command(subcommand, after_help = crate::daemon_args::DAEMON_HELP)]
    Daemon(DaemonCommand),
    /// Add a .torrent file or magnet link to the running daemon.
    Add(AddArgs),
    /// List the torrents of the running daemon (--state and --name filter them).
    List(ListArgs),
    /// Show the running daemon's session, or one of its torrents.
    Status(StatusArgs),
    /// Pause a torrent of the running daemon (or every one with --all).
    Pause(PauseArgs),
    /// Remove a torrent from the running daemon (its files stay, or with --delete-data the files ccbt created go).
    Remove(RemoveArgs),
    /// Print signed URLs that stream a torrent's files from the running daemon to any player, no token needed (until the daemon restarts).
    #[command(after_help = crate::stream_url_args::STREAM_URL_HELP)]
    StreamUrl(crate::stream_url_args::StreamUrlArgs),
    /// Show the files of a daemon's torrent with progress and priority, or change priorities (--priority INDEX=PRIO).
    Files(FilesArgs),
    /// Show the connected peers of a daemon's torrent; `peers trace INFO_HASH ADDR` traces one.
    Peers(crate::peers_args::PeersArgs),
    /// Show the trackers of a daemon's torrent and what each last said.
    Trackers(TorrentArg),
    /// Show or set the running daemon's rate limits (KiB/s), the session's or one torrent's.
    Limits(LimitsCommandArgs),
    /// Hash a torrent's data again in the running daemon: pieces that fail download again.
    Recheck(crate::ops_args::TorrentOpArgs),
    /// Announce a torrent to its trackers (after their `min interval`) and the DHT now.
    Reannounce(crate::ops_args::TorrentOpArgs),
    /// The live terminal dashboard (also installed as `bitonic`) over the state folder's daemon,
    /// which it starts when none runs.
    Dashboard(crate::daemon_args::StateDirArg),
    /// Alert rules on the session's metrics: list, add, remove, test, and the history of alerts.
    #[command(subcommand, after_help = crate::alerts_args::ALERTS_HELP)]
    Alerts(crate::alerts_args::AlertsCommand),
    /// The Xet extension: `xet hash FILE` (a file's Xet hash, Hugging Face compatible), the
    /// local chunk store (status, stats, cache-info, cleanup) and versions over the DHT
    /// (publish, follow; a daemon's follows, unfollow).
    #[command(subcommand, after_help = crate::xet_args::XET_HELP)]
    Xet(crate::xet_args::XetCommand),
}

const CHECKPOINTS_HELP: &str = "\
A checkpoint is named by its torrent's info hash; any unique prefix of it will do.
The folder is --checkpoint-dir DIR, else `checkpoint_dir` of the configuration, else
`checkpoints` under `state_dir` (~/.local/state/ccbt/checkpoints).

Examples:
  ccbt checkpoints list                          info hash, name, progress, state, saved, format
  ccbt checkpoints clean --days 7 --dry-run      what would go: checkpoints saved over 7 days ago
  ccbt checkpoints delete 3f2a                   delete the checkpoint whose info hash starts 3f2a
  ccbt checkpoints verify 3f2a                   re-hash the pieces it claims (exit 1 on a mismatch)
  ccbt checkpoints export 3f2a --format json -o state.json";

/// Arguments of `ccbt download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// .torrent files or "magnet:?xt=urn:btih:..." links to download, all in one session with a
    /// progress line each (quote magnet links in the shell).
    #[arg(value_name = "FILE.torrent|MAGNET", required = true, num_args = 1..)]
    pub sources: Vec<String>,
    #[command(flatten)]
    pub common: TransferArgs,
    #[command(flatten)]
    pub resume: ResumeFlags,
}

/// Arguments of `ccbt magnet`.
#[derive(Debug, Args)]
pub struct MagnetArgs {
    /// "magnet:?xt=urn:btih:..." links to download (quote them in the shell).
    #[arg(value_name = "MAGNET", required = true, num_args = 1..)]
    pub magnets: Vec<String>,
    #[command(flatten)]
    pub common: TransferArgs,
    #[command(flatten)]
    pub resume: ResumeFlags,
}

/// Arguments of `ccbt resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Info hash of the torrent (40 hex digits, or a prefix naming one checkpoint): see
    /// `ccbt checkpoints list`.
    #[arg(value_name = "INFO_HASH")]
    pub info_hash: String,
    /// Ask before resuming, when a terminal is attached.
    #[arg(long)]
    pub interactive: bool,
    /// The torrent's files are looked for here instead of the checkpoint's folder.
    #[command(flatten)]
    pub common: TransferArgs,
}

/// What `download` and `magnet` do with a checkpoint of the torrent: without a flag, resume
/// from it (asking first with `--interactive` on a terminal).
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Checkpoints")]
pub struct ResumeFlags {
    /// Resume from the torrent's checkpoint without asking.
    #[arg(long, conflicts_with = "interactive")]
    pub resume: bool,
    /// Ask before resuming from a checkpoint, when a terminal is attached (without a terminal
    /// ccbt resumes without asking).
    #[arg(long)]
    pub interactive: bool,
}

/// What `download` and `magnet` share.
#[derive(Debug, Args)]
pub struct TransferArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Keep seeding after the download completes, until Ctrl-C or SIGTERM.
    #[arg(long)]
    pub seed: bool,
    /// Write into files that already exist although ccbt did not create them. Without it, such
    /// a file is continued only if it already holds verified pieces of the torrent; otherwise
    /// the torrent stops and names it.
    #[arg(long)]
    pub overwrite: bool,
    /// Download pieces near the start first (a sliding window from the first missing piece, the
    /// first and last piece of each file early), so media can be played before the end.
    #[arg(long)]
    pub streaming: bool,
    #[command(flatten)]
    pub files: FileArgs,
    #[command(flatten)]
    pub checkpoints: CheckpointArgs,
    #[command(flatten)]
    pub progress: ProgressArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Arguments of `ccbt stream`.
#[derive(Debug, Args)]
pub struct StreamArgs {
    /// The .torrent file or "magnet:?xt=urn:btih:..." link (quoted) to stream from.
    #[arg(value_name = "FILE.torrent|MAGNET")]
    pub source: String,
    /// Index of the file to stream, from 0 in the torrent's file order [default: the largest
    /// file]. With a .torrent only this file is downloaded; with a magnet link every file is,
    /// this one first.
    #[arg(long, value_name = "N")]
    pub file: Option<u32>,
    #[command(flatten)]
    pub dir: DirArg,
    /// Write into files that already exist although ccbt did not create them (as for download).
    #[arg(long)]
    pub overwrite: bool,
    #[command(flatten)]
    pub progress: ProgressArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Which files to download, on `download` and `magnet` (applied to every source given).
#[derive(Debug, Args)]
#[command(next_help_heading = "File selection")]
pub struct FileArgs {
    /// Download only these files: indices as `ccbt info` lists them, comma-separated, ranges
    /// allowed (`--select 0,3-5`). Skipped files are not created; a piece shared with a selected
    /// file is downloaded whole and its bytes of the skipped file are written into it. For a
    /// magnet link the indices are checked when its metadata arrives. Progress counts the
    /// selected pieces only.
    #[arg(long, value_name = "LIST", value_parser = crate::file_indices::parse_file_indices)]
    pub select: Option<crate::file_indices::FileIndices>,
    /// Skip these files (same syntax as --select; applied after it, so `--select 0-9 --skip 4`
    /// downloads files 0 to 9 but 4).
    #[arg(long, value_name = "LIST", value_parser = crate::file_indices::parse_file_indices)]
    pub skip: Option<crate::file_indices::FileIndices>,
    /// Download the first and last piece of each selected file before the rest, so a media
    /// player can read a file's header and index early.
    #[arg(long)]
    pub first_last_pieces: bool,
}

impl FileArgs {
    /// Applies the flags to a torrent being added.
    pub fn apply(&self, add: ccbt_engine::AddTorrent) -> ccbt_engine::AddTorrent {
        let mut add = add.first_last_pieces(self.first_last_pieces);
        if let Some(select) = &self.select {
            add = add.select_files(select.0.iter().copied());
        }
        if let Some(skip) = &self.skip {
            add = add.skip_files(skip.0.iter().copied());
        }
        add
    }
}

/// Where checkpoints go, and whether they are written.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Checkpoints")]
pub struct CheckpointArgs {
    /// Neither read nor write checkpoints (`checkpoint_enabled = false`): a restart checks the
    /// data on disk again.
    #[arg(long)]
    pub no_checkpoint: bool,
    /// Folder of the checkpoints [default: `checkpoint_dir`, `<state_dir>/checkpoints`].
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
}

/// The data folder, spelled `-o/--output` or `-d/--dir` on every command that takes one.
#[derive(Debug, Args)]
pub struct DirArg {
    /// Folder of the torrent's content: downloads are saved there, seed and verify read it (a
    /// multi-file torrent gets a sub-folder named after it) [default: `download_dir` of the
    /// configuration, `.`].
    #[arg(
        short = 'o',
        long = "output",
        visible_short_alias = 'd',
        visible_alias = "dir",
        value_name = "DIR"
    )]
    pub path: Option<PathBuf>,
}

impl DirArg {
    /// The folder given, else the current one (commands replace an absent folder by the
    /// configuration's `download_dir` before they run).
    pub fn folder(&self) -> &std::path::Path {
        self.path.as_deref().unwrap_or(std::path::Path::new("."))
    }
}

/// Arguments of `ccbt seed`.
#[derive(Debug, Args)]
pub struct SeedArgs {
    /// The .torrent file whose data is served.
    #[arg(value_name = "FILE.torrent")]
    pub torrent: PathBuf,
    #[command(flatten)]
    pub dir: DirArg,
    /// Seed what is present and download the rest, even when none of the data is found (without
    /// it, `seed` stops when the folder holds none of the torrent's data).
    #[arg(long)]
    pub fetch_missing: bool,
    /// Write into files that already exist although ccbt did not create them. Without it, such
    /// a file is continued only if it already holds verified pieces of the torrent; otherwise
    /// the torrent stops and names it.
    #[arg(long)]
    pub overwrite: bool,
    #[command(flatten)]
    pub checkpoints: CheckpointArgs,
    #[command(flatten)]
    pub progress: ProgressArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Arguments of `ccbt info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The .torrent file to describe.
    #[arg(value_name = "FILE.torrent")]
    pub torrent: PathBuf,
    /// List every file instead of the first 50.
    #[arg(long)]
    pub all_files: bool,
    /// Show each file's BEP 52 pieces root (the SHA-256 merkle root of its data) under it, for
    /// v2 and hybrid torrents, and its xet root (docs/xet.md) for Xet torrents.
    #[arg(long)]
    pub pieces_roots: bool,
}

/// Arguments of `ccbt create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// File or folder to make a torrent of.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Where to write the .torrent file.
    #[arg(short, long, value_name = "FILE.torrent")]
    pub output: PathBuf,
    /// Replace the .torrent file if it already exists.
    #[arg(long)]
    pub force: bool,
    /// Piece size in bytes or with a unit (256KiB, 1MiB); a power of two of at least 16 KiB
    /// (for --v2 and --hybrid too) [default: chosen from the total size].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub piece_size: Option<u64>,
    /// Tracker announce URL; each --tracker is its own tier, comma-separated URLs share a tier.
    #[arg(long = "tracker", value_name = "URL[,URL...]")]
    pub trackers: Vec<String>,
    /// Mark the torrent private (BEP 27): peers only from its trackers, no DHT or PEX.
    #[arg(long)]
    pub private: bool,
    /// Comment stored in the torrent.
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// Torrent name [default: the file or folder name].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Threads hashing pieces [default: number of CPUs, at most 4].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub hash_workers: Option<u16>,
    /// Make a BitTorrent v2-only torrent (BEP 52: per-file SHA-256 merkle trees, files aligned
    /// to pieces). Only v2 clients (libtorrent 2, qBittorrent 4.4+) can use it.
    #[arg(long, conflicts_with = "hybrid")]
    pub v2: bool,
    /// Make a hybrid v1+v2 torrent (BEP 52): v1 and v2 clients share one swarm. The v1 part
    /// gets pad files so every file starts on a piece boundary. Default: a v1 torrent.
    #[arg(long)]
    pub hybrid: bool,
    #[command(flatten)]
    pub xet: crate::xet_args::XetCreateArgs,
    #[command(flatten)]
    pub progress: ProgressArgs,
}

/// Arguments of `ccbt verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The .torrent file to check against.
    #[arg(value_name = "FILE.torrent")]
    pub torrent: PathBuf,
    #[command(flatten)]
    pub dir: DirArg,
    /// Threads hashing pieces [default: number of CPUs, at most 4].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub hash_workers: Option<u16>,
    #[command(flatten)]
    pub progress: ProgressArgs,
}

/// Whether `name` is a subcommand (or clap's own `help`), read from the parser definition so
/// the short form never shadows a command added later.
fn is_subcommand(name: &str) -> bool {
    use clap::CommandFactory;
    name == "help" || Cli::command().get_subcommands().any(|c| c.get_name() == name)
}

/// Whether `flag` (`--name` or `-n`) of `download` or the global flags takes its value as the
/// next argument, so that value is not mistaken for the torrent.
fn takes_value(flag: &str) -> bool {
    use clap::CommandFactory;
    let cli = Cli::command();
    let download = cli.find_subcommand("download").cloned();
    let found = cli.get_arguments().chain(download.iter().flat_map(|d| d.get_arguments())).any(|a| {
        a.get_action().takes_values()
            && (a.get_long().is_some_and(|l| flag.strip_prefix("--") == Some(l))
                || a.get_short()
                    .is_some_and(|c| flag.len() == 2 && flag.strip_prefix('-') == Some(&c.to_string())))
    });
    found
}

/// Supports the seeds' short form `ccbt FILE.torrent [flags]`: when the first positional
/// argument is not a subcommand, `download` is inserted right after the program name. Flags
/// before the file stay valid because global flags are accepted after the subcommand too.
pub fn rewrite_short_form(mut argv: Vec<OsString>) -> Vec<OsString> {
    let mut i = 1;
    while let Some(arg) = argv.get(i) {
        let Some(text) = arg.to_str() else { break };
        if matches!(text, "-h" | "--help" | "-V" | "--version") {
            return argv;
        }
        if text == "--" {
            break;
        }
        if text.starts_with('-') && text.len() > 1 {
            i += if takes_value(text) { 2 } else { 1 };
            continue;
        }
        if is_subcommand(text) {
            return argv;
        }
        break;
    }
    if i < argv.len() {
        argv.insert(1.min(argv.len()), OsString::from("download"));
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn rewrite(args: &[&str]) -> Vec<String> {
        let argv = args.iter().map(OsString::from).collect();
        rewrite_short_form(argv).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(rewrite_short_form(args.iter().map(OsString::from).collect()))
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn short_form_inserts_download() {
        assert_eq!(rewrite(&["ccbt", "x.torrent"]), ["ccbt", "download", "x.torrent"]);
        assert_eq!(
            rewrite(&["ccbt", "x.torrent", "--seed", "-o", "d"]),
            ["ccbt", "download", "x.torrent", "--seed", "-o", "d"]
        );
        assert_eq!(
            rewrite(&["ccbt", "--log-level", "debug", "--peer", "h:1", "x.torrent"]),
            ["ccbt", "download", "--log-level", "debug", "--peer", "h:1", "x.torrent"]
        );
        assert_eq!(rewrite(&["ccbt", "-q", "x.torrent"]), ["ccbt", "download", "-q", "x.torrent"]);
        assert_eq!(
            rewrite(&["ccbt", "--log-level=info", "x.torrent"]),
            ["ccbt", "download", "--log-level=info", "x.torrent"]
        );
        // A torrent file that happens to look like a flag value is still found.
        assert_eq!(
            rewrite(&["ccbt", "-o", "info", "x.torrent"]),
            ["ccbt", "download", "-o", "info", "x.torrent"]
        );
        assert_eq!(rewrite(&["ccbt", "--", "-x.torrent"]), ["ccbt", "download", "--", "-x.torrent"]);
        // `--config` takes a value: the file is not mistaken for the torrent.
        assert_eq!(
            rewrite(&["ccbt", "--config", "c.toml", "x.torrent"]),
            ["ccbt", "download", "--config", "c.toml", "x.torrent"]
        );
        assert_eq!(
            rewrite(&["ccbt", "--config", "c.toml", "config", "show"]),
            ["ccbt", "--config", "c.toml", "config", "show"]
        );
    }

    #[test]
    fn subcommands_and_help_are_untouched() {
        for args in [
            &["ccbt"][..],
            &["ccbt", "download", "x.torrent"],
            &["ccbt", "info", "x.torrent"],
            &["ccbt", "--log-level", "info", "seed", "x.torrent", "-d", "."],
            &["ccbt", "help"],
            &["ccbt", "--help"],
            &["ccbt", "-V"],
            &["ccbt", "--quiet"],
            &["ccbt", "--log-level", "debug"],
        ] {
            assert_eq!(rewrite(args), args, "{args:?}");
        }
    }

    #[test]
    fn parses_download_flags() {
        let cli = parse(&[
            "ccbt",
            "--log-level",
            "DEBUG",
            "x.torrent",
            "--peer",
            "[::1]:7000",
            "--peer",
            "localhost:7001",
            "--listen-port",
            "0",
            "--piece-selection",
            "round_robin",
            "--preallocate",
            "full",
            "--no-mmap",
        ])
        .unwrap();
        assert_eq!(cli.global.log_level, Some(LogLevel::Debug));
        let Command::Download(d) = cli.command else { panic!("not a download") };
        assert_eq!(d.sources, ["x.torrent"]);
        let d = d.common;
        assert_eq!(d.progress.progress_interval, 5);
        assert_eq!(d.dir.path, None);
        assert!(!d.seed);
        assert_eq!(d.engine.network.peers.len(), 2);
        assert_eq!(d.engine.network.listen_port, Some(0));
        use crate::engine_args::{PieceSelectionArg, PreallocateArg};
        assert_eq!(d.engine.tuning.piece_selection, Some(PieceSelectionArg::RoundRobin));
        assert_eq!(d.engine.tuning.preallocate, Some(PreallocateArg::Full));
        assert!(d.engine.tuning.no_mmap);
    }

    #[test]
    fn parses_stream_and_streaming_flags() {
        let cli = parse(&["ccbt", "stream", "x.torrent", "--file", "3", "--peer", "h:1", "--no-dht", "-q"])
            .unwrap();
        let Command::Stream(s) = cli.command else { panic!("not stream") };
        assert_eq!((s.source.as_str(), s.file), ("x.torrent", Some(3)));
        assert!(s.engine.discovery.no_dht && s.progress.quiet);
        assert_eq!(s.engine.network.peers.len(), 1);
        let cli = parse(&["ccbt", "x.torrent", "--streaming"]).unwrap();
        let Command::Download(d) = cli.command else { panic!("not a download") };
        assert!(d.common.streaming);
        assert!(parse(&["ccbt", "magnet", "magnet:?xt=urn:btih:x", "--streaming"]).is_ok());
        assert_eq!(parse(&["ccbt", "stream"]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn several_sources_in_one_download() {
        let cli = parse(&["ccbt", "a.torrent", "b.torrent", "magnet:?xt=urn:btih:x", "-o", "d"]).unwrap();
        let Command::Download(d) = cli.command else { panic!("not a download") };
        assert_eq!(d.sources, ["a.torrent", "b.torrent", "magnet:?xt=urn:btih:x"]);
        let cli = parse(&["ccbt", "magnet", "magnet:?xt=urn:btih:x", "magnet:?xt=urn:btih:y"]).unwrap();
        let Command::Magnet(m) = cli.command else { panic!("not magnet") };
        assert_eq!(m.magnets.len(), 2);
    }

    #[test]
    fn file_selection_flags_on_download_and_magnet() {
        use crate::file_indices::FileIndices;
        let cli =
            parse(&["ccbt", "x.torrent", "--select", "0,3-5", "--skip", "4", "--first-last-pieces"]).unwrap();
        let Command::Download(d) = cli.command else { panic!("not a download") };
        assert_eq!(d.common.files.select, Some(FileIndices(vec![0, 3, 4, 5])));
        assert_eq!(d.common.files.skip, Some(FileIndices(vec![4])));
        assert!(d.common.files.first_last_pieces);
        let cli = parse(&["ccbt", "magnet", "magnet:?xt=urn:btih:x", "--skip", "2"]).unwrap();
        let Command::Magnet(m) = cli.command else { panic!("not magnet") };
        assert_eq!(m.common.files.skip, Some(FileIndices(vec![2])));
        assert_eq!(m.common.files.select, None);
        let err = parse(&["ccbt", "x.torrent", "--select", "1,two"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(err.to_string().contains("\"two\": not a file index"), "{err}");
        // Not on seed, which serves whatever it has.
        let err = parse(&["ccbt", "seed", "x.torrent", "--select", "1"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
    }

    #[test]
    fn both_folder_spellings_everywhere() {
        let folder = |args: &[&str]| match parse(args).unwrap().command {
            Command::Download(d) => d.common.dir.path,
            Command::Magnet(m) => m.common.dir.path,
            Command::Stream(s) => s.dir.path,
            Command::Seed(s) => s.dir.path,
            Command::Verify(v) => v.dir.path,
            other => panic!("no folder: {other:?}"),
        };
        for command in ["download", "magnet", "stream", "seed", "verify"] {
            for flag in ["-o", "-d", "--output", "--dir"] {
                assert_eq!(
                    folder(&["ccbt", command, "x", flag, "f"]),
                    Some(PathBuf::from("f")),
                    "{command} {flag}"
                );
            }
        }
    }

    #[test]
    fn progress_flags_only_where_progress_shows() {
        for args in [
            &["ccbt", "info", "x.torrent", "-q"][..],
            &["ccbt", "scrape", "x.torrent", "--progress-interval", "9"],
            &["ccbt", "dht", "status", "--quiet"],
        ] {
            assert_eq!(parse(args).unwrap_err().kind(), clap::error::ErrorKind::UnknownArgument, "{args:?}");
        }
        for args in [
            &["ccbt", "x.torrent", "-q"][..],
            &["ccbt", "seed", "x.torrent", "--progress-interval", "60"],
            &["ccbt", "create", "d", "-o", "x.torrent", "-q"],
            &["ccbt", "verify", "x.torrent", "-q"],
        ] {
            assert!(parse(args).is_ok(), "{args:?}");
        }
    }

    #[test]
    fn parses_create_flags() {
        let cli = parse(&[
            "ccbt",
            "create",
            "dir",
            "-o",
            "x.torrent",
            "--piece-size",
            "256KiB",
            "--tracker",
            "http://a/announce,http://b/announce",
            "--tracker",
            "udp://c:1",
            "--private",
        ])
        .unwrap();
        let Command::Create(c) = cli.command else { panic!("not create") };
        assert_eq!(c.piece_size, Some(256 * 1024));
        assert_eq!(c.trackers.len(), 2);
        assert!(c.private);
    }

    #[test]
    fn usage_errors() {
        let code = |args: &[&str]| parse(args).unwrap_err().exit_code();
        assert_eq!(code(&["ccbt", "x.torrent", "--peer", "nope"]), 2);
        assert_eq!(code(&["ccbt", "x.torrent", "--piece-selection", "random"]), 2);
        assert_eq!(code(&["ccbt", "create", "d", "-o", "x", "--piece-size", "1.5M"]), 2);
        assert_eq!(code(&["ccbt", "seed"]), 2);
        assert_eq!(code(&["ccbt", "magnet"]), 2);
        assert_eq!(code(&["ccbt", "x.torrent", "--progress-interval", "0"]), 2);
        assert_eq!(code(&["ccbt", "--help"]), 0);
    }
}
