//! The local Xet chunk store: an index from chunk id to where its bytes already are on this
//! machine, so a torrent can take the chunks it shares with files we already have (another
//! torrent, an older version) by a local copy instead of a download.
//!
//! Payload files stay where their torrents put them; the store only points into them
//! (`<dir>/index.redb`, see docs/xet.md, "Local chunk store"). Chunks a file is about to lose
//! (an old version being replaced) can be retired into packs (`<dir>/packs/`) first. Nothing read back is trusted: a
//! file whose size or mtime changed since it was indexed is dropped from the index, and every
//! chunk copied is hashed again.
//!
//! Pure parts (value layouts, fill planning, cap selection) are in [`codec`] and [`plan`]; the
//! rest touches files.

mod cleanup;
mod codec;
mod contain;
mod error;
mod fill;
mod pack;
mod plan;
mod source;
mod stats;
mod store;

pub use cleanup::{CleanupReport, StaleFile};
pub use error::{Result, XetStoreError};
pub use fill::{FillReport, LocalChunk};
pub use pack::{PackInfo, RetireReport};
pub use plan::select_evictions;
pub use stats::{RootStats, XetStats};
pub use store::{FileId, Holder, IndexedFile, Location, StoreOptions, XetStore};
