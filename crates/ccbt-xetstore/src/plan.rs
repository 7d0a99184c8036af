//! Pure planning: where each chunk of a manifest goes in the destination, which ranges stay
//! missing, and which files the size cap evicts.

use ccbt_xet::consts::MAX_CHUNK_SIZE;
use ccbt_xet::ChunkRef;

/// The end of the destination range `[base, end)` a manifest covers, after checking every entry
/// has a length a chunker can produce (1 to 128 KiB) and that no offset overflows.
pub fn manifest_end(manifest: &[ChunkRef], base: u64) -> Result<u64, String> {
    let mut end = base;
    for (i, chunk) in manifest.iter().enumerate() {
        if chunk.len == 0 || chunk.len as usize > MAX_CHUNK_SIZE {
            return Err(format!("entry {i} has length {} (1 to {MAX_CHUNK_SIZE} allowed)", chunk.len));
        }
        end = end
            .checked_add(u64::from(chunk.len))
            .ok_or_else(|| format!("entry {i} ends beyond the largest file offset"))?;
    }
    Ok(end)
}

/// Missing byte ranges `(offset, len)` in increasing order, adjacent ones merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gaps(pub Vec<(u64, u64)>);

impl Gaps {
    /// Records `[offset, offset + len)` as missing; offsets must come in increasing order.
    pub fn push(&mut self, offset: u64, len: u64) {
        match self.0.last_mut() {
            Some((start, n)) if *start + *n == offset => *n += len,
            _ => self.0.push((offset, len)),
        }
    }
}

/// The files the size cap removes from the index, oldest first. `files` is (file id, chunks it
/// holds) in age order (ids grow with time); `used` and `cap` are bytes of the index. A file is
/// assumed to take a share of the index proportional to its chunks, and files are taken until
/// their share covers `used - cap`.
pub fn select_evictions(files: &[(u64, u64)], used: u64, cap: u64) -> Vec<u64> {
    let total: u128 = files.iter().map(|&(_, chunks)| u128::from(chunks)).sum();
    if used <= cap || total == 0 {
        return Vec::new();
    }
    let excess = u128::from(used - cap);
    let mut taken = 0u128;
    let mut out = Vec::new();
    for &(id, chunks) in files {
        // share(taken) = taken × used / total, compared without division.
        if taken * u128::from(used) >= excess * total {
            break;
        }
        taken += u128::from(chunks);
        out.push(id);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(len: u32) -> ChunkRef {
        ChunkRef { id: [0; 32], len }
    }

    #[test]
    fn manifest_end_checks_lengths_and_overflow() {
        assert_eq!(manifest_end(&[chunk(10), chunk(5)], 100), Ok(115));
        assert_eq!(manifest_end(&[], 7), Ok(7));
        assert!(manifest_end(&[chunk(0)], 0).unwrap_err().contains("entry 0 has length 0"));
        assert!(manifest_end(&[chunk(1), chunk(128 * 1024 + 1)], 0).unwrap_err().contains("entry 1"));
        assert!(manifest_end(&[chunk(2)], u64::MAX - 1).unwrap_err().contains("beyond"));
    }

    #[test]
    fn gaps_merge_adjacent_ranges_only() {
        let mut gaps = Gaps::default();
        gaps.push(0, 10);
        gaps.push(10, 5);
        gaps.push(20, 1);
        assert_eq!(gaps.0, vec![(0, 15), (20, 1)]);
    }

    #[test]
    fn evictions_take_the_oldest_until_the_excess_is_covered() {
        let files = [(1, 10), (2, 10), (3, 10), (4, 10)];
        assert!(select_evictions(&files, 100, 100).is_empty());
        assert!(select_evictions(&[], 100, 10).is_empty());
        // 40 chunks over 100 bytes: 2.5 bytes per chunk; 30 over the cap needs 12 chunks.
        assert_eq!(select_evictions(&files, 100, 70), vec![1, 2]);
        assert_eq!(select_evictions(&files, 100, 75), vec![1]);
        assert_eq!(select_evictions(&files, 100, 0), vec![1, 2, 3, 4]);
    }
}
