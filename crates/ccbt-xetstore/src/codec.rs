//! Byte layouts of the index's values (pure). Integers are big-endian, as on the wire.
//!
//! - chunk id → locations: n × (kind u8: 1 file, 2 pack; file or pack id u64, offset u64, len
//!   u32), 21 B each, oldest first, at most `cap` of them.
//! - file id → record: size u64, mtime seconds i64, mtime nanoseconds u32, xet root [32], then
//!   the absolute path's bytes.
//! - xet root → manifest: n × (chunk id [32], len u32), the `xet layers` / MANIFEST form.

use ccbt_xet::{ChunkId, ChunkRef};

/// What holds a chunk's bytes: an indexed payload file or a pack of retired chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Holder {
    File(u64),
    Pack(u64),
}

/// One place a chunk's bytes are: `len` bytes at `offset` of a file or pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawLocation {
    pub holder: Holder,
    pub offset: u64,
    pub len: u32,
}

impl RawLocation {
    /// The payload file holding it, None for a pack.
    pub fn file(&self) -> Option<u64> {
        match self.holder {
            Holder::File(id) => Some(id),
            Holder::Pack(_) => None,
        }
    }
}

const KIND_FILE: u8 = 1;
const KIND_PACK: u8 = 2;
const PACK_ENTRY: usize = 32 + 8 + 4;
const LOCATION_BYTES: usize = 21;
const MANIFEST_ENTRY: usize = 36;
const FILE_HEADER: usize = 8 + 8 + 4 + 32;

/// Why a stored value could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

pub fn encode_locations(locations: &[RawLocation]) -> Vec<u8> {
    let mut out = Vec::with_capacity(locations.len() * LOCATION_BYTES);
    for l in locations {
        let (kind, id) = match l.holder {
            Holder::File(id) => (KIND_FILE, id),
            Holder::Pack(id) => (KIND_PACK, id),
        };
        out.push(kind);
        out.extend_from_slice(&id.to_be_bytes());
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
            let id = be_u64(&b[1..9]);
            let holder = match b[0] {
                KIND_FILE => Holder::File(id),
                KIND_PACK => Holder::Pack(id),
                other => return Err(DecodeError(format!("unknown location kind {other}"))),
            };
            Ok(RawLocation { holder, offset: be_u64(&b[9..17]), len: be_u32(&b[17..21]) })
        })
        .collect()
}

/// Adds `new` to a list (one location per file or pack: the first occurrence of a chunk in a
/// file is enough), dropping the oldest beyond `cap` so locations of recently indexed files win.
pub fn add_location(list: &mut Vec<RawLocation>, new: RawLocation, cap: usize) -> bool {
    if list.iter().any(|l| l.holder == new.holder) {
        return false;
    }
    list.push(new);
    if list.len() > cap.max(1) {
        let excess = list.len() - cap.max(1);
        list.drain(..excess);
    }
    true
}

/// Removes every location in `holder`; true when something was removed.
pub fn remove_holder(list: &mut Vec<RawLocation>, holder: Holder) -> bool {
    let before = list.len();
    list.retain(|l| l.holder != holder);
    list.len() != before
}

/// One chunk in a pack: its id, where its bytes start in the pack file, its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackEntry {
    pub id: ChunkId,
    pub offset: u64,
    pub len: u32,
}

/// A pack's table of contents: n × (chunk id 32 B, offset u64, len u32).
pub fn encode_pack(entries: &[PackEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * PACK_ENTRY);
    for e in entries {
        out.extend_from_slice(&e.id);
        out.extend_from_slice(&e.offset.to_be_bytes());
        out.extend_from_slice(&e.len.to_be_bytes());
    }
    out
}

/// Entries in an encoded pack table, without decoding it.
pub fn pack_len(bytes: &[u8]) -> usize {
    bytes.len() / PACK_ENTRY
}

pub fn decode_pack(bytes: &[u8]) -> Result<Vec<PackEntry>, DecodeError> {
    if bytes.len() % PACK_ENTRY != 0 {
        return Err(DecodeError(format!("a pack table of {} bytes", bytes.len())));
    }
    Ok(bytes
        .chunks_exact(PACK_ENTRY)
        .map(|b| {
            let mut id = [0; 32];
            id.copy_from_slice(&b[..32]);
            PackEntry { id, offset: be_u64(&b[32..40]), len: be_u32(&b[40..44]) }
        })
        .collect())
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
        RawLocation { holder: Holder::File(file), offset: file * 100, len: 7 }
    }

    #[test]
    fn locations_round_trip_and_reject_garbage() {
        let pack = RawLocation { holder: Holder::Pack(u64::MAX), offset: u64::MAX - 1, len: u32::MAX };
        let list = vec![loc(1), pack];
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
        assert!(remove_holder(&mut list, Holder::File(2)));
        assert!(!remove_holder(&mut list, Holder::File(2)));
        assert_eq!(list, vec![loc(3)]);
        // A pack and a file may share an id: they are different holders.
        assert!(add_location(&mut list, RawLocation { holder: Holder::Pack(3), ..loc(3) }, 4));
        assert!(remove_holder(&mut list, Holder::File(3)));
        assert_eq!(list.len(), 1);
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

    #[test]
    fn pack_tables_round_trip() {
        let entries =
            vec![PackEntry { id: [4; 32], offset: 8, len: 9 }, PackEntry { id: [5; 32], offset: 25, len: 1 }];
        let bytes = encode_pack(&entries);
        assert_eq!(bytes.len(), 88);
        assert_eq!(decode_pack(&bytes).unwrap(), entries);
        assert!(decode_pack(&bytes[..87]).is_err());
    }
}
