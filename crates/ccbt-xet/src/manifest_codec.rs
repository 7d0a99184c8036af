//! Byte forms of a manifest: the `.xm` file (`XETM` header, then the entries) and the bare entry
//! list of `.torrent` `xet layers` and MANIFEST messages. Entries are `id[32] ‖ len u32 BE`.
//!
//! Decoding is strict, since the bytes come from disk or from peers: every length is checked
//! against the input before anything is allocated, so hostile bytes cost at most their own size.

use crate::consts::MAX_CHUNK_SIZE;
use crate::hash::{ChunkId, ChunkRef};
use crate::manifest::{Manifest, MAX_MANIFEST_CHUNKS};

/// The first bytes of a `.xm` manifest file.
pub const MANIFEST_MAGIC: [u8; 4] = *b"XETM";
/// The `.xm` format version this crate reads and writes.
pub const MANIFEST_VERSION: u8 = 1;
/// Bytes of one entry: chunk id and length.
pub const ENTRY_LEN: usize = 36;
/// Bytes of the `.xm` header: magic, version, file size u64, chunk count u32.
pub const HEADER_LEN: usize = 4 + 1 + 8 + 4;

/// Why bytes are not a valid manifest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("not a Xet manifest: it starts with {found:02x?}, not \"XETM\"")]
    BadMagic { found: [u8; 4] },
    #[error("Xet manifest version {0} is not supported (only {MANIFEST_VERSION})")]
    UnsupportedVersion(u8),
    #[error("Xet manifest truncated: its {what} needs {needed} bytes, only {available} are there")]
    Truncated { what: &'static str, needed: u64, available: usize },
    #[error("{extra} unexpected bytes after the Xet manifest's last chunk")]
    TrailingBytes { extra: usize },
    #[error("Xet manifest lists {count} chunks, more than the {max} allowed")]
    TooManyChunks { count: u64, max: usize },
    #[error(
        "chunk {index} of the Xet manifest is {len} bytes long (chunks are 1 to {MAX_CHUNK_SIZE} bytes)"
    )]
    ChunkLength { index: usize, len: u32 },
    #[error("Xet manifest says the file has {declared} bytes but its chunks add up to {actual}")]
    SizeMismatch { declared: u64, actual: u64 },
    #[error("Xet chunk list of {len} bytes is not a whole number of {ENTRY_LEN}-byte entries")]
    EntryListLength { len: usize },
}

/// Appends the entries `id ‖ len u32 BE` of `chunks` to `out`.
pub fn encode_entries(chunks: &[ChunkRef], out: &mut Vec<u8>) {
    out.reserve(chunks.len() * ENTRY_LEN);
    for chunk in chunks {
        out.extend_from_slice(&chunk.id);
        out.extend_from_slice(&chunk.len.to_be_bytes());
    }
}

/// Reads a bare entry list (a `.torrent` `xet layers` value, a MANIFEST message's entries):
/// a whole number of entries, at most [`MAX_MANIFEST_CHUNKS`], each 1..=128 KiB long.
pub fn decode_entries(bytes: &[u8]) -> Result<Vec<ChunkRef>, ManifestError> {
    if bytes.len() % ENTRY_LEN != 0 {
        return Err(ManifestError::EntryListLength { len: bytes.len() });
    }
    let count = bytes.len() / ENTRY_LEN;
    if count > MAX_MANIFEST_CHUNKS {
        return Err(ManifestError::TooManyChunks { count: count as u64, max: MAX_MANIFEST_CHUNKS });
    }
    raw_entries(bytes)
        .enumerate()
        .map(|(index, chunk)| match chunk.len {
            0 => Err(ManifestError::ChunkLength { index, len: 0 }),
            len if len as usize > MAX_CHUNK_SIZE => Err(ManifestError::ChunkLength { index, len }),
            _ => Ok(chunk),
        })
        .collect()
}

/// The entries `id[32] ‖ len u32 BE` of `bytes` as they are, unchecked (a trailing partial
/// entry is left out): the one reader under every decoder of entry lists, which add their own
/// checks.
pub fn raw_entries(bytes: &[u8]) -> impl ExactSizeIterator<Item = ChunkRef> + '_ {
    bytes.chunks_exact(ENTRY_LEN).map(|entry| {
        let id: ChunkId = entry[..32].try_into().expect("32 bytes");
        ChunkRef { id, len: u32::from_be_bytes(entry[32..].try_into().expect("4 bytes")) }
    })
}

impl Manifest {
    /// The `.torrent` `xet layers` value: the entries, concatenated.
    pub fn to_layer(&self) -> Vec<u8> {
        let mut out = Vec::new();
        encode_entries(self.chunks(), &mut out);
        out
    }

    /// A manifest from a `.torrent` `xet layers` value (check [`Manifest::root`] against the
    /// root the info dict names before using it).
    pub fn from_layer(bytes: &[u8]) -> Result<Self, ManifestError> {
        Manifest::new(decode_entries(bytes)?)
    }

    /// The `.xm` file: `XETM`, version u8, file size u64 BE, chunk count u32 BE, the entries.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.len() * ENTRY_LEN);
        out.extend_from_slice(&MANIFEST_MAGIC);
        out.push(MANIFEST_VERSION);
        out.extend_from_slice(&self.file_size().to_be_bytes());
        let count = u32::try_from(self.len()).expect("at most MAX_MANIFEST_CHUNKS chunks");
        out.extend_from_slice(&count.to_be_bytes());
        encode_entries(self.chunks(), &mut out);
        out
    }

    /// Reads a `.xm` file, refusing anything but exactly one well-formed manifest.
    pub fn decode(bytes: &[u8]) -> Result<Self, ManifestError> {
        let magic = take(bytes, 0, 4, "magic")?;
        if magic != MANIFEST_MAGIC {
            return Err(ManifestError::BadMagic { found: magic.try_into().expect("4 bytes") });
        }
        let version = take(bytes, 4, 1, "version")?[0];
        if version != MANIFEST_VERSION {
            return Err(ManifestError::UnsupportedVersion(version));
        }
        let declared = u64::from_be_bytes(take(bytes, 5, 8, "file size")?.try_into().expect("8 bytes"));
        let count = u32::from_be_bytes(take(bytes, 13, 4, "chunk count")?.try_into().expect("4 bytes"));
        if count as usize > MAX_MANIFEST_CHUNKS {
            return Err(ManifestError::TooManyChunks { count: u64::from(count), max: MAX_MANIFEST_CHUNKS });
        }
        let body = &bytes[HEADER_LEN..];
        let needed = count as usize * ENTRY_LEN;
        if body.len() < needed {
            return Err(ManifestError::Truncated {
                what: "chunk list",
                needed: needed as u64,
                available: body.len(),
            });
        }
        if body.len() > needed {
            return Err(ManifestError::TrailingBytes { extra: body.len() - needed });
        }
        let manifest = Manifest::new(decode_entries(body)?)?;
        if manifest.file_size() != declared {
            return Err(ManifestError::SizeMismatch { declared, actual: manifest.file_size() });
        }
        Ok(manifest)
    }
}

/// `bytes[at..at + n]`, or the error naming the field that does not fit.
fn take<'a>(bytes: &'a [u8], at: usize, n: usize, what: &'static str) -> Result<&'a [u8], ManifestError> {
    bytes.get(at..at + n).ok_or(ManifestError::Truncated {
        what,
        needed: n as u64,
        available: bytes.len().saturating_sub(at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let chunks =
            (0..5u8).map(|i| ChunkRef { id: [i * 17 + 1; 32], len: 8192 + u32::from(i) * 1000 }).collect();
        Manifest::new(chunks).unwrap()
    }

    #[test]
    fn xm_round_trip_and_layout() {
        let m = sample();
        let bytes = m.encode();
        assert_eq!(bytes.len(), HEADER_LEN + 5 * ENTRY_LEN);
        assert_eq!(&bytes[..5], b"XETM\x01");
        assert_eq!(u64::from_be_bytes(bytes[5..13].try_into().unwrap()), m.file_size());
        assert_eq!(&bytes[13..17], &[0, 0, 0, 5]);
        assert_eq!(&bytes[17..49], &[1; 32]);
        assert_eq!(&bytes[49..53], &8192u32.to_be_bytes());
        assert_eq!(Manifest::decode(&bytes), Ok(m.clone()));
        let empty = Manifest::new(Vec::new()).unwrap();
        assert_eq!(Manifest::decode(&empty.encode()), Ok(empty));
    }

    #[test]
    fn layer_round_trip() {
        let m = sample();
        let layer = m.to_layer();
        assert_eq!(layer, m.encode()[HEADER_LEN..]);
        assert_eq!(Manifest::from_layer(&layer), Ok(m));
        assert_eq!(Manifest::from_layer(&[]).map(|m| m.len()), Ok(0));
    }

    #[test]
    fn hostile_xm_bytes_are_named() {
        let good = sample().encode();
        let mut bad = good.clone();
        bad[0] = b'Y';
        assert_eq!(Manifest::decode(&bad), Err(ManifestError::BadMagic { found: *b"YETM" }));
        let mut bad = good.clone();
        bad[4] = 2;
        assert_eq!(Manifest::decode(&bad), Err(ManifestError::UnsupportedVersion(2)));
        assert_eq!(
            Manifest::decode(b"XE"),
            Err(ManifestError::Truncated { what: "magic", needed: 4, available: 2 })
        );
        assert_eq!(
            Manifest::decode(&good[..10]),
            Err(ManifestError::Truncated { what: "file size", needed: 8, available: 5 })
        );
        assert_eq!(
            Manifest::decode(&good[..16]),
            Err(ManifestError::Truncated { what: "chunk count", needed: 4, available: 3 })
        );
        assert_eq!(
            Manifest::decode(&good[..good.len() - 1]),
            Err(ManifestError::Truncated { what: "chunk list", needed: 180, available: 179 })
        );
        let mut long = good.clone();
        long.push(0);
        assert_eq!(Manifest::decode(&long), Err(ManifestError::TrailingBytes { extra: 1 }));
        let mut bad = good.clone();
        bad[12] ^= 1;
        assert!(matches!(Manifest::decode(&bad), Err(ManifestError::SizeMismatch { .. })));
        let mut bad = good.clone();
        bad[HEADER_LEN + 36 + 32..HEADER_LEN + 72].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(Manifest::decode(&bad), Err(ManifestError::ChunkLength { index: 1, len: 0 }));
        let mut bad = good.clone();
        bad[HEADER_LEN + 32..HEADER_LEN + 36].copy_from_slice(&(131_073u32).to_be_bytes());
        assert_eq!(Manifest::decode(&bad), Err(ManifestError::ChunkLength { index: 0, len: 131_073 }));
    }

    #[test]
    fn a_huge_count_is_refused_before_allocating() {
        let mut header = Vec::from(*b"XETM\x01");
        header.extend_from_slice(&u64::MAX.to_be_bytes());
        header.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            Manifest::decode(&header),
            Err(ManifestError::TooManyChunks { count: u64::from(u32::MAX), max: MAX_MANIFEST_CHUNKS })
        );
        // Within the cap, the count is checked against the bytes actually there.
        header[13..17].copy_from_slice(&1_000_000u32.to_be_bytes());
        assert_eq!(
            Manifest::decode(&header),
            Err(ManifestError::Truncated { what: "chunk list", needed: 36_000_000, available: 0 })
        );
    }

    #[test]
    fn hostile_layers_are_named() {
        assert_eq!(Manifest::from_layer(&[0; 37]), Err(ManifestError::EntryListLength { len: 37 }));
        assert_eq!(Manifest::from_layer(&[0; 36]), Err(ManifestError::ChunkLength { index: 0, len: 0 }));
    }
}
