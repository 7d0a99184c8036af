//! What a torrent has when it starts: every piece hashed, or a checkpoint's pieces trusted
//! with a sample and the pieces of changed files hashed (see `resume.rs`). On the blocking pool.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use ccbt_core::{Bitfield, PieceCheck};
use rand::seq::SliceRandom;

use super::TorrentShared;
use crate::resume::ResumePlan;
use crate::sync::lock;
use crate::TorrentError;

/// Hashes the data already on disk (parallel, on the blocking pool).
pub(super) async fn check_existing(shared: &Arc<TorrentShared>) -> Result<Bitfield, TorrentError> {
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || {
        let have = full_check(&shared)?;
        claim_verified(&shared, &have)?;
        Ok(have)
    })
    .await
    .map_err(|e| TorrentError::TaskFailed { task: "data check", reason: e.to_string() })?
}

/// Starts from a checkpoint's pieces: hashes a random sample of those it trusts (any
/// failure: the checkpoint does not describe this data, everything is checked) and the
/// pieces of files changed since it was written.
pub(super) async fn resume_existing(
    shared: &Arc<TorrentShared>,
    plan: ResumePlan,
) -> Result<Bitfield, TorrentError> {
    let shared = shared.clone();
    let name = &shared.torrent.name;
    for (path, change) in &plan.changed {
        tracing::warn!(torrent = %name, path = %path.display(), %change, "a file changed since the checkpoint; checking its pieces again");
    }
    let sample_size = plan.verify_sample.unwrap_or(shared.options().resume_verify_sample) as usize;
    // Nothing to hash and every wanted piece there (a seed restored as it was): no file needs
    // claiming either, so no trip to the blocking pool (thousands of them at a daemon's start).
    let complete = lock(&shared.inner).selection.wanted().iter_ones().all(|p| plan.trusted.get(p));
    if sample_size == 0 && plan.recheck.is_empty() && complete {
        return Ok(plan.trusted);
    }
    tokio::task::spawn_blocking(move || {
        let workers = shared.options().hash_workers;
        let checks = |i: u32| shared.torrent.piece_hash(i).copied().map(PieceCheck::v1);
        let storage = shared.storage.as_ref();
        let progress = |done: u32| shared.counters.checked_pieces.store(done as u64, Relaxed);
        let trusted: Vec<u32> = plan.trusted.iter_ones().collect();
        let mut sample: Vec<u32> =
            trusted.choose_multiple(&mut rand::thread_rng(), sample_size).copied().collect();
        sample.sort_unstable();
        shared.counters.hashed_pieces.fetch_add(sample.len() as u64, Relaxed);
        let good = ccbt_storage::check_listed(storage, &shared.lengths, &checks, &sample, workers, &progress)
            .map_err(TorrentError::Storage)?;
        let have = if good.len() < sample.len() {
            tracing::warn!(
                torrent = %shared.torrent.name,
                bad = sample.len() - good.len(),
                sampled = sample.len(),
                "pieces the checkpoint claims fail their hash check: it does not describe this data; checking every piece"
            );
            full_check(&shared)?
        } else {
            shared.counters.hashed_pieces.fetch_add(plan.recheck.len() as u64, Relaxed);
            let rechecked =
                ccbt_storage::check_listed(storage, &shared.lengths, &checks, &plan.recheck, workers, &progress)
                    .map_err(TorrentError::Storage)?;
            let mut have = plan.trusted;
            for piece in rechecked {
                have.set(piece);
            }
            tracing::info!(
                torrent = %shared.torrent.name,
                pieces = have.count_ones(),
                sampled = sample.len(),
                rechecked = plan.recheck.len(),
                "resumed from the checkpoint"
            );
            have
        };
        claim_verified(&shared, &have)?;
        Ok(have)
    })
    .await
    .map_err(|e| TorrentError::TaskFailed { task: "resume check", reason: e.to_string() })?
}

/// Hashes every piece on disk (on the calling thread and `hash_workers` - 1 more).
fn full_check(shared: &TorrentShared) -> Result<Bitfield, TorrentError> {
    let progress = |done: u32| shared.counters.checked_pieces.store(done as u64, Relaxed);
    let pieces = u64::from(shared.lengths.num_pieces());
    shared.counters.hashed_pieces.fetch_add(pieces, Relaxed);
    ccbt_storage::check_pieces(
        shared.storage.as_ref(),
        &shared.lengths,
        &|i| shared.torrent.piece_hash(i).copied().map(PieceCheck::v1),
        shared.options().hash_workers,
        &progress,
    )
    .map_err(TorrentError::Storage)
}

/// Files that existed before ccbt may be written only if their data verified.
fn claim_verified(shared: &TorrentShared, have: &Bitfield) -> Result<(), TorrentError> {
    let wanted = lock(&shared.inner).selection.wanted().clone();
    shared.storage.claim_verified(have, Some(&wanted), &shared.lengths).map_err(TorrentError::Storage)
}
