//! Arguments of `ccbt daemon ...` and of the commands that drive a running daemon (`add`,
//! `list`, `status`, `pause`, `remove`; `recheck` and `reannounce` are in `ops_args.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::args::{CheckpointArgs, DirArg, DiscoveryArgs, FileArgs, LimitsArgs};

pub const DAEMON_HELP: &str = "\
The daemon keeps a session running in the background and serves a control API on
http://127.0.0.1:6890 (`[daemon] api_host`, `api_port`; see docs/api.md). It writes to its state
folder (--state-dir, else `state_dir`): daemon.lock (pid and API address), api_token (the API's
secret, mode 0600) and daemon.log (rotated: `log_max_size_mib`, `log_max_files`). One session
per state folder (daemon or download, seed, ...).
With `[daemon] tls_cert` and `tls_key` the API speaks HTTPS; a non-loopback `api_host` needs
them or --insecure-remote.

Examples:
  ccbt daemon start -o ~/Downloads          start in the background, print the API address
  ccbt add ubuntu.torrent                   add a torrent to it (into ~/Downloads)
  ccbt list                                 its torrents (--state downloading, --name TEXT)
  ccbt files 3f2a --priority 0=skip         a torrent's files; change priorities live
  ccbt peers 3f2a                           its peers (and `ccbt trackers 3f2a`)
  ccbt limits --down 512                    rate limits in KiB/s, live (no flag: show them)
  ccbt daemon stop                          stop it; every checkpoint is saved first
  ccbt --daemon --add a.torrent --add \"magnet:?xt=...\" -o ~/Downloads
                                            start it (or use the running one) and add both";

/// `ccbt daemon ...`.
#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Start the daemon in the background (returns once its API answers) or, with
    /// --foreground, run it in this process (for systemd). It restores every torrent from
    /// the checkpoints in its checkpoint folder.
    Start(DaemonStartArgs),
    /// Show the running daemon: API address, pid, uptime and torrent counts (exit 1 when none runs).
    Status(StateDirArg),
    /// Stop the running daemon gracefully: it saves every checkpoint, then exits (as on SIGTERM).
    Stop(StateDirArg),
}

/// `ccbt daemon start`.
#[derive(Debug, Args)]
pub struct DaemonStartArgs {
    /// Run in this process, logging to stderr, until SIGTERM or Ctrl-C (for systemd and the like).
    #[arg(long)]
    pub foreground: bool,
    /// Set by `daemon start` for the background process: its stdout and stderr are
    /// `<state_dir>/daemon.log`, which it rotates (`log_max_size_mib`, `log_max_files`).
    #[arg(long, hide = true, requires = "foreground")]
    pub detached: bool,
    /// Allow a non-loopback `api_host` without TLS: the API then speaks plain HTTP to the
    /// network, token included (prefer `tls_cert` and `tls_key`).
    #[arg(long)]
    pub insecure_remote: bool,
    /// TCP port of the control API (0: the system picks one) [config: `api_port`, 6890].
    #[arg(long, value_name = "N")]
    pub api_port: Option<u16>,
    /// TCP port for incoming peers (0: the system picks one) [config: `listen_port`].
    #[arg(long, value_name = "N")]
    pub listen_port: Option<u16>,
    /// Default folder of added torrents.
    #[command(flatten)]
    pub dir: DirArg,
    #[command(flatten)]
    pub discovery: DiscoveryArgs,
    #[command(flatten)]
    pub checkpoints: CheckpointArgs,
    #[command(flatten)]
    pub limits: LimitsArgs,
}

/// Where to find the daemon: its state folder.
#[derive(Debug, Args)]
pub struct StateDirArg {
    /// The daemon's state folder (daemon.lock, api_token) [default: `state_dir` of the
    /// configuration, $XDG_STATE_HOME/ccbt or ~/.local/state/ccbt].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// `ccbt add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// A .torrent file (read here and sent to the daemon) or a "magnet:?xt=urn:btih:..." link.
    #[arg(value_name = "FILE.torrent|MAGNET")]
    pub source: String,
    /// Folder of the torrent's files [default: the daemon's `download_dir`].
    #[arg(
        short = 'o',
        long = "output",
        visible_short_alias = 'd',
        visible_alias = "dir",
        value_name = "DIR"
    )]
    pub dir: Option<PathBuf>,
    /// Add it paused: no connection, announce or metadata fetch until `ccbt resume`.
    #[arg(long)]
    pub paused: bool,
    /// Connect to this peer at once (IP:PORT); repeat for more peers.
    #[arg(long = "peer", value_name = "IP:PORT")]
    pub peers: Vec<SocketAddr>,
    /// This torrent's download limit in KiB/s (0 = unlimited) [default: the daemon's
    /// `torrent_down_kib`].
    #[arg(long, value_name = "KIB")]
    pub down_limit: Option<u64>,
    /// This torrent's upload limit in KiB/s (0 = unlimited) [default: the daemon's
    /// `torrent_up_kib`].
    #[arg(long, value_name = "KIB")]
    pub up_limit: Option<u64>,
    #[command(flatten)]
    pub files: FileArgs,
    #[command(flatten)]
    pub daemon: StateDirArg,
}

/// `ccbt status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A torrent's info hash (or a unique prefix); without it, the whole session.
    #[arg(value_name = "INFO_HASH")]
    pub info_hash: Option<String>,
    /// Print the whole session's snapshot as JSON (rates, totals, queue depths, DHT, every
    /// torrent with its peers and trackers: `GET /api/v1/snapshot`), for scripts.
    #[arg(long, conflicts_with = "info_hash")]
    pub json: bool,
    #[command(flatten)]
    pub daemon: StateDirArg,
}

/// `ccbt pause`.
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// The torrent's info hash (or a unique prefix).
    #[arg(value_name = "INFO_HASH", required_unless_present = "all", conflicts_with = "all")]
    pub info_hash: Option<String>,
    /// Pause every torrent.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub daemon: StateDirArg,
}

/// `ccbt remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The torrent's info hash (or a unique prefix). Its files and folder stay; its checkpoint goes.
    #[arg(value_name = "INFO_HASH")]
    pub info_hash: String,
    /// Also delete the files ccbt created for it and its folders left empty (never a file that
    /// existed before ccbt, nor anything outside its download folder).
    #[arg(long)]
    pub delete_data: bool,
    #[command(flatten)]
    pub daemon: StateDirArg,
}

#[cfg(test)]
mod tests {
    use crate::args::{Cli, Command};
    use clap::Parser as _;

    #[test]
    fn pause_needs_a_hash_or_all_but_not_both() {
        assert_eq!(Cli::try_parse_from(["ccbt", "pause"]).unwrap_err().exit_code(), 2);
        assert_eq!(Cli::try_parse_from(["ccbt", "pause", "ab", "--all"]).unwrap_err().exit_code(), 2);
        let cli = Cli::try_parse_from(["ccbt", "pause", "--all"]).unwrap();
        assert!(matches!(cli.command, Command::Pause(p) if p.all && p.info_hash.is_none()));
    }

    #[test]
    fn add_takes_a_folder_paused_and_peers() {
        let cli = Cli::try_parse_from([
            "ccbt",
            "add",
            "x.torrent",
            "-d",
            "out",
            "--paused",
            "--peer",
            "127.0.0.1:6881",
        ])
        .unwrap();
        let Command::Add(add) = cli.command else { panic!("not add") };
        assert_eq!(add.dir.as_deref(), Some(std::path::Path::new("out")));
        assert!(add.paused);
        assert_eq!(add.peers, ["127.0.0.1:6881".parse().unwrap()]);
        assert_eq!(Cli::try_parse_from(["ccbt", "add", "x", "--peer", "host:1"]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn daemon_start_takes_foreground_and_ports() {
        let cli =
            Cli::try_parse_from(["ccbt", "daemon", "start", "--foreground", "--api-port", "0"]).unwrap();
        let Command::Daemon(super::DaemonCommand::Start(start)) = cli.command else { panic!("not start") };
        assert!(start.foreground);
        assert_eq!(start.api_port, Some(0));
    }
}
