//! BEP 9 `ut_metadata`: requesting and sending the info dictionary in 16 KiB pieces.
//!
//! A message is a bencoded dictionary (`msg_type`, `piece`, and `total_size` for data); a data
//! message is followed by the raw bytes of the piece, outside the dictionary.

use bytes::Bytes;
use ccbt_bencode::{OwnedValue, Value};

use crate::WireError;

/// Size of every metadata piece but the last, which may be shorter.
pub const METADATA_PIECE_LEN: usize = 16384;

/// `msg_type` values.
mod msg_type {
    pub const REQUEST: i64 = 0;
    pub const DATA: i64 = 1;
    pub const REJECT: i64 = 2;
}

/// One `ut_metadata` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataMessage {
    /// Asks for metadata piece `piece`.
    Request { piece: u32 },
    /// Metadata piece `piece` of a `total_size`-byte info dictionary.
    Data { piece: u32, total_size: u64, data: Bytes },
    /// The sender will not send piece `piece` (it lacks the metadata or is rate limiting).
    Reject { piece: u32 },
}

impl MetadataMessage {
    /// The piece the message is about.
    pub fn piece(&self) -> u32 {
        match self {
            MetadataMessage::Request { piece }
            | MetadataMessage::Data { piece, .. }
            | MetadataMessage::Reject { piece } => *piece,
        }
    }

    /// The payload of the extended message (everything after the extended message id).
    pub fn encode(&self) -> Bytes {
        let (kind, piece) = match self {
            MetadataMessage::Request { piece } => (msg_type::REQUEST, piece),
            MetadataMessage::Data { piece, .. } => (msg_type::DATA, piece),
            MetadataMessage::Reject { piece } => (msg_type::REJECT, piece),
        };
        let mut dict = OwnedValue::dict().with("msg_type", kind).with("piece", *piece);
        let mut out = Vec::new();
        if let MetadataMessage::Data { total_size, data, .. } = self {
            // Metadata is at most a few MiB; a size beyond i64 cannot be encoded and is clamped
            // rather than panicking (the receiver rejects the mismatch).
            dict.insert("total_size", i64::try_from(*total_size).unwrap_or(i64::MAX));
            out.reserve(data.len() + 64);
            dict.encode_to(&mut out);
            out.extend_from_slice(data);
        } else {
            dict.encode_to(&mut out);
        }
        Bytes::from(out)
    }

    /// Decodes the payload of an extended message sent under the `ut_metadata` id. The piece
    /// bytes of a data message are a zero-copy slice of `payload`.
    ///
    /// BEP 9 says an unknown `msg_type` must be ignored: callers should drop a message that
    /// fails with [`WireError::MetadataUnknownType`] rather than the connection.
    pub fn decode(payload: Bytes) -> Result<MetadataMessage, WireError> {
        let (value, dict_len) = ccbt_bencode::decode_prefix(&payload)
            .map_err(|e| WireError::MetadataBencode { reason: e.to_string() })?;
        let Value::Dict(dict) = value else {
            return Err(WireError::MetadataNotDict);
        };
        let int = |key: &'static str| {
            dict.get(key.as_bytes()).and_then(Value::as_int).ok_or(WireError::MetadataBadKey { key })
        };
        let kind = int("msg_type")?;
        let piece = u32::try_from(int("piece")?).map_err(|_| WireError::MetadataBadKey { key: "piece" })?;
        match kind {
            msg_type::REQUEST => Ok(MetadataMessage::Request { piece }),
            msg_type::REJECT => Ok(MetadataMessage::Reject { piece }),
            msg_type::DATA => {
                let total_size = u64::try_from(int("total_size")?)
                    .map_err(|_| WireError::MetadataBadKey { key: "total_size" })?;
                let data = payload.slice(dict_len..);
                if data.len() > METADATA_PIECE_LEN {
                    return Err(WireError::MetadataPieceTooLong { len: data.len(), max: METADATA_PIECE_LEN });
                }
                Ok(MetadataMessage::Data { piece, total_size, data })
            }
            other => Err(WireError::MetadataUnknownType { msg_type: other }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DATA_DICT: &[u8] = b"d8:msg_typei1e5:piecei0e10:total_sizei3425ee";

    fn golden_data() -> Vec<u8> {
        let mut bytes = DATA_DICT.to_vec();
        bytes.extend((0..3425u32).map(|i| i as u8));
        bytes
    }

    #[test]
    fn golden_request_and_reject() {
        let req = MetadataMessage::Request { piece: 0 };
        assert_eq!(&req.encode()[..], b"d8:msg_typei0e5:piecei0ee");
        assert_eq!(MetadataMessage::decode(req.encode()), Ok(req));
        let rej = MetadataMessage::Reject { piece: 7 };
        assert_eq!(&rej.encode()[..], b"d8:msg_typei2e5:piecei7ee");
        assert_eq!(MetadataMessage::decode(rej.encode()), Ok(rej));
    }

    #[test]
    fn golden_data_message() {
        let bytes = golden_data();
        let msg = MetadataMessage::decode(Bytes::from(bytes.clone())).unwrap();
        let MetadataMessage::Data { piece, total_size, data } = &msg else { panic!("{msg:?}") };
        assert_eq!((*piece, *total_size), (0, 3425));
        assert_eq!(data[..], bytes[DATA_DICT.len()..]);
        assert_eq!(msg.encode()[..], bytes[..]);
        assert_eq!(msg.piece(), 0);
    }

    #[test]
    fn keys_in_any_order_and_extra_keys_are_accepted() {
        let msg = MetadataMessage::decode(Bytes::from_static(b"d5:piecei3e1:xi9e8:msg_typei0ee")).unwrap();
        assert_eq!(msg, MetadataMessage::Request { piece: 3 });
    }

    #[test]
    fn truncated_data_message_at_every_split() {
        let bytes = golden_data();
        for cut in 0..bytes.len() {
            let result = MetadataMessage::decode(Bytes::copy_from_slice(&bytes[..cut]));
            if cut < DATA_DICT.len() {
                assert!(result.is_err(), "cut {cut}: {result:?}");
            } else {
                // The piece bytes carry no length of their own: a short piece decodes, and the
                // fetcher rejects it against total_size.
                let Ok(MetadataMessage::Data { data, .. }) = result else { panic!("cut {cut}") };
                assert_eq!(data.len(), cut - DATA_DICT.len());
            }
        }
    }

    #[test]
    fn truncated_request_at_every_split() {
        let bytes = MetadataMessage::Request { piece: 12 }.encode();
        for cut in 0..bytes.len() {
            assert!(MetadataMessage::decode(bytes.slice(..cut)).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn malformed_messages() {
        let cases: &[(&[u8], WireError)] = &[
            (b"", WireError::MetadataBencode { reason: String::new() }),
            (b"i1e", WireError::MetadataNotDict),
            (b"le", WireError::MetadataNotDict),
            (b"d5:piecei0ee", WireError::MetadataBadKey { key: "msg_type" }),
            (b"d8:msg_type1:15:piecei0ee", WireError::MetadataBadKey { key: "msg_type" }),
            (b"d8:msg_typei0ee", WireError::MetadataBadKey { key: "piece" }),
            (b"d8:msg_typei0e5:piecei-1ee", WireError::MetadataBadKey { key: "piece" }),
            (b"d8:msg_typei0e5:piecei4294967296ee", WireError::MetadataBadKey { key: "piece" }),
            (b"d8:msg_typei1e5:piecei0ee", WireError::MetadataBadKey { key: "total_size" }),
            (b"d8:msg_typei1e5:piecei0e10:total_sizei-5ee", WireError::MetadataBadKey { key: "total_size" }),
            (b"d8:msg_typei3e5:piecei0ee", WireError::MetadataUnknownType { msg_type: 3 }),
            (b"d8:msg_typei-1e5:piecei0ee", WireError::MetadataUnknownType { msg_type: -1 }),
        ];
        for (input, expected) in cases {
            let got = MetadataMessage::decode(Bytes::from_static(input)).unwrap_err();
            match (expected, &got) {
                (WireError::MetadataBencode { .. }, WireError::MetadataBencode { .. }) => {}
                _ => assert_eq!(&got, expected, "{}", String::from_utf8_lossy(input)),
            }
        }
    }

    #[test]
    fn oversized_piece_is_refused() {
        let mut bytes = DATA_DICT.to_vec();
        bytes.resize(DATA_DICT.len() + METADATA_PIECE_LEN + 1, 0);
        assert_eq!(
            MetadataMessage::decode(Bytes::from(bytes)),
            Err(WireError::MetadataPieceTooLong { len: METADATA_PIECE_LEN + 1, max: METADATA_PIECE_LEN })
        );
    }

    proptest! {
        #[test]
        fn round_trip(
            piece in any::<u32>(),
            total_size in 0..=i64::MAX as u64,
            data in proptest::collection::vec(any::<u8>(), 0..=METADATA_PIECE_LEN),
            kind in 0..3u8,
        ) {
            let msg = match kind {
                0 => MetadataMessage::Request { piece },
                1 => MetadataMessage::Reject { piece },
                _ => MetadataMessage::Data { piece, total_size, data: Bytes::from(data) },
            };
            prop_assert_eq!(MetadataMessage::decode(msg.encode()), Ok(msg));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = MetadataMessage::decode(Bytes::from(bytes));
        }

        #[test]
        fn garbage_after_a_valid_prefix_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut input = b"d8:msg_typei1e5:piecei0e10:total_size".to_vec();
            input.extend(bytes);
            let _ = MetadataMessage::decode(Bytes::from(input));
        }
    }
}
