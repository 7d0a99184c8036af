//! Starting a torrent: opening its files and spawning its task once the metadata is known
//! ([`start_active`]), or first resolving a magnet link's metadata ([`start_resolving`]), and
//! putting the result in the session's table.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Weak;

use ccbt_metainfo::{Magnet, Torrent};
use ccbt_storage::Storage;

use super::{SessionInner, TorrentEntry};
use crate::magnet::{self, MetaShared, ResolveSpec};
use crate::ownership;
use crate::resume::ResumeData;
use crate::sync::lock;
use crate::torrent::{
    file_entries, spawn_torrent, CheckpointSpec, DataCheck, FileChoice, Selection, TorrentSpec,
};
use crate::{Event, SessionError, TorrentError, TorrentId};

/// How a torrent with metadata starts.
pub(super) struct Start {
    pub(super) peers: Vec<SocketAddr>,
    /// Addresses the torrent never dials or accepts (a magnet's metadata liars).
    pub(super) banned_ips: Vec<std::net::IpAddr>,
    pub(super) check_existing: bool,
    /// The user's file selection and priorities.
    pub(super) files: FileChoice,
    /// Write into pre-existing files that ccbt did not create (`AddTorrent::overwrite`).
    pub(super) overwrite: bool,
    /// Pieces near the read position first.
    pub(super) streaming: bool,
    /// A checkpoint's pieces and file stamps (`AddTorrent::resume`).
    pub(super) resume: Option<ResumeData>,
    /// Where the torrent came from, for its checkpoints.
    pub(super) origin: ccbt_checkpoint::Source,
    /// `AddTorrent::paused`.
    pub(super) paused: bool,
}

/// Opens (creating as needed) a torrent's files and starts its task.
pub(super) async fn start_active(
    inner: &Arc<SessionInner>,
    id: TorrentId,
    torrent: Arc<Torrent>,
    save_path: PathBuf,
    start: Start,
) -> Result<TorrentEntry, SessionError> {
    let selection = Selection::new(&torrent, &start.files).map_err(SessionError::InvalidSelection)?;
    let deferred = selection.deferred_files();
    let storage_options = inner.storage_options();
    let earlier = start.resume.as_ref().map_or_else(Default::default, |r| ccbt_checkpoint::Totals {
        downloaded: r.downloaded,
        uploaded: r.uploaded,
        active_secs: r.active_secs,
    });
    let resume = start.resume;
    let (storage, plan) = {
        let torrent = torrent.clone();
        let root = save_path.clone();
        let state_dir = inner.options().state_dir.clone();
        tokio::task::spawn_blocking(move || {
            let layout = torrent.layout();
            // The files as they are before storage creates missing ones.
            let (plan, created) = crate::resume::prepare(resume, &torrent, &root);
            let storage = ownership::open_storage(
                &state_dir,
                &torrent.info_hash,
                &root,
                &layout,
                storage_options,
                ownership::Claims { overwrite: start.overwrite, created_before: created },
                deferred,
            );
            storage.map(|s| (s, plan))
        })
        .await
        .map_err(|e| TorrentError::TaskFailed { task: "file creation", reason: e.to_string() })
        .and_then(|created| created.map_err(TorrentError::Storage))
        .map_err(SessionError::Torrent)?
    };
    // Existing data is checked if asked, and always when some file is not ccbt's: only verified
    // pieces let the torrent write into it. A checkpoint replaces the check.
    let check = match plan {
        Some(plan) => DataCheck::Resume(plan),
        None if storage.had_data() && (start.check_existing || storage.has_foreign()) => DataCheck::Full,
        None => DataCheck::Nothing,
    };
    let checkpoint = inner.options().checkpoint_enabled.then(|| {
        let mut template = ccbt_checkpoint::Checkpoint::new(
            torrent.info_hash,
            torrent.name.clone(),
            storage.root(),
            torrent.lengths().num_pieces(),
        );
        template.source = start.origin;
        template.info = Some(torrent.info_bytes.clone());
        template.info_hash_v2 = torrent.info_hash_v2;
        // Only learned layers need keeping: a .torrent that carried them is read again anyway,
        // but a magnet's would otherwise be fetched from peers again.
        template.piece_layers = (!torrent.piece_layers.is_empty()).then(|| torrent.piece_layers_bencoded());
        template.files = file_entries(&torrent, &storage.owned_files(), selection.file_priorities());
        template.options.streaming = Some(start.streaming);
        CheckpointSpec {
            template,
            store: ccbt_checkpoint::CheckpointStore::new(&inner.options().checkpoint_dir),
            format: inner.options().checkpoint_format,
            earlier,
        }
    });
    let storage: Arc<dyn Storage> = Arc::new(storage);
    let (is_xet, private) = (torrent.is_xet(), torrent.private);
    let (shared, task) = spawn_torrent(TorrentSpec {
        id,
        torrent,
        save_path,
        storage,
        options: inner.options.subscribe(),
        listen_port: inner.listen_addr.port(),
        peer_id: inner.peer_id,
        pool: inner.pool.clone(),
        events: inner.events.clone(),
        peers: start.peers,
        initial_banned_ips: start.banned_ips,
        check,
        budget: inner.budget.clone(),
        dht: inner.dht.clone(),
        xet: inner.xet.clone(),
        xet_keys: inner.xet_keys.clone(),
        xet_session: Arc::downgrade(inner),
        limits: inner.limits.clone(),
        selection,
        streaming: start.streaming,
        checkpoint,
        paused: start.paused,
    });
    if is_xet || private {
        // The trackers that get discovery keys may change.
        inner.xet_keys.changed.notify_one();
    }
    Ok(TorrentEntry::Active { shared, task })
}

/// What a resolver (a magnet's metadata, or a `.torrent`'s missing Xet manifests) needs from
/// the session.
pub(crate) fn resolve_spec(
    inner: &SessionInner,
    id: TorrentId,
    magnet: Magnet,
    save_path: PathBuf,
    paused: bool,
    xet_store: bool,
) -> ResolveSpec {
    ResolveSpec {
        id,
        magnet,
        save_path,
        peer_id: inner.peer_id,
        listen_port: inner.listen_addr.port(),
        options: inner.options(),
        dht: inner.dht.clone(),
        limits: inner.limits.clone(),
        paused,
        xet_store,
    }
}

/// Saves the pending record of a torrent still resolving (`pending`, when checkpoints are on) with
/// its paused state; if it was added paused, waits until it is resumed and saves it again.
pub(crate) async fn save_pending_and_wait_unpaused(
    meta: &MetaShared,
    pending: Option<impl FnOnce(bool) + Clone + Send + 'static>,
) {
    let paused = *meta.paused.borrow();
    if let Some(save) = pending.clone() {
        let _ = tokio::task::spawn_blocking(move || save(paused)).await;
    }
    if paused {
        // Added paused: nothing until resumed (the sender lives in `meta`, held by the caller).
        let _ = meta.paused.subscribe().wait_for(|p| !p).await;
        if let Some(save) = pending {
            let _ = tokio::task::spawn_blocking(move || save(false)).await;
        }
    }
}

/// Starts fetching a magnet link's metadata; when it arrives the entry becomes a running torrent
/// with the same id.
pub(super) fn start_resolving(
    inner: &Arc<SessionInner>,
    id: TorrentId,
    magnet: Magnet,
    save_path: PathBuf,
    start: Start,
) -> TorrentEntry {
    let spec = resolve_spec(inner, id, magnet.clone(), save_path.clone(), start.paused, inner.xet.is_some());
    let (shared, commands) = magnet::new_resolver(&spec);
    let weak: Weak<SessionInner> = Arc::downgrade(inner);
    let meta = shared.clone();
    let pending = inner.options().checkpoint_enabled.then(|| {
        let (options, magnet, save_path) = (inner.options(), magnet.clone(), save_path.clone());
        let source = start.origin.clone();
        move |paused| crate::checkpoint::save_pending_magnet(&options, &magnet, &save_path, source, paused)
    });
    let task = tokio::spawn(async move {
        let Start { peers, files, overwrite, streaming, origin, .. } = start;
        // Before anything else, so it can never land after the torrent's own checkpoints.
        save_pending_and_wait_unpaused(&meta, pending).await;
        let result = magnet::resolve(meta.clone(), commands, magnet.clone(), peers).await;
        let Some(inner) = weak.upgrade() else { return };
        let resolved = match result {
            Ok(r) => r,
            Err(reason) => {
                tracing::error!(%id, %reason, "magnet link failed");
                *lock(&meta.failed) = Some(reason.clone());
                let error = Arc::new(TorrentError::Metadata { reason });
                let _ =
                    inner.events.send(Event::StateChanged { id, state: crate::TorrentState::Error(error) });
                return;
            }
        };
        tracing::info!(%id, name = %resolved.torrent.name, "metadata received");
        let bytes = magnet::torrent_file_bytes(&resolved.torrent, &magnet);
        let saved = write_state_torrent(&inner.options().state_dir, &resolved.torrent.info_hash, bytes).await;
        let mut origin = origin;
        if !resolved.torrent.xet_layers.is_empty() {
            // Checkpoints keep the info dictionary and piece layers but not the Xet manifests
            // learned: naming the saved file lets a restart read them from it.
            origin.torrent_file = saved.or(origin.torrent_file);
        }
        let torrent = Arc::new(resolved.torrent);
        let mut files = files;
        if files.selected.is_none() {
            files.selected = magnet.select_only.clone();
        }
        let start = Start {
            peers: resolved.peers,
            banned_ips: resolved.liars,
            check_existing: true,
            files,
            overwrite,
            streaming,
            resume: None,
            origin,
            paused: false,
        };
        // A hybrid found through one of its ids is known by both from now on.
        lock(&inner.info_hashes).extend(torrent.wire_ids());
        let started = start_active(&inner, id, torrent, save_path, start).await;
        replace_entry(&inner, id, &meta, started);
    });
    TorrentEntry::Resolving { shared, task }
}

/// A resolving entry's torrent started (or failed to): the entry becomes the running torrent;
/// the resolving task (the caller) ends right after.
pub(super) fn replace_entry(
    inner: &SessionInner,
    id: TorrentId,
    meta: &MetaShared,
    started: Result<TorrentEntry, SessionError>,
) {
    match started {
        Ok(entry) => {
            let mut torrents = lock(&inner.torrents);
            if let Some(slot) = torrents.get_mut(&id) {
                *slot = entry;
            } else if let TorrentEntry::Active { task, .. } = entry {
                // Removed while we were starting: stop what we started.
                task.abort();
            }
        }
        Err(e) => {
            let reason = e.to_string();
            tracing::error!(%id, %reason, "cannot start the torrent after fetching its metadata");
            *lock(&meta.failed) = Some(reason);
        }
    }
}

/// Saves a .torrent whose metadata (or part of it) was learned from peers as
/// `<state_dir>/torrents/<info hash>.torrent` so the download can be resumed or re-seeded
/// without fetching it again; its path, or None if it could not be written.
pub(super) async fn write_state_torrent(
    state_dir: &Path,
    info_hash: &ccbt_core::InfoHash,
    bytes: Vec<u8>,
) -> Option<PathBuf> {
    let dir = state_dir.join("torrents");
    let path = dir.join(format!("{}.torrent", info_hash.to_hex()));
    let result = tokio::task::spawn_blocking(move || -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&dir)?;
        let tmp = path.with_extension("torrent.tmp");
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, &path)?;
        // Absolute: checkpoints name it, and are read from any working directory.
        Ok(std::fs::canonicalize(&path).unwrap_or(path))
    })
    .await;
    match result {
        Ok(Ok(path)) => {
            tracing::info!(path = %path.display(), "saved the .torrent with the metadata learned from peers");
            Some(path)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot save the .torrent with the metadata learned from peers");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "saving the .torrent failed");
            None
        }
    }
}
