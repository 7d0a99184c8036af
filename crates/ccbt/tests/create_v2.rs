//! `ccbt create --v2` and `--hybrid` (BEP 52) against libtorrent 2: libtorrent loads the
//! torrents ccbt makes and finds the info hashes ccbt prints, and libtorrent's own creator
//! makes the same info dictionary (same info hashes) and the same piece layers for the same
//! content and piece size.

mod support;

use std::path::Path;

use support::v2::{lt_make, lt_view, Format};
use support::{ccbt_create, interop, run_with_timeout, work_dir, write_file, write_tree, Tool, SETUP};

/// Odd sizes, empty files (one of them last), a file of exactly two pieces, nested folders, a
/// folder whose name is a prefix of a file's (`sub`, `sub.txt`) and names that sort
/// differently with and without case (`B.bin`).
const LAYOUT: &[(&str, u64)] = &[
    ("a.bin", 1_000_003),
    ("B.bin", 70_000),
    ("empty.txt", 0),
    ("exact.bin", 65_536),
    ("sub/b.bin", 16_385),
    ("sub/deeper/c.bin", 300_007),
    ("sub/deeper/tiny", 1),
    ("sub.txt", 3),
    ("z.bin", 40_000),
    ("zz-empty", 0),
];

/// The info hashes `ccbt create` printed: (v1, v2).
fn printed_hashes(stdout: &str) -> (Option<String>, Option<String>) {
    let field = |label: &str| {
        stdout.lines().find_map(|l| l.strip_prefix(label)).map(|v| v.trim().to_owned())
    };
    let v1 = field("info hash v1:").or_else(|| field("info hash:"));
    (v1, field("info hash v2:"))
}

/// Makes a torrent of `content` with ccbt and with libtorrent in `format`, and checks that
/// libtorrent reads ours with the hashes ccbt printed, and that both are the same torrent.
fn same_as_libtorrent(work: &Path, name: &str, content: &Path, piece: u32, format: Format) {
    let ours = work.join(format!("{name}-ccbt.torrent"));
    let flag = format.ccbt_flag().expect("a v2 format");
    let stdout = ccbt_create(content, &ours, piece, &[flag, "-q"]);
    let (v1, v2) = printed_hashes(&stdout);
    assert_eq!(v1.is_some(), format == Format::Hybrid, "v1 hash line for {format:?}:\n{stdout}");
    assert_eq!(v2.as_ref().map(String::len), Some(64), "v2 hash line for {format:?}:\n{stdout}");

    let view = lt_view(&ours);
    assert_eq!((&view.v1, &view.v2), (&v1, &v2), "libtorrent reads other hashes than ccbt printed");

    let theirs = work.join(format!("{name}-lt.torrent"));
    lt_make(content, &theirs, piece, format);
    let lt = lt_view(&theirs);
    // Equal info hashes mean byte-identical info dictionaries (file tree, pad files, pieces);
    // the piece layers live outside the info dictionary and are compared on their own.
    assert_eq!(view, lt, "{name} ({format:?}): ccbt's torrent differs from libtorrent's");
    assert!(view.piece_layers.is_some(), "no piece layers");
}

#[test]
fn multi_file_v2_and_hybrid_match_libtorrent() {
    if !interop("multi_file_v2_and_hybrid_match_libtorrent", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = write_tree(&w.join("src/album"), LAYOUT, 52);
    for piece in [16 * 1024, 64 * 1024] {
        for format in [Format::V2, Format::Hybrid] {
            same_as_libtorrent(w, &format!("album-{piece}-{format:?}"), &content, piece, format);
        }
    }
    // A folder of one file is still a multi-file torrent (a `files` list), without a pad file.
    let one = w.join("src/one");
    write_file(&one.join("only.bin"), 7, 50_001);
    for format in [Format::V2, Format::Hybrid] {
        same_as_libtorrent(w, &format!("one-{format:?}"), &one, 16 * 1024, format);
    }
}

#[test]
fn single_file_v2_and_hybrid_match_libtorrent() {
    if !interop("single_file_v2_and_hybrid_match_libtorrent", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    // Several pieces with a short last one; and a file smaller than its piece, whose root
    // spans only its own 2 leaves.
    let big = w.join("src/movie.mkv");
    write_file(&big, 1, 100_003);
    let small = w.join("src/note.txt");
    write_file(&small, 2, 20_000);
    for format in [Format::V2, Format::Hybrid] {
        same_as_libtorrent(w, &format!("movie-{format:?}"), &big, 16 * 1024, format);
        same_as_libtorrent(w, &format!("note-{format:?}"), &small, 64 * 1024, format);
    }
}

#[test]
fn v2_refuses_a_piece_size_that_is_not_a_power_of_two() {
    let work = work_dir();
    let w = work.path();
    let content = write_tree(&w.join("src/data"), &[("a.bin", 100_000)], 3);
    let out = w.join("x.torrent");
    for format in ["--v2", "--hybrid"] {
        let mut cmd = support::ccbt();
        cmd.arg("create").arg(&content).arg("-o").arg(&out).args([format, "--piece-size", "48KiB"]);
        let done = run_with_timeout("create-48k", &mut cmd, w, SETUP);
        assert!(!done.success(), "{}", done.describe());
        assert!(done.stderr.contains("piece size 49152 is not a power of two"), "{}", done.describe());
        assert!(done.stderr.contains("BEP 52"), "{}", done.describe());
        assert!(!out.exists(), "a torrent was written");
    }
    // Both formats at once is a usage error.
    let mut cmd = support::ccbt();
    cmd.arg("create").arg(&content).arg("-o").arg(&out).args(["--v2", "--hybrid"]);
    let done = run_with_timeout("create-both", &mut cmd, w, SETUP);
    assert_eq!(done.code(), Some(2), "{}", done.describe());
    assert!(done.stderr.contains("cannot be used with"), "{}", done.describe());
}
