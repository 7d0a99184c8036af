//! BEP 52 hash exchange with libtorrent 2.x: ccbt's wire codec and `PieceLayerFetcher` fetch
//! the piece layers of a v2 torrent from a libtorrent seeder over a real connection, verify
//! every answer against the pieces roots, and end with exactly the layers the .torrent holds
//! (which are also the layers computed here from the data).
//!
//! Two files: 600 pieces (two requests: 512 hashes with one uncle, then 128 with three, the
//! last 40 of them padding) and 513 pieces (the second request asks for two hashes, never one:
//! libtorrent leaves the lowest uncle out of a one-hash answer).

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ccbt_core::merkle::{self, LeafHasher, Node, LEAF_SIZE};
use ccbt_core::{InfoHash, PeerId};
use ccbt_proto::hashes::{HashesOutcome, MissingLayer, PieceLayerFetcher};
use ccbt_proto::PeerKey;
use ccbt_wire::{encode, Handshake, Message, MessageDecoder};
use sha2::{Digest, Sha256};
use support::{
    interop, interop_dir, lt_seed, run_with_timeout, work_dir, write_file, Tool, LT_PYTHON, SETUP,
};

const PIECE_LENGTH: u32 = 32768;

/// The piece layer and root of a file, from its bytes.
fn piece_layer(data: &[u8]) -> (Node, Vec<Node>) {
    let per_piece = (PIECE_LENGTH / LEAF_SIZE) as usize;
    let mut leaves = LeafHasher::new();
    leaves.update(data);
    let layer: Vec<Node> = leaves
        .finish()
        .chunks(per_piece)
        .map(|c| merkle::root_from_layer(c, per_piece as u64, [0; 32]))
        .collect();
    let pad = merkle::pad_node(per_piece.trailing_zeros());
    (merkle::root_from_layer(&layer, layer.len() as u64, pad), layer)
}

/// The `piece layers` of a .torrent, by root.
fn torrent_layers(torrent: &[u8]) -> BTreeMap<Node, Vec<Node>> {
    let value = ccbt_bencode::decode(torrent).expect("torrent is bencode");
    let layers = value.get(b"piece layers").and_then(|v| v.as_dict()).expect("piece layers");
    layers
        .iter()
        .map(|(root, nodes)| {
            let nodes = nodes.as_bytes().expect("layer bytes");
            let nodes = nodes.chunks(32).map(|c| c.try_into().expect("whole hashes")).collect();
            (root.try_into().expect("32-byte root"), nodes)
        })
        .collect()
}

#[test]
fn piece_layers_fetched_from_libtorrent_verify() {
    let test = "piece_layers_fetched_from_libtorrent_verify";
    if !interop(test, &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let src = w.join("src");
    let sizes =
        [("a.bin", 600 * u64::from(PIECE_LENGTH) - 5000), ("b.bin", 512 * u64::from(PIECE_LENGTH) + 1)];
    for (i, (name, len)) in sizes.iter().enumerate() {
        write_file(&src.join(name), 40 + i as u64, *len);
    }
    let torrent = w.join("v2.torrent");
    run_with_timeout(
        "lt_make_torrent",
        Command::new(LT_PYTHON)
            .arg(interop_dir().join("lt_make_torrent.py"))
            .arg("--path")
            .arg(&src)
            .arg("--out")
            .arg(&torrent)
            .args(["--piece-size", &PIECE_LENGTH.to_string(), "--v2-only"]),
        w,
        SETUP,
    )
    .assert_success("lt_make_torrent.py --v2-only");
    let bytes = std::fs::read(&torrent).expect("read torrent");
    let info = ccbt_bencode::raw_value_of_key(&bytes, b"info").expect("bencode").expect("info");
    let v2: [u8; 32] = Sha256::digest(info).into();
    let expected = torrent_layers(&bytes);

    let mut missing = Vec::new();
    for (i, (name, len)) in sizes.iter().enumerate() {
        let data = std::fs::read(src.join(name)).expect("read data");
        let (root, layer) = piece_layer(&data);
        assert_eq!(expected.get(&root), Some(&layer), "libtorrent's piece layer of {name}");
        missing.push(MissingLayer {
            file: i,
            pieces_root: root,
            num_pieces: layer.len() as u32,
            file_length: *len,
        });
    }

    let seeder = lt_seed(w, "lt-seed", &torrent, w, &[], &[]);
    let got = fetch_layers(&seeder.addr(), v2, missing);
    assert_eq!(got, expected);
}

/// Connects to `addr` with the truncated v2 info hash and fetches every missing layer.
fn fetch_layers(addr: &str, v2: [u8; 32], missing: Vec<MissingLayer>) -> BTreeMap<Node, Vec<Node>> {
    let mut stream = TcpStream::connect(addr).expect("connect to libtorrent");
    // Only turns a hang into a failure.
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let info_hash = InfoHash(v2[..20].try_into().expect("20 bytes"));
    let ours = Handshake::new(info_hash, PeerId(*b"-CB0000-v2hashes0001")).with_v2(true);
    stream.write_all(&ours.to_bytes()).expect("send handshake");
    let mut theirs = [0u8; Handshake::LEN];
    stream.read_exact(&mut theirs).expect("libtorrent's handshake");
    let theirs = Handshake::decode(&theirs).expect("valid handshake").expect("complete");
    assert_eq!(theirs.info_hash, info_hash);

    let peer = PeerKey(1);
    let mut fetcher = PieceLayerFetcher::new(PIECE_LENGTH, missing).expect("fetcher");
    fetcher.add_peer(peer);
    let mut decoder = MessageDecoder::default();
    let mut buf = BytesMut::new();
    let mut layers = BTreeMap::new();
    let mut answers = 0;
    while !fetcher.is_done() {
        let mut out = BytesMut::new();
        for req in fetcher.take_requests(Instant::now(), peer) {
            encode(&Message::HashRequest(req), &mut out);
        }
        stream.write_all(&out).expect("send hash requests");
        let msg = loop {
            if let Some(msg) = decoder.decode(&mut buf).expect("libtorrent's messages decode") {
                break msg;
            }
            let mut chunk = [0u8; 65536];
            let n = stream.read(&mut chunk).expect("read from libtorrent");
            assert!(n > 0, "libtorrent closed the connection after {answers} answers");
            buf.extend_from_slice(&chunk[..n]);
        };
        match msg {
            Message::Hashes(h) => {
                answers += 1;
                assert_eq!(fetcher.on_hashes(peer, &h), Ok(HashesOutcome::Accepted), "{:?}", h.request);
            }
            Message::HashReject(r) => panic!("libtorrent rejected {r:?}"),
            _ => {}
        }
        while let Some(done) = fetcher.poll_completed() {
            layers.insert(done.pieces_root, done.layer);
        }
    }
    assert_eq!(answers, 4, "two requests per file");
    layers
}
