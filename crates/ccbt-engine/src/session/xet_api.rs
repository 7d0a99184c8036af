//! [`Session::xet_stats`]: the session's Xet chunk store, for status commands and tests.

use super::Session;

pub use ccbt_xetstore::XetStats;

impl Session {
    /// Totals of the Xet chunk store (indexed files, distinct chunks, bytes), read on the
    /// blocking pool. `None` when the Xet extension is off or its store did not open; an error
    /// reading the store is logged and also gives `None`.
    pub async fn xet_stats(&self) -> Option<XetStats> {
        let store = self.inner.xet.clone()?;
        let stats = tokio::task::spawn_blocking(move || store.stats()).await.ok()?;
        stats.map_err(|e| tracing::warn!(error = %e, "cannot read the xet chunk store")).ok()
    }
}
