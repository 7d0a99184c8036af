//! The session's Xet chunk store (docs/xet.md, "Local chunk store").

use std::sync::Arc;

use ccbt_xetstore::{StoreOptions, XetStore};

use crate::SessionOptions;

/// Opens the store named by `xet_store_dir`, on the blocking pool. The extension only saves
/// downloads, so a store that cannot open (another process holds it, a damaged index) is a
/// warning and the session runs without it.
pub(crate) async fn open_store(options: &SessionOptions) -> Option<Arc<XetStore>> {
    let dir = options.xet_store_dir.clone()?;
    let opened = tokio::task::spawn_blocking(move || {
        let store = XetStore::open(&dir, StoreOptions::default());
        (dir, store)
    })
    .await;
    match opened {
        Ok((_, Ok(store))) => Some(Arc::new(store)),
        Ok((dir, Err(e))) => {
            tracing::warn!(dir = %dir.display(), error = %e, "the xet chunk store could not open; continuing without it");
            None
        }
        Err(_) => None,
    }
}
