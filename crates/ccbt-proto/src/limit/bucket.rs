//! One token bucket with a FIFO of reservations (see the parent module for the why).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Tokens are kept in byte-nanoseconds-per-second units (bytes × 10⁹) so that refilling at
/// `rate` bytes/s over `dt` ns is the exact integer `rate × dt`, with no rounding drift over
/// a long run.
const SCALE: i128 = 1_000_000_000;

/// Smallest burst: one 16 KiB block message plus headers always fits, with room for a second.
pub const MIN_BURST: u64 = 32 * 1024;

/// The burst (bucket depth) for a rate: a fifth of a second of traffic, at least [`MIN_BURST`].
/// Bounded so a peer idle for minutes cannot then send minutes' worth at once.
pub fn burst_for(rate: u64) -> u64 {
    (rate / 5).max(MIN_BURST)
}

/// A waiting request: `bytes` are reserved for `peer` ahead of later arrivals until
/// `deadline`, after which the waiter is taken to have given up.
#[derive(Clone, Debug)]
struct Ticket<P> {
    peer: P,
    bytes: u64,
    /// When the waiter was told to come back.
    ready: Instant,
    deadline: Instant,
}

/// A token bucket of `rate` bytes/s (0: unlimited) holding at most `burst` bytes, with the
/// requests it could not serve queued in arrival order.
#[derive(Clone, Debug)]
pub(super) struct Bucket<P> {
    rate: u64,
    burst: u64,
    /// May go negative after [`Bucket::charge`] (traffic that could not be refused).
    tokens: i128,
    last: Instant,
    queue: VecDeque<Ticket<P>>,
}

impl<P: Copy + Eq> Bucket<P> {
    /// An empty bucket: nothing may be sent before the rate has earned it, so a 30 s run never
    /// exceeds `rate × 30 s` by more than nothing.
    pub(super) fn new(now: Instant, rate: u64) -> Bucket<P> {
        Bucket { rate, burst: burst_for(rate), tokens: 0, last: now, queue: VecDeque::new() }
    }

    pub(super) fn rate(&self) -> u64 {
        self.rate
    }

    pub(super) fn is_limited(&self) -> bool {
        self.rate != 0
    }

    pub(super) fn burst(&self) -> u64 {
        self.burst
    }

    /// Adds the tokens earned since the last call (capped at the burst) and forgets waiters
    /// whose deadline passed.
    pub(super) fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_nanos() as i128;
        self.last = self.last.max(now);
        if self.rate == 0 {
            return;
        }
        let cap = i128::from(self.burst) * SCALE;
        if self.tokens < cap {
            self.tokens = (self.tokens + i128::from(self.rate) * dt).min(cap);
        }
        self.queue.retain(|t| t.deadline >= now);
    }

    /// Changes the rate from `now` on (what was earned so far at the old rate is kept, up to
    /// the new burst). Going unlimited drops every reservation.
    pub(super) fn set_rate(&mut self, now: Instant, rate: u64) {
        self.refill(now);
        self.rate = rate;
        self.burst = burst_for(rate);
        self.tokens = self.tokens.min(i128::from(self.burst) * SCALE);
        if rate == 0 {
            self.tokens = 0;
            self.queue.clear();
        }
    }

    /// Bytes reserved by the waiters ahead of `peer` (all of them if `peer` does not wait).
    fn reserved_ahead(&self, peer: P) -> u64 {
        self.queue.iter().take_while(|t| t.peer != peer).map(|t| t.bytes).sum()
    }

    /// How long until `peer` may take `bytes` without eating into reservations ahead of it,
    /// or `None` if it may now. Only meaningful for a limited bucket.
    pub(super) fn wait_for(&self, peer: P, bytes: u64) -> Option<Duration> {
        let needed = i128::from(self.reserved_ahead(peer) + bytes) * SCALE;
        let short = needed - self.tokens;
        if short <= 0 {
            return None;
        }
        let rate = i128::from(self.rate.max(1));
        let nanos = (short + rate - 1) / rate;
        Some(Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)))
    }

    /// Takes `bytes` for `peer` and ends its wait.
    pub(super) fn take(&mut self, peer: P, bytes: u64) {
        if self.rate != 0 {
            self.tokens -= i128::from(bytes) * SCALE;
        }
        self.cancel(peer);
    }

    /// Debits bytes that were already moved (the balance may go negative: later requests
    /// then wait for it to be paid back).
    pub(super) fn charge(&mut self, bytes: u64) {
        if self.rate != 0 {
            self.tokens -= i128::from(bytes) * SCALE;
        }
    }

    /// Credits unused granted bytes back, never beyond the burst.
    pub(super) fn give_back(&mut self, bytes: u64) {
        if self.rate != 0 {
            let cap = i128::from(self.burst) * SCALE;
            self.tokens = (self.tokens + i128::from(bytes) * SCALE).min(cap);
        }
    }

    /// Queues `peer` for `bytes` (keeping its place if it already waits).
    pub(super) fn reserve(&mut self, peer: P, bytes: u64, ready: Instant, deadline: Instant) {
        if self.rate == 0 {
            return;
        }
        match self.queue.iter_mut().find(|t| t.peer == peer) {
            Some(t) => {
                t.bytes = bytes;
                t.ready = ready;
                t.deadline = deadline;
            }
            None => self.queue.push_back(Ticket { peer, bytes, ready, deadline }),
        }
    }

    /// Drops `peer`'s reservation, if any.
    pub(super) fn cancel(&mut self, peer: P) {
        self.queue.retain(|t| t.peer != peer);
    }

    /// The earliest instant a queued waiter was told to come back.
    pub(super) fn next_ready(&self) -> Option<Instant> {
        self.queue.iter().map(|t| t.ready).min()
    }

    pub(super) fn waiting(&self) -> usize {
        self.queue.len()
    }
}
