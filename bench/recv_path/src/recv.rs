//! The two plain ways of landing blocks: `copy` (ccbt today: large reads into a read buffer,
//! each payload copied into its slot) and `two-reads` (the 13-byte header, then the payload
//! read straight into its slot).

use std::ptr;

use crate::pieces::Pieces;
use crate::sock::Sock;
use crate::wire::{parse_header, BLOCK, HEADER};

/// ccbt's `READ_CHUNK`: reads of up to 256 KiB.
const READ_CHUNK: usize = 256 * 1024;
/// ccbt reserves another chunk when less than this is free; here the tail is moved to the front.
const LOW_WATER: usize = 32 * 1024;

/// Reads of up to 256 KiB into one read buffer; each complete message's payload is copied to
/// its slot; a partial message at the end waits for the next read.
pub fn copy(sock: &mut Sock, pieces: &mut Pieces) -> Result<Counts, String> {
    let mut rbuf = vec![0x5au8; READ_CHUNK];
    let (mut start, mut end) = (0, 0);
    let mut counts = Counts::default();
    while !pieces.all_done() {
        if READ_CHUNK - end < LOW_WATER {
            rbuf.copy_within(start..end, 0);
            counts.moved_bytes += (end - start) as u64;
            end -= start;
            start = 0;
        }
        end += sock.read(rbuf[end..].as_mut_ptr(), READ_CHUNK - end)?;
        while end - start >= HEADER + BLOCK {
            let header: &[u8; HEADER] = rbuf[start..start + HEADER].try_into().expect("13 bytes");
            let id = parse_header(header)?;
            let slot = pieces.claim(id)?;
            // SAFETY: `slot` is BLOCK bytes of a piece buffer; the source is in `rbuf`.
            unsafe { ptr::copy_nonoverlapping(rbuf[start + HEADER..].as_ptr(), slot, BLOCK) };
            counts.copied_bytes += BLOCK as u64;
            pieces.landed(id)?;
            start += HEADER + BLOCK;
        }
        if start == end {
            start = 0;
            end = 0;
        }
    }
    Ok(counts)
}

/// Per block: read exactly the header, then exactly the payload into its slot.
pub fn two_reads(sock: &mut Sock, pieces: &mut Pieces) -> Result<Counts, String> {
    let mut header = [0u8; HEADER];
    while !pieces.all_done() {
        sock.read_exact(header.as_mut_ptr(), HEADER)?;
        let id = parse_header(&header)?;
        let slot = pieces.claim(id)?;
        sock.read_exact(slot, BLOCK)?;
        pieces.landed(id)?;
    }
    Ok(Counts::default())
}

/// Bytes a variant copied in user space besides the socket reads.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    /// Payload bytes copied from a read buffer (or a wrong guess) to their slots.
    pub copied_bytes: u64,
    /// Partial-message bytes moved to the front of the read buffer.
    pub moved_bytes: u64,
    /// Blocks whose guessed slot was wrong (scatter only).
    pub misses: u64,
}
