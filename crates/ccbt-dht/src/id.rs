use std::fmt;

use ccbt_core::InfoHash;
use rand::Rng;

/// A 160-bit DHT node id (BEP 5). Info hashes live in the same space, so the two convert freely.
///
/// Ordering is plain big-endian byte order, which makes the XOR distance ([`NodeId::distance`])
/// comparable with `<`: a smaller distance means a closer node.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub [u8; 20]);

impl NodeId {
    /// Number of bits in an id.
    pub const BITS: usize = 160;

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// A uniformly random id.
    pub fn random(rng: &mut impl Rng) -> NodeId {
        let mut id = [0u8; 20];
        rng.fill(&mut id);
        NodeId(id)
    }

    /// The XOR distance to `other`, itself an id-sized number.
    pub fn distance(&self, other: &NodeId) -> NodeId {
        let mut out = [0u8; 20];
        for ((o, a), b) in out.iter_mut().zip(self.0).zip(other.0) {
            *o = a ^ b;
        }
        NodeId(out)
    }

    /// Number of leading zero bits (160 for the zero id). Applied to a distance, this is the
    /// length of the common prefix of the two ids, i.e. the routing-table bucket index.
    pub fn leading_zeros(&self) -> usize {
        let mut n = 0;
        for b in self.0 {
            if b == 0 {
                n += 8;
            } else {
                return n + b.leading_zeros() as usize;
            }
        }
        n
    }

    /// Bit `i` counted from the most significant bit (`i >= 160` reads as `false`).
    pub fn bit(&self, i: usize) -> bool {
        self.0.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
    }

    /// A random id whose distance to `self` has exactly `prefix` leading zero bits, i.e. an id
    /// that falls into bucket `prefix` of a routing table owned by `self`. With `exact == false`
    /// the distance has *at least* `prefix` leading zeros (the range of the last bucket, which
    /// also holds everything closer).
    pub fn random_in_bucket(&self, prefix: usize, exact: bool, rng: &mut impl Rng) -> NodeId {
        let mut dist = NodeId::random(rng);
        for i in 0..prefix.min(Self::BITS) {
            dist.set_bit(i, false);
        }
        if exact && prefix < Self::BITS {
            dist.set_bit(prefix, true);
        }
        self.distance(&dist)
    }

    fn set_bit(&mut self, i: usize, value: bool) {
        if let Some(b) = self.0.get_mut(i / 8) {
            let mask = 0x80 >> (i % 8);
            if value {
                *b |= mask;
            } else {
                *b &= !mask;
            }
        }
    }
}

impl From<InfoHash> for NodeId {
    fn from(h: InfoHash) -> Self {
        NodeId(h.0)
    }
}

impl From<NodeId> for InfoHash {
    fn from(id: NodeId) -> Self {
        InfoHash(id.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn distance_and_leading_zeros() {
        let a = NodeId([0; 20]);
        let mut b = [0u8; 20];
        b[2] = 0x10;
        let b = NodeId(b);
        assert_eq!(a.distance(&b), b);
        assert_eq!(a.distance(&b).leading_zeros(), 19);
        assert_eq!(a.distance(&a).leading_zeros(), 160);
        assert_eq!(NodeId([0xff; 20]).leading_zeros(), 0);
        assert!(b.bit(19));
        assert!(!b.bit(18));
        assert!(!b.bit(500));
    }

    #[test]
    fn random_in_bucket_lands_in_bucket() {
        let mut rng = SmallRng::seed_from_u64(7);
        let own = NodeId::random(&mut rng);
        for prefix in [0, 1, 7, 8, 9, 100, 159] {
            for _ in 0..20 {
                let id = own.random_in_bucket(prefix, true, &mut rng);
                assert_eq!(own.distance(&id).leading_zeros(), prefix);
                let id = own.random_in_bucket(prefix, false, &mut rng);
                assert!(own.distance(&id).leading_zeros() >= prefix);
            }
        }
        assert_eq!(own.random_in_bucket(160, true, &mut rng), own);
    }

    #[test]
    fn info_hash_conversion() {
        let h = InfoHash([9; 20]);
        assert_eq!(InfoHash::from(NodeId::from(h)), h);
        assert_eq!(NodeId([0xab; 20]).to_string(), "ab".repeat(20));
    }
}
