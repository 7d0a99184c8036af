//! Arguments of `ccbt xet ...`: the Xet extension's commands (`hash` in `commands/xet_hash.rs`,
//! the local chunk store's in `commands/xet_store.rs`), and the Xet and BEP 38 flags of
//! `ccbt create` (flattened into `CreateArgs`).

use std::path::PathBuf;

use ccbt_core::InfoHashV2;
use ccbt_metainfo::SimilarHash;
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
in `xet_store_dir`, else `xet` under `state_dir` (~/.local/state/ccbt/xet). While a daemon runs
on the state folder, `status`, `stats` and `cleanup` go through its API (it holds the store);
they fail while a foreground session holds it. `cleanup` never deletes payload files: it only
forgets them.";

/// `ccbt create --xet`, `--xet-prev`, `--similar`, `--collection`.
#[derive(Debug, Default, Args)]
pub struct XetCreateArgs {
    /// Add Xet metadata (docs/xet.md): each file is cut into content-defined chunks, and the
    /// torrent carries every file's xet root (in the info dictionary) and chunk list (`xet
    /// layers`), so later versions of the content can be fetched chunk by chunk. Makes a v2
    /// torrent, or a hybrid with --hybrid; plain v2 clients use it as any v2 torrent.
    #[arg(long)]
    pub xet: bool,
    /// With --xet: the v2 info hash (64 hex digits) of the previous version of this content,
    /// stored as `info.xet.prev`.
    #[arg(long, value_name = "INFOHASH_V2", requires = "xet", value_parser = parse_v2_hash)]
    pub xet_prev: Option<InfoHashV2>,
    /// BEP 38: the info hash (40 or 64 hex digits) of a torrent sharing content with this one,
    /// e.g. its previous version; repeatable. Stored in the info dictionary.
    #[arg(long = "similar", value_name = "INFOHASH", value_parser = parse_similar)]
    pub similar: Vec<SimilarHash>,
    /// BEP 38: the name of a collection this torrent belongs to; repeatable. Stored in the info
    /// dictionary.
    #[arg(long = "collection", value_name = "NAME", value_parser = parse_collection)]
    pub collections: Vec<String>,
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.is_ascii() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

fn parse_similar(s: &str) -> Result<SimilarHash, String> {
    hex_bytes(s.trim())
        .and_then(|b| SimilarHash::from_bytes(&b))
        .ok_or_else(|| format!("`{s}` is not an info hash (40 or 64 hex digits)"))
}

fn parse_v2_hash(s: &str) -> Result<InfoHashV2, String> {
    match parse_similar(s) {
        Ok(SimilarHash::V2(h)) => Ok(h),
        _ => Err(format!("`{s}` is not a v2 info hash (64 hex digits)")),
    }
}

fn parse_collection(s: &str) -> Result<String, String> {
    match s.trim() {
        "" => Err("a collection name cannot be empty".into()),
        name => Ok(name.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_parse_in_hex() {
        assert_eq!(parse_similar(&"ab".repeat(20)), Ok(SimilarHash::V1(ccbt_core::InfoHash([0xab; 20]))));
        assert_eq!(parse_similar(&"AB".repeat(32)), Ok(SimilarHash::V2(InfoHashV2([0xab; 32]))));
        assert!(parse_similar(&"ab".repeat(21)).unwrap_err().contains("40 or 64 hex digits"));
        assert!(parse_similar(&"zz".repeat(20)).is_err());
        assert!(parse_similar("é").is_err());
        assert!(parse_v2_hash(&"ab".repeat(20)).unwrap_err().contains("64 hex digits"));
        assert_eq!(parse_collection(" org/set "), Ok("org/set".into()));
        assert!(parse_collection(" ").is_err());
    }
}
