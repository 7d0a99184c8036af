//! The acceptance test of the hostile-peer hardening: an honest libtorrent leecher keeps
//! downloading from a ccbt seeder while hundreds of idle connections (from 40 loopback addresses
//! of their own, reconnecting whenever closed) and a metadata flood (thousands of `ut_metadata`
//! requests from peers that never read) are held open against it. Asserts completion, correct
//! bytes and bounded seeder memory; no timing.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use support::{
    assert_same_tree, ccbt_seed, interop, lt_leech_from, lt_make_torrent, work_dir, write_file, Kind, Tool,
    GRACE,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Idle attackers: this many addresses (127.0.0.10 on), each holding this many connections.
const IDLE_HOSTS: u8 = 40;
const IDLE_PER_HOST: usize = 8;
/// Metadata flooders: this many addresses (127.0.0.60 on), each sending this many requests.
const FLOOD_HOSTS: u8 = 8;
const FLOOD_REQUESTS: usize = 5000;
/// The seeder's resident memory must stay below this with everything held open.
const MAX_SEEDER_RSS_KIB: u64 = 512 * 1024;

async fn connect_from(host: u8, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from(([127, 0, 0, host], 0)))?;
    socket.connect(to).await
}

/// One idle connection from `host`, reopened whenever the seeder closes it.
async fn idle(host: u8, to: SocketAddr) {
    loop {
        if let Ok(mut stream) = connect_from(host, to).await {
            let mut buf = [0u8; 512];
            while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn frame(id: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    out.push(id);
    out.extend_from_slice(payload);
    out
}

/// Reads messages until the peer's extension handshake and returns its `ut_metadata` id.
async fn their_ut_metadata_id(stream: &mut TcpStream) -> Option<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while buf.len() >= 4 {
            let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
            if buf.len() < 4 + len {
                break;
            }
            let msg: Vec<u8> = buf.drain(..4 + len).skip(4).collect();
            if msg.len() > 2 && msg[0] == 20 && msg[1] == 0 {
                let key = b"11:ut_metadatai";
                let at = msg.windows(key.len()).position(|w| w == key)? + key.len();
                let digits: Vec<u8> = msg[at..].iter().copied().take_while(u8::is_ascii_digit).collect();
                return std::str::from_utf8(&digits).ok()?.parse().ok();
            }
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Handshakes with the extension bit, asks for metadata piece 0 `FLOOD_REQUESTS` times in one
/// burst, then holds the connection without ever reading.
async fn flood(host: u8, to: SocketAddr, info_hash: [u8; 20]) {
    let Ok(mut stream) = connect_from(host, to).await else { return };
    let mut hello = vec![19u8];
    hello.extend_from_slice(b"BitTorrent protocol");
    hello.extend_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0]);
    hello.extend_from_slice(&info_hash);
    hello.extend_from_slice(b"-XX0001-floodflood00");
    hello.extend_from_slice(&frame(20, b"\x00d1:md11:ut_metadatai3eee"));
    let mut theirs = [0u8; 68];
    if stream.write_all(&hello).await.is_err() || stream.read_exact(&mut theirs).await.is_err() {
        return;
    }
    let Some(id) = their_ut_metadata_id(&mut stream).await else { return };
    let mut payload = vec![id];
    payload.extend_from_slice(b"d8:msg_typei0e5:piecei0ee");
    let burst: Vec<u8> = (0..FLOOD_REQUESTS).flat_map(|_| frame(20, &payload)).collect();
    let _ = stream.write_all(&burst).await;
    std::future::pending::<()>().await;
}

fn info_hash_of(torrent: &Path) -> [u8; 20] {
    let hex = support::lt_info_hash(torrent);
    let mut out = [0u8; 20];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex info hash");
    }
    out
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("seeder status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmRSS value")
}

#[test]
fn libtorrent_leecher_completes_while_idle_connections_and_a_metadata_flood_hold_the_seeder() {
    let test = "libtorrent_leecher_completes_while_idle_connections_and_a_metadata_flood_hold_the_seeder";
    if !interop(test, &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let file = w.join("src/single.bin");
    write_file(&file, 71, 6 * 1024 * 1024 + 777);
    let torrent = w.join("t.torrent");
    lt_make_torrent(&file, &torrent, 32 * 1024, Kind::V1);
    let mut seed = ccbt_seed(w, "ccbt-seed", &torrent, &w.join("src"), &[]);
    let to: SocketAddr = seed.addr().parse().unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let info_hash = info_hash_of(&torrent);
    let mut attackers = Vec::new();
    for host in 10..10 + IDLE_HOSTS {
        for _ in 0..IDLE_PER_HOST {
            attackers.push(rt.spawn(idle(host, to)));
        }
    }
    for host in 60..60 + FLOOD_HOSTS {
        attackers.push(rt.spawn(flood(host, to, info_hash)));
    }

    let out = w.join("out");
    let done = lt_leech_from(w, &torrent, &out, &seed.addr());
    let rss = rss_kib(seed.proc.pid());
    for a in attackers {
        a.abort();
    }
    drop(rt);
    done.assert_success("lt_leech from a ccbt seed under attack");
    assert!(done.stdout.contains("DONE"), "{}", done.describe());
    assert!(!done.stderr.contains("HASH_FAILED"), "ccbt served bad data:\n{}", done.describe());
    assert_same_tree(&file, &out.join("single.bin"));
    assert!(rss < MAX_SEEDER_RSS_KIB, "seeder resident memory {rss} KiB under attack\n{}", seed.proc.logs());
    let (status, clean) = seed.proc.terminate(GRACE);
    assert!(clean && status.success(), "ccbt seed did not stop cleanly: {status}\n{}", seed.proc.logs());
}
