//! A piece set stored as 64-bit words in the same bit order as a wire [`Bitfield`], so that
//! "which of these pieces does the peer have" is a word-wise AND instead of a bit-by-bit walk.

use ccbt_core::Bitfield;

/// A set of piece indices below `len`. Bit `i` lives in word `i / 64` at mask
/// `1 << (63 - i % 64)`, which is exactly the big-endian reading of eight bitfield bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PieceSet {
    words: Vec<u64>,
    len: u32,
    count: u32,
}

fn mask(i: u32) -> u64 {
    1u64 << (63 - (i % 64))
}

/// Word `w` of `bf` read big-endian, zero-padded past its end (bitfields may be shorter than
/// the set when a peer sent a bitfield of the wrong size; missing bytes mean "not had").
fn bitfield_word(bf: &Bitfield, w: usize) -> u64 {
    let bytes = bf.as_bytes();
    let start = w.saturating_mul(8);
    let mut buf = [0u8; 8];
    if let Some(src) = bytes.get(start..) {
        let n = src.len().min(8);
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), src.get(..n)) {
            dst.copy_from_slice(src);
        }
    }
    u64::from_be_bytes(buf)
}

impl PieceSet {
    /// An empty set for pieces `0..len`.
    pub(crate) fn new(len: u32) -> PieceSet {
        PieceSet { words: vec![0; (len as usize).div_ceil(64)], len, count: 0 }
    }

    /// Number of members.
    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    pub(crate) fn contains(&self, i: u32) -> bool {
        i < self.len && self.words.get((i / 64) as usize).is_some_and(|w| w & mask(i) != 0)
    }

    /// Adds `i`; returns whether it was newly added. Out-of-range indices are ignored.
    pub(crate) fn insert(&mut self, i: u32) -> bool {
        if i >= self.len {
            return false;
        }
        match self.words.get_mut((i / 64) as usize) {
            Some(w) if *w & mask(i) == 0 => {
                *w |= mask(i);
                self.count += 1;
                true
            }
            _ => false,
        }
    }

    /// Removes `i`; returns whether it was a member.
    pub(crate) fn remove(&mut self, i: u32) -> bool {
        match self.words.get_mut((i / 64) as usize) {
            Some(w) if *w & mask(i) != 0 => {
                *w &= !mask(i);
                self.count -= 1;
                true
            }
            _ => false,
        }
    }

    /// The lowest member `>= from` that `other` also has.
    pub(crate) fn next_common(&self, from: u32, other: &Bitfield) -> Option<u32> {
        if from >= self.len {
            return None;
        }
        let first = (from / 64) as usize;
        // Bits below `from` in the first word are not wanted.
        let mut lead = u64::MAX >> (from % 64);
        for (w, word) in self.words.iter().enumerate().skip(first) {
            let hit = word & bitfield_word(other, w) & lead;
            lead = u64::MAX;
            if hit != 0 {
                let i = (w as u64) * 64 + u64::from(hit.leading_zeros());
                return u32::try_from(i).ok().filter(|&i| i < self.len);
            }
        }
        None
    }

    /// Whether any member is also in `other`.
    pub(crate) fn intersects(&self, other: &Bitfield) -> bool {
        self.words.iter().enumerate().any(|(w, word)| word & bitfield_word(other, w) != 0)
    }

    /// Members in ascending order.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.leading_zeros();
                rest &= !(1u64 << (63 - bit));
                u32::try_from(w as u64 * 64 + u64::from(bit)).ok()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn insert_remove_count() {
        let mut s = PieceSet::new(130);
        assert!(s.insert(0));
        assert!(!s.insert(0));
        assert!(s.insert(129));
        assert!(!s.insert(130));
        assert_eq!(s.count(), 2);
        assert!(s.contains(129) && !s.contains(5) && !s.contains(1000));
        assert!(s.remove(0));
        assert!(!s.remove(0));
        assert!(!s.remove(5000));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![129]);
    }

    #[test]
    fn next_common_respects_from_and_short_bitfields() {
        let mut s = PieceSet::new(200);
        for i in [3, 64, 70, 199] {
            s.insert(i);
        }
        let full = Bitfield::full(200);
        assert_eq!(s.next_common(0, &full), Some(3));
        assert_eq!(s.next_common(4, &full), Some(64));
        assert_eq!(s.next_common(65, &full), Some(70));
        assert_eq!(s.next_common(71, &full), Some(199));
        assert_eq!(s.next_common(200, &full), None);
        // A peer bitfield that is too short simply lacks the tail.
        assert_eq!(s.next_common(4, &Bitfield::full(10)), None);
        assert!(!s.intersects(&Bitfield::new(200)));
        assert!(s.intersects(&full));
    }

    proptest! {
        #[test]
        fn matches_naive(len in 1u32..300, members in proptest::collection::vec(0u32..300, 0..60),
                         peer in proptest::collection::vec(0u32..300, 0..60), from in 0u32..310) {
            let mut s = PieceSet::new(len);
            let mut bf = Bitfield::new(len);
            for m in &members { s.insert(*m); }
            for p in &peer { bf.set(*p); }
            let naive = (from..len).find(|&i| members.contains(&i) && bf.get(i));
            prop_assert_eq!(s.next_common(from, &bf), naive);
            let mut sorted: Vec<u32> = members.iter().copied().filter(|&m| m < len).collect();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(s.iter().collect::<Vec<_>>(), sorted.clone());
            prop_assert_eq!(s.count() as usize, sorted.len());
            prop_assert_eq!(s.intersects(&bf), sorted.iter().any(|&i| bf.get(i)));
        }
    }
}
