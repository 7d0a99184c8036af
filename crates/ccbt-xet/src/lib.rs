//! Xet content-defined chunking and hashing, byte-compatible with Hugging Face's xet-core.
//!
//! A file is cut into chunks of 8-128 KiB (64 KiB on average) where a gear rolling hash of the
//! content says so ([`Chunker`]); each chunk is named by a keyed BLAKE3 hash of its bytes
//! ([`chunk_id`]); a file is named by the root of an aggregated tree over its chunks
//! ([`file_hash`]). Because cuts depend only on content, an insertion moves the chunks after it
//! without changing them: version 2 of a file shares all but a few chunks with version 1.
//!
//! Everything here is pure: no files, sockets, clock or threads. Callers feed bytes in any
//! buffer sizes and get the same chunks as if the file had been chunked whole.

mod chunker;
pub mod consts;
pub mod fill;
mod hash;

pub use chunker::{chunk_boundaries, Chunker};
pub use hash::{aggregated_root, chunk_id, file_hash, xethex, ChunkId, ChunkRef, FileHasher};
