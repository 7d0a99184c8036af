//! The session's Xet chunk store for status commands, the daemon's API and tests: its totals
//! ([`Session::xet_stats`]), per xet root ([`Session::xet_root_stats`]), cleaning it while
//! torrents use it ([`Session::xet_cleanup`]), what a torrent took from it
//! ([`Session::xet_fill`]), the discovery keys it announces and DHT look-ups of other holders
//! (docs/xet.md, "Discovery of chunk holders"). The store is one process's (redb holds it
//! exclusively), so while a session runs, other programs reach it through these.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use ccbt_xetstore::XetStore;

use super::{Session, SessionInner};
use crate::xet_discovery::serve::ServeContext;
use crate::{SessionError, TorrentId};

pub use ccbt_xetstore::{CleanupReport as XetCleanupReport, RootStats as XetRootStats, XetStats};

/// Why a chunk-store call of the session did not answer.
#[derive(Debug, thiserror::Error)]
pub enum XetApiError {
    /// The Xet extension is off, or its store did not open at start (the log says why).
    #[error("the Xet extension is off (xet_enabled = false) or its chunk store did not open")]
    Off,
    #[error(transparent)]
    Store(#[from] ccbt_xetstore::XetStoreError),
    /// The blocking task reading the store panicked or was cancelled.
    #[error("reading the chunk store failed: {0}")]
    Task(String),
}

/// What one torrent took from the chunk store since it was added (the fill before its
/// download).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XetFill {
    /// Bytes copied into missing pieces from chunks already on this machine.
    pub bytes: u64,
    /// Of them, bytes the kernel copied (`copy_file_range`: extents shared on btrfs and XFS);
    /// the rest were written from the bytes read and checked.
    pub kernel_bytes: u64,
    /// Pieces that verified after those copies.
    pub pieces: u64,
    /// Chunk bytes fetched over `xet_cas` for pieces the copies filled only partly (the
    /// chunk phase, docs/xet.md "Fetching chunks from peers"): from peers of the torrent's
    /// swarm, and from holders found under discovery keys. Each chunk was checked against its
    /// id before it was written.
    pub swarm_chunk_bytes: u64,
    pub holder_chunk_bytes: u64,
    /// Pieces that verified after chunks fetched from peers completed them.
    pub chunk_pieces: u64,
}

/// Most holders [`Session::xet_find_holders`] returns.
const MAX_HOLDERS: usize = 64;

impl Session {
    /// Totals of the Xet chunk store (indexed files, distinct chunks, bytes), read on the
    /// blocking pool. `None` when the Xet extension is off or its store did not open; an error
    /// reading the store is logged and also gives `None`.
    pub async fn xet_stats(&self) -> Option<XetStats> {
        self.with_store(|store| store.stats())
            .await
            .map_err(|e| {
                if !matches!(e, XetApiError::Off) {
                    tracing::warn!(error = %e, "cannot read the xet chunk store");
                }
            })
            .ok()
    }

    /// The chunk store's folder, if the Xet extension is on and the store opened.
    pub fn xet_store_dir(&self) -> Option<PathBuf> {
        self.inner.xet.as_ref().map(|store| store.dir().to_path_buf())
    }

    /// Dedup figures per xet root (files, chunks, bytes, bytes shared with other roots).
    pub async fn xet_root_stats(&self) -> Result<Vec<XetRootStats>, XetApiError> {
        self.with_store(|store| store.root_stats()).await
    }

    /// Drops the indexed files that changed or vanished, then forgets the files indexed
    /// longest ago while the index's live data is over `xet_cache_bytes` (nothing changes with
    /// `dry_run`). The store stays in use by the torrents meanwhile, so its file is not
    /// compacted (see [`XetStore::cleanup_shared`]).
    pub async fn xet_cleanup(&self, dry_run: bool) -> Result<XetCleanupReport, XetApiError> {
        let cap = self.options().xet_cache_bytes;
        self.with_store(move |store| store.cleanup_shared(cap, dry_run)).await
    }

    /// What torrent `id` took from the chunk store so far.
    pub fn xet_fill(&self, id: TorrentId) -> Result<XetFill, SessionError> {
        let counters = &self.shared(id)?.counters;
        Ok(XetFill {
            bytes: counters.xet_local_bytes.load(Relaxed),
            kernel_bytes: counters.xet_kernel_bytes.load(Relaxed),
            pieces: counters.xet_local_pieces.load(Relaxed),
            swarm_chunk_bytes: counters.xet_swarm_bytes.load(Relaxed),
            holder_chunk_bytes: counters.xet_holder_bytes.load(Relaxed),
            chunk_pieces: counters.xet_peer_pieces.load(Relaxed),
        })
    }

    /// Runs `f` on the store on the blocking pool.
    async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&XetStore) -> ccbt_xetstore::Result<T> + Send + 'static,
    ) -> Result<T, XetApiError> {
        let store: Arc<XetStore> = self.inner.xet.clone().ok_or(XetApiError::Off)?;
        let result = tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| XetApiError::Task(e.to_string()))?;
        Ok(result?)
    }

    /// The Xet discovery keys this session announces on the DHT and answers xet-only
    /// connections for (file keys first, then anchor keys), as of the last announce round.
    /// Empty without a chunk store or a DHT.
    pub fn xet_discovery_keys(&self) -> Vec<[u8; 20]> {
        self.inner.xet_keys.keys().into_iter().map(|k| k.0).collect()
    }

    /// Holders of a Xet discovery key (`ccbt_xet::file_key` or `anchor_key`): their TCP
    /// addresses, to be connected to with the key as the info hash (each once, at most 64).
    /// Found by one DHT `get_peers` look-up and, at the same time, by announcing the key to the
    /// trackers of the session's public torrents whose files the key stands for (docs/xet.md,
    /// "Asking"); both last at most `limit`. Empty without a DHT and without such torrents.
    pub async fn xet_find_holders(&self, key: [u8; 20], limit: Duration) -> Vec<SocketAddr> {
        let key = ccbt_core::InfoHash(key);
        let dht = self.inner.dht.clone();
        let from_dht = async move {
            match dht {
                Some(dht) => crate::xet_discovery::find_holders(&dht, key, limit, MAX_HOLDERS).await,
                None => Vec::new(),
            }
        };
        let from_trackers = self.inner.xet_tracker_holders(key, limit, MAX_HOLDERS);
        let (dht, trackers) = tokio::join!(from_dht, from_trackers);
        crate::xet_discovery::merge_holders(dht, trackers, MAX_HOLDERS)
    }

    /// The discovery keys each tracker gets now, as of the last announce round: `(announce
    /// URL, keys)` (docs/xet.md, "Announcing"). Never a private torrent's tracker.
    pub fn xet_tracker_keys(&self) -> Vec<(String, Vec<[u8; 20]>)> {
        let plan = self.inner.xet_keys.tracker_keys();
        plan.into_iter().map(|(url, keys)| (url, keys.into_iter().map(|k| k.0).collect())).collect()
    }
}

impl SessionInner {
    /// What an xet-only connection for `key` needs, if we announce that key.
    pub(crate) fn xet_only_context(&self, key: &ccbt_core::InfoHash) -> Option<ServeContext> {
        let store = self.xet.clone()?;
        let scope = self.xet_keys.scope(key)?;
        Some(ServeContext {
            store,
            scope,
            peer_id: self.peer_id,
            budget: self.budget.clone(),
            limits: self.limits.clone(),
            slots: self.xet_keys.slots.clone(),
        })
    }
}

/// [`Session::xet_find_holders`] for a torrent's chunk phase, which holds the session weakly:
/// every holder source the session knows is used. Empty once the session is gone.
pub(crate) async fn xet_find_holders(
    session: &std::sync::Weak<SessionInner>,
    key: [u8; 20],
    limit: Duration,
) -> Vec<SocketAddr> {
    let Some(inner) = session.upgrade() else { return Vec::new() };
    Session { inner }.xet_find_holders(key, limit).await
}

/// The xet roots of the session's running torrent whose v2 info hash is `v2` (a Xet torrent's
/// `prev` version), if the session runs it.
pub(crate) fn xet_roots_of(
    session: &std::sync::Weak<SessionInner>,
    v2: &ccbt_core::InfoHashV2,
) -> Vec<ccbt_xet::ChunkId> {
    let Some(inner) = session.upgrade() else { return Vec::new() };
    let torrents = crate::sync::lock(&inner.torrents);
    torrents
        .values()
        .find_map(|t| match t {
            super::TorrentEntry::Active { shared, .. }
                if shared.torrent.info_hash_v2.as_ref() == Some(v2) =>
            {
                shared.torrent.xet.as_ref().map(|x| x.roots.values().copied().collect())
            }
            _ => None,
        })
        .unwrap_or_default()
}
