use std::collections::BTreeMap;

use ccbt_bencode::OwnedValue;
use ccbt_core::merkle::{file_tree_leaves, leaf_hash, root_from_layer, Node, LEAF_SIZE};
use ccbt_core::InfoHashV2;
use ccbt_xet::{ChunkRef, FileHasher};
use sha2::{Digest, Sha256};

use super::*;
use crate::{aligned_layout, AlignedEntry, Torrent, TorrentBuilder, XetBuild};

const PIECE: u32 = 64 * 1024;

/// Deterministic bytes that chunk like real data (xorshift).
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn piece_nodes(data: &[u8]) -> Vec<Node> {
    let leaves: Vec<Node> = data.chunks(LEAF_SIZE as usize).map(leaf_hash).collect();
    if data.is_empty() {
        return vec![];
    }
    if data.len() <= PIECE as usize {
        return vec![root_from_layer(&leaves, file_tree_leaves(data.len() as u64), [0; 32])];
    }
    let per_piece = (PIECE / LEAF_SIZE) as usize;
    leaves.chunks(per_piece).map(|c| root_from_layer(c, per_piece as u64, [0; 32])).collect()
}

fn chunks_of(data: &[u8]) -> Vec<ChunkRef> {
    let mut h = FileHasher::new();
    h.update(data);
    h.finish().1
}

/// `big` (300 000 bytes, several chunks), `copy` (the same bytes), `empty`, `small` (5000).
fn data() -> Vec<(Vec<String>, Vec<u8>)> {
    let big = content(300_000, 1);
    vec![
        (vec!["big".into()], big.clone()),
        (vec!["copy".into()], big),
        (vec!["empty".into()], vec![]),
        (vec!["small".into()], content(5000, 2)),
    ]
}

fn builder(version: MetaVersion) -> TorrentBuilder {
    let data = data();
    let files: Vec<(Vec<String>, u64)> = data.iter().map(|(p, d)| (p.clone(), d.len() as u64)).collect();
    let mut stream = Vec::new();
    for entry in aligned_layout(&files.iter().map(|f| f.1).collect::<Vec<_>>(), PIECE) {
        match entry {
            AlignedEntry::File(i) => stream.extend_from_slice(&data[i].1),
            AlignedEntry::Padding(len) => stream.resize(stream.len() + len as usize, 0),
        }
    }
    let sha1 = |c: &[u8]| -> [u8; 20] { <sha1::Sha1 as sha1::Digest>::digest(c).into() };
    TorrentBuilder {
        version,
        name: "set".into(),
        files,
        piece_length: PIECE,
        piece_hashes: if version.has_v1() {
            stream.chunks(PIECE as usize).map(sha1).collect()
        } else {
            vec![]
        },
        v2_piece_hashes: data.iter().map(|(_, d)| piece_nodes(d)).collect(),
        xet: Some(XetBuild::from_chunks(
            data.iter().map(|(_, d)| chunks_of(d)).collect(),
            Some(InfoHashV2([7; 32])),
        )),
        similar: vec![SimilarHash::from_bytes(&[1; 20]).unwrap(), SimilarHash::from_bytes(&[2; 32]).unwrap()],
        collections: vec!["org/dataset".into()],
        ..TorrentBuilder::default()
    }
}

/// The data file at `name` in the parsed torrent.
fn index_of(t: &Torrent, name: &str) -> usize {
    t.files.iter().position(|f| f.path.last().map(String::as_str) == Some(name)).unwrap()
}

#[test]
fn built_xet_torrents_round_trip() {
    for version in [MetaVersion::V2, MetaVersion::Hybrid] {
        let b = builder(version);
        let bytes = b.build().unwrap();
        let t = Torrent::from_bytes(&bytes).unwrap();
        assert!(t.is_xet() && t.xet_ignored_version.is_none());
        let xet = t.xet.as_ref().unwrap();
        assert_eq!((xet.version, xet.prev), (1, Some(InfoHashV2([7; 32]))));
        // `big` and `copy` share both roots; `empty` has none.
        assert_eq!(xet.roots.len(), 2);
        let want = |i: usize| FileHasher::new().finish_with(&data()[i].1);
        assert_eq!(t.xet_root_of(index_of(&t, "big")), Some(want(0)));
        assert_eq!(t.xet_root_of(index_of(&t, "copy")), Some(want(0)));
        assert_eq!(t.xet_root_of(index_of(&t, "small")), Some(want(3)));
        assert_eq!(t.xet_root_of(index_of(&t, "empty")), None);
        assert!(chunks_of(&data()[0].1).len() > 2, "the big file should have several chunks");
        assert_eq!(t.xet_layers.get(&want(0)), Some(&chunks_of(&data()[0].1)));
        assert!(t.missing_xet_layers().is_empty());
        assert_eq!(t.similar, b.similar);
        assert_eq!(t.collections, b.collections);
        // The xet part is inside the info dictionary, which is hashed as it stands.
        let info = ccbt_bencode::raw_value_of_key(&bytes, b"info").unwrap().unwrap();
        assert_eq!(t.info_hash_v2, Some(InfoHashV2(Sha256::digest(info).into())));
        assert_eq!(b.build().unwrap(), bytes, "building is deterministic");
    }
}

/// `finish` of the hasher after feeding `data`: the file's xet root.
trait FinishWith {
    fn finish_with(self, data: &[u8]) -> ccbt_xet::ChunkId;
}

impl FinishWith for FileHasher {
    fn finish_with(mut self, data: &[u8]) -> ccbt_xet::ChunkId {
        self.update(data);
        self.finish().0
    }
}

#[test]
fn layers_survive_re_serialisation_and_are_learned_checked() {
    let t = Torrent::from_bytes(&builder(MetaVersion::V2).build().unwrap()).unwrap();
    let again = Torrent::from_parts_with_xet(
        &t.info_bytes,
        Some(&t.piece_layers_bencoded()),
        Some(&t.xet_layers_bencoded()),
    )
    .unwrap();
    assert_eq!(again.xet_layers, t.xet_layers);
    assert_eq!(again.xet, t.xet);

    // From the info dictionary alone (a magnet): the manifests are missing, then learned.
    let mut bare = Torrent::from_parts(&t.info_bytes, None).unwrap();
    assert_eq!(bare.xet, t.xet);
    let missing = bare.missing_xet_layers();
    assert_eq!(missing.len(), 2, "{missing:?}");
    let (_, big_root, big_len) = missing[0];
    assert_eq!(big_len, 300_000);
    let good = t.xet_layers[&big_root].clone();

    let mut swapped = good.clone();
    swapped.swap(0, 1);
    assert!(matches!(
        bare.set_xet_layer(big_root, swapped),
        Err(MetainfoError::InvalidXetLayer { ref path, reason: ManifestError::RootMismatch }) if path == "set/big"
    ));
    let mut short = good.clone();
    short.last_mut().unwrap().len -= 1;
    assert!(matches!(
        bare.set_xet_layer(big_root, short),
        Err(MetainfoError::InvalidXetLayer { reason: ManifestError::LengthMismatch { .. }, .. })
    ));
    assert!(matches!(
        bare.set_xet_layer([9; 32], good.clone()),
        Err(MetainfoError::InvalidXetLayersEntry { .. })
    ));
    bare.set_xet_layer(big_root, good).unwrap();
    assert_eq!(bare.missing_xet_layers().len(), 1);
}

type Top = BTreeMap<Vec<u8>, OwnedValue>;
/// The key expected in the error, the edit, the type expected.
type WrongTypeCase = (&'static str, fn(&mut Top), &'static str);

/// Builds the xet torrent, lets `edit` change its top-level dictionary, and parses the result.
fn edited(version: MetaVersion, edit: impl FnOnce(&mut BTreeMap<Vec<u8>, OwnedValue>)) -> Result<Torrent> {
    let bytes = builder(version).build().unwrap();
    let OwnedValue::Dict(mut top) = ccbt_bencode::decode(&bytes).unwrap().to_owned_value() else { panic!() };
    edit(&mut top);
    Torrent::from_bytes(&OwnedValue::Dict(top).to_bytes())
}

fn put(map: &mut BTreeMap<Vec<u8>, OwnedValue>, key: &str, value: impl Into<OwnedValue>) {
    map.insert(key.as_bytes().to_vec(), value.into());
}

fn dict(v: &mut OwnedValue) -> &mut BTreeMap<Vec<u8>, OwnedValue> {
    match v {
        OwnedValue::Dict(d) => d,
        _ => panic!("not a dictionary"),
    }
}

fn info(top: &mut BTreeMap<Vec<u8>, OwnedValue>) -> &mut BTreeMap<Vec<u8>, OwnedValue> {
    dict(top.get_mut(&b"info"[..]).unwrap())
}

fn xet(top: &mut BTreeMap<Vec<u8>, OwnedValue>) -> &mut BTreeMap<Vec<u8>, OwnedValue> {
    dict(info(top).get_mut(&b"xet"[..]).unwrap())
}

fn roots(top: &mut BTreeMap<Vec<u8>, OwnedValue>) -> &mut BTreeMap<Vec<u8>, OwnedValue> {
    dict(xet(top).get_mut(&b"roots"[..]).unwrap())
}

fn layers(top: &mut BTreeMap<Vec<u8>, OwnedValue>) -> &mut BTreeMap<Vec<u8>, OwnedValue> {
    dict(top.get_mut(&b"xet layers"[..]).unwrap())
}

/// The manifest bytes of the big file's layer.
fn big_layer(top: &mut BTreeMap<Vec<u8>, OwnedValue>) -> &mut Vec<u8> {
    let root = FileHasher::new().finish_with(&data()[0].1);
    match layers(top).get_mut(&root[..]).unwrap() {
        OwnedValue::Bytes(b) => b,
        _ => panic!(),
    }
}

fn layer_error(err: MetainfoError) -> (String, ManifestError) {
    match err {
        MetainfoError::InvalidXetLayer { path, reason } => (path, reason),
        other => panic!("not a layer error: {other}"),
    }
}

#[test]
fn layers_that_do_not_match_their_file_are_refused() {
    let v2 = MetaVersion::V2;
    // Two chunk ids swapped: lengths fine, root wrong.
    let err = edited(v2, |top| {
        let b = big_layer(top);
        let (first, rest) = b.split_at_mut(36);
        first[..32].swap_with_slice(&mut rest[..32]);
    })
    .unwrap_err();
    assert_eq!(layer_error(err), ("set/big".into(), ManifestError::RootMismatch));
    // The last chunk one byte longer: the lengths overshoot the file.
    let err = edited(v2, |top| {
        let b = big_layer(top);
        let n = b.len();
        b[n - 1] = b[n - 1].wrapping_add(1);
    })
    .unwrap_err();
    assert!(matches!(layer_error(err).1, ManifestError::LengthMismatch { file_length: 300_000, .. }));
    // A short chunk in the middle: 4096 bytes taken from the first chunk, given to the last.
    let err = edited(v2, |top| {
        let b = big_layer(top);
        let first = u32::from_be_bytes(b[32..36].try_into().unwrap());
        b[32..36].copy_from_slice(&4096u32.to_be_bytes());
        let n = b.len();
        let last = u32::from_be_bytes(b[n - 4..].try_into().unwrap());
        b[n - 4..].copy_from_slice(&(last + first - 4096).to_be_bytes());
    })
    .unwrap_err();
    assert_eq!(layer_error(err).1, ManifestError::ChunkTooShort { index: 0, len: 4096 });
    // Cut mid-entry.
    let err = edited(v2, |top| {
        big_layer(top).pop();
    })
    .unwrap_err();
    assert!(matches!(layer_error(err).1, ManifestError::Truncated(_)));
    // Far more entries than 5000 bytes can have: refused before decoding.
    let small_root = FileHasher::new().finish_with(&data()[3].1);
    let err = edited(v2, |top| {
        layers(top).insert(small_root.to_vec(), OwnedValue::bytes(vec![0u8; 36 * 100_000]));
    })
    .unwrap_err();
    assert_eq!(
        layer_error(err),
        ("set/small".into(), ManifestError::TooManyChunks { chunks: 100_000, limit: 1 })
    );
    // A chunk of 0 bytes, and one over 128 KiB.
    for len in [0u32, 200_000] {
        let err = edited(v2, |top| {
            big_layer(top)[32..36].copy_from_slice(&len.to_be_bytes());
        })
        .unwrap_err();
        assert_eq!(layer_error(err).1, ManifestError::BadChunkLength { index: 0, len });
    }
}

#[test]
fn layers_for_no_file_or_ill_typed_are_refused() {
    let v2 = MetaVersion::V2;
    let err = edited(v2, |top| {
        layers(top).insert(vec![5; 32], OwnedValue::bytes(vec![]));
    })
    .unwrap_err();
    assert!(
        matches!(err, MetainfoError::InvalidXetLayersEntry { ref key, reason } if key == &"05".repeat(32) && reason.contains("no file")),
        "{err}"
    );
    let err = edited(v2, |top| {
        layers(top).insert(vec![5; 31], OwnedValue::bytes(vec![]));
    })
    .unwrap_err();
    assert!(matches!(err, MetainfoError::InvalidXetLayersEntry { reason, .. } if reason.contains("32-byte")));
    let err = edited(v2, |top| {
        top.insert(b"xet layers".to_vec(), OwnedValue::list(["x"]));
    })
    .unwrap_err();
    assert_eq!(err, MetainfoError::WrongType { key: "xet layers".into(), expected: "a dictionary" });
    let err = edited(v2, |top| {
        let root = FileHasher::new().finish_with(&data()[0].1);
        layers(top).insert(root.to_vec(), OwnedValue::from(3i64));
    })
    .unwrap_err();
    assert!(matches!(err, MetainfoError::WrongType { expected: "a byte string", .. }), "{err}");
}

#[test]
fn bad_xet_dictionaries_are_refused_naming_the_key() {
    let v2 = MetaVersion::V2;
    let key_of = |err: MetainfoError| match err {
        MetainfoError::InvalidXet { key, reason } => (key, reason),
        other => panic!("not an xet error: {other}"),
    };
    // A root for no file of the torrent.
    let (key, reason) = key_of(
        edited(v2, |top| {
            roots(top).insert(vec![3; 32], OwnedValue::bytes(vec![4; 32]));
        })
        .unwrap_err(),
    );
    assert_eq!(key, format!("info.xet.roots.{}", "03".repeat(32)));
    assert!(reason.contains("no non-empty file"), "{reason}");
    // A file without its root.
    let err = edited(v2, |top| {
        let first = roots(top).keys().next().unwrap().clone();
        roots(top).remove(&first);
    })
    .unwrap_err();
    assert!(matches!(err, MetainfoError::MissingXetRoot { .. }), "{err}");
    // Wrong lengths, zero and repeated roots.
    let first_key = |top: &mut BTreeMap<Vec<u8>, OwnedValue>| roots(top).keys().next().unwrap().clone();
    let (_, reason) = key_of(
        edited(v2, |top| {
            let k = first_key(top);
            roots(top).insert(k, OwnedValue::bytes(vec![1; 20]));
        })
        .unwrap_err(),
    );
    assert!(reason.contains("32 bytes"), "{reason}");
    let (_, reason) = key_of(
        edited(v2, |top| {
            let k = first_key(top);
            roots(top).insert(k, OwnedValue::bytes(vec![0; 32]));
        })
        .unwrap_err(),
    );
    assert!(reason.contains("empty file"), "{reason}");
    let (_, reason) = key_of(
        edited(v2, |top| {
            let value = roots(top).values().next().unwrap().clone();
            for v in roots(top).values_mut() {
                *v = value.clone();
            }
        })
        .unwrap_err(),
    );
    assert!(reason.contains("same xet root"), "{reason}");
    let (key, _) = key_of(
        edited(v2, |top| {
            put(xet(top), "prev", vec![1u8; 20]);
        })
        .unwrap_err(),
    );
    assert_eq!(key, "info.xet.prev");
    let (key, _) = key_of(edited(v2, |top| put(xet(top), "v", 0i64)).unwrap_err());
    assert_eq!(key, "info.xet.v");
    assert_eq!(
        edited(v2, |top| _ = xet(top).remove(&b"v"[..])).unwrap_err(),
        MetainfoError::MissingKey("info.xet.v".into())
    );
}

#[test]
fn ill_typed_xet_keys_are_refused() {
    let cases: [WrongTypeCase; 5] = [
        ("info.xet", |top| put(info(top), "xet", OwnedValue::list(["v"])), "a dictionary"),
        ("info.xet.v", |top| put(xet(top), "v", "1"), "an integer"),
        ("info.xet.roots", |top| put(xet(top), "roots", OwnedValue::list(["x"])), "a dictionary"),
        ("info.xet.prev", |top| put(xet(top), "prev", 1i64), "a 32-byte string"),
        (
            "info.xet.roots.",
            |top| {
                let k = roots(top).keys().next().unwrap().clone();
                roots(top).insert(k, OwnedValue::from(1i64));
            },
            "a 32-byte string",
        ),
    ];
    for (want_key, edit, want_expected) in cases {
        match edited(MetaVersion::V2, edit).unwrap_err() {
            MetainfoError::WrongType { key, expected } => {
                assert!(key.starts_with(want_key) && expected == want_expected, "{key}: {expected}")
            }
            other => panic!("{want_key}: {other}"),
        }
    }
}

#[test]
fn xet_in_a_v1_torrent_is_refused() {
    let mut b = builder(MetaVersion::V1);
    b.v2_piece_hashes.clear();
    let stream: Vec<u8> = data().into_iter().flat_map(|(_, d)| d).collect();
    let sha1 = |c: &[u8]| -> [u8; 20] { <sha1::Sha1 as sha1::Digest>::digest(c).into() };
    b.piece_hashes = stream.chunks(PIECE as usize).map(sha1).collect();
    let err = b.build().unwrap_err();
    assert!(matches!(err, MetainfoError::InvalidXet { ref key, .. } if key == "info.xet"), "{err}");
    // Written by another tool: refused by the parser too.
    b.xet = None;
    let bytes = b.build().unwrap();
    let OwnedValue::Dict(mut top) = ccbt_bencode::decode(&bytes).unwrap().to_owned_value() else { panic!() };
    let xet = OwnedValue::dict().with("v", 1i64).with("roots", OwnedValue::dict());
    put(info(&mut top), "xet", xet);
    let err = Torrent::from_bytes(&OwnedValue::Dict(top).to_bytes()).unwrap_err();
    assert!(
        matches!(err, MetainfoError::InvalidXet { ref key, reason } if key == "info.xet" && reason.contains("v1-only")),
        "{err}"
    );
}

#[test]
fn a_later_xet_version_is_ignored_not_refused() {
    let t = edited(MetaVersion::Hybrid, |top| {
        put(xet(top), "v", 2i64);
        // Whatever version 2 means by its roots and layers, version 1 rules do not apply.
        put(xet(top), "roots", OwnedValue::list(["other"]));
        top.insert(b"xet layers".to_vec(), OwnedValue::bytes(b"opaque".to_vec()));
    })
    .unwrap();
    assert_eq!((t.xet_ignored_version, t.is_xet()), (Some(2), false));
    assert!(t.xet_layers.is_empty() && t.missing_xet_layers().is_empty());
    assert_eq!(t.xet_root_of(0), None);
}

#[test]
fn similar_and_collections_merge_and_skip_junk() {
    let t = edited(MetaVersion::V2, |top| {
        top.insert(
            b"similar".to_vec(),
            OwnedValue::list([
                OwnedValue::bytes(vec![1; 20]), // also in the info dictionary
                OwnedValue::bytes(vec![9; 20]), // new
                OwnedValue::bytes(vec![9; 21]), // no info hash
                OwnedValue::from(5i64),         // not a string
            ]),
        );
        top.insert(b"collections".to_vec(), OwnedValue::list(["org/dataset", "", "other"]));
    })
    .unwrap();
    let hexes: Vec<String> = t.similar.iter().map(SimilarHash::to_hex).collect();
    assert_eq!(hexes, ["01".repeat(20), "02".repeat(32), "09".repeat(20)]);
    assert_eq!(t.collections, ["org/dataset", "other"]);
    let not_a_list =
        edited(MetaVersion::V2, |top| _ = top.insert(b"similar".to_vec(), OwnedValue::from(1i64)));
    assert_eq!(not_a_list.unwrap().similar.len(), 2);
}

#[test]
fn builder_lists_must_match_the_files() {
    let mut b = builder(MetaVersion::V2);
    b.xet.as_mut().unwrap().roots.pop();
    assert!(
        matches!(b.build(), Err(MetainfoError::InvalidXet { reason, .. }) if reason.contains("one xet root per file"))
    );
    let mut b = builder(MetaVersion::V2);
    b.xet.as_mut().unwrap().roots[1] = [8; 32];
    assert!(
        matches!(b.build(), Err(MetainfoError::InvalidXet { reason, .. }) if reason.contains("equal content"))
    );
    // Roots without layers: a valid torrent whose manifests come from peers.
    let mut b = builder(MetaVersion::V2);
    b.xet.as_mut().unwrap().layers = None;
    let t = Torrent::from_bytes(&b.build().unwrap()).unwrap();
    assert_eq!(t.missing_xet_layers().len(), 2);
    // A wrong root is caught by the parse-back, naming the file.
    let mut b = builder(MetaVersion::V2);
    b.xet.as_mut().unwrap().roots[3] = [8; 32];
    assert_eq!(layer_error(b.build().unwrap_err()), ("set/small".into(), ManifestError::RootMismatch));
}

#[test]
fn manifest_limits() {
    assert_eq!(max_chunks(0), 0);
    assert_eq!(max_chunks(1), 1);
    assert_eq!(max_chunks(8192), 1);
    assert_eq!(max_chunks(8193), 2);
    let chunks = chunks_of(&content(300_000, 4));
    let bytes = encode_manifest(&chunks);
    assert_eq!(bytes.len(), chunks.len() * MANIFEST_ENTRY_LEN);
    assert_eq!(decode_manifest(&bytes, 300_000).unwrap(), chunks);
    let root = ccbt_xet::file_hash(&chunks);
    assert_eq!(check_manifest(&chunks, 300_000, &root), Ok(()));
    assert_eq!(check_manifest(&[], 0, &[0; 32]), Ok(()));
}

#[test]
fn the_publisher_key_and_salt_round_trip() {
    use crate::XetPublisher;
    for salt in [Vec::new(), b"org/dataset".to_vec(), vec![9; 64]] {
        let mut b = builder(MetaVersion::V2);
        let publisher = XetPublisher { public_key: [5; 32], salt: salt.clone() };
        b.xet.as_mut().unwrap().publisher = Some(publisher.clone());
        let t = Torrent::from_bytes(&b.build().unwrap()).unwrap();
        assert_eq!(t.xet.as_ref().unwrap().publisher, Some(publisher));
        // Inside the info dictionary: the info hash covers the key and salt.
        let plain = Torrent::from_bytes(&builder(MetaVersion::V2).build().unwrap()).unwrap();
        assert_ne!(t.info_hash_v2, plain.info_hash_v2);
        assert_eq!(plain.xet.as_ref().unwrap().publisher, None);
    }
    let mut b = builder(MetaVersion::Hybrid);
    b.xet.as_mut().unwrap().publisher = Some(XetPublisher { public_key: [5; 32], salt: vec![1; 65] });
    let err = b.build().unwrap_err();
    assert!(matches!(&err, MetainfoError::InvalidXet { key, .. } if key == "info.xet.salt"), "{err}");
}

#[test]
fn bad_publisher_keys_and_salts_are_refused() {
    let v2 = MetaVersion::V2;
    let refused = |edit: &dyn Fn(&mut Top)| match edited(v2, |top| edit(top)) {
        Err(MetainfoError::InvalidXet { key, reason }) => (key, reason.to_string()),
        Err(MetainfoError::WrongType { key, expected }) => (key, expected.to_string()),
        other => panic!("not refused as expected: {:?}", other.map(|t| t.xet)),
    };
    let (key, reason) = refused(&|top| put(xet(top), "pk", vec![1u8; 31]));
    assert_eq!(key, "info.xet.pk");
    assert!(reason.contains("32 bytes"), "{reason}");
    let (key, _) = refused(&|top| put(xet(top), "pk", 7i64));
    assert_eq!(key, "info.xet.pk");
    let (key, reason) = refused(&|top| {
        put(xet(top), "pk", vec![1u8; 32]);
        put(xet(top), "salt", vec![2u8; 65]);
    });
    assert_eq!(key, "info.xet.salt");
    assert!(reason.contains("64 bytes"), "{reason}");
    let (key, reason) = refused(&|top| put(xet(top), "salt", b"name".to_vec()));
    assert_eq!(key, "info.xet.salt");
    assert!(reason.contains("needs the publisher's key"), "{reason}");
    let (key, _) = refused(&|top| {
        put(xet(top), "pk", vec![1u8; 32]);
        put(xet(top), "salt", 3i64);
    });
    assert_eq!(key, "info.xet.salt");
    // A key alone is fine: an empty salt.
    let t = edited(v2, |top| put(xet(top), "pk", vec![1u8; 32])).unwrap();
    let publisher = t.xet.unwrap().publisher.unwrap();
    assert_eq!((publisher.public_key, publisher.salt), ([1; 32], Vec::new()));
}
