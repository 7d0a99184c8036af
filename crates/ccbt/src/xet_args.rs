//! Arguments of `ccbt xet ...`: the Xet extension's commands (the local chunk store's are in
//! `commands/xet_store.rs`).

use clap::{Args, Subcommand};

/// `ccbt xet` subcommands.
#[derive(Debug, Subcommand)]
pub enum XetCommand {
    /// Whether Xet is on, where the chunk store is, and how many chunks and files it indexes.
    Status,
    /// Dedup figures: bytes held once against bytes referenced by the indexed files, per xet root.
    Stats,
    /// The chunk store's disk use against its cap (`xet_cache_size_mib`).
    CacheInfo,
    /// Drop index entries of files that changed or vanished, then keep the index under its cap.
    Cleanup(XetCleanupArgs),
}

/// `ccbt xet cleanup`.
#[derive(Debug, Args)]
pub struct XetCleanupArgs {
    /// Print what would be removed, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub const XET_HELP: &str = "\
The chunk store is an index of where each Xet chunk's bytes are on this machine (payload files
stay where their torrents put them): `xet_store_dir`, else `xet` under `state_dir`
(~/.local/state/ccbt/xet). These commands read it directly; they fail while a running daemon or
session holds it. `cleanup` never deletes payload files: it only forgets them.";
