//! Reading chunk bytes back from indexed payload files, trusting nothing: the file must still
//! have the size and mtime it had when indexed, and the bytes read must hash to the chunk id.

use std::collections::{BTreeSet, HashMap};
use std::fs::{File, Metadata};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use ccbt_xet::{chunk_id, ChunkId};

use crate::codec::{FileRecord, Holder, RawLocation};

/// A file's identity for stale detection: size and modification time (seconds, nanoseconds).
pub(crate) type Stamp = (u64, (i64, u32));

pub(crate) fn stamp(meta: &Metadata) -> Stamp {
    (meta.len(), (meta.mtime(), u32::try_from(meta.mtime_nsec()).unwrap_or(0)))
}

/// Source files and packs opened during one read or fill, and the ones found stale.
pub(crate) struct Sources {
    packs_dir: PathBuf,
    open: HashMap<Holder, File>,
    pub stale: BTreeSet<Holder>,
}

/// Open files kept at once; beyond it the cache starts over (a fill touches few files).
const MAX_OPEN: usize = 64;

impl Sources {
    /// Sources of the store whose packs are in `packs_dir`.
    pub fn new(packs_dir: &Path) -> Self {
        Sources { packs_dir: packs_dir.into(), open: HashMap::new(), stale: BTreeSet::new() }
    }

    /// A descriptor of its own for `holder`, if it is open (None if `dup` fails).
    pub fn clone_handle(&self, holder: Holder) -> Option<File> {
        self.open.get(&holder).and_then(|f| f.try_clone().ok())
    }

    /// Reads the chunk at `loc` into `buf` (resized to its length) and checks it is `id`. False
    /// when the file is gone, changed, short or holds other bytes: the file is then stale.
    /// `record` gives a payload file's record; a pack is opened by its id (packs only grow,
    /// so they have no size or mtime to check: the chunk id check is what counts).
    pub fn read(
        &mut self,
        loc: &RawLocation,
        id: &ChunkId,
        record: impl FnOnce() -> Option<FileRecord>,
        buf: &mut Vec<u8>,
    ) -> bool {
        let holder = loc.holder;
        if self.stale.contains(&holder) {
            return false;
        }
        if !self.open.contains_key(&holder) {
            let file = match holder {
                Holder::File(_) => record().and_then(|r| open_fresh(&r)),
                Holder::Pack(id) => File::open(crate::pack::pack_path(&self.packs_dir, id)).ok(),
            };
            match file {
                Some(file) => {
                    if self.open.len() >= MAX_OPEN {
                        self.open.clear();
                    }
                    self.open.insert(holder, file);
                }
                None => {
                    self.stale.insert(holder);
                    return false;
                }
            }
        }
        buf.resize(loc.len as usize, 0);
        let ok = self.open.get(&holder).is_some_and(|file| file.read_exact_at(buf, loc.offset).is_ok())
            && chunk_id(buf) == *id;
        if !ok {
            self.open.remove(&holder);
            self.stale.insert(holder);
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
