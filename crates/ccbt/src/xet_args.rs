//! `ccbt xet ...`: commands of the Xet extension (content-defined chunks and their hashes).

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// The `xet` subcommands (one variant per command; each has its own module under `commands`).
#[derive(Debug, Subcommand)]
pub enum XetCommand {
    /// Print a file's Xet hash (the same as Hugging Face's xet-core), and with --chunks its chunks.
    #[command(after_help = XET_HASH_HELP)]
    Hash(XetHashArgs),
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

const XET_HASH_HELP: &str = "\
Output: the first line is the file's Xet hash, 64 hex digits of its 32 bytes in order (not
xet-core's word-swapped `hex()` form). With --chunks, one line per chunk follows:
`OFFSET LENGTH ID`, chunks cut by Xet's content-defined chunker (8 to 128 KiB, 64 KiB on
average), ID the chunk's keyed BLAKE3 hash in hex.

Example:
  ccbt xet hash model.safetensors --chunks";
