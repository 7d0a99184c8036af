//! A peer that corrupts every block it sends (tests/interop/lying_peer.py) next to an honest
//! seeder: ccbt must finish with correct bytes and ban the liar; with only the liar it must never
//! write a wrong byte and never claim success.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{
    assert_same_tree, ccbt, ccbt_create, ccbt_download, ccbt_seed, interop, lt_make_torrent, lt_seed,
    lying_peer, run_with_timeout, work_dir, write_file, write_tree, Kind, Peer, Proc, Tool, GRACE,
    ODD_LAYOUT, SETUP,
};

const PIECE: u32 = 32 * 1024;

fn stop(peer: &mut Peer, what: &str) {
    let (status, clean) = peer.proc.terminate(GRACE);
    assert!(clean && status.success(), "{what} did not stop cleanly: {status}\n{}", peer.proc.logs());
}

/// The `banning peer` log lines of a ccbt run.
fn ban_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("banning peer")).collect()
}

/// Downloads from the liar and `honest` together and checks the outcome.
fn with_honest_seeder(w: &Path, torrent: &Path, content: &Path, honest: &mut Peer) {
    let mut liar = lying_peer(w, "liar", torrent, &w.join("src"), "all");
    let done = ccbt_download(w, "ccbt-download", torrent, &w.join("out"), &[liar.addr(), honest.addr()]);
    done.assert_success("download with a lying peer in the swarm");
    assert_same_tree(content, &w.join("out").join(content.file_name().unwrap()));

    assert!(
        liar.proc.stderr_text().contains("corrupt=1"),
        "the liar never served a block, so nothing was tested\n{}",
        liar.proc.logs()
    );
    let bans = ban_lines(&done.stderr);
    assert!(
        bans.iter().any(|l| l.contains(&liar.addr())),
        "the liar {} was not banned\n{}",
        liar.addr(),
        done.describe()
    );
    assert!(
        !bans.iter().any(|l| l.contains(&honest.addr())),
        "the honest seeder {} was banned\n{}",
        honest.addr(),
        done.describe()
    );
    stop(&mut liar, "lying_peer");
}

#[test]
fn liar_is_banned_and_libtorrent_seed_completes_the_download() {
    if !interop(
        "liar_is_banned_and_libtorrent_seed_completes_the_download",
        &[Tool::Libtorrent, Tool::Python],
    ) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = write_tree(&w.join("src/data"), ODD_LAYOUT, 51);
    let torrent = w.join("t.torrent");
    lt_make_torrent(&content, &torrent, PIECE, Kind::V1);
    // A slow honest seeder gives the liar time to hand over bad pieces (about 3 s in all).
    let mut honest = lt_seed(w, "lt_seed", &torrent, &w.join("src"), &[], &["--upload-limit", "1500000"]);
    with_honest_seeder(w, &torrent, &content, &mut honest);
    stop(&mut honest, "lt_seed");
}

#[test]
fn liar_is_banned_and_ccbt_seed_completes_the_download() {
    if !interop("liar_is_banned_and_ccbt_seed_completes_the_download", &[Tool::Python]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = write_tree(&w.join("src/data"), ODD_LAYOUT, 52);
    let torrent = w.join("t.torrent");
    ccbt_create(&content, &torrent, PIECE, &[]);
    let mut honest = ccbt_seed(w, "ccbt-seed", &torrent, &w.join("src"), &[]);
    with_honest_seeder(w, &torrent, &content, &mut honest);
    stop(&mut honest, "ccbt seed");
}

#[test]
fn only_a_liar_never_yields_a_wrong_byte() {
    if !interop("only_a_liar_never_yields_a_wrong_byte", &[Tool::Python]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let file = w.join("src/single.bin");
    let len = 4 * 1024 * 1024 + 1234;
    write_file(&file, 53, len);
    let torrent = w.join("t.torrent");
    ccbt_create(&file, &torrent, PIECE, &[]);
    let mut liar = lying_peer(w, "liar", &torrent, &w.join("src"), "all");

    let out = w.join("out");
    let mut download = Proc::spawn(
        "ccbt-download",
        ccbt().arg("download").arg(&torrent).arg("-o").arg(&out).args([
            "--listen-port",
            "0",
            "--no-dht",
            "--peer",
            &liar.addr(),
        ]),
        w,
    );
    // Give it time to fetch (and reject) plenty of corrupt pieces.
    let early = download.wait_timeout(Duration::from_secs(10));
    assert!(
        !early.is_some_and(|s| s.success()),
        "download claimed success with only a lying peer\n{}",
        download.logs()
    );
    download.terminate(GRACE);
    let stderr = download.stderr_text();
    assert!(liar.proc.stderr_text().contains("corrupt=1"), "the liar served nothing\n{}", liar.proc.logs());
    assert!(
        ban_lines(&stderr).iter().any(|l| l.contains(&liar.addr())),
        "the liar {} was not banned\n{}",
        liar.addr(),
        download.logs()
    );
    stop(&mut liar, "lying_peer");

    // Every piece on disk is absent, all zeros (never written), or exactly right.
    let expected = std::fs::read(&file).unwrap();
    let got = std::fs::read(out.join("single.bin")).unwrap_or_default();
    assert!(got.len() <= expected.len(), "file grew past the torrent's length: {}", got.len());
    let mut correct = 0;
    for (i, want) in expected.chunks(PIECE as usize).enumerate() {
        let start = i * PIECE as usize;
        let have = got.get(start..(start + want.len()).min(got.len())).unwrap_or_default();
        if have == want {
            correct += 1;
        } else {
            assert!(have.iter().all(|&b| b == 0), "piece {i} holds wrong bytes on disk");
        }
    }
    // And `ccbt verify` agrees: no piece counts as good that is not.
    let pieces = expected.len().div_ceil(PIECE as usize);
    let verify =
        run_with_timeout("ccbt-verify", ccbt().arg("verify").arg(&torrent).arg("-d").arg(&out), w, SETUP);
    assert!(verify.stdout.contains(&format!("{correct}/{pieces} pieces OK")), "{}", verify.describe());
    if correct < pieces {
        assert_eq!(verify.code(), Some(1), "{}", verify.describe());
    }
}
