use bytes::Bytes;
use ccbt_core::BlockRef;

/// One peer wire message (BEP 3, BEP 6 fast extension, BEP 10 extended, BEP 5 port).
///
/// `Piece` data and `Bitfield`/`Extended` payloads are `Bytes` so that decoding can hand out
/// slices of the read buffer without copying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have { piece: u32 },
    /// Raw bitfield bytes; validated against the piece count by the caller.
    Bitfield(Bytes),
    Request(BlockRef),
    Piece { piece: u32, offset: u32, data: Bytes },
    Cancel(BlockRef),
    /// BEP 5: the peer's DHT port.
    Port(u16),
    /// BEP 6.
    Suggest { piece: u32 },
    HaveAll,
    HaveNone,
    Reject(BlockRef),
    AllowedFast { piece: u32 },
    /// BEP 10: `id` 0 is the extension handshake, others are the ids we advertised.
    Extended { id: u8, payload: Bytes },
}
