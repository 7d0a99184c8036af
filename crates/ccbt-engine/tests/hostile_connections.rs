//! Hostile hosts against connection slots and bans. Each hostile host has its own loopback
//! address (127.0.0.N, N >= 2); the honest seeder and the session under test use 127.0.0.1.
//! Assertions are about slots held and connections refused, never about timing (time limits
//! only turn a hang into a failure).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use ccbt_engine::{AddTorrent, Session, SessionOptions, TorrentId};
use ccbt_metainfo::Torrent;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Opens a TCP connection from `127.0.0.<host>` to `to`.
async fn connect_from(host: u8, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from(([127, 0, 0, host], 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// Reads until the other side closes; returns the bytes received, or None if it stayed open
/// for `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A seeding ccbt session for `torrent` whose data is under `dir`.
async fn seeder(torrent: &Torrent, dir: &std::path::Path) -> Session {
    let seeder = Session::new(options()).await.unwrap();
    let id = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(dir)).await.unwrap();
    wait_complete(&seeder, id, Duration::from_secs(30)).await;
    seeder
}

fn handshake_bytes(torrent: &Torrent, peer_id: [u8; 20]) -> Vec<u8> {
    let mut h = vec![19u8];
    h.extend_from_slice(b"BitTorrent protocol");
    h.extend_from_slice(&[0u8; 8]);
    h.extend_from_slice(torrent.info_hash.as_bytes());
    h.extend_from_slice(&peer_id);
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_from_one_ip_get_only_its_share_and_do_not_block_our_dials() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let torrent = make_torrent(src.path(), "payload", &[("", data(200_000, 61))], 16384);
    let seeder = seeder(&torrent, src.path()).await;

    // Long timeouts: the hostile connections are held for the whole test unless refused.
    let leecher = Session::new(SessionOptions {
        max_global_peers: 4,
        max_connections_per_ip: 2,
        handshake_timeout: Duration::from_secs(300),
        connection_timeout: Duration::from_secs(300),
        ..options()
    })
    .await
    .unwrap();
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(connect_from(2, leecher.listen_addr()).await);
    }
    // Everything beyond the per-IP share is closed at once; the share stays open.
    let mut closed = 0;
    for stream in idle.iter_mut().rev() {
        if read_until_closed(stream, Duration::from_secs(2)).await.is_some() {
            closed += 1;
        }
        if closed == 18 {
            break;
        }
    }
    assert_eq!(closed, 18, "one host held more than max_connections_per_ip connections");
    assert_eq!(leecher.connected_peers(), 0, "idle connections hold no established slot");
    assert!(leecher.handshaking_peers() <= 2, "{}", leecher.handshaking_peers());

    let add = AddTorrent::new(torrent.clone()).save_path(dst.path()).peers([seeder.listen_addr()]);
    let id = leecher.add_torrent(add).await.unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    drop(idle);
    leecher.shutdown().await;
    seeder.shutdown().await;
    assert_same_files(&torrent, src.path(), dst.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_handshakers_are_dropped_at_the_deadline_and_hold_no_established_slot() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let torrent = make_torrent(src.path(), "payload", &[("", data(150_000, 62))], 16384);
    let seeder = seeder(&torrent, src.path()).await;

    // `connection_timeout` is long: only the short handshake deadline may drop them.
    let leecher = Session::new(SessionOptions {
        max_global_peers: 2,
        max_handshakes: 4,
        handshake_timeout: Duration::from_secs(1),
        connection_timeout: Duration::from_secs(300),
        ..options()
    })
    .await
    .unwrap();
    let hello = handshake_bytes(&torrent, *b"-XX0001-slowslowslow");
    let mut slow = Vec::new();
    for host in 2..8u8 {
        let mut stream = connect_from(host, leecher.listen_addr()).await;
        // Half of the protocol header, then nothing.
        stream.write_all(&hello[..10]).await.unwrap();
        slow.push(stream);
    }
    assert_eq!(leecher.connected_peers(), 0, "handshaking connections hold no established slot");
    assert!(leecher.handshaking_peers() <= 4, "{}", leecher.handshaking_peers());
    let add = AddTorrent::new(torrent.clone()).save_path(dst.path()).peers([seeder.listen_addr()]);
    let id = leecher.add_torrent(add).await.unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    for stream in &mut slow {
        let got = read_until_closed(stream, Duration::from_secs(30)).await;
        assert_eq!(got, Some(Vec::new()), "a slow handshaker was kept past the deadline or answered");
    }
    leecher.shutdown().await;
    seeder.shutdown().await;
}

/// Serves garbage for every request, as a seeder with every piece, until the connection ends.
async fn lie(mut stream: TcpStream, torrent: &Torrent) {
    let mut peer_handshake = [0u8; 68];
    if stream.read_exact(&mut peer_handshake).await.is_err() {
        return;
    }
    let pieces = torrent.piece_hashes.len();
    let mut out = Vec::new();
    let bitfield_len = pieces.div_ceil(8);
    out.extend_from_slice(&(1 + bitfield_len as u32).to_be_bytes());
    out.push(5);
    let mut bits = vec![0xffu8; bitfield_len];
    if pieces % 8 != 0 {
        *bits.last_mut().unwrap() = 0xffu8 << (8 - pieces % 8);
    }
    out.extend_from_slice(&bits);
    out.extend_from_slice(&[0, 0, 0, 1, 1]); // unchoke
    if stream.write_all(&out).await.is_err() {
        return;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while buf.len() >= 4 {
            let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
            if buf.len() < 4 + len {
                break;
            }
            let msg: Vec<u8> = buf.drain(..4 + len).skip(4).collect();
            if msg.first() == Some(&6) && msg.len() == 13 {
                let mut reply = Vec::new();
                let block_len = u32::from_be_bytes(msg[9..13].try_into().unwrap());
                reply.extend_from_slice(&(9 + block_len).to_be_bytes());
                reply.push(7);
                reply.extend_from_slice(&msg[1..9]);
                reply.resize(reply.len() + block_len as usize, 0xAA);
                if stream.write_all(&reply).await.is_err() {
                    return;
                }
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn wait_banned(session: &Session, id: TorrentId) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while session.status(id).unwrap().banned_peers == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the liar was not banned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banned_ip_reconnecting_with_a_new_peer_id_is_refused_before_the_handshake() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let torrent = make_torrent(src.path(), "payload", &[("", data(64 * 1024, 63))], 16384);
    let leecher = Session::new(SessionOptions { max_hash_failures: 1, ..options() }).await.unwrap();
    let id = leecher.add_torrent(AddTorrent::new(torrent.clone()).save_path(dst.path())).await.unwrap();
    wait_accepting(&leecher, id, Duration::from_secs(30)).await;

    let mut liar = connect_from(9, leecher.listen_addr()).await;
    liar.write_all(&handshake_bytes(&torrent, *b"-XX0001-liarliarliar")).await.unwrap();
    let liar_torrent = torrent.clone();
    let liar_task = tokio::spawn(async move { lie(liar, &liar_torrent).await });
    wait_banned(&leecher, id).await;
    liar_task.abort();

    // Same IP, new peer id: refused before we answer with our handshake.
    let mut again = connect_from(9, leecher.listen_addr()).await;
    again.write_all(&handshake_bytes(&torrent, *b"-XX0001-newnewnewnew")).await.unwrap();
    let got = read_until_closed(&mut again, Duration::from_secs(30)).await;
    assert_eq!(got, Some(Vec::new()), "a banned IP got a handshake back");

    // Another host is still welcome.
    let mut other = connect_from(10, leecher.listen_addr()).await;
    other.write_all(&handshake_bytes(&torrent, *b"-XX0001-otherotherot")).await.unwrap();
    let mut answer = [0u8; 68];
    tokio::time::timeout(Duration::from_secs(30), other.read_exact(&mut answer)).await.unwrap().unwrap();
    assert_eq!(&answer[28..48], torrent.info_hash.as_bytes());
    leecher.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_useless_peer_is_evicted_when_a_candidate_waits_for_its_slot() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let torrent = make_torrent(src.path(), "payload", &[("", data(100_000, 64))], 16384);
    let seeder = seeder(&torrent, src.path()).await;
    let leecher = Session::new(SessionOptions {
        max_peers_per_torrent: 1,
        useless_peer_timeout: Duration::from_secs(1),
        ..options()
    })
    .await
    .unwrap();
    let id = leecher.add_torrent(AddTorrent::new(torrent.clone()).save_path(dst.path())).await.unwrap();
    wait_accepting(&leecher, id, Duration::from_secs(30)).await;

    // A peer with nothing to give that never asks for anything takes the only slot.
    let mut idle = connect_from(11, leecher.listen_addr()).await;
    idle.write_all(&handshake_bytes(&torrent, *b"-XX0001-idleidleidle")).await.unwrap();
    let mut answer = [0u8; 68];
    tokio::time::timeout(Duration::from_secs(30), idle.read_exact(&mut answer)).await.unwrap().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while leecher.status(id).unwrap().connected_peers == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the idle peer was never registered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    leecher.add_peers(id, &[seeder.listen_addr()]).unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    assert!(
        read_until_closed(&mut idle, Duration::from_secs(30)).await.is_some(),
        "the idle peer kept its slot"
    );
    leecher.shutdown().await;
    seeder.shutdown().await;
    assert_same_files(&torrent, src.path(), dst.path());
}

/// Keeps one idle connection from `127.0.0.<host>` to `to` open, reconnecting whenever it is
/// closed, until the task is aborted.
async fn keep_idle_connection(host: u8, to: SocketAddr) {
    loop {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from(([127, 0, 0, host], 0))).unwrap();
        if let Ok(mut stream) = socket.connect(to).await {
            let mut buf = [0u8; 1024];
            while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_peer_gets_through_while_idle_hosts_keep_every_handshake_slot_busy() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let torrent = make_torrent(src.path(), "payload", &[("", data(300_000, 65))], 16384);
    // A long deadline: only eviction, never the deadline, can free a slot taken by an idle host.
    let seeder = Session::new(SessionOptions {
        max_handshakes: 4,
        handshake_timeout: Duration::from_secs(300),
        ..options()
    })
    .await
    .unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(30)).await;
    let attackers: Vec<_> =
        (20..32u8).map(|host| tokio::spawn(keep_idle_connection(host, seeder.listen_addr()))).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seeder.handshaking_peers() < 4 {
        assert!(tokio::time::Instant::now() < deadline, "the idle hosts never filled the handshake slots");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The leecher dials the seeder (its incoming side is the one under attack).
    let leecher = Session::new(options()).await.unwrap();
    let add = AddTorrent::new(torrent.clone()).save_path(dst.path()).peers([seeder.listen_addr()]);
    let id = leecher.add_torrent(add).await.unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    assert!(seeder.handshaking_peers() <= 4, "{}", seeder.handshaking_peers());
    for a in attackers {
        a.abort();
    }
    leecher.shutdown().await;
    seeder.shutdown().await;
    assert_same_files(&torrent, src.path(), dst.path());
}

fn compact(addr: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(v4) = addr else { panic!("IPv4 only") };
    let mut out = v4.ip().octets().to_vec();
    out.extend_from_slice(&v4.port().to_be_bytes());
    out
}

/// A peer (PEX, like a tracker or the DHT) names a loopback service on a privileged port and a
/// loopback peer on an ordinary port: the session dials only the second (`ssrf_mitigation`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_service_named_by_peer_exchange_is_never_dialled() {
    // Port 999 needs privileges; without them the trap cannot exist and there is nothing to test.
    let trap = match tokio::net::TcpListener::bind("127.0.0.5:999").await {
        Ok(trap) => trap,
        Err(e) => {
            eprintln!("note: skipped, cannot listen on a privileged port: {e}");
            return;
        }
    };
    let control = tokio::net::TcpListener::bind("127.0.0.5:0").await.unwrap();
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let torrent = make_torrent(src.path(), "payload", &[("", data(50_000, 66))], 16384);
    let leecher = Session::new(options()).await.unwrap();
    let id = leecher.add_torrent(AddTorrent::new(torrent.clone()).save_path(dst.path())).await.unwrap();
    wait_accepting(&leecher, id, Duration::from_secs(30)).await;

    let mut peer = connect_from(12, leecher.listen_addr()).await;
    let mut hello = handshake_bytes(&torrent, *b"-XX0001-pexpexpexpex");
    hello[25] |= 0x10; // extension protocol (BEP 10)
    let ext_handshake = b"\x00d1:md6:ut_pexi1ee1:pi6881ee";
    hello.extend_from_slice(&(ext_handshake.len() as u32 + 1).to_be_bytes());
    hello.push(20);
    hello.extend_from_slice(ext_handshake);
    let mut pex = b"\x02d5:added12:".to_vec(); // our ut_pex id is 2
    pex.extend(compact("127.0.0.5:999".parse().unwrap()));
    pex.extend(compact(control.local_addr().unwrap()));
    pex.push(b'e');
    hello.extend_from_slice(&(pex.len() as u32 + 1).to_be_bytes());
    hello.push(20);
    hello.extend_from_slice(&pex);
    peer.write_all(&hello).await.unwrap();

    let (_dialled, _) = tokio::time::timeout(Duration::from_secs(30), control.accept())
        .await
        .expect("PEX was ignored")
        .unwrap();
    // Candidates are dialled in address order, so the trap (port 999) would have come first.
    let trapped = tokio::time::timeout(Duration::from_millis(500), trap.accept()).await;
    assert!(trapped.is_err(), "the session dialled a privileged loopback port named by PEX");
    leecher.shutdown().await;
}
