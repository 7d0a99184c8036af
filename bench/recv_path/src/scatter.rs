//! `scatter`: one `readv` per wake-up whose iovecs are [the rest of the payload being read →
//! its slot][next header][next payload → the slot of the block expected next]... `depth`
//! messages ahead. The block expected next is the lowest one not yet announced (the sender's
//! order, as a peer answers requests in order); its slot is only a guess until its header is
//! read: a wrong guess costs a copy of the bytes already read to the right slot (the
//! fallback), or a swap when the right slot is itself the guess of a later message.

use std::ptr;

use crate::pieces::Pieces;
use crate::recv::Counts;
use crate::sock::Sock;
use crate::wire::{parse_header, BlockId, BLOCK, HEADER};

/// Where the stream stands between two reads.
enum At {
    /// In the payload of a block whose header was read: `done` bytes are in its slot.
    Payload { id: BlockId, slot: *mut u8, done: usize },
    /// In a header: its first `have` bytes are in `bytes`.
    Header { bytes: [u8; HEADER], have: usize },
}

pub fn scatter(sock: &mut Sock, pieces: &mut Pieces, blocks: usize, depth: usize) -> Result<Counts, String> {
    let mut scratch = vec![0u8; depth * BLOCK];
    let mut headers = vec![[0u8; HEADER]; depth];
    let mut guesses: Vec<*mut u8> = Vec::with_capacity(depth);
    let mut iov: Vec<libc::iovec> = Vec::with_capacity(2 * depth + 1);
    let mut at = At::Header { bytes: [0; HEADER], have: 0 };
    let mut frontier = 0;
    let mut counts = Counts::default();
    while !pieces.all_done() {
        while frontier < blocks && pieces.announced(BlockId::nth(frontier)) {
            frontier += 1;
        }
        guess_slots(pieces, frontier, blocks, &mut scratch, &mut guesses, depth);
        iov.clear();
        match &at {
            At::Payload { slot, done, .. } => iov.push(io(unsafe { slot.add(*done) }, BLOCK - done)),
            At::Header { bytes, have } => {
                headers[0] = *bytes;
                iov.push(io(unsafe { headers[0].as_mut_ptr().add(*have) }, HEADER - have));
                iov.push(io(guesses[0], BLOCK));
            }
        }
        let first_header = if matches!(at, At::Payload { .. }) { 0 } else { 1 };
        for (j, h) in headers.iter_mut().enumerate().skip(first_header) {
            iov.push(io(h.as_mut_ptr(), HEADER));
            iov.push(io(guesses[j], BLOCK));
        }
        let n = sock.readv(&iov)?;
        at = land(n, at, pieces, &headers, &mut guesses, &mut counts)?;
    }
    Ok(counts)
}

fn io(base: *mut u8, len: usize) -> libc::iovec {
    libc::iovec { iov_base: base as *mut libc::c_void, iov_len: len }
}

/// The slots of the next `depth` blocks not yet announced from `frontier` on, a scratch block
/// where there is none (past the end, or its buffer still busy with an older piece).
fn guess_slots(
    pieces: &Pieces,
    frontier: usize,
    blocks: usize,
    scratch: &mut [u8],
    guesses: &mut Vec<*mut u8>,
    depth: usize,
) {
    guesses.clear();
    let mut seq = frontier;
    let limit = frontier + 4 * depth;
    while guesses.len() < depth && seq < blocks.min(limit) {
        if let Some(slot) = pieces.speculative_slot(BlockId::nth(seq)) {
            guesses.push(slot);
        }
        seq += 1;
    }
    let mut spare = scratch.chunks_mut(BLOCK);
    while guesses.len() < depth {
        guesses.push(spare.next().expect("one scratch block per message").as_mut_ptr());
    }
}

/// Accounts for `n` bytes read into the iovecs built from `at`, `headers` and `guesses`;
/// returns where the stream stands after them.
fn land(
    mut n: usize,
    at: At,
    pieces: &mut Pieces,
    headers: &[[u8; HEADER]],
    guesses: &mut [*mut u8],
    counts: &mut Counts,
) -> Result<At, String> {
    let mut first = 0;
    match at {
        At::Payload { id, slot, done } => {
            let m = n.min(BLOCK - done);
            n -= m;
            if done + m < BLOCK {
                return Ok(At::Payload { id, slot, done: done + m });
            }
            pieces.landed(id)?;
        }
        At::Header { have, .. } => {
            // Message 0's header continues where it stopped.
            let m = n.min(HEADER - have);
            n -= m;
            if have + m < HEADER {
                return Ok(At::Header { bytes: headers[0], have: have + m });
            }
            if let Some(next) = payload(0, &mut n, pieces, headers, guesses, counts)? {
                return Ok(next);
            }
            first = 1;
        }
    }
    for j in first..headers.len() {
        if n < HEADER {
            return Ok(At::Header { bytes: headers[j], have: n });
        }
        n -= HEADER;
        if let Some(next) = payload(j, &mut n, pieces, headers, guesses, counts)? {
            return Ok(next);
        }
    }
    Ok(At::Header { bytes: [0; HEADER], have: 0 })
}

/// Message `j`'s header is complete and up to `*n` of its payload bytes are in `guesses[j]`:
/// moves them to the block's slot if the guess was wrong; `Some` if the payload is partial.
fn payload(
    j: usize,
    n: &mut usize,
    pieces: &mut Pieces,
    headers: &[[u8; HEADER]],
    guesses: &mut [*mut u8],
    counts: &mut Counts,
) -> Result<Option<At>, String> {
    let id = parse_header(&headers[j])?;
    let slot = pieces.claim(id)?;
    let got = (*n).min(BLOCK);
    *n -= got;
    if slot != guesses[j] {
        counts.misses += 1;
        if let Some(later) = (j + 1..guesses.len()).find(|&i| guesses[i] == slot) {
            // The right slot holds a later message's bytes: trade places.
            // SAFETY: two distinct, non-overlapping BLOCK-sized slots.
            unsafe { ptr::swap_nonoverlapping(guesses[j], slot, BLOCK) };
            guesses[later] = guesses[j];
            counts.copied_bytes += 2 * BLOCK as u64;
        } else if got > 0 {
            // SAFETY: distinct slots (or scratch) of BLOCK bytes each.
            unsafe { ptr::copy_nonoverlapping(guesses[j], slot, got) };
            counts.copied_bytes += got as u64;
        }
    }
    if got < BLOCK {
        return Ok(Some(At::Payload { id, slot, done: got }));
    }
    pieces.landed(id)?;
    Ok(None)
}
