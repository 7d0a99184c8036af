//! The hashes the fetched info dictionary must match: the SHA-1 of a v1 torrent, the SHA-256 of
//! a v2 one (BEP 52), both for a hybrid whose magnet names both.

use ccbt_core::{InfoHash, InfoHashV2};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// What a magnet promises about its metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetadataTarget {
    /// Metadata whose SHA-1 is this (a v1 magnet, `xt=urn:btih:`).
    V1(InfoHash),
    /// Metadata whose SHA-256 is this (a v2 magnet, `xt=urn:btmh:`).
    V2(InfoHashV2),
    /// Metadata that must match both (a hybrid magnet naming both): a peer cannot pass off a
    /// dictionary that agrees with only one of them.
    Hybrid(InfoHash, InfoHashV2),
    /// Metadata whose SHA-1 is this, or whose SHA-256 begins with it: a 20-byte id learnt
    /// without its kind (a BEP 46 `ih` names a v1 torrent or truncates a v2 one). Forging
    /// either takes a 160-bit preimage.
    AnyVersion(InfoHash),
}

impl MetadataTarget {
    /// From the optional hashes of a magnet (`Magnet::info_hash_v1()`, `Magnet::info_hash_v2`);
    /// `None` if both are absent.
    pub fn from_hashes(v1: Option<InfoHash>, v2: Option<InfoHashV2>) -> Option<MetadataTarget> {
        match (v1, v2) {
            (Some(v1), Some(v2)) => Some(MetadataTarget::Hybrid(v1, v2)),
            (Some(v1), None) => Some(MetadataTarget::V1(v1)),
            (None, Some(v2)) => Some(MetadataTarget::V2(v2)),
            (None, None) => None,
        }
    }

    /// The v1 info hash the metadata must match, if any.
    pub fn v1(&self) -> Option<InfoHash> {
        match *self {
            MetadataTarget::V1(v1) | MetadataTarget::Hybrid(v1, _) => Some(v1),
            MetadataTarget::V2(_) | MetadataTarget::AnyVersion(_) => None,
        }
    }

    /// The v2 info hash the metadata must match, if any.
    pub fn v2(&self) -> Option<InfoHashV2> {
        match *self {
            MetadataTarget::V2(v2) | MetadataTarget::Hybrid(_, v2) => Some(v2),
            MetadataTarget::V1(_) | MetadataTarget::AnyVersion(_) => None,
        }
    }

    /// The 20-byte id the torrent goes by on the wire: the v1 hash, else the truncated v2 one.
    pub fn wire_id(&self) -> InfoHash {
        match *self {
            MetadataTarget::V1(v1) | MetadataTarget::Hybrid(v1, _) | MetadataTarget::AnyVersion(v1) => v1,
            MetadataTarget::V2(v2) => v2.truncated(),
        }
    }

    /// Whether `metadata` hashes to every hash of the target.
    pub fn matches(&self, metadata: &[u8]) -> bool {
        if let MetadataTarget::AnyVersion(id) = self {
            let sha1: [u8; 20] = Sha1::digest(metadata).into();
            return sha1 == id.0 || Sha256::digest(metadata)[..20] == id.0;
        }
        let v1_ok = self.v1().map_or(true, |h| <[u8; 20]>::from(Sha1::digest(metadata)) == h.0);
        let v2_ok = self.v2().map_or(true, |h| <[u8; 32]>::from(Sha256::digest(metadata)) == h.0);
        v1_ok && v2_ok
    }
}

impl From<InfoHash> for MetadataTarget {
    fn from(info_hash: InfoHash) -> MetadataTarget {
        MetadataTarget::V1(info_hash)
    }
}

impl From<InfoHashV2> for MetadataTarget {
    fn from(info_hash_v2: InfoHashV2) -> MetadataTarget {
        MetadataTarget::V2(info_hash_v2)
    }
}
