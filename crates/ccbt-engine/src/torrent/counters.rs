//! Lock-free per-torrent counters written by connection tasks and read for status snapshots.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// Running totals and the most recent rates of one torrent.
#[derive(Default)]
pub(crate) struct Counters {
    downloaded: AtomicU64,
    uploaded: AtomicU64,
    download_rate: AtomicU64,
    upload_rate: AtomicU64,
    pub(crate) pieces_have: AtomicU64,
    pub(crate) bytes_have: AtomicU64,
    pub(crate) hash_failures: AtomicU64,
    pub(crate) checked_pieces: AtomicU64,
    /// Pieces hashed: checked on disk or verified after a download ([`crate::TorrentStatus::hashed_pieces`]).
    pub(crate) hashed_pieces: AtomicU64,
    pub(crate) banned_peers: AtomicU64,
    /// Checkpoints written since the start (for tests and metrics).
    pub(crate) checkpoints_written: AtomicU64,
    /// Bytes of pieces that failed their hash check (the metrics' `ccbt_hash_failed_bytes_total`).
    pub(crate) hash_failed_bytes: AtomicU64,
    /// Outgoing dials that became a registered connection, and those that did not (connect,
    /// handshake or registration failed).
    pub(crate) connects_ok: AtomicU64,
    pub(crate) connects_failed: AtomicU64,
    /// Bytes put into missing pieces from chunks already on this machine (Xet), of them the
    /// bytes the kernel copied, and the pieces that verified after such copies.
    pub(crate) xet_local_bytes: AtomicU64,
    pub(crate) xet_kernel_bytes: AtomicU64,
    pub(crate) xet_local_pieces: AtomicU64,
    /// Chunk bytes the chunk phase fetched from peers (verified and written): from the
    /// torrent's swarm, and from holders found under discovery keys; and the pieces that
    /// verified after them.
    pub(crate) xet_swarm_bytes: AtomicU64,
    pub(crate) xet_holder_bytes: AtomicU64,
    pub(crate) xet_peer_pieces: AtomicU64,
}

impl Counters {
    pub(crate) fn add_down(&self, n: u64) {
        if n > 0 {
            self.downloaded.fetch_add(n, Relaxed);
        }
    }
    pub(crate) fn add_up(&self, n: u64) {
        if n > 0 {
            self.uploaded.fetch_add(n, Relaxed);
        }
    }
    pub(crate) fn downloaded(&self) -> u64 {
        self.downloaded.load(Relaxed)
    }
    pub(crate) fn uploaded(&self) -> u64 {
        self.uploaded.load(Relaxed)
    }
    pub(crate) fn rates(&self) -> (u64, u64) {
        (self.download_rate.load(Relaxed), self.upload_rate.load(Relaxed))
    }
}

/// Turns the running totals into rates over a sliding window of samples (taken once a second).
pub(crate) struct RateSampler {
    samples: VecDeque<(Instant, u64, u64)>,
    window: usize,
}

impl RateSampler {
    pub(crate) fn new(window: usize) -> RateSampler {
        RateSampler { samples: VecDeque::with_capacity(window + 1), window }
    }

    /// Records the totals at `now` and publishes the rates into `counters`.
    pub(crate) fn sample(&mut self, now: Instant, counters: &Counters) {
        let sample = (now, counters.downloaded(), counters.uploaded());
        self.samples.push_back(sample);
        while self.samples.len() > self.window {
            self.samples.pop_front();
        }
        let (t0, d0, u0) = self.samples[0];
        let secs = now.duration_since(t0).as_secs_f64();
        let (down, up) = if secs > 0.0 {
            (((sample.1 - d0) as f64 / secs) as u64, ((sample.2 - u0) as f64 / secs) as u64)
        } else {
            (0, 0)
        };
        counters.download_rate.store(down, Relaxed);
        counters.upload_rate.store(up, Relaxed);
    }
}
