//! `cleanup`: drop files that changed or vanished since they were indexed, then keep the store
//! (index and packs) under its size cap: packs of retired chunks go first, oldest first, then
//! the files indexed longest ago are forgotten.

use std::path::PathBuf;

use redb::ReadableTable;

use crate::codec;
use crate::error::Result;
use crate::plan::select_evictions;
use crate::source::{record_path, staleness};
use crate::store::{corrupt, Failure, XetStore, FILES, ROOTS};

/// An indexed file that can no longer be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaleFile {
    pub path: PathBuf,
    /// "gone", "not a file", "size changed" or "modified".
    pub reason: &'static str,
}

/// What [`XetStore::cleanup`] removed (or, in a dry run, would remove).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanupReport {
    pub dry_run: bool,
    /// Files dropped because they changed or vanished.
    pub stale: Vec<StaleFile>,
    /// Files forgotten to get the index under the cap, oldest first.
    pub evicted: Vec<PathBuf>,
    /// Packs of retired chunks deleted to get under the cap, oldest first.
    pub evicted_packs: Vec<PathBuf>,
    /// Bytes of packs before and after (equal in a dry run).
    pub pack_bytes_before: u64,
    pub pack_bytes_after: u64,
    /// Size of the index before and after: of `index.redb` after compaction for
    /// [`XetStore::cleanup`], of its live data for [`XetStore::cleanup_shared`] (equal in a
    /// dry run).
    pub index_bytes_before: u64,
    pub index_bytes_after: u64,
    /// Whether the index file was compacted.
    pub compacted: bool,
}

struct Candidate {
    id: u64,
    path: PathBuf,
    chunks: u64,
    stale: Option<&'static str>,
}

impl XetStore {
    /// Drops stale files; then, while the index and the packs together are over `cap_bytes`,
    /// deletes packs, oldest first; then, while `index.redb` alone is still over, forgets the
    /// files indexed longest ago (their share of the index estimated from their chunk counts),
    /// and compacts the file. With `dry_run` nothing changes and the report says what would go.
    pub fn cleanup(&mut self, cap_bytes: u64, dry_run: bool) -> Result<CleanupReport> {
        let before = self.index_bytes();
        let mut report = self.forget_for_cleanup(before, cap_bytes, dry_run)?;
        let forgot = !report.stale.is_empty() || !report.evicted.is_empty();
        if forgot && !dry_run {
            self.compact()?;
            report.compacted = true;
        }
        report.index_bytes_after = self.index_bytes();
        Ok(report)
    }

    /// [`XetStore::cleanup`] for a store others use at the same time (a session's): the same
    /// files go, but the file is not compacted (that needs the store to itself), so the index
    /// size compared with the cap, and reported, is the bytes of its live data, not the
    /// file's length. The space freed is reused by later writes; the file itself shrinks at
    /// the next [`XetStore::cleanup`].
    pub fn cleanup_shared(&self, cap_bytes: u64, dry_run: bool) -> Result<CleanupReport> {
        let before = self.index_used_bytes()?;
        let mut report = self.forget_for_cleanup(before, cap_bytes, dry_run)?;
        report.index_bytes_after = self.index_used_bytes()?;
        Ok(report)
    }

    /// Chooses the stale files, and the oldest while `size` is over `cap_bytes`, and forgets
    /// them unless `dry_run`.
    fn forget_for_cleanup(&self, size: u64, cap_bytes: u64, dry_run: bool) -> Result<CleanupReport> {
        let mut report = CleanupReport { dry_run, index_bytes_before: size, ..Default::default() };
        // Packs go first: retired chunks are the least likely to be needed again.
        let packs_used = self.delete_packs_for_cleanup(&mut report, size, cap_bytes)?;
        let cap_bytes = cap_bytes.saturating_sub(packs_used);
        let candidates = self.candidates()?;
        // Stale files go first: removing them counts toward the cap.
        let mut order: Vec<&Candidate> = candidates.iter().filter(|c| c.stale.is_some()).collect();
        order.extend(candidates.iter().filter(|c| c.stale.is_none()));
        let weights: Vec<(u64, u64)> = order.iter().map(|c| (c.id, c.chunks)).collect();
        let evict = select_evictions(&weights, size, cap_bytes);
        let mut ids = Vec::new();
        for c in &order {
            if let Some(reason) = c.stale {
                report.stale.push(StaleFile { path: c.path.clone(), reason });
            } else if evict.contains(&c.id) {
                report.evicted.push(c.path.clone());
            } else {
                continue;
            }
            ids.push(c.id);
        }
        if !dry_run && !ids.is_empty() {
            self.forget_ids(&ids)?;
        }
        Ok(report)
    }

    /// Deletes packs, oldest first, while the index (`size`) and the packs are over
    /// `cap_bytes` (only reports them in a dry run); returns the bytes of the packs kept.
    fn delete_packs_for_cleanup(&self, report: &mut CleanupReport, size: u64, cap_bytes: u64) -> Result<u64> {
        let packs = self.packs()?;
        let pack_bytes: u64 = packs.iter().map(|p| p.bytes).sum();
        report.pack_bytes_before = pack_bytes;
        let mut kept = pack_bytes;
        let mut gone = Vec::new();
        for pack in &packs {
            if size.saturating_add(kept) <= cap_bytes {
                break;
            }
            kept -= pack.bytes;
            gone.push(pack.number);
            report.evicted_packs.push(pack.path.clone());
        }
        if !report.dry_run {
            self.forget_packs(&gone)?;
        }
        report.pack_bytes_after =
            if report.dry_run { pack_bytes } else { self.packs()?.iter().map(|p| p.bytes).sum() };
        Ok(kept)
    }

    /// Bytes of the index's live data (keys, values and tree metadata, without free space),
    /// read in a write transaction that is then dropped (redb gives these figures only
    /// there). Pages freed by a commit are released only by later ones, so the allocated
    /// pages would lag behind.
    fn index_used_bytes(&self) -> Result<u64> {
        self.guard(|| {
            let txn = self.db.begin_write()?;
            let stats = txn.stats()?;
            let used = stats.stored_bytes().saturating_add(stats.metadata_bytes());
            txn.abort()?;
            Ok(used)
        })
    }

    fn candidates(&self) -> Result<Vec<Candidate>> {
        self.read(|txn| {
            let roots = txn.open_table(ROOTS)?;
            let mut out = Vec::new();
            for entry in txn.open_table(FILES)?.iter()? {
                let (id, value) = entry?;
                let record = codec::decode_file(value.value()).map_err(|e| corrupt(e.0))?;
                let chunks = roots.get(&record.root)?.map_or(0, |m| codec::manifest_len(m.value()));
                let stale = staleness(&record);
                out.push(Candidate {
                    id: id.value(),
                    path: record_path(&record),
                    chunks: chunks as u64,
                    stale,
                });
            }
            Ok::<_, Failure>(out)
        })
    }

    fn compact(&mut self) -> Result<()> {
        let db = &mut self.db;
        let index = self.index.clone();
        match crate::contain::contain(|| db.compact()) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(crate::XetStoreError::Database { path: index, reason: e.to_string() }),
            Err(reason) => Err(crate::XetStoreError::Corrupt { path: index, reason }),
        }
    }

    pub(crate) fn index_bytes(&self) -> u64 {
        std::fs::metadata(&self.index).map_or(0, |m| m.len())
    }
}
