//! The Xet and BEP 38 flags of `ccbt create` (flattened into `CreateArgs`).

use ccbt_core::InfoHashV2;
use ccbt_metainfo::SimilarHash;
use clap::Args;

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
