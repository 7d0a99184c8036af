//! Reading chunk bytes back from indexed payload files, trusting nothing: the file must still
//! have the size and mtime it had when indexed, and the bytes read must hash to the chunk id.

use std::collections::{BTreeSet, HashMap};
use std::fs::{File, Metadata};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use ccbt_xet::{chunk_id, ChunkId};

use crate::codec::{FileRecord, RawLocation};

/// A file's identity for stale detection: size and modification time (seconds, nanoseconds).
pub(crate) type Stamp = (u64, (i64, u32));

pub(crate) fn stamp(meta: &Metadata) -> Stamp {
    (meta.len(), (meta.mtime(), u32::try_from(meta.mtime_nsec()).unwrap_or(0)))
}

/// Source files opened during one read or fill, and the ones found stale.
pub(crate) struct Sources {
    open: HashMap<u64, File>,
    pub stale: BTreeSet<u64>,
}

/// Open files kept at once; beyond it the cache starts over (a fill touches few files).
const MAX_OPEN: usize = 64;

impl Sources {
    pub fn new() -> Self {
        Sources { open: HashMap::new(), stale: BTreeSet::new() }
    }

    /// A descriptor of its own for source `file`, if it is open (None if `dup` fails).
    pub fn clone_handle(&self, file: u64) -> Option<File> {
        self.open.get(&file).and_then(|f| f.try_clone().ok())
    }

    /// Reads the chunk at `loc` into `buf` (resized to its length) and checks it is `id`. False
    /// when the file is gone, changed, short or holds other bytes: the file is then stale.
    pub fn read(
        &mut self,
        loc: &RawLocation,
        id: &ChunkId,
        record: impl FnOnce() -> Option<FileRecord>,
        buf: &mut Vec<u8>,
    ) -> bool {
        if self.stale.contains(&loc.file) {
            return false;
        }
        if !self.open.contains_key(&loc.file) {
            match record().and_then(|r| open_fresh(&r)) {
                Some(file) => {
                    if self.open.len() >= MAX_OPEN {
                        self.open.clear();
                    }
                    self.open.insert(loc.file, file);
                }
                None => {
                    self.stale.insert(loc.file);
                    return false;
                }
            }
        }
        buf.resize(loc.len as usize, 0);
        let ok = self.open.get(&loc.file).is_some_and(|file| file.read_exact_at(buf, loc.offset).is_ok())
            && chunk_id(buf) == *id;
        if !ok {
            self.open.remove(&loc.file);
            self.stale.insert(loc.file);
        }
        ok
    }
}

/// The file of `record` if it still has the size and mtime it was indexed with (checked on the
/// open descriptor, so a rename in between cannot slip another file in).
fn open_fresh(record: &FileRecord) -> Option<File> {
    let file = File::open(record_path(record)).ok()?;
    let meta = file.metadata().ok()?;
    (meta.is_file() && stamp(&meta) == (record.size, record.mtime)).then_some(file)
}

/// Why an indexed file can no longer be used, or None when it still can.
pub(crate) fn staleness(record: &FileRecord) -> Option<&'static str> {
    match std::fs::metadata(record_path(record)) {
        Err(_) => Some("gone"),
        Ok(meta) if !meta.is_file() => Some("not a file"),
        Ok(meta) if meta.len() != record.size => Some("size changed"),
        Ok(meta) if stamp(&meta) != (record.size, record.mtime) => Some("modified"),
        Ok(_) => None,
    }
}

pub(crate) fn record_path(record: &FileRecord) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(&record.path))
}

pub(crate) fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}
