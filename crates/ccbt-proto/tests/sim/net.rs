//! In-memory links: one direction of a connection, with latency, bandwidth and arbitrary
//! segmentation (so the receiving decoder sees messages split at any byte).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;

/// Largest segment a link delivers at once; segments are drawn uniformly from 1 byte up to this.
const MAX_SEGMENT: usize = 24 * 1024;

/// The shape of one direction of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkSpec {
    /// One-way delay added to every segment.
    pub latency: Duration,
    /// Serialisation rate: a segment of `n` bytes occupies the link for `n / rate` seconds.
    pub bytes_per_second: u64,
}

impl LinkSpec {
    /// A fast link: 20 ms, 10 MB/s.
    pub fn fast() -> LinkSpec {
        LinkSpec { latency: Duration::from_millis(20), bytes_per_second: 10_000_000 }
    }

    /// A slow link: 50 ms, 64 KB/s.
    pub fn slow() -> LinkSpec {
        LinkSpec { latency: Duration::from_millis(50), bytes_per_second: 64_000 }
    }
}

/// Bytes in flight in one direction, delivered in order at their arrival instants.
#[derive(Debug)]
pub struct Link {
    spec: LinkSpec,
    /// When the link finishes serialising what was already sent.
    free_at: Instant,
    queue: VecDeque<(Instant, Bytes)>,
    /// Bytes accepted for sending, for assertions.
    pub bytes_sent: u64,
}

impl Link {
    pub fn new(spec: LinkSpec, now: Instant) -> Link {
        Link { spec, free_at: now, queue: VecDeque::new(), bytes_sent: 0 }
    }

    /// Sends `bytes` at `now`, cut into random segments. Arrivals never go backwards in time,
    /// so the stream stays in order.
    pub fn send(&mut self, now: Instant, mut bytes: Bytes, rng: &mut impl Rng) {
        self.bytes_sent += bytes.len() as u64;
        while !bytes.is_empty() {
            let n = rng.gen_range(1..=bytes.len().min(MAX_SEGMENT));
            let segment = bytes.split_to(n);
            let nanos = (n as u128 * 1_000_000_000 / u128::from(self.spec.bytes_per_second.max(1))) as u64;
            self.free_at = self.free_at.max(now) + Duration::from_nanos(nanos);
            self.queue.push_back((self.free_at + self.spec.latency, segment));
        }
    }

    /// When the next segment arrives, if any is in flight.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.queue.front().map(|&(at, _)| at)
    }

    /// The next segment, if it has arrived by `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Bytes> {
        match self.queue.front() {
            Some(&(at, _)) if at <= now => self.queue.pop_front().map(|(_, b)| b),
            _ => None,
        }
    }
}
