//! Magnet links against libtorrent: two libtorrent seeders named only by the magnet's `x.pe`
//! parameters serve a torrent whose info dictionary spans several ut_metadata pieces (BEP 9);
//! `ccbt magnet` must fetch the pieces from both seeders in parallel, check the result against
//! the info hash, save it as `<state_dir>/torrents/<info hash>.torrent`, and then download the
//! content.

mod support;

use std::collections::BTreeSet;

use support::bencode::info_hash_hex;
use support::discovery::{logged_addrs, lt_make_torrent_with, magnet};
use support::{
    assert_same_tree, ccbt, interop, lt_info_hash, lt_python, lt_seed, run_with_timeout, work_dir,
    write_tree, Tool, GRACE, TRANSFER,
};

/// BEP 9 metadata piece size.
const METADATA_PIECE: u64 = 16 * 1024;

/// Many files with long names, so that the info dictionary is large (~60 KB, 4 metadata
/// pieces) while the content stays small (~370 KB, so the rate-limited seeders serve it fast).
fn long_name_layout() -> Vec<(String, u64)> {
    let filler = "a-rather-long-file-name-segment-".repeat(6);
    (0..240u64)
        .map(|i| {
            let dir = ["x", "y/deeper", "z"][(i % 3) as usize];
            (format!("{dir}/{i:04}-{filler}{i}.bin"), 500 + (i * 997) % 2_000)
        })
        .collect()
}

#[test]
fn magnet_fetches_metadata_from_two_libtorrent_seeders() {
    if !interop("magnet_fetches_metadata_from_two_libtorrent_seeders", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let layout = long_name_layout();
    let layout: Vec<(&str, u64)> = layout.iter().map(|(p, n)| (p.as_str(), *n)).collect();
    let content = write_tree(&w.join("src/many"), &layout, 5);
    let torrent = w.join("t.torrent");
    lt_make_torrent_with(&content, &torrent, 32 * 1024, &[]);
    let hash = lt_info_hash(&torrent);
    let metadata_size: u64 = lt_python(
        &torrent,
        "import sys, libtorrent as lt; print(lt.torrent_info(sys.argv[1]).metadata_size())",
    )
    .parse()
    .expect("metadata size");
    let pieces = metadata_size.div_ceil(METADATA_PIECE);
    assert!(pieces >= 3, "info dictionary of {metadata_size} bytes is only {pieces} metadata pieces");

    // On loopback one seeder answers all metadata requests within a millisecond, before the
    // other one has finished its handshakes; rate-limited seeders keep the first one busy long
    // enough (16 KiB pieces at 64 kB/s) that the fetch must spread over both.
    let limit = ["--upload-limit", "64000"];
    let mut a = lt_seed(w, "lt_seed_a", &torrent, &w.join("src"), &[], &limit);
    let mut b = lt_seed(w, "lt_seed_b", &torrent, &w.join("src"), &[], &limit);
    let uri = magnet(&hash, &[a.addr(), b.addr()]);
    let state = w.join("state");
    let out = w.join("out");
    let mut cmd = ccbt();
    cmd.arg("magnet").arg(&uri).arg("-o").arg(&out).arg("--state-dir").arg(&state).args([
        "--listen-port",
        "0",
        "--no-dht",
        "--log-level",
        "debug",
    ]);
    let done = run_with_timeout("ccbt-magnet", &mut cmd, w, TRANSFER);
    done.assert_success("ccbt magnet with two x.pe seeders");
    assert_same_tree(&content, &out.join("many"));

    // Every metadata piece arrived, and from both seeders: the fetch ran in parallel.
    let senders: BTreeSet<String> =
        logged_addrs(&done.stderr, "metadata piece received").into_iter().collect();
    let expected: BTreeSet<String> = [a.addr(), b.addr()].into_iter().collect();
    assert_eq!(
        senders,
        expected,
        "metadata pieces did not come from both seeders ({pieces} pieces)\n{}",
        done.describe()
    );
    let received: BTreeSet<u64> = done
        .stderr
        .lines()
        .filter(|l| l.contains("metadata piece received"))
        .filter_map(|l| l.split("piece=").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(received, (0..pieces).collect(), "not every metadata piece was logged\n{}", done.describe());

    // The metadata was saved as a .torrent whose info dictionary hashes to the magnet's hash.
    let saved = state.join("torrents").join(format!("{hash}.torrent"));
    let bytes = std::fs::read(&saved)
        .unwrap_or_else(|e| panic!("read {}: {e}\n{}", saved.display(), done.describe()));
    assert_eq!(info_hash_hex(&bytes), hash, "the saved .torrent has another info hash");
    assert_eq!(lt_info_hash(&saved), hash, "libtorrent reads the saved .torrent differently");

    for (peer, name) in [(&mut a, "lt_seed_a"), (&mut b, "lt_seed_b")] {
        let (status, clean) = peer.proc.terminate(GRACE);
        assert!(clean && status.success(), "{name} did not stop cleanly\n{}", peer.proc.logs());
    }
}
