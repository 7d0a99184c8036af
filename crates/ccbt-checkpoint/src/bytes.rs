//! Serde helpers for byte fields: raw bytes in the binary format, lower-case hex strings in JSON
//! (chosen by `is_human_readable`, so one struct serves both codecs).

use ccbt_core::{InfoHash, InfoHashV2};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// The bytes of a hex string (either case), or why it is not one.
pub fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    if text.len() % 2 != 0 {
        return Err(format!("hex string of odd length {}", text.len()));
    }
    let digit = |c: u8| (c as char).to_digit(16).ok_or_else(|| format!("{:?} is not a hex digit", c as char));
    text.as_bytes().chunks(2).map(|pair| Ok((digit(pair[0])? * 16 + digit(pair[1])?) as u8)).collect()
}

/// `Vec<u8>`: raw in binary, hex in JSON.
pub mod hex_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&to_hex(bytes))
        } else {
            serializer.serialize_bytes(bytes)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        if deserializer.is_human_readable() {
            let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
            from_hex(&text).map_err(D::Error::custom)
        } else {
            Ok(ByteBuf::deserialize(deserializer)?.0)
        }
    }
}

/// `Option<Vec<u8>>`: as [`hex_bytes`], `null`/absent-tag when there is none.
pub mod hex_bytes_opt {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, serializer: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) if serializer.is_human_readable() => serializer.serialize_some(&to_hex(bytes)),
            Some(bytes) => serializer.serialize_some(&RawBytes(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<u8>>, D::Error> {
        if deserializer.is_human_readable() {
            let text = Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
            text.map(|t| from_hex(&t).map_err(D::Error::custom)).transpose()
        } else {
            Ok(Option::<ByteBuf>::deserialize(deserializer)?.map(|b| b.0))
        }
    }
}

/// [`InfoHash`]: 20 raw bytes in binary, 40 hex characters in JSON.
pub mod info_hash {
    use super::*;

    pub fn serialize<S: Serializer>(hash: &InfoHash, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&hash.to_hex())
        } else {
            serializer.serialize_bytes(hash.as_bytes())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<InfoHash, D::Error> {
        if deserializer.is_human_readable() {
            let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
            text.parse().map_err(|_| D::Error::custom(format!("info hash {text:?} is not 40 hex digits")))
        } else {
            let bytes = ByteBuf::deserialize(deserializer)?.0;
            let array: [u8; 20] = bytes.try_into().map_err(|b: Vec<u8>| {
                D::Error::custom(format!("info hash of {} bytes, expected 20", b.len()))
            })?;
            Ok(InfoHash(array))
        }
    }
}

/// `Option<InfoHashV2>`: 32 raw bytes in binary, 64 hex characters in JSON, `null`/absent-tag
/// when there is none.
pub mod info_hash_v2_opt {
    use super::*;

    pub fn serialize<S: Serializer>(hash: &Option<InfoHashV2>, serializer: S) -> Result<S::Ok, S::Error> {
        match hash {
            Some(hash) if serializer.is_human_readable() => serializer.serialize_some(&hash.to_hex()),
            Some(hash) => serializer.serialize_some(&RawBytes(hash.as_bytes())),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<InfoHashV2>, D::Error> {
        if deserializer.is_human_readable() {
            let Some(text) = Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)? else {
                return Ok(None);
            };
            let hash = text
                .parse()
                .map_err(|_| D::Error::custom(format!("v2 info hash {text:?} is not 64 hex digits")))?;
            Ok(Some(hash))
        } else {
            let Some(bytes) = Option::<ByteBuf>::deserialize(deserializer)? else { return Ok(None) };
            let array: [u8; 32] = bytes.0.try_into().map_err(|b: Vec<u8>| {
                D::Error::custom(format!("v2 info hash of {} bytes, expected 32", b.len()))
            })?;
            Ok(Some(InfoHashV2(array)))
        }
    }
}

/// Serializes a slice with `serialize_bytes` (postcard: a length and the bytes, no per-byte tag).
struct RawBytes<'a>(&'a [u8]);

impl serde::Serialize for RawBytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// Deserializes what [`RawBytes`] wrote.
struct ByteBuf(Vec<u8>);

impl<'de> Deserialize<'de> for ByteBuf {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ByteBuf, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v))
            }
        }
        deserializer.deserialize_byte_buf(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_junk() {
        let bytes = [0u8, 1, 0x7f, 0x80, 0xff];
        assert_eq!(to_hex(&bytes), "00017f80ff");
        assert_eq!(from_hex("00017F80ff").unwrap(), bytes);
        assert!(from_hex("abc").is_err());
        assert!(from_hex("zz").is_err());
        assert!(from_hex("é1").is_err());
    }
}
