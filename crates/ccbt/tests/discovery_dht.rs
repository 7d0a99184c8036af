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
//! Twice: seeder first (found by the first lookup), then, for a second torrent, downloader
//! first and seeder a few seconds later (found by one of ccbt's repeated lookups). Each time
//! ccbt then announces itself, and the libtorrent node must accept that announce_peer.
//!
//! The hosts reach only each other (no route out), so nothing can leak to public DHT routers.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::discovery::{
    is_root, logged_peer_connected, lt_dht_node, lt_make_torrent_with, magnet, require_program, Netns,
};
use support::{
    assert_same_tree, interop, lt_info_hash, work_dir, write_tree, Finished, Proc, Tool, GRACE, LT_PYTHON,
    ODD_LAYOUT, SETUP,
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
    require_program(test, "ip", "iproute2");
    let work = work_dir();
    let w = work.path();
    let first = Content::new(w, "first", 97);
    let second = Content::new(w, "second", 98);

    // Declared first so it is dropped last, after every process running inside it.
    let net = Netns::up(4, w);
    let started = Instant::now();

    // Two plain ccbt nodes. ns2 is everybody's bootstrap node; its own bootstrap entry (ns3)
    // only keeps it off the public routers.
    let mut ns2 = ccbt_node(&net, w, 2, &host(3));
    let mut ns3 = ccbt_node(&net, w, 3, &host(2));
    let nodes = [&ns2, &ns3];

    // Seeder first: it has announced itself to the ccbt nodes before the download starts.
    let mut seeder = lt_seeder(&net, w, "lt_dht_seed_first", &first, PORT);
    let mut download = magnet_in_ns4(&net, w, "ccbt-magnet-first", &first);
    let done = finish(&mut download, &[&seeder], &nodes);
    let seed_first = started.elapsed();
    check(&done, &first, &host(1));
    announced_to(&mut seeder, &first);
    let (status, clean) = seeder.terminate(GRACE);
    assert!(clean && status.success(), "lt_dht_node did not stop cleanly\n{}", seeder.logs());

    // Downloader first: its first lookups find nobody; the seeder (another port of ns1)
    // appears later and one of ccbt's repeated lookups must find it.
    let started = Instant::now();
    let mut download = magnet_in_ns4(&net, w, "ccbt-magnet-second", &second);
    sleep(Duration::from_secs(3));
    let mut seeder = lt_seeder(&net, w, "lt_dht_seed_second", &second, PORT + 1);
    let done = finish(&mut download, &[&seeder], &nodes);
    let leech_first = started.elapsed();
    check(&done, &second, &format!("{}:{}", Netns::addr(1), PORT + 1));
    announced_to(&mut seeder, &second);
    eprintln!(
        "{test}: seeder first: network up to done in {seed_first:?}; downloader first: {leech_first:?}"
    );

    let (status, clean) = seeder.terminate(GRACE);
    assert!(clean && status.success(), "lt_dht_node did not stop cleanly\n{}", seeder.logs());
    for node in [&mut ns2, &mut ns3] {
        node.terminate(GRACE);
    }
}

/// One torrent of the test: content made under `W/<name>/data`, its .torrent and info hash.
struct Content {
    name: String,
    data: PathBuf,
    torrent: PathBuf,
    hash: String,
}

impl Content {
    fn new(w: &Path, name: &str, seed: u64) -> Content {
        let data = write_tree(&w.join(name).join("data"), ODD_LAYOUT, seed);
        let torrent = w.join(format!("{name}.torrent"));
        lt_make_torrent_with(&data, &torrent, 32 * 1024, &[]);
        let hash = lt_info_hash(&torrent);
        Content { name: name.to_owned(), data, torrent, hash }
    }
}

/// A libtorrent DHT node in ns1 seeding `content` on `port`: ns2 as router, both ccbt nodes
/// as ordinary nodes so its routing table is not empty when it announces (libtorrent never
/// adds routers to it).
fn lt_seeder(net: &Netns, w: &Path, name: &str, content: &Content, port: u16) -> Proc {
    let listen = format!("{}:{port}", Netns::addr(1));
    let (b2, b3) = (host(2), host(3));
    let dir = w.join(&content.name);
    let (seeder, seed_port) = lt_dht_node(
        net.command(1, LT_PYTHON),
        w,
        name,
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
            content.torrent.to_str().expect("utf-8 path"),
            "--data",
            dir.to_str().expect("utf-8 path"),
            "--announce-interval",
            "5",
        ],
    );
    assert_eq!(seed_port, port, "lt_dht_node listens elsewhere");
    seeder
}

/// `ccbt magnet "magnet:?xt=urn:btih:HASH"` in ns4, bootstrapped from ns2 only, no trackers,
/// with a state folder of its own.
fn magnet_in_ns4(net: &Netns, w: &Path, name: &str, content: &Content) -> Proc {
    let mut cmd = net.command(4, env!("CARGO_BIN_EXE_ccbt"));
    ccbt_env(&mut cmd);
    cmd.arg("magnet")
        .arg(magnet(&content.hash, &[]))
        .arg("-o")
        .arg(w.join(format!("out-{}", content.name)))
        .arg("--state-dir")
        .arg(w.join(format!("state4-{}", content.name)))
        .args(["--listen-port", &PORT.to_string(), "--dht-port", &PORT.to_string()])
        .args(["--dht-bootstrap", &host(2), "--no-trackers", "--log-level", "debug"]);
    Proc::spawn(name, &mut cmd, w)
}

/// Waits for the download to exit 0 within [`DHT_DOWNLOAD`]; panics with every log otherwise.
fn finish(download: &mut Proc, seeders: &[&Proc], nodes: &[&Proc]) -> Finished {
    let status = download.wait_timeout(DHT_DOWNLOAD);
    if !status.is_some_and(|s| s.success()) {
        let others: Vec<String> = seeders.iter().chain(nodes).map(|p| p.logs()).collect();
        panic!("ccbt magnet through the DHT failed ({status:?})\n{}\n{}", download.logs(), others.join("\n"));
    }
    Finished { status, stdout: download.stdout_text(), stderr: download.stderr_text() }
}

/// The content arrived intact, and from the seeder at `seeder`, learnt through the DHT.
fn check(done: &Finished, content: &Content, seeder: &str) {
    assert_same_tree(&content.data, &done_dir(content));
    assert!(done.stderr.contains("peers from the dht"), "no peers came from the DHT\n{}", done.describe());
    assert!(
        logged_peer_connected(&done.stderr, seeder),
        "ccbt never connected to the seeder {seeder} it could only learn from the DHT\n{}",
        done.describe()
    );
}

/// The libtorrent seeder accepted ccbt's `announce_peer` (made with the token of its
/// `get_peers` reply) for the torrent: lt_dht_node prints `DHT_ANNOUNCE_IN <ip>:<port> <hash>`.
fn announced_to(seeder: &mut Proc, content: &Content) {
    let want = format!("DHT_ANNOUNCE_IN {} {}", host(4), content.hash);
    seeder.wait_for("ccbt's announce_peer", Duration::from_secs(10), |out, _| {
        out.contains(&want).then_some(())
    });
}

fn done_dir(content: &Content) -> PathBuf {
    content
        .data
        .parent()
        .and_then(Path::parent)
        .expect("work dir")
        .join(format!("out-{}", content.name))
        .join("data")
}

/// The environment `support::ccbt()` sets, for a ccbt started through `ip netns exec`.
fn ccbt_env(cmd: &mut Command) {
    cmd.env_remove("CCBT_LOG_LEVEL");
    cmd.env("XDG_STATE_HOME", std::env::temp_dir().join("ccbt-tests-state"));
}

/// A plain ccbt DHT node in host `i` (`ccbt dht status` waiting far longer than the test),
/// with its own state folder; returns once its DHT socket is bound.
fn ccbt_node(net: &Netns, w: &Path, i: u32, bootstrap: &str) -> Proc {
    let mut cmd = net.command(i, env!("CARGO_BIN_EXE_ccbt"));
    ccbt_env(&mut cmd);
    cmd.args(["dht", "status", "--wait", "600", "--dht-port", &PORT.to_string()])
        .args(["--dht-bootstrap", bootstrap, "--log-level", "debug", "--state-dir"])
        .arg(w.join(format!("state{i}")));
    let mut proc = Proc::spawn(&format!("ccbt-dht-ns{i}"), &mut cmd, w);
    proc.wait_for("dht node listening", SETUP, |_, err| err.contains("dht node listening").then_some(()));
    proc
}
