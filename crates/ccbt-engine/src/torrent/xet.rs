//! The Xet extension's local side for one torrent: before downloading, copy into the missing
//! pieces every chunk the session's chunk store already holds (from any torrent, or an older
//! version of this one); once complete, record this torrent's files in the store so later
//! torrents can take their chunks. See docs/xet.md.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::Bytes;
use ccbt_core::Bitfield;
use ccbt_xet::fill::{pieces_written, plan_fill, ChunkFill};
use ccbt_xetstore::XetStore;

use super::TorrentShared;
use crate::sync::lock;

/// What a fill did, for the log, the torrent's counters and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FillOutcome {
    /// Bytes copied from local chunks.
    pub bytes: u64,
    /// Of those, bytes the kernel copied (`copy_file_range`, extents shared where the
    /// filesystem can); the rest were written from the bytes read and checked.
    pub kernel_bytes: u64,
    /// Pieces that verified after the copy.
    pub pieces: u32,
}

/// Fills the wanted pieces not in `have` from the chunk store and hashes the pieces written;
/// returns `have` with those that verified, and the plan for the chunks that pieces filled only
/// partly still lack (to fetch from peers: `xet_chunks.rs`). Nothing happens without a store or
/// manifests. A chunk is written only into missing pieces, so verified data is never touched,
/// and the store checks every chunk against its id before handing it out.
pub(super) async fn fill_from_store(
    shared: &Arc<TorrentShared>,
    have: Bitfield,
) -> (Bitfield, Option<super::xet_chunks::ChunkPlan>) {
    let Some(store) = shared.xet.clone() else { return (have, None) };
    if shared.torrent.xet_layers.is_empty() {
        return (have, None);
    }
    let shared = shared.clone();
    let fallback = have.clone();
    let task = tokio::task::spawn_blocking(move || {
        let mut have = have;
        let (outcome, plan) = fill_blocking(&shared, &store, &mut have);
        if outcome.bytes > 0 {
            tracing::info!(
                torrent = %shared.torrent.name,
                bytes = outcome.bytes,
                kernel_bytes = outcome.kernel_bytes,
                pieces = outcome.pieces,
                "xet: copied chunks already on this machine"
            );
        }
        (have, plan)
    });
    task.await.unwrap_or((fallback, None))
}

fn fill_blocking(
    shared: &TorrentShared,
    store: &XetStore,
    have: &mut Bitfield,
) -> (FillOutcome, Option<super::xet_chunks::ChunkPlan>) {
    let wanted = lock(&shared.inner).selection.wanted().clone();
    let piece_length = shared.lengths.piece_length();
    let missing = |p: u32| p < have.len() && wanted.get(p) && !have.get(p);
    let layout = shared.torrent.layout();
    let mut touched: Vec<u32> = Vec::new();
    let mut copied = Copied::default();
    for (index, file) in layout.files().iter().enumerate() {
        let Some(chunks) = shared.torrent.xet_root_of(index).and_then(|r| shared.torrent.xet_layers.get(&r))
        else {
            continue;
        };
        let fills = plan_fill(chunks, file.offset, piece_length, missing);
        if fills.is_empty() {
            continue;
        }
        if let Err(reason) = copy_chunks(shared, store, chunks, &fills, &mut copied) {
            tracing::warn!(torrent = %shared.torrent.name, file = index, %reason, "xet: copying local chunks stopped");
        }
        touched.extend(pieces_written(&fills, piece_length));
    }
    if touched.is_empty() {
        return (FillOutcome::default(), None);
    }
    touched.sort_unstable();
    touched.dedup();
    shared.counters.hashed_pieces.fetch_add(touched.len() as u64, Relaxed);
    let checks = |i: u32| shared.torrent.piece_check(i);
    let good = ccbt_storage::check_listed(
        shared.storage.as_ref(),
        &shared.lengths,
        &checks,
        &touched,
        shared.options().hash_workers,
        &|_| {},
    )
    .unwrap_or_default();
    for &piece in &good {
        have.set(piece);
    }
    let outcome =
        FillOutcome { bytes: copied.bytes, kernel_bytes: copied.kernel_bytes, pieces: good.len() as u32 };
    shared.counters.xet_local_bytes.fetch_add(outcome.bytes, Relaxed);
    shared.counters.xet_kernel_bytes.fetch_add(outcome.kernel_bytes, Relaxed);
    shared.counters.xet_local_pieces.fetch_add(u64::from(outcome.pieces), Relaxed);
    // Pieces that got some local bytes but did not verify lack chunks the store does not hold.
    let partial: Vec<u32> = copied.pieces.iter().copied().filter(|p| !have.get(*p)).collect();
    let still_missing = |p: u32| p < have.len() && wanted.get(p) && !have.get(p);
    let plan = super::xet_chunks::ChunkPlan::new(&shared.torrent, &partial, &copied.absent, &still_missing);
    (outcome, plan)
}

/// Bytes put into the torrent's files from local chunks so far, and how many of them the
/// kernel copied.
#[derive(Default)]
struct Copied {
    bytes: u64,
    kernel_bytes: u64,
    /// Pieces some local bytes were written into.
    pieces: std::collections::BTreeSet<u32>,
    /// Chunks planned that the store does not hold.
    absent: std::collections::HashSet<ccbt_xet::ChunkId>,
}

/// Copies each planned chunk the store holds, adding to `copied`. The store reads each chunk
/// and checks it against its id; the copy then goes through `copy_from_file`, which may take
/// the range from the source file again in the kernel: the piece hash check that follows the
/// fill catches a file changed in between.
fn copy_chunks(
    shared: &TorrentShared,
    store: &XetStore,
    chunks: &[ccbt_xet::ChunkRef],
    fills: &[ChunkFill],
    copied: &mut Copied,
) -> Result<(), String> {
    for fill in fills {
        let id = &chunks[fill.chunk].id;
        let Some(local) = store.local_chunk(id).map_err(|e| e.to_string())? else {
            copied.absent.insert(*id);
            continue;
        };
        let data = Bytes::from(local.bytes);
        for &(offset, len) in &fill.runs {
            let (start, end) = (offset as usize, offset as usize + len as usize);
            let Some(run) = (end <= data.len()).then(|| data.slice(start..end)) else { continue };
            let by_kernel = shared
                .storage
                .copy_from_file(
                    fill.stream_offset + u64::from(offset),
                    &local.file,
                    local.offset + u64::from(offset),
                    &run,
                )
                .map_err(|e| e.to_string())?;
            copied.bytes += u64::from(len);
            copied.kernel_bytes += by_kernel;
            let start = fill.stream_offset + u64::from(offset);
            let piece_length = u64::from(shared.lengths.piece_length());
            for piece in start / piece_length..=(start + u64::from(len) - 1) / piece_length {
                copied.pieces.insert(piece as u32);
            }
        }
    }
    Ok(())
}

/// Records the complete files of this torrent in the chunk store (their chunks are known from
/// the torrent's manifests, and the files verified against their roots), on the blocking pool.
pub(super) fn index_complete_files(shared: &Arc<TorrentShared>) {
    let Some(store) = shared.xet.clone() else { return };
    if shared.torrent.xet_layers.is_empty() {
        return;
    }
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || {
        for (path, root) in complete_files(&shared) {
            let Some(chunks) = shared.torrent.xet_layers.get(&root) else { continue };
            if let Err(e) = store.index_file(&path, chunks, &root) {
                tracing::warn!(path = %path.display(), error = %e, "xet: cannot index a file");
            }
        }
        // The files held changed: the announcer plans its keys again.
        shared.xet_keys.changed.notify_one();
    });
}

/// The torrent's files whose every piece is verified, with their xet roots.
fn complete_files(shared: &TorrentShared) -> Vec<(PathBuf, ccbt_xet::ChunkId)> {
    let inner = lock(&shared.inner);
    let have = inner.swarm.have();
    let layout = shared.torrent.layout();
    let piece_length = u64::from(shared.lengths.piece_length());
    let mut files = Vec::new();
    for (index, file) in layout.files().iter().enumerate() {
        let Some(root) = shared.torrent.xet_root_of(index) else { continue };
        if file.length == 0 {
            continue;
        }
        let first = file.offset / piece_length;
        let last = (file.offset + file.length - 1) / piece_length;
        if (first..=last).all(|p| u32::try_from(p).is_ok_and(|p| have.get(p))) {
            let mut path = shared.save_path.clone();
            path.extend(&file.path);
            files.push((path, root));
        }
    }
    files
}

/// Where each chunk of the torrent's manifests lies in its byte stream: `(offset, length)` by
/// chunk id (a chunk held twice keeps its first place). None without manifests.
pub(super) fn chunk_positions(
    torrent: &ccbt_metainfo::Torrent,
) -> Option<HashMap<ccbt_xet::ChunkId, (u64, u32)>> {
    if torrent.xet_layers.is_empty() {
        return None;
    }
    let mut positions = HashMap::new();
    for (index, file) in torrent.layout().files().iter().enumerate() {
        let Some(chunks) = torrent.xet_root_of(index).and_then(|r| torrent.xet_layers.get(&r)) else {
            continue;
        };
        let mut offset = file.offset;
        for chunk in chunks {
            positions.entry(chunk.id).or_insert((offset, chunk.len));
            offset += u64::from(chunk.len);
        }
    }
    Some(positions)
}
