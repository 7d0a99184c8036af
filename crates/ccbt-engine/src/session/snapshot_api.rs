//! The observation calls of [`Session`] that read many figures at once: the DHT's state, and the whole-session [`SessionSnapshot`] that the CLI, the API and `/metrics`
//! share.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, Weak};

use super::peers_api::peers_of;
use super::{Session, SessionInner, TorrentEntry};
use crate::magnet::MetaShared;
use crate::snapshot::{ConnectionAttempts, SessionSnapshot, SessionTotals, TorrentSnapshot};
use crate::sync::lock;
use crate::torrent::TorrentShared;
use crate::{DhtInfo, TorrentId};

/// The totals of the torrents removed from the session, kept so the session-wide counters never
/// go down.
#[derive(Default)]
pub(super) struct Retired(Mutex<SessionTotals>);

impl Retired {
    /// Adds a torrent being removed. Called under the session's torrents lock.
    pub(super) fn retire(&self, entry: &TorrentEntry) {
        let snapshot = torrent_snapshot(&TorrentRef::from(entry), false);
        lock(&self.0).add(&snapshot);
    }
}

/// A torrent held without the session's lock while its figures are read.
enum TorrentRef {
    Resolving(Arc<MetaShared>),
    Active(Arc<TorrentShared>),
}

impl From<&TorrentEntry> for TorrentRef {
    fn from(entry: &TorrentEntry) -> TorrentRef {
        match entry {
            TorrentEntry::Resolving { shared, .. } => TorrentRef::Resolving(shared.clone()),
            TorrentEntry::Active { shared, .. } => TorrentRef::Active(shared.clone()),
        }
    }
}

/// One torrent's figures; `detail` adds its peers and trackers. Each lock is held only while
/// its figures are copied.
fn torrent_snapshot(torrent: &TorrentRef, detail: bool) -> TorrentSnapshot {
    match torrent {
        TorrentRef::Resolving(shared) => TorrentSnapshot {
            status: shared.status(),
            hash_failed_bytes: 0,
            checkpoint_writes: 0,
            connection_attempts: ConnectionAttempts::default(),
            announces_ok: 0,
            announces_failed: 0,
            outstanding_requests: 0,
            queued_peer_requests: 0,
            time_to_first_byte: None,
            time_to_first_piece: None,
            peers: Vec::new(),
            trackers: Vec::new(),
        },
        TorrentRef::Active(shared) => {
            let c = &shared.counters;
            let trackers = lock(&shared.trackers).clone();
            let peers = if detail { peers_of(shared) } else { Vec::new() };
            let first = shared.first_data.get();
            TorrentSnapshot {
                announces_ok: trackers.iter().map(|t| t.announces_ok).sum(),
                announces_failed: trackers.iter().map(|t| t.announces_failed).sum(),
                status: shared.status(),
                hash_failed_bytes: c.hash_failed_bytes.load(Relaxed),
                checkpoint_writes: c.checkpoints_written.load(Relaxed),
                connection_attempts: ConnectionAttempts {
                    succeeded: c.connects_ok.load(Relaxed),
                    failed: c.connects_failed.load(Relaxed),
                },
                outstanding_requests: peers.iter().map(|p| p.outstanding_requests as u64).sum(),
                queued_peer_requests: peers.iter().map(|p| p.queued_peer_requests as u64).sum(),
                time_to_first_byte: first.first_byte(),
                time_to_first_piece: first.first_piece(),
                peers,
                trackers: if detail { trackers } else { Vec::new() },
            }
        }
    }
}

impl Session {
    /// The DHT node's state (None when the DHT is off or stopped).
    pub async fn dht_status(&self) -> Option<DhtInfo> {
        dht_info(&self.inner).await
    }

    /// Every figure of the session at one moment: each torrent's status, counters, peers and
    /// trackers, and the session-wide rates, totals (removed torrents included), queue depths
    /// and DHT state. `ccbt status`, the API and the metrics endpoint all read this.
    ///
    /// The session's lock is held only to list the torrents; each torrent's lock only while its
    /// figures are copied.
    pub async fn snapshot(&self) -> SessionSnapshot {
        snapshot_of(&self.inner).await
    }

    /// A handle that takes [`Session::snapshot`]s without keeping the session alive: a metrics
    /// endpoint holds it while the session's owner shuts the session down.
    pub fn snapshot_source(&self) -> SnapshotSource {
        SnapshotSource(Arc::downgrade(&self.inner))
    }
}

/// Takes snapshots of a session for as long as it runs ([`Session::snapshot_source`]).
#[derive(Clone)]
pub struct SnapshotSource(Weak<SessionInner>);

impl SnapshotSource {
    /// A snapshot, or None once the session is shut down and gone.
    pub async fn snapshot(&self) -> Option<SessionSnapshot> {
        let inner = self.0.upgrade()?;
        Some(snapshot_of(&inner).await)
    }
}

async fn dht_info(inner: &SessionInner) -> Option<DhtInfo> {
    let dht = inner.dht.as_ref()?;
    let s = dht.status().await?;
    Some(DhtInfo {
        node_id: s.node_id.0.iter().map(|b| format!("{b:02x}")).collect(),
        local_addr: dht.local_addr(),
        good_nodes: s.good_nodes,
        questionable_nodes: s.questionable_nodes,
        buckets: s.buckets.iter().map(|b| (b.index, b.nodes)).collect(),
        active_lookups: s.active_lookups,
        stored_info_hashes: s.stored_info_hashes,
        stored_peers: s.stored_peers,
        stored_items: s.stored_items,
        queries_in: s.queries_in,
        queries_out: s.queries_out,
    })
}

async fn snapshot_of(inner: &SessionInner) -> SessionSnapshot {
    let (refs, retired) = {
        let torrents = lock(&inner.torrents);
        let mut refs: Vec<(TorrentId, TorrentRef)> =
            torrents.iter().map(|(&id, e)| (id, TorrentRef::from(e))).collect();
        refs.sort_by_key(|(id, _)| *id);
        (refs, *lock(&inner.retired.0))
    };
    let torrents: Vec<TorrentSnapshot> = refs.iter().map(|(_, t)| torrent_snapshot(t, true)).collect();
    let mut totals = retired;
    for t in &torrents {
        totals.add(t);
    }
    SessionSnapshot {
        download_rate: torrents.iter().map(|t| t.status.download_rate).sum(),
        upload_rate: torrents.iter().map(|t| t.status.upload_rate).sum(),
        banned_peers: torrents.iter().map(|t| t.status.banned_peers as u64).sum(),
        totals,
        connected_peers: inner.budget.active(),
        handshaking_peers: inner.budget.handshaking(),
        hash_queue_depth: inner.pool.queue_depth(),
        disk_queue_depth: inner.pool.in_progress(),
        dht: dht_info(inner).await,
        torrents,
    }
}
