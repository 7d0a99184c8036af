//! Hostile BitTorrent v2 metainfo: file trees that try to escape the download folder or
//! exhaust the stack, piece layers that lie about their root, hybrids whose v1 and v2 halves
//! describe different data. Each is refused with an error naming the problem, or (paths)
//! sanitised exactly as the same components are in a v1 torrent.

use ccbt_bencode::OwnedValue;

use super::v2_support::*;
use crate::{
    is_portable_component, MetaVersion, MetainfoError, Torrent, MAX_PATH_COMPONENTS, MAX_PIECES, MAX_V2_FILES,
};

const KIB16: u64 = 16 * 1024;

/// A v1 multi-file torrent holding one 425-byte file at `components`.
fn v1_with(components: &[&[u8]]) -> Torrent {
    let path = OwnedValue::List(components.iter().map(|c| OwnedValue::bytes(c.to_vec())).collect());
    let info = OwnedValue::dict()
        .with("name", "t")
        .with("files", OwnedValue::list([OwnedValue::dict().with("length", 425i64).with("path", path)]))
        .with("piece length", KIB16 as i64)
        .with("pieces", vec![1u8; 20]);
    open(&OwnedValue::dict().with("info", info))
}

/// A v2-only torrent holding one 425-byte file at `components`.
fn v2_with(components: &[&[u8]]) -> Result<Torrent, MetainfoError> {
    let tr = tree(vec![(components.to_vec(), leaf(425, Some(synth(1, 425, KIB16).root)))]);
    Torrent::from_bytes(&wrap(v2_info(b"t", tr, KIB16 as i64), None).to_bytes())
}

#[test]
fn traversal_in_the_file_tree_is_sanitised_as_in_v1() {
    // Each case sits in a folder `d` so that v2 does not read it as a single-file torrent.
    let cases: [&[&[u8]]; 12] = [
        &[b"d", b"..", b"x"],
        &[b"d", b".", b"x"],
        &[b"d", b"..", b"..", b"etc", b"passwd"],
        &[b"d", b"/", b"bar"],
        &[b"d", b"/abs"],
        &[b"d", b"a/../b"],
        &[b"d", b"../../.bashrc"],
        &[b"d", b"\\", b"c"],
        &[b"d", b"c:\\windows"],
        &[b"d", b"con.txt"],
        &[b"d", b"evil\xe2\x80\xaegpj.exe"],
        &[b"d", b"name. ", b"caf\xe9"],
    ];
    for components in cases {
        let v1 = v1_with(components);
        let v2 = v2_with(components).unwrap_or_else(|e| panic!("{components:?}: {e}"));
        assert_eq!(paths(&v2), paths(&v1), "{components:?}");
        for f in &v2.files {
            assert!(f.path.iter().all(|c| is_portable_component(c)), "{:?}", f.path);
            assert!(
                f.path.first().map(String::as_str) == Some("t"),
                "{:?} escapes the torrent folder",
                f.path
            );
        }
    }
    // `..` as the whole name: the folder is named after the (v2) info hash, as in v1.
    let tr = tree(vec![(vec![b"a", b"b"], leaf(425, Some([3; 32])))]);
    let t = open(&wrap(v2_info(b"..", tr, KIB16 as i64), None));
    assert_ne!(t.name, "..");
    assert!(is_portable_component(&t.name));
}

#[test]
fn a_hybrid_with_traversal_in_both_halves_agrees_after_sanitising() {
    let files = [HybridFile { path: vec![b"..", b"a/../b"], file: synth(1, 40_000, KIB16), attr: None }];
    let info = hybrid_info(b"t", &files, KIB16, LIBTORRENT_PADS);
    let t = open(&wrap(info, Some(hybrid_layers(&files))));
    assert_eq!(paths(&t), ["t/_/a..b"]);
}

#[test]
fn empty_names_in_the_file_tree_are_refused() {
    // In v2 the empty key marks a file, so a folder holding it and anything else has an entry
    // with an empty name (libtorrent: v2_empty_filename), at the top or deeper (where the
    // folder reads as a file that is also a folder).
    let file = || leaf(425, Some([4; 32]));
    let cases: [(&[&[u8]], &str); 2] = [(&[], "empty name"), (&[b"d"], "also a folder")];
    for (dir, reason) in cases {
        let mut tr = tree(vec![([dir, &[&b"x"[..]]].concat(), file())]);
        let OwnedValue::Dict(map) = &mut tr else { unreachable!() };
        let target = match dir {
            [] => map,
            _ => match map.get_mut(&b"d"[..]) {
                Some(OwnedValue::Dict(sub)) => sub,
                _ => unreachable!(),
            },
        };
        target.insert(Vec::new(), file());
        let err = refuse(&wrap(v2_info(b"t", tr, KIB16 as i64), None));
        assert!(matches!(err, MetainfoError::InvalidFileTree { .. }), "{err}");
        assert_names(&err, &["file tree", reason]);
    }
    // A folder holding only the empty key is a file, here one without a length.
    let err = v2_with(&[b"d", b""]).unwrap_err();
    assert_names(&err, &["length"]);
}

/// Raw bencode of a v2-only torrent whose file tree nests `levels` folders named `a`.
fn nested(levels: usize) -> Vec<u8> {
    let mut out = b"d4:infod9:file treed".to_vec();
    out.extend(b"1:ad".repeat(levels));
    out.extend(b"1:fd0:d6:lengthi5e11:pieces root32:");
    out.extend([9u8; 32]);
    out.extend(b"eee");
    out.extend(b"e".repeat(levels));
    out.extend(b"12:meta versioni2e4:name1:t12:piece lengthi16384eee");
    out
}

#[test]
fn a_hundred_thousand_nesting_levels_are_refused_without_overflowing_the_stack() {
    let err = refuse_bytes(&nested(100_000));
    assert!(matches!(err, MetainfoError::Bencode(ccbt_bencode::BencodeError::TooDeep { .. })), "{err}");
    assert_names(&err, &["not valid bencode", "nesting deeper than"]);
}

#[test]
fn paths_deeper_than_the_limit_are_refused() {
    // Within what the decoder accepts, but deeper than a path may be (v1 has the same limit).
    let err = refuse_bytes(&nested(MAX_PATH_COMPONENTS + 50));
    assert!(matches!(err, MetainfoError::PathTooDeep { .. }), "{err}");
    assert_names(&err, &["components"]);
    let t = Torrent::from_bytes(&nested(MAX_PATH_COMPONENTS - 2)).unwrap();
    assert_eq!(t.files[0].path.len(), MAX_PATH_COMPONENTS);
}

#[test]
fn a_layer_that_does_not_fold_to_its_root_names_the_file() {
    let (a, b) = (synth(1, 100_000, KIB16), synth(2, 200_000, KIB16));
    let liar = synth(3, 200_000, KIB16);
    let tr = tree(vec![
        (vec![b"a.bin"], leaf(100_000, Some(a.root))),
        (vec![b"b.bin"], leaf(200_000, Some(b.root))),
    ]);
    let pl = layers([(&a.root, a.layer.as_slice()), (&b.root, liar.layer.as_slice())]);
    let err = refuse(&wrap(v2_info(b"t", tr.clone(), KIB16 as i64), Some(pl)));
    assert!(matches!(err, MetainfoError::InvalidPieceLayer { .. }), "{err}");
    assert_names(&err, &["piece layer", "b.bin"]);
    // A layer for a file that fits in one piece has no place either (libtorrent refuses it).
    let small = synth(4, 1000, KIB16);
    let tr = tree(vec![
        (vec![b"a.bin"], leaf(100_000, Some(a.root))),
        (vec![b"s.bin"], leaf(1000, Some(small.root))),
    ]);
    let pl = layers([(&a.root, a.layer.as_slice()), (&small.root, a.layer.as_slice())]);
    let err = refuse(&wrap(v2_info(b"t", tr, KIB16 as i64), Some(pl)));
    assert!(matches!(err, MetainfoError::InvalidPieceLayersEntry { .. }), "{err}");
    // `piece layers` that is not a dictionary.
    let tr = tree(vec![(vec![b"a.bin"], leaf(100_000, Some(a.root)))]);
    let err = refuse(&wrap(v2_info(b"t", tr, KIB16 as i64), Some(OwnedValue::list(["x"]))));
    assert!(matches!(err, MetainfoError::WrongType { .. }), "{err}");
    assert_names(&err, &["piece layers"]);
}

#[test]
fn identical_files_share_one_layer() {
    // Two files with the same content have the same root; one `piece layers` entry serves both
    // (libtorrent's v2_large_offset has fifteen such files).
    let f = synth(1, 100_000, KIB16);
    let tr = tree(vec![(vec![b"a"], leaf(100_000, Some(f.root))), (vec![b"b"], leaf(100_000, Some(f.root)))]);
    let t = open(&wrap(v2_info(b"t", tr, KIB16 as i64), Some(layers([(&f.root, f.layer.as_slice())]))));
    assert_eq!(paths(&t), ["t/a", "t/b"]);
    assert!(t.missing_piece_layers().is_empty());
}

#[test]
fn meta_version_and_file_tree_must_go_together() {
    let tr = || tree(vec![(vec![b"a"], leaf(425, Some([1; 32])))]);
    // An unknown version (libtorrent: torrent_unknown_version).
    let err = refuse(&wrap(v2_info(b"t", tr(), KIB16 as i64).with("meta version", 3i64), None));
    assert_eq!(err, MetainfoError::UnsupportedMetaVersion(3));
    assert_names(&err, &["meta version"]);
    // Version 2 without a file tree (libtorrent: torrent_missing_file_tree).
    let mut top = wrap(v2_info(b"t", tr(), KIB16 as i64), None);
    remove(&mut top, &[b"info", b"file tree"]);
    assert_eq!(refuse(&top), MetainfoError::MissingKey("info.file tree".into()));
    // A file tree without version 2, even beside complete v1 keys (libtorrent: "the torrent
    // contains v2 keys but does not specify meta version 2").
    for version in [None, Some(1i64)] {
        let mut top = wrap(v2_info(b"a", tr(), KIB16 as i64), None);
        match version {
            Some(v) => set(&mut top, &[b"info", b"meta version"], v.into()),
            None => remove(&mut top, &[b"info", b"meta version"]),
        }
        set(&mut top, &[b"info", b"length"], 425i64.into());
        set(&mut top, &[b"info", b"pieces"], vec![0u8; 20].into());
        let err = refuse(&top);
        assert!(matches!(err, MetainfoError::InvalidFileTree { .. }), "{err}");
        assert_names(&err, &["meta version 2"]);
    }
}

/// Two files of `a` and `b` bytes in a 16 KiB-piece hybrid, with libtorrent's padding.
fn pair(a: u64, b: u64) -> (Vec<HybridFile<'static>>, OwnedValue) {
    let files = vec![
        HybridFile { path: vec![b"a"], file: synth(1, a, KIB16), attr: None },
        HybridFile { path: vec![b"b"], file: synth(2, b, KIB16), attr: None },
    ];
    let top = wrap(hybrid_info(b"t", &files, KIB16, LIBTORRENT_PADS), Some(hybrid_layers(&files)));
    (files, top)
}

fn v1_entry(path: &str, length: u64) -> OwnedValue {
    OwnedValue::dict().with("length", length as i64).with("path", OwnedValue::list([path]))
}

/// Sets the v1 `pieces` to one (arbitrary) hash per piece of the edited v1 file list, so that
/// the disagreement with the v2 tree is the only fault.
fn fix_piece_count(top: &mut OwnedValue, piece_length: u64) {
    let total: u64 = v1_files(top).iter().map(|f| f.get(b"length").and_then(as_u64).unwrap_or(0)).sum();
    let n = total.div_ceil(piece_length) as usize;
    set(top, &[b"info", b"pieces"], vec![5u8; 20 * n].into());
}

fn as_u64(v: &OwnedValue) -> Option<u64> {
    match v {
        OwnedValue::Int(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

#[test]
fn hybrids_whose_halves_disagree_are_refused() {
    let (_, good) = pair(20_000, 30_000);
    let t = open(&good);
    assert_eq!(t.version, MetaVersion::Hybrid);
    assert_eq!(paths(&t), ["t/a", "t/b"]);

    let mut cases: Vec<(&str, OwnedValue)> = Vec::new();
    // A file one byte longer in v1 (its padding one byte shorter, so v1 stays aligned).
    let mut top = good.clone();
    v1_files(&mut top)[0] = v1_entry("a", 20_001);
    v1_files(&mut top)[1] = pad_entry(2 * KIB16 - 20_001, true);
    cases.push(("size", top));
    // The files in another order.
    let (_, mut top) = pair(2 * KIB16, 2 * KIB16);
    v1_files(&mut top).swap(0, 1);
    cases.push(("order", top));
    // No padding between the files: b starts mid-piece in v1.
    let mut top = good.clone();
    v1_files(&mut top).remove(1);
    cases.push(("missing pad", top));
    // Padding one byte short.
    let mut top = good.clone();
    v1_files(&mut top)[1] = pad_entry(2 * KIB16 - 20_000 - 1, true);
    cases.push(("pad size", top));
    // Every file still on a piece boundary, but a piece later than in v2 (so v1 and v2 piece
    // numbers would name different bytes): a padding file first, one a piece too long, and a
    // tail padding a piece too long.
    let mut top = good.clone();
    v1_files(&mut top).insert(0, pad_entry(KIB16, true));
    cases.push(("leading pad", top));
    let mut top = good.clone();
    v1_files(&mut top)[1] = pad_entry(3 * KIB16 - 20_000, true);
    cases.push(("pad a piece too long", top));
    let mut top = good.clone();
    v1_files(&mut top)[3] = pad_entry(4 * KIB16 - 30_000, true);
    cases.push(("tail pad a piece too long", top));
    // The padding is an ordinary file named like one.
    let mut top = good.clone();
    v1_files(&mut top)[1] = OwnedValue::dict()
        .with("length", (2 * KIB16 - 20_000) as i64)
        .with("path", OwnedValue::list([".pad", "12768"]));
    cases.push(("pad without attr", top));
    // Another name in v1.
    let mut top = good.clone();
    v1_files(&mut top)[2] = v1_entry("c", 30_000);
    cases.push(("name", top));
    // An extra file in v1.
    let mut top = good.clone();
    v1_files(&mut top).push(v1_entry("extra", 10));
    cases.push(("extra file", top));
    // v1 padded to 16 KiB, but the pieces are 32 KiB: in v2, b starts at 32 KiB, not 16.
    let (_, mut top) = pair(5000, 30_000);
    set(&mut top, &[b"info", b"piece length"], OwnedValue::Int(2 * KIB16 as i64));
    let files = [synth(1, 5000, 2 * KIB16), synth(2, 30_000, 2 * KIB16)];
    for (name, f) in [(&b"a"[..], &files[0]), (b"b", &files[1])] {
        set(&mut top, &[b"info", b"file tree", name, b"", b"pieces root"], f.root.to_vec().into());
    }
    set(&mut top, &[b"piece layers"], OwnedValue::dict());
    cases.push(("piece length", top));

    for (name, mut top) in cases {
        let piece = match top.get(b"info").and_then(|i| i.get(b"piece length")) {
            Some(OwnedValue::Int(p)) => *p as u64,
            _ => KIB16,
        };
        fix_piece_count(&mut top, piece);
        let err = refuse(&top);
        assert!(matches!(err, MetainfoError::HybridMismatch { .. }), "{name}: {err}");
        assert_names(&err, &["v1", "v2"]);
    }
}

#[test]
fn a_symlink_without_a_target_is_an_empty_file() {
    // Its `length` claims a gigabyte and it has no root: a link holds no data (libtorrent: an
    // implied size of zero), and without `symlink path` it is an ordinary empty file.
    let tr = tree(vec![
        (vec![b"a"], leaf(425, Some([1; 32]))),
        (vec![b"l"], leaf_with(1 << 30, None, &[("attr", "l".into())])),
    ]);
    let t = open(&wrap(v2_info(b"t", tr, KIB16 as i64), None));
    let link = &t.files[t.files.len() - 1];
    assert_eq!(
        (link.path.join("/"), link.length, link.symlink.as_ref(), link.pieces_root),
        ("t/l".into(), 0, None, None)
    );
}

#[test]
fn a_v2_file_may_not_exceed_2_pow_30_blocks() {
    // libtorrent's limit (v2_large_file is one block over it), tested with 256 MiB pieces so
    // that the piece count stays small.
    let limit = ((1u64 << 30) - 1) * KIB16;
    let single = |len: u64| {
        let tr = tree(vec![(vec![b"big"], leaf(len as i64, Some([1; 32])))]);
        wrap(v2_info(b"big", tr, 1 << 28), None)
    };
    // The file, then the padding that makes its last piece whole.
    let t = open(&single(limit - 1));
    assert_eq!(t.files[0].length, limit - 1);
    assert_eq!(t.total_length, (limit - 1).next_multiple_of(1 << 28));
    assert_names(&refuse(&single(limit)), &["big", "2^30 - 1 blocks"]);
}

#[test]
fn a_v2_torrent_may_not_ask_for_more_pieces_than_the_limit() {
    // Two hundred bytes can claim any length in v2: the piece count is bounded like libtorrent's.
    let single = |pieces: u64| {
        let tr = tree(vec![(vec![b"f"], leaf((pieces * KIB16) as i64, Some([1; 32])))]);
        wrap(v2_info(b"f", tr, KIB16 as i64), None)
    };
    assert_eq!(open(&single(u64::from(MAX_PIECES))).num_pieces(), MAX_PIECES);
    let err = refuse(&single(u64::from(MAX_PIECES) + 1));
    assert!(matches!(err, MetainfoError::TooManyPieces { .. }), "{err}");
    assert_names(&err, &["pieces", &MAX_PIECES.to_string()]);
}

#[test]
fn a_file_tree_with_more_files_than_the_limit_is_refused() {
    // One more (empty) file than MAX_V2_FILES: refused while walking the tree, which stops at
    // the limit. (These 26 MB are more than a .torrent read from disk may be; metadata fetched
    // for a magnet link with a large `max_metadata_kib` could be this big.)
    let mut bytes = b"d4:infod9:file treed".to_vec();
    for i in 0..=MAX_V2_FILES {
        bytes.extend(format!("7:{i:07}d0:d6:lengthi0eee").as_bytes());
    }
    bytes.extend(b"e12:meta versioni2e4:name1:t12:piece lengthi16384eee");
    let err = refuse_bytes(&bytes);
    assert_eq!(err, MetainfoError::TooManyFiles { limit: MAX_V2_FILES });
    assert_names(&err, &["more than", &MAX_V2_FILES.to_string(), "files"]);
}

#[test]
fn empty_folders_are_skipped_as_libtorrent_does() {
    // libtorrent 2.0.8 opens this as `t/a` plus padding (checked with its Python binding): the
    // empty folders hold nothing, and the root holding more than one entry makes the torrent
    // a multi-file one. A tree of empty folders only has no files.
    let mut tr = tree(vec![(vec![b"a"], leaf(1000, Some([1; 32])))]);
    tr.insert("d", OwnedValue::dict());
    tr.insert("e", OwnedValue::dict().with("f", OwnedValue::dict()));
    let t = open(&wrap(v2_info(b"t", tr, KIB16 as i64), None));
    assert_eq!((paths(&t), t.single_file), (vec!["t/a".to_owned()], false));
    let only_empty = OwnedValue::dict().with("d", OwnedValue::dict());
    assert_eq!(refuse(&wrap(v2_info(b"t", only_empty, KIB16 as i64), None)), MetainfoError::NoFiles);
}
