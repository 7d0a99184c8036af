//! The session flags shared by the transfer commands (`download`, `magnet`, `stream`, `seed`,
//! `resume`, `daemon start`): network, discovery, tuning and rate limits; re-exported by `args`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::peer_addr::PeerArg;

/// Session settings shared by `download`, `magnet` and `seed`; mapped onto `SessionOptions` in
/// `options.rs`.
#[derive(Debug, Default, Args)]
pub struct EngineArgs {
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub discovery: DiscoveryArgs,
    #[command(flatten)]
    pub tuning: TuningArgs,
    #[command(flatten)]
    pub limits: LimitsArgs,
}

/// Session-wide rate limits (config `[limits]`; per-torrent and per-peer limits are in the
/// config file).
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Rate limits")]
pub struct LimitsArgs {
    /// Download rate of the whole session in KiB/s, protocol overhead included (0 = unlimited).
    #[arg(long, value_name = "KIB")]
    pub down_limit: Option<u64>,
    /// Upload rate of the whole session in KiB/s, protocol overhead included (0 = unlimited).
    #[arg(long, value_name = "KIB")]
    pub up_limit: Option<u64>,
}

/// Ports and peers.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Network")]
pub struct NetworkArgs {
    /// Connect to this peer right away (IP:PORT, [IPv6]:PORT or HOST:PORT); repeat for more peers.
    #[arg(long = "peer", value_name = "HOST:PORT")]
    pub peers: Vec<PeerArg>,
    /// TCP port for incoming peers. Named explicitly, it must be free; without this flag ccbt
    /// tries 6881 and the following ports. 0 lets the system pick a free port.
    #[arg(long, value_name = "N")]
    pub listen_port: Option<u16>,
    /// UDP port of the DHT node. Named explicitly, it must be free; without this flag ccbt
    /// tries 6881 and the following ports.
    #[arg(long, value_name = "N")]
    pub dht_port: Option<u16>,
}

/// Where peers come from.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Peer discovery")]
pub struct DiscoveryArgs {
    /// Do not announce to the torrent's HTTP and UDP trackers.
    #[arg(long)]
    pub no_trackers: bool,
    /// Do not use the DHT (trackerless peer discovery). Private torrents never use it.
    #[arg(long)]
    pub no_dht: bool,
    /// DHT node to bootstrap from when the saved routing table is empty (HOST:PORT); repeat for
    /// more. Replaces the default public routers.
    #[arg(long = "dht-bootstrap", value_name = "HOST:PORT")]
    pub dht_bootstrap: Vec<String>,
    /// Do not exchange peers with peers (PEX). Private torrents never do.
    #[arg(long)]
    pub no_pex: bool,
    /// Folder for state kept across runs: the DHT routing table and the .torrent files of magnet
    /// downloads [default: $XDG_STATE_HOME/ccbt or ~/.local/state/ccbt].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Performance knobs.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Tuning")]
pub struct TuningArgs {
    /// Block requests kept outstanding per peer at the start (the pipeline grows on fast peers).
    #[arg(long, value_name = "N")]
    pub pipeline_depth: Option<u32>,
    /// Order in which pieces are downloaded: rarest_first (the default; keeps the swarm
    /// healthy), sequential (file order, to watch media while it downloads) or round_robin.
    #[arg(long, value_enum, value_name = "STRATEGY", hide_possible_values = true)]
    pub piece_selection: Option<PieceSelectionArg>,
    /// Threads that hash and write pieces [default: number of CPUs, at most 4].
    #[arg(long, value_name = "N")]
    pub hash_workers: Option<usize>,
    /// How files are sized when created: none (grow as written), sparse (the default: final
    /// size, no blocks reserved) or full (reserve disk space up front so a full disk shows at once).
    #[arg(long, value_enum, value_name = "MODE", hide_possible_values = true)]
    pub preallocate: Option<PreallocateArg>,
    /// Hash checks copy files with plain reads instead of reading them in place through
    /// memory maps (uploads, and the second of two pieces checked together, always use plain
    /// reads).
    #[arg(long)]
    pub no_mmap: bool,
    /// Peers we upload to at the same time (0 = unlimited).
    #[arg(long, value_name = "N")]
    pub max_upload_slots: Option<usize>,
}

/// `--piece-selection` values (the config file's spelling). No doc comments on the values:
/// they would turn `--help` into clap's long, spaced-out format; the flag's help explains them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PieceSelectionArg {
    #[value(name = "rarest_first", alias = "rarest-first")]
    RarestFirst,
    #[value(name = "sequential")]
    Sequential,
    #[value(name = "round_robin", alias = "round-robin")]
    RoundRobin,
}

/// `--preallocate` values (explained in the flag's help, as above).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PreallocateArg {
    None,
    Sparse,
    Full,
}
