//! Arguments of `ccbt xet ...`: the Xet extension's commands (`hash` in `commands/xet_hash.rs`,
//! the local chunk store's in `commands/xet_store.rs`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `ccbt xet` subcommands.
#[derive(Debug, Subcommand)]
pub enum XetCommand {
    /// Print a file's Xet hash (the same as Hugging Face's xet-core), and with --chunks its chunks.
    #[command(after_help = XET_HASH_HELP)]
    Hash(XetHashArgs),
    /// Whether Xet is on, where the chunk store is, and how many chunks and files it indexes.
    Status,
    /// Dedup figures: bytes held once against bytes referenced by the indexed files, per xet root.
    Stats,
    /// The chunk store's disk use against its cap (`xet_cache_size_mib`).
    CacheInfo,
    /// Drop index entries of files that changed or vanished, then keep the index under its cap.
    Cleanup(XetCleanupArgs),
}

/// Arguments of `ccbt xet hash`.
#[derive(Debug, Args)]
pub struct XetHashArgs {
    /// The file to hash (read in order, never held whole in memory).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// After the hash, print one line per chunk: offset, length (decimal) and id (hex).
    #[arg(long)]
    pub chunks: bool,
}

/// `ccbt xet cleanup`.
#[derive(Debug, Args)]
pub struct XetCleanupArgs {
    /// Print what would be removed, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

const XET_HASH_HELP: &str = "\
Output: the first line is the file's Xet hash, 64 hex digits of its 32 bytes in order (not
xet-core's word-swapped `hex()` form). With --chunks, one line per chunk follows:
`OFFSET LENGTH ID`, chunks cut by Xet's content-defined chunker (8 to 128 KiB, 64 KiB on
average), ID the chunk's keyed BLAKE3 hash in hex.

Example:
  ccbt xet hash model.safetensors --chunks";

pub const XET_HELP: &str = "\
`hash` reads only the file named. The other commands read the chunk store: an index of where
each Xet chunk's bytes are on this machine (payload files stay where their torrents put them),
in `xet_store_dir`, else `xet` under `state_dir` (~/.local/state/ccbt/xet). They fail while a
running daemon or session holds it. `cleanup` never deletes payload files: it only forgets them.";
