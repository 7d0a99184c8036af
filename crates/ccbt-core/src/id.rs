use std::fmt;
use std::str::FromStr;

use crate::CoreError;

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], CoreError> {
    let err = || CoreError::InvalidHexId { expected: 2 * N, got: s.chars().take(80).collect() };
    if s.len() != 2 * N || !s.is_ascii() {
        return Err(err());
    }
    let mut out = [0u8; N];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16).ok_or_else(err)?;
        let lo = (pair[1] as char).to_digit(16).ok_or_else(err)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Ok(out)
}

/// A BitTorrent v1 info hash: SHA-1 of the bencoded info dictionary (its original bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
    /// Lower-case hex form, 40 characters.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({self})")
    }
}

impl FromStr for InfoHash {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex::<20>(s).map(InfoHash)
    }
}

/// A BitTorrent v2 info hash (BEP 52): SHA-256 of the bencoded info dictionary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHashV2(pub [u8; 32]);

impl InfoHashV2 {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// Lower-case hex form, 64 characters.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
    /// The first 20 bytes: the id a v2 torrent goes by in handshakes, tracker announces and
    /// the DHT (BEP 52 "truncated" info hash).
    pub fn truncated(&self) -> InfoHash {
        let mut out = [0u8; 20];
        out.copy_from_slice(&self.0[..20]);
        InfoHash(out)
    }
}

impl fmt::Display for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHashV2({self})")
    }
}

impl FromStr for InfoHashV2 {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex::<32>(s).map(InfoHashV2)
    }
}

/// A 20-byte peer id. Ours follow the Azureus style `-CB0100-` plus 12 random bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 20]);

impl PeerId {
    /// Azureus-style client prefix of ccbt's peer ids.
    pub const PREFIX: &'static [u8; 8] = b"-CB0100-";

    /// Builds our peer id from 12 random bytes supplied by the caller (sans-IO: no RNG here).
    /// The random part is mapped to printable characters so logs and trackers show it cleanly.
    pub fn ccbt(random: [u8; 12]) -> PeerId {
        const ALPHABET: &[u8; 64] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";
        let mut id = [0u8; 20];
        id[..8].copy_from_slice(Self::PREFIX);
        for (dst, r) in id[8..].iter_mut().zip(random) {
            *dst = ALPHABET[(r & 63) as usize];
        }
        PeerId(id)
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", String::from_utf8_lossy(&self.0).escape_debug())
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            if b.is_ascii_graphic() {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "%{b:02x}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_hash_hex_round_trip() {
        let h = InfoHash([0xab; 20]);
        let s = h.to_hex();
        assert_eq!(s.len(), 40);
        assert_eq!(s.parse::<InfoHash>().unwrap(), h);
        assert_eq!("ABABABABABABABABABABABABABABABABABABABAB".parse::<InfoHash>().unwrap(), h);
    }

    #[test]
    fn v2_info_hash_round_trip_and_truncation() {
        let mut bytes = [0u8; 32];
        bytes.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        let h = InfoHashV2(bytes);
        assert_eq!(h.to_hex().parse::<InfoHashV2>().unwrap(), h);
        assert_eq!(h.truncated().0[..], bytes[..20]);
        assert!(h.to_hex()[..40].parse::<InfoHashV2>().is_err());
    }

    #[test]
    fn info_hash_rejects_bad_hex() {
        assert!("zz".parse::<InfoHash>().is_err());
        assert!("g".repeat(40).parse::<InfoHash>().is_err());
        assert!("é".repeat(20).parse::<InfoHash>().is_err());
    }

    #[test]
    fn peer_id_has_prefix_and_is_printable() {
        let id = PeerId::ccbt([255; 12]);
        assert_eq!(&id.0[..8], PeerId::PREFIX);
        assert!(id.0.iter().all(|b| b.is_ascii_graphic()));
    }
}
