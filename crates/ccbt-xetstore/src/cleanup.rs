//! `cleanup`: drop files that changed or vanished since they were indexed, then keep the index
//! under its size cap by forgetting the files indexed longest ago.

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
    /// Drops stale files, then, while `index.redb` is over `cap_bytes`, forgets the files
    /// indexed longest ago (their share of the index estimated from their chunk counts), and
    /// compacts the file. With `dry_run` nothing changes and the report says what would go.
    pub fn cleanup(&mut self, cap_bytes: u64, dry_run: bool) -> Result<CleanupReport> {
        let before = self.index_bytes();
        let candidates = self.candidates()?;
        // Stale files go first: removing them counts toward the cap.
        let mut order: Vec<&Candidate> = candidates.iter().filter(|c| c.stale.is_some()).collect();
        order.extend(candidates.iter().filter(|c| c.stale.is_none()));
        let weights: Vec<(u64, u64)> = order.iter().map(|c| (c.id, c.chunks)).collect();
        let evict = select_evictions(&weights, before, cap_bytes);
        let mut report = CleanupReport { dry_run, index_bytes_before: before, ..Default::default() };
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
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| db.compact()));
        match result {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(crate::XetStoreError::Database { path: index, reason: e.to_string() }),
            Err(_) => Err(crate::XetStoreError::Corrupt { path: index, reason: "compaction failed".into() }),
        }
    }

    pub(crate) fn index_bytes(&self) -> u64 {
        std::fs::metadata(&self.index).map_or(0, |m| m.len())
    }
}
