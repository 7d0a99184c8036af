//! Figures about the index, computed by streaming over its tables (never loading it whole).

use std::collections::HashMap;

use ccbt_xet::ChunkId;
use redb::ReadableTable;

use crate::codec;
use crate::error::Result;
use crate::store::{
    corrupt, decode_locations_of, Failure, FileId, XetStore, CHUNKS, FILES, ROOTS, ROOT_REFS,
};

/// Totals of the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XetStats {
    /// Distinct chunk ids with at least one location.
    pub chunks: u64,
    /// Bytes of those chunks, each counted once.
    pub unique_bytes: u64,
    /// Locations recorded (a chunk held by three files has up to three).
    pub locations: u64,
    /// Indexed payload files.
    pub files: u64,
    /// Bytes of the indexed files (what is referenced: shared chunks counted per file).
    pub referenced_bytes: u64,
    /// Distinct xet roots (file versions) among the indexed files.
    pub roots: u64,
    /// Size of `index.redb` on disk.
    pub index_bytes: u64,
    /// Packs of retired chunks (`packs/pack-*.xorb`).
    pub packs: u64,
    /// Their size on disk.
    pub pack_bytes: u64,
}

/// Figures of one xet root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootStats {
    pub root: ChunkId,
    /// Indexed files with this root.
    pub files: u64,
    /// Chunks in its manifest.
    pub chunks: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// Bytes of its chunks that a file of another root also holds.
    pub shared_bytes: u64,
}

impl XetStore {
    /// Totals, by one pass over each table.
    pub fn stats(&self) -> Result<XetStats> {
        let mut stats = self.read(|txn| {
            let mut stats = XetStats::default();
            for entry in txn.open_table(CHUNKS)?.iter()? {
                let (_, value) = entry?;
                let list = codec::decode_locations(value.value()).map_err(|e| corrupt(e.0))?;
                stats.chunks += 1;
                stats.locations += list.len() as u64;
                stats.unique_bytes += list.first().map_or(0, |l| u64::from(l.len));
            }
            for entry in txn.open_table(FILES)?.iter()? {
                let (_, value) = entry?;
                stats.referenced_bytes += codec::decode_file(value.value()).map_err(|e| corrupt(e.0))?.size;
                stats.files += 1;
            }
            stats.roots = txn.open_table(ROOTS)?.len()?;
            Ok(stats)
        })?;
        stats.index_bytes = std::fs::metadata(&self.index).map_or(0, |m| m.len());
        let packs = self.packs()?;
        stats.packs = packs.len() as u64;
        stats.pack_bytes = packs.iter().map(|p| p.bytes).sum();
        Ok(stats)
    }

    /// The xet roots some indexed file has, in root order, each with the ids of its files: what
    /// this store can serve whole (the files a holder announces, docs/xet.md "Discovery"). One
    /// pass over the files table; keeps one entry per indexed file in memory.
    pub fn held_roots(&self) -> Result<Vec<(ChunkId, Vec<FileId>)>> {
        self.read(|txn| {
            let mut files: std::collections::BTreeMap<ChunkId, Vec<FileId>> = Default::default();
            for entry in txn.open_table(FILES)?.iter()? {
                let (id, value) = entry?;
                let root = codec::decode_file(value.value()).map_err(|e| corrupt(e.0))?.root;
                files.entry(root).or_default().push(FileId(id.value()));
            }
            Ok::<_, Failure>(files.into_iter().collect())
        })
    }

    /// Per-root figures, in root order. Keeps one root per indexed file in memory.
    pub fn root_stats(&self) -> Result<Vec<RootStats>> {
        self.read(|txn| {
            let mut root_of = HashMap::new();
            for entry in txn.open_table(FILES)?.iter()? {
                let (id, value) = entry?;
                root_of.insert(id.value(), codec::decode_file(value.value()).map_err(|e| corrupt(e.0))?.root);
            }
            let refs = txn.open_table(ROOT_REFS)?;
            let chunks = txn.open_table(CHUNKS)?;
            let mut out = Vec::new();
            for entry in txn.open_table(ROOTS)?.iter()? {
                let (root, manifest) = entry?;
                let root = *root.value();
                let manifest = codec::decode_manifest(manifest.value()).map_err(|e| corrupt(e.0))?;
                let mut stats = RootStats {
                    root,
                    files: refs.get(&root)?.map_or(0, |v| v.value()),
                    chunks: manifest.len() as u64,
                    bytes: manifest.iter().map(|c| u64::from(c.len)).sum(),
                    shared_bytes: 0,
                };
                for chunk in &manifest {
                    if shared(&decode_locations_of(&chunks, &chunk.id)?, &root_of, &root) {
                        stats.shared_bytes += u64::from(chunk.len);
                    }
                }
                out.push(stats);
            }
            Ok::<_, Failure>(out)
        })
    }
}

fn shared(list: &[codec::RawLocation], root_of: &HashMap<u64, ChunkId>, root: &ChunkId) -> bool {
    list.iter().any(|l| l.file().and_then(|f| root_of.get(&f)).is_some_and(|r| r != root))
}
