//! How many connected peers have each piece, plus an index of the pieces that may be started,
//! bucketed by that count so rarest-first picking does not scan the whole torrent.

use ccbt_core::Bitfield;

/// Marks a piece that is not in the rarity index.
const NOT_INDEXED: u32 = u32::MAX;

/// Per-piece peer counts. Seeds are one shared counter: a seed adds one to every piece, which
/// never changes the relative order, so it costs O(1) instead of O(pieces) per seed.
#[derive(Clone, Debug)]
pub(crate) struct Availability {
    /// Peers (excluding seeds) that have each piece.
    counts: Vec<u32>,
    seeds: u32,
    /// `buckets[c]` lists the indexed pieces whose count is `c`, in no particular order.
    buckets: Vec<Vec<u32>>,
    /// Position of each piece inside its bucket, or [`NOT_INDEXED`].
    pos: Vec<u32>,
}

impl Availability {
    pub(crate) fn new(num_pieces: u32) -> Availability {
        let n = num_pieces as usize;
        Availability { counts: vec![0; n], seeds: 0, buckets: vec![Vec::new()], pos: vec![NOT_INDEXED; n] }
    }

    /// Peers that have `piece`, seeds included. Out-of-range pieces have none.
    pub(crate) fn get(&self, piece: u32) -> u32 {
        self.counts.get(piece as usize).map_or(0, |c| c.saturating_add(self.seeds))
    }

    pub(crate) fn add_seed(&mut self) {
        self.seeds = self.seeds.saturating_add(1);
    }

    pub(crate) fn remove_seed(&mut self) {
        self.seeds = self.seeds.saturating_sub(1);
    }

    /// Counts one more peer having `piece`.
    pub(crate) fn increment(&mut self, piece: u32) {
        self.change(piece, |c| c.saturating_add(1));
    }

    /// Counts one peer fewer having `piece` (never below zero, so an unbalanced remove from a
    /// confused caller cannot wrap).
    pub(crate) fn decrement(&mut self, piece: u32) {
        self.change(piece, |c| c.saturating_sub(1));
    }

    pub(crate) fn add_bitfield(&mut self, has: &Bitfield) {
        for p in has.iter_ones() {
            self.increment(p);
        }
    }

    pub(crate) fn remove_bitfield(&mut self, has: &Bitfield) {
        for p in has.iter_ones() {
            self.decrement(p);
        }
    }

    fn change(&mut self, piece: u32, f: impl FnOnce(u32) -> u32) {
        let Some(count) = self.counts.get_mut(piece as usize) else { return };
        let old = *count;
        *count = f(old);
        let new = *count;
        if new != old && self.unindex(piece, old) {
            self.index_at(piece, new);
        }
    }

    /// Whether `piece` is in the rarity index.
    #[cfg(test)]
    pub(crate) fn is_indexed(&self, piece: u32) -> bool {
        self.pos.get(piece as usize).is_some_and(|&p| p != NOT_INDEXED)
    }

    /// Adds `piece` to the rarity index (a piece that may be started).
    pub(crate) fn index(&mut self, piece: u32) {
        if let (Some(&c), Some(&NOT_INDEXED)) =
            (self.counts.get(piece as usize), self.pos.get(piece as usize))
        {
            self.index_at(piece, c);
        }
    }

    /// Removes `piece` from the rarity index.
    pub(crate) fn unindex_piece(&mut self, piece: u32) {
        if let Some(&c) = self.counts.get(piece as usize) {
            self.unindex(piece, c);
        }
    }

    fn index_at(&mut self, piece: u32, count: u32) {
        let c = count as usize;
        if self.buckets.len() <= c {
            self.buckets.resize_with(c + 1, Vec::new);
        }
        if let (Some(bucket), Some(pos)) = (self.buckets.get_mut(c), self.pos.get_mut(piece as usize)) {
            // Bucket sizes are bounded by the number of pieces, which fits in u32.
            *pos = bucket.len() as u32;
            bucket.push(piece);
        }
    }

    /// Removes `piece` from bucket `count`; returns whether it was indexed.
    fn unindex(&mut self, piece: u32, count: u32) -> bool {
        let Some(&at) = self.pos.get(piece as usize) else { return false };
        if at == NOT_INDEXED {
            return false;
        }
        let Some(bucket) = self.buckets.get_mut(count as usize) else { return false };
        if bucket.get(at as usize) != Some(&piece) {
            return false;
        }
        bucket.swap_remove(at as usize);
        let moved = bucket.get(at as usize).copied();
        if let Some(moved) = moved {
            if let Some(p) = self.pos.get_mut(moved as usize) {
                *p = at;
            }
        }
        if let Some(p) = self.pos.get_mut(piece as usize) {
            *p = NOT_INDEXED;
        }
        true
    }

    /// An indexed piece that `peer_has`, from the lowest-count bucket holding one. Within a
    /// bucket the scan starts at a random position, so equally rare pieces are tie-broken at
    /// random (uniformly when the peer has all of them). Cost: the buckets skipped plus the
    /// pieces the peer lacks, never pieces × peers.
    pub(crate) fn rarest(&self, peer_has: &Bitfield, rng: &mut impl rand::Rng) -> Option<u32> {
        for bucket in self.buckets.iter().filter(|b| !b.is_empty()) {
            let start = rng.gen_range(0..bucket.len());
            let (tail, head) = (bucket.get(start..)?, bucket.get(..start)?);
            if let Some(&p) = tail.iter().chain(head).find(|&&p| peer_has.get(p)) {
                return Some(p);
            }
        }
        None
    }

    /// Like [`Availability::rarest`], but equally rare pieces are tie-broken by distance from
    /// `from` instead of at random: the lowest piece at or after `from`, else the lowest
    /// before it. Streaming uses it beyond its window, so that with equally available peers
    /// (one seed, say) pieces are fetched near the reader rather than anywhere in the file.
    /// Cost: the pieces of the buckets scanned.
    pub(crate) fn rarest_nearest(&self, peer_has: &Bitfield, from: u32) -> Option<u32> {
        self.buckets.iter().find_map(|bucket| {
            bucket.iter().copied().filter(|&p| peer_has.get(p)).min_by_key(|&p| (p < from, p))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn counts_and_seeds() {
        let mut a = Availability::new(4);
        let mut bf = Bitfield::new(4);
        bf.set(1);
        bf.set(3);
        a.add_bitfield(&bf);
        a.increment(1);
        a.add_seed();
        assert_eq!([a.get(0), a.get(1), a.get(2), a.get(3), a.get(9)], [1, 3, 1, 2, 0]);
        a.remove_bitfield(&bf);
        a.remove_seed();
        a.remove_seed();
        a.decrement(0);
        assert_eq!([a.get(0), a.get(1), a.get(3)], [0, 1, 0]);
    }

    #[test]
    fn rarest_follows_count_changes() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut a = Availability::new(3);
        for p in 0..3 {
            a.index(p);
        }
        let all = Bitfield::full(3);
        a.increment(0);
        a.increment(1);
        assert_eq!(a.rarest(&all, &mut rng), Some(2));
        a.unindex_piece(2);
        assert!(!a.is_indexed(2));
        a.increment(0);
        assert_eq!(a.rarest(&all, &mut rng), Some(1));
        let mut only0 = Bitfield::new(3);
        only0.set(0);
        assert_eq!(a.rarest(&only0, &mut rng), Some(0));
        a.unindex_piece(0);
        a.unindex_piece(1);
        assert_eq!(a.rarest(&all, &mut rng), None);
        // Re-indexing lands in the bucket of the current count.
        a.index(0);
        a.index(2);
        assert_eq!(a.rarest(&all, &mut rng), Some(2));
    }

    #[test]
    fn rarest_nearest_breaks_ties_by_distance_from_the_reader() {
        let mut a = Availability::new(10);
        for p in 0..10 {
            a.index(p);
        }
        let all = Bitfield::full(10);
        assert_eq!(a.rarest_nearest(&all, 4), Some(4));
        // Rarer pieces still win, wherever they are.
        for p in 3..10 {
            a.increment(p);
        }
        assert_eq!(a.rarest_nearest(&all, 4), Some(0));
        a.unindex_piece(0);
        a.unindex_piece(1);
        a.unindex_piece(2);
        assert_eq!(a.rarest_nearest(&all, 4), Some(4));
        // Past the last piece, the lowest one before the reader.
        assert_eq!(a.rarest_nearest(&all, 10), Some(3));
        assert_eq!(a.rarest_nearest(&Bitfield::new(10), 4), None);
    }
}
