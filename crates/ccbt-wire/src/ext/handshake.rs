//! The BEP 10 extension handshake: the dictionary sent as extended message 0.

use bytes::Bytes;
use ccbt_bencode::{Dict, OwnedValue, Value};

use crate::WireError;

/// Most entries of a peer's `m` dictionary we keep. Real clients advertise a dozen; the cap
/// keeps a hostile handshake from costing more than a few KiB per connection.
pub const MAX_EXTENSIONS: usize = 64;

/// Longest extension name or client version string (`v`) we keep, in bytes; longer ones are
/// ignored like any other ill-formed optional key.
pub const MAX_NAME_LEN: usize = 128;

/// A BEP 10 extension handshake.
///
/// Decoding is forgiving: unknown keys are ignored and so are known optional keys of the wrong
/// type or range, because clients disagree on the details and none of these keys is worth
/// dropping a peer over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtHandshake {
    /// Extension name -> the extended message id the sender wants to receive it under. Id 0
    /// means the sender disabled that extension.
    pub m: Vec<(String, u8)>,
    /// Client name and version, e.g. `ccbt/0.1.0`.
    pub v: Option<String>,
    /// The sender's listen port.
    pub p: Option<u16>,
    /// How many outstanding requests the sender accepts.
    pub reqq: Option<u32>,
    /// BEP 9: size in bytes of the info dictionary.
    pub metadata_size: Option<u64>,
    /// Our address as the sender sees it: 4 (IPv4) or 16 (IPv6) bytes.
    pub yourip: Option<Vec<u8>>,
    /// The `xet` dictionary of the `xet_cas` extension (docs/xet.md).
    pub xet: Option<XetHandshake>,
}

/// The `xet` dictionary of an extension handshake: the `xet_cas` version and limits the
/// sender speaks. Only `v` is required; the others are kept when well-formed so the protocol
/// layer can apply its defaults and decide whether to speak the extension at all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XetHandshake {
    /// Protocol version (1). A peer ignores the extension for a version it does not know.
    pub v: u32,
    /// Chunking scheme, `xet-gear-64k` in version 1.
    pub cdc: Option<String>,
    /// Largest `xet_cas` message the sender accepts, in bytes.
    pub mm: Option<u32>,
    /// Most `xet_cas` requests the sender accepts outstanding.
    pub rq: Option<u32>,
}

impl XetHandshake {
    fn to_value(&self) -> OwnedValue {
        let mut dict = OwnedValue::dict().with("v", self.v);
        if let Some(cdc) = &self.cdc {
            dict.insert("cdc", cdc.as_str());
        }
        if let Some(mm) = self.mm {
            dict.insert("mm", mm);
        }
        if let Some(rq) = self.rq {
            dict.insert("rq", rq);
        }
        dict
    }

    /// The dictionary's well-formed keys, or `None` without a valid `v`.
    fn from_dict(dict: &Dict<'_>) -> Option<XetHandshake> {
        let int = |key: &[u8]| dict.get(key).and_then(Value::as_int).and_then(|i| u32::try_from(i).ok());
        Some(XetHandshake {
            v: int(b"v")?,
            cdc: dict
                .get(b"cdc")
                .and_then(Value::as_bytes)
                .filter(|c| c.len() <= MAX_NAME_LEN)
                .map(|c| String::from_utf8_lossy(c).into_owned()),
            mm: int(b"mm"),
            rq: int(b"rq"),
        })
    }
}

impl ExtHandshake {
    /// The id the sender assigned to extension `name`, or `None` if it does not support it (or
    /// disabled it with id 0).
    pub fn extension_id(&self, name: &str) -> Option<u8> {
        self.m.iter().find(|(n, _)| n == name).map(|&(_, id)| id).filter(|&id| id != 0)
    }

    /// The bencoded dictionary, keys sorted, ready to be sent as extended message 0.
    pub fn encode(&self) -> Bytes {
        let mut m = OwnedValue::dict();
        for (name, id) in &self.m {
            m.insert(name.as_str(), u32::from(*id));
        }
        let mut dict = OwnedValue::dict().with("m", m);
        if let Some(v) = &self.v {
            dict.insert("v", v.as_str());
        }
        if let Some(p) = self.p {
            dict.insert("p", u32::from(p));
        }
        if let Some(reqq) = self.reqq {
            dict.insert("reqq", reqq);
        }
        if let Some(size) = self.metadata_size.and_then(|s| i64::try_from(s).ok()) {
            dict.insert("metadata_size", size);
        }
        if let Some(ip) = &self.yourip {
            dict.insert("yourip", ip.as_slice());
        }
        if let Some(xet) = &self.xet {
            dict.insert("xet", xet.to_value());
        }
        Bytes::from(dict.to_bytes())
    }

    /// Decodes the payload of extended message 0. Fails only if the payload is not a bencoded
    /// dictionary; bytes after the dictionary are ignored.
    pub fn decode(payload: &[u8]) -> Result<ExtHandshake, WireError> {
        let (value, _) = ccbt_bencode::decode_prefix(payload)
            .map_err(|e| WireError::ExtHandshakeBencode { reason: e.to_string() })?;
        let Value::Dict(dict) = value else {
            return Err(WireError::ExtHandshakeNotDict);
        };
        let int = |key: &[u8]| dict.get(key).and_then(Value::as_int);
        Ok(ExtHandshake {
            m: dict.get(b"m").and_then(Value::as_dict).map(extensions).unwrap_or_default(),
            v: dict
                .get(b"v")
                .and_then(Value::as_bytes)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .filter(|v| v.len() <= MAX_NAME_LEN),
            p: int(b"p").and_then(|p| u16::try_from(p).ok()).filter(|&p| p != 0),
            reqq: int(b"reqq").and_then(|r| u32::try_from(r).ok()),
            metadata_size: int(b"metadata_size").and_then(|s| u64::try_from(s).ok()),
            yourip: dict
                .get(b"yourip")
                .and_then(Value::as_bytes)
                .filter(|ip| ip.len() == 4 || ip.len() == 16)
                .map(<[u8]>::to_vec),
            xet: dict.get(b"xet").and_then(Value::as_dict).and_then(XetHandshake::from_dict),
        })
    }
}

/// The well-formed entries of an `m` dictionary, at most [`MAX_EXTENSIONS`] of them.
fn extensions(m: &Dict<'_>) -> Vec<(String, u8)> {
    m.iter()
        .filter_map(|(name, id)| {
            let name = std::str::from_utf8(name).ok().filter(|n| n.len() <= MAX_NAME_LEN)?;
            let id = u8::try_from(id.as_int()?).ok()?;
            Some((name.to_owned(), id))
        })
        .take(MAX_EXTENSIONS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext::{UT_METADATA, UT_PEX};
    use proptest::prelude::*;

    /// What libtorrent 2.0 sends, keys in the order it writes them (sorted).
    const LIBTORRENT: &[u8] = b"d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e\
        11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei1234e\
        1:pi6881e4:reqqi500e11:upload_onlyi0e1:v16:libtorrent/2.0.86:yourip4:\x7f\x00\x00\x01e";

    #[test]
    fn decodes_libtorrent_handshake() {
        let h = ExtHandshake::decode(LIBTORRENT).unwrap();
        assert_eq!(h.extension_id(UT_METADATA), Some(2));
        assert_eq!(h.extension_id(UT_PEX), Some(1));
        assert_eq!(h.extension_id("lt_donthave"), Some(7));
        assert_eq!(h.extension_id("ut_xet"), None);
        assert_eq!(h.m.len(), 6);
        assert_eq!(h.v.as_deref(), Some("libtorrent/2.0.8"));
        assert_eq!(h.p, Some(6881));
        assert_eq!(h.reqq, Some(500));
        assert_eq!(h.metadata_size, Some(1234));
        assert_eq!(h.yourip, Some(vec![127, 0, 0, 1]));
    }

    #[test]
    fn golden_encoding() {
        let h = ExtHandshake {
            m: vec![(UT_PEX.into(), 1), (UT_METADATA.into(), 2)],
            v: Some("libtorrent/2.0.8".into()),
            p: Some(6881),
            reqq: Some(500),
            metadata_size: Some(1234),
            yourip: None,
            xet: None,
        };
        let golden: &[u8] = b"d1:md11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei1234e\
            1:pi6881e4:reqqi500e1:v16:libtorrent/2.0.8e";
        assert_eq!(&h.encode()[..], golden);
        let back = ExtHandshake::decode(golden).unwrap();
        assert_eq!(back.m, vec![(UT_METADATA.into(), 2), (UT_PEX.into(), 1)]);
        assert_eq!(ExtHandshake { m: h.m.clone(), ..back }, h);
    }

    #[test]
    fn round_trips() {
        let h = ExtHandshake {
            m: vec![("a".into(), 0), ("b".into(), 255)],
            v: Some("ccbt/0.1.0 \u{e9}".into()),
            p: None,
            reqq: Some(u32::MAX),
            metadata_size: Some(0),
            yourip: Some(vec![0; 16]),
            xet: Some(XetHandshake { v: 7, cdc: Some("x".into()), mm: Some(0), rq: None }),
        };
        assert_eq!(ExtHandshake::decode(&h.encode()), Ok(h));
        assert_eq!(ExtHandshake::decode(&ExtHandshake::default().encode()), Ok(Default::default()));
    }

    #[test]
    fn disabled_extension_has_no_id() {
        let h = ExtHandshake::decode(b"d1:md6:ut_pexi0eee").unwrap();
        assert_eq!(h.m, vec![(UT_PEX.into(), 0)]);
        assert_eq!(h.extension_id(UT_PEX), None);
    }

    #[test]
    fn ignores_ill_typed_optional_keys() {
        let payload = b"d1:md3:badi256e3:negi-1e3:str1:x2:oki3ee13:metadata_size2:no\
            1:pi70000e4:reqqi-5e1:vi3e6:yourip3:abce";
        let h = ExtHandshake::decode(payload).unwrap();
        assert_eq!(h, ExtHandshake { m: vec![("ok".into(), 3)], ..Default::default() });
        let h = ExtHandshake::decode(b"d1:m2:xxe").unwrap();
        assert_eq!(h, ExtHandshake::default());
        assert_eq!(ExtHandshake::decode(b"de"), Ok(ExtHandshake::default()));
    }

    #[test]
    fn rejects_non_dict_payloads() {
        assert_eq!(ExtHandshake::decode(b"li1ee"), Err(WireError::ExtHandshakeNotDict));
        assert_eq!(ExtHandshake::decode(b"i1e"), Err(WireError::ExtHandshakeNotDict));
        for bad in [&b""[..], b"d1:m", b"garbage", b"d1:mi1e1:mi2ee"] {
            assert!(matches!(ExtHandshake::decode(bad), Err(WireError::ExtHandshakeBencode { .. })));
        }
    }

    #[test]
    fn unsorted_m_is_accepted_and_encoded_sorted() {
        let h = ExtHandshake::decode(b"d1:md1:bi2e1:ai1eee").unwrap();
        assert_eq!(h.m, vec![("b".into(), 2), ("a".into(), 1)]);
        assert_eq!(&h.encode()[..], b"d1:md1:ai1e1:bi2eee");
        let long_v = [&b"d1:v129:"[..], &[b'x'; 129], b"e"].concat();
        assert_eq!(ExtHandshake::decode(&long_v).unwrap().v, None);
    }

    #[test]
    fn caps_the_extension_map() {
        let mut payload = b"d1:md".to_vec();
        for i in 0..1000 {
            payload.extend_from_slice(format!("5:e{i:04}i1e").as_bytes());
        }
        payload.extend_from_slice(b"ee");
        let h = ExtHandshake::decode(&payload).unwrap();
        assert_eq!(h.m.len(), MAX_EXTENSIONS);
    }

    #[test]
    fn xet_dictionary() {
        let h = ExtHandshake {
            m: vec![("xet_cas".into(), 5)],
            xet: Some(XetHandshake {
                v: 1,
                cdc: Some("xet-gear-64k".into()),
                mm: Some(139_264),
                rq: Some(64),
            }),
            ..Default::default()
        };
        let golden: &[u8] = b"d1:md7:xet_casi5ee3:xetd3:cdc12:xet-gear-64k2:mmi139264e2:rqi64e1:vi1eee";
        assert_eq!(&h.encode()[..], golden);
        assert_eq!(ExtHandshake::decode(golden), Ok(h));
    }

    #[test]
    fn ill_formed_xet_keys_are_ignored() {
        let decode = |payload: &[u8]| ExtHandshake::decode(payload).unwrap().xet;
        // Without a valid version the dictionary is dropped as a whole.
        assert_eq!(decode(b"d3:xeti1ee"), None);
        assert_eq!(decode(b"d3:xetdee"), None);
        assert_eq!(decode(b"d3:xetd1:vi-1eee"), None);
        assert_eq!(decode(b"d3:xetd1:v1:1ee"), None);
        assert_eq!(decode(b"d3:xetd1:vi4294967296eee"), None);
        // Other keys of the wrong type or range are dropped one by one.
        let got = decode(b"d3:xetd3:cdci3e2:mmi-5e2:rq2:641:vi2eee").unwrap();
        assert_eq!(got, XetHandshake { v: 2, cdc: None, mm: None, rq: None });
        let got = decode(b"d3:xetd2:rqi0e1:vi1e1:xi9eee").unwrap();
        assert_eq!(got, XetHandshake { v: 1, rq: Some(0), ..Default::default() });
    }

    proptest! {
        #[test]
        fn random_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(mut h) = ExtHandshake::decode(&bytes) {
                // The encoding sorts `m`; everything else survives as decoded.
                h.m.sort();
                prop_assert_eq!(ExtHandshake::decode(&h.encode()), Ok(h));
            }
        }

        #[test]
        fn mangled_handshakes_never_panic(cut in 0usize..LIBTORRENT.len(), byte: u8) {
            let mut bytes = LIBTORRENT.to_vec();
            bytes[cut] = byte;
            let _ = ExtHandshake::decode(&bytes);
            let _ = ExtHandshake::decode(&LIBTORRENT[..cut]);
        }
    }
}
