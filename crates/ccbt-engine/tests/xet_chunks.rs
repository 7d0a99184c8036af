//! The chunk phase of a Xet torrent (docs/xet.md, "Fetching chunks from peers"): a peer that
//! answers a CHUNK_REQ with bytes that do not hash to the chunk id is dropped and banned, and
//! nothing it sent is written: the torrent completes byte-identical from an honest seeder.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use ccbt_core::{InfoHash, PeerId};
use ccbt_engine::{AddTorrent, Session, SessionOptions};
use ccbt_wire::ext::xet_cas::XetMessage;
use ccbt_wire::ext::{ExtHandshake, XetHandshake, XET_CAS};
use ccbt_wire::{Handshake, Message, MessageDecoder};
use common::xet::xet_torrent;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const PIECE: u32 = 4 << 20;
const THEIR_XET: u8 = 7;

/// What the hostile peer saw.
#[derive(Debug, PartialEq)]
enum Seen {
    /// It answered a CHUNK_REQ with wrong bytes.
    SentWrongChunk,
    /// The connection it sent them on was closed by the asker.
    ClosedAfterWrongChunk,
}

/// A peer on 127.0.0.2 that claims every chunk (QUERY) and answers every CHUNK_REQ with bytes
/// of the right length that are not the chunk.
async fn hostile_peer(info_hash: InfoHash, seen: mpsc::UnboundedSender<Seen>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.2:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_lies(stream, info_hash, seen.clone()));
        }
    });
    addr
}

async fn serve_lies(mut stream: TcpStream, info_hash: InfoHash, seen: mpsc::UnboundedSender<Seen>) {
    let mut theirs = [0u8; Handshake::LEN];
    if stream.read_exact(&mut theirs).await.is_err() {
        return;
    }
    let mut out = BytesMut::new();
    Handshake::new(info_hash, PeerId([2; 20])).encode(&mut out);
    let ext = ExtHandshake {
        m: vec![(XET_CAS.into(), THEIR_XET)],
        xet: Some(XetHandshake { v: 1, cdc: Some("xet-gear-64k".into()), mm: Some(139_264), rq: Some(64) }),
        ..Default::default()
    };
    ccbt_wire::encode(&Message::Extended { id: 0, payload: ext.encode() }, &mut out);
    ccbt_wire::encode(&Message::Unchoke, &mut out);
    if stream.write_all(&out).await.is_err() {
        return;
    }
    let (mut decoder, mut buf, mut their_xet, mut lied) =
        (MessageDecoder::new(1 << 22), BytesMut::new(), 0, false);
    loop {
        let msg = match decoder.decode(&mut buf) {
            Ok(Some(msg)) => msg,
            Ok(None) => match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => {
                    if lied {
                        let _ = seen.send(Seen::ClosedAfterWrongChunk);
                    }
                    return;
                }
                Ok(_) => continue,
            },
            Err(_) => return,
        };
        let Message::Extended { id, payload } = msg else { continue };
        if id == 0 {
            let theirs = ExtHandshake::decode(&payload).unwrap();
            their_xet = theirs.extension_id(XET_CAS).unwrap_or(0);
            continue;
        }
        let answer = match XetMessage::decode(&payload) {
            Ok(XetMessage::Query { req, ids }) => XetMessage::QueryReply { req, have: vec![true; ids.len()] },
            Ok(XetMessage::ChunkReq { req, id, .. }) => {
                lied = true;
                let _ = seen.send(Seen::SentWrongChunk);
                // 8 KiB of zeros: the fetcher checks the manifest length or the id; both fail.
                XetMessage::Chunk { req, id, off: 0, data: vec![0u8; 8192].into() }
            }
            _ => continue,
        };
        let mut out = BytesMut::new();
        ccbt_wire::encode(&Message::Extended { id: their_xet, payload: answer.encode() }, &mut out);
        // Writing the answers to further pipelined requests fails once the asker has closed.
        if stream.write_all(&out).await.is_err() {
            if lied {
                let _ = seen.send(Seen::ClosedAfterWrongChunk);
            }
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_wrong_chunk_bytes_is_dropped_and_banned_and_nothing_wrong_is_written() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let [v1_dir, v2_dir, follower_dir, state] = &dirs[..] else { unreachable!() };
    let old = data(8 << 20, 41);
    let mut new = old.clone();
    new[3 << 20..(3 << 20) + (256 << 10)].copy_from_slice(&data(256 << 10, 42));
    let v1 = xet_torrent(v1_dir.path(), "d.bin", &[("", &old)], PIECE);
    let v2 = xet_torrent(v2_dir.path(), "d.bin", &[("", &new)], PIECE);

    let follower = Session::new(xet_session_options(state.path(), true)).await.unwrap();
    let id1 = follower.add_torrent(AddTorrent::new(v1).save_path(v1_dir.path())).await.unwrap();
    wait_complete(&follower, id1, Duration::from_secs(120)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while follower.xet_stats().await.unwrap().files < 1 {
        assert!(tokio::time::Instant::now() < deadline, "version 1 not indexed in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The follower knows only the hostile peer at first: its chunk phase asks it.
    let torrent_id = v2.info_hash_v2.map_or(v2.info_hash, |v2| v2.truncated());
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let hostile = hostile_peer(torrent_id, seen_tx).await;
    let add = AddTorrent::new(v2.clone()).save_path(follower_dir.path()).peers([hostile]);
    let id2 = follower.add_torrent(add).await.unwrap();
    let wait = Duration::from_secs(60);
    assert_eq!(tokio::time::timeout(wait, seen.recv()).await.unwrap(), Some(Seen::SentWrongChunk));
    // It may have been asked for several chunks at once; its connection closes on the first.
    let mut next = Some(Seen::SentWrongChunk);
    while next == Some(Seen::SentWrongChunk) {
        next = tokio::time::timeout(wait, seen.recv()).await.unwrap();
    }
    assert_eq!(next, Some(Seen::ClosedAfterWrongChunk));
    let deadline = tokio::time::Instant::now() + wait;
    while follower.status(id2).unwrap().banned_peers == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the liar is not banned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(follower.xet_fill(id2).unwrap().swarm_chunk_bytes, 0, "nothing of the liar's was written");

    // An honest seeder then completes it, byte-identical.
    let seeder = Session::new(xet_session_options(&v2_dir.path().join(".state"), false)).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(v2.clone()).save_path(v2_dir.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(120)).await;
    follower.add_peers(id2, &[seeder.listen_addr()]).unwrap();
    wait_complete(&follower, id2, Duration::from_secs(120)).await;
    follower.shutdown().await;
    assert_same_files(&v2, v2_dir.path(), follower_dir.path());
    seeder.shutdown().await;
}

fn dht_options(state: &std::path::Path, bootstrap: Vec<String>) -> SessionOptions {
    SessionOptions {
        enable_dht: true,
        dht_port: 0,
        dht_bootstrap_nodes: bootstrap,
        state_dir: state.to_owned(),
        xet_store_dir: Some(state.join("xet")),
        enable_pex: false,
        ..options()
    }
}

/// The follower has no swarm peer at all: the chunks its partly filled pieces lack come from a
/// holder of the same content in another torrent, found under the file's discovery key on the
/// DHT (loopback nodes), over an xet-only connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_found_by_discovery_key_in_another_torrent_supplies_the_missing_chunks() {
    let dirs: Vec<tempfile::TempDir> = (0..7).map(|_| tempfile::tempdir().unwrap()).collect();
    let [boot_state, holder_state, v1_dir, v2_dir, other_dir, follower_dir, state] = &dirs[..] else {
        unreachable!()
    };
    let boot = Session::new(dht_options(boot_state.path(), Vec::new())).await.unwrap();
    let boot_addr = boot.dht_status().await.expect("dht running").local_addr.to_string();
    let old = data(8 << 20, 51);
    let mut new = old.clone();
    new[5 << 20..(5 << 20) + (256 << 10)].copy_from_slice(&data(256 << 10, 52));
    let v1 = xet_torrent(v1_dir.path(), "d.bin", &[("", &old)], PIECE);
    let v2 = xet_torrent(v2_dir.path(), "d.bin", &[("", &new)], PIECE);
    // Another torrent (another name and piece size) with the same content as version 2.
    let other = xet_torrent(other_dir.path(), "copy.bin", &[("", &new)], 16384);

    let holder = Session::new(dht_options(holder_state.path(), vec![boot_addr.clone()])).await.unwrap();
    let hid = holder.add_torrent(AddTorrent::new(other.clone()).save_path(other_dir.path())).await.unwrap();
    wait_complete(&holder, hid, Duration::from_secs(120)).await;
    let key = ccbt_xet::file_key(&v2.xet_root_of(0).unwrap());
    let follower = Session::new(dht_options(state.path(), vec![boot_addr])).await.unwrap();
    let id1 = follower.add_torrent(AddTorrent::new(v1).save_path(v1_dir.path())).await.unwrap();
    wait_complete(&follower, id1, Duration::from_secs(120)).await;
    // The holder is findable under the file key before the follower starts version 2.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let found = follower.xet_find_holders(key, Duration::from_secs(5)).await;
        if found.iter().any(|a| a.port() == holder.listen_addr().port()) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the holder is not found under the file key");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    while follower.xet_stats().await.unwrap().files < 1 {
        assert!(tokio::time::Instant::now() < deadline, "version 1 not indexed in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let id2 = follower.add_torrent(AddTorrent::new(v2.clone()).save_path(follower_dir.path())).await.unwrap();
    wait_complete(&follower, id2, Duration::from_secs(120)).await;
    let fill = follower.xet_fill(id2).unwrap();
    println!("{fill:?}");
    assert!(fill.holder_chunk_bytes > 0 && fill.chunk_pieces > 0, "{fill:?}");
    assert_eq!(fill.swarm_chunk_bytes, 0, "there is no swarm");
    follower.shutdown().await;
    assert_same_files(&v2, v2_dir.path(), follower_dir.path());
    holder.shutdown().await;
    boot.shutdown().await;
}
