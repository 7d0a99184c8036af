//! `ccbt verify` on BitTorrent v2 and hybrid torrents made by libtorrent: intact data passes,
//! and one flipped byte (in a multi-piece file's partial last leaf, in a file shorter than a
//! piece, in the middle of a file) is reported as exactly the piece libtorrent maps it to. A v2
//! torrent stripped of its piece layers is refused with the files it cannot check.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{
    ccbt, interop, interop_dir, run_with_timeout, work_dir, write_tree, Finished, Tool, LT_PYTHON,
};

const PIECE: u32 = 32 * 1024;
const SHORT: Duration = Duration::from_secs(30);

/// Files that do not line up with pieces or leaves: a multi-piece file ending one full and one
/// partial leaf into its last piece, an empty file, a file shorter than a piece (checked
/// against its root), a file of 3 pieces and a one-byte file.
const LAYOUT: &[(&str, u64)] = &[
    ("big.bin", 5 * 32_768 + 16_384 + 1_234),
    ("empty.txt", 0),
    ("small.bin", 20_000),
    ("sub/mid.bin", 70_000),
    ("z.bin", 1),
];

/// The bytes flipped, one at a time: `(file, offset)`.
const FLIPS: &[(&str, u64)] =
    &[("big.bin", 5 * 32_768 + 16_384 + 1_233), ("small.bin", 17_000), ("sub/mid.bin", 40_000), ("z.bin", 0)];

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// Runs libtorrent's python with `script` and `args`; its trimmed stdout.
fn lt(work: &Path, name: &str, script: &str, args: &[&str]) -> String {
    let done = run_with_timeout(name, Command::new(LT_PYTHON).args(["-c", script]).args(args), work, SHORT);
    done.assert_success(name);
    done.stdout.trim().to_owned()
}

/// `(pieces of the torrent, the piece holding byte `offset` of `data/<file>`)` per libtorrent.
fn lt_piece_of(work: &Path, torrent: &Path, file: &str, offset: u64) -> (u32, u32) {
    let script = "import sys, libtorrent as lt\n\
        ti = lt.torrent_info(sys.argv[1]); fs = ti.files()\n\
        i = [fs.file_path(k).replace('\\\\', '/') for k in range(fs.num_files())].index(sys.argv[2])\n\
        print(ti.num_pieces(), ti.map_file(i, int(sys.argv[3]), 1).piece)";
    let out = lt(work, "lt-map-file", script, &[s(torrent), &format!("data/{file}"), &offset.to_string()]);
    let mut nums = out.split_whitespace().map(|n| n.parse::<u32>().expect("a number from libtorrent"));
    (nums.next().expect("piece count"), nums.next().expect("piece index"))
}

fn make_torrent(work: &Path, out: &Path, flag: &str) {
    let done = run_with_timeout(
        "lt_make_torrent",
        Command::new(LT_PYTHON).arg(interop_dir().join("lt_make_torrent.py")).args([
            "--path",
            s(&work.join("src/data")),
            "--out",
            s(out),
            "--piece-size",
            &PIECE.to_string(),
            flag,
        ]),
        work,
        SHORT,
    );
    done.assert_success("lt_make_torrent.py");
}

fn verify(work: &Path, name: &str, torrent: &Path) -> Finished {
    run_with_timeout(name, ccbt().args(["verify", s(torrent), "-d", s(&work.join("src"))]), work, SHORT)
}

fn flip(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x20;
    std::fs::write(path, &bytes).unwrap();
}

fn check_kind(flag: &str) {
    let work = work_dir();
    let w = work.path();
    write_tree(&w.join("src/data"), LAYOUT, 52);
    let torrent = w.join("data.torrent");
    make_torrent(w, &torrent, flag);

    let good = verify(w, "verify-good", &torrent);
    good.assert_success(&format!("verify of intact data ({flag})"));
    let (pieces, _) = lt_piece_of(w, &torrent, "z.bin", 0);
    assert!(good.stdout.contains(&format!("{pieces}/{pieces} pieces OK")), "{flag}: {}", good.describe());

    for &(file, offset) in FLIPS {
        let path = w.join("src/data").join(file);
        let (_, piece) = lt_piece_of(w, &torrent, file, offset);
        flip(&path, offset);
        let bad = verify(w, "verify-flipped", &torrent);
        assert_eq!(bad.code(), Some(1), "{flag}, {file}: {}", bad.describe());
        let expected =
            format!("{}/{pieces} pieces OK\ndamaged: data/{file} (1 bad piece: {piece})\n", pieces - 1);
        assert_eq!(bad.stdout, expected, "{flag}, byte {offset} of {file}: {}", bad.describe());
        flip(&path, offset);
    }
}

#[test]
fn verify_v2_only_torrent_against_merkle_roots() {
    if !interop("verify_v2_only_torrent_against_merkle_roots", &[Tool::Libtorrent]) {
        return;
    }
    check_kind("--v2-only");
}

#[test]
fn verify_hybrid_torrent_against_sha1_and_merkle_roots() {
    if !interop("verify_hybrid_torrent_against_sha1_and_merkle_roots", &[Tool::Libtorrent]) {
        return;
    }
    check_kind("--hybrid");
}

#[test]
fn verify_refuses_a_v2_torrent_without_its_piece_layers() {
    if !interop("verify_refuses_a_v2_torrent_without_its_piece_layers", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    write_tree(&w.join("src/data"), LAYOUT, 52);
    let full = w.join("full.torrent");
    make_torrent(w, &full, "--v2-only");
    let stripped = w.join("stripped.torrent");
    let script = "import sys, libtorrent as lt\n\
        d = lt.bdecode(open(sys.argv[1], 'rb').read()); del d[b'piece layers']\n\
        open(sys.argv[2], 'wb').write(lt.bencode(d))";
    lt(w, "lt-strip-layers", script, &[s(&full), s(&stripped)]);

    let refused = verify(w, "verify-stripped", &stripped);
    assert!(!refused.success(), "{}", refused.describe());
    let text = format!("{}{}", refused.stdout, refused.stderr);
    assert!(text.contains("lacks the piece layers"), "{text}");
    assert!(text.contains("data/big.bin") && text.contains("data/sub/mid.bin"), "{text}");
    assert!(!text.contains("small.bin") && !text.contains("damaged") && !text.contains("panicked"), "{text}");
}
