//! Request bookkeeping in both directions: our outstanding requests, the peer's queued
//! requests, and the requests we recently gave up on (whose late answers are expected).

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use ccbt_core::BlockRef;

/// One request of ours on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Outstanding {
    pub(super) block: BlockRef,
    pub(super) sent_at: Instant,
}

/// Our requests the peer has not answered yet, oldest first. Bounded by the pipeline depth
/// (at most a few hundred), so linear scans are cheaper than a map.
#[derive(Clone, Debug, Default)]
pub(super) struct OurRequests {
    list: Vec<Outstanding>,
}

impl OurRequests {
    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    pub(super) fn contains(&self, block: &BlockRef) -> bool {
        self.list.iter().any(|o| o.block == *block)
    }

    pub(super) fn push(&mut self, block: BlockRef, sent_at: Instant) {
        self.list.push(Outstanding { block, sent_at });
    }

    /// Removes `block`; returns whether it was outstanding.
    pub(super) fn remove(&mut self, block: &BlockRef) -> bool {
        self.take(block).is_some()
    }

    /// Removes `block`; returns when it was sent, if it was outstanding.
    pub(super) fn take(&mut self, block: &BlockRef) -> Option<Instant> {
        let i = self.list.iter().position(|o| o.block == *block)?;
        Some(self.list.remove(i).sent_at)
    }

    /// Removes and returns every request.
    pub(super) fn take_all(&mut self) -> Vec<BlockRef> {
        self.list.drain(..).map(|o| o.block).collect()
    }

    /// The earliest send time, whose deadline is the next request timeout.
    pub(super) fn oldest_sent(&self) -> Option<Instant> {
        self.list.iter().map(|o| o.sent_at).min()
    }

    /// Removes and returns the requests that have been on the wire for `age` or longer.
    pub(super) fn take_older_than(&mut self, now: Instant, age: Duration) -> Vec<BlockRef> {
        let mut expired = Vec::new();
        self.list.retain(|o| {
            let keep = now.saturating_duration_since(o.sent_at) < age;
            if !keep {
                expired.push(o.block);
            }
            keep
        });
        expired
    }

    pub(super) fn blocks(&self) -> impl Iterator<Item = BlockRef> + '_ {
        self.list.iter().map(|o| o.block)
    }
}

/// The peer's requests we accepted and have not served, cancelled or rejected yet. Bounded by
/// `max_peer_requests` at the insertion site. Ordered so that rejects go out deterministically.
#[derive(Clone, Debug, Default)]
pub(super) struct TheirRequests {
    set: BTreeSet<BlockRef>,
}

impl TheirRequests {
    pub(super) fn len(&self) -> usize {
        self.set.len()
    }

    pub(super) fn contains(&self, block: &BlockRef) -> bool {
        self.set.contains(block)
    }

    pub(super) fn insert(&mut self, block: BlockRef) -> bool {
        self.set.insert(block)
    }

    pub(super) fn remove(&mut self, block: &BlockRef) -> bool {
        self.set.remove(block)
    }

    /// Removes and returns the requests for which `drop` holds.
    pub(super) fn take_where(&mut self, mut drop: impl FnMut(&BlockRef) -> bool) -> Vec<BlockRef> {
        let taken: Vec<BlockRef> = self.set.iter().copied().filter(|b| drop(b)).collect();
        for b in &taken {
            self.set.remove(b);
        }
        taken
    }
}

/// Requests we cancelled or released recently. Their Piece or Reject may still arrive (the
/// peer sent it before it saw our Cancel, or it answers a Cancel with a Reject as BEP 6
/// requires): such answers are wasted but not abuse. A small FIFO: the oldest entries fall out,
/// which only makes a very late answer count as unrequested.
#[derive(Clone, Debug)]
pub(super) struct Abandoned {
    fifo: VecDeque<BlockRef>,
    cap: usize,
}

impl Abandoned {
    pub(super) fn new(cap: usize) -> Abandoned {
        Abandoned { fifo: VecDeque::new(), cap: cap.max(1) }
    }

    pub(super) fn insert(&mut self, block: BlockRef) {
        if self.fifo.contains(&block) {
            return;
        }
        if self.fifo.len() >= self.cap {
            self.fifo.pop_front();
        }
        self.fifo.push_back(block);
    }

    /// Removes `block`; returns whether it was there. Each abandoned request excuses one answer.
    pub(super) fn remove(&mut self, block: &BlockRef) -> bool {
        match self.fifo.iter().position(|b| b == block) {
            Some(i) => self.fifo.remove(i).is_some(),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(piece: u32) -> BlockRef {
        BlockRef { piece, offset: 0, len: 16384 }
    }

    #[test]
    fn our_requests_expire_in_order() {
        let base = crate::peer::tests::base();
        let mut r = OurRequests::default();
        r.push(b(0), base);
        r.push(b(1), base + Duration::from_secs(1));
        r.push(b(2), base + Duration::from_secs(2));
        assert_eq!(r.oldest_sent(), Some(base));
        assert_eq!(
            r.take_older_than(base + Duration::from_secs(3), Duration::from_secs(2)),
            vec![b(0), b(1)]
        );
        assert_eq!(r.len(), 1);
        assert!(r.remove(&b(2)));
        assert!(!r.remove(&b(2)));
        assert_eq!(r.oldest_sent(), None);
    }

    #[test]
    fn their_requests_take_where() {
        let mut t = TheirRequests::default();
        for p in [3, 1, 2] {
            assert!(t.insert(b(p)));
        }
        assert!(!t.insert(b(1)));
        assert_eq!(t.take_where(|x| x.piece != 2), vec![b(1), b(3)]);
        assert!(t.contains(&b(2)) && t.len() == 1);
    }

    #[test]
    fn abandoned_is_bounded_fifo() {
        let mut a = Abandoned::new(2);
        a.insert(b(0));
        a.insert(b(1));
        a.insert(b(1));
        a.insert(b(2));
        assert!(!a.remove(&b(0)));
        assert!(a.remove(&b(1)));
        assert!(!a.remove(&b(1)));
        assert!(a.remove(&b(2)));
    }
}
