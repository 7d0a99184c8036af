use bytes::Bytes;
use ccbt_core::BlockRef;

use crate::hashes::{HashRequest, Hashes, HASH_HEADER_LEN};

/// One peer wire message (BEP 3, BEP 6 fast extension, BEP 10 extended, BEP 5 port, BEP 52
/// merkle hashes).
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
    Have {
        piece: u32,
    },
    /// Raw bitfield bytes; validated against the piece count by the caller.
    Bitfield(Bytes),
    Request(BlockRef),
    Piece {
        piece: u32,
        offset: u32,
        data: Bytes,
    },
    Cancel(BlockRef),
    /// BEP 5: the peer's DHT port.
    Port(u16),
    /// BEP 6.
    Suggest {
        piece: u32,
    },
    HaveAll,
    HaveNone,
    Reject(BlockRef),
    AllowedFast {
        piece: u32,
    },
    /// BEP 10: `id` 0 is the extension handshake, others are the ids we advertised.
    Extended {
        id: u8,
        payload: Bytes,
    },
    /// BEP 52: asks for nodes of a file's merkle tree (only on v2 connections).
    HashRequest(HashRequest),
    /// BEP 52: the nodes asked for and their proof.
    Hashes(Hashes),
    /// BEP 52: the peer will not answer this hash request.
    HashReject(HashRequest),
}

/// The one-byte ids that follow a message's length prefix.
pub mod id {
    /// BEP 3.
    pub const CHOKE: u8 = 0;
    /// BEP 3.
    pub const UNCHOKE: u8 = 1;
    /// BEP 3.
    pub const INTERESTED: u8 = 2;
    /// BEP 3.
    pub const NOT_INTERESTED: u8 = 3;
    /// BEP 3.
    pub const HAVE: u8 = 4;
    /// BEP 3.
    pub const BITFIELD: u8 = 5;
    /// BEP 3.
    pub const REQUEST: u8 = 6;
    /// BEP 3.
    pub const PIECE: u8 = 7;
    /// BEP 3.
    pub const CANCEL: u8 = 8;
    /// BEP 5.
    pub const PORT: u8 = 9;
    /// BEP 6.
    pub const SUGGEST: u8 = 13;
    /// BEP 6.
    pub const HAVE_ALL: u8 = 14;
    /// BEP 6.
    pub const HAVE_NONE: u8 = 15;
    /// BEP 6.
    pub const REJECT: u8 = 16;
    /// BEP 6.
    pub const ALLOWED_FAST: u8 = 17;
    /// BEP 10.
    pub const EXTENDED: u8 = 20;
    /// BEP 52.
    pub const HASH_REQUEST: u8 = 21;
    /// BEP 52.
    pub const HASHES: u8 = 22;
    /// BEP 52.
    pub const HASH_REJECT: u8 = 23;
}

impl Message {
    /// The message id, or `None` for a keep-alive (which is a bare zero length prefix).
    pub fn id(&self) -> Option<u8> {
        Some(match self {
            Message::KeepAlive => return None,
            Message::Choke => id::CHOKE,
            Message::Unchoke => id::UNCHOKE,
            Message::Interested => id::INTERESTED,
            Message::NotInterested => id::NOT_INTERESTED,
            Message::Have { .. } => id::HAVE,
            Message::Bitfield(_) => id::BITFIELD,
            Message::Request(_) => id::REQUEST,
            Message::Piece { .. } => id::PIECE,
            Message::Cancel(_) => id::CANCEL,
            Message::Port(_) => id::PORT,
            Message::Suggest { .. } => id::SUGGEST,
            Message::HaveAll => id::HAVE_ALL,
            Message::HaveNone => id::HAVE_NONE,
            Message::Reject(_) => id::REJECT,
            Message::AllowedFast { .. } => id::ALLOWED_FAST,
            Message::Extended { .. } => id::EXTENDED,
            Message::HashRequest(_) => id::HASH_REQUEST,
            Message::Hashes(_) => id::HASHES,
            Message::HashReject(_) => id::HASH_REJECT,
        })
    }

    /// A short human name of the message kind ("have all", "request", ...), for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Message::KeepAlive => "keep-alive",
            Message::Choke => "choke",
            Message::Unchoke => "unchoke",
            Message::Interested => "interested",
            Message::NotInterested => "not interested",
            Message::Have { .. } => "have",
            Message::Bitfield(_) => "bitfield",
            Message::Request(_) => "request",
            Message::Piece { .. } => "piece",
            Message::Cancel(_) => "cancel",
            Message::Port(_) => "port",
            Message::Suggest { .. } => "suggest",
            Message::HaveAll => "have all",
            Message::HaveNone => "have none",
            Message::Reject(_) => "reject",
            Message::AllowedFast { .. } => "allowed fast",
            Message::Extended { .. } => "extended",
            Message::HashRequest(_) => "hash request",
            Message::Hashes(_) => "hashes",
            Message::HashReject(_) => "hash reject",
        }
    }

    /// Length of the payload after the id byte (0 for a keep-alive, which has no id).
    pub fn payload_len(&self) -> usize {
        match self {
            Message::KeepAlive
            | Message::Choke
            | Message::Unchoke
            | Message::Interested
            | Message::NotInterested
            | Message::HaveAll
            | Message::HaveNone => 0,
            Message::Have { .. } | Message::Suggest { .. } | Message::AllowedFast { .. } => 4,
            Message::Request(_) | Message::Cancel(_) | Message::Reject(_) => 12,
            Message::Port(_) => 2,
            Message::Bitfield(bits) => bits.len(),
            Message::Piece { data, .. } => data.len().saturating_add(8),
            Message::Extended { payload, .. } => payload.len().saturating_add(1),
            Message::HashRequest(_) | Message::HashReject(_) => HASH_HEADER_LEN,
            Message::Hashes(hashes) => hashes.payload_len(),
        }
    }

    /// Total bytes on the wire: length prefix, id and payload.
    pub fn encoded_len(&self) -> usize {
        let id_len = usize::from(self.id().is_some());
        self.payload_len().saturating_add(4 + id_len)
    }
}
