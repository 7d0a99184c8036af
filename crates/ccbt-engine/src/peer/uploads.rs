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

/// Reads `batch`, each run of blocks that follow one another in the torrent with one storage
/// read (one `pread` per file for up to [`READ_BATCH`] blocks instead of one per block), split
/// into the blocks without copying. A failed run is read again block by block, so one unreadable
/// block fails alone.
fn read_batch(storage: &dyn Storage, piece_length: u64, batch: &[BlockRef]) -> ReadBatch {
    let offset = |b: &BlockRef| u64::from(b.piece) * piece_length + u64::from(b.offset);
    let mut read = Vec::with_capacity(batch.len());
    let mut rest = batch;
    while let Some(first) = rest.first() {
        let start = offset(first);
        let mut end = start + u64::from(first.len);
        let run_len = 1 + rest[1..]
            .iter()
            .take_while(|b| {
                let follows = offset(b) == end;
                end += if follows { u64::from(b.len) } else { 0 };
                follows
            })
            .count();
        let (run, after) = rest.split_at(run_len);
        rest = after;
        match usize::try_from(end - start).map(|len| storage.read(start, len)) {
            Ok(Ok(bytes)) => read.extend(run.iter().map(|b| {
                let at = (offset(b) - start) as usize;
                (*b, Ok(bytes.slice(at..at + b.len as usize)))
            })),
            _ => read.extend(run.iter().map(|b| (*b, storage.read(offset(b), b.len as usize)))),
        }
    }
    read
}

/// Bytes one block adds to the write buffer: its data plus the Piece message header.
fn encoded_len(block: &BlockRef) -> usize {
    block.len as usize + ccbt_wire::PIECE_HEADER_LEN
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
            self.running.spawn_blocking(move || (bytes, read_batch(&*storage, piece_length, &batch)));
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use ccbt_storage::MemoryStorage;

    use super::*;

    /// Memory storage that records every read and fails those that touch `bad`.
    struct Recording {
        inner: MemoryStorage,
        reads: Mutex<Vec<(u64, usize)>>,
        bad: u64,
    }

    impl Storage for Recording {
        fn write(&self, offset: u64, blocks: &[Bytes]) -> Result<(), StorageError> {
            self.inner.write(offset, blocks)
        }
        fn read(&self, offset: u64, len: usize) -> Result<Bytes, StorageError> {
            self.reads.lock().unwrap().push((offset, len));
            if (offset..offset + len as u64).contains(&self.bad) {
                return Err(StorageError::OutOfRange { offset, len: len as u64 });
            }
            self.inner.read(offset, len)
        }
        fn flush(&self) -> Result<(), StorageError> {
            Ok(())
        }
    }

    const PIECE: u64 = 4 * 16384;

    fn block(piece: u32, index: u32) -> BlockRef {
        BlockRef { piece, offset: index * 16384, len: 16384 }
    }

    fn storage(bad: u64) -> Recording {
        let data: Vec<u8> = (0..4 * PIECE).map(|i| (i / 16384) as u8).collect();
        Recording { inner: MemoryStorage::with_data(data), reads: Mutex::default(), bad }
    }

    #[test]
    fn consecutive_blocks_are_read_in_one_run_and_each_gets_its_bytes() {
        let s = storage(u64::MAX);
        // Blocks 1-3 of piece 0 and block 0 of piece 1 follow one another; then a gap, then
        // a block out of order.
        let batch = [block(0, 1), block(0, 2), block(0, 3), block(1, 0), block(2, 1), block(2, 0)];
        let read = read_batch(&s, PIECE, &batch);
        assert_eq!(
            *s.reads.lock().unwrap(),
            vec![(16384, 4 * 16384), (2 * PIECE + 16384, 16384), (2 * PIECE, 16384)]
        );
        assert_eq!(read.len(), batch.len());
        for ((b, data), want) in read.iter().zip(batch) {
            assert_eq!(*b, want);
            let data = data.as_ref().unwrap();
            let index = (u64::from(b.piece) * PIECE + u64::from(b.offset)) / 16384;
            assert_eq!(&data[..], &vec![index as u8; 16384][..]);
        }
    }

    #[test]
    fn a_failed_run_is_read_again_block_by_block_and_only_the_bad_block_fails() {
        let s = storage(2 * 16384 + 5);
        let batch = [block(0, 1), block(0, 2), block(0, 3)];
        let read = read_batch(&s, PIECE, &batch);
        let failed: Vec<bool> = read.iter().map(|(_, r)| r.is_err()).collect();
        assert_eq!(failed, vec![false, true, false]);
        assert_eq!(s.reads.lock().unwrap().len(), 4, "one run, then each of its three blocks");
    }
}
