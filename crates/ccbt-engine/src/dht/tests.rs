//! DHT nodes on loopback. Every address is 127.0.0.1: nothing leaves the machine (no public
//! router is ever named, and bootstrap strings are literal addresses, so no DNS either).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use ccbt_core::InfoHash;
use ccbt_dht::krpc::{self, Body, Message, Query};
use ccbt_dht::NodeId;
use tempfile::TempDir;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::state::{self, STATE_FILE};
use super::{bootstrap_addrs, start, DhtHandle};
use crate::options::SessionOptions;

const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

fn options(state_dir: &Path, port: u16, bootstrap: &[SocketAddr]) -> SessionOptions {
    SessionOptions {
        listen_host: LOCALHOST.into(),
        dht_port: port,
        dht_bootstrap_nodes: bootstrap.iter().map(ToString::to_string).collect(),
        state_dir: state_dir.to_owned(),
        ..SessionOptions::default()
    }
}

struct TestNode {
    handle: DhtHandle,
    dir: TempDir,
}

async fn spawn_node(bootstrap: &[SocketAddr]) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let handle = start(&options(dir.path(), 0, bootstrap)).await.unwrap();
    TestNode { handle, dir }
}

/// Nodes in the routing table.
async fn table_size(handle: &DhtHandle) -> usize {
    let s = handle.status().await.expect("node running");
    s.good_nodes + s.questionable_nodes
}

/// Waits until every node knows at least `min` others.
async fn wait_for_tables(nodes: &[&DhtHandle], min: usize) {
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let mut ok = true;
            for n in nodes {
                ok &= table_size(n).await >= min;
            }
            if ok {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "routing tables did not fill");
}

/// Everything a lookup reports, once its channel closes.
async fn collect(mut peers: mpsc::Receiver<Vec<SocketAddr>>) -> Vec<SocketAddr> {
    let mut all = Vec::new();
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(batch) = peers.recv().await {
            all.extend(batch);
        }
    })
    .await;
    assert!(drained.is_ok(), "lookup did not finish");
    all
}

/// `get_peers` until `expected` shows up (an announce is sent, not acknowledged, when its
/// channel closes, so the storing node may still be processing it).
async fn find_peer(handle: &DhtHandle, info_hash: InfoHash, expected: SocketAddr) -> bool {
    for _ in 0..5 {
        if collect(handle.get_peers(info_hash).await).await.contains(&expected) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// A first node and `n` more bootstrapping from it, all with full enough tables.
async fn network(n: usize) -> Vec<TestNode> {
    let first = spawn_node(&[]).await;
    let router = first.handle.local_addr();
    let mut nodes = vec![first];
    for _ in 0..n {
        nodes.push(spawn_node(&[router]).await);
    }
    let handles: Vec<&DhtHandle> = nodes.iter().map(|n| &n.handle).collect();
    wait_for_tables(&handles, 2).await;
    nodes
}

async fn shutdown_all(nodes: &[TestNode]) {
    for n in nodes {
        n.handle.shutdown().await;
    }
}

#[tokio::test]
async fn announce_then_get_peers_across_five_nodes() {
    let nodes = network(4).await;
    for n in &nodes {
        assert_eq!(n.handle.local_addr().ip(), LOCALHOST);
    }
    let info_hash = InfoHash([0x5a; 20]);
    let announcer = &nodes[1].handle;
    let found_while_announcing = collect(announcer.announce(info_hash, 4242).await).await;
    assert!(found_while_announcing.is_empty(), "nobody announced before: {found_while_announcing:?}");

    let expected = SocketAddr::new(LOCALHOST.into(), 4242);
    assert!(find_peer(&nodes[4].handle, info_hash, expected).await);
    assert!(find_peer(&nodes[0].handle, info_hash, expected).await);
    // A torrent nobody announced: the lookup ends with nothing.
    assert!(collect(nodes[3].handle.get_peers(InfoHash([0x11; 20])).await).await.is_empty());

    let status = nodes[2].handle.status().await.unwrap();
    assert!(status.queries_in > 0 && status.queries_out > 0);
    shutdown_all(&nodes).await;
}

#[tokio::test]
async fn restarts_from_its_saved_table_without_bootstrap_nodes() {
    let nodes = network(3).await;
    let info_hash = InfoHash([0xc3; 20]);
    collect(nodes[3].handle.announce(info_hash, 5555).await).await;

    let restarted = &nodes[1];
    let before = restarted.handle.status().await.unwrap();
    let addr = restarted.handle.local_addr();
    restarted.handle.shutdown().await;
    assert!(restarted.handle.status().await.is_none(), "stopped after shutdown");
    let saved = std::fs::read(restarted.dir.path().join(STATE_FILE)).unwrap();
    let saved = state::decode(&saved).unwrap();
    assert_eq!(saved.id, before.node_id);
    assert!(saved.nodes.len() >= 2, "table saved: {:?}", saved.nodes);

    // Same port (freed before shutdown returned), no bootstrap nodes at all.
    let handle = start(&options(restarted.dir.path(), addr.port(), &[])).await.unwrap();
    assert_eq!(handle.local_addr(), addr);
    let after = handle.status().await.unwrap();
    assert_eq!(after.node_id, before.node_id, "node id kept");
    assert!(after.good_nodes + after.questionable_nodes >= 2, "table restored");
    let expected = SocketAddr::new(LOCALHOST.into(), 5555);
    assert!(find_peer(&handle, info_hash, expected).await);
    // Other nodes still reach it and it answers their lookups.
    assert!(find_peer(&nodes[0].handle, info_hash, expected).await);
    handle.shutdown().await;
    shutdown_all(&nodes).await;
}

#[tokio::test]
async fn corrupt_state_file_starts_fresh_and_is_replaced() {
    let router = spawn_node(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STATE_FILE);
    std::fs::write(&path, b"d2:id3:oops5:nodes").unwrap();
    let handle = start(&options(dir.path(), 0, &[router.handle.local_addr()])).await.unwrap();
    wait_for_tables(&[&handle], 1).await;
    let id = handle.status().await.unwrap().node_id;
    handle.shutdown().await;
    let saved = state::decode(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(saved.id, id);
    assert_eq!(saved.nodes.len(), 1);
    assert!(!dir.path().join("dht.dat.tmp").exists());
    router.handle.shutdown().await;
}

#[tokio::test]
async fn survives_garbage_datagrams() {
    let nodes = network(2).await;
    let target = nodes[0].handle.local_addr();
    let sock = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let garbage: [&[u8]; 7] = [
        b"",
        b"\xff\xfe\x00garbage",
        b"d1:ad2:id20:",
        b"d1:t2:aa1:y1:qe",
        b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe",
        b"li1ei2ee",
        &[b'x'; 5000],
    ];
    for g in garbage {
        sock.send_to(g, target).await.unwrap();
    }
    // Still answers a well-formed ping from the same socket (read-only, BEP 43, so that this
    // socket, which answers nothing, does not enter routing tables and slow the lookups below).
    let ping = Message {
        tid: b"zz".to_vec(),
        version: None,
        read_only: true,
        body: Body::Query(Query::Ping { id: NodeId([9; 20]) }),
    };
    sock.send_to(&ping.encode(), target).await.unwrap();
    let mut buf = [0u8; 2048];
    let reply = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let (len, _) = sock.recv_from(&mut buf).await.unwrap();
            let Ok(msg) = krpc::decode(&buf[..len]) else { continue };
            if msg.tid == b"zz" {
                return msg;
            }
        }
    })
    .await
    .expect("ping answered");
    assert!(matches!(reply.body, Body::Response(_)));
    // And the network still works through it.
    let info_hash = InfoHash([0x77; 20]);
    collect(nodes[1].handle.announce(info_hash, 7000).await).await;
    assert!(find_peer(&nodes[2].handle, info_hash, SocketAddr::new(LOCALHOST.into(), 7000)).await);
    shutdown_all(&nodes).await;
}

#[tokio::test]
async fn add_node_joins_an_isolated_node() {
    let a = spawn_node(&[]).await;
    let b = spawn_node(&[]).await;
    assert_eq!(table_size(&b.handle).await, 0);
    b.handle.add_node(a.handle.local_addr());
    wait_for_tables(&[&a.handle, &b.handle], 1).await;
    a.handle.shutdown().await;
    b.handle.shutdown().await;
}

#[tokio::test]
async fn taken_port_moves_to_the_next_free_one() {
    let dir = tempfile::tempdir().unwrap();
    let taken = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let port = taken.local_addr().unwrap().port();
    let handle = start(&options(dir.path(), port, &[])).await.unwrap();
    let used = handle.local_addr().port();
    assert!(used > port && used <= port.saturating_add(50), "{port} -> {used}");
    handle.shutdown().await;
}

#[tokio::test]
async fn unusable_bootstrap_entries_are_quiet_and_do_not_delay_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), 0, &[]);
    // Neither needs DNS: no port, a bad port, an IPv6 literal (the DHT is IPv4 only).
    opts.dht_bootstrap_nodes = vec!["no-port-here".into(), "127.0.0.1:notaport".into(), "[::1]:6881".into()];
    let handle = tokio::time::timeout(Duration::from_secs(2), start(&opts)).await.unwrap().unwrap();
    assert_eq!(table_size(&handle).await, 0);
    assert!(bootstrap_addrs(&opts.dht_bootstrap_nodes).await.is_empty());
    let literal = vec!["127.0.0.1:6881".to_string(), "127.0.0.1:6881".to_string()];
    assert_eq!(bootstrap_addrs(&literal).await, vec![SocketAddr::from((LOCALHOST, 6881))]);
    handle.shutdown().await;
    // A clean run with an empty table still writes the node id.
    assert!(state::decode(&std::fs::read(dir.path().join(STATE_FILE)).unwrap()).is_ok());
}

#[tokio::test]
async fn dropped_handles_stop_the_node_and_save() {
    let node = spawn_node(&[]).await;
    let path = node.dir.path().join(STATE_FILE);
    drop(node.handle);
    let saved = tokio::time::timeout(Duration::from_secs(5), async {
        while !path.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(saved.is_ok(), "state saved when the last handle went away");
}
