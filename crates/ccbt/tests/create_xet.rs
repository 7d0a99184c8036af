//! `ccbt create --xet` (docs/xet.md, "Metainfo"): libtorrent 2 loads the Xet torrents ccbt
//! makes and computes the info hashes ccbt prints (it hashes the `xet` key it does not know);
//! the BEP 52 part is the one libtorrent's creator makes; the xet roots and chunk lists are
//! those of the Xet chunker run on each file; `ccbt info` shows them.

mod support;

use std::path::Path;

use ccbt_metainfo::{MetaVersion, Torrent};
use ccbt_xet::FileHasher;
use support::v2::{lt_roots, lt_view, Format};
use support::{
    ccbt_create, info_field, interop, lt_make_torrent, lt_python, run_with_timeout, work_dir, write_tree,
    Tool, SETUP,
};

/// Several files, one over 1 MiB (many chunks), an empty one, one of a single byte.
const LAYOUT: &[(&str, u64)] =
    &[("big.bin", 1_500_000), ("empty.txt", 0), ("sub/mid.bin", 300_007), ("tiny", 1)];

const PIECE: u32 = 64 * 1024;

fn printed(stdout: &str, label: &str) -> Option<String> {
    stdout.lines().find_map(|l| l.strip_prefix(label)).map(|v| v.trim().to_owned())
}

/// The xet root and chunks of a file, from the chunker itself.
fn xet_of(path: &Path) -> ([u8; 32], Vec<ccbt_xet::ChunkRef>) {
    let mut hasher = FileHasher::new();
    hasher.update(&std::fs::read(path).unwrap());
    hasher.finish()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ccbt_info_with(torrent: &Path, args: &[&str]) -> String {
    let mut cmd = support::ccbt();
    cmd.arg("info").arg(torrent).args(args);
    let done = run_with_timeout("ccbt-info", &mut cmd, torrent.parent().expect("folder"), SETUP);
    done.assert_success("ccbt info");
    done.stdout
}

/// `path xet-root` pairs from `ccbt info --pieces-roots` (a root is listed under its file).
fn info_xet_roots(info: &str) -> Vec<(String, String)> {
    let mut roots = Vec::new();
    let mut path = "";
    for line in info.lines() {
        if let Some(root) = line.trim().strip_prefix("xet root ") {
            roots.push((path.to_owned(), root.trim().to_owned()));
        } else if !line.trim().starts_with("pieces root") {
            path = line.split("  ").last().unwrap_or_default().trim();
        }
    }
    roots
}

#[test]
fn xet_torrents_open_in_libtorrent_with_the_same_hashes_and_roots() {
    if !interop("xet_torrents_open_in_libtorrent_with_the_same_hashes_and_roots", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = write_tree(&w.join("src/set"), LAYOUT, 14);
    for format in [Format::V2, Format::Hybrid] {
        let ours = w.join(format!("set-{format:?}.torrent"));
        let mut flags = vec!["--xet", "-q", "--collection", "org/set", "--similar"];
        let similar = "ab".repeat(32);
        flags.push(&similar);
        if format == Format::Hybrid {
            flags.push("--hybrid");
        }
        let stdout = ccbt_create(&content, &ours, PIECE, &flags);
        let v2 = printed(&stdout, "info hash v2:");
        assert!(stdout.contains("xet: 3 file roots"), "{stdout}");

        // libtorrent opens it and hashes the info dictionary, `xet` included, as ccbt did.
        let view = lt_view(&ours);
        assert_eq!(view.v2, v2, "libtorrent's v2 info hash");
        if format == Format::Hybrid {
            assert_eq!(view.v1, printed(&stdout, "info hash v1:"), "libtorrent's v1 info hash");
        }
        let xet_v = lt_python(&ours, "import sys, libtorrent as lt; print(lt.bdecode(open(sys.argv[1], 'rb').read())[b'info'][b'xet'][b'v'])");
        assert_eq!(xet_v, "1");
        // The BEP 52 part is exactly libtorrent's own for the same folder: same pieces roots
        // and piece layers (the info hashes differ only by the Xet and BEP 38 keys).
        let theirs = w.join(format!("set-{format:?}-lt.torrent"));
        lt_make_torrent(&content, &theirs, PIECE, format.lt_kind());
        let lt = lt_view(&theirs);
        assert_eq!(
            (view.piece_layers.clone(), view.files, view.pieces),
            (lt.piece_layers, lt.files, lt.pieces)
        );
        assert_ne!(view.v2, lt.v2, "the xet key is part of the info hash");
        assert_eq!(lt_roots(&ours), lt_roots(&theirs));

        // Every xet root and chunk list is the chunker's for that file.
        let t = Torrent::from_file_bytes(&std::fs::read(&ours).unwrap()).unwrap();
        let want_version = if format == Format::V2 { MetaVersion::V2 } else { MetaVersion::Hybrid };
        assert_eq!(t.version, want_version);
        let mut checked = 0;
        for (i, f) in t.files.iter().enumerate().filter(|(_, f)| !f.is_padding) {
            let on_disk = content.join(f.path[1..].join("/"));
            let (root, chunks) = xet_of(&on_disk);
            if f.length == 0 {
                assert_eq!(t.xet_root_of(i), None, "{on_disk:?}");
                continue;
            }
            assert_eq!(t.xet_root_of(i), Some(root), "{on_disk:?}");
            assert_eq!(t.xet_layers.get(&root), Some(&chunks), "{on_disk:?}");
            checked += 1;
        }
        assert_eq!(checked, 3);
        assert!(t.xet_layers[&xet_of(&content.join("big.bin")).0].len() > 10, "1.5 MB is many chunks");

        // `ccbt info` shows the Xet facts and each file's xet root.
        let info = ccbt_info_with(&ours, &["--pieces-roots"]);
        assert!(info_field(&info, "xet:").starts_with("yes (version 1): 3 distinct file contents"), "{info}");
        assert_eq!(info_field(&info, "similar:"), similar);
        assert_eq!(info_field(&info, "collections:"), "org/set");
        let mut want: Vec<(String, String)> = ["big.bin", "sub/mid.bin", "tiny"]
            .iter()
            .map(|p| (format!("set/{p}"), hex(&xet_of(&content.join(p)).0)))
            .collect();
        want.sort();
        let mut got = info_xet_roots(&info);
        got.sort();
        assert_eq!(got, want, "{info}");
    }
}

#[test]
fn xet_flags_are_checked() {
    let work = work_dir();
    let w = work.path();
    let content = write_tree(&w.join("src/data"), &[("a.bin", 100_000)], 3);
    let out = w.join("x.torrent");
    let run = |args: &[&str]| {
        let mut cmd = support::ccbt();
        cmd.arg("create").arg(&content).arg("-o").arg(&out).args(args);
        run_with_timeout("create-xet-flags", &mut cmd, w, SETUP)
    };
    // --xet-prev only with --xet; hashes must be hex of the right length.
    let done = run(&["--xet-prev", &"ab".repeat(32)]);
    assert_eq!(done.code(), Some(2), "{}", done.describe());
    let done = run(&["--xet", "--xet-prev", &"ab".repeat(20)]);
    assert_eq!(done.code(), Some(2), "{}", done.describe());
    assert!(done.stderr.contains("64 hex digits"), "{}", done.describe());
    let done = run(&["--similar", "nothex"]);
    assert_eq!(done.code(), Some(2), "{}", done.describe());
    assert!(!out.exists());

    // A v1 torrent may carry BEP 38 keys; prev goes in with --xet.
    let done = run(&["--similar", &"cd".repeat(20), "--collection", "c1", "--collection", "c2", "-q"]);
    done.assert_success("create with --similar");
    let t = Torrent::from_file_bytes(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!((t.version, t.xet.is_none()), (MetaVersion::V1, true));
    assert_eq!(t.collections, ["c1", "c2"]);
    assert_eq!(t.similar.iter().map(|h| h.to_hex()).collect::<Vec<_>>(), ["cd".repeat(20)]);
    let info = ccbt_info_with(&out, &[]);
    assert_eq!(info_field(&info, "xet:"), "no");

    let done = run(&["--xet", "--force", "--xet-prev", &"ef".repeat(32), "-q"]);
    done.assert_success("create --xet --xet-prev");
    let t = Torrent::from_file_bytes(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(t.version, MetaVersion::V2, "--xet alone makes a v2 torrent");
    assert_eq!(t.xet.as_ref().and_then(|x| x.prev).map(|p| p.to_hex()), Some("ef".repeat(32)));
    let info = ccbt_info_with(&out, &[]);
    assert_eq!(info_field(&info, "xet prev:"), "ef".repeat(32));
}
