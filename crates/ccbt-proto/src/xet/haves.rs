//! What one peer says it holds of the files we fetch: its HAVE_MAP and HAVE_RANGE notices.
//!
//! Availability is tracked only for files the engine watches (those whose verified manifest it
//! has), by chunk index. A HAVE_MAP may arrive before we know the file (right after the
//! handshake, while we still fetch the torrent's metadata): a few such maps are kept, within a
//! byte budget, and applied when the file is watched. HAVE_RANGE for a file not watched is
//! ignored. Nothing here is trusted for more than choosing whom to ask: every chunk is still
//! verified when it arrives.

use std::collections::BTreeMap;

use bytes::Bytes;
use ccbt_wire::ext::xet_cas::{bit, XetMessage};
use ccbt_xet::ChunkId;

use super::{hex, XetViolation};

/// Bytes of HAVE_MAP bitfields kept per peer for files not watched yet (two of the largest).
pub const MAX_EARLY_MAP_BYTES: usize = 256 * 1024;

/// HAVE_MAPs kept per peer for files not watched yet.
pub const MAX_EARLY_MAPS: usize = 8;

#[derive(Debug)]
struct FileHaves {
    n: u32,
    bits: Vec<u8>,
    held: u32,
    /// A HAVE_MAP came for this file (at most one may).
    mapped: bool,
}

impl FileHaves {
    /// Sets bits `start..end` a byte at a time where it can: a HAVE_RANGE of a million chunks
    /// costs a 128 KiB fill, not a million steps.
    fn set_range(&mut self, start: u32, end: u32) {
        let mut i = start;
        while i < end {
            let byte = (i / 8) as usize;
            let mask = if i % 8 == 0 && end - i >= 8 { 0xFF } else { 0x80u8 >> (i % 8) };
            self.held += (mask & !self.bits[byte]).count_ones();
            self.bits[byte] |= mask;
            i += mask.count_ones();
        }
    }
}

/// One peer's chunk availability for the files we watch.
#[derive(Debug, Default)]
pub struct PeerHaves {
    files: BTreeMap<ChunkId, FileHaves>,
    early: BTreeMap<ChunkId, (u32, Bytes)>,
    early_bytes: usize,
}

impl PeerHaves {
    /// Tracks nothing yet.
    pub fn new() -> PeerHaves {
        PeerHaves::default()
    }

    /// Starts tracking file `root`, of `n` chunks by its verified manifest. A HAVE_MAP the peer
    /// sent for it earlier applies now; one of another size is a violation (the root fixes
    /// the manifest, so the peer lied).
    pub fn watch(&mut self, root: ChunkId, n: u32) -> Result<(), XetViolation> {
        if self.files.contains_key(&root) {
            return Ok(());
        }
        let mut file = FileHaves { n, bits: vec![0; (n as usize).div_ceil(8)], held: 0, mapped: false };
        if let Some((map_n, map)) = self.early.remove(&root) {
            self.early_bytes -= map.len();
            check_size(&root, map_n, n)?;
            apply_map(&mut file, &map);
        }
        self.files.insert(root, file);
        Ok(())
    }

    /// Stops tracking file `root` (fetched, or no longer wanted).
    pub fn unwatch(&mut self, root: &ChunkId) {
        self.files.remove(root);
    }

    /// Takes a HAVE_MAP or HAVE_RANGE; the watched file whose availability changed, if any.
    /// Other messages change nothing.
    pub fn on_notice(&mut self, msg: &XetMessage) -> Result<Option<ChunkId>, XetViolation> {
        match msg {
            XetMessage::HaveMap { root, n, bitfield } => self.have_map(*root, *n, bitfield),
            XetMessage::HaveRange { root, start, count } => {
                let Some(file) = self.files.get_mut(root) else { return Ok(None) };
                let end = u64::from(*start) + u64::from(*count);
                if end > u64::from(file.n) {
                    return Err(XetViolation::HaveOutOfRange { root: hex(root), end, n: file.n });
                }
                file.set_range(*start, end as u32);
                Ok(Some(*root))
            }
            _ => Ok(None),
        }
    }

    fn have_map(&mut self, root: ChunkId, n: u32, bitfield: &Bytes) -> Result<Option<ChunkId>, XetViolation> {
        if let Some(file) = self.files.get_mut(&root) {
            if file.mapped {
                return Err(XetViolation::RepeatedHaveMap { root: hex(&root) });
            }
            check_size(&root, n, file.n)?;
            apply_map(file, bitfield);
            return Ok(Some(root));
        }
        if self.early.contains_key(&root) {
            return Err(XetViolation::RepeatedHaveMap { root: hex(&root) });
        }
        // Kept for later only within the budget; beyond it the map is dropped, which costs
        // nothing but knowledge (we may ask the peer with QUERY instead).
        if self.early.len() < MAX_EARLY_MAPS && self.early_bytes + bitfield.len() <= MAX_EARLY_MAP_BYTES {
            self.early_bytes += bitfield.len();
            self.early.insert(root, (n, bitfield.clone()));
        }
        Ok(None)
    }

    /// Whether the peer said it holds chunk `index` of watched file `root`.
    pub fn has(&self, root: &ChunkId, index: u32) -> bool {
        self.files.get(root).is_some_and(|f| bit(&f.bits, index as usize))
    }

    /// How many chunks of watched file `root` the peer said it holds.
    pub fn held(&self, root: &ChunkId) -> u32 {
        self.files.get(root).map_or(0, |f| f.held)
    }
}

fn check_size(root: &ChunkId, got: u32, expected: u32) -> Result<(), XetViolation> {
    if got != expected {
        return Err(XetViolation::HaveMapSize { root: hex(root), got, expected });
    }
    Ok(())
}

/// ORs a HAVE_MAP's bits (already checked to be ⌈n/8⌉ bytes with zero padding) into `file`.
fn apply_map(file: &mut FileHaves, map: &[u8]) {
    for (dst, src) in file.bits.iter_mut().zip(map) {
        file.held += (src & !*dst).count_ones();
        *dst |= src;
    }
    file.mapped = true;
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccbt_wire::ext::xet_cas::pack_bits;

    fn map(root: ChunkId, flags: &[bool]) -> XetMessage {
        XetMessage::HaveMap { root, n: flags.len() as u32, bitfield: Bytes::from(pack_bits(flags)) }
    }

    #[test]
    fn maps_and_ranges_of_watched_files() {
        let mut haves = PeerHaves::new();
        let root = [1; 32];
        haves.watch(root, 10).unwrap();
        let flags = [true, false, true, false, false, false, false, false, false, true];
        assert_eq!(haves.on_notice(&map(root, &flags)), Ok(Some(root)));
        assert_eq!((0..10).map(|i| haves.has(&root, i)).collect::<Vec<_>>(), flags);
        assert_eq!(haves.held(&root), 3);
        let range = XetMessage::HaveRange { root, start: 1, count: 3 };
        assert_eq!(haves.on_notice(&range), Ok(Some(root)));
        assert_eq!(haves.held(&root), 5);
        assert!(haves.has(&root, 3) && !haves.has(&root, 4) && !haves.has(&root, 10));
        // Past the file's end, a second map, a map of another size: the peer lied.
        let past = XetMessage::HaveRange { root, start: 8, count: 3 };
        assert_eq!(
            haves.on_notice(&past),
            Err(XetViolation::HaveOutOfRange { root: hex(&root), end: 11, n: 10 })
        );
        assert_eq!(
            haves.on_notice(&map(root, &flags)),
            Err(XetViolation::RepeatedHaveMap { root: hex(&root) })
        );
        let mut other = PeerHaves::new();
        other.watch(root, 11).unwrap();
        assert!(matches!(
            other.on_notice(&map(root, &flags)),
            Err(XetViolation::HaveMapSize { got: 10, .. })
        ));
        let mut wide = PeerHaves::new();
        wide.watch(root, 100).unwrap();
        wide.on_notice(&XetMessage::HaveRange { root, start: 3, count: 90 }).unwrap();
        wide.on_notice(&XetMessage::HaveRange { root, start: 0, count: 5 }).unwrap();
        assert_eq!((0..100).filter(|&i| wide.has(&root, i)).collect::<Vec<_>>(), (0..93).collect::<Vec<_>>());
        assert_eq!(wide.held(&root), 93);
        haves.unwatch(&root);
        assert!(!haves.has(&root, 0));
        assert_eq!(haves.on_notice(&range), Ok(None));
    }

    #[test]
    fn early_maps_wait_for_their_file_within_a_budget() {
        let mut haves = PeerHaves::new();
        let (a, b) = ([1; 32], [2; 32]);
        assert_eq!(haves.on_notice(&map(a, &[false, true])), Ok(None));
        assert_eq!(
            haves.on_notice(&map(a, &[false, true])),
            Err(XetViolation::RepeatedHaveMap { root: hex(&a) })
        );
        haves.watch(a, 2).unwrap();
        assert!(haves.has(&a, 1) && !haves.has(&a, 0));
        assert_eq!(haves.early_bytes, 0);
        assert_eq!(haves.on_notice(&map(b, &[true; 3])), Ok(None));
        assert!(matches!(haves.watch(b, 4), Err(XetViolation::HaveMapSize { got: 3, expected: 4, .. })));

        // Large maps beyond the byte budget are dropped, not kept.
        let big = vec![true; 1 << 20];
        for i in 0..4u8 {
            haves.on_notice(&map([10 + i; 32], &big)).unwrap();
        }
        assert_eq!(haves.early.len(), 2);
        assert!(haves.early_bytes <= MAX_EARLY_MAP_BYTES);
        haves.watch([13; 32], 1 << 20).unwrap();
        assert_eq!(haves.held(&[13; 32]), 0);
        haves.watch([10; 32], 1 << 20).unwrap();
        assert_eq!(haves.held(&[10; 32]), 1 << 20);
    }
}
