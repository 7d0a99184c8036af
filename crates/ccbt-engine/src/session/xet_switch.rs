//! Switching a followed dataset to a new version (docs/xet.md, "Following: the switch"). The
//! order keeps the current version's verified data safe whatever fails:
//!
//! 1. The new version downloads into `DIR/.ccbt-xet-staging/<id>/`, never over the current
//!    files: the chunk store reads chunks from them while it fills the new torrent
//!    ([`fetch`]; a stop may cut it anywhere, the staging folder is reused).
//! 2. Only once every piece of it is verified, the commit (`xet_commit.rs`, a task of its own
//!    that a stop of the follow does not cut, with a journal for a killed process): both
//!    torrents stop (their data stays, their checkpoints go), and each new file is renamed
//!    over its place in `DIR`, one atomic rename per file. Files of the old version that the
//!    new one lacks are deleted last. Each old file is first retired in the chunk store: its
//!    chunks that no other indexed file holds go into a pack, so peers still on the old
//!    version can be served and a later version can reuse them; the store is then cleaned
//!    under its cap (`xet_cache_size_mib`, packs deleted oldest first).
//! 3. Still in the commit: the new torrent is added at `DIR`; it checks the moved files and
//!    seeds them, and, being complete, indexes them in the chunk store. The staging paths are
//!    forgotten.
//!
//! A crash in step 2 leaves every file of `DIR` whole: either the old version's or the new
//! one's, the rest of the new files still in the staging folder; the journal makes the next
//! follow of the folder finish the moves and add the new torrent. A rename that fails
//! (without a crash) stops the moves: the new torrent is added at `DIR` all the same, counts
//! as switched, and fetches the files that did not move (from the staging copies first,
//! through the store); the staging folder is then left in place and the failure is the
//! follow's `last_error`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ccbt_core::InfoHash;
use ccbt_metainfo::{Magnet, Torrent};

use super::xet_follow::XetFollowSpec;
use super::Session;
use crate::{AddTorrent, SessionError, TorrentId, TorrentState};

/// The folder inside a followed dataset's folder where new versions download.
pub const STAGING_DIR: &str = ".ccbt-xet-staging";

/// How often a fetch is looked at.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// Step 1: fetches the version `ih` into its staging folder; returns the staging torrent and
/// its metainfo once every piece is verified. A staging torrent of `ih` already in the session
/// (a fetch that a stopped follow left running, or restored from its checkpoint) is the one
/// waited for. Nothing of `spec.dir` changes here: a stop may cut this anywhere.
pub(super) async fn fetch(
    session: &Session,
    spec: &XetFollowSpec,
    ih: InfoHash,
) -> Result<(TorrentId, Arc<Torrent>), String> {
    let staging = spec.dir.join(STAGING_DIR).join(ih.to_hex());
    std::fs::create_dir_all(&staging).map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
    let add = AddTorrent::magnet(Magnet::of_any_version(ih)).save_path(&staging);
    let staged = match session.add_torrent(add).await {
        Ok(id) => id,
        Err(SessionError::DuplicateTorrent { .. }) => session
            .torrents()
            .into_iter()
            .find(|s| s.save_path == staging && (s.info_hash == ih || metainfo_names(session, s.id, ih)))
            .map(|s| s.id)
            .ok_or_else(|| format!("version {ih} is in the session already, not in {}", staging.display()))?,
        Err(e) => return Err(format!("cannot add version {ih}: {e}")),
    };
    if let Err(reason) = wait_complete(session, staged).await {
        let _ = session.remove(staged).await;
        return Err(format!("fetching version {ih}: {reason}"));
    }
    let torrent = session.metainfo(staged).map_err(|e| e.to_string())?;
    Ok((staged, torrent))
}

fn metainfo_names(session: &Session, id: TorrentId, ih: InfoHash) -> bool {
    session.metainfo(id).is_ok_and(|t| super::xet_follow::follow_id(&t) == ih)
}

/// Waits until the torrent is complete and seeding; a failed torrent is an error.
async fn wait_complete(session: &Session, id: TorrentId) -> Result<(), String> {
    loop {
        let status = session.status(id).map_err(|e| e.to_string())?;
        if let TorrentState::Error(e) = &status.state {
            return Err(e.to_string());
        }
        if status.is_complete() && status.state == TorrentState::Seeding {
            return Ok(());
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// The path of each non-padding file of `torrent` under `root`.
fn file_paths(torrent: &Torrent, root: &Path) -> Vec<(PathBuf, u64)> {
    let layout = torrent.layout();
    layout
        .files()
        .iter()
        .filter(|f| !f.is_padding)
        .map(|f| (f.path.iter().fold(root.to_path_buf(), |p, part| p.join(part)), f.length))
        .collect()
}

/// Step 2 of the switch: renames each file of `torrent` from `staging` over its place in
/// `dir`, then deletes the files of `old` that `torrent` lacks, forgetting the paths that
/// changed in the chunk store. Stops at the first failure (the files not yet moved stay in
/// the staging folder). `again`: the moves of a commit a crash cut short, run again (a new
/// file that is no longer in the staging folder but in its place was moved already).
pub(super) fn move_into_place(
    torrent: &Torrent,
    old: Option<&Torrent>,
    staging: &Path,
    dir: &Path,
    store: Option<&ccbt_xetstore::XetStore>,
    again: bool,
) -> Result<(), String> {
    let new_files = file_paths(torrent, dir);
    for (i, ((from, length), (to, _))) in file_paths(torrent, staging).into_iter().zip(&new_files).enumerate()
    {
        if again && length > 0 && !from.exists() && to.exists() {
            continue;
        }
        move_one(&from, to, length, store)?;
        if i == 0 && !super::xet_hooks::after_first_move(dir) {
            return Err("stopped after the first move".to_owned());
        }
    }
    let Some(old) = old else { return Ok(()) };
    for (path, _) in file_paths(old, dir) {
        if new_files.iter().any(|(p, _)| *p == path) {
            continue;
        }
        retire(store, &path);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "xet follow: cannot delete an old file")
            }
        }
    }
    Ok(())
}

/// Renames one new file from the staging folder over its place.
fn move_one(
    from: &Path,
    to: &Path,
    length: u64,
    store: Option<&ccbt_xetstore::XetStore>,
) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    // Before the rename: the store keys canonical paths, which need the file to exist. The
    // old file is retired while the new one is still indexed, so their shared chunks are not
    // copied into a pack.
    retire(store, to);
    forget(store, from);
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        // An empty file is not always created by the download.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && length == 0 => {
            std::fs::File::create(to).map(drop).map_err(|e| format!("cannot create {}: {e}", to.display()))
        }
        Err(e) => Err(format!("cannot move {} to {}: {e}", from.display(), to.display())),
    }
}

/// Keeps the chunks of `path` (a file about to be replaced or deleted) that no other indexed
/// file holds in a pack, and forgets the path. A file that is absent or not indexed is only
/// forgotten; a failure leaves an entry the store finds stale when it reads it.
fn retire(store: Option<&ccbt_xetstore::XetStore>, path: &Path) {
    let Some(store) = store else { return };
    if !path.exists() {
        return forget(Some(store), path);
    }
    match store.retire_file(path) {
        Ok(r) if r.chunks > 0 => {
            tracing::debug!(path = %path.display(), chunks = r.chunks, bytes = r.bytes, "xet follow: retired chunks")
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "xet follow: cannot keep the old file's chunks");
            forget(Some(store), path);
        }
    }
}

/// Cleans the chunk store under its cap after a switch added packs (never compacting: the
/// session's torrents use it).
pub(super) fn keep_under_cap(store: &ccbt_xetstore::XetStore, cap: u64) {
    match store.cleanup_shared(cap, false) {
        Ok(r) if !r.evicted_packs.is_empty() || !r.evicted.is_empty() => tracing::info!(
            packs = r.evicted_packs.len(),
            files = r.evicted.len(),
            "xet follow: chunk store cleaned under its cap"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "xet follow: cannot clean the chunk store"),
    }
}

/// Drops a path from the chunk store's index (a moved or deleted file); a failure only leaves
/// an entry the store finds stale when it reads it.
fn forget(store: Option<&ccbt_xetstore::XetStore>, path: &Path) {
    if let Some(Err(e)) = store.map(|s| s.forget_file(path)) {
        tracing::debug!(path = %path.display(), error = %e, "xet follow: cannot forget a path");
    }
}

#[cfg(test)]
mod tests {
    use ccbt_metainfo::{MetaVersion, TorrentBuilder};

    use super::*;

    /// A v1 torrent of `files` (paths and lengths; the hashes do not matter here).
    fn torrent(files: &[(&str, u64)]) -> Torrent {
        let total: u64 = files.iter().map(|f| f.1).sum();
        let builder = TorrentBuilder {
            version: MetaVersion::V1,
            name: "set".into(),
            files: files.iter().map(|(p, l)| (p.split('/').map(String::from).collect(), *l)).collect(),
            piece_length: 16384,
            piece_hashes: vec![[0; 20]; total.div_ceil(16384) as usize],
            ..TorrentBuilder::default()
        };
        Torrent::from_bytes(&builder.build().unwrap()).unwrap()
    }

    #[test]
    fn new_files_replace_old_ones_and_files_only_the_old_version_had_go() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join(STAGING_DIR).join("x");
        let old = torrent(&[("a.bin", 3), ("gone.bin", 4)]);
        let new = torrent(&[("a.bin", 5), ("sub/b.bin", 2), ("empty", 0)]);
        std::fs::create_dir_all(dir.path().join("set")).unwrap();
        std::fs::write(dir.path().join("set/a.bin"), b"old").unwrap();
        std::fs::write(dir.path().join("set/gone.bin"), b"gone").unwrap();
        std::fs::create_dir_all(staging.join("set/sub")).unwrap();
        std::fs::write(staging.join("set/a.bin"), b"new-a").unwrap();
        std::fs::write(staging.join("set/sub/b.bin"), b"bb").unwrap();
        move_into_place(&new, Some(&old), &staging, dir.path(), None, false).unwrap();
        assert_eq!(std::fs::read(dir.path().join("set/a.bin")).unwrap(), b"new-a");
        assert_eq!(std::fs::read(dir.path().join("set/sub/b.bin")).unwrap(), b"bb");
        assert_eq!(std::fs::read(dir.path().join("set/empty")).unwrap(), b"");
        assert!(!dir.path().join("set/gone.bin").exists());
        assert!(!staging.join("set/a.bin").exists());
    }

    #[test]
    fn moves_run_again_after_a_crash_skip_the_files_already_moved() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join(STAGING_DIR).join("x");
        let old = torrent(&[("a.bin", 3), ("b.bin", 3), ("gone.bin", 4)]);
        let new = torrent(&[("a.bin", 5), ("b.bin", 5)]);
        // a.bin moved before the crash; b.bin still staged; gone.bin not deleted yet.
        std::fs::create_dir_all(dir.path().join("set")).unwrap();
        std::fs::write(dir.path().join("set/a.bin"), b"new-a").unwrap();
        std::fs::write(dir.path().join("set/b.bin"), b"old").unwrap();
        std::fs::write(dir.path().join("set/gone.bin"), b"gone").unwrap();
        std::fs::create_dir_all(staging.join("set")).unwrap();
        std::fs::write(staging.join("set/b.bin"), b"new-b").unwrap();
        // A first commit would call the missing staged a.bin a failure.
        assert!(move_into_place(&new, Some(&old), &staging, dir.path(), None, false).is_err());
        move_into_place(&new, Some(&old), &staging, dir.path(), None, true).unwrap();
        assert_eq!(std::fs::read(dir.path().join("set/a.bin")).unwrap(), b"new-a");
        assert_eq!(std::fs::read(dir.path().join("set/b.bin")).unwrap(), b"new-b");
        assert!(!dir.path().join("set/gone.bin").exists());
    }

    #[test]
    fn a_missing_new_file_stops_the_moves_and_keeps_the_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join(STAGING_DIR).join("x");
        let old = torrent(&[("a.bin", 3), ("b.bin", 3)]);
        let new = torrent(&[("a.bin", 5), ("c.bin", 2)]);
        std::fs::create_dir_all(dir.path().join("set")).unwrap();
        std::fs::write(dir.path().join("set/a.bin"), b"old").unwrap();
        std::fs::write(dir.path().join("set/b.bin"), b"bbb").unwrap();
        std::fs::create_dir_all(staging.join("set")).unwrap();
        std::fs::write(staging.join("set/c.bin"), b"cc").unwrap();
        let err = move_into_place(&new, Some(&old), &staging, dir.path(), None, false).unwrap_err();
        assert!(err.contains("cannot move"), "{err}");
        // Nothing of the old version was deleted or overwritten.
        assert_eq!(std::fs::read(dir.path().join("set/a.bin")).unwrap(), b"old");
        assert_eq!(std::fs::read(dir.path().join("set/b.bin")).unwrap(), b"bbb");
    }
}
