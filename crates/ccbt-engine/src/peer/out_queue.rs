//! The bytes queued for one peer, sent with vectored writes.
//!
//! Control messages are encoded into one small buffer; a block's data (or a large extended
//! payload, such as a `ut_metadata` piece or a Xet chunk) is not copied at all: its `Bytes`
//! joins the queue as a segment of its own behind its encoded header, and the socket write
//! gathers up to [`MAX_IOV`] segments. A seeder thus copies each block once in user space (out
//! of storage) instead of twice.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use bytes::{Buf, Bytes, BytesMut};
use ccbt_wire::Message;

/// Payloads at least this long are queued by reference; shorter ones are copied (a segment
/// costs an iovec and a refcount, more than copying a few hundred bytes).
const BY_REFERENCE: usize = 1024;

/// Most segments one write gathers (well under the kernel's `IOV_MAX` of 1024; 64 segments
/// hold 32 blocks with their headers, 512 KiB).
const MAX_IOV: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct OutQueue {
    /// Encoded bytes in order, before `tail`.
    segments: VecDeque<Bytes>,
    /// Small messages (and headers) encoded since the last segment was cut.
    tail: BytesMut,
    /// Bytes in `segments` and `tail`.
    len: usize,
}

impl OutQueue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `msg`, encoded, behind everything queued before.
    pub(crate) fn push(&mut self, msg: Message) {
        let before = self.tail.len();
        let payload = match msg {
            Message::Piece { piece, offset, data } if data.len() >= BY_REFERENCE => {
                ccbt_wire::encode_piece_header(piece, offset, data.len(), &mut self.tail);
                data
            }
            Message::Extended { id, payload } if payload.len() >= BY_REFERENCE => {
                ccbt_wire::encode_extended_header(id, payload.len(), &mut self.tail);
                payload
            }
            other => {
                ccbt_wire::encode(&other, &mut self.tail);
                self.len += self.tail.len() - before;
                return;
            }
        };
        self.len += self.tail.len() - before + payload.len();
        self.segments.push_back(self.tail.split().freeze());
        self.segments.push_back(payload);
    }

    /// Hands the front of the queue, at most `max` bytes of it, to `write` as one gather list,
    /// and removes what `write` reports as written.
    pub(crate) fn write_with(
        &mut self,
        max: usize,
        write: impl FnOnce(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        // On the stack: this runs for every socket write.
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let mut count = 0;
        let mut left = max;
        let parts = self.segments.iter().map(|s| &s[..]).chain(std::iter::once(&self.tail[..]));
        for part in parts.filter(|p| !p.is_empty()) {
            if left == 0 || count == MAX_IOV {
                break;
            }
            let take = part.len().min(left);
            slices[count] = IoSlice::new(&part[..take]);
            count += 1;
            left -= take;
        }
        if count == 0 {
            return Ok(0);
        }
        let written = write(&slices[..count])?;
        self.consume(written);
        Ok(written)
    }

    /// Drops the first `n` queued bytes.
    fn consume(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let Some(front) = self.segments.front_mut() else {
                self.tail.advance(n);
                return;
            };
            if n < front.len() {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.segments.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccbt_core::BlockRef;

    fn encoded(msgs: &[Message]) -> Vec<u8> {
        let mut out = BytesMut::new();
        for m in msgs {
            ccbt_wire::encode(m, &mut out);
        }
        out.to_vec()
    }

    fn messages() -> Vec<Message> {
        let block = |i: u8| Bytes::from(vec![i; 16 * 1024]);
        vec![
            Message::Unchoke,
            Message::Piece { piece: 1, offset: 0, data: block(1) },
            Message::Have { piece: 7 },
            Message::Request(BlockRef { piece: 2, offset: 16384, len: 16384 }),
            Message::Piece { piece: 1, offset: 16384, data: block(2) },
            Message::Piece { piece: 3, offset: 0, data: Bytes::from_static(b"short") },
            Message::Extended { id: 3, payload: Bytes::from(vec![9; 5000]) },
            Message::Extended { id: 2, payload: Bytes::from_static(b"d1:ai1ee") },
            Message::KeepAlive,
        ]
    }

    /// Drains `queue` through writes that each accept at most `chunk` bytes of at most `max`.
    fn drain(queue: &mut OutQueue, max: usize, chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while !queue.is_empty() {
            let before = queue.len();
            let n = queue
                .write_with(max, |slices| {
                    assert!(slices.len() <= MAX_IOV);
                    let mut taken = 0;
                    for s in slices {
                        let take = s.len().min(chunk - taken);
                        out.extend_from_slice(&s[..take]);
                        taken += take;
                    }
                    assert!(taken <= max);
                    Ok(taken)
                })
                .unwrap();
            assert_eq!(queue.len(), before - n);
        }
        out
    }

    #[test]
    fn sends_the_same_bytes_as_encoding_one_after_another_whatever_the_write_sizes() {
        let expected = encoded(&messages());
        for (max, chunk) in [(usize::MAX, usize::MAX), (1000, 1000), (usize::MAX, 7), (13, 5), (16397, 16397)]
        {
            let mut queue = OutQueue::default();
            for m in messages() {
                queue.push(m);
            }
            assert_eq!(queue.len(), expected.len());
            assert_eq!(drain(&mut queue, max, chunk), expected, "max {max}, chunk {chunk}");
        }
    }

    #[test]
    fn a_block_is_queued_by_reference_not_copied() {
        let data = Bytes::from(vec![5u8; 16 * 1024]);
        let mut queue = OutQueue::default();
        queue.push(Message::Piece { piece: 0, offset: 0, data: data.clone() });
        assert_eq!(queue.segments.back().map(|s| s.as_ptr()), Some(data.as_ptr()));
    }

    #[test]
    fn pushing_between_partial_writes_keeps_the_order() {
        let all = messages();
        let expected = encoded(&all);
        let mut queue = OutQueue::default();
        let mut out = Vec::new();
        for m in all {
            queue.push(m);
            queue
                .write_with(3000, |slices| {
                    let mut taken = 0;
                    for s in slices {
                        out.extend_from_slice(s);
                        taken += s.len();
                    }
                    Ok(taken)
                })
                .unwrap();
        }
        out.extend(drain(&mut queue, usize::MAX, usize::MAX));
        assert_eq!(out, expected);
    }

    #[test]
    fn a_failed_write_removes_nothing() {
        let mut queue = OutQueue::default();
        queue.push(Message::Piece { piece: 0, offset: 0, data: Bytes::from(vec![1; 4096]) });
        let len = queue.len();
        let err = queue.write_with(usize::MAX, |_| Err(io::ErrorKind::WouldBlock.into()));
        assert!(err.is_err());
        assert_eq!(queue.len(), len);
    }
}
