//! The BEP 3 handshake: `\x13BitTorrent protocol`, 8 reserved bytes, info hash, peer id.

use bytes::{BufMut, BytesMut};
use ccbt_core::{InfoHash, PeerId};

use crate::WireError;

/// The protocol string every BitTorrent handshake starts with (after its length byte, 19).
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// Reserved byte and mask of the BEP 10 extension protocol bit.
const EXTENSIONS: (usize, u8) = (5, 0x10);
/// Reserved byte and mask of the BEP 6 fast extension bit.
const FAST: (usize, u8) = (7, 0x04);
/// Reserved byte and mask of the BEP 5 DHT bit.
const DHT: (usize, u8) = (7, 0x01);
/// Reserved byte and mask of the BEP 52 bit: the sender speaks BitTorrent v2 on this
/// connection. libtorrent sets it when it connects to a hybrid torrent with the v1 info hash
/// ("can upgrade to v2"), and treats an incoming connection carrying it as a v2 connection
/// (hash requests allowed), exactly as one made with the truncated v2 info hash.
const V2: (usize, u8) = (7, 0x10);

/// The start of a handshake, up to and including the info hash.
///
/// The receiving side of a connection learns which torrent the peer wants from this prefix and
/// must answer with its own handshake before the peer's id arrives (BEP 3 allows the initiator to
/// hold its peer id back until then), so an incoming connection is matched on this, not on a
/// full [`Handshake`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HandshakePrefix {
    /// The peer's reserved (feature) bits.
    pub reserved: [u8; 8],
    /// The torrent the peer wants to talk about.
    pub info_hash: InfoHash,
}

impl HandshakePrefix {
    /// Encoded length: length byte, protocol string, reserved bytes and info hash.
    pub const LEN: usize = 48;

    /// Whether the sender sets the BEP 52 v2 bit (see [`Handshake::supports_v2`]).
    pub fn supports_v2(&self) -> bool {
        has_bit(&self.reserved, V2)
    }
}

/// A complete BEP 3 handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handshake {
    /// Feature bits; see [`Handshake::supports_extensions`] and friends.
    pub reserved: [u8; 8],
    /// The torrent this connection is about.
    pub info_hash: InfoHash,
    /// The sender's peer id.
    pub peer_id: PeerId,
}

fn has_bit(reserved: &[u8; 8], (byte, mask): (usize, u8)) -> bool {
    reserved.get(byte).is_some_and(|b| b & mask != 0)
}

impl Handshake {
    /// Encoded length of a handshake.
    pub const LEN: usize = 68;

    /// Our handshake: advertises the extension protocol (BEP 10) and the fast extension (BEP 6).
    pub fn new(info_hash: InfoHash, peer_id: PeerId) -> Handshake {
        let mut reserved = [0u8; 8];
        for (byte, mask) in [EXTENSIONS, FAST] {
            if let Some(b) = reserved.get_mut(byte) {
                *b |= mask;
            }
        }
        Handshake { reserved, info_hash, peer_id }
    }

    /// Whether the sender supports the BEP 10 extension protocol.
    pub fn supports_extensions(&self) -> bool {
        has_bit(&self.reserved, EXTENSIONS)
    }

    /// Whether the sender supports the BEP 6 fast extension.
    pub fn supports_fast(&self) -> bool {
        has_bit(&self.reserved, FAST)
    }

    /// Whether the sender runs a BEP 5 DHT node (and may send a `Port` message).
    pub fn supports_dht(&self) -> bool {
        has_bit(&self.reserved, DHT)
    }

    /// Whether the sender sets the BEP 52 v2 bit (reserved byte 7, 0x10): it speaks v2 (hash
    /// requests) on this connection even if the info hash in the handshake is the v1 one.
    pub fn supports_v2(&self) -> bool {
        has_bit(&self.reserved, V2)
    }

    /// This handshake with the BEP 52 v2 bit set or cleared. Set it only for torrents with a
    /// v2 part: libtorrent drops a peer that claims v2 for a v1-only torrent.
    pub fn with_v2(mut self, v2: bool) -> Handshake {
        let (byte, mask) = V2;
        if let Some(b) = self.reserved.get_mut(byte) {
            if v2 {
                *b |= mask;
            } else {
                *b &= !mask;
            }
        }
        self
    }

    /// The 68 bytes of this handshake.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        let parts: [&[u8]; 5] = [&[19], PROTOCOL, &self.reserved, &self.info_hash.0, &self.peer_id.0];
        let mut at = 0;
        for part in parts {
            let end = at + part.len();
            if let Some(dst) = out.get_mut(at..end) {
                dst.copy_from_slice(part);
            }
            at = end;
        }
        out
    }

    /// Appends the 68 bytes of this handshake to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_slice(&self.to_bytes());
    }

    /// Decodes a handshake from the start of `src`.
    ///
    /// Returns `Ok(None)` while fewer than [`Handshake::LEN`] bytes are available. A wrong
    /// protocol string is an error as soon as its first wrong byte is visible, so a connection
    /// that does not speak plain BitTorrent is rejected without waiting for 68 bytes. Consumes
    /// nothing: the caller advances its buffer by [`Handshake::LEN`] on success.
    pub fn decode(src: &[u8]) -> Result<Option<Handshake>, WireError> {
        let Some(prefix) = Self::decode_prefix(src)? else {
            return Ok(None);
        };
        let Some((_, rest)) = src.split_first_chunk::<{ HandshakePrefix::LEN }>() else {
            return Ok(None);
        };
        let Some(peer_id) = rest.first_chunk::<20>() else {
            return Ok(None);
        };
        Ok(Some(Handshake {
            reserved: prefix.reserved,
            info_hash: prefix.info_hash,
            peer_id: PeerId(*peer_id),
        }))
    }

    /// Decodes the first [`HandshakePrefix::LEN`] bytes of a handshake: enough to find the
    /// torrent an incoming connection is for. Same error rules as [`Handshake::decode`].
    pub fn decode_prefix(src: &[u8]) -> Result<Option<HandshakePrefix>, WireError> {
        check_protocol(src)?;
        let Some((_, rest)) = src.split_first_chunk::<20>() else {
            return Ok(None);
        };
        let Some((reserved, rest)) = rest.split_first_chunk::<8>() else {
            return Ok(None);
        };
        let Some(info_hash) = rest.first_chunk::<20>() else {
            return Ok(None);
        };
        Ok(Some(HandshakePrefix { reserved: *reserved, info_hash: InfoHash(*info_hash) }))
    }
}

/// Checks whatever part of the length byte and protocol string `src` already holds.
fn check_protocol(src: &[u8]) -> Result<(), WireError> {
    let Some((&pstrlen, rest)) = src.split_first() else {
        return Ok(());
    };
    let seen = rest.len().min(PROTOCOL.len());
    let matches = rest.get(..seen) == PROTOCOL.get(..seen);
    if pstrlen as usize != PROTOCOL.len() || !matches {
        return Err(WireError::BadProtocol { pstrlen });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Handshake {
        Handshake::new(InfoHash([0xaa; 20]), PeerId(*b"-CB0100-abcdefghijkl"))
    }

    fn golden() -> Vec<u8> {
        let mut v = vec![19];
        v.extend_from_slice(b"BitTorrent protocol");
        v.extend_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0x04]);
        v.extend_from_slice(&[0xaa; 20]);
        v.extend_from_slice(b"-CB0100-abcdefghijkl");
        v
    }

    #[test]
    fn encodes_golden_bytes() {
        let mut buf = BytesMut::new();
        sample().encode(&mut buf);
        assert_eq!(&buf[..], &golden()[..]);
        assert_eq!(buf.len(), Handshake::LEN);
    }

    #[test]
    fn our_reserved_bits() {
        let h = sample();
        assert!(h.supports_extensions());
        assert!(h.supports_fast());
        assert!(!h.supports_dht());
        let dht = Handshake { reserved: [0, 0, 0, 0, 0, 0, 0, 1], ..h };
        assert!(dht.supports_dht());
        assert!(!dht.supports_extensions());
        assert!(!dht.supports_fast());
    }

    #[test]
    fn v2_bit() {
        let h = sample();
        assert!(!h.supports_v2());
        let v2 = h.with_v2(true);
        assert!(v2.supports_v2());
        assert_eq!(v2.reserved, [0, 0, 0, 0, 0, 0x10, 0, 0x14]);
        // The other bits are untouched, and the bit survives the wire.
        assert!(v2.supports_fast() && v2.supports_extensions() && !v2.supports_dht());
        let back = Handshake::decode(&v2.to_bytes()).unwrap().unwrap();
        assert!(back.supports_v2());
        let prefix = Handshake::decode_prefix(&v2.to_bytes()).unwrap().unwrap();
        assert!(prefix.supports_v2());
        assert_eq!(v2.with_v2(false), h);
        let only = Handshake { reserved: [0, 0, 0, 0, 0, 0, 0, 0x10], ..h };
        assert!(only.supports_v2() && !only.supports_fast() && !only.supports_dht());
    }

    #[test]
    fn decodes_at_every_length() {
        let bytes = golden();
        for n in 0..bytes.len() {
            assert_eq!(Handshake::decode(&bytes[..n]), Ok(None), "prefix of {n} bytes");
            let prefix = Handshake::decode_prefix(&bytes[..n]).unwrap();
            assert_eq!(prefix.is_some(), n >= HandshakePrefix::LEN, "prefix of {n} bytes");
        }
        assert_eq!(Handshake::decode(&bytes), Ok(Some(sample())));
        // Trailing bytes (the first message) are left alone.
        let mut more = bytes.clone();
        more.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(Handshake::decode(&more), Ok(Some(sample())));
    }

    #[test]
    fn prefix_matches_info_hash_before_peer_id() {
        let bytes = golden();
        let prefix = Handshake::decode_prefix(&bytes[..HandshakePrefix::LEN]).unwrap().unwrap();
        assert_eq!(prefix.info_hash, InfoHash([0xaa; 20]));
        assert_eq!(prefix.reserved, sample().reserved);
    }

    #[test]
    fn rejects_wrong_protocol_early() {
        assert_eq!(Handshake::decode(&[18]), Err(WireError::BadProtocol { pstrlen: 18 }));
        assert_eq!(Handshake::decode(b"\x13Bit"), Ok(None));
        assert_eq!(Handshake::decode(b"\x13BitX"), Err(WireError::BadProtocol { pstrlen: 19 }));
        let mut bytes = golden();
        bytes[19] = b'X';
        assert!(Handshake::decode(&bytes).is_err());
        assert!(Handshake::decode_prefix(&bytes).is_err());
    }

    #[test]
    fn to_bytes_round_trips() {
        let h = Handshake { reserved: [1, 2, 3, 4, 5, 6, 7, 8], ..sample() };
        assert_eq!(Handshake::decode(&h.to_bytes()), Ok(Some(h)));
    }
}
