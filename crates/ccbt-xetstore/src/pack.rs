//! Packs of retired chunks: before a payload file is replaced or deleted (an old version of a
//! dataset), the chunks no other indexed file holds are appended to a pack, so the store can
//! still copy them into later torrents and serve them to peers still on the old version.
//!
//! A pack `packs/pack-<number, 16 hex digits>.xorb` is the chunk section of a Xet xorb v1:
//! for each chunk an 8-byte header (version 0, compressed length u24 LE, scheme 0 = none,
//! uncompressed length u24 LE) then its bytes. The table of contents (id, offset, length per
//! chunk) is kept in the index (`packs` table), not in a xorb footer. Packs only grow, up to
//! 64 MiB or 8192 chunks each, and are deleted whole, oldest first, by `cleanup` under the cap.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use ccbt_xet::{ChunkId, ChunkRef};
use redb::{ReadableTable, TableDefinition, WriteTransaction};

use crate::codec::{self, FileRecord, Holder, PackEntry, RawLocation};
use crate::error::{Result, XetStoreError};
use crate::source::Sources;
use crate::store::{corrupt, decode_locations_of, file_record, forget_in, Failure, XetStore};
use crate::store::{CHUNKS, FILES, PATHS, ROOTS};

/// Pack number → table of contents ([`codec::encode_pack`]).
pub(crate) const PACKS: TableDefinition<u64, &[u8]> = TableDefinition::new("packs");

/// A pack is closed once it holds this many bytes or chunks (Xet's xorb limits).
const MAX_PACK_BYTES: u64 = 64 * 1024 * 1024;
const MAX_PACK_CHUNKS: usize = 8192;
/// The xorb chunk header.
const HEADER: u64 = 8;
/// Chunks read into memory at once while retiring a file.
const BATCH_BYTES: u64 = 16 * 1024 * 1024;

/// What [`XetStore::retire_file`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetireReport {
    /// Chunks copied into packs (held by no other indexed file).
    pub chunks: usize,
    /// Their bytes.
    pub bytes: u64,
    /// False when the file was not indexed or had changed since (nothing could be kept).
    pub was_indexed: bool,
}

/// One pack, for statistics and cleanup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackInfo {
    pub number: u64,
    pub path: PathBuf,
    /// Size on disk.
    pub bytes: u64,
    pub chunks: usize,
}

/// The file of pack `number`.
pub(crate) fn pack_path(packs_dir: &Path, number: u64) -> PathBuf {
    packs_dir.join(format!("pack-{number:016x}.xorb"))
}

/// The xorb v1 chunk header of an uncompressed chunk.
fn header(len: u32) -> [u8; 8] {
    let l = len.to_le_bytes();
    [0, l[0], l[1], l[2], 0, l[0], l[1], l[2]]
}

impl XetStore {
    /// Keeps the chunks of the indexed file `path` that no other indexed file holds by copying
    /// them into a pack (each checked against its id as it is read), then forgets the file.
    /// Call it before replacing or deleting the file. A file that is not indexed, or that
    /// changed since it was indexed, is only forgotten.
    pub fn retire_file(&self, path: &Path) -> Result<RetireReport> {
        let path = std::fs::canonicalize(path).or_else(|_| std::path::absolute(path)).unwrap_or(path.into());
        let Some((file, record, wanted)) = self.sole_chunks(&path)? else {
            return Ok(RetireReport::default());
        };
        let mut sources = Sources::new(&self.packs_dir());
        let mut report = RetireReport { was_indexed: true, ..RetireReport::default() };
        let _guard = self.pack_lock.lock().unwrap_or_else(|e| e.into_inner());
        // In batches, so memory stays bounded whatever the file's size; each batch is on disk
        // and in the index before the next, and the file is forgotten last.
        let mut batch: Vec<(ChunkId, Vec<u8>)> = Vec::new();
        let mut batch_bytes = 0u64;
        for (loc, id) in &wanted {
            let mut buf = Vec::new();
            if !sources.read(loc, id, || Some(record.clone()), &mut buf) {
                // Changed since it was indexed: what is left of it cannot be trusted.
                report.was_indexed = false;
                break;
            }
            batch_bytes += buf.len() as u64;
            batch.push((*id, buf));
            if batch_bytes >= BATCH_BYTES {
                self.keep(&batch, &mut report)?;
                batch.clear();
                batch_bytes = 0;
            }
        }
        if report.was_indexed {
            self.keep(&batch, &mut report)?;
        }
        self.write(|txn| forget_in(txn, file))?;
        Ok(report)
    }

    /// Appends `batch` to packs and points its chunks there.
    fn keep(&self, batch: &[(ChunkId, Vec<u8>)], report: &mut RetireReport) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let placed = self.append_to_packs(batch)?;
        self.write(|txn| record_placed(txn, &placed, self.options.max_locations))?;
        report.chunks += batch.len();
        report.bytes += batch.iter().map(|(_, b)| b.len() as u64).sum::<u64>();
        Ok(())
    }

    /// The file id and record of `path`, and the locations (in it) of its chunks held by no
    /// other file or pack, each id once.
    #[allow(clippy::type_complexity)]
    fn sole_chunks(&self, path: &Path) -> Result<Option<(u64, FileRecord, Vec<(RawLocation, ChunkId)>)>> {
        self.read(|txn| {
            let key = crate::source::path_bytes(path);
            let Some(file) = txn.open_table(PATHS)?.get(key.as_slice())?.map(|v| v.value()) else {
                return Ok(None);
            };
            let Some(record) = file_record(&txn.open_table(FILES)?, file)? else { return Ok(None) };
            let manifest = txn.open_table(ROOTS)?.get(&record.root)?.map(|v| v.value().to_vec());
            let manifest = codec::decode_manifest(&manifest.unwrap_or_default()).map_err(|e| corrupt(e.0))?;
            let chunks = txn.open_table(CHUNKS)?;
            let mut seen = HashSet::new();
            let mut out = Vec::new();
            for ChunkRef { id, .. } in manifest {
                if !seen.insert(id) {
                    continue;
                }
                let list = decode_locations_of(&chunks, &id)?;
                if let [only] = list.as_slice() {
                    if only.holder == Holder::File(file) {
                        out.push((*only, id));
                    }
                }
            }
            Ok(Some((file, record, out)))
        })
    }

    /// Appends chunks to the newest pack (starting new ones when full); returns where each
    /// went. The bytes are on disk (synced) before the index points at them.
    fn append_to_packs(&self, chunks: &[(ChunkId, Vec<u8>)]) -> Result<Vec<(u64, PackEntry)>> {
        let dir = self.packs_dir();
        std::fs::create_dir_all(&dir).map_err(|source| io("cannot create", &dir, source))?;
        let (mut number, mut count) = self.last_pack()?;
        let mut current = if number > 0 { Some(open_pack(&dir, number)?) } else { None };
        let mut out = Vec::with_capacity(chunks.len());
        for (id, bytes) in chunks {
            let need = HEADER + bytes.len() as u64;
            let full = current
                .as_ref()
                .map_or(true, |(_, size)| size + need > MAX_PACK_BYTES || count >= MAX_PACK_CHUNKS);
            if full {
                if let Some((file, _)) = current.take() {
                    sync(&file, &pack_path(&dir, number))?;
                }
                number = self.next_pack_number()?;
                count = 0;
                current = Some(open_pack(&dir, number)?);
            }
            let Some((file, size)) = current.as_mut() else { continue };
            let path = pack_path(&dir, number);
            file.write_all(&header(bytes.len() as u32)).map_err(|e| io("cannot write", &path, e))?;
            file.write_all(bytes).map_err(|e| io("cannot write", &path, e))?;
            out.push((number, PackEntry { id: *id, offset: *size + HEADER, len: bytes.len() as u32 }));
            *size += need;
            count += 1;
        }
        if let Some((file, _)) = current {
            sync(&file, &pack_path(&dir, number))?;
        }
        Ok(out)
    }

    /// The newest pack's number and chunk count, (0, 0) when there is none.
    fn last_pack(&self) -> Result<(u64, usize)> {
        self.read(|txn| {
            let table = txn.open_table(PACKS)?;
            let last = table.last()?;
            Ok(last.map_or((0, 0), |(k, v)| (k.value(), codec::pack_len(v.value()))))
        })
    }

    fn next_pack_number(&self) -> Result<u64> {
        self.write(|txn| {
            let mut meta = txn.open_table(crate::store::META)?;
            let n = meta.get("next_pack")?.map_or(1, |v| v.value());
            meta.insert("next_pack", n + 1)?;
            txn.open_table(PACKS)?.insert(n, [].as_slice())?;
            Ok(n)
        })
    }

    /// Every pack, oldest first.
    pub fn packs(&self) -> Result<Vec<PackInfo>> {
        let dir = self.packs_dir();
        let mut out = self.read(|txn| {
            let mut out = Vec::new();
            for entry in txn.open_table(PACKS)?.iter()? {
                let (number, toc) = entry?;
                let chunks = codec::decode_pack(toc.value()).map_err(|e| corrupt(e.0))?.len();
                let path = pack_path(&dir, number.value());
                out.push(PackInfo { number: number.value(), path, bytes: 0, chunks });
            }
            Ok(out)
        })?;
        for pack in &mut out {
            pack.bytes = std::fs::metadata(&pack.path).map_or(0, |m| m.len());
        }
        Ok(out)
    }

    /// Removes packs from the index, then deletes their files.
    pub(crate) fn forget_packs(&self, numbers: &[u64]) -> Result<()> {
        if numbers.is_empty() {
            return Ok(());
        }
        self.write(|txn| numbers.iter().try_for_each(|&n| forget_pack_in(txn, n)))?;
        let dir = self.packs_dir();
        for &n in numbers {
            let path = pack_path(&dir, n);
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(io("cannot delete", &path, e));
                }
            }
        }
        Ok(())
    }
}

/// Points the chunks at their new places and extends the packs' tables of contents.
fn record_placed(txn: &WriteTransaction, placed: &[(u64, PackEntry)], cap: usize) -> Result<(), Failure> {
    let mut chunks = txn.open_table(CHUNKS)?;
    let mut packs = txn.open_table(PACKS)?;
    for (number, entry) in placed {
        let mut list = decode_locations_of(&chunks, &entry.id)?;
        let new = RawLocation { holder: Holder::Pack(*number), offset: entry.offset, len: entry.len };
        if codec::add_location(&mut list, new, cap) {
            chunks.insert(&entry.id, codec::encode_locations(&list).as_slice())?;
        }
        let mut toc = packs.get(*number)?.map(|v| v.value().to_vec()).unwrap_or_default();
        toc.extend_from_slice(&codec::encode_pack(std::slice::from_ref(entry)));
        packs.insert(*number, toc.as_slice())?;
    }
    Ok(())
}

/// Removes pack `number`'s locations and table of contents.
fn forget_pack_in(txn: &WriteTransaction, number: u64) -> Result<(), Failure> {
    let toc = txn.open_table(PACKS)?.remove(number)?.map(|v| v.value().to_vec()).unwrap_or_default();
    let entries = codec::decode_pack(&toc).map_err(|e| corrupt(e.0))?;
    let mut chunks = txn.open_table(CHUNKS)?;
    for entry in entries {
        let mut list = decode_locations_of(&chunks, &entry.id)?;
        if codec::remove_holder(&mut list, Holder::Pack(number)) {
            if list.is_empty() {
                chunks.remove(&entry.id)?;
            } else {
                chunks.insert(&entry.id, codec::encode_locations(&list).as_slice())?;
            }
        }
    }
    Ok(())
}

/// Opens pack `number` for appending (creating it); returns it and its size.
fn open_pack(dir: &Path, number: u64) -> Result<(File, u64)> {
    let path = pack_path(dir, number);
    let file =
        OpenOptions::new().create(true).append(true).open(&path).map_err(|e| io("cannot open", &path, e))?;
    let size = file.metadata().map_err(|e| io("cannot read", &path, e))?.len();
    Ok((file, size))
}

fn sync(file: &File, path: &Path) -> Result<()> {
    file.sync_data().map_err(|e| io("cannot write", path, e))
}

fn io(what: &'static str, path: &Path, source: std::io::Error) -> XetStoreError {
    XetStoreError::Io { what, path: path.into(), source }
}
