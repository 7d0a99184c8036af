//! The session's torrents as the tracker side of Xet discovery sees them (docs/xet.md,
//! "Discovery of chunk holders"): which trackers get the discovery keys (announcer,
//! `xet_discovery`), and which ones [`Session::xet_find_holders`] asks.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use ccbt_core::InfoHash;
use ccbt_metainfo::Torrent;
use ccbt_xet::{key_stands_for, lookup_trackers, TorrentTrackers};

use super::{SessionInner, TorrentEntry};
use crate::sync::lock;
use crate::xet_discovery::{ask_trackers, Asker, TorrentSource};

impl SessionInner {
    /// The torrents that matter to the tracker policy, in the order they were added: every Xet
    /// torrent, and every private one (whose trackers must never get keys). Empty when
    /// `xet_tracker_announce` is off.
    fn xet_tracker_torrents(&self) -> Vec<(TorrentTrackers, Arc<Torrent>)> {
        let options = self.options();
        if !options.xet_tracker_announce {
            return Vec::new();
        }
        let mut torrents: Vec<(crate::TorrentId, Arc<Torrent>)> = lock(&self.torrents)
            .iter()
            .filter_map(|(id, entry)| match entry {
                TorrentEntry::Active { shared, .. } if shared.torrent.is_xet() || shared.torrent.private => {
                    Some((*id, shared.torrent.clone()))
                }
                _ => None,
            })
            .collect();
        torrents.sort_unstable_by_key(|(id, _)| id.0);
        torrents
            .into_iter()
            .map(|(_, torrent)| {
                let mut roots: Vec<ccbt_xet::ChunkId> =
                    torrent.xet.as_ref().map(|x| x.roots.values().copied().collect()).unwrap_or_default();
                roots.sort_unstable();
                roots.dedup();
                let trackers = crate::torrent::usable_tiers(&options, &torrent.trackers).concat();
                (TorrentTrackers { private: torrent.private, trackers, roots }, torrent)
            })
            .collect()
    }

    /// Holders of `key` listed by the trackers of the session's public torrents whose files the
    /// key stands for (`ccbt_xet::lookup_trackers`), asked for at most `limit`.
    pub(super) async fn xet_tracker_holders(
        &self,
        key: InfoHash,
        limit: Duration,
        max: usize,
    ) -> Vec<SocketAddr> {
        let torrents = self.xet_tracker_torrents();
        let holding: Vec<usize> = (0..torrents.len())
            .filter(|&i| {
                let torrent = &torrents[i].1;
                torrents[i].0.roots.iter().any(|root| {
                    let chunks = torrent.xet_layers.get(root).map(Vec::as_slice);
                    key_stands_for(&key.0, root, chunks)
                })
            })
            .collect();
        let views: Vec<TorrentTrackers> = torrents.into_iter().map(|(view, _)| view).collect();
        let urls = lookup_trackers(&views, &holding);
        let asker = Asker {
            peer_id: self.peer_id,
            port: self.listen_addr.port(),
            holds_key: self.xet_keys.scope(&key).is_some(),
        };
        ask_trackers(urls, key, asker, limit, max).await
    }
}

/// The announcer's view of the session's torrents (nothing once the session is gone).
pub(super) fn torrent_source(inner: Weak<SessionInner>) -> TorrentSource {
    Box::new(move || match inner.upgrade() {
        Some(inner) => inner.xet_tracker_torrents().into_iter().map(|(view, _)| view).collect(),
        None => Vec::new(),
    })
}
