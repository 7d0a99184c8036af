//! Length-prefixed framing of [`Message`]s: an encoder and a streaming decoder that accepts its
//! input split at any byte.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use ccbt_core::{BlockRef, BLOCK_SIZE};

use crate::hashes::{HashRequest, Hashes, HASH_HEADER_LEN};
use crate::message::id;
use crate::{Message, WireError};

/// Bytes before the data of a `Piece` message: length prefix (4), id (1), piece (4), offset (4).
pub const PIECE_HEADER_LEN: usize = 13;

/// Default largest frame (id plus payload) [`MessageDecoder`] accepts: 1 MiB + 64 bytes.
///
/// A `Piece` frame is only 16 KiB + 9 bytes, but a `Bitfield` needs one byte per 8 pieces and
/// extension messages (metadata pieces, PEX lists) carry a dictionary on top of their data. One
/// MiB covers a bitfield of 8 million pieces, far beyond any real torrent, while still bounding
/// what a single peer can make us buffer. The 64 bytes are headroom for message headers.
pub const DEFAULT_MAX_FRAME: u32 = 1024 * 1024 + 64;

// A piece message carrying one full block must always fit under the default limit.
const _: () = assert!(DEFAULT_MAX_FRAME as usize >= BLOCK_SIZE as usize + PIECE_HEADER_LEN);

/// Most room [`MessageDecoder::decode`] reserves for the rest of an incomplete frame. Enough for
/// a whole `Piece` frame in one read; larger frames grow the buffer as their bytes arrive, so a
/// peer that announces a megabyte and then stalls costs us only what it actually sent.
const MAX_READ_AHEAD: usize = 64 * 1024;

/// The length prefix for a frame whose id is followed by `payload_len` bytes.
///
/// # Panics
/// If the frame would not fit a 32-bit length prefix (4 GiB). Frames are built from our own
/// blocks and bitfields, so this is a programming error, never a reaction to peer input.
fn frame_len(payload_len: usize) -> u32 {
    match payload_len.checked_add(1).map(u32::try_from) {
        Some(Ok(len)) => len,
        _ => panic!("peer wire frame payload of {payload_len} bytes does not fit a u32 length"),
    }
}

fn put_block(block: &BlockRef, dst: &mut BytesMut) {
    dst.put_u32(block.piece);
    dst.put_u32(block.offset);
    dst.put_u32(block.len);
}

/// Appends `msg`, length prefix included, to `dst`.
///
/// # Panics
/// If a `Bitfield`, `Piece` or `Extended` payload is larger than 4 GiB (see [`frame_len`]).
pub fn encode(msg: &Message, dst: &mut BytesMut) {
    let Some(id) = msg.id() else {
        dst.put_u32(0);
        return;
    };
    if let Message::Piece { piece, offset, data } = msg {
        dst.reserve(PIECE_HEADER_LEN.saturating_add(data.len()));
        encode_piece_header(*piece, *offset, data.len(), dst);
        dst.put_slice(data);
        return;
    }
    dst.reserve(msg.encoded_len());
    dst.put_u32(frame_len(msg.payload_len()));
    dst.put_u8(id);
    match msg {
        Message::Have { piece } | Message::Suggest { piece } | Message::AllowedFast { piece } => {
            dst.put_u32(*piece)
        }
        Message::Bitfield(bits) => dst.put_slice(bits),
        Message::Request(b) | Message::Cancel(b) | Message::Reject(b) => put_block(b, dst),
        Message::Port(port) => dst.put_u16(*port),
        Message::Extended { id, payload } => {
            dst.put_u8(*id);
            dst.put_slice(payload);
        }
        Message::HashRequest(req) | Message::HashReject(req) => req.put(dst),
        Message::Hashes(hashes) => hashes.put(dst),
        Message::KeepAlive
        | Message::Choke
        | Message::Unchoke
        | Message::Interested
        | Message::NotInterested
        | Message::HaveAll
        | Message::HaveNone
        | Message::Piece { .. } => {}
    }
}

/// Appends the [`PIECE_HEADER_LEN`]-byte header of a `Piece` message carrying `data_len` bytes,
/// so the caller can send the block's data from its own buffer (vectored write, no copy).
///
/// # Panics
/// If `data_len + 9` does not fit in a `u32`.
pub fn encode_piece_header(piece: u32, offset: u32, data_len: usize, dst: &mut BytesMut) {
    dst.reserve(PIECE_HEADER_LEN);
    dst.put_u32(frame_len(data_len.saturating_add(8)));
    dst.put_u8(id::PIECE);
    dst.put_u32(piece);
    dst.put_u32(offset);
}

/// Bytes before the payload of an `Extended` message: length prefix (4), id (1), extended id (1).
pub const EXTENDED_HEADER_LEN: usize = 6;

/// Appends the [`EXTENDED_HEADER_LEN`]-byte header of an `Extended` message with extended id
/// `ext_id` carrying `payload_len` bytes, for a vectored write of the payload from its own
/// buffer.
///
/// # Panics
/// If the frame would not fit a 32-bit length prefix (see [`frame_len`]).
pub fn encode_extended_header(ext_id: u8, payload_len: usize, dst: &mut BytesMut) {
    dst.reserve(EXTENDED_HEADER_LEN);
    dst.put_u32(frame_len(payload_len.saturating_add(1)));
    dst.put_u8(id::EXTENDED);
    dst.put_u8(ext_id);
}

/// Total size (length prefix included) of the frame at the start of `src`, once its 4-byte
/// length prefix is there. Lets a reader size its next read; it does not check any limit.
pub fn frame_len_hint(src: &[u8]) -> Option<usize> {
    let prefix = src.first_chunk::<4>()?;
    usize::try_from(u32::from_be_bytes(*prefix)).ok()?.checked_add(4)
}

/// Streaming decoder of length-prefixed peer wire messages.
///
/// Feed it the connection's read buffer after every read. After an error the stream cannot be
/// resynchronised: drop the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageDecoder {
    max_len: u32,
}

impl Default for MessageDecoder {
    fn default() -> Self {
        MessageDecoder::new(DEFAULT_MAX_FRAME)
    }
}

impl MessageDecoder {
    /// A decoder refusing frames (id plus payload) longer than `max_len` bytes.
    pub fn new(max_len: u32) -> MessageDecoder {
        MessageDecoder { max_len }
    }

    /// The largest frame this decoder accepts.
    pub fn max_len(&self) -> u32 {
        self.max_len
    }

    /// Decodes the next message from `src`, consuming exactly its frame.
    ///
    /// Returns `Ok(None)` when `src` does not yet hold a complete frame; in that case it
    /// reserves room in `src` for the rest of the frame (up to 64 KiB) so the next read can
    /// complete it.
    ///
    /// Frames with an unknown id are consumed and skipped. A length prefix above the limit is
    /// rejected as soon as the prefix is visible, before any of its payload is buffered. On
    /// error nothing of the offending frame is consumed.
    ///
    /// `Bitfield`, `Piece` data and `Extended` payloads are split off `src` without copying.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, WireError> {
        loop {
            let Some(prefix) = src.first_chunk::<4>() else {
                return Ok(None);
            };
            let len = u32::from_be_bytes(*prefix);
            let too_long = WireError::MessageTooLong { len, max: self.max_len };
            if len > self.max_len {
                return Err(too_long);
            }
            let total = usize::try_from(len).ok().and_then(|l| l.checked_add(4)).ok_or(too_long)?;
            if src.len() < total {
                src.reserve((total - src.len()).min(MAX_READ_AHEAD));
                return Ok(None);
            }
            if let Some(msg) = decode_frame(src, total)? {
                return Ok(Some(msg));
            }
        }
    }
}

/// Reads a big-endian u32 at `at` in `payload`. Short input reads as 0, but callers only keep
/// the value after checking the payload length.
fn u32_at(payload: &[u8], at: usize) -> u32 {
    payload.get(at..).and_then(|b| b.first_chunk::<4>()).map_or(0, |b| u32::from_be_bytes(*b))
}

fn block_at(payload: &[u8]) -> BlockRef {
    BlockRef { piece: u32_at(payload, 0), offset: u32_at(payload, 4), len: u32_at(payload, 8) }
}

/// What a frame holds, read from its bytes before any of them is consumed.
enum Shape {
    /// A message without a `Bytes` payload.
    Fixed(Message),
    Bitfield,
    Piece {
        piece: u32,
        offset: u32,
    },
    Extended {
        id: u8,
    },
    /// An id we do not know: BEP 3 says to ignore it.
    Unknown,
}

/// Reads what the frame body (id byte and payload) holds, checking its payload length.
fn shape(body: &[u8]) -> Result<Shape, WireError> {
    let Some((&id, payload)) = body.split_first() else {
        return Ok(Shape::Fixed(Message::KeepAlive));
    };
    let bad_len =
        || WireError::BadPayloadLength { id, len: u32::try_from(payload.len()).unwrap_or(u32::MAX) };
    let exact = |want: usize, msg: Message| {
        if payload.len() == want {
            Ok(Shape::Fixed(msg))
        } else {
            Err(bad_len())
        }
    };
    match id {
        id::CHOKE => exact(0, Message::Choke),
        id::UNCHOKE => exact(0, Message::Unchoke),
        id::INTERESTED => exact(0, Message::Interested),
        id::NOT_INTERESTED => exact(0, Message::NotInterested),
        id::HAVE_ALL => exact(0, Message::HaveAll),
        id::HAVE_NONE => exact(0, Message::HaveNone),
        id::HAVE => exact(4, Message::Have { piece: u32_at(payload, 0) }),
        id::SUGGEST => exact(4, Message::Suggest { piece: u32_at(payload, 0) }),
        id::ALLOWED_FAST => exact(4, Message::AllowedFast { piece: u32_at(payload, 0) }),
        id::REQUEST => exact(12, Message::Request(block_at(payload))),
        id::CANCEL => exact(12, Message::Cancel(block_at(payload))),
        id::REJECT => exact(12, Message::Reject(block_at(payload))),
        id::PORT => {
            let port = payload.first_chunk::<2>().copied().unwrap_or_default();
            exact(2, Message::Port(u16::from_be_bytes(port)))
        }
        id::BITFIELD => Ok(Shape::Bitfield),
        id::PIECE if payload.len() >= 8 => {
            Ok(Shape::Piece { piece: u32_at(payload, 0), offset: u32_at(payload, 4) })
        }
        id::EXTENDED => match payload.first() {
            Some(&id) => Ok(Shape::Extended { id }),
            None => Err(bad_len()),
        },
        id::PIECE => Err(bad_len()),
        id::HASH_REQUEST | id::HASH_REJECT => {
            let Some(req) = HashRequest::read(payload).filter(|_| payload.len() == HASH_HEADER_LEN) else {
                return Err(bad_len());
            };
            let msg =
                if id == id::HASH_REQUEST { Message::HashRequest(req) } else { Message::HashReject(req) };
            Ok(Shape::Fixed(msg))
        }
        id::HASHES => Ok(Shape::Fixed(Message::Hashes(Hashes::decode(payload)?))),
        _ => Ok(Shape::Unknown),
    }
}

/// Decodes the complete frame of `total` bytes at the start of `src` and consumes it, or
/// returns an error and consumes nothing. `total` is at least 4 and at most `src.len()`.
/// `Ok(None)` is a skipped frame with an unknown id.
fn decode_frame(src: &mut BytesMut, total: usize) -> Result<Option<Message>, WireError> {
    let shape = shape(src.get(4..total).unwrap_or_default())?;
    // Offsets of the `Bytes` payloads: prefix and id (5), then piece and offset (13) or the
    // extended id (6).
    let msg = match shape {
        Shape::Fixed(msg) => {
            src.advance(total);
            msg
        }
        Shape::Bitfield => Message::Bitfield(split_payload(src, total, 5)),
        Shape::Piece { piece, offset } => {
            Message::Piece { piece, offset, data: split_payload(src, total, PIECE_HEADER_LEN) }
        }
        Shape::Extended { id } => Message::Extended { id, payload: split_payload(src, total, 6) },
        Shape::Unknown => {
            src.advance(total);
            return Ok(None);
        }
    };
    Ok(Some(msg))
}

/// Consumes the frame of `total` bytes and returns its bytes from `header` on, without copying.
fn split_payload(src: &mut BytesMut, total: usize, header: usize) -> Bytes {
    let mut frame = src.split_to(total);
    frame.advance(header.min(total));
    frame.freeze()
}

#[cfg(test)]
mod tests;
