//! `Session::reconfigure` on a running session: lowered connection counts close the extra
//! connections and refuse new ones, a new piece selection applies to the next pieces, settings
//! that need a restart are reported and keep their value, invalid options change nothing.
//! Fake peers each use their own loopback address (127.0.0.N, N >= 2). No timing assertions:
//! deadlines only turn a hang into a failure.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use ccbt_engine::{AddTorrent, PieceSelection, RateLimits, Session, SessionError, SessionOptions, TorrentId};
use ccbt_metainfo::Torrent;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const LIMIT: Duration = Duration::from_secs(20);

/// A peer on 127.0.0.`host` that connects to `to` and completes the handshake for `torrent`.
async fn handshaken_peer(host: u8, to: SocketAddr, torrent: &Torrent) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from(([127, 0, 0, host], 0))).unwrap();
    let mut stream = socket.connect(to).await.unwrap();
    let mut hs = vec![19u8];
    hs.extend_from_slice(b"BitTorrent protocol");
    hs.extend_from_slice(&[0u8; 8]);
    hs.extend_from_slice(torrent.info_hash.as_bytes());
    hs.extend_from_slice(&[host; 20]);
    stream.write_all(&hs).await.unwrap();
    let mut theirs = [0u8; 68];
    tokio::time::timeout(LIMIT, stream.read_exact(&mut theirs)).await.unwrap().unwrap();
    stream
}

/// Whether the session closed `stream` within `limit` (false: still open).
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

async fn wait_peers(session: &Session, id: TorrentId, count: usize) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while session.peers(id).unwrap().len() != count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} peers, expected {count}",
            session.peers(id).unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A session downloading a 64-piece torrent (one block per piece) that nobody seeds.
async fn downloading(options: SessionOptions) -> (Session, TorrentId, Torrent, [tempfile::TempDir; 2]) {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let torrent = make_torrent(src.path(), "payload", &[("", data(64 * 16384, 7))], 16384);
    let session = Session::new(options).await.unwrap();
    let id = session.add_torrent(AddTorrent::new(torrent.clone()).save_path(dst.path())).await.unwrap();
    // Peers that connect while the torrent still checks its (empty) folder are refused.
    wait_accepting(&session, id, LIMIT).await;
    (session, id, torrent, [src, dst])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lowered_peer_counts_close_the_extra_connections_and_refuse_new_ones() {
    let (session, id, torrent, _dirs) = downloading(options()).await;
    let mut peers = Vec::new();
    for host in 2..=4 {
        peers.push(handshaken_peer(host, session.listen_addr(), &torrent).await);
    }
    wait_peers(&session, id, 3).await;

    let report = session
        .reconfigure(SessionOptions { max_peers_per_torrent: 2, ..(*session.options()).clone() })
        .unwrap();
    assert_eq!(report.applied, ["max_peers_per_torrent"]);
    assert!(report.needs_restart.is_empty());
    wait_peers(&session, id, 2).await;

    let report =
        session.reconfigure(SessionOptions { max_global_peers: 1, ..(*session.options()).clone() }).unwrap();
    assert_eq!(report.applied, ["max_global_peers"]);
    wait_peers(&session, id, 1).await;
    // The global count drops when a closed connection's task has given its slot back, which
    // may be a moment after the torrent forgot the peer.
    let deadline = tokio::time::Instant::now() + LIMIT;
    while session.connected_peers() != 1 {
        assert!(tokio::time::Instant::now() < deadline, "{} connected", session.connected_peers());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut closed = 0;
    for stream in &mut peers {
        closed += usize::from(closed_within(stream, Duration::from_secs(2)).await);
    }
    assert_eq!(closed, 2, "exactly the extra connections were closed");

    // A new peer finds no room; raising the limit again lets the next one in.
    let mut refused = handshaken_peer(5, session.listen_addr(), &torrent).await;
    assert!(closed_within(&mut refused, LIMIT).await);
    assert_eq!(session.peers(id).unwrap().len(), 1);
    session
        .reconfigure(SessionOptions { max_global_peers: 10, max_peers_per_torrent: 10, ..options() })
        .unwrap();
    let _admitted = handshaken_peer(6, session.listen_addr(), &torrent).await;
    wait_peers(&session, id, 2).await;
    session.shutdown().await;
}

/// Reads the peer-wire messages of `stream` until `count` requests arrived; their pieces.
async fn requested_pieces(stream: &mut TcpStream, count: usize) -> Vec<u32> {
    let mut buf = Vec::new();
    let mut pieces = Vec::new();
    let mut chunk = [0u8; 4096];
    while pieces.len() < count {
        let n = tokio::time::timeout(LIMIT, stream.read(&mut chunk)).await.unwrap().unwrap();
        assert!(n > 0, "closed after {pieces:?}");
        buf.extend_from_slice(&chunk[..n]);
        while buf.len() >= 4 {
            let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
            if buf.len() < 4 + len {
                break;
            }
            let msg: Vec<u8> = buf.drain(..4 + len).skip(4).collect();
            if msg.first() == Some(&6) && msg.len() == 13 {
                pieces.push(u32::from_be_bytes(msg[1..5].try_into().unwrap()));
            }
        }
    }
    pieces.truncate(count);
    pieces
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_piece_selection_applies_to_a_running_torrent() {
    let (session, id, torrent, _dirs) = downloading(options()).await;
    assert_eq!(session.options().piece_selection, PieceSelection::RarestFirst);
    let report = session
        .reconfigure(SessionOptions { piece_selection: PieceSelection::Sequential, ..options() })
        .unwrap();
    assert_eq!(report.applied, ["piece_selection"]);

    // A seeder offers every piece: sequential asks for 0, 1, 2, ... (rarest first would pick
    // among 64 equally rare pieces at random).
    let mut seeder = handshaken_peer(2, session.listen_addr(), &torrent).await;
    let mut out = (1u32 + 8).to_be_bytes().to_vec();
    out.push(5);
    out.extend_from_slice(&[0xff; 8]);
    out.extend_from_slice(&[0, 0, 0, 1, 1]); // unchoke
    seeder.write_all(&out).await.unwrap();
    assert_eq!(requested_pieces(&mut seeder, 8).await, (0..8).collect::<Vec<u32>>());
    assert_eq!(session.peers(id).unwrap().len(), 1);
    session.shutdown().await;
}

#[tokio::test]
async fn restart_settings_are_reported_and_kept_and_invalid_options_change_nothing() {
    let session = Session::new(options()).await.unwrap();
    let before = session.options();
    let new = SessionOptions {
        listen_port: 1,
        hash_workers: 3,
        max_upload_slots: 9,
        download_dir: "elsewhere".into(),
        // The session runs without a DHT node: turning the DHT on needs a restart.
        enable_dht: true,
        ..(*before).clone()
    };
    let report = session.reconfigure(new).unwrap();
    assert_eq!(report.applied, ["max_upload_slots", "download_dir"]);
    assert_eq!(report.needs_restart, ["listen_port", "hash_workers", "enable_dht"]);
    let now = session.options();
    assert_eq!((now.max_upload_slots, now.download_dir.as_path()), (9, "elsewhere".as_ref()));
    assert_eq!((now.listen_port, now.hash_workers, now.enable_dht), (0, 2, false));

    let invalid = SessionOptions { max_peers_per_torrent: 0, max_upload_slots: 1, ..(*now).clone() };
    assert!(matches!(
        session.reconfigure(invalid),
        Err(SessionError::InvalidOption { key: "max_peers_per_torrent", .. })
    ));
    assert_eq!(session.options().max_upload_slots, 9, "nothing of an invalid change applies");
    session.shutdown().await;
}

/// Rates in the options reach the limiters; one set through `set_limits` since stays until a
/// reconfigure changes that same rate (the last change wins).
#[tokio::test]
async fn rate_limits_change_live_and_the_last_change_wins() {
    let session = Session::new(options()).await.unwrap();
    let before = session.options();
    let new = SessionOptions { global_down_rate: 256 * 1024, peer_up_rate: 64 * 1024, ..(*before).clone() };
    let report = session.reconfigure(new.clone()).unwrap();
    assert_eq!(report.applied, ["global_down_kib", "peer_up_kib"]);
    assert_eq!(session.limits(), RateLimits { download: 256 * 1024, upload: 0 });

    session.set_limits(RateLimits { download: 0, upload: 128 * 1024 });
    let unrelated = SessionOptions { max_upload_slots: 9, ..new.clone() };
    assert_eq!(session.reconfigure(unrelated.clone()).unwrap().applied, ["max_upload_slots"]);
    assert_eq!(session.limits(), RateLimits { download: 0, upload: 128 * 1024 }, "kept");

    let up = SessionOptions { global_up_rate: 32 * 1024, ..unrelated };
    assert_eq!(session.reconfigure(up).unwrap().applied, ["global_up_kib"]);
    // The download rate this edit did not touch stays as `set_limits` left it.
    assert_eq!(session.limits(), RateLimits { download: 0, upload: 32 * 1024 });
    assert_eq!(session.peer_limits(), RateLimits { download: 0, upload: 64 * 1024 });
    session.shutdown().await;
}

/// A fake HTTP tracker on loopback: answers every request with no peers and forwards each
/// request line (`GET /announce?...`) on the channel.
async fn fake_tracker() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let _ = tx.send(text.lines().next().unwrap_or_default().to_owned());
                let body = b"d8:intervali1800e5:peers0:e";
                let head =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body).await;
            });
        }
    });
    (port, rx)
}

/// The next request line the tracker got that contains `event`.
async fn next_announce(requests: &mut tokio::sync::mpsc::UnboundedReceiver<String>, event: &str) -> String {
    loop {
        let line = tokio::time::timeout(LIMIT, requests.recv()).await.expect("an announce").unwrap();
        if line.contains(event) {
            return line;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trackers_switched_on_and_off_start_and_stop_announcing() {
    let (port, mut requests) = fake_tracker().await;
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let plain = make_torrent(src.path(), "tracked", &[("", data(4 * 16384, 9))], 16384);
    let builder = ccbt_metainfo::TorrentBuilder {
        name: "tracked".into(),
        files: vec![(Vec::new(), 4 * 16384)],
        piece_length: 16384,
        piece_hashes: plain.piece_hashes.clone(),
        trackers: vec![vec![format!("http://127.0.0.1:{port}/announce")]],
        ..ccbt_metainfo::TorrentBuilder::default()
    };
    let torrent = Torrent::from_bytes(&builder.build().unwrap()).unwrap();
    let off = SessionOptions { enable_http_trackers: false, ..options() };
    let session = Session::new(off.clone()).await.unwrap();
    let id = session.add_torrent(AddTorrent::new(torrent).save_path(dst.path())).await.unwrap();
    assert!(session.trackers(id).unwrap().is_empty(), "no announcer while http trackers are off");

    let report = session.reconfigure(options()).unwrap();
    assert_eq!(report.applied, ["enable_http_trackers"]);
    assert!(next_announce(&mut requests, "GET /announce?").await.contains("event=started"));
    // The answer was taken (the next announce is the tracker's interval away), so the tracker
    // lists us and is owed a `stopped`.
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !session
        .trackers(id)
        .unwrap()
        .first()
        .is_some_and(|t| t.next_announce_in > Some(Duration::from_secs(60)))
    {
        assert!(tokio::time::Instant::now() < deadline, "the announce was not answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    session.reconfigure(off).unwrap();
    next_announce(&mut requests, "event=stopped").await;
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !session.trackers(id).unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the announcer is still listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    session.shutdown().await;
}

/// Reads peer-wire messages until one with id `id` arrives (true) or `limit` passes (false).
async fn message_within(stream: &mut TcpStream, id: u8, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while buf.len() >= 4 {
            let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
            if buf.len() < 4 + len {
                break;
            }
            let msg: Vec<u8> = buf.drain(..4 + len).skip(4).collect();
            if msg.first() == Some(&id) {
                return true;
            }
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fewer_upload_slots_choke_the_extra_peers_of_a_running_seed() {
    let src = tempfile::tempdir().unwrap();
    let torrent = make_torrent(src.path(), "payload", &[("", data(64 * 16384, 8))], 16384);
    let session = Session::new(options()).await.unwrap();
    let id = session.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
    wait_complete(&session, id, LIMIT).await;

    // Three interested peers take three of the four free slots at once.
    let mut peers = Vec::new();
    for host in 2..=4 {
        let mut peer = handshaken_peer(host, session.listen_addr(), &torrent).await;
        peer.write_all(&[0, 0, 0, 1, 2]).await.unwrap(); // interested
        assert!(message_within(&mut peer, 1, LIMIT).await, "unchoked");
        peers.push(peer);
    }
    let report = session.reconfigure(SessionOptions { max_upload_slots: 1, ..options() }).unwrap();
    assert_eq!(report.applied, ["max_upload_slots"]);
    let mut choked = 0;
    for peer in &mut peers {
        choked += usize::from(message_within(peer, 0, Duration::from_secs(3)).await);
    }
    assert_eq!(choked, 2, "one slot left: two of the three peers are choked");
    session.shutdown().await;
}
