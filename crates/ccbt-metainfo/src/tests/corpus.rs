//! libtorrent's corpus of v1 test torrents (`test/test_torrents` in arvidn/libtorrent, with the
//! expectations of `test/test_torrent_info.cpp`), rebuilt here with the bencode encoder rather
//! than vendored: ccbt opens every torrent libtorrent opens, with the same sanitised names, and
//! refuses every one it refuses. Each test is named after the corpus file it reproduces.
//!
//! Where ccbt deliberately differs, the test says so: names follow libtorrent's Windows rules on
//! every platform (`foobar ` → `foobar`), and a padding file without a path is placed under the
//! torrent's folder (`temp/.pad/2124`, libtorrent: `.pad/2124`); it is never stored either way.

use ccbt_bencode::OwnedValue;

use crate::{MetainfoError, Torrent};

const PIECE: i64 = 16384;

fn bytes(b: &[u8]) -> OwnedValue {
    OwnedValue::bytes(b.to_vec())
}

fn path(components: &[&[u8]]) -> OwnedValue {
    OwnedValue::List(components.iter().map(|c| bytes(c)).collect())
}

fn file(components: &[&[u8]], length: i64) -> OwnedValue {
    OwnedValue::dict().with("length", length).with("path", path(components))
}

fn pieces(total: i64, piece: i64) -> Vec<u8> {
    vec![0xab; 20 * usize::try_from((total + piece - 1) / piece).unwrap()]
}

fn multi(name: &[u8], files: Vec<OwnedValue>, total: i64) -> OwnedValue {
    OwnedValue::dict()
        .with("name", bytes(name))
        .with("files", files)
        .with("piece length", PIECE)
        .with("pieces", pieces(total, PIECE))
}

fn single(name: &[u8], length: i64) -> OwnedValue {
    OwnedValue::dict()
        .with("name", bytes(name))
        .with("length", length)
        .with("piece length", PIECE)
        .with("pieces", pieces(length.max(1), PIECE))
}

/// The wrapper libtorrent's test torrents share.
fn wrap(info: OwnedValue) -> OwnedValue {
    OwnedValue::dict()
        .with("created by", "libtorrent")
        .with("creation date", 1_359_599_503i64)
        .with("info", info)
}

fn open(top: OwnedValue) -> Torrent {
    Torrent::from_bytes(&top.to_bytes()).unwrap()
}

fn refuse(top: OwnedValue) -> MetainfoError {
    Torrent::from_bytes(&top.to_bytes()).unwrap_err()
}

fn paths(t: &Torrent) -> Vec<String> {
    t.files.iter().map(|f| f.path.join("/")).collect()
}

fn multi_paths(files: Vec<OwnedValue>) -> Vec<String> {
    let total = files.len() as i64 * 425;
    let files = files.into_iter().map(|f| f.with("length", 425i64)).collect();
    paths(&open(wrap(multi(b"temp", files, total))))
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn plain_torrents_open() {
    // base, unordered (ccbt accepts unsorted keys), similar, similar2, collection, collection2,
    // dht_nodes, httpseed, empty_httpseed: keys ccbt does not use are ignored.
    let base = open(wrap(single(b"temp", 425)));
    assert_eq!(paths(&base), ["temp"]);
    let extras = [
        ("similar", OwnedValue::list([bytes(b"aaaaaaaaaaaaaaaaaaaa")])),
        ("collections", OwnedValue::list(["bar", "foo"])),
        ("nodes", OwnedValue::list([OwnedValue::list([OwnedValue::from("127.0.0.1"), 6881i64.into()])])),
        ("httpseeds", OwnedValue::list(["http://foobar.com/"])),
        ("httpseeds", OwnedValue::list([""])),
    ];
    for (key, value) in extras {
        let outside = open(wrap(single(b"temp", 425)).with(key, value.clone()));
        assert_eq!(outside.info_hash, base.info_hash, "{key}");
        let inside = open(wrap(single(b"temp", 425).with(key, value)));
        assert_eq!(paths(&inside), ["temp"], "{key}");
    }
    let unordered =
        b"d4:infod6:lengthi425e4:name4:temp6:pieces20:aaaaaaaaaaaaaaaaaaaa12:piece lengthi16384eee";
    assert_eq!(paths(&Torrent::from_bytes(unordered).unwrap()), ["temp"]);
}

#[test]
fn creation_date_and_no_creation_date() {
    let dated = open(wrap(single(b"temp", 425)).with("creation date", 1_234_567i64));
    assert_eq!(dated.creation_date, Some(1_234_567));
    let undated = OwnedValue::dict().with("created by", "libtorrent").with("info", single(b"temp", 425));
    assert_eq!(open(undated).creation_date, None);
}

#[test]
fn url_lists() {
    // url_list, url_list2, url_list3: empty or ill-typed entries are dropped, not fatal.
    for list in
        [OwnedValue::list([""]), OwnedValue::list([OwnedValue::list([""])]), OwnedValue::list([-20i64])]
    {
        assert!(open(wrap(single(b"temp", 425)).with("url-list", list)).url_list.is_empty());
    }
    // url_seed, url_seed_multi, url_seed_multi_single_file: kept as given.
    let t = open(wrap(single(b"temp", 425)).with("url-list", OwnedValue::list(["http://test.com/file"])));
    assert_eq!(t.url_list, ["http://test.com/file"]);
    let two = vec![file(&[b"foo", b"bar.txt"], 425), file(&[b"foo", b"var.txt"], 425)];
    let seed = OwnedValue::list(["http://test.com/file/temp/foo/bar.txt"]);
    let t = open(wrap(multi(b"temp", two.clone(), 850)).with("url-list", seed));
    assert_eq!(t.url_list, ["http://test.com/file/temp/foo/bar.txt"]);
    // url_seed_multi_space, url_seed_multi_space_nolist: a list or a lone string.
    let spaced = "http://test.com/test file/foo bar";
    let t = open(wrap(multi(b"temp", two.clone(), 850)).with("url-list", OwnedValue::list([spaced])));
    assert_eq!(t.url_list, [spaced]);
    let t = open(wrap(multi(b"temp", two, 850)).with("url-list", spaced));
    assert_eq!(t.url_list, [spaced]);
    // duplicate_web_seeds: 8 URLs, 3 distinct.
    let urls =
        ["foo", "foo", "foo", "foobar", "foo", "foo", "foo", "bar"].map(|u| format!("http://foobar.com/{u}"));
    let t = open(wrap(single(b"temp", 425)).with("url-list", OwnedValue::list(urls)));
    assert_eq!(t.url_list.len(), 3);
}

#[test]
fn whitespace_url() {
    let t = open(wrap(single(b"temp", 425)).with("announce", "\t udp://test.com/announce"));
    assert_eq!(t.trackers, [strings(&["udp://test.com/announce"])]);
}

#[test]
fn odd_components_are_sanitised() {
    // single_multi_file, empty_path, parent_path, hidden_parent_path, slash_path, slash_path2,
    // backslash_path, absolute_filename (a leading slash is dropped).
    let cases: [(&[&[u8]], &str); 8] = [
        (&[b"foo", b"bar"], "temp/foo/bar"),
        (&[b"", b""], "temp/_/_"),
        (&[b"..", b"..", b"bar"], "temp/_/_/bar"),
        (&[b"foo/../../../bar", b"bar"], "temp/foo......bar/bar"),
        (&[b"/", b"/", b"bar"], "temp/_/_/bar"),
        (&[b"abc/../../def", b"/", b"bar"], "temp/abc....def/_/bar"),
        (&[b"\\", b"\\", b"bar"], "temp/_/_/bar"),
        (&[b"/foobar"], "temp/foobar"),
    ];
    for (components, want) in cases {
        assert_eq!(multi_paths(vec![file(components, 0)]), [want], "{components:?}");
    }
    let absolute = vec![file(&[b"abcde"], 0), file(&[b"/foobar"], 0)];
    assert_eq!(multi_paths(absolute), ["temp/abcde", "temp/foobar"]);
}

#[test]
fn slash_path3() {
    let t = open(wrap(single(b"temp/../../abc", 12432)));
    assert_eq!(t.name, "temp....abc");
    assert_eq!(paths(&t), ["temp....abc"]);
}

#[test]
fn long_name() {
    let raw = format!("{}abcdefghij0.23456789", "abcdefghij0123456789".repeat(14));
    assert_eq!(raw.len(), 300);
    let t = open(wrap(single(raw.as_bytes(), 425)));
    assert_eq!(t.name, format!("{}.23456789", "abcdefghij0123456789".repeat(12)));
}

#[test]
fn invalid_names_of_the_torrent() {
    // invalid_name2: `..` leaves nothing, so the folder is named after the info hash.
    let two = vec![file(&[b"foo", b"bar.txt"], 425), file(&[b"foo", b"var.txt"], 425)];
    let t = open(wrap(multi(b"..", two.clone(), 850)));
    assert_eq!(t.name, t.info_hash.to_hex());
    assert_eq!(t.files[0].path, [t.info_hash.to_hex(), "foo".into(), "bar.txt".into()]);
    // invalid_name3: libtorrent keeps the trailing space except on Windows; ccbt applies the
    // Windows rule everywhere.
    assert_eq!(open(wrap(multi(b"foobar ", two, 850))).name, "foobar");
    // invalid_filename: a leading backslash is dropped, `.` becomes `_`.
    let files = vec![file(&[b"f"], 51200), file(&[b"."], 14336)];
    assert_eq!(paths(&open(wrap(multi(b"\\est2", files, 65536)))), ["est2/f", "est2/_"]);
}

#[test]
fn colliding_paths_are_renamed() {
    // duplicate_files
    let dup = vec![file(&[b"foo", b"bar.txt"], 0), file(&[b"foo", b"bar.txt"], 0)];
    assert_eq!(multi_paths(dup), ["temp/foo/bar.txt", "temp/foo/bar.1.txt"]);
    // empty_path_multi
    let empty = vec![file(&[b"abcde"], 0), file(&[b""], 0), file(&[b""], 0)];
    assert_eq!(multi_paths(empty), ["temp/abcde", "temp/_", "temp/_.1"]);
    // invalid_filename2
    let files = vec![file(&[b"f"], 51200), file(&[b".", b"."], 14335), file(&[b"/", b"."], 1)];
    assert_eq!(paths(&open(wrap(multi(b"\\est2", files, 65536)))), ["est2/f", "est2/_/_", "est2/_/_.1"]);
    // invalid_directory_name
    let files = vec![file(&[b"/", b"foo"], 51200), file(&[b"\\", b"foo"], 14336)];
    assert_eq!(paths(&open(wrap(multi(b"test2", files, 65536)))), ["test2/_/foo", "test2/_/foo.1"]);
}

#[test]
fn duplicate_files2_has_too_many_collisions() {
    let files: Vec<_> = (0..120).map(|i| file(&[b"foo", b"bar.txt"], 4 + i % 2)).collect();
    let total = (0..120).map(|i| 4 + i % 2).sum();
    assert!(matches!(
        refuse(OwnedValue::dict().with("info", multi(b"temp", files, total))),
        MetainfoError::TooManyDuplicateNames { .. }
    ));
}

#[test]
fn pad_files() {
    // pad_file: BitComet's name marks a padding file.
    let files = vec![file(&[b"foo", b"bar.txt"], 45), file(&[b"_____padding_file_"], 2124)];
    let t = open(wrap(multi(b"temp", files, 2169)));
    assert_eq!(t.files.iter().map(|f| f.is_padding).collect::<Vec<_>>(), [false, true]);
    // pad_file_no_path
    let pad = OwnedValue::dict().with("attr", "p").with("length", 2124i64);
    let t = open(wrap(multi(b"temp", vec![file(&[b"foo", b"bar.txt"], 45), pad], 2169)));
    assert_eq!(paths(&t), ["temp/foo/bar.txt", "temp/.pad/2124"]);
    assert!(t.files[1].is_padding);
    // sample: an attributed padding file between two files.
    let pad = file(&[b".____padding_file", b"0"], 16359).with("attr", "p");
    let files = vec![file(&[b"text_file2.txt"], 25), pad, file(&[b"text_file.txt"], 20)];
    let t = open(wrap(multi(b"sample", files, 16404)));
    assert_eq!(t.files.iter().map(|f| f.is_padding).collect::<Vec<_>>(), [false, true, false]);
}

fn symlink(components: &[&[u8]], target: &[&[u8]]) -> OwnedValue {
    OwnedValue::dict().with("attr", "l").with("path", path(components)).with("symlink path", path(target))
}

#[test]
fn symlinks() {
    // symlink1: the symlink's length (425) is ignored, it holds no data.
    let files = vec![
        file(&[b"a", b"b", b"bar"], 425),
        symlink(&[b"a", b"b", b"foo"], &[b"a", b"b", b"bar"]).with("length", 425i64),
    ];
    let t = open(wrap(multi(b"temp", files, 425)));
    assert_eq!(t.files.len(), 2);
    assert_eq!(t.files[1].length, 0);
    assert_eq!(t.files[1].symlink, Some(strings(&["temp", "a", "b", "bar"])));
    // symlink_zero_size: no length at all.
    let files = vec![file(&[b"a", b"b", b"bar"], 425), symlink(&[b"a", b"b", b"foo"], &[b"a", b"b", b"bar"])];
    let t = open(wrap(multi(b"temp", files, 425)));
    assert_eq!(t.files[1].symlink, Some(strings(&["temp", "a", "b", "bar"])));
    // symlink_filtered_path: targets are sanitised like paths, so they still match.
    let files = vec![file(&[b"a", b"/", b"bar"], 32), symlink(&[b"a", b"/", b"foo"], &[b"a", b"/", b"bar"])];
    let t = open(wrap(multi(b"temp", files, 32)));
    assert_eq!(paths(&t), ["temp/a/_/bar", "temp/a/_/foo"]);
    assert_eq!(t.files[1].symlink, Some(strings(&["temp", "a", "_", "bar"])));
    // Without a `symlink path` the entry is an ordinary empty file (libtorrent does the same).
    let bare = OwnedValue::dict().with("attr", "l").with("length", 9i64).with("path", path(&[b"x"]));
    let t = open(wrap(multi(b"temp", vec![file(&[b"a"], 5), bare], 5)));
    assert_eq!((t.files[1].length, t.files[1].symlink.as_ref()), (0, None));
}

#[test]
fn symlink2_and_overlapping_symlinks() {
    let files = vec![
        symlink(&[b"SDL2"], &[b"Versions", b"A", b"SDL2"]).with("attr", "xl"),
        file(&[b"Versions", b"A", b"_CodeSignature", b"CodeResources"], 2514),
        file(&[b"Versions", b"A", b"Resources", b"Info.plist"], 1310),
        file(&[b"Versions", b"A", b"SDL2"], 0),
        symlink(&[b"Versions", b"Current"], &[b"A"]).with("attr", "xl"),
    ];
    let t = open(
        OwnedValue::dict()
            .with("comment", "Symlinks test")
            .with("info", multi(b"Some.framework", files, 3824)),
    );
    assert_eq!(t.files.len(), 5);
    assert_eq!(t.files[0].symlink, Some(strings(&["Some.framework", "Versions", "A", "SDL2"])));
    // `A` is not in the torrent's root: libtorrent resolves it next to the link.
    assert_eq!(t.files[4].symlink, Some(strings(&["Some.framework", "Versions", "A"])));

    let link = |name: &[u8]| symlink(&[name], &[b"Versions", b"Current", name]).with("attr", "xl");
    let files = vec![
        link(b"Headers"),
        link(b"Resources"),
        link(b"SDL2"),
        file(&[b"Versions", b"A", b"Headers", b"begin_code.h"], 4731),
        file(&[b"Versions", b"A", b"Headers", b"close_code.h"], 1392),
        file(&[b"Versions", b"A", b"Resources", b"Info.plist"], 100),
        file(&[b"Versions", b"A", b"SDL2"], 1000).with("attr", "x"),
        symlink(&[b"Versions", b"Current"], &[b"A"]).with("attr", "xl"),
    ];
    let t = open(wrap(multi(b"SDL2.framework", files, 7223)));
    assert!(t.files.len() > 3);
    assert_eq!(t.files[0].symlink, Some(strings(&["SDL2.framework", "Versions", "Current", "Headers"])));
    assert_eq!(t.files[2].symlink, Some(strings(&["SDL2.framework", "Versions", "Current", "SDL2"])));
    assert_eq!(t.files[7].symlink, Some(strings(&["SDL2.framework", "Versions", "A"])));
    // A target naming nothing in the torrent points to the link itself.
    let files = vec![file(&[b"a"], 5), symlink(&[b"l"], &[b"nowhere"])];
    let t = open(wrap(multi(b"t", files, 5)));
    assert_eq!(t.files[1].symlink, Some(strings(&["t", "l"])));
}

#[test]
fn large_and_large_piece_size() {
    let files = vec![file(&[b"stress_test0"], 5_242_880_000)];
    let info = multi(b"large", files, 0)
        .with("piece length", 1_048_576i64)
        .with("pieces", pieces(5_242_880_000, 1_048_576));
    assert_eq!(open(wrap(info)).num_pieces(), 5000);
    let largest = 32767 * PIECE;
    let t = open(wrap(single(b"temp", 425).with("piece length", largest)));
    assert_eq!(i64::from(t.piece_length), largest);
}

#[test]
fn trailing_newline_after_the_dictionary() {
    // duplicate_files2 and large_piece_size end in a newline, as some web servers add.
    let mut bytes = wrap(single(b"temp", 425)).to_bytes();
    bytes.push(b'\n');
    assert_eq!(paths(&Torrent::from_bytes(&bytes).unwrap()), ["temp"]);
}

#[test]
fn refused_as_libtorrent_refuses() {
    let two = || vec![file(&[b"foo", b"bar.txt"], 425), file(&[b"foo", b"var.txt"], 425)];
    let without = |info: OwnedValue, key: &[u8]| match info {
        OwnedValue::Dict(mut m) => {
            m.remove(key);
            OwnedValue::Dict(m)
        }
        v => v,
    };
    let refused = [
        ("missing_piece_len", wrap(without(multi(b"temp", two(), 850), b"piece length"))),
        ("invalid_piece_len", wrap(multi(b"temp", two(), 850).with("piece length", "16384"))),
        ("negative_piece_len", wrap(multi(b"temp", two(), 850).with("piece length", -16384i64))),
        ("no_name", wrap(without(multi(b"temp", two(), 850), b"name"))),
        ("bad_name", wrap(single(b"\0\0\0\0", 425).with("path", OwnedValue::list(["fxt"])))),
        ("invalid_name", wrap(multi(b"temp", two(), 850).with("name", 1348i64))),
        ("invalid_info", wrap(OwnedValue::from("files"))),
        ("string", OwnedValue::from("libtorrent")),
        ("negative_size", wrap(single(b"temp", 425).with("length", -425i64))),
        (
            "negative_file_size",
            wrap(multi(
                b"temp",
                vec![file(&[b"foo", b"bar.txt"], -45), file(&[b"foo", b"var.txt"], 24124)],
                24124,
            )),
        ),
        (
            "invalid_path_list",
            wrap(multi(
                b"temp",
                vec![file(&[b"foo"], 425)
                    .with("path", OwnedValue::list([OwnedValue::from(1242i64), "foo".into()]))],
                425,
            )),
        ),
        (
            "missing_path_list",
            wrap(multi(
                b"temp",
                vec![OwnedValue::dict().with("length", 425i64), file(&[b"foo", b"var.txt"], 425)],
                850,
            )),
        ),
        ("invalid_pieces", wrap(multi(b"temp", two(), 850).with("pieces", -23i64))),
        ("unaligned_pieces", wrap(multi(b"temp", two(), 850).with("pieces", vec![0u8; 24]))),
        (
            "invalid_file_size",
            wrap(multi(
                b"temp",
                vec![
                    file(&[b"foo", b"bar.txt"], 0).with("length", OwnedValue::list([45i64])),
                    file(&[b"foo", b"var.txt"], 24124),
                ],
                24124,
            )),
        ),
        (
            "invalid_symlink",
            wrap(multi(
                b"temp",
                vec![
                    file(&[b"a", b"b", b"bar"], 0),
                    OwnedValue::dict().with("attr", "l").with("length", 425i64).with(
                        "path",
                        OwnedValue::list([
                            bytes(b"a"),
                            OwnedValue::list([OwnedValue::from("foo"), 4i64.into()]),
                        ]),
                    ),
                ],
                425,
            )),
        ),
        ("many_pieces", wrap(single(b"temp", 425).with("length", 1_759_218_597_889i64))),
        ("no_files", wrap(multi(b"temp", vec![], 0))),
        ("zero", wrap(single(b"temp", 0).with("pieces", Vec::<u8>::new()))),
        (
            "zero2",
            wrap(multi(
                b"sample",
                vec![
                    file(&[b"text_file2.txt"], 0),
                    file(&[b".____padding_file", b"0"], 0).with("attr", "p"),
                    file(&[b"text_file.txt"], 0),
                ],
                0,
            )),
        ),
    ];
    for (name, top) in refused {
        assert!(Torrent::from_bytes(&top.to_bytes()).is_err(), "{name} should be refused");
    }
    // v2_deep_recursion: nesting deeper than the decoder allows.
    let deep = format!("d4:info{}de{}e", "d1:a".repeat(1000), "e".repeat(1000));
    assert!(matches!(Torrent::from_bytes(deep.as_bytes()), Err(MetainfoError::Bencode(_))));
}
