//! Hole 1 of issue 6: a peer that floods requests and `ut_metadata` requests and never reads
//! must not make the seeder queue more than the per-connection cap (1 MiB). The fake peer has
//! its own address, 127.0.0.2.

mod common;

use std::time::Duration;

use bytes::BytesMut;
use ccbt_core::{BlockRef, PeerId};
use ccbt_engine::{AddTorrent, Session, TorrentId};
use ccbt_wire::ext::metadata::MetadataMessage;
use ccbt_wire::ext::ExtHandshake;
use ccbt_wire::{Handshake, Message, MessageDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The cap of bytes queued for one peer (`peer::MAX_WRITE_BUFFER` in the engine).
const CAP: usize = 1024 * 1024;

/// Our id for `ut_metadata` in the fake peer's extension handshake.
const THEIR_UT_METADATA: u8 = 3;

/// Connects from 127.0.0.2 with a small receive buffer, so the seeder's writes stall at once.
async fn connect_from(ip: &str, to: std::net::SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// Reads the seeder's handshake, then messages until it unchokes us.
async fn read_until_unchoked(stream: &mut TcpStream) {
    let mut handshake = [0u8; Handshake::LEN];
    stream.read_exact(&mut handshake).await.unwrap();
    let mut buf = BytesMut::new();
    let mut decoder = MessageDecoder::default();
    loop {
        while let Some(msg) = decoder.decode(&mut buf).unwrap() {
            if matches!(msg, Message::Unchoke) {
                return;
            }
        }
        assert!(stream.read_buf(&mut buf).await.unwrap() > 0, "seeder closed the connection");
    }
}

/// The flood: every block requested once (as many as the seeder queues), then metadata
/// requests, each answered with up to 16 KiB.
fn flood(num_blocks: u32, metadata_requests: usize) -> BytesMut {
    let mut out = BytesMut::new();
    for i in 0..num_blocks.min(400) {
        ccbt_wire::encode(&Message::Request(BlockRef { piece: i, offset: 0, len: 16384 }), &mut out);
    }
    let request = MetadataMessage::Request { piece: 0 }.encode();
    for _ in 0..metadata_requests {
        let msg = Message::Extended { id: ccbt_proto::swarm::OUR_UT_METADATA, payload: request.clone() };
        ccbt_wire::encode(&msg, &mut out);
    }
    out
}

async fn flooder_peer(seeder: &Session, id: TorrentId) -> Option<ccbt_engine::PeerInfo> {
    seeder.peers(id).unwrap().into_iter().find(|p| p.addr.ip().to_string() == "127.0.0.2")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_floods_and_never_reads_stays_under_the_queue_cap() {
    let dir = tempfile::tempdir().unwrap();
    // 16 KiB pieces: 512 of them, so the info dictionary (the metadata) is about 10 KiB.
    let torrent = common::make_torrent(dir.path(), "flood.bin", &[("", common::data(8 << 20, 7))], 16384);
    let seeder = Session::new(common::options()).await.unwrap();
    let id = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(dir.path())).await.unwrap();
    common::wait_complete(&seeder, id, Duration::from_secs(60)).await;

    let mut stream = connect_from("127.0.0.2", seeder.listen_addr()).await;
    let mut hello = BytesMut::new();
    let mut ours = Handshake::new(torrent.info_hash, PeerId([7; 20]));
    ours.reserved = [0, 0, 0, 0, 0, 0x10, 0, 0]; // extension protocol only
    ours.encode(&mut hello);
    let ext = ExtHandshake { m: vec![("ut_metadata".into(), THEIR_UT_METADATA)], ..ExtHandshake::default() };
    ccbt_wire::encode(&Message::Extended { id: 0, payload: ext.encode() }, &mut hello);
    ccbt_wire::encode(&Message::Interested, &mut hello);
    stream.write_all(&hello).await.unwrap();
    read_until_unchoked(&mut stream).await;

    // From here on the fake peer never reads. Its writes stall once the seeder stops reading.
    let (_read_half, mut write_half) = stream.into_split();
    let data = flood(torrent.lengths().num_pieces(), 1_000_000);
    let writer = tokio::spawn(async move { write_half.write_all(&data).await });

    // Wait until the seeder has queued a good part of the cap (it answers the flood) ...
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let peer = flooder_peer(&seeder, id).await.expect("the flooder is still connected");
        if peer.send_queue_peak >= CAP / 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the seeder never queued replies: {peer:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ... and give it time to read on if it would (it must not).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let peer = flooder_peer(&seeder, id).await.expect("the flooder is still connected");
    assert!(peer.send_queue_peak <= CAP, "queued {} bytes for a peer that never reads", peer.send_queue_peak);
    assert!(!writer.is_finished(), "the seeder read the whole flood although the peer reads nothing");
    writer.abort();
    seeder.shutdown().await;
}
