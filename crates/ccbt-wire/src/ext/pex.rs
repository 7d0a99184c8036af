//! BEP 11 peer exchange (`ut_pex`): the bencoded dictionary of peers a connection added and
//! dropped since its previous message, in compact form.
//!
//! The exchange rules (how often, how many, what to send) live in `ccbt-proto`; this module is
//! only the codec.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::ops::BitOr;

use bytes::Bytes;
use ccbt_bencode::{Dict, OwnedValue, Value};

use crate::WireError;

/// Most entries of each address list (`added`, `dropped`, `added6`, `dropped6`) that
/// [`PexMessage::decode`] keeps; the rest are ignored. BEP 11 allows 50 per message and
/// libtorrent sends up to 100, so 200 leaves room for every honest client while bounding what a
/// hostile message costs.
pub const MAX_DECODED_ENTRIES: usize = 200;

/// Length of a compact IPv4 address and port.
const V4_LEN: usize = 6;
/// Length of a compact IPv6 address and port.
const V6_LEN: usize = 18;

/// The per-peer flags byte of `added.f` / `added6.f`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PexFlags(pub u8);

impl PexFlags {
    /// No flag set.
    pub const NONE: PexFlags = PexFlags(0);
    /// The peer prefers encrypted connections (BEP 8 / MSE).
    pub const PREFERS_ENCRYPTION: PexFlags = PexFlags(0x01);
    /// The peer is a seed or upload-only.
    pub const SEED: PexFlags = PexFlags(0x02);
    /// The peer supports uTP.
    pub const UTP: PexFlags = PexFlags(0x04);
    /// The peer supports the BEP 55 holepunch extension.
    pub const HOLEPUNCH: PexFlags = PexFlags(0x08);
    /// The sender reached the peer with an outgoing connection, so it is known to be reachable.
    pub const REACHABLE: PexFlags = PexFlags(0x10);

    /// Whether every flag of `other` is set in `self`.
    pub const fn contains(self, other: PexFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for PexFlags {
    type Output = PexFlags;

    fn bitor(self, rhs: PexFlags) -> PexFlags {
        PexFlags(self.0 | rhs.0)
    }
}

/// One BEP 11 PEX message: the peers the sender connected to and disconnected from since its
/// previous message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PexMessage {
    /// IPv4 peers added, with their flags.
    pub added: Vec<(SocketAddrV4, PexFlags)>,
    /// IPv4 peers dropped.
    pub dropped: Vec<SocketAddrV4>,
    /// IPv6 peers added, with their flags.
    pub added6: Vec<(SocketAddrV6, PexFlags)>,
    /// IPv6 peers dropped.
    pub dropped6: Vec<SocketAddrV6>,
}

impl PexMessage {
    /// Whether the message carries no entry at all.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.dropped.is_empty() && self.added6.is_empty() && self.dropped6.is_empty()
    }

    /// The bencoded dictionary, ready to be sent as the payload of the peer's `ut_pex` extended
    /// message. All six keys are always written, empty if need be, as libtorrent does: some
    /// clients expect them present.
    pub fn encode(&self) -> Bytes {
        let mut added = Vec::with_capacity(self.added.len() * V4_LEN);
        let mut added_f = Vec::with_capacity(self.added.len());
        for (addr, flags) in &self.added {
            push_v4(&mut added, addr);
            added_f.push(flags.0);
        }
        let mut added6 = Vec::with_capacity(self.added6.len() * V6_LEN);
        let mut added6_f = Vec::with_capacity(self.added6.len());
        for (addr, flags) in &self.added6 {
            push_v6(&mut added6, addr);
            added6_f.push(flags.0);
        }
        let mut dropped = Vec::with_capacity(self.dropped.len() * V4_LEN);
        for addr in &self.dropped {
            push_v4(&mut dropped, addr);
        }
        let mut dropped6 = Vec::with_capacity(self.dropped6.len() * V6_LEN);
        for addr in &self.dropped6 {
            push_v6(&mut dropped6, addr);
        }
        let dict = OwnedValue::dict()
            .with("added", added)
            .with("added.f", added_f)
            .with("added6", added6)
            .with("added6.f", added6_f)
            .with("dropped", dropped)
            .with("dropped6", dropped6);
        Bytes::from(dict.to_bytes())
    }

    /// Decodes the payload of a `ut_pex` extended message.
    ///
    /// Missing keys mean empty lists and unknown keys are ignored. A flags string shorter than
    /// its address list (or missing, or ill-typed) leaves the remaining peers with no flags.
    /// Each list keeps at most [`MAX_DECODED_ENTRIES`] entries. Bytes after the dictionary are
    /// ignored.
    ///
    /// # Errors
    /// The payload is not a bencoded dictionary, or an address list is not a byte string whose
    /// length is a multiple of its entry size.
    pub fn decode(payload: &[u8]) -> Result<PexMessage, WireError> {
        let (value, _) = ccbt_bencode::decode_prefix(payload)
            .map_err(|e| WireError::PexBencode { reason: e.to_string() })?;
        let Value::Dict(dict) = value else {
            return Err(WireError::PexNotDict);
        };
        let added = compact(&dict, "added", V4_LEN)?;
        let added6 = compact(&dict, "added6", V6_LEN)?;
        let dropped = compact(&dict, "dropped", V4_LEN)?;
        let dropped6 = compact(&dict, "dropped6", V6_LEN)?;
        let added_f = flags(&dict, b"added.f");
        let added6_f = flags(&dict, b"added6.f");
        Ok(PexMessage {
            added: entries(added, read_v4).enumerate().map(|(i, addr)| (addr, flag_at(added_f, i))).collect(),
            dropped: entries(dropped, read_v4).collect(),
            added6: entries(added6, read_v6)
                .enumerate()
                .map(|(i, addr)| (addr, flag_at(added6_f, i)))
                .collect(),
            dropped6: entries(dropped6, read_v6).collect(),
        })
    }
}

fn push_v4(out: &mut Vec<u8>, addr: &SocketAddrV4) {
    out.extend_from_slice(&addr.ip().octets());
    out.extend_from_slice(&addr.port().to_be_bytes());
}

fn push_v6(out: &mut Vec<u8>, addr: &SocketAddrV6) {
    out.extend_from_slice(&addr.ip().octets());
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// The compact list under `key`: empty if absent, an error if ill-typed or of a length that is
/// not a multiple of `entry_len`.
fn compact<'a>(dict: &Dict<'a>, key: &'static str, entry_len: usize) -> Result<&'a [u8], WireError> {
    let Some(value) = dict.get(key.as_bytes()) else {
        return Ok(&[]);
    };
    let bytes = value.as_bytes().ok_or(WireError::PexNotBytes { key })?;
    if bytes.len() % entry_len != 0 {
        return Err(WireError::PexBadLength { key, len: bytes.len(), entry_len });
    }
    Ok(bytes)
}

/// The flags string under `key`, empty if absent or ill-typed: flags are advisory, so a broken
/// one is not worth rejecting the peers it describes.
fn flags<'a>(dict: &Dict<'a>, key: &[u8]) -> &'a [u8] {
    dict.get(key).and_then(Value::as_bytes).unwrap_or_default()
}

fn flag_at(flags: &[u8], i: usize) -> PexFlags {
    PexFlags(flags.get(i).copied().unwrap_or(0))
}

/// The first [`MAX_DECODED_ENTRIES`] addresses of a compact list, parsed by `read`.
fn entries<'a, T, const N: usize>(list: &'a [u8], read: fn([u8; N]) -> T) -> impl Iterator<Item = T> + 'a
where
    T: 'a,
{
    list.chunks_exact(N)
        .filter_map(|chunk| <[u8; N]>::try_from(chunk).ok())
        .map(read)
        .take(MAX_DECODED_ENTRIES)
}

fn read_v4(b: [u8; V4_LEN]) -> SocketAddrV4 {
    let [a, b, c, d, p0, p1] = b;
    SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), u16::from_be_bytes([p0, p1]))
}

fn read_v6(b: [u8; V6_LEN]) -> SocketAddrV6 {
    let mut ip = [0u8; 16];
    for (dst, src) in ip.iter_mut().zip(b) {
        *dst = src;
    }
    // Constant indices into a fixed-size array: checked at compile time.
    SocketAddrV6::new(Ipv6Addr::from(ip), u16::from_be_bytes([b[16], b[17]]), 0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port)
    }

    fn v6(last: u16, port: u16) -> SocketAddrV6 {
        SocketAddrV6::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last), port, 0, 0)
    }

    fn sample() -> PexMessage {
        PexMessage {
            added: vec![
                (v4(1, 2, 3, 4, 6881), PexFlags::SEED | PexFlags::UTP),
                (v4(10, 0, 0, 1, 80), PexFlags::NONE),
            ],
            dropped: vec![v4(5, 6, 7, 8, 0x1234)],
            added6: vec![(v6(1, 443), PexFlags::REACHABLE)],
            dropped6: vec![v6(2, 1)],
        }
    }

    const V6_1: &[u8] = b"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01\x01\xbb";
    const V6_2: &[u8] = b"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02\x00\x01";

    fn golden() -> Vec<u8> {
        [
            &b"d5:added12:\x01\x02\x03\x04\x1a\xe1\x0a\x00\x00\x01\x00\x50"[..],
            b"7:added.f2:\x06\x00",
            b"6:added618:",
            V6_1,
            b"8:added6.f1:\x10",
            b"7:dropped6:\x05\x06\x07\x08\x12\x34",
            b"8:dropped618:",
            V6_2,
            b"e",
        ]
        .concat()
    }

    #[test]
    fn golden_encoding() {
        assert_eq!(&sample().encode()[..], &golden()[..]);
        assert_eq!(PexMessage::decode(&golden()), Ok(sample()));
    }

    #[test]
    fn empty_message_writes_every_key() {
        let empty = PexMessage::default();
        assert!(empty.is_empty());
        assert!(!sample().is_empty());
        let golden: &[u8] = b"d5:added0:7:added.f0:6:added60:8:added6.f0:7:dropped0:8:dropped60:e";
        assert_eq!(&empty.encode()[..], golden);
        assert_eq!(PexMessage::decode(golden), Ok(empty.clone()));
        assert_eq!(PexMessage::decode(b"de"), Ok(empty));
    }

    #[test]
    fn every_truncation_is_rejected() {
        let golden = golden();
        for cut in 0..golden.len() {
            assert!(
                matches!(PexMessage::decode(&golden[..cut]), Err(WireError::PexBencode { .. })),
                "prefix of {cut} bytes"
            );
        }
        // Trailing bytes after the dictionary are ignored.
        let mut long = golden.clone();
        long.extend_from_slice(b"junk");
        assert_eq!(PexMessage::decode(&long), Ok(sample()));
    }

    #[test]
    fn missing_or_short_flags_are_zero() {
        let m = PexMessage::decode(
            b"d5:added12:\x01\x02\x03\x04\x00\x01\x05\x06\x07\x08\x00\x027:added.f1:\x03e",
        )
        .unwrap();
        assert_eq!(m.added, vec![(v4(1, 2, 3, 4, 1), PexFlags(3)), (v4(5, 6, 7, 8, 2), PexFlags::NONE)]);
        let m = PexMessage::decode(b"d5:added6:\x01\x02\x03\x04\x00\x017:added.fi7ee").unwrap();
        assert_eq!(m.added, vec![(v4(1, 2, 3, 4, 1), PexFlags::NONE)]);
        // Extra flags are ignored.
        let m = PexMessage::decode(b"d5:added6:\x01\x02\x03\x04\x00\x017:added.f3:\x01\x02\x03e").unwrap();
        assert_eq!(m.added, vec![(v4(1, 2, 3, 4, 1), PexFlags::PREFERS_ENCRYPTION)]);
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let m = PexMessage::decode(b"d1:ai1e5:added6:\x01\x02\x03\x04\x00\x014:zzzzli1eee").unwrap();
        assert_eq!(m.added, vec![(v4(1, 2, 3, 4, 1), PexFlags::NONE)]);
    }

    #[test]
    fn rejects_malformed_lists() {
        assert_eq!(
            PexMessage::decode(b"d5:added5:abcdee"),
            Err(WireError::PexBadLength { key: "added", len: 5, entry_len: 6 })
        );
        assert_eq!(
            PexMessage::decode(b"d7:dropped7:abcdefge"),
            Err(WireError::PexBadLength { key: "dropped", len: 7, entry_len: 6 })
        );
        assert_eq!(
            PexMessage::decode(b"d6:added66:abcdefe"),
            Err(WireError::PexBadLength { key: "added6", len: 6, entry_len: 18 })
        );
        assert_eq!(
            PexMessage::decode(b"d8:dropped612:abcdefabcdefe"),
            Err(WireError::PexBadLength { key: "dropped6", len: 12, entry_len: 18 })
        );
        assert_eq!(PexMessage::decode(b"d5:addedi1ee"), Err(WireError::PexNotBytes { key: "added" }));
        assert_eq!(PexMessage::decode(b"d8:dropped6lee"), Err(WireError::PexNotBytes { key: "dropped6" }));
        assert_eq!(PexMessage::decode(b"le"), Err(WireError::PexNotDict));
        assert_eq!(PexMessage::decode(b"3:abc"), Err(WireError::PexNotDict));
        assert!(matches!(PexMessage::decode(b"xyz"), Err(WireError::PexBencode { .. })));
    }

    #[test]
    fn caps_entries_per_list() {
        let many = 1000;
        let mut payload = format!("d5:added{}:", many * V4_LEN).into_bytes();
        for i in 0..many {
            payload.extend_from_slice(&[10, 0, 0, 1]);
            payload.extend_from_slice(&u16::try_from(i).unwrap().to_be_bytes());
        }
        payload.extend_from_slice(format!("8:dropped6{}:", many * V6_LEN).as_bytes());
        payload.extend(std::iter::repeat(7u8).take(many * V6_LEN));
        payload.push(b'e');
        let m = PexMessage::decode(&payload).unwrap();
        assert_eq!(m.added.len(), MAX_DECODED_ENTRIES);
        assert_eq!(m.added.last().map(|(a, _)| a.port()), Some(199));
        assert_eq!(m.dropped6.len(), MAX_DECODED_ENTRIES);
        assert!(m.dropped.is_empty() && m.added6.is_empty());
    }

    #[test]
    fn flags_combine() {
        let f = PexFlags::SEED | PexFlags::HOLEPUNCH;
        assert_eq!(f, PexFlags(0x0a));
        assert!(f.contains(PexFlags::SEED));
        assert!(f.contains(PexFlags::NONE));
        assert!(!f.contains(PexFlags::SEED | PexFlags::UTP));
    }

    fn arb_v4() -> impl Strategy<Value = SocketAddrV4> {
        (any::<u32>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV4::new(Ipv4Addr::from(ip), port))
    }

    fn arb_v6() -> impl Strategy<Value = SocketAddrV6> {
        (any::<u128>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0))
    }

    fn arb_message() -> impl Strategy<Value = PexMessage> {
        let flags = any::<u8>().prop_map(PexFlags);
        (
            proptest::collection::vec((arb_v4(), flags.clone()), 0..60),
            proptest::collection::vec(arb_v4(), 0..60),
            proptest::collection::vec((arb_v6(), flags), 0..60),
            proptest::collection::vec(arb_v6(), 0..60),
        )
            .prop_map(|(added, dropped, added6, dropped6)| PexMessage {
                added,
                dropped,
                added6,
                dropped6,
            })
    }

    proptest! {
        #[test]
        fn round_trips(m in arb_message()) {
            prop_assert_eq!(PexMessage::decode(&m.encode()), Ok(m));
        }

        #[test]
        fn random_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(m) = PexMessage::decode(&bytes) {
                prop_assert_eq!(PexMessage::decode(&m.encode()), Ok(m));
            }
        }

        #[test]
        fn mangled_messages_never_panic(m in arb_message(), at in any::<prop::sample::Index>(), byte: u8) {
            let mut bytes = m.encode().to_vec();
            let i = at.index(bytes.len());
            bytes[i] = byte;
            let _ = PexMessage::decode(&bytes);
            let _ = PexMessage::decode(&bytes[..i]);
        }
    }
}
