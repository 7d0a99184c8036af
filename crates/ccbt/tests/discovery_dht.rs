//! Trackerless download through the DHT alone (BEP 5), on the private namespace network of
//! scripts/netns.sh (needs root; skipped otherwise):
//!
//! - ns2 and ns3: plain ccbt DHT nodes (`ccbt dht status --wait ...`), ns3 bootstrapped from ns2;
//! - ns1: a libtorrent DHT node seeding the torrent, bootstrapped from the ccbt node in ns2 and
//!   given both ccbt nodes as ordinary nodes, so it announces itself to them;
//! - ns4: `ccbt magnet "magnet:?xt=urn:btih:HASH"` (no tracker, no `x.pe`) bootstrapped from
//!   ns2 only: it must find the seeder by `get_peers` through the ccbt nodes, fetch the
//!   metadata from it and download the content.
//!
//! The hosts reach only each other (no route out), so nothing can leak to public DHT routers.

mod support;

use std::time::{Duration, Instant};

use support::discovery::{is_root, logged_peer_connected, lt_dht_node, lt_make_torrent_with, magnet, Netns};
use support::{
    assert_same_tree, interop, lt_info_hash, run_with_timeout, work_dir, write_tree, Proc, Tool, GRACE,
    LT_PYTHON, ODD_LAYOUT, SETUP,
};

/// UDP (DHT) and TCP (peer) port every host uses; each host has its own address.
const PORT: u16 = 6881;
/// The whole magnet download, DHT lookups included.
const DHT_DOWNLOAD: Duration = Duration::from_secs(90);

fn host(i: u32) -> String {
    format!("{}:{PORT}", Netns::addr(i))
}

#[test]
fn magnet_resolves_and_downloads_through_the_dht_alone() {
    let test = "magnet_resolves_and_downloads_through_the_dht_alone";
    if !interop(test, &[Tool::Libtorrent]) {
        return;
    }
    if !is_root() {
        eprintln!("note: {test} skipped: network namespaces (scripts/netns.sh) need root");
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = write_tree(&w.join("src/data"), ODD_LAYOUT, 97);
    let torrent = w.join("t.torrent");
    lt_make_torrent_with(&content, &torrent, 32 * 1024, &[]);
    let hash = lt_info_hash(&torrent);

    // Declared first so it is dropped last, after every process running inside it.
    let net = Netns::up(4, w);
    let started = Instant::now();

    // Two plain ccbt nodes. ns2 is everybody's bootstrap node; its own bootstrap entry (ns3)
    // only keeps it off the public routers.
    let mut ns2 = ccbt_node(&net, w, 2, &host(3));
    let mut ns3 = ccbt_node(&net, w, 3, &host(2));

    // The libtorrent seeder: ns2 as router, both ccbt nodes as ordinary nodes so its routing
    // table is not empty when it announces (libtorrent never adds routers to it).
    let listen = host(1);
    let (b2, b3) = (host(2), host(3));
    let (mut seeder, seed_port) = lt_dht_node(
        net.command(1, LT_PYTHON),
        w,
        "lt_dht_seed",
        &[
            "--listen",
            &listen,
            "--bootstrap",
            &b2,
            "--node",
            &b2,
            "--node",
            &b3,
            "--seed",
            "--torrent",
            torrent.to_str().expect("utf-8 path"),
            "--data",
            w.join("src").to_str().expect("utf-8 path"),
            "--announce-interval",
            "5",
        ],
    );
    assert_eq!(seed_port, PORT, "lt_dht_node listens elsewhere");

    let out = w.join("out");
    let mut cmd = net.command(4, env!("CARGO_BIN_EXE_ccbt"));
    ccbt_env(&mut cmd);
    cmd.arg("magnet")
        .arg(magnet(&hash, &[]))
        .arg("-o")
        .arg(&out)
        .arg("--state-dir")
        .arg(w.join("state4"))
        .args(["--listen-port", &PORT.to_string(), "--dht-port", &PORT.to_string()])
        .args(["--dht-bootstrap", &b2, "--no-trackers", "--log-level", "debug"]);
    let done = run_with_timeout("ccbt-magnet-ns4", &mut cmd, w, DHT_DOWNLOAD);
    let elapsed = started.elapsed();
    if !done.success() {
        panic!(
            "ccbt magnet through the DHT failed after {elapsed:?}\n{}\n{}\n{}\n{}",
            done.describe(),
            seeder.logs(),
            ns2.logs(),
            ns3.logs()
        );
    }
    assert_same_tree(&content, &out.join("data"));
    assert!(done.stderr.contains("peers from the dht"), "no peers came from the DHT\n{}", done.describe());
    assert!(
        logged_peer_connected(&done.stderr, &listen),
        "ccbt never connected to the seeder {listen} it could only learn from the DHT\n{}",
        done.describe()
    );
    eprintln!("{test}: network up to download done in {elapsed:?}");

    let (status, clean) = seeder.terminate(GRACE);
    assert!(clean && status.success(), "lt_dht_node did not stop cleanly\n{}", seeder.logs());
    for node in [&mut ns2, &mut ns3] {
        node.terminate(GRACE);
    }
}

/// The environment `support::ccbt()` sets, for a ccbt started through `ip netns exec`.
fn ccbt_env(cmd: &mut std::process::Command) {
    cmd.env_remove("CCBT_LOG_LEVEL");
    cmd.env("XDG_STATE_HOME", std::env::temp_dir().join("ccbt-tests-state"));
}

/// A plain ccbt DHT node in host `i` (`ccbt dht status` waiting far longer than the test),
/// with its own state folder; returns once its DHT socket is bound.
fn ccbt_node(net: &Netns, w: &std::path::Path, i: u32, bootstrap: &str) -> Proc {
    let mut cmd = net.command(i, env!("CARGO_BIN_EXE_ccbt"));
    ccbt_env(&mut cmd);
    cmd.args(["dht", "status", "--wait", "600", "--dht-port", &PORT.to_string()])
        .args(["--dht-bootstrap", bootstrap, "--log-level", "debug", "--state-dir"])
        .arg(w.join(format!("state{i}")));
    let mut proc = Proc::spawn(&format!("ccbt-dht-ns{i}"), &mut cmd, w);
    proc.wait_for("dht node listening", SETUP, |_, err| err.contains("dht node listening").then_some(()));
    proc
}
