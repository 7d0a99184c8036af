//! Byte layouts of the index's values (pure). Integers are big-endian, as on the wire.
//!
//! - chunk id → locations: n × (kind u8 = 1 "file", file id u64, offset u64, len u32), 21 B each,
//!   oldest first, at most `cap` of them.
//! - file id → record: size u64, mtime seconds i64, mtime nanoseconds u32, xet root [32], then
//!   the absolute path's bytes.
//! - xet root → manifest: n × (chunk id [32], len u32), the `xet layers` / MANIFEST form.

use ccbt_xet::{ChunkId, ChunkRef};

/// One place a chunk's bytes are: `len` bytes at `offset` of an indexed file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawLocation {
    pub file: u64,
    pub offset: u64,
    pub len: u32,
}

const KIND_FILE: u8 = 1;
const LOCATION_BYTES: usize = 21;
const MANIFEST_ENTRY: usize = 36;
const FILE_HEADER: usize = 8 + 8 + 4 + 32;

/// Why a stored value could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

pub fn encode_locations(locations: &[RawLocation]) -> Vec<u8> {
    let mut out = Vec::with_capacity(locations.len() * LOCATION_BYTES);
    for l in locations {
        out.push(KIND_FILE);
        out.extend_from_slice(&l.file.to_be_bytes());
        out.extend_from_slice(&l.offset.to_be_bytes());
        out.extend_from_slice(&l.len.to_be_bytes());
    }
    out
}

pub fn decode_locations(bytes: &[u8]) -> Result<Vec<RawLocation>, DecodeError> {
    if bytes.len() % LOCATION_BYTES != 0 {
        return Err(DecodeError(format!("a location list of {} bytes", bytes.len())));
    }
    bytes
        .chunks_exact(LOCATION_BYTES)
        .map(|b| {
            if b[0] != KIND_FILE {
                return Err(DecodeError(format!("unknown location kind {}", b[0])));
            }
            Ok(RawLocation { file: be_u64(&b[1..9]), offset: be_u64(&b[9..17]), len: be_u32(&b[17..21]) })
        })
        .collect()
}

/// Adds `new` to a list (one location per file: the first occurrence of a chunk in a file is
/// enough), dropping the oldest beyond `cap` so locations of recently indexed files win.
pub fn add_location(list: &mut Vec<RawLocation>, new: RawLocation, cap: usize) -> bool {
    if list.iter().any(|l| l.file == new.file) {
        return false;
    }
    list.push(new);
    if list.len() > cap.max(1) {
        let excess = list.len() - cap.max(1);
        list.drain(..excess);
    }
    true
}

/// Removes every location in `file`; true when something was removed.
pub fn remove_file(list: &mut Vec<RawLocation>, file: u64) -> bool {
    let before = list.len();
    list.retain(|l| l.file != file);
    list.len() != before
}

/// An indexed payload file as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    pub size: u64,
    pub mtime: (i64, u32),
    pub root: ChunkId,
    pub path: Vec<u8>,
}

pub fn encode_file(record: &FileRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(FILE_HEADER + record.path.len());
    out.extend_from_slice(&record.size.to_be_bytes());
    out.extend_from_slice(&record.mtime.0.to_be_bytes());
    out.extend_from_slice(&record.mtime.1.to_be_bytes());
    out.extend_from_slice(&record.root);
    out.extend_from_slice(&record.path);
    out
}

pub fn decode_file(bytes: &[u8]) -> Result<FileRecord, DecodeError> {
    if bytes.len() <= FILE_HEADER {
        return Err(DecodeError(format!("a file record of {} bytes", bytes.len())));
    }
    let mut root = [0; 32];
    root.copy_from_slice(&bytes[20..52]);
    Ok(FileRecord {
        size: be_u64(&bytes[0..8]),
        mtime: (be_u64(&bytes[8..16]) as i64, be_u32(&bytes[16..20])),
        root,
        path: bytes[FILE_HEADER..].to_vec(),
    })
}

pub fn encode_manifest(chunks: &[ChunkRef]) -> Vec<u8> {
    let mut out = Vec::new();
    ccbt_xet::encode_entries(chunks, &mut out);
    out
}

pub fn decode_manifest(bytes: &[u8]) -> Result<Vec<ChunkRef>, DecodeError> {
    if bytes.len() % MANIFEST_ENTRY != 0 {
        return Err(DecodeError(format!("a manifest of {} bytes", bytes.len())));
    }
    Ok(ccbt_xet::raw_entries(bytes).collect())
}

/// Entries in an encoded manifest, without decoding it.
pub fn manifest_len(bytes: &[u8]) -> usize {
    bytes.len() / MANIFEST_ENTRY
}

fn be_u64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b[..8].try_into().unwrap_or([0; 8]))
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().unwrap_or([0; 4]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(file: u64) -> RawLocation {
        RawLocation { file, offset: file * 100, len: 7 }
    }

    #[test]
    fn locations_round_trip_and_reject_garbage() {
        let list = vec![loc(1), RawLocation { file: u64::MAX, offset: u64::MAX - 1, len: u32::MAX }];
        assert_eq!(decode_locations(&encode_locations(&list)).unwrap(), list);
        assert!(decode_locations(&[1; 20]).is_err());
        let mut bad = encode_locations(&list);
        bad[0] = 9;
        assert_eq!(decode_locations(&bad).unwrap_err().0, "unknown location kind 9");
    }

    #[test]
    fn add_keeps_one_per_file_and_the_newest_under_the_cap() {
        let mut list = Vec::new();
        assert!(add_location(&mut list, loc(1), 2));
        assert!(!add_location(&mut list, RawLocation { offset: 5, ..loc(1) }, 2));
        assert!(add_location(&mut list, loc(2), 2));
        assert!(add_location(&mut list, loc(3), 2));
        assert_eq!(list, vec![loc(2), loc(3)]);
        assert!(remove_file(&mut list, 2));
        assert!(!remove_file(&mut list, 2));
        assert_eq!(list, vec![loc(3)]);
    }

    #[test]
    fn file_records_and_manifests_round_trip() {
        let record = FileRecord { size: 9, mtime: (-5, 999_999_999), root: [3; 32], path: b"/a/b".to_vec() };
        assert_eq!(decode_file(&encode_file(&record)).unwrap(), record);
        assert!(decode_file(&encode_file(&record)[..52]).is_err());
        let chunks = vec![ChunkRef { id: [1; 32], len: 8192 }, ChunkRef { id: [2; 32], len: 1 }];
        let bytes = encode_manifest(&chunks);
        assert_eq!(bytes.len(), 72);
        assert_eq!(&bytes[32..36], &[0, 0, 0x20, 0]);
        assert_eq!(manifest_len(&bytes), 2);
        assert_eq!(decode_manifest(&bytes).unwrap(), chunks);
        assert!(decode_manifest(&bytes[..71]).is_err());
    }
}
