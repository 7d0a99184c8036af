use thiserror::Error;

/// Everything that can go wrong decoding the peer wire protocol.
///
/// Every variant means the peer sent something we cannot make sense of; the connection's byte
/// stream is no longer trustworthy and the caller should drop the connection.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The handshake does not start with `\x13BitTorrent protocol`.
    #[error("handshake has a wrong protocol string (length byte {pstrlen})")]
    BadProtocol { pstrlen: u8 },
    /// A frame's length prefix exceeds the decoder's limit; raised before any payload is buffered.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    MessageTooLong { len: u32, max: u32 },
    /// A message's payload does not have the length its id requires.
    #[error("message id {id} has a bad payload length of {len} bytes")]
    BadPayloadLength { id: u8, len: u32 },
    /// A BEP 10 extended handshake whose payload is not bencode at all.
    #[error("extended handshake is not valid bencode: {reason}")]
    ExtHandshakeBencode { reason: String },
    /// A BEP 10 extended handshake that is valid bencode but not a dictionary.
    #[error("extended handshake is not a bencoded dictionary")]
    ExtHandshakeNotDict,
}
