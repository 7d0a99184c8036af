//! Parsing tests: good torrents built by hand, golden info hashes, every malformed case.

use ccbt_bencode::OwnedValue;
use ccbt_core::InfoHash;
use proptest::prelude::*;

use crate::{FileEntry, MetainfoError, Torrent};

mod corpus;
mod v2;

const KIB16: u32 = 16 * 1024;

fn hashes(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| [i as u8; 20]).collect()
}

fn single_info(length: i64) -> OwnedValue {
    OwnedValue::dict()
        .with("name", "a.txt")
        .with("length", length)
        .with("piece length", KIB16)
        .with("pieces", hashes((length as u64).div_ceil(KIB16 as u64) as usize))
}

fn file(path: &[&str], length: i64) -> OwnedValue {
    OwnedValue::dict().with("length", length).with("path", OwnedValue::list(path.iter().copied()))
}

fn multi_info(files: Vec<OwnedValue>, total: u64) -> OwnedValue {
    OwnedValue::dict()
        .with("name", "dir")
        .with("files", files)
        .with("piece length", KIB16)
        .with("pieces", hashes(total.div_ceil(KIB16 as u64) as usize))
}

fn torrent(info: OwnedValue) -> Vec<u8> {
    OwnedValue::dict().with("announce", "http://t/announce").with("info", info).to_bytes()
}

fn parse_info(info: OwnedValue) -> Result<Torrent, MetainfoError> {
    Torrent::from_bytes(&torrent(info))
}

fn unsafe_path(path: &str, reason: &'static str) -> MetainfoError {
    MetainfoError::UnsafePath { path: path.into(), reason }
}

#[test]
fn golden_single_file() {
    let info = b"d6:lengthi40000e4:name5:a.txt12:piece lengthi32768e6:pieces40:AAAAAAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBBBBBe";
    let mut bytes = b"d8:announce17:http://t/announce13:creation datei1700000000e4:info".to_vec();
    bytes.extend_from_slice(info);
    bytes.extend_from_slice(b"e");
    let t = Torrent::from_bytes(&bytes).unwrap();
    // SHA-1 of the info bytes, computed independently with Python's hashlib.
    assert_eq!(t.info_hash, "1055f6af57f9fbc9e29587b13413f908d31f81b9".parse::<InfoHash>().unwrap());
    assert_eq!(t.info_bytes, info);
    assert_eq!(t.name, "a.txt");
    assert_eq!(t.piece_length, 32768);
    assert_eq!(t.piece_hashes, vec![[b'A'; 20], [b'B'; 20]]);
    assert_eq!(
        t.files,
        vec![FileEntry {
            path: vec!["a.txt".into()],
            length: 40000,
            is_padding: false,
            symlink: None,
            pieces_root: None
        }]
    );
    assert_eq!(t.total_length, 40000);
    assert!(t.single_file && !t.private && t.version == crate::MetaVersion::V1);
    assert_eq!(t.trackers, vec![vec!["http://t/announce".to_string()]]);
    assert_eq!(t.creation_date, Some(1_700_000_000));
    assert_eq!(t.comment, None);
    assert_eq!(t.num_pieces(), 2);
    assert_eq!(t.piece_hash(1), Some(&[b'B'; 20]));
    assert_eq!(t.piece_hash(2), None);
    assert_eq!(t.lengths().total_length(), 40000);
    assert_eq!(t.layout().files().len(), 1);
}

#[test]
fn golden_multi_file_hashes_original_unsorted_bytes() {
    // Keys out of order: re-encoding would sort them and give a different hash.
    let info: &[u8] = b"d4:name3:dir12:piece lengthi16384e6:pieces20:CCCCCCCCCCCCCCCCCCCC5:filesld6:lengthi10e4:pathl1:aeed6:lengthi5e4:pathl1:beeee";
    let mut bytes = b"d4:info".to_vec();
    bytes.extend_from_slice(info);
    bytes.extend_from_slice(b"e");
    let t = Torrent::from_bytes(&bytes).unwrap();
    assert_eq!(t.info_hash.to_hex(), "15048f76d9b779a2afbfc562b4ddddb9f42eebff");
    assert_eq!(t.info_bytes, info);
    assert!(!t.single_file);
    assert!(t.trackers.is_empty());
    let paths: Vec<_> = t.files.iter().map(|f| f.path.join("/")).collect();
    assert_eq!(paths, ["dir/a", "dir/b"]);
    assert_eq!(t.total_length, 15);
    let layout = t.layout();
    assert_eq!(layout.files()[1].offset, 10);
}

#[test]
fn multi_file_with_padding_and_utf8_paths() {
    let files = vec![
        file(&["sub", "x.bin"], 100).with("path.utf-8", OwnedValue::list(["sub", "ü.bin"])),
        file(&[".pad", "16284"], 16284).with("attr", "p"),
        file(&["y.bin"], 5).with("attr", "x"),
        file(&[".pad", "16379"], 16379).with("attr", "p"),
        file(&["z.bin"], 1),
    ];
    let t = parse_info(multi_info(files, 100 + 16284 + 5 + 16379 + 1)).unwrap();
    let flags: Vec<_> = t.files.iter().map(|f| f.is_padding).collect();
    assert_eq!(flags, [false, true, false, true, false]);
    assert_eq!(t.files[0].path, ["dir", "sub", "ü.bin"]);
    assert_eq!(t.num_pieces(), 3);
    // Padding aligns z.bin to the start of the last piece.
    assert_eq!(t.layout().files()[4].offset, 2 * u64::from(KIB16));
}

#[test]
fn non_utf8_names_are_sanitised_unless_utf8_key_given() {
    let info = single_info(10).with("name", b"caf\xe9.txt".to_vec());
    assert_eq!(parse_info(info.clone()).unwrap().name, "caf_.txt");
    let t = parse_info(info.with("name.utf-8", "café.txt")).unwrap();
    assert_eq!(t.name, "café.txt");
    assert_eq!(t.files[0].path, ["café.txt"]);
}

#[test]
fn trackers_and_optional_fields() {
    let list = OwnedValue::list([
        OwnedValue::list(["http://a", "http://b"]),
        OwnedValue::list([""]),
        OwnedValue::list(["http://a", " udp://c "]),
        OwnedValue::Int(3),
    ]);
    let bytes = OwnedValue::dict()
        .with("announce", "http://ignored")
        .with("announce-list", list)
        .with("url-list", "http://seed/")
        .with("comment", "hello")
        .with("created by", "test")
        .with("info", single_info(10).with("private", 1i64))
        .to_bytes();
    let t = Torrent::from_bytes(&bytes).unwrap();
    assert_eq!(t.trackers, [vec!["http://a".to_string(), "http://b".into()], vec!["udp://c".into()]]);
    assert_eq!(t.url_list, ["http://seed/"]);
    assert_eq!(t.comment.as_deref(), Some("hello"));
    assert_eq!(t.created_by.as_deref(), Some("test"));
    assert!(t.private);

    // Ill-typed informational keys are ignored, not fatal.
    let bytes = OwnedValue::dict()
        .with("announce", 5i64)
        .with("announce-list", "nope")
        .with("url-list", OwnedValue::list([OwnedValue::from("http://s"), OwnedValue::Int(1)]))
        .with("comment", 5i64)
        .with("creation date", "yesterday")
        .with("info", single_info(10))
        .to_bytes();
    let t = Torrent::from_bytes(&bytes).unwrap();
    assert!(t.trackers.is_empty());
    assert_eq!(t.url_list, ["http://s"]);
    assert_eq!(t.comment, None);
    assert_eq!(t.creation_date, None);
}

#[test]
fn structural_errors() {
    assert!(matches!(Torrent::from_bytes(b"d4:info"), Err(MetainfoError::Bencode(_))));
    assert_eq!(Torrent::from_bytes(b"li1ee").unwrap_err(), MetainfoError::NotADict);
    assert_eq!(Torrent::from_bytes(b"de").unwrap_err(), MetainfoError::MissingKey("info".into()));
    assert_eq!(
        Torrent::from_bytes(b"d4:infoi1ee").unwrap_err(),
        MetainfoError::WrongType { key: "info".into(), expected: "a dictionary" }
    );
}

#[test]
fn missing_and_ill_typed_info_keys() {
    let missing = |key: &str| MetainfoError::MissingKey(key.into());
    let wrong = |key: &str, expected| MetainfoError::WrongType { key: key.into(), expected };
    let base = single_info(10);
    let without = |k: &[u8]| match base.clone() {
        OwnedValue::Dict(mut m) => {
            m.remove(k);
            OwnedValue::Dict(m)
        }
        v => v,
    };
    assert_eq!(parse_info(without(b"name")).unwrap_err(), missing("info.name"));
    assert_eq!(parse_info(without(b"piece length")).unwrap_err(), missing("info.piece length"));
    assert_eq!(parse_info(without(b"pieces")).unwrap_err(), missing("info.pieces"));
    assert_eq!(parse_info(without(b"length")).unwrap_err(), missing("info.length"));
    assert_eq!(parse_info(base.clone().with("name", 1i64)).unwrap_err(), wrong("info.name", "a byte string"));
    assert_eq!(
        parse_info(base.clone().with("length", "10")).unwrap_err(),
        wrong("info.length", "an integer")
    );
    assert_eq!(
        parse_info(base.clone().with("pieces", 1i64)).unwrap_err(),
        wrong("info.pieces", "a byte string")
    );
    assert_eq!(
        parse_info(base.clone().with("piece length", "x")).unwrap_err(),
        wrong("info.piece length", "an integer")
    );
    assert_eq!(parse_info(base.clone().with("files", "x")).unwrap_err(), wrong("info.files", "a list"));
    let files = |f: OwnedValue| multi_info(vec![f], 10);
    assert_eq!(parse_info(files(OwnedValue::Int(1))).unwrap_err(), wrong("info.files[0]", "a dictionary"));
    assert_eq!(
        parse_info(files(OwnedValue::dict().with("path", OwnedValue::list(["a"])))).unwrap_err(),
        missing("info.files[0].length")
    );
    assert_eq!(
        parse_info(files(OwnedValue::dict().with("length", 10i64))).unwrap_err(),
        missing("info.files[0].path")
    );
    assert_eq!(
        parse_info(files(file(&["a"], 10).with("path", "a"))).unwrap_err(),
        wrong("info.files[0].path", "a list of byte strings")
    );
    assert_eq!(
        parse_info(files(file(&["a"], 10).with("path", OwnedValue::list([1i64])))).unwrap_err(),
        wrong("info.files[0].path", "a list of byte strings")
    );
}

#[test]
fn length_and_piece_errors() {
    assert_eq!(
        parse_info(single_info(10).with("pieces", vec![0u8; 30])).unwrap_err(),
        MetainfoError::InvalidPiecesLength { len: 30 }
    );
    assert_eq!(
        parse_info(single_info(10).with("pieces", hashes(2))).unwrap_err(),
        MetainfoError::PieceCountMismatch { expected: 1, got: 2 }
    );
    assert_eq!(
        parse_info(single_info(40000).with("pieces", hashes(2))).unwrap_err(),
        MetainfoError::PieceCountMismatch { expected: 3, got: 2 }
    );
    let pl = |v: i64| parse_info(single_info(10).with("piece length", v)).unwrap_err();
    assert_eq!(pl(0), MetainfoError::InvalidPieceLength { value: 0, reason: "must be positive" });
    assert_eq!(pl(-16384), MetainfoError::InvalidPieceLength { value: -16384, reason: "must be positive" });
    assert_eq!(
        pl(1000),
        MetainfoError::InvalidPieceLength { value: 1000, reason: "not a multiple of 16 KiB" }
    );
    // libtorrent's largest piece: 32767 blocks of 16 KiB (just under 512 MiB).
    let largest = 32767 * 16384i64;
    assert_eq!(parse_info(single_info(10).with("piece length", largest)).unwrap().piece_length, 536_854_528);
    let huge = 512 * 1024 * 1024;
    assert_eq!(
        pl(huge),
        MetainfoError::InvalidPieceLength { value: huge, reason: "larger than 32767 blocks" }
    );
    assert_eq!(
        pl(i64::MAX),
        MetainfoError::InvalidPieceLength { value: i64::MAX, reason: "larger than 32767 blocks" }
    );
    assert!(parse_info(single_info(10).with("piece length", 256 * 1024 * 1024i64)).is_ok());
    assert!(parse_info(single_info(10).with("piece length", 3 * 16384i64)).is_ok());

    assert_eq!(
        parse_info(single_info(10).with("length", -1i64)).unwrap_err(),
        MetainfoError::InvalidLength { key: "info.length".into(), value: -1 }
    );
    assert_eq!(parse_info(single_info(0)).unwrap_err(), MetainfoError::EmptyTorrent);
    assert_eq!(
        parse_info(multi_info(vec![file(&["a"], 0), file(&["b"], 0)], 0)).unwrap_err(),
        MetainfoError::EmptyTorrent
    );
    assert_eq!(parse_info(multi_info(vec![], 0)).unwrap_err(), MetainfoError::NoFiles);
    assert_eq!(
        parse_info(multi_info(vec![file(&["a"], -5)], 0)).unwrap_err(),
        MetainfoError::InvalidLength { key: "info.files[0].length".into(), value: -5 }
    );
    let overflow = vec![file(&["a"], i64::MAX), file(&["b"], i64::MAX), file(&["c"], i64::MAX)];
    assert_eq!(parse_info(multi_info(overflow, 16384)).unwrap_err(), MetainfoError::LengthOverflow);
}

#[test]
fn unsafe_names_are_sanitised_and_never_escape() {
    let single = |name: &str| parse_info(single_info(10).with("name", name)).unwrap().files[0].path.clone();
    assert_eq!(single("../../etc/passwd"), ["....etcpasswd"]);
    assert_eq!(single("/abs"), ["abs"]);
    assert_eq!(single("con"), ["_con"]);
    assert_eq!(single("CON.txt"), ["_CON.txt"]);
    assert_eq!(single("a\0b"), ["ab"]);
    assert_eq!(single("C:\\x"), ["C_x"]);
    assert_eq!(single("dots..."), ["dots"]);
    // A single file needs a name: nothing usable in it is an error.
    assert_eq!(
        parse_info(single_info(10).with("name", "")).unwrap_err(),
        unsafe_path("", "no usable file name")
    );
    assert_eq!(
        parse_info(single_info(10).with("name", "..")).unwrap_err(),
        unsafe_path("..", "no usable file name")
    );
    // The utf-8 name wins over the raw one.
    assert_eq!(parse_info(single_info(10).with("name", "..").with("name.utf-8", "ok")).unwrap().name, "ok");

    let multi = |path: &[&str]| {
        let t = parse_info(multi_info(vec![file(&["ok"], 5), file(path, 5)], 10)).unwrap();
        t.files[1].path.join("/")
    };
    assert_eq!(multi(&["a", "..", "b"]), "dir/a/_/b");
    assert_eq!(multi(&["a/../b"]), "dir/a..b");
    assert_eq!(multi(&["..", "..", "etc", "passwd"]), "dir/_/_/etc/passwd");
    assert_eq!(multi(&["/etc"]), "dir/etc");
    assert_eq!(multi(&["sub", ""]), "dir/sub/_");
    assert_eq!(multi(&["lpt1"]), "dir/_lpt1");
    assert_eq!(multi(&["ok"]), "dir/ok.1");
    assert_eq!(multi(&["OK"]), "dir/OK.1");
    assert_eq!(
        parse_info(multi_info(vec![file(&["ok"], 5), file(&[], 5)], 10)).unwrap_err(),
        unsafe_path("dir", "empty path")
    );
    // A multi-file name with nothing usable in it becomes the info hash, as in libtorrent.
    let t = parse_info(multi_info(vec![file(&["x"], 5)], 5).with("name", "..")).unwrap();
    assert_eq!(t.name, t.info_hash.to_hex());
    assert_eq!(t.files[0].path, [t.info_hash.to_hex(), "x".into()]);
}

#[test]
fn deep_paths_are_refused_in_bounded_time_and_memory() {
    // 30,000 one-byte components: about 90 KB of torrent. Cloning every prefix of it into a
    // set (the old duplicate check) took 30,000 * 15,000 strings: gigabytes.
    let deep = vec!["a"; 30_000];
    let info = multi_info(vec![file(&deep, 5)], 5);
    assert!(torrent(info.clone()).len() > 90_000);
    assert_eq!(
        parse_info(info).unwrap_err(),
        MetainfoError::PathTooDeep {
            index: 0,
            key: "path",
            components: 30_000,
            limit: crate::MAX_PATH_COMPONENTS
        }
    );
    let deepest = vec!["a"; crate::MAX_PATH_COMPONENTS];
    assert_eq!(parse_info(multi_info(vec![file(&deepest, 5)], 5)).unwrap().files[0].path.len(), 101);
    // A huge component is cut rather than kept whole.
    let long = "x".repeat(100_000);
    let t = parse_info(multi_info(vec![file(&[&long], 5)], 5)).unwrap();
    assert_eq!(t.files[0].path[1].len(), 240);
}

#[test]
fn many_files_sharing_deep_folders_are_checked_in_linear_time() {
    // 2,000 files under the same 99 folders: every prefix as a set entry would be 200,000
    // cloned paths; the folder tree holds 99 nodes.
    let folders = vec!["d"; crate::MAX_PATH_COMPONENTS - 1];
    let files: Vec<OwnedValue> = (0..2_000)
        .map(|i| {
            let name = format!("f{i}");
            let mut path = folders.clone();
            path.push(&name);
            file(&path, 1)
        })
        .collect();
    let t = parse_info(multi_info(files, 2_000)).unwrap();
    assert_eq!(t.files.len(), 2_000);
    assert_eq!(t.files[1_999].path.last().map(String::as_str), Some("f1999"));
}

#[test]
fn a_file_named_like_a_folder_is_renamed() {
    let both = |a: &[&str], b: &[&str]| {
        let t = parse_info(multi_info(vec![file(a, 5), file(b, 5)], 10)).unwrap();
        t.files.iter().map(|f| f.path.join("/")).collect::<Vec<_>>()
    };
    assert_eq!(both(&["a"], &["a", "b"]), ["dir/a.1", "dir/a/b"]);
    assert_eq!(both(&["a", "b"], &["a"]), ["dir/a/b", "dir/a.1"]);
    assert_eq!(both(&["a", "b"], &["a", "c"]), ["dir/a/b", "dir/a/c"]);
}

#[test]
fn error_messages_name_the_problem() {
    let e = parse_info(multi_info(vec![file(&["x"; 101], 5)], 5)).unwrap_err();
    assert_eq!(e.to_string(), "info.files[0].path has 101 components, more than the 100 allowed");
    assert_eq!(
        MetainfoError::MissingKey("info.piece length".into()).to_string(),
        "missing key \"info.piece length\""
    );
}

fn valid_torrent() -> Vec<u8> {
    let files = vec![file(&["a"], 20000), file(&[".pad", "1"], 100).with("attr", "p"), file(&["b", "c"], 3)];
    torrent(multi_info(files, 20103))
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Torrent::from_bytes(&bytes);
    }

    #[test]
    fn mutated_torrents_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = valid_torrent();
        for (i, b) in edits {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        let _ = Torrent::from_bytes(&bytes);
        let _ = Torrent::from_bytes(&bytes[..cut.index(bytes.len())]);
    }
}

#[test]
fn every_truncation_of_a_valid_torrent_is_an_error() {
    let bytes = valid_torrent();
    assert!(Torrent::from_bytes(&bytes).is_ok());
    for cut in 0..bytes.len() {
        assert!(Torrent::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn oversize_torrent_is_refused_naming_the_limit() {
    let mut bytes = valid_torrent();
    bytes.resize(crate::MAX_TORRENT_FILE_SIZE + 1, b'\n');
    let err = Torrent::from_file_bytes(&bytes).unwrap_err();
    assert_eq!(err, MetainfoError::TooLarge { limit: crate::MAX_TORRENT_FILE_SIZE });
    // At the limit it parses (the padding is trailing bytes after the dictionary).
    bytes.pop();
    assert!(Torrent::from_file_bytes(&bytes).is_ok());
    assert_eq!(err.to_string(), "torrent file is larger than 10000000 bytes, the most ccbt reads");
}

#[test]
fn bytes_after_the_top_level_dictionary_are_ignored() {
    // Some web servers append a newline; libtorrent ignores whatever follows the dictionary.
    let plain = Torrent::from_bytes(&valid_torrent()).unwrap();
    for tail in [&b"\n"[..], b"\r\n", b"garbage"] {
        let mut bytes = valid_torrent();
        bytes.extend_from_slice(tail);
        assert_eq!(Torrent::from_bytes(&bytes).unwrap(), plain, "{tail:?}");
    }
}
