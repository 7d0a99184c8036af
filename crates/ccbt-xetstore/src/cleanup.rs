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
    /// Size of `index.redb` before and after (after compaction; equal in a dry run).
    pub index_bytes_before: u64,
    pub index_bytes_after: u64,
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
        let packs = self.packs()?;
        let pack_bytes: u64 = packs.iter().map(|p| p.bytes).sum();
        let mut report = CleanupReport { dry_run, index_bytes_before: before, ..Default::default() };
        report.pack_bytes_before = pack_bytes;
        let mut used = before.saturating_add(pack_bytes);
        let mut gone = Vec::new();
        for pack in &packs {
            if used <= cap_bytes {
                break;
            }
            used -= pack.bytes;
            gone.push(pack.number);
            report.evicted_packs.push(pack.path.clone());
        }
        if !dry_run {
            self.forget_packs(&gone)?;
        }
        report.pack_bytes_after =
            if dry_run { pack_bytes } else { self.packs()?.iter().map(|p| p.bytes).sum() };
        let cap_bytes = cap_bytes.saturating_sub(used.saturating_sub(before));
        let candidates = self.candidates()?;
        // Stale files go first: removing them counts toward the cap.
        let mut order: Vec<&Candidate> = candidates.iter().filter(|c| c.stale.is_some()).collect();
        order.extend(candidates.iter().filter(|c| c.stale.is_none()));
        let weights: Vec<(u64, u64)> = order.iter().map(|c| (c.id, c.chunks)).collect();
        let evict = select_evictions(&weights, before, cap_bytes);
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
            self.compact()?;
        }
        report.index_bytes_after = self.index_bytes();
        Ok(report)
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
