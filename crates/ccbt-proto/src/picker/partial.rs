//! Block states of one started (partial) piece. Only started pieces carry per-block state, so
//! memory follows the number of partial pieces, not the size of the torrent.

use crate::PeerKey;

/// State of one block of a partial piece.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BlockState {
    /// Nobody is asked for it and we do not have it.
    Missing,
    /// Asked of these peers (never empty, no repeats; more than one only in endgame).
    Requested(Vec<PeerKey>),
    /// Its data arrived.
    Received,
}

/// What receiving a block did to a partial piece.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Receive {
    /// First copy of the block. `cancel` lists the other peers still asked for it.
    Fresh { piece_complete: bool, cancel: Vec<PeerKey> },
    /// The block had already arrived.
    Duplicate,
    /// No such block in this piece.
    Unexpected,
}

/// One started piece: its block states and counters kept in step with them.
#[derive(Clone, Debug)]
pub(crate) struct PartialPiece {
    blocks: Vec<BlockState>,
    missing: u32,
    received: u32,
    /// Outstanding requests per peer in this piece, so "is this peer already working on this
    /// piece" is cheap when ordering partial pieces for a pick.
    owners: Vec<(PeerKey, u32)>,
}

impl PartialPiece {
    pub(crate) fn new(num_blocks: u32) -> PartialPiece {
        PartialPiece {
            blocks: vec![BlockState::Missing; num_blocks as usize],
            missing: num_blocks,
            received: 0,
            owners: Vec::new(),
        }
    }

    /// Blocks nobody is asked for.
    pub(crate) fn missing(&self) -> u32 {
        self.missing
    }

    pub(crate) fn received(&self) -> u32 {
        self.received
    }

    /// Whether every block arrived (the piece awaits verification).
    pub(crate) fn is_complete(&self) -> bool {
        self.received as usize == self.blocks.len()
    }

    /// Whether no block is requested or received, so the piece may return to never-started.
    pub(crate) fn is_idle(&self) -> bool {
        self.missing as usize == self.blocks.len()
    }

    /// Whether `peer` holds at least one outstanding request in this piece.
    pub(crate) fn is_owner(&self, peer: PeerKey) -> bool {
        self.owners.iter().any(|&(p, _)| p == peer)
    }

    /// Indices of missing blocks, ascending.
    pub(crate) fn missing_blocks(&self) -> impl Iterator<Item = u32> + '_ {
        self.indexed().filter_map(|(i, s)| matches!(s, BlockState::Missing).then_some(i))
    }

    /// `(index, requester count)` of requested blocks that `peer` has not asked for and that
    /// fewer than `max_requesters` peers have.
    pub(crate) fn shareable_blocks(
        &self,
        peer: PeerKey,
        max_requesters: usize,
    ) -> impl Iterator<Item = (u32, usize)> + '_ {
        self.indexed().filter_map(move |(i, s)| match s {
            BlockState::Requested(r) if r.len() < max_requesters && !r.contains(&peer) => Some((i, r.len())),
            _ => None,
        })
    }

    fn indexed(&self) -> impl Iterator<Item = (u32, &BlockState)> {
        // A piece has at most piece_length / 16 KiB blocks, far below u32::MAX.
        (0u32..).zip(self.blocks.iter())
    }

    /// Records `peer` as a requester of block `index`. Returns false (and changes nothing) if
    /// the block is received, already asked of `peer`, or out of range.
    pub(crate) fn request(&mut self, index: u32, peer: PeerKey) -> bool {
        let Some(state) = self.blocks.get_mut(index as usize) else { return false };
        match state {
            BlockState::Missing => {
                *state = BlockState::Requested(vec![peer]);
                self.missing -= 1;
            }
            BlockState::Requested(r) if !r.contains(&peer) => r.push(peer),
            _ => return false,
        }
        self.add_owner(peer);
        true
    }

    /// Marks block `index` received from `peer`. Only requested blocks are accepted: data nobody
    /// asked for (including a late answer to a released request) is refused, so a peer cannot
    /// push blocks into a piece on its own.
    pub(crate) fn receive(&mut self, index: u32, peer: PeerKey) -> Receive {
        let Some(state) = self.blocks.get_mut(index as usize) else { return Receive::Unexpected };
        let requesters = match state {
            BlockState::Received => return Receive::Duplicate,
            BlockState::Missing => return Receive::Unexpected,
            BlockState::Requested(r) => std::mem::take(r),
        };
        *state = BlockState::Received;
        self.received += 1;
        for &p in &requesters {
            self.remove_owner(p);
        }
        let cancel = requesters.into_iter().filter(|&p| p != peer).collect();
        Receive::Fresh { piece_complete: self.is_complete(), cancel }
    }

    /// Withdraws `peer`'s request for block `index`; returns whether it had one.
    pub(crate) fn release(&mut self, index: u32, peer: PeerKey) -> bool {
        let Some(state) = self.blocks.get_mut(index as usize) else { return false };
        let BlockState::Requested(r) = state else { return false };
        let Some(at) = r.iter().position(|&p| p == peer) else { return false };
        r.swap_remove(at);
        if r.is_empty() {
            *state = BlockState::Missing;
            self.missing += 1;
        }
        self.remove_owner(peer);
        true
    }

    /// Every outstanding request of this piece: `(block index, peer)`, one entry per requester.
    pub(crate) fn requests(&self) -> impl Iterator<Item = (u32, PeerKey)> + '_ {
        self.indexed().flat_map(|(i, s)| {
            let peers: &[PeerKey] = match s {
                BlockState::Requested(r) => r,
                _ => &[],
            };
            peers.iter().map(move |&p| (i, p))
        })
    }

    /// Withdraws every request of `peer` in this piece; returns how many there were.
    pub(crate) fn release_peer(&mut self, peer: PeerKey) -> usize {
        if !self.is_owner(peer) {
            return 0;
        }
        let held: Vec<u32> = self
            .indexed()
            .filter_map(|(i, s)| matches!(s, BlockState::Requested(r) if r.contains(&peer)).then_some(i))
            .collect();
        held.into_iter().filter(|&i| self.release(i, peer)).count()
    }

    fn add_owner(&mut self, peer: PeerKey) {
        match self.owners.iter_mut().find(|(p, _)| *p == peer) {
            Some((_, n)) => *n += 1,
            None => self.owners.push((peer, 1)),
        }
    }

    fn remove_owner(&mut self, peer: PeerKey) {
        if let Some(at) = self.owners.iter().position(|&(p, _)| p == peer) {
            if let Some((_, n)) = self.owners.get_mut(at) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.owners.swap_remove(at);
                }
            }
        }
    }

    /// Block states, for invariant checks in tests.
    #[cfg(test)]
    pub(crate) fn blocks(&self) -> &[BlockState] {
        &self.blocks
    }

    /// Checks that the counters agree with the block states.
    #[cfg(test)]
    pub(crate) fn assert_consistent(&self) {
        let missing = self.blocks.iter().filter(|s| matches!(s, BlockState::Missing)).count();
        let received = self.blocks.iter().filter(|s| matches!(s, BlockState::Received)).count();
        assert_eq!(missing, self.missing as usize);
        assert_eq!(received, self.received as usize);
        let mut owners: Vec<(PeerKey, u32)> = Vec::new();
        for s in &self.blocks {
            if let BlockState::Requested(r) = s {
                assert!(!r.is_empty());
                let mut sorted = r.clone();
                sorted.sort();
                sorted.dedup();
                assert_eq!(sorted.len(), r.len(), "a peer is listed twice for one block");
                for &p in r {
                    match owners.iter_mut().find(|(q, _)| *q == p) {
                        Some((_, n)) => *n += 1,
                        None => owners.push((p, 1)),
                    }
                }
            }
        }
        let mut mine = self.owners.clone();
        owners.sort();
        mine.sort();
        assert_eq!(owners, mine);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: PeerKey = PeerKey(1);
    const B: PeerKey = PeerKey(2);

    #[test]
    fn request_receive_release() {
        let mut p = PartialPiece::new(3);
        assert!(p.is_idle());
        assert!(p.request(0, A));
        assert!(!p.request(0, A), "same peer twice");
        assert!(p.request(0, B));
        assert!(!p.request(7, A));
        assert!(p.is_owner(A) && p.is_owner(B));
        assert_eq!(p.missing_blocks().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(p.shareable_blocks(A, 3).collect::<Vec<_>>(), vec![]);
        assert_eq!(p.shareable_blocks(PeerKey(3), 3).collect::<Vec<_>>(), vec![(0, 2)]);
        assert_eq!(p.shareable_blocks(PeerKey(3), 2).count(), 0);
        assert_eq!(p.receive(0, B), Receive::Fresh { piece_complete: false, cancel: vec![A] });
        assert_eq!(p.receive(0, A), Receive::Duplicate);
        assert!(!p.is_owner(A));
        assert!(!p.request(0, A), "received blocks are never requested again");
        assert!(p.request(1, A));
        assert!(p.release(1, A));
        assert!(!p.release(1, A));
        assert_eq!(p.missing(), 2);
        p.assert_consistent();
        assert_eq!(p.receive(1, A), Receive::Unexpected, "released, then answered late");
        assert!(p.request(1, B) && p.request(2, A));
        assert_eq!(p.receive(1, A), Receive::Fresh { piece_complete: false, cancel: vec![B] });
        assert_eq!(p.receive(2, A), Receive::Fresh { piece_complete: true, cancel: vec![] });
        assert!(p.is_complete());
        assert_eq!(p.receive(3, A), Receive::Unexpected);
        p.assert_consistent();
    }

    #[test]
    fn release_peer_frees_only_its_blocks() {
        let mut p = PartialPiece::new(4);
        for i in 0..3 {
            p.request(i, A);
        }
        p.request(1, B);
        p.request(3, B);
        assert_eq!(p.release_peer(A), 3);
        assert_eq!(p.release_peer(A), 0);
        assert_eq!(p.missing_blocks().collect::<Vec<_>>(), vec![0, 2]);
        assert!(!p.is_idle());
        assert_eq!(p.release_peer(B), 2);
        assert!(p.is_idle());
        p.assert_consistent();
    }
}
