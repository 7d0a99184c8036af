//! [`Session::xet_stats`]: the session's Xet chunk store, for status commands and tests; the
//! discovery keys it announces and DHT look-ups of other holders (docs/xet.md, "Discovery of
//! chunk holders").

use std::net::SocketAddr;
use std::time::Duration;

use super::{Session, SessionInner};
use crate::xet_discovery::serve::ServeContext;

pub use ccbt_xetstore::XetStats;

/// Most holders [`Session::xet_find_holders`] returns.
const MAX_HOLDERS: usize = 64;

impl Session {
    /// Totals of the Xet chunk store (indexed files, distinct chunks, bytes), read on the
    /// blocking pool. `None` when the Xet extension is off or its store did not open; an error
    /// reading the store is logged and also gives `None`.
    pub async fn xet_stats(&self) -> Option<XetStats> {
        let store = self.inner.xet.clone()?;
        let stats = tokio::task::spawn_blocking(move || store.stats()).await.ok()?;
        stats.map_err(|e| tracing::warn!(error = %e, "cannot read the xet chunk store")).ok()
    }

    /// The Xet discovery keys this session announces on the DHT and answers xet-only
    /// connections for (file keys first, then anchor keys), as of the last announce round.
    /// Empty without a chunk store or a DHT.
    pub fn xet_discovery_keys(&self) -> Vec<[u8; 20]> {
        self.inner.xet_keys.keys().into_iter().map(|k| k.0).collect()
    }

    /// Holders of a Xet discovery key (`ccbt_xet::file_key` or `anchor_key`) found by one DHT
    /// `get_peers` look-up lasting at most `limit`: their TCP addresses, to be connected to
    /// with the key as the info hash (at most 64; empty without a DHT).
    pub async fn xet_find_holders(&self, key: [u8; 20], limit: Duration) -> Vec<SocketAddr> {
        let Some(dht) = self.inner.dht.clone() else { return Vec::new() };
        crate::xet_discovery::find_holders(&dht, ccbt_core::InfoHash(key), limit, MAX_HOLDERS).await
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
