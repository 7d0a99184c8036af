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
    /// A BEP 11 PEX message whose payload is not bencode at all.
    #[error("pex message is not valid bencode: {reason}")]
    PexBencode { reason: String },
    /// A BEP 11 PEX message that is valid bencode but not a dictionary.
    #[error("pex message is not a bencoded dictionary")]
    PexNotDict,
    /// A PEX address list (`added`, `dropped`, ...) that is not a byte string.
    #[error("pex key {key} is not a byte string")]
    PexNotBytes { key: &'static str },
    /// A PEX compact address list whose length is not a multiple of its entry size (6 bytes
    /// for IPv4, 18 for IPv6).
    #[error("pex key {key} has {len} bytes, not a multiple of {entry_len}")]
    PexBadLength { key: &'static str, len: usize, entry_len: usize },
    /// A BEP 9 `ut_metadata` message whose dictionary is not valid bencode.
    #[error("ut_metadata message is not valid bencode: {reason}")]
    MetadataBencode { reason: String },
    /// A BEP 9 `ut_metadata` message that is valid bencode but not a dictionary.
    #[error("ut_metadata message is not a bencoded dictionary")]
    MetadataNotDict,
    /// A `ut_metadata` key that is missing, not an integer, or out of range.
    #[error("ut_metadata message has a missing or invalid {key:?}")]
    MetadataBadKey { key: &'static str },
    /// A `ut_metadata` `msg_type` other than request (0), data (1) and reject (2). BEP 9 says to
    /// ignore such messages, so callers should not drop the connection over this one.
    #[error("ut_metadata message has unknown msg_type {msg_type}")]
    MetadataUnknownType { msg_type: i64 },
    /// A `ut_metadata` data message carrying more than one metadata piece of bytes.
    #[error("ut_metadata piece of {len} bytes exceeds {max} bytes")]
    MetadataPieceTooLong { len: usize, max: usize },
    /// A BEP 52 `hashes` message whose nodes are not whole 32-byte hashes.
    #[error("hashes message carries {len} bytes of hashes, not a multiple of 32")]
    HashesNotWhole { len: usize },
    /// A BEP 52 `hashes` message whose `length` is 0 or above the limit.
    #[error("hashes message has length {length}, outside 1..={max}")]
    HashesBadLength { length: u32, max: u32 },
    /// A BEP 52 `hashes` message with fewer nodes than its `length`, or more uncle hashes after
    /// them than any tree has layers.
    #[error("hashes message announces {length} hashes but carries {nodes} nodes")]
    HashesBadCount { length: u32, nodes: usize },
    /// An `xet_cas` message with no type byte.
    #[error("xet_cas message is empty")]
    XetEmpty,
    /// An `xet_cas` message whose type byte is not one of the 11 types of version 1.
    #[error("xet_cas message has unknown type {msg_type:#04x}")]
    XetUnknownType { msg_type: u8 },
    /// An `xet_cas` message above the largest message size (the handshake's `mm`).
    #[error("xet_cas message of {len} bytes exceeds the limit of {max} bytes")]
    XetTooLong { len: usize, max: usize },
    /// An `xet_cas` message shorter than its fields (or its counts) require.
    #[error("xet_cas {msg} is truncated: {len} bytes, needs {need}")]
    XetTruncated { msg: &'static str, len: usize, need: usize },
    /// An `xet_cas` message with bytes after its last field.
    #[error("xet_cas {msg} has {extra} trailing bytes")]
    XetTrailingBytes { msg: &'static str, extra: usize },
    /// An `xet_cas` count, length or offset outside what the specification allows.
    #[error("xet_cas {msg} field {field} is {value}, outside {min}..={max}")]
    XetOutOfRange { msg: &'static str, field: &'static str, value: u64, min: u64, max: u64 },
    /// An `xet_cas` bitmap whose bits past its count are not zero.
    #[error("xet_cas {msg} bitmap has padding bits set")]
    XetBitmapPadding { msg: &'static str },
    /// A MANIFEST page that runs past the manifest's total entry count.
    #[error("xet_cas MANIFEST entries {start}+{count} run past its total of {total}")]
    XetManifestRange { start: u32, count: u32, total: u32 },
    /// A CHUNK with a compressed encoding: version 1 of the extension sends raw chunks only.
    #[error("xet_cas CHUNK encoding {enc} is not supported (version 1 sends raw chunks, encoding 0)")]
    XetChunkEncoding { enc: u8 },
    /// A raw CHUNK whose `raw_len` is not the length of its payload.
    #[error("xet_cas CHUNK raw_len {raw_len} differs from its {payload} payload bytes")]
    XetChunkRawLen { raw_len: u32, payload: usize },
    /// A REJECT with a reason code other than 1 to 4.
    #[error("xet_cas REJECT has unknown reason {reason}")]
    XetRejectReason { reason: u8 },
}
