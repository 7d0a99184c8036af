//! A ccbt seeder of a Xet torrent answers `xet_cas` (docs/xet.md) on its torrent connections:
//! manifests, whole chunks and slices (checked here against their ids), QUERY; it refuses
//! chunk requests while the peer is choked, and closes a connection that sends malformed or
//! unsolicited `xet_cas` messages, and only that one.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use ccbt_engine::{AddTorrent, Session};
use ccbt_metainfo::Torrent;
use ccbt_wire::ext::xet_cas::{RejectReason, XetMessage};
use ccbt_wire::ext::{ExtHandshake, XetHandshake, XET_CAS};
use ccbt_wire::{Handshake, Message, MessageDecoder};
use ccbt_xet::chunk_id;
use common::xet::xet_torrent;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The extended id our test peer receives `xet_cas` under.
const THEIR_XET: u8 = 7;

/// A raw BitTorrent connection speaking `xet_cas`.
struct RawPeer {
    stream: TcpStream,
    decoder: MessageDecoder,
    buf: BytesMut,
    /// The seeder's id for `xet_cas`, from its extension handshake.
    seeder_xet: u8,
}

impl RawPeer {
    /// Connects from `ip` (each test peer its own address and peer id).
    async fn connect(ip: &str, addr: SocketAddr, torrent: &Torrent) -> RawPeer {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
        let mut stream = socket.connect(addr).await.unwrap();
        let mut out = BytesMut::new();
        let last: u8 = ip.rsplit('.').next().unwrap().parse().unwrap();
        Handshake::new(torrent.info_hash, ccbt_core::PeerId([last; 20])).with_v2(true).encode(&mut out);
        let hs = ExtHandshake {
            m: vec![(XET_CAS.into(), THEIR_XET)],
            xet: Some(XetHandshake {
                v: 1,
                cdc: Some("xet-gear-64k".into()),
                mm: Some(139_264),
                rq: Some(64),
            }),
            ..Default::default()
        };
        ccbt_wire::encode(&Message::Extended { id: 0, payload: hs.encode() }, &mut out);
        stream.write_all(&out).await.unwrap();
        let mut theirs = [0u8; Handshake::LEN];
        stream.read_exact(&mut theirs).await.unwrap();
        let mut peer =
            RawPeer { stream, decoder: MessageDecoder::new(1 << 20), buf: BytesMut::new(), seeder_xet: 0 };
        loop {
            let msg =
                peer.next().await.expect("the seeder closed the connection before its extension handshake");
            if let Message::Extended { id: 0, payload } = msg {
                let theirs = ExtHandshake::decode(&payload).unwrap();
                peer.seeder_xet = theirs.extension_id(XET_CAS).expect("the seeder offers xet_cas");
                assert_eq!(theirs.xet.as_ref().map(|x| x.v), Some(1));
                return peer;
            }
        }
    }

    /// The next message, or None once the seeder closed the connection.
    async fn next(&mut self) -> Option<Message> {
        loop {
            if let Some(msg) = self.decoder.decode(&mut self.buf).unwrap() {
                return Some(msg);
            }
            let read =
                tokio::time::timeout(Duration::from_secs(20), self.stream.read_buf(&mut self.buf)).await;
            match read.expect("the seeder went silent") {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    async fn send(&mut self, msg: Message) {
        let mut out = BytesMut::new();
        ccbt_wire::encode(&msg, &mut out);
        self.stream.write_all(&out).await.unwrap();
    }

    async fn send_xet(&mut self, msg: &XetMessage) {
        let id = self.seeder_xet;
        self.send(Message::Extended { id, payload: msg.encode() }).await;
    }

    /// The next `xet_cas` message (other messages skipped).
    async fn next_xet(&mut self) -> Option<XetMessage> {
        loop {
            match self.next().await? {
                Message::Extended { id: THEIR_XET, payload } => {
                    return Some(XetMessage::decode(&payload).unwrap())
                }
                _ => continue,
            }
        }
    }

    async fn wait_unchoke(&mut self) {
        self.send(Message::Interested).await;
        while !matches!(self.next().await.expect("closed before unchoking"), Message::Unchoke) {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeder_serves_manifests_chunks_and_queries_and_drops_only_a_bad_peer() {
    let src = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let bytes = data(3 << 20, 41);
    let torrent = xet_torrent(src.path(), "f.bin", &[("", &bytes)], 16384);
    let root = torrent.xet_root_of(0).unwrap();
    let manifest = torrent.xet_layers[&root].clone();
    let seeder = Session::new(ccbt_engine::SessionOptions { state_dir: state.path().into(), ..options() })
        .await
        .unwrap();
    let id = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
    wait_complete(&seeder, id, Duration::from_secs(60)).await;

    let mut peer = RawPeer::connect("127.0.0.2", seeder.listen_addr(), &torrent).await;
    // Choked: chunk requests are refused, but manifests are served.
    let (first, second) = (manifest[0], manifest[1]);
    peer.send_xet(&XetMessage::ChunkReq { req: 1, id: first.id, off: 0, len: 0 }).await;
    let reject = peer.next_xet().await.unwrap();
    assert_eq!(reject, XetMessage::Reject { req: 1, id: first.id, reason: RejectReason::Choked });
    peer.send_xet(&XetMessage::ManifestReq { req: 2, root, start: 1, count: 2048 }).await;
    match peer.next_xet().await.unwrap() {
        XetMessage::Manifest { req: 2, root: r, total, start: 1, entries } => {
            assert_eq!((r, total as usize), (root, manifest.len()));
            assert_eq!(entries, manifest[1..]);
        }
        other => panic!("expected the manifest, got {other:?}"),
    }

    peer.wait_unchoke().await;
    peer.send_xet(&XetMessage::ChunkReq { req: 3, id: first.id, off: 0, len: 0 }).await;
    peer.send_xet(&XetMessage::ChunkReq { req: 4, id: second.id, off: 100, len: 1000 }).await;
    peer.send_xet(&XetMessage::Query { req: 5, ids: vec![first.id, [0xEE; 32]] }).await;
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(peer.next_xet().await.unwrap());
    }
    answers.sort_by_key(|m| match m {
        XetMessage::Chunk { req, .. } | XetMessage::QueryReply { req, .. } => *req,
        _ => 0,
    });
    match &answers[..] {
        [XetMessage::Chunk { req: 3, data: whole, .. }, XetMessage::Chunk { req: 4, off: 100, data: part, .. }, XetMessage::QueryReply { req: 5, have }] =>
        {
            assert_eq!(chunk_id(whole), first.id, "the whole chunk must hash to its id");
            let start = first.len as usize;
            assert_eq!(&part[..], &bytes[start + 100..start + 1100]);
            assert_eq!(have, &vec![true, false]);
        }
        other => panic!("unexpected answers {other:?}"),
    }
    peer.send_xet(&XetMessage::ChunkReq { req: 6, id: [0xEE; 32], off: 0, len: 0 }).await;
    let absent = peer.next_xet().await.unwrap();
    assert_eq!(absent, XetMessage::Reject { req: 6, id: [0xEE; 32], reason: RejectReason::Absent });

    // Garbage and unsolicited answers close that connection, not the others.
    let mut honest = RawPeer::connect("127.0.0.3", seeder.listen_addr(), &torrent).await;
    let id_byte = peer.seeder_xet;
    peer.send(Message::Extended { id: id_byte, payload: vec![0x07, 1, 2].into() }).await;
    while peer.next().await.is_some() {}
    let mut liar = RawPeer::connect("127.0.0.4", seeder.listen_addr(), &torrent).await;
    liar.send_xet(&XetMessage::Chunk { req: 9, id: first.id, off: 0, data: vec![1, 2, 3].into() }).await;
    while liar.next().await.is_some() {}
    honest.send_xet(&XetMessage::ManifestReq { req: 1, root, start: 0, count: 1 }).await;
    assert!(matches!(honest.next_xet().await, Some(XetMessage::Manifest { req: 1, .. })));
    seeder.shutdown().await;
}
