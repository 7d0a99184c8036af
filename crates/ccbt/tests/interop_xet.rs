//! A plain BitTorrent v2 client uses a Xet torrent as any v2 torrent (docs/xet.md): libtorrent
//! 2.0 downloads a `ccbt create --xet` torrent from a ccbt seed that speaks `xet_cas`, and seeds
//! it to a ccbt leecher whose chunk store is on (which finds nothing to copy and downloads all),
//! also as a magnet link: libtorrent does not speak `xet_cas`, so the manifest phase ends at once
//! and the download runs as for any v2 torrent.

mod support;

use support::{
    assert_same_tree, ccbt, ccbt_create, ccbt_seed, interop, lt_info_hash, lt_leech_from, lt_seed,
    odd_content, run_with_timeout, stop_peer, work_dir, Tool, TRANSFER,
};

const PIECE: u32 = 32 * 1024;

#[test]
fn libtorrent_downloads_a_xet_torrent_from_a_ccbt_seed() {
    if !interop("libtorrent_downloads_a_xet_torrent_from_a_ccbt_seed", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = odd_content(w, true, 61);
    let torrent = w.join("t.torrent");
    ccbt_create(&content, &torrent, PIECE, &["--xet", "-q"]);
    let mut seed = ccbt_seed(w, "ccbt-seed", &torrent, &w.join("src"), &[]);
    let out = w.join("out");
    let done = lt_leech_from(w, &torrent, &out, &seed.addr());
    done.assert_success("lt_leech of a Xet torrent from a ccbt seed");
    assert!(done.stdout.contains("DONE"), "{}", done.describe());
    assert!(!done.stderr.contains("HASH_FAILED"), "ccbt served bad data:\n{}", done.describe());
    assert_same_tree(&content, &out.join(content.file_name().unwrap()));
    stop_peer(&mut seed, "ccbt seed");
}

#[test]
fn ccbt_downloads_a_xet_torrent_from_libtorrent() {
    if !interop("ccbt_downloads_a_xet_torrent_from_libtorrent", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = odd_content(w, false, 62);
    let torrent = w.join("t.torrent");
    ccbt_create(&content, &torrent, PIECE, &["--xet", "--hybrid", "-q"]);
    let mut seed = lt_seed(w, "lt_seed", &torrent, &w.join("src"), &[], &[]);
    let out = w.join("out");
    let mut cmd = ccbt();
    cmd.arg("download").arg(&torrent).arg("-o").arg(&out).args(["--listen-port", "0", "--no-dht"]);
    cmd.arg("--peer").arg(seed.addr()).env("CCBT_XET_ENABLED", "true");
    let done = run_with_timeout("ccbt-download", &mut cmd, w, TRANSFER);
    done.assert_success("ccbt download of a Xet torrent from libtorrent");
    assert_same_tree(&content, &out.join(content.file_name().unwrap()));
    stop_peer(&mut seed, "lt_seed");
}

#[test]
fn ccbt_downloads_a_xet_magnet_from_libtorrent_which_lacks_xet_cas() {
    if !interop("ccbt_downloads_a_xet_magnet_from_libtorrent_which_lacks_xet_cas", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = odd_content(w, true, 63);
    let torrent = w.join("t.torrent");
    ccbt_create(&content, &torrent, PIECE, &["--xet", "--hybrid", "-q"]);
    let mut seed = lt_seed(w, "lt_seed", &torrent, &w.join("src"), &[], &[]);
    let magnet = support::discovery::magnet(&lt_info_hash(&torrent), &[seed.addr()]);
    let out = w.join("out");
    let mut cmd = ccbt();
    cmd.arg("download").arg(&magnet).arg("-o").arg(&out).args(["--listen-port", "0", "--no-dht"]);
    cmd.args(["--log-level", "debug", "--state-dir"]).arg(w.join("state")).env("CCBT_XET_ENABLED", "true");
    let done = run_with_timeout("ccbt-download-magnet", &mut cmd, w, TRANSFER);
    done.assert_success("ccbt download of a Xet magnet from libtorrent");
    // The manifest phase ran, and ended on the peer's handshake (not on its 30 s limit).
    assert!(done.stderr.contains("fetching xet chunk manifests from peers"), "{}", done.describe());
    assert!(done.stderr.contains("peer does not offer xet_cas"), "{}", done.describe());
    assert_same_tree(&content, &out.join(content.file_name().unwrap()));
    stop_peer(&mut seed, "lt_seed");
}
