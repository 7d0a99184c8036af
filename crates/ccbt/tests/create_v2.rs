//! `ccbt create --v2` and `--hybrid` (BEP 52) against libtorrent 2: libtorrent loads the
//! torrents ccbt makes and finds the info hashes ccbt prints, and libtorrent's own creator
//! makes the same info dictionary (same info hashes) and the same piece layers for the same
//! content and piece size.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use support::v2::{lt_roots, lt_view, Format};
use support::{
    ccbt_create, info_field, interop, lt_make_torrent, run_with_timeout, work_dir, write_file, write_tree,
    Kind, Tool, SETUP,
};

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
    let field = |label: &str| stdout.lines().find_map(|l| l.strip_prefix(label)).map(|v| v.trim().to_owned());
    let v1 = field("info hash v1:").or_else(|| field("info hash:"));
    (v1, field("info hash v2:"))
}

/// Makes a torrent of `content` with ccbt and with libtorrent in `format`, and checks that
/// libtorrent reads ours with the hashes ccbt printed, and that both are the same torrent.
fn same_as_libtorrent(work: &Path, name: &str, content: &Path, piece: u32, format: Format) {
    let ours = work.join(format!("{name}-ccbt.torrent"));
    let args: Vec<&str> = format.ccbt_flag().into_iter().chain(["-q"]).collect();
    let stdout = ccbt_create(content, &ours, piece, &args);
    let (v1, v2) = printed_hashes(&stdout);
    assert_eq!(v1.is_some(), format != Format::V2, "v1 hash line for {format:?}:\n{stdout}");
    let v2_len = (format != Format::V1).then_some(64);
    assert_eq!(v2.as_ref().map(String::len), v2_len, "v2 hash line for {format:?}:\n{stdout}");

    let view = lt_view(&ours);
    assert_eq!((&view.v1, &view.v2), (&v1, &v2), "libtorrent reads other hashes than ccbt printed");

    let theirs = work.join(format!("{name}-lt.torrent"));
    lt_make_torrent(content, &theirs, piece, format.lt_kind());
    let lt = lt_view(&theirs);
    // Equal info hashes mean byte-identical info dictionaries (file tree, pad files, pieces);
    // the piece layers live outside the info dictionary and are compared on their own.
    assert_eq!(view, lt, "{name} ({format:?}): ccbt's torrent differs from libtorrent's");
    assert_eq!(view.piece_layers.is_some(), format != Format::V1, "piece layers");

    // `ccbt info` reads the v2 facts back: format, both hashes, and the same pieces roots.
    let info = ccbt_info_with(&ours, &["--pieces-roots", "--all-files"]);
    let version = match format {
        Format::V1 => "v1",
        Format::V2 => "v2",
        Format::Hybrid => "hybrid",
    };
    assert_eq!(info_field(&info, "version:"), version);
    assert_eq!(info.lines().find_map(|l| l.strip_prefix("info hash v2:")).map(|h| h.trim().to_owned()), v2);
    let expected_id = v1.unwrap_or_else(|| v2.unwrap_or_default()[..40].to_owned());
    assert_eq!(info_field(&info, "info hash:"), expected_id);
    assert_eq!(info_roots(&info), lt_roots(&ours), "pieces roots in\n{info}");
}

/// `path root` pairs from `ccbt info --pieces-roots` (a root is listed under its file).
fn info_roots(info: &str) -> Vec<String> {
    let mut roots = Vec::new();
    let mut path = "";
    for line in info.lines() {
        match line.trim().strip_prefix("pieces root ") {
            Some(root) => roots.push(format!("{path} {root}")),
            None => path = line.split("  ").last().unwrap_or_default().trim(),
        }
    }
    roots
}

fn ccbt_info_with(torrent: &Path, args: &[&str]) -> String {
    let mut cmd = support::ccbt();
    cmd.arg("info").arg(torrent).args(args);
    let done = run_with_timeout("ccbt-info", &mut cmd, torrent.parent().expect("folder"), SETUP);
    done.assert_success("ccbt info");
    done.stdout
}

#[test]
fn multi_file_v2_and_hybrid_match_libtorrent() {
    if !interop("multi_file_v2_and_hybrid_match_libtorrent", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = write_tree(&w.join("src/album"), LAYOUT, 52);
    // libtorrent marks files with the owner's execute bit (`attr` `x`); so must ccbt.
    for exe in ["B.bin", "sub/deeper/tiny"] {
        std::fs::set_permissions(content.join(exe), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // (Not v1: libtorrent's v1-only creator lists files in directory order, ccbt sorts them.)
    for piece in [16 * 1024, 64 * 1024] {
        for format in [Format::V2, Format::Hybrid] {
            same_as_libtorrent(w, &format!("album-{piece}-{format:?}"), &content, piece, format);
        }
    }
    // A folder of one file: a hybrid keeps the folder (a `files` list, without a pad file).
    let one = w.join("src/one");
    write_file(&one.join("only.bin"), 7, 50_001);
    same_as_libtorrent(w, "one-hybrid", &one, 16 * 1024, Format::Hybrid);
}

#[test]
fn v2_of_a_folder_with_one_file_is_a_torrent_of_the_file() {
    if !interop("v2_of_a_folder_with_one_file_is_a_torrent_of_the_file", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let one = w.join("src/one");
    write_file(&one.join("only.bin"), 7, 50_001);
    // A v2 file tree holding one file at its root is a single-file torrent: libtorrent calls
    // the file by its key in the tree and ignores `name` ("one"), so its creator's torrent of
    // the folder would download as `only.bin`, not `one/only.bin`. ccbt makes the torrent of
    // the file instead, which is what libtorrent makes of the file itself.
    let ours = w.join("one-ccbt.torrent");
    let mut cmd = support::ccbt();
    cmd.arg("create").arg(&one).arg("-o").arg(&ours).args(["--v2", "--piece-size", "16KiB", "-q"]);
    let done = run_with_timeout("create-one", &mut cmd, w, SETUP);
    done.assert_success("ccbt create --v2 of a folder of one file");
    assert!(done.stderr.contains("making a torrent of only.bin"), "{}", done.describe());
    let theirs = w.join("one-lt.torrent");
    lt_make_torrent(&one.join("only.bin"), &theirs, 16 * 1024, Kind::V2);
    let view = lt_view(&ours);
    assert_eq!(view.v2, printed_hashes(&done.stdout).1);
    assert_eq!(view, lt_view(&theirs));
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
    std::fs::set_permissions(&small, std::fs::Permissions::from_mode(0o700)).unwrap();
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
