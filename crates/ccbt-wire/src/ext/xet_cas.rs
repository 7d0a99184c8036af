//! The `xet_cas` extension: exchanging Xet chunks (content-defined, named by their keyed
//! BLAKE3 id) and file manifests between peers, across torrents.
//!
//! Every message is `type u8 | body`, integers big-endian, ids as their 32 raw bytes. This
//! module is the codec only, and a strict one: a message is refused if it is truncated, has
//! bytes left over, has a count outside its cap or inconsistent with its length, or a bitmap
//! with padding bits set. The exchange rules (who may ask what, pipelining, verification) live
//! in `ccbt-proto`'s `xet` module. docs/xet.md ("The xet_cas extension") is the specification.

use bytes::{BufMut, Bytes, BytesMut};
use ccbt_xet::{ChunkId, ChunkRef};

use crate::WireError;

/// Largest `xet_cas` payload (type byte included) either side sends or accepts: a whole
/// 128 KiB chunk plus headers, with room to spare. Advertised as `mm` in the handshake.
pub const MAX_XET_MESSAGE: usize = 139_264;

/// Most manifest entries one MANIFEST_REQ may ask for and one MANIFEST may carry.
pub const MAX_MANIFEST_ENTRIES: u32 = 2048;

/// Most chunk ids in one QUERY (and answers in one QUERY_REPLY).
pub const MAX_QUERY_IDS: u16 = 256;

/// Largest chunk: Xet cuts at 128 KiB at the latest, so no offset, length or payload goes past it.
pub const MAX_CHUNK_LEN: u32 = 128 * 1024;

/// Most chunks a HAVE_MAP may describe: its bitfield (128 KiB) then fits in one message. At
/// 64 KiB per chunk on average that is a file of about 64 GiB; larger files use HAVE_RANGE.
pub const MAX_HAVE_MAP_CHUNKS: u32 = 1 << 20;

/// Longest BEP 46 salt an UPDATE_HINT may carry (BEP 46's own limit).
pub const MAX_SALT_LEN: usize = 64;

/// Message type bytes.
pub mod msg_type {
    pub const MANIFEST_REQ: u8 = 0x01;
    pub const MANIFEST: u8 = 0x02;
    pub const HAVE_MAP: u8 = 0x03;
    pub const HAVE_RANGE: u8 = 0x04;
    pub const QUERY: u8 = 0x05;
    pub const QUERY_REPLY: u8 = 0x06;
    pub const CHUNK_REQ: u8 = 0x07;
    pub const CHUNK: u8 = 0x08;
    pub const REJECT: u8 = 0x09;
    pub const CANCEL: u8 = 0x0A;
    pub const UPDATE_HINT: u8 = 0x0B;
}

/// `enc` of a raw (uncompressed) CHUNK payload, the only encoding version 1 sends or accepts.
/// Xet's LZ4 (1) and byte-grouped LZ4 (2) are reserved for a later version of the extension.
pub const ENC_RAW: u8 = 0;

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The sender does not hold the chunk or manifest (ask someone else).
    Absent = 1,
    /// The sender chokes the asker (BEP 3 choke state).
    Choked = 2,
    /// Too many requests outstanding or too many queries: retry later.
    Overload = 3,
    /// The request makes no sense (e.g. a range beyond the chunk's end).
    Malformed = 4,
}

impl RejectReason {
    fn from_u8(reason: u8) -> Option<RejectReason> {
        Some(match reason {
            1 => RejectReason::Absent,
            2 => RejectReason::Choked,
            3 => RejectReason::Overload,
            4 => RejectReason::Malformed,
            _ => return None,
        })
    }
}

/// One `xet_cas` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XetMessage {
    /// Asks for `count` (1..=2048) manifest entries of file `root`, from entry `start`.
    ManifestReq { req: u32, root: ChunkId, start: u32, count: u32 },
    /// Entries `start..start + entries.len()` of the `total`-entry manifest of file `root`.
    Manifest { req: u32, root: ChunkId, total: u32, start: u32, entries: Vec<ChunkRef> },
    /// Which of the `n` chunks of file `root` the sender holds: bit `i` (most significant bit
    /// of byte 0 first, as the BEP 3 bitfield) for chunk `i`; exactly ⌈n/8⌉ bytes.
    HaveMap { root: ChunkId, n: u32, bitfield: Bytes },
    /// The sender now holds chunks `start..start + count` of file `root`.
    HaveRange { root: ChunkId, start: u32, count: u32 },
    /// Asks which of these (1..=256) chunks the sender holds.
    Query { req: u32, ids: Vec<ChunkId> },
    /// The answer to QUERY `req`, one flag per id asked, in order.
    QueryReply { req: u32, have: Vec<bool> },
    /// Asks for bytes `off..off + len` of chunk `id`; `len` 0 (with `off` 0) is the whole chunk.
    ChunkReq { req: u32, id: ChunkId, off: u32, len: u32 },
    /// Bytes of chunk `id` from `off`, answering CHUNK_REQ `req`. Version 1 carries raw bytes
    /// only (`enc` 0, `raw_len` = the payload's length), so only the payload is kept.
    Chunk { req: u32, id: ChunkId, off: u32, data: Bytes },
    /// Request `req` (about chunk or root `id`; zeros for a QUERY) is refused.
    Reject { req: u32, id: ChunkId, reason: RejectReason },
    /// The sender no longer wants the answer to request `req`.
    Cancel { req: u32 },
    /// A new version of a torrent is out: a hint only, to confirm with a BEP 46 `get` of
    /// (`pubkey`, `salt`) before it is trusted.
    UpdateHint { infohash: [u8; 32], pubkey: [u8; 32], salt: Bytes, seq: u64 },
}

impl XetMessage {
    /// The message's type byte.
    pub fn msg_type(&self) -> u8 {
        use msg_type::*;
        match self {
            XetMessage::ManifestReq { .. } => MANIFEST_REQ,
            XetMessage::Manifest { .. } => MANIFEST,
            XetMessage::HaveMap { .. } => HAVE_MAP,
            XetMessage::HaveRange { .. } => HAVE_RANGE,
            XetMessage::Query { .. } => QUERY,
            XetMessage::QueryReply { .. } => QUERY_REPLY,
            XetMessage::ChunkReq { .. } => CHUNK_REQ,
            XetMessage::Chunk { .. } => CHUNK,
            XetMessage::Reject { .. } => REJECT,
            XetMessage::Cancel { .. } => CANCEL,
            XetMessage::UpdateHint { .. } => UPDATE_HINT,
        }
    }

    /// The message's name as the specification spells it, for logs.
    pub fn name(&self) -> &'static str {
        type_name(self.msg_type()).unwrap_or("unknown")
    }

    /// The payload of the extended message (everything after the extended message id).
    ///
    /// Counts are written from the lengths of the vectors; a message built beyond the caps
    /// above encodes, but the receiver refuses it, so callers keep to the caps.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        out.put_u8(self.msg_type());
        match self {
            XetMessage::ManifestReq { req, root, start, count } => {
                out.put_u32(*req);
                out.put_slice(root);
                out.put_u32(*start);
                out.put_u32(*count);
            }
            XetMessage::Manifest { req, root, total, start, entries } => {
                out.put_u32(*req);
                out.put_slice(root);
                out.put_u32(*total);
                out.put_u32(*start);
                out.put_u32(saturating_u32(entries.len()));
                for entry in entries {
                    out.put_slice(&entry.id);
                    out.put_u32(entry.len);
                }
            }
            XetMessage::HaveMap { root, n, bitfield } => {
                out.put_slice(root);
                out.put_u32(*n);
                out.put_slice(bitfield);
            }
            XetMessage::HaveRange { root, start, count } => {
                out.put_slice(root);
                out.put_u32(*start);
                out.put_u32(*count);
            }
            XetMessage::Query { req, ids } => {
                out.put_u32(*req);
                out.put_u16(u16::try_from(ids.len()).unwrap_or(u16::MAX));
                ids.iter().for_each(|id| out.put_slice(id));
            }
            XetMessage::QueryReply { req, have } => {
                out.put_u32(*req);
                out.put_u16(u16::try_from(have.len()).unwrap_or(u16::MAX));
                out.put_slice(&pack_bits(have));
            }
            XetMessage::ChunkReq { req, id, off, len } => {
                out.put_u32(*req);
                out.put_slice(id);
                out.put_u32(*off);
                out.put_u32(*len);
            }
            XetMessage::Chunk { req, id, off, data } => {
                out.put_u32(*req);
                out.put_slice(id);
                out.put_u32(*off);
                out.put_u8(ENC_RAW);
                out.put_u32(saturating_u32(data.len()));
                out.put_slice(data);
            }
            XetMessage::Reject { req, id, reason } => {
                out.put_u32(*req);
                out.put_slice(id);
                out.put_u8(*reason as u8);
            }
            XetMessage::Cancel { req } => out.put_u32(*req),
            XetMessage::UpdateHint { infohash, pubkey, salt, seq } => {
                out.put_slice(infohash);
                out.put_slice(pubkey);
                out.put_u8(u8::try_from(salt.len()).unwrap_or(u8::MAX));
                out.put_slice(salt);
                out.put_u64(*seq);
            }
        }
        out.freeze()
    }

    /// Bytes [`encode`](Self::encode) produces, to reserve them once.
    fn encoded_len(&self) -> usize {
        1 + match self {
            XetMessage::ManifestReq { .. } => 44,
            XetMessage::Manifest { entries, .. } => 48 + entries.len() * 36,
            XetMessage::HaveMap { bitfield, .. } => 36 + bitfield.len(),
            XetMessage::HaveRange { .. } => 40,
            XetMessage::Query { ids, .. } => 6 + ids.len() * 32,
            XetMessage::QueryReply { have, .. } => 6 + have.len().div_ceil(8),
            XetMessage::ChunkReq { .. } => 44,
            XetMessage::Chunk { data, .. } => 45 + data.len(),
            XetMessage::Reject { .. } => 37,
            XetMessage::Cancel { .. } => 4,
            XetMessage::UpdateHint { salt, .. } => 73 + salt.len(),
        }
    }

    /// Decodes the payload of an extended message sent under the `xet_cas` id. Any error
    /// means the peer broke the protocol: callers should penalise and drop it.
    pub fn decode(payload: &[u8]) -> Result<XetMessage, WireError> {
        if payload.len() > MAX_XET_MESSAGE {
            return Err(WireError::XetTooLong { len: payload.len(), max: MAX_XET_MESSAGE });
        }
        let (&kind, _) = payload.split_first().ok_or(WireError::XetEmpty)?;
        let name = type_name(kind).ok_or(WireError::XetUnknownType { msg_type: kind })?;
        let mut r = Reader { buf: payload, pos: 1, msg: name };
        let msg = match kind {
            msg_type::MANIFEST_REQ => decode_manifest_req(&mut r)?,
            msg_type::MANIFEST => decode_manifest(&mut r)?,
            msg_type::HAVE_MAP => decode_have_map(&mut r)?,
            msg_type::HAVE_RANGE => {
                let (root, start) = (r.id()?, r.u32()?);
                let count = r.u32()?;
                r.range("count", u64::from(count), 1, u64::from(u32::MAX - start))?;
                XetMessage::HaveRange { root, start, count }
            }
            msg_type::QUERY => decode_query(&mut r)?,
            msg_type::QUERY_REPLY => {
                let req = r.u32()?;
                let n = r.u16()?;
                r.range("n", u64::from(n), 1, u64::from(MAX_QUERY_IDS))?;
                let bits = r.bitmap(u32::from(n))?;
                XetMessage::QueryReply { req, have: (0..usize::from(n)).map(|i| bit(bits, i)).collect() }
            }
            msg_type::CHUNK_REQ => decode_chunk_req(&mut r)?,
            msg_type::CHUNK => decode_chunk(&mut r)?,
            msg_type::REJECT => {
                let (req, id, reason) = (r.u32()?, r.id()?, r.u8()?);
                let reason = RejectReason::from_u8(reason).ok_or(WireError::XetRejectReason { reason })?;
                XetMessage::Reject { req, id, reason }
            }
            msg_type::CANCEL => XetMessage::Cancel { req: r.u32()? },
            _ => decode_update_hint(&mut r)?,
        };
        r.finish()?;
        Ok(msg)
    }
}

/// The specification's name of message type `kind`, if it is one.
pub fn type_name(kind: u8) -> Option<&'static str> {
    const NAMES: [&str; 11] = [
        "MANIFEST_REQ",
        "MANIFEST",
        "HAVE_MAP",
        "HAVE_RANGE",
        "QUERY",
        "QUERY_REPLY",
        "CHUNK_REQ",
        "CHUNK",
        "REJECT",
        "CANCEL",
        "UPDATE_HINT",
    ];
    NAMES.get(usize::from(kind).checked_sub(1)?).copied()
}

/// Bit `i` of a BEP 3 style bitfield (most significant bit of byte 0 first); false past its end.
pub fn bit(bits: &[u8], i: usize) -> bool {
    bits.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
}

/// Packs flags into a bitfield of ⌈n/8⌉ bytes, padding bits zero.
pub fn pack_bits(flags: &[bool]) -> Vec<u8> {
    let mut out = vec![0u8; flags.len().div_ceil(8)];
    for (i, _) in flags.iter().enumerate().filter(|(_, &set)| set) {
        out[i / 8] |= 0x80 >> (i % 8);
    }
    out
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn decode_manifest_req(r: &mut Reader<'_>) -> Result<XetMessage, WireError> {
    let (req, root, start, count) = (r.u32()?, r.id()?, r.u32()?, r.u32()?);
    r.range("count", u64::from(count), 1, u64::from(MAX_MANIFEST_ENTRIES))?;
    Ok(XetMessage::ManifestReq { req, root, start, count })
}

fn decode_manifest(r: &mut Reader<'_>) -> Result<XetMessage, WireError> {
    let (req, root, total, start, count) = (r.u32()?, r.id()?, r.u32()?, r.u32()?, r.u32()?);
    r.range("count", u64::from(count), 0, u64::from(MAX_MANIFEST_ENTRIES))?;
    if u64::from(start) + u64::from(count) > u64::from(total) {
        return Err(WireError::XetManifestRange { start, count, total });
    }
    // The count is checked against the bytes present before anything is allocated for it.
    r.need(count as usize * 36)?;
    let mut entries = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (id, len) = (r.id()?, r.u32()?);
        r.range("entry len", u64::from(len), 1, u64::from(MAX_CHUNK_LEN))?;
        entries.push(ChunkRef { id, len });
    }
    Ok(XetMessage::Manifest { req, root, total, start, entries })
}

fn decode_have_map(r: &mut Reader<'_>) -> Result<XetMessage, WireError> {
    let (root, n) = (r.id()?, r.u32()?);
    r.range("n", u64::from(n), 1, u64::from(MAX_HAVE_MAP_CHUNKS))?;
    let bitfield = Bytes::copy_from_slice(r.bitmap(n)?);
    Ok(XetMessage::HaveMap { root, n, bitfield })
}

fn decode_query(r: &mut Reader<'_>) -> Result<XetMessage, WireError> {
    let req = r.u32()?;
    let n = r.u16()?;
    r.range("n", u64::from(n), 1, u64::from(MAX_QUERY_IDS))?;
    r.need(usize::from(n) * 32)?;
    let ids = (0..n).map(|_| r.id()).collect::<Result<_, _>>()?;
    Ok(XetMessage::Query { req, ids })
}

fn decode_chunk_req(r: &mut Reader<'_>) -> Result<XetMessage, WireError> {
    let (req, id, off, len) = (r.u32()?, r.id()?, r.u32()?, r.u32()?);
    if len == 0 {
        // The whole chunk: an offset would be meaningless.
        r.range("off", u64::from(off), 0, 0)?;
    } else {
        r.range("len", u64::from(len), 1, u64::from(MAX_CHUNK_LEN))?;
        r.range("off", u64::from(off), 0, u64::from(MAX_CHUNK_LEN - len))?;
    }
    Ok(XetMessage::ChunkReq { req, id, off, len })
}

fn decode_chunk(r: &mut Reader<'_>) -> Result<XetMessage, WireError> {
    let (req, id, off, enc, raw_len) = (r.u32()?, r.id()?, r.u32()?, r.u8()?, r.u32()?);
    if enc != ENC_RAW {
        return Err(WireError::XetChunkEncoding { enc });
    }
    r.range("raw_len", u64::from(raw_len), 1, u64::from(MAX_CHUNK_LEN))?;
    r.range("off", u64::from(off), 0, u64::from(MAX_CHUNK_LEN - raw_len))?;
    let data = r.rest();
    if data.len() != raw_len as usize {
        return Err(WireError::XetChunkRawLen { raw_len, payload: data.len() });
    }
    Ok(XetMessage::Chunk { req, id, off, data: Bytes::copy_from_slice(data) })
}

fn decode_update_hint(r: &mut Reader<'_>) -> Result<XetMessage, WireError> {
    let (infohash, pubkey, salt_len) = (r.id()?, r.id()?, r.u8()?);
    r.range("salt_len", u64::from(salt_len), 0, MAX_SALT_LEN as u64)?;
    let salt = Bytes::copy_from_slice(r.take(usize::from(salt_len))?);
    Ok(XetMessage::UpdateHint { infohash, pubkey, salt, seq: r.u64()? })
}

/// A cursor over one message that names the message in its errors.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    msg: &'static str,
}

impl<'a> Reader<'a> {
    fn need(&self, n: usize) -> Result<(), WireError> {
        let need = self.pos.saturating_add(n);
        if need > self.buf.len() {
            return Err(WireError::XetTruncated { msg: self.msg, len: self.buf.len(), need });
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        self.need(n)?;
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn id(&mut self) -> Result<ChunkId, WireError> {
        self.array()
    }

    /// Everything left (the payload of a CHUNK).
    fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    /// A bitfield of `n` bits: ⌈n/8⌉ bytes whose padding bits are zero.
    fn bitmap(&mut self, n: u32) -> Result<&'a [u8], WireError> {
        let bits = self.take((n as usize).div_ceil(8))?;
        let used = n % 8;
        if used != 0 && bits.last().is_some_and(|&last| last & (0xFF >> used) != 0) {
            return Err(WireError::XetBitmapPadding { msg: self.msg });
        }
        Ok(bits)
    }

    fn range(&self, field: &'static str, value: u64, min: u64, max: u64) -> Result<(), WireError> {
        if value < min || value > max {
            return Err(WireError::XetOutOfRange { msg: self.msg, field, value, min, max });
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), WireError> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            extra => Err(WireError::XetTrailingBytes { msg: self.msg, extra }),
        }
    }
}

#[cfg(test)]
#[path = "xet_cas_tests.rs"]
mod tests;
