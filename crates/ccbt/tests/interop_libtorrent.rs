//! ccbt against libtorrent 2.0 (Debian's python3-libtorrent through tests/interop/*.py):
//! downloading from a libtorrent seeder (v1 and hybrid torrents made by libtorrent), seeding to
//! a libtorrent leecher, and libtorrent accepting torrents made by `ccbt create`.

mod support;

use std::path::Path;

use support::{
    assert_same_tree, ccbt_create, ccbt_download, ccbt_info, ccbt_seed, info_field, interop, lt_info_hash,
    lt_leech_from, lt_make_torrent, lt_python, lt_seed, odd_content, run_with_timeout, stop_peer, work_dir,
    write_file, Kind, Tool, ODD_LAYOUT, TRANSFER,
};

/// libtorrent makes the torrent and seeds it; ccbt downloads it.
fn download_from_lt(test: &str, multi: bool, kind: Kind, piece: u32) {
    if !interop(test, &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = odd_content(w, multi, 31);
    let torrent = w.join("t.torrent");
    lt_make_torrent(&content, &torrent, piece, kind);
    // ccbt and libtorrent agree on what the torrent is.
    let info = ccbt_info(&torrent);
    assert_eq!(
        info_field(&info, "info hash:"),
        lt_info_hash(&torrent),
        "info hash differs from libtorrent's"
    );
    let version = match kind {
        Kind::V1 => "v1",
        Kind::Hybrid => "hybrid",
        Kind::V2 => "v2",
    };
    assert_eq!(info_field(&info, "version:"), version);

    let mut seed = lt_seed(w, "lt_seed", &torrent, &w.join("src"), &[], &[]);
    let out = w.join("out");
    let done = ccbt_download(w, "ccbt-download", &torrent, &out, &[seed.addr()]);
    done.assert_success("ccbt download from libtorrent");
    let name = content.file_name().unwrap();
    // Exactly the content's files: BEP 47 padding files of a hybrid torrent are not written.
    assert_same_tree(&content, &out.join(name));
    stop_peer(&mut seed, "lt_seed");
}

#[test]
fn download_single_file_v1_from_libtorrent() {
    download_from_lt("download_single_file_v1_from_libtorrent", false, Kind::V1, 32 * 1024);
}

#[test]
fn download_multi_file_v1_from_libtorrent() {
    download_from_lt("download_multi_file_v1_from_libtorrent", true, Kind::V1, 16 * 1024);
}

#[test]
fn download_multi_file_hybrid_from_libtorrent() {
    download_from_lt("download_multi_file_hybrid_from_libtorrent", true, Kind::Hybrid, 32 * 1024);
}

/// libtorrent's torrent of 32 MiB pieces, four times ccbt's default buffer budget
/// (`max_buffered_kib` = 8 MiB): the piece starts when nothing is buffered, one at a time, and
/// the download completes.
#[test]
fn download_32_mib_pieces_from_libtorrent() {
    if !interop("download_32_mib_pieces_from_libtorrent", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let file = w.join("src/big.bin");
    write_file(&file, 32, 40 * 1024 * 1024 + 4321);
    let torrent = w.join("t.torrent");
    lt_make_torrent(&file, &torrent, 32 * 1024 * 1024, Kind::V1);
    assert_eq!(info_field(&ccbt_info(&torrent), "info hash:"), lt_info_hash(&torrent));
    let mut seed = lt_seed(w, "lt_seed", &torrent, &w.join("src"), &[], &[]);
    let out = w.join("out");
    let done = ccbt_download(w, "ccbt-download", &torrent, &out, &[seed.addr()]);
    done.assert_success("ccbt download of 32 MiB pieces from libtorrent");
    assert_same_tree(&file, &out.join("big.bin"));
    stop_peer(&mut seed, "lt_seed");
}

#[test]
fn download_single_file_hybrid_from_libtorrent() {
    download_from_lt("download_single_file_hybrid_from_libtorrent", false, Kind::Hybrid, 64 * 1024);
}

/// ccbt seeds; libtorrent's leecher downloads.
fn seed_to_lt(w: &Path, torrent: &Path, content: &Path) {
    let mut seed = ccbt_seed(w, "ccbt-seed", torrent, &w.join("src"), &[]);
    let out = w.join("out");
    let done = lt_leech_from(w, torrent, &out, &seed.addr());
    done.assert_success("lt_leech from a ccbt seed");
    assert!(done.stdout.contains("DONE"), "{}", done.describe());
    assert!(!done.stderr.contains("HASH_FAILED"), "ccbt served bad data:\n{}", done.describe());
    assert_same_tree(content, &out.join(content.file_name().unwrap()));
    stop_peer(&mut seed, "ccbt seed");
}

#[test]
fn libtorrent_downloads_from_ccbt_seed() {
    if !interop("libtorrent_downloads_from_ccbt_seed", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = odd_content(w, true, 32);
    let torrent = w.join("t.torrent");
    lt_make_torrent(&content, &torrent, 32 * 1024, Kind::V1);
    seed_to_lt(w, &torrent, &content);
}

#[test]
fn libtorrent_downloads_hybrid_from_ccbt_seed() {
    if !interop("libtorrent_downloads_hybrid_from_ccbt_seed", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = odd_content(w, true, 35);
    let torrent = w.join("t.torrent");
    lt_make_torrent(&content, &torrent, 16 * 1024, Kind::Hybrid);
    seed_to_lt(w, &torrent, &content);
}

/// A torrent from `ccbt create` has the same info hash in libtorrent, and libtorrent can
/// download it from ccbt.
fn ccbt_created(test: &str, multi: bool, piece: u32) {
    if !interop(test, &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = odd_content(w, multi, 33);
    let torrent = w.join("t.torrent");
    let created = ccbt_create(&content, &torrent, piece, &["--comment", "made by ccbt"]);
    let ours = info_field(&ccbt_info(&torrent), "info hash:");
    assert_eq!(lt_info_hash(&torrent), ours, "libtorrent computes another info hash");
    assert!(created.contains(&ours), "{created}");
    let lt_view = lt_python(
        &torrent,
        "import sys, libtorrent as lt; t = lt.torrent_info(sys.argv[1]); \
         print(t.name(), t.num_files(), t.total_size(), t.piece_length(), t.num_pieces())",
    );
    let total: u64 = if multi { ODD_LAYOUT.iter().map(|(_, n)| n).sum() } else { 3 * 1024 * 1024 + 4321 };
    let files = if multi { ODD_LAYOUT.len() } else { 1 };
    let pieces = total.div_ceil(u64::from(piece));
    let name = content.file_name().unwrap().to_str().unwrap();
    assert_eq!(lt_view, format!("{name} {files} {total} {piece} {pieces}"), "libtorrent's view");
    seed_to_lt(w, &torrent, &content);
}

#[test]
fn ccbt_created_multi_file_torrent_works_in_libtorrent() {
    ccbt_created("ccbt_created_multi_file_torrent_works_in_libtorrent", true, 16 * 1024);
}

#[test]
fn ccbt_created_single_file_torrent_works_in_libtorrent() {
    ccbt_created("ccbt_created_single_file_torrent_works_in_libtorrent", false, 64 * 1024);
}

/// `ccbt download a.torrent magnet:...`: two torrents in one session, each from its own
/// libtorrent seeder (one named by a .torrent, one by a magnet link), one summary line each.
#[test]
fn download_a_torrent_and_a_magnet_in_one_run() {
    if !interop("download_a_torrent_and_a_magnet_in_one_run", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let single = odd_content(w, false, 41);
    let multi = odd_content(w, true, 42);
    let (torrent_a, torrent_b) = (w.join("a.torrent"), w.join("b.torrent"));
    lt_make_torrent(&single, &torrent_a, 32 * 1024, Kind::V1);
    lt_make_torrent(&multi, &torrent_b, 16 * 1024, Kind::V1);
    let mut seed_a = lt_seed(w, "lt_seed_a", &torrent_a, &w.join("src"), &[], &[]);
    let mut seed_b = lt_seed(w, "lt_seed_b", &torrent_b, &w.join("src"), &[], &[]);
    let magnet_b = support::discovery::magnet(&lt_info_hash(&torrent_b), &[seed_b.addr()]);

    let out = w.join("out");
    let done = run_with_timeout(
        "ccbt-download-two",
        support::ccbt()
            .arg("download")
            .arg(&torrent_a)
            .arg(&magnet_b)
            .arg("-o")
            .arg(&out)
            .args(["--listen-port", "0", "--no-dht", "--state-dir"])
            .arg(w.join("state"))
            .args(["--peer", &seed_a.addr()]),
        w,
        TRANSFER,
    );
    done.assert_success("ccbt download of a torrent and a magnet");
    assert_same_tree(&single, &out.join("single.bin"));
    assert_same_tree(&multi, &out.join("data"));
    for name in ["single.bin: ", "data: "] {
        let summaries = done.stdout.lines().filter(|l| l.starts_with(name) && l.contains("verified")).count();
        assert_eq!(summaries, 1, "one summary for {name}\n{}", done.describe());
    }
    stop_peer(&mut seed_a, "lt_seed a");
    stop_peer(&mut seed_b, "lt_seed b");
}
