//! BitTorrent v2 (BEP 52) against libtorrent 2.0: v2-only torrents made by libtorrent, single
//! and multi-file with odd sizes and an empty file, downloaded from a libtorrent seeder and
//! seeded to a libtorrent leecher. Every piece ccbt writes passed its SHA-256 merkle check
//! (a v2-only torrent has no SHA-1 to fall back on).

mod support;

use std::path::{Path, PathBuf};

use support::{
    assert_same_tree, ccbt_download, ccbt_info, ccbt_seed, info_field, interop, lt_leech_from,
    lt_make_torrent, lt_python, lt_seed, odd_content, stop_peer, work_dir, Kind, Tool, GRACE,
};

/// The v2 info hash libtorrent computes, as 64 hex digits.
fn lt_v2_hash(torrent: &Path) -> String {
    lt_python(torrent, "import sys, libtorrent as lt; print(lt.torrent_info(sys.argv[1]).info_hashes().v2)")
}

/// libtorrent makes a v2-only torrent and seeds it; ccbt downloads it.
fn download_v2_from_lt(test: &str, multi: bool, piece: u32) {
    if !interop(test, &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = odd_content(w, multi, 41);
    let torrent = w.join("t.torrent");
    lt_make_torrent(&content, &torrent, piece, Kind::V2);
    let info = ccbt_info(&torrent);
    assert_eq!(info_field(&info, "version:"), "v2");
    // A v2-only torrent goes by its truncated SHA-256 on the wire.
    let v2 = lt_v2_hash(&torrent);
    assert_eq!(info_field(&info, "info hash:"), &v2[..40], "{info}");

    let mut seed = lt_seed(w, "lt_seed", &torrent, &w.join("src"), &[], &[]);
    let out = w.join("out");
    let done = ccbt_download(w, "ccbt-download", &torrent, &out, &[seed.addr()]);
    done.assert_success("ccbt download of a v2 torrent from libtorrent");
    // Exactly the content's files: the pad entries aligning v2 files are never written.
    assert_same_tree(&content, &out.join(content.file_name().unwrap()));
    stop_peer(&mut seed, "lt_seed");
}

#[test]
fn download_single_file_v2_from_libtorrent() {
    download_v2_from_lt("download_single_file_v2_from_libtorrent", false, 32 * 1024);
}

#[test]
fn download_multi_file_v2_from_libtorrent() {
    download_v2_from_lt("download_multi_file_v2_from_libtorrent", true, 64 * 1024);
}

/// ccbt seeds a v2-only torrent made by libtorrent; libtorrent's leecher downloads it and finds
/// no hash failure.
fn seed_v2_to_lt(test: &str, multi: bool, piece: u32) {
    if !interop(test, &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = odd_content(w, multi, 43);
    let torrent = w.join("t.torrent");
    lt_make_torrent(&content, &torrent, piece, Kind::V2);
    let mut seed = ccbt_seed(w, "ccbt-seed", &torrent, &w.join("src"), &[]);
    let out = w.join("out");
    let done = lt_leech_from(w, &torrent, &out, &seed.addr());
    done.assert_success("lt_leech of a v2 torrent from a ccbt seed");
    assert!(done.stdout.contains("DONE"), "{}", done.describe());
    assert!(!done.stderr.contains("HASH_FAILED"), "ccbt served bad data:\n{}", done.describe());
    assert_same_tree(&content, &out.join(content.file_name().unwrap()));
    stop_peer(&mut seed, "ccbt seed");
}

#[test]
fn libtorrent_downloads_single_file_v2_from_ccbt_seed() {
    seed_v2_to_lt("libtorrent_downloads_single_file_v2_from_ccbt_seed", false, 16 * 1024);
}

#[test]
fn libtorrent_downloads_multi_file_v2_from_ccbt_seed() {
    seed_v2_to_lt("libtorrent_downloads_multi_file_v2_from_ccbt_seed", true, 32 * 1024);
}

/// `ccbt download "magnet:?xt=urn:btmh:1220…&x.pe=SEED"`: the info dictionary comes over
/// ut_metadata checked against the SHA-256, the piece layers of the files longer than a piece
/// by BEP 52 hash requests checked against their roots, then the data. The `.torrent` saved in
/// the state folder carries the layers, so a later run needs no hash request.
fn magnet_btmh_from_lt(test: &str, kind: Kind) {
    if !interop(test, &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = odd_content(w, true, 47);
    let torrent = w.join("t.torrent");
    lt_make_torrent(&content, &torrent, 16 * 1024, kind);
    let v2 = lt_v2_hash(&torrent);
    let mut seed = lt_seed(w, "lt_seed", &torrent, &w.join("src"), &[], &[]);
    let magnet = format!("magnet:?xt=urn:btmh:1220{v2}&dn=data&x.pe={}", seed.addr());
    let out = w.join("out");
    let state = w.join("state");
    let done = support::run_with_timeout(
        "ccbt-magnet-btmh",
        support::ccbt()
            .arg("download")
            .arg(&magnet)
            .arg("-o")
            .arg(&out)
            .args(["--listen-port", "0", "--no-dht", "--log-level", "debug", "--state-dir"])
            .arg(&state),
        w,
        support::TRANSFER,
    );
    done.assert_success("ccbt download of a btmh magnet from libtorrent");
    assert_same_tree(&content, &out.join("data"));
    if matches!(kind, Kind::V2) {
        assert!(done.stderr.contains("fetching piece layers"), "{}", done.describe());
    }
    // The saved .torrent has the layers: ccbt opens it with every piece checkable.
    let saved: Vec<PathBuf> = std::fs::read_dir(state.join("torrents"))
        .expect("saved torrents")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    let roots = lt_python(
        &saved[0],
        "import sys, libtorrent as lt; t = lt.torrent_info(sys.argv[1]); print(t.info_hashes().v2)",
    );
    assert_eq!(roots, v2, "libtorrent reads the saved .torrent as the same v2 torrent");
    let layers = std::fs::read(&saved[0]).unwrap();
    assert!(layers.windows(15).any(|w| w == b"12:piece layers"), "the saved .torrent has its piece layers");
    stop_peer(&mut seed, "lt_seed");
}

#[test]
fn download_v2_magnet_with_btmh_only_from_libtorrent() {
    magnet_btmh_from_lt("download_v2_magnet_with_btmh_only_from_libtorrent", Kind::V2);
}

#[test]
fn download_hybrid_magnet_with_btmh_only_from_libtorrent() {
    magnet_btmh_from_lt("download_hybrid_magnet_with_btmh_only_from_libtorrent", Kind::Hybrid);
}

/// A hybrid torrent is in two swarms, one per wire id. A ccbt seed announces both its v1 hash
/// and its truncated v2 hash to opentracker (the tracker's own scrape shows it under each), and
/// libtorrent, given only the `btmh` magnet and the tracker, finds ccbt through the v2 swarm and
/// downloads from it: the info dictionary over ut_metadata, the piece layers through ccbt's
/// answers to its hash requests, then every piece.
#[test]
fn a_hybrid_seed_joins_both_swarms_and_serves_a_btmh_magnet() {
    let test = "a_hybrid_seed_joins_both_swarms_and_serves_a_btmh_magnet";
    if !interop(test, &[Tool::Libtorrent]) {
        return;
    }
    support::discovery::require_program(test, "opentracker", "opentracker");
    let work = work_dir();
    let w = work.path();
    let content = odd_content(w, true, 53);
    let bare = w.join("bare.torrent");
    lt_make_torrent(&content, &bare, 16 * 1024, Kind::Hybrid);
    let mut tracker = support::discovery::Tracker::start(w, "tracker", &[&bare]);
    // The announce URL goes outside the info dictionary: both info hashes stay the same.
    let url = tracker.http_url();
    let mut bytes = format!("d8:announce{}:{url}", url.len()).into_bytes();
    bytes.extend_from_slice(&std::fs::read(&bare).unwrap()[1..]);
    let torrent = w.join("t.torrent");
    std::fs::write(&torrent, bytes).unwrap();
    let v1 = support::lt_info_hash(&torrent);
    let v2 = lt_v2_hash(&torrent);

    let mut seed = ccbt_seed(w, "ccbt-seed", &torrent, &w.join("src"), &[]);
    let in_both = support::poll_until(std::time::Duration::from_secs(30), || {
        let seeds = |id: &str| tracker.scrape(id).map_or(0, |c| c.seeders);
        seeds(&v1) >= 1 && seeds(&v2[..40]) >= 1
    });
    assert!(in_both, "ccbt is not a seeder under both ids\n{}", seed.proc.logs());

    let magnet = format!("magnet:?xt=urn:btmh:1220{v2}&tr={url}");
    let mut out = w.join("out");
    let leech = |out: &std::path::Path| {
        support::run_with_timeout(
            "lt_leech-btmh",
            std::process::Command::new("/usr/bin/python3")
                .arg(support::interop_dir().join("lt_leech.py"))
                .args(["--magnet", &magnet, "--port", "0", "--timeout", "60", "--out"])
                .arg(out),
            w,
            support::TRANSFER + GRACE,
        )
    };
    let mut done = leech(&out);
    // libtorrent 2.0.8 stopped this download once in a full CI run (1 of 16 runs here) with
    // "v1 and v2 hashes do not describe the same data", a libtorrent error known from its own
    // hybrid handling (qBittorrent issue 15287: rechecking partly downloaded hybrids). One fresh
    // attempt; a second failure of any kind fails the test, and the bytes are compared below.
    if done.stderr.contains("v1 and v2 hashes do not describe the same data") {
        eprintln!("libtorrent's hybrid hash race; leeching again:\n{}", done.describe());
        out = w.join("out-again");
        done = leech(&out);
    }
    done.assert_success("libtorrent leeching a btmh magnet found through the tracker");
    assert!(done.stdout.contains("DONE"), "{}", done.describe());
    assert!(!done.stderr.contains("HASH_FAILED"), "{}", done.describe());
    assert_same_tree(&content, &out.join(content.file_name().unwrap()));
    stop_peer(&mut seed, "ccbt seed");
    tracker.proc.terminate(GRACE);
}
