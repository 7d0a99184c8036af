//! Arguments of the maintenance commands: `checkpoints`, `config`, `scrape` and `dht`
//! (re-exported by `args`, which holds the top-level parser and the transfer commands).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::args::ProgressArgs;

/// `ccbt checkpoints ...`.
#[derive(Debug, Args)]
pub struct CheckpointsArgs {
    /// Folder of the checkpoints [default: `checkpoint_dir` of the configuration, else
    /// `<state_dir>/checkpoints`].
    #[arg(long, global = true, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: CheckpointsCommand,
}

/// The `checkpoints` subcommands.
#[derive(Debug, Subcommand)]
pub enum CheckpointsCommand {
    /// List every checkpoint: info hash, name, progress, state, when saved, format (unreadable
    /// files with their error).
    List,
    /// Remove checkpoints saved more than N days ago (and temporary files left by interrupted writes).
    Clean(CheckpointsCleanArgs),
    /// Delete the checkpoint of a torrent (both formats).
    Delete(CheckpointsTarget),
    /// Re-hash every piece a checkpoint claims against the data on disk (read-only) and report
    /// bad pieces and missing or changed files; exit 1 on any mismatch.
    Verify(CheckpointsVerifyArgs),
    /// Write a checkpoint to a file in JSON or binary.
    Export(CheckpointsExportArgs),
}

/// `checkpoints clean`.
#[derive(Debug, Args)]
pub struct CheckpointsCleanArgs {
    /// Age in days beyond which checkpoints go [default: `checkpoint_retention_days`, 30].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub days: Option<u32>,
    /// Only print what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

/// A checkpoint named by its info hash.
#[derive(Debug, Args)]
pub struct CheckpointsTarget {
    /// Info hash in hex (40 digits), or any unique prefix of it.
    #[arg(value_name = "INFO_HASH")]
    pub info_hash: String,
}

/// `checkpoints verify`.
#[derive(Debug, Args)]
pub struct CheckpointsVerifyArgs {
    #[command(flatten)]
    pub target: CheckpointsTarget,
    /// Threads hashing pieces [default: number of CPUs, at most 4].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub hash_workers: Option<u16>,
    #[command(flatten)]
    pub progress: ProgressArgs,
}

/// `checkpoints export`.
#[derive(Debug, Args)]
pub struct CheckpointsExportArgs {
    #[command(flatten)]
    pub target: CheckpointsTarget,
    /// Encoding of the file written.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: ExportFormat,
    /// The file to write (replaced atomically).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
}

/// Encodings of `checkpoints export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Json,
    Binary,
}

pub(crate) const CONFIG_HELP: &str = "\
Layers, lowest first: defaults < the file (--config FILE, else ./ccbt.toml, else
$XDG_CONFIG_HOME/ccbt/ccbt.toml) < CCBT_* variables (CCBT_ + the key in upper case, and the seeds'
CCBT_MAX_PEERS, CCBT_DOWN_LIMIT, CCBT_UP_LIMIT) < flags. A key is written `listen_port` or
`network.listen_port`. Every key is described in docs/config.md.

Examples:
  ccbt config show --origin                 every value and the layer that set it
  ccbt config get listen_port               7000
  ccbt config set network.listen_port 7000  edit the file, keeping its comments
  ccbt config validate ./ccbt.toml";

/// `ccbt config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as TOML: every key after the file, the CCBT_* variables
    /// and the flags of this command line.
    Show(ConfigShowArgs),
    /// Print the effective value of one key alone, for scripts (`ccbt config get listen_port`).
    Get(ConfigGetArgs),
    /// Set one key in the configuration file, keeping its comments and layout. Writes --config
    /// FILE, else the file ccbt reads now, else $XDG_CONFIG_HOME/ccbt/ccbt.toml (created, with
    /// its folder, when missing; replaced atomically).
    Set(ConfigSetArgs),
    /// Check a configuration file (every problem at once, with its line), or without FILE
    /// everything ccbt would read: the file found and the CCBT_* variables. Exit 1 when invalid.
    Validate(ConfigValidateArgs),
}

/// Arguments of `ccbt config show`.
#[derive(Debug, Args)]
pub struct ConfigShowArgs {
    /// After each value, the layer that set it: default, FILE:LINE, the environment variable, or
    /// command line.
    #[arg(long)]
    pub origin: bool,
    /// Show the effective values (what `show` always prints; accepted for the seeds' spelling).
    #[arg(long)]
    pub effective: bool,
}

/// Arguments of `ccbt config get`.
#[derive(Debug, Args)]
pub struct ConfigGetArgs {
    /// The key, `listen_port` or `network.listen_port`.
    #[arg(value_name = "KEY")]
    pub key: String,
}

/// Arguments of `ccbt config set`.
#[derive(Debug, Args)]
pub struct ConfigSetArgs {
    /// The key, `listen_port` or `network.listen_port`.
    #[arg(value_name = "KEY")]
    pub key: String,
    /// The value as in a CCBT_* variable: `7000`, `false`, `sequential`, `host:1,host:2`.
    #[arg(value_name = "VALUE", allow_hyphen_values = true)]
    pub value: String,
}

/// Arguments of `ccbt config validate`.
#[derive(Debug, Args)]
pub struct ConfigValidateArgs {
    /// The file to check alone over the defaults (no CCBT_* variables).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// Arguments of `ccbt scrape`.
#[derive(Debug, Args)]
pub struct ScrapeArgs {
    /// A .torrent file (its trackers are asked unless --tracker is given) or a 40-hex-digit info hash.
    #[arg(value_name = "FILE.torrent|INFOHASH")]
    pub target: String,
    /// Tracker announce URL to ask (http, https or udp); repeat for more. Required with an info hash.
    #[arg(long = "tracker", value_name = "URL")]
    pub trackers: Vec<String>,
}

/// `ccbt dht ...`.
#[derive(Debug, Subcommand)]
pub enum DhtCommand {
    /// Start a DHT node (from the saved routing table, else the bootstrap routers), wait for it to
    /// join, and print its nodes, buckets and lookups.
    Status(DhtStatusArgs),
}

/// Arguments of `ccbt dht status`.
#[derive(Debug, Args)]
pub struct DhtStatusArgs {
    /// Seconds to let the node join the network before printing.
    #[arg(long, value_name = "SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub wait: u64,
    /// UDP port of the DHT node. Named explicitly, it must be free; without this flag ccbt
    /// tries 6881 and the following ports.
    #[arg(long, value_name = "N")]
    pub dht_port: Option<u16>,
    /// DHT node to bootstrap from (HOST:PORT); repeat for more. Replaces the default public routers.
    #[arg(long = "dht-bootstrap", value_name = "HOST:PORT")]
    pub dht_bootstrap: Vec<String>,
    /// Folder holding the saved routing table [default: $XDG_STATE_HOME/ccbt or ~/.local/state/ccbt].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}
