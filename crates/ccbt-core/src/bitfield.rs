use crate::CoreError;

/// A fixed-length set of piece indices, stored MSB-first as on the wire (BEP 3).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: u32,
}

impl std::fmt::Debug for Bitfield {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bitfield({}/{})", self.count_ones(), self.len)
    }
}

impl Bitfield {
    /// An empty bitfield for `len` pieces.
    pub fn new(len: u32) -> Bitfield {
        Bitfield { bytes: vec![0; (len as usize).div_ceil(8)], len }
    }

    /// A bitfield with every piece set.
    pub fn full(len: u32) -> Bitfield {
        let mut b = Bitfield { bytes: vec![0xff; (len as usize).div_ceil(8)], len };
        b.clear_spare_bits();
        b
    }

    /// Parses a wire bitfield, which must have exactly `ceil(len/8)` bytes and no spare bits set.
    pub fn from_bytes(bytes: &[u8], len: u32) -> Result<Bitfield, CoreError> {
        let expected = (len as usize).div_ceil(8);
        if bytes.len() != expected {
            return Err(CoreError::BitfieldLength { got: bytes.len(), expected, pieces: len });
        }
        let b = Bitfield { bytes: bytes.to_vec(), len };
        let mut cleaned = b.clone();
        cleaned.clear_spare_bits();
        if cleaned != b {
            return Err(CoreError::BitfieldSpareBits { pieces: len });
        }
        Ok(b)
    }

    fn clear_spare_bits(&mut self) {
        let spare = self.bytes.len() * 8 - self.len as usize;
        if spare > 0 {
            if let Some(last) = self.bytes.last_mut() {
                *last &= 0xffu8 << spare;
            }
        }
    }

    /// Number of pieces this bitfield covers.
    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether piece `i` is set; out-of-range indices are never set.
    pub fn get(&self, i: u32) -> bool {
        i < self.len && self.bytes[(i / 8) as usize] & (0x80 >> (i % 8)) != 0
    }

    /// Sets piece `i`; returns whether it was newly set. Out-of-range indices are ignored.
    pub fn set(&mut self, i: u32) -> bool {
        if i >= self.len {
            return false;
        }
        let byte = &mut self.bytes[(i / 8) as usize];
        let mask = 0x80 >> (i % 8);
        let was = *byte & mask != 0;
        *byte |= mask;
        !was
    }

    /// Clears piece `i`; returns whether it was set.
    pub fn clear(&mut self, i: u32) -> bool {
        if i >= self.len {
            return false;
        }
        let byte = &mut self.bytes[(i / 8) as usize];
        let mask = 0x80 >> (i % 8);
        let was = *byte & mask != 0;
        *byte &= !mask;
        was
    }

    pub fn count_ones(&self) -> u32 {
        self.bytes.iter().map(|b| b.count_ones()).sum()
    }

    pub fn all(&self) -> bool {
        self.count_ones() == self.len
    }

    pub fn none(&self) -> bool {
        self.bytes.iter().all(|&b| b == 0)
    }

    /// Indices of set pieces, ascending.
    pub fn iter_ones(&self) -> impl Iterator<Item = u32> + '_ {
        self.bytes.iter().enumerate().flat_map(move |(bi, &byte)| {
            (0..8u32).filter_map(move |bit| {
                let i = bi as u32 * 8 + bit;
                (byte & (0x80 >> bit) != 0 && i < self.len).then_some(i)
            })
        })
    }

    /// Indices of unset pieces, ascending.
    pub fn iter_zeros(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(move |&i| !self.get(i))
    }

    /// The wire form (MSB-first, spare bits zero).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn set_get_clear() {
        let mut b = Bitfield::new(10);
        assert!(b.none());
        assert!(b.set(0));
        assert!(!b.set(0));
        assert!(b.set(9));
        assert!(!b.set(10));
        assert!(b.get(0) && b.get(9) && !b.get(5) && !b.get(100));
        assert_eq!(b.as_bytes(), &[0x80, 0x40]);
        assert_eq!(b.iter_ones().collect::<Vec<_>>(), vec![0, 9]);
        assert!(b.clear(0));
        assert_eq!(b.count_ones(), 1);
    }

    #[test]
    fn full_clears_spare_bits() {
        let b = Bitfield::full(10);
        assert_eq!(b.as_bytes(), &[0xff, 0xc0]);
        assert!(b.all());
        assert_eq!(b.iter_zeros().count(), 0);
    }

    #[test]
    fn from_bytes_validates() {
        assert!(Bitfield::from_bytes(&[0xff, 0xc0], 10).is_ok());
        assert_eq!(Bitfield::from_bytes(&[0xff, 0xe0], 10), Err(CoreError::BitfieldSpareBits { pieces: 10 }));
        assert!(matches!(
            Bitfield::from_bytes(&[0xff], 10),
            Err(CoreError::BitfieldLength { got: 1, expected: 2, .. })
        ));
    }

    proptest! {
        #[test]
        fn ones_and_zeros_partition(len in 0u32..200, sets in proptest::collection::vec(0u32..220, 0..50)) {
            let mut b = Bitfield::new(len);
            for s in &sets { b.set(*s); }
            let ones: Vec<u32> = b.iter_ones().collect();
            prop_assert_eq!(ones.len() as u32, b.count_ones());
            prop_assert_eq!(ones.len() + b.iter_zeros().count(), len as usize);
            let round = Bitfield::from_bytes(b.as_bytes(), len).unwrap();
            prop_assert_eq!(round, b);
        }
    }
}
