//! Xet content-defined chunking and hashing, byte-compatible with Hugging Face's xet-core.
//!
//! A file is cut into chunks of 8-128 KiB (64 KiB on average) where a gear rolling hash of the
//! content says so ([`Chunker`]); each chunk is named by a keyed BLAKE3 hash of its bytes
//! ([`chunk_id`]); a file is named by the root of an aggregated tree over its chunks
//! ([`file_hash`]). Because cuts depend only on content, an insertion moves the chunks after it
//! without changing them: version 2 of a file shares all but a few chunks with version 1.
//!
//! A file's chunk list is its [`Manifest`] (with `.xm` and `xet layers` byte forms); holders of
//! a file or of its anchor chunks are found under the [`discovery`] keys.
//!
//! Everything here is pure: no files, sockets, clock or threads. Callers feed bytes in any
//! buffer sizes and get the same chunks as if the file had been chunked whole.

mod chunker;
pub mod consts;
pub mod discovery;
pub mod fill;
mod hash;
mod manifest;
mod manifest_codec;
mod parallel;
pub mod tracker_keys;
mod verification;

pub use chunker::{chunk_boundaries, Chunker};
pub use discovery::{
    anchor_before, anchor_ids, anchor_key, anchors, announce_plan, file_key, is_anchor, AnnounceKey,
    MAX_ANNOUNCE_KEYS,
};
pub use hash::{aggregated_root, chunk_id, file_hash, xethex, ChunkId, ChunkRef, FileHasher};
pub use manifest::{Manifest, MAX_MANIFEST_CHUNKS};
pub use manifest_codec::{
    decode_entries, encode_entries, raw_entries, ManifestError, ENTRY_LEN, HEADER_LEN, MANIFEST_MAGIC,
    MANIFEST_VERSION,
};
pub use parallel::{
    chunk_boundaries_parallel, complete_cuts_parallel, cuts_from, partition_starts, splice_cuts,
    ParallelFileHasher, MIN_PARTITION,
};
pub use tracker_keys::{
    key_stands_for, lookup_trackers, tracker_plan, TorrentTrackers, MAX_KEYS_PER_TRACKER, MAX_KEY_TRACKERS,
    MAX_LOOKUP_TRACKERS,
};
pub use verification::range_hash;
