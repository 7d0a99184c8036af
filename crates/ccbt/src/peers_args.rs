//! Arguments of `ccbt peers`: `ccbt peers INFO_HASH` lists a daemon torrent's peers, and
//! `ccbt peers trace INFO_HASH ADDR [--stop]` traces one of them (a subcommand beside the
//! positional form, which stays as it was: an info hash is never the word `trace`).

use clap::{Args, Subcommand};

use crate::daemon_args::StateDirArg;

/// `ccbt peers`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct PeersArgs {
    #[command(subcommand)]
    pub command: Option<PeersCommand>,
    /// The torrent's info hash (or a unique prefix).
    #[arg(value_name = "INFO_HASH", required = true)]
    pub info_hash: Option<String>,
    #[command(flatten)]
    pub daemon: StateDirArg,
}

impl PeersArgs {
    /// Where the daemon is, whichever form was given.
    pub fn daemon(&self) -> &StateDirArg {
        match &self.command {
            Some(PeersCommand::Trace(trace)) => &trace.daemon,
            None => &self.daemon,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum PeersCommand {
    /// Trace every message to and from one peer of a daemon's torrent to a file (printed);
    /// --stop ends it.
    #[command(after_help = TRACE_HELP)]
    Trace(PeerTraceArgs),
}

/// `ccbt peers trace`.
#[derive(Debug, Args)]
pub struct PeerTraceArgs {
    /// The torrent's info hash (or a unique prefix).
    #[arg(value_name = "INFO_HASH")]
    pub info_hash: String,
    /// The peer's address as `ccbt peers INFO_HASH` shows it: IP:PORT, or [IPv6]:PORT.
    #[arg(value_name = "ADDR")]
    pub addr: String,
    /// Stop tracing this peer (the file stays).
    #[arg(long)]
    pub stop: bool,
    #[command(flatten)]
    pub daemon: StateDirArg,
}

const TRACE_HELP: &str = "\
The trace file is <state_dir>/traces/<info hash>/<ip>_<port>.log on the daemon's machine: one
line per message, `<UTC time with ms> send|recv|note <message>`. A connection open now is traced
from now on; a later connection to that address from its handshake. The file stops at
`peer_trace_max_mib` (64 MiB by default). `enable_peer_tracing = true` traces every peer.

Examples:
  ccbt peers trace 3f2a 192.0.2.7:6881          start; prints the trace file
  ccbt peers trace 3f2a 192.0.2.7:6881 --stop   stop";
