//! Upload reads of one connection: blocks the peer requested, read from storage on the blocking
//! pool in batches (one task per batch instead of one per block).
//!
//! Memory stays bounded three ways: at most [`MAX_PENDING_READS`] requests wait (more are
//! refused), at most [`MAX_READ_BATCHES`] batches run at once, and a batch is only started for
//! the room the socket pump gives it, so blocks in flight count against the connection's
//! write-buffer cap ([`UploadReads::in_flight_bytes`]).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use ccbt_core::{BlockRef, Lengths};
use ccbt_storage::{Storage, StorageError};
use tokio::task::{JoinError, JoinSet};

/// Most blocks in one batch.
const READ_BATCH: usize = 32;
/// Most batches in flight per connection.
const MAX_READ_BATCHES: usize = 2;
/// Requests waiting for a batch (the request-queue size we advertise, `reqq`).
pub(crate) const MAX_PENDING_READS: usize = ccbt_proto::peer::MAX_PEER_REQUESTS;

/// Bytes one block adds to the write buffer: its data plus the Piece message header.
fn encoded_len(block: &BlockRef) -> usize {
    block.len as usize + 13
}

/// A finished batch: each block with its data or the storage error.
pub(crate) type ReadBatch = Vec<(BlockRef, Result<Bytes, StorageError>)>;

pub(crate) struct UploadReads {
    storage: Arc<dyn Storage>,
    lengths: Lengths,
    pending: VecDeque<BlockRef>,
    running: JoinSet<(usize, ReadBatch)>,
    in_flight_bytes: usize,
}

impl UploadReads {
    pub(crate) fn new(storage: Arc<dyn Storage>, lengths: Lengths) -> UploadReads {
        UploadReads {
            storage,
            lengths,
            pending: VecDeque::new(),
            running: JoinSet::new(),
            in_flight_bytes: 0,
        }
    }

    /// Queues a read. Returns false when the queue is full: the caller refuses the request (a
    /// peer that requests and cancels in a loop could otherwise queue reads without end).
    pub(crate) fn push(&mut self, block: BlockRef) -> bool {
        if self.pending.len() >= MAX_PENDING_READS {
            return false;
        }
        self.pending.push_back(block);
        true
    }

    /// Bytes of the batches running now, as they will be encoded.
    pub(crate) fn in_flight_bytes(&self) -> usize {
        self.in_flight_bytes
    }

    /// Starts batches whose encoded size fits in `room` bytes.
    pub(crate) fn start(&mut self, mut room: usize) {
        while self.running.len() < MAX_READ_BATCHES {
            let mut batch = Vec::new();
            let mut bytes = 0;
            while let Some(block) = self.pending.front() {
                let len = encoded_len(block);
                if batch.len() == READ_BATCH || len > room {
                    break;
                }
                room -= len;
                bytes += len;
                batch.push(*block);
                self.pending.pop_front();
            }
            if batch.is_empty() {
                return;
            }
            self.in_flight_bytes += bytes;
            let storage = self.storage.clone();
            let piece_length = self.lengths.piece_length() as u64;
            self.running.spawn_blocking(move || {
                let read = batch
                    .into_iter()
                    .map(|b| {
                        let offset = b.piece as u64 * piece_length + b.offset as u64;
                        (b, storage.read(offset, b.len as usize))
                    })
                    .collect();
                (bytes, read)
            });
        }
    }

    /// Waits for the next finished batch (cancel-safe); pending forever while none runs.
    pub(crate) async fn next_done(&mut self) -> Result<ReadBatch, JoinError> {
        match self.running.join_next().await {
            Some(done) => {
                let (bytes, batch) = done?;
                self.in_flight_bytes -= bytes;
                Ok(batch)
            }
            None => std::future::pending().await,
        }
    }
}
