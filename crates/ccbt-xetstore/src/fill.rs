//! Copying chunks the index holds into a destination file, and reading single chunks.

use std::fs::File;
use std::os::unix::fs::FileExt;

use ccbt_xet::{ChunkId, ChunkRef};

use crate::codec::Holder;
use crate::error::{Result, XetStoreError};
use crate::plan::{manifest_end, Gaps};
use crate::source::Sources;
use crate::store::{decode_locations_of, file_record, Failure, XetStore, CHUNKS, FILES};

/// What [`XetStore::fill`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FillReport {
    /// Bytes copied into the destination (each chunk checked against its id first).
    pub filled_bytes: u64,
    /// Chunks copied.
    pub filled_chunks: usize,
    /// Destination ranges `(offset, len)` still to fetch, in order, adjacent ones merged.
    pub missing: Vec<(u64, u64)>,
}

/// A chunk found on this machine and checked against its id: its bytes, and the indexed file
/// (or pack of retired chunks) they were read from with their offset there (for a kernel copy, see
/// `ccbt_storage::Storage::copy_from_file`).
#[derive(Debug)]
pub struct LocalChunk {
    /// The source file, open for reading (its own descriptor).
    pub file: File,
    /// Where the chunk starts in `file`.
    pub offset: u64,
    /// The chunk's bytes as read and checked.
    pub bytes: Vec<u8>,
}

impl XetStore {
    /// Chunk `id` as [`XetStore::read_chunk`] finds it, with the file and offset it was read
    /// from. A copy from that file later may see other bytes if the file changed in between:
    /// the copy's destination must be verified again (a piece hash check does).
    pub fn local_chunk(&self, id: &ChunkId) -> Result<Option<LocalChunk>> {
        let mut sources = Sources::new(&self.packs_dir());
        let mut buf = Vec::new();
        let found = self.read(|txn| {
            let chunks = txn.open_table(CHUNKS)?;
            let files = txn.open_table(FILES)?;
            for loc in decode_locations_of(&chunks, id)? {
                let record = loc.file().map(|f| file_record(&files, f)).transpose()?.flatten();
                if !sources.read(&loc, id, || record, &mut buf) {
                    continue;
                }
                if let Some(file) = sources.clone_handle(loc.holder) {
                    return Ok(Some((file, loc.offset)));
                }
            }
            Ok(None)
        })?;
        self.drop_stale(&sources)?;
        Ok(found.map(|(file, offset)| LocalChunk { file, offset, bytes: buf }))
    }

    /// The bytes of chunk `id`, read from an indexed file and checked against the id; None when
    /// no indexed file still holds it. Locations found stale are dropped from the index.
    pub fn read_chunk(&self, id: &ChunkId) -> Result<Option<Vec<u8>>> {
        let mut sources = Sources::new(&self.packs_dir());
        let mut buf = Vec::new();
        let found = self.read(|txn| {
            let chunks = txn.open_table(CHUNKS)?;
            let files = txn.open_table(FILES)?;
            for loc in decode_locations_of(&chunks, id)? {
                let record = loc.file().map(|f| file_record(&files, f)).transpose()?.flatten();
                if sources.read(&loc, id, || record, &mut buf) {
                    return Ok(true);
                }
            }
            Ok(false)
        })?;
        self.drop_stale(&sources)?;
        Ok(found.then_some(buf))
    }

    /// Writes every chunk of `manifest` the index holds into `dst`, the manifest's first chunk
    /// at `dst_offset_base`. Each chunk is read from its source, hashed and compared with its
    /// id before it is written, so only the right bytes are ever written, and only inside
    /// `[dst_offset_base, dst_offset_base + manifest bytes)`. Stale sources are dropped from the
    /// index and their chunks reported missing.
    pub fn fill(&self, manifest: &[ChunkRef], dst: &File, dst_offset_base: u64) -> Result<FillReport> {
        manifest_end(manifest, dst_offset_base).map_err(XetStoreError::BadManifest)?;
        let mut sources = Sources::new(&self.packs_dir());
        let mut buf = Vec::new();
        let mut report = FillReport::default();
        let mut gaps = Gaps::default();
        self.read(|txn| {
            let chunks = txn.open_table(CHUNKS)?;
            let files = txn.open_table(FILES)?;
            let mut offset = dst_offset_base;
            for chunk in manifest {
                let mut filled = false;
                for loc in decode_locations_of(&chunks, &chunk.id)? {
                    if loc.len != chunk.len {
                        continue;
                    }
                    let record = loc.file().map(|f| file_record(&files, f)).transpose()?.flatten();
                    if sources.read(&loc, &chunk.id, || record, &mut buf) {
                        dst.write_all_at(&buf, offset)
                            .map_err(|e| Failure::Store(XetStoreError::Destination(e)))?;
                        filled = true;
                        break;
                    }
                }
                if filled {
                    report.filled_bytes += u64::from(chunk.len);
                    report.filled_chunks += 1;
                } else {
                    gaps.push(offset, u64::from(chunk.len));
                }
                offset += u64::from(chunk.len);
            }
            Ok(())
        })?;
        self.drop_stale(&sources)?;
        report.missing = gaps.0;
        Ok(report)
    }

    /// Forgets the files and packs a read found stale.
    pub(crate) fn drop_stale(&self, sources: &Sources) -> Result<()> {
        let mut files = Vec::new();
        let mut packs = Vec::new();
        for holder in &sources.stale {
            match *holder {
                Holder::File(id) => files.push(id),
                Holder::Pack(id) => packs.push(id),
            }
        }
        self.forget_ids(&files)?;
        self.forget_packs(&packs)
    }
}
