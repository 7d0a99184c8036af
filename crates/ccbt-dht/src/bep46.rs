//! BEP 46 (updating torrents via DHT mutable items), the pure parts: the item's value
//! `{"ih": <20-byte info hash>}`, the link `magnet:?xs=urn:btpk:<key hex>&s=<salt hex>`, and the
//! publisher's key file (the 32-byte ed25519 seed as 64 hex digits and a newline).
//!
//! A publisher puts a mutable item (BEP 44) of value `{"ih": ...}` under its key and a salt,
//! with a sequence number that grows with each version; followers `get` it and switch to the
//! torrent named when the number grows.

use ccbt_core::InfoHash;

use crate::item::{MAX_SALT_LEN, PUBLIC_KEY_LEN, SEED_LEN};

/// Why a BEP 46 value, link or key file was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Bep46Error {
    /// The item's value is not a dictionary with a 20-byte `ih`.
    #[error("the item's value is not {{\"ih\": <20-byte info hash>}}")]
    NotAnInfoHashValue,
    /// The link does not start with `magnet:?`.
    #[error("not a magnet link")]
    NotAMagnet,
    /// The link has no `xs=urn:btpk:` parameter.
    #[error("the magnet link has no xs=urn:btpk:<public key>")]
    NoPublicKey,
    /// The public key is not 64 hex digits.
    #[error("the public key of the link is not 64 hex digits")]
    BadPublicKey,
    /// The salt `s` is not hex, or longer than 64 bytes.
    #[error("the salt of the link is not hex of at most 64 bytes")]
    BadSalt,
    /// A key file does not hold 64 hex digits (and a newline).
    #[error("a key file holds the 32-byte seed as 64 hex digits and a newline")]
    BadKeyFile,
}

/// The value a publisher puts: `{"ih": <info hash>}`, bencoded.
pub fn encode_info_hash_value(info_hash: &InfoHash) -> Vec<u8> {
    let mut out = b"d2:ih20:".to_vec();
    out.extend_from_slice(&info_hash.0);
    out.push(b'e');
    out
}

/// The info hash in a BEP 46 value (other keys are ignored, for extensions).
pub fn decode_info_hash_value(v: &[u8]) -> Result<InfoHash, Bep46Error> {
    let value = ccbt_bencode::decode(v).map_err(|_| Bep46Error::NotAnInfoHashValue)?;
    let ih = value.get(b"ih").and_then(|ih| ih.as_bytes()).ok_or(Bep46Error::NotAnInfoHashValue)?;
    ih.try_into().map(InfoHash).map_err(|_| Bep46Error::NotAnInfoHashValue)
}

/// A BEP 46 link: whose item to follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MutableLink {
    /// The publisher's public key.
    pub public_key: [u8; PUBLIC_KEY_LEN],
    /// The salt (empty for none).
    pub salt: Vec<u8>,
}

impl MutableLink {
    /// Parses `magnet:?xs=urn:btpk:<64 hex>[&s=<hex salt>]`; other parameters are ignored.
    pub fn parse(link: &str) -> Result<MutableLink, Bep46Error> {
        let query = link.strip_prefix("magnet:?").ok_or(Bep46Error::NotAMagnet)?;
        let mut public_key = None;
        let mut salt = Vec::new();
        for param in query.split('&') {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            let value = value.replace("%3A", ":").replace("%3a", ":");
            match name {
                "xs" => {
                    let Some(hex) = value.strip_prefix("urn:btpk:") else { continue };
                    let key = decode_hex(hex).ok_or(Bep46Error::BadPublicKey)?;
                    public_key = Some(key.try_into().map_err(|_| Bep46Error::BadPublicKey)?);
                }
                "s" => {
                    salt = decode_hex(&value).ok_or(Bep46Error::BadSalt)?;
                    if salt.len() > MAX_SALT_LEN {
                        return Err(Bep46Error::BadSalt);
                    }
                }
                _ => {}
            }
        }
        Ok(MutableLink { public_key: public_key.ok_or(Bep46Error::NoPublicKey)?, salt })
    }
}

impl std::fmt::Display for MutableLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "magnet:?xs=urn:btpk:{}", encode_hex(&self.public_key))?;
        if !self.salt.is_empty() {
            write!(f, "&s={}", encode_hex(&self.salt))?;
        }
        Ok(())
    }
}

/// The content of a key file for `seed`: 64 lowercase hex digits and a newline.
pub fn format_key_file(seed: &[u8; SEED_LEN]) -> String {
    format!("{}\n", encode_hex(seed))
}

/// The seed in a key file: 64 hex digits, surrounding whitespace allowed.
pub fn parse_key_file(content: &[u8]) -> Result<[u8; SEED_LEN], Bep46Error> {
    let text = std::str::from_utf8(content).map_err(|_| Bep46Error::BadKeyFile)?;
    let bytes = decode_hex(text.trim()).ok_or(Bep46Error::BadKeyFile)?;
    bytes.try_into().map_err(|_| Bep46Error::BadKeyFile)
}

/// Lowercase hex.
pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex (either case) to bytes; `None` for an odd length or a non-hex digit.
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    s.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16);
            Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}

#[cfg(test)]
#[path = "bep46_tests.rs"]
mod tests;
