//! The index itself: opening `index.redb`, recording and forgetting files, lookups.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use ccbt_xet::{file_hash, ChunkId, ChunkRef, FileHasher};
use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};

use crate::codec::{self, FileRecord, RawLocation};
use crate::error::{Result, XetStoreError};
use crate::source::{path_bytes, record_path, stamp, Stamp};
use codec::Holder as RawHolder;

pub(crate) const CHUNKS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("chunks");
pub(crate) const FILES: TableDefinition<u64, &[u8]> = TableDefinition::new("files");
pub(crate) const PATHS: TableDefinition<&[u8], u64> = TableDefinition::new("paths");
pub(crate) const ROOTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("roots");
pub(crate) const ROOT_REFS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("root_refs");
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Layout version of the tables, refused when newer than this code. 2 added packs (location
/// kind 2 and the `packs` table); a layout-1 index is a valid layout-2 index and is relabelled.
const FORMAT: u64 = 2;
/// redb's magic number: a file without it would be silently re-initialised by redb.
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// How the store is opened.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Memory redb may use to cache index pages (the index itself stays on disk).
    pub cache_bytes: usize,
    /// Locations remembered per chunk id (the most recently indexed files win).
    pub max_locations: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { cache_bytes: 16 * 1024 * 1024, max_locations: 4 }
    }
}

/// Identifies an indexed payload file (grows with time: a smaller id was indexed earlier).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u64);

/// What holds a chunk's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Holder {
    /// An indexed payload file.
    File(FileId),
    /// A pack of retired chunks (its number).
    Pack(u64),
}

/// Where a chunk's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub holder: Holder,
    /// The payload file or pack (absolute).
    pub path: PathBuf,
    pub offset: u64,
    pub len: u32,
}

/// The result of indexing one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedFile {
    pub id: FileId,
    pub path: PathBuf,
    pub root: ChunkId,
    pub size: u64,
    pub chunks: usize,
}

/// The local chunk store: an index (chunk id → where the bytes are) in `<dir>/index.redb`.
/// Methods take `&self` and may be called from several threads (redb serialises writers).
pub struct XetStore {
    pub(crate) dir: PathBuf,
    pub(crate) index: PathBuf,
    pub(crate) db: Database,
    pub(crate) options: StoreOptions,
    /// Set once redb failed on a damaged file: every later call reports the damage.
    broken: AtomicBool,
    /// Held while appending to a pack, so two retirements never write the same bytes.
    pub(crate) pack_lock: std::sync::Mutex<()>,
}

impl XetStore {
    /// The index file of a store folder.
    pub fn index_file_path(dir: &Path) -> PathBuf {
        dir.join("index.redb")
    }

    /// Opens (creating when absent) the store in `dir`. A damaged index is an error
    /// ([`XetStoreError::Corrupt`]), never a panic; an index held by another process is
    /// [`XetStoreError::InUse`].
    pub fn open(dir: &Path, options: StoreOptions) -> Result<XetStore> {
        std::fs::create_dir_all(dir).map_err(|source| XetStoreError::Io {
            what: "cannot create the store folder",
            path: dir.into(),
            source,
        })?;
        let index = Self::index_file_path(dir);
        check_magic(&index)?;
        let mut builder = Database::builder();
        builder.set_cache_size(options.cache_bytes);
        // redb 1.5 asserts on some damaged files (a truncated one): contain it as an error.
        let db = match crate::contain::contain(|| builder.create(&index)) {
            Ok(Ok(db)) => db,
            Ok(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => {
                return Err(XetStoreError::InUse { path: index })
            }
            Ok(Err(e)) => return Err(db_error(&index, e.into())),
            Err(reason) => return Err(XetStoreError::Corrupt { path: index, reason }),
        };
        let store = XetStore {
            dir: dir.into(),
            index,
            db,
            options,
            broken: AtomicBool::new(false),
            pack_lock: std::sync::Mutex::new(()),
        };
        store.write(|txn| init_tables(txn, &store.index))?;
        Ok(store)
    }

    /// The store folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where packs of retired chunks are kept.
    pub fn packs_dir(&self) -> PathBuf {
        self.dir.join("packs")
    }

    /// Records that `path` holds `chunks` (in order, from offset 0) and is the file of
    /// `xet_root`. The chunks must cover the file exactly and hash to the root; the bytes
    /// are not re-read (every later read checks them). Indexing a path again replaces it.
    pub fn index_file(&self, path: &Path, chunks: &[ChunkRef], xet_root: &ChunkId) -> Result<IndexedFile> {
        let path = absolute(path)?;
        let meta = std::fs::metadata(&path).map_err(|source| XetStoreError::Io {
            what: "cannot read",
            path: path.clone(),
            source,
        })?;
        self.record(path, chunks, xet_root, stamp(&meta))
    }

    /// Chunks `path` itself (streaming, one buffer) and indexes it.
    pub fn index_path(&self, path: &Path) -> Result<IndexedFile> {
        let path = absolute(path)?;
        let io = |source| XetStoreError::Io { what: "cannot read", path: path.clone(), source };
        let mut file = File::open(&path).map_err(io)?;
        let before = stamp(&file.metadata().map_err(io)?);
        let mut hasher = FileHasher::new();
        let mut buf = vec![0; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let after = std::fs::metadata(&path).map_err(io)?;
        if stamp(&after) != before {
            return Err(XetStoreError::ChangedWhileIndexing { path });
        }
        let (root, chunks) = hasher.finish();
        self.record(path, &chunks, &root, before)
    }

    fn record(
        &self,
        path: PathBuf,
        chunks: &[ChunkRef],
        root: &ChunkId,
        stamp: Stamp,
    ) -> Result<IndexedFile> {
        let mismatch = |reason: String| XetStoreError::ChunksMismatch { path: path.clone(), reason };
        let total = crate::plan::manifest_end(chunks, 0).map_err(mismatch)?;
        if total != stamp.0 {
            return Err(mismatch(format!("the chunks cover {total} bytes, the file has {}", stamp.0)));
        }
        if file_hash(chunks) != *root {
            return Err(mismatch("the chunks do not hash to the given xet root".into()));
        }
        let record = FileRecord { size: stamp.0, mtime: stamp.1, root: *root, path: path_bytes(&path) };
        let cap = self.options.max_locations;
        let id = self.write(|txn| {
            let key = path_bytes(&path);
            let old = txn.open_table(PATHS)?.get(key.as_slice())?.map(|v| v.value());
            if let Some(old) = old {
                forget_in(txn, old)?;
            }
            let id = next_file_id(txn)?;
            txn.open_table(FILES)?.insert(id, codec::encode_file(&record).as_slice())?;
            txn.open_table(PATHS)?.insert(key.as_slice(), id)?;
            add_root(txn, root, chunks)?;
            let mut table = txn.open_table(CHUNKS)?;
            let mut offset = 0u64;
            for chunk in chunks {
                let mut list = decode_locations_of(&table, &chunk.id)?;
                let new = RawLocation { holder: RawHolder::File(id), offset, len: chunk.len };
                if codec::add_location(&mut list, new, cap) {
                    table.insert(&chunk.id, codec::encode_locations(&list).as_slice())?;
                }
                offset += u64::from(chunk.len);
            }
            Ok(id)
        })?;
        Ok(IndexedFile { id: FileId(id), path, root: *root, size: stamp.0, chunks: chunks.len() })
    }

    /// Where the index says `id`'s bytes are (not checked: [`XetStore::read_chunk`] and
    /// [`XetStore::fill`] check).
    pub fn lookup(&self, id: &ChunkId) -> Result<Vec<Location>> {
        self.read(|txn| {
            let chunks = txn.open_table(CHUNKS)?;
            let files = txn.open_table(FILES)?;
            let mut out = Vec::new();
            for loc in decode_locations_of(&chunks, id)? {
                let (holder, path) = match loc.holder {
                    codec::Holder::File(f) => match file_record(&files, f)? {
                        Some(record) => (Holder::File(FileId(f)), record_path(&record)),
                        None => continue,
                    },
                    codec::Holder::Pack(p) => (Holder::Pack(p), crate::pack::pack_path(&self.packs_dir(), p)),
                };
                out.push(Location { holder, path, offset: loc.offset, len: loc.len });
            }
            Ok(out)
        })
    }

    /// The manifest of a xet root some indexed file has.
    pub fn manifest(&self, root: &ChunkId) -> Result<Option<Vec<ChunkRef>>> {
        self.read(|txn| {
            let roots = txn.open_table(ROOTS)?;
            let bytes = roots.get(root)?.map(|v| v.value().to_vec());
            bytes.map(|b| codec::decode_manifest(&b).map_err(|e| corrupt(e.0))).transpose()
        })
    }

    /// Removes `path` and its chunk locations from the index; false when it was not indexed.
    pub fn forget_file(&self, path: &Path) -> Result<bool> {
        let path = std::fs::canonicalize(path).or_else(|_| std::path::absolute(path)).unwrap_or(path.into());
        self.write(|txn| {
            let id = txn.open_table(PATHS)?.get(path_bytes(&path).as_slice())?.map(|v| v.value());
            match id {
                Some(id) => forget_in(txn, id).map(|()| true),
                None => Ok(false),
            }
        })
    }

    /// Forgets files by id in one transaction.
    pub(crate) fn forget_ids(&self, ids: &[u64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.write(|txn| ids.iter().try_for_each(|&id| forget_in(txn, id)))
    }

    /// Runs `f` in a write transaction and commits it.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&WriteTransaction) -> Result<T, Failure>) -> Result<T> {
        self.guard(|| {
            let txn = self.db.begin_write()?;
            let value = f(&txn)?;
            txn.commit()?;
            Ok(value)
        })
    }

    /// Runs `f` in a read transaction.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&redb::ReadTransaction) -> Result<T, Failure>) -> Result<T> {
        self.guard(|| f(&self.db.begin_read()?))
    }

    /// Turns redb errors and panics (redb 1.5 asserts on some damaged files) into errors; after
    /// a panic every later call fails the same way.
    pub(crate) fn guard<T>(&self, f: impl FnOnce() -> Result<T, Failure>) -> Result<T> {
        let corrupt = |reason| XetStoreError::Corrupt { path: self.index.clone(), reason };
        if self.broken.load(Ordering::Relaxed) {
            return Err(corrupt("an earlier operation found it damaged".into()));
        }
        match crate::contain::contain(f) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(Failure::Db(e))) => Err(db_error(&self.index, e)),
            Ok(Err(Failure::Corrupt(reason))) => Err(corrupt(reason)),
            Ok(Err(Failure::Store(e))) => Err(e),
            Err(reason) => {
                self.broken.store(true, Ordering::Relaxed);
                Err(corrupt(reason))
            }
        }
    }
}

/// Errors inside a transaction closure.
pub(crate) enum Failure {
    Db(redb::Error),
    Corrupt(String),
    Store(XetStoreError),
}

impl<E: Into<redb::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Db(e.into())
    }
}

pub(crate) fn corrupt(reason: String) -> Failure {
    Failure::Corrupt(reason)
}

fn db_error(index: &Path, e: redb::Error) -> XetStoreError {
    match e {
        redb::Error::Corrupted(reason) => XetStoreError::Corrupt { path: index.into(), reason },
        redb::Error::DatabaseAlreadyOpen => XetStoreError::InUse { path: index.into() },
        redb::Error::Io(source) => {
            XetStoreError::Io { what: "cannot use the xet index", path: index.into(), source }
        }
        other => XetStoreError::Database { path: index.into(), reason: other.to_string() },
    }
}

/// A non-empty file without redb's magic number is refused (redb would re-initialise it).
fn check_magic(index: &Path) -> Result<()> {
    let mut head = Vec::with_capacity(REDB_MAGIC.len());
    match File::open(index) {
        Ok(file) => {
            let io = |source| XetStoreError::Io { what: "cannot read", path: index.into(), source };
            file.take(REDB_MAGIC.len() as u64).read_to_end(&mut head).map_err(io)?;
            if !head.is_empty() && head != REDB_MAGIC {
                let reason = "not a redb database".into();
                return Err(XetStoreError::Corrupt { path: index.into(), reason });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(XetStoreError::Io { what: "cannot open", path: index.into(), source }),
    }
}

fn init_tables(txn: &WriteTransaction, index: &Path) -> Result<(), Failure> {
    txn.open_table(CHUNKS)?;
    txn.open_table(FILES)?;
    txn.open_table(PATHS)?;
    txn.open_table(ROOTS)?;
    txn.open_table(ROOT_REFS)?;
    txn.open_table(crate::pack::PACKS)?;
    let mut meta = txn.open_table(META)?;
    let format = meta.get("format")?.map(|v| v.value());
    match format {
        None => {
            meta.insert("format", FORMAT)?;
        }
        Some(v) if v > FORMAT => {
            let reason =
                format!("{} has layout version {v}, newer than this ccbt ({FORMAT})", index.display());
            return Err(Failure::Store(XetStoreError::Database { path: index.into(), reason }));
        }
        Some(v) if v < FORMAT => {
            meta.insert("format", FORMAT)?;
        }
        Some(_) => {}
    }
    Ok(())
}

fn next_file_id(txn: &WriteTransaction) -> Result<u64, Failure> {
    let mut meta = txn.open_table(META)?;
    let id = meta.get("next_file")?.map_or(1, |v| v.value());
    meta.insert("next_file", id + 1)?;
    Ok(id)
}

fn add_root(txn: &WriteTransaction, root: &ChunkId, chunks: &[ChunkRef]) -> Result<(), Failure> {
    let mut refs = txn.open_table(ROOT_REFS)?;
    let n = refs.get(root)?.map_or(0, |v| v.value());
    refs.insert(root, n + 1)?;
    if n == 0 {
        txn.open_table(ROOTS)?.insert(root, codec::encode_manifest(chunks).as_slice())?;
    }
    Ok(())
}

/// Removes file `id`: its record, its path, its chunk locations and, with its last file, its root.
pub(crate) fn forget_in(txn: &WriteTransaction, id: u64) -> Result<(), Failure> {
    let record = file_record(&txn.open_table(FILES)?, id)?;
    let Some(record) = record else { return Ok(()) };
    txn.open_table(FILES)?.remove(id)?;
    txn.open_table(PATHS)?.remove(record.path.as_slice())?;
    let manifest = txn.open_table(ROOTS)?.get(&record.root)?.map(|v| v.value().to_vec()).unwrap_or_default();
    let manifest = codec::decode_manifest(&manifest).map_err(|e| corrupt(e.0))?;
    let mut chunks = txn.open_table(CHUNKS)?;
    for chunk in &manifest {
        let mut list = decode_locations_of(&chunks, &chunk.id)?;
        if codec::remove_holder(&mut list, RawHolder::File(id)) {
            if list.is_empty() {
                chunks.remove(&chunk.id)?;
            } else {
                chunks.insert(&chunk.id, codec::encode_locations(&list).as_slice())?;
            }
        }
    }
    let mut refs = txn.open_table(ROOT_REFS)?;
    let n = refs.get(&record.root)?.map_or(0, |v| v.value());
    if n <= 1 {
        refs.remove(&record.root)?;
        txn.open_table(ROOTS)?.remove(&record.root)?;
    } else {
        refs.insert(&record.root, n - 1)?;
    }
    Ok(())
}

pub(crate) fn decode_locations_of(
    table: &impl ReadableTable<&'static [u8; 32], &'static [u8]>,
    id: &ChunkId,
) -> Result<Vec<RawLocation>, Failure> {
    match table.get(id)? {
        Some(v) => codec::decode_locations(v.value()).map_err(|e| corrupt(e.0)),
        None => Ok(Vec::new()),
    }
}

pub(crate) fn file_record(
    table: &impl ReadableTable<u64, &'static [u8]>,
    id: u64,
) -> Result<Option<FileRecord>, Failure> {
    match table.get(id)? {
        Some(v) => codec::decode_file(v.value()).map(Some).map_err(|e| corrupt(e.0)),
        None => Ok(None),
    }
}

/// The absolute, symlink-free path of an existing file.
fn absolute(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).map_err(|source| XetStoreError::Io {
        what: "cannot find",
        path: path.into(),
        source,
    })
}
