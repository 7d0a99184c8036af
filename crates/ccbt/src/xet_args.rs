//! Arguments of `ccbt xet ...`: the Xet extension's commands (`hash` in `commands/xet_hash.rs`,
//! the local chunk store's in `commands/xet_store.rs`), and the Xet and BEP 38 flags of
//! `ccbt create` (flattened into `CreateArgs`).

use std::path::PathBuf;

use ccbt_core::InfoHashV2;
use ccbt_metainfo::{SimilarHash, XetPublisher};
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
    /// Make the next version of a Xet torrent (linked to the old one) and announce it over the
    /// DHT as the publisher's BEP 46 item.
    #[command(after_help = XET_PUBLISH_HELP)]
    Publish(Box<XetPublishArgs>),
    /// Keep a folder at the newest version a publisher announces over the DHT (BEP 46),
    /// fetching only the chunks it lacks.
    #[command(after_help = XET_FOLLOW_HELP)]
    Follow(Box<XetFollowArgs>),
    /// List the follows a running daemon keeps: publisher, folder, version in use and state.
    Follows(XetFollowsArgs),
    /// Stop one of a running daemon's follows; the folder's files and its torrent stay.
    #[command(after_help = XET_UNFOLLOW_HELP)]
    Unfollow(XetUnfollowArgs),
}

/// Arguments of `ccbt xet follows`.
#[derive(Debug, Args)]
pub struct XetFollowsArgs {
    #[command(flatten)]
    pub daemon: crate::daemon_args::StateDirArg,
}

/// Arguments of `ccbt xet unfollow`.
#[derive(Debug, Args)]
pub struct XetUnfollowArgs {
    /// The follow's id, as `ccbt xet follows` lists it.
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub daemon: crate::daemon_args::StateDirArg,
}

/// Arguments of `ccbt xet publish`.
#[derive(Debug, Args)]
pub struct XetPublishArgs {
    /// The torrent of the current version (a v2 or hybrid Xet torrent).
    #[arg(value_name = "OLD.torrent")]
    pub old: PathBuf,
    /// The new version's file or folder. With --seed it must have the dataset's name.
    #[arg(value_name = "NEW_PATH")]
    pub path: PathBuf,
    /// Where to write the new version's .torrent.
    #[arg(short, long, value_name = "NEW.torrent")]
    pub output: PathBuf,
    /// Replace NEW.torrent if it already exists.
    #[arg(long)]
    pub force: bool,
    /// The publisher's ed25519 key file (64 hex digits; created if missing)
    /// [default: xet/publisher.key in the state folder].
    #[arg(long, value_name = "KEYFILE")]
    pub key: Option<PathBuf>,
    /// The dataset's name under the key (BEP 46 salt, at most 64 bytes) [default: OLD's
    /// `info.xet.salt`, else none].
    #[arg(long, value_name = "NAME", value_parser = parse_salt)]
    pub salt: Option<String>,
    /// After publishing, seed NEW_PATH and put the item again every hour until Ctrl-C.
    #[arg(long)]
    pub seed: bool,
    #[command(flatten)]
    pub engine: crate::engine_args::EngineArgs,
    #[command(flatten)]
    pub progress: crate::args::ProgressArgs,
}

/// Arguments of `ccbt xet follow`.
#[derive(Debug, Args)]
pub struct XetFollowArgs {
    /// The current version's .torrent (its `info.xet.pk` and `salt` say whom to follow), or a
    /// BEP 46 link `magnet:?xs=urn:btpk:<key>[&s=<salt hex>]` (the newest version is fetched).
    #[arg(value_name = "OLD.torrent|LINK")]
    pub source: String,
    /// The folder holding (or to hold) the dataset; new versions replace its files.
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Seconds between two looks at the publisher's item.
    #[arg(long, value_name = "N", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub poll_secs: u64,
    #[command(flatten)]
    pub engine: crate::engine_args::EngineArgs,
}

const XET_PUBLISH_HELP: &str = "\
NEW.torrent is made like OLD.torrent (v2 or hybrid, same piece size, name and trackers) with
`info.xet.prev` and BEP 38 `similar` naming OLD's v2 info hash and OLD's collections kept. Then
the publisher's item is read from the DHT and put again with the next sequence number and the
value {\"ih\": <NEW's 20-byte id>}. The key must be the one OLD.torrent names, if it names one.

Example:
  ccbt xet publish v1.torrent ./dataset -o v2.torrent --seed";

const XET_FOLLOW_HELP: &str = "\
First the current version is checked in DIR (and downloaded where missing); then the item is
polled. A newer version downloads into DIR/.ccbt-xet-staging (chunks already on this machine are
copied from the chunk store, with xet_enabled), and once complete its files replace the old ones,
one rename per file. Runs until Ctrl-C.

While a daemon runs on the state folder, the follow is handed to it instead: the command returns
once the daemon accepted it, printing the follow's id; the daemon does all of the above, keeps
the follow across restarts (xet_follows.json in the state folder) and needs xet_enabled and the
DHT. Of the engine flags only --peer applies then (the daemon's session has its own settings).
`ccbt xet follows` shows how it goes, `ccbt xet unfollow ID` stops it.

Example:
  ccbt xet follow v1.torrent -o ./dataset";

const XET_UNFOLLOW_HELP: &str = "\
The daemon stops polling the publisher's item and forgets the follow. The dataset's folder is
left as it is, and the torrent of the version in use keeps seeding from it (remove it with
`ccbt remove` if it should not).";

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
they fail while a foreground session holds it. `follow` is handed to such a daemon too, and
`follows` and `unfollow` need one. `cleanup` never deletes payload files: it only forgets them.";

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
    /// With --xet: embed the public key of this ed25519 key file (64 hex digits, created if
    /// missing) as `info.xet.pk`, so followers of the torrent know whose BEP 46 item announces
    /// its later versions (`ccbt xet publish`, `ccbt xet follow`).
    #[arg(long, value_name = "KEYFILE", requires = "xet")]
    pub xet_key: Option<PathBuf>,
    /// With --xet-key: the name of the dataset under that key (the BEP 46 salt, at most 64
    /// bytes), stored as `info.xet.salt`.
    #[arg(long, value_name = "NAME", requires = "xet_key", value_parser = parse_salt)]
    pub xet_salt: Option<String>,
    /// BEP 38: the info hash (40 or 64 hex digits) of a torrent sharing content with this one,
    /// e.g. its previous version; repeatable. Stored in the info dictionary.
    #[arg(long = "similar", value_name = "INFOHASH", value_parser = parse_similar)]
    pub similar: Vec<SimilarHash>,
    /// BEP 38: the name of a collection this torrent belongs to; repeatable. Stored in the info
    /// dictionary.
    #[arg(long = "collection", value_name = "NAME", value_parser = parse_collection)]
    pub collections: Vec<String>,
}

impl XetCreateArgs {
    /// The publisher `--xet-key` and `--xet-salt` name, the key file created if missing.
    pub fn publisher(&self) -> anyhow::Result<Option<XetPublisher>> {
        let Some(path) = &self.xet_key else { return Ok(None) };
        let key = ccbt_engine::load_or_create_key(path)?;
        let salt = self.xet_salt.clone().unwrap_or_default().into_bytes();
        Ok(Some(XetPublisher { public_key: key.public_key(), salt }))
    }
}

/// A BEP 46 salt given as text: at most 64 bytes of UTF-8.
pub fn parse_salt(s: &str) -> Result<String, String> {
    match s.len() {
        0 => Err("a salt cannot be empty (leave the flag out for none)".into()),
        n if n > ccbt_metainfo::MAX_PUBLISHER_SALT => Err(format!("the salt is {n} bytes; at most 64")),
        _ => Ok(s.to_owned()),
    }
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
