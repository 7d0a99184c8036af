//! BEP 52 piece layers from hostile peers: a v2 magnet's layers are asked of peers with hash
//! requests, and every answer must prove itself against the file's root from the info
//! dictionary. A peer answering with false hashes is refused (and banned from the download);
//! nothing is written on its word.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ccbt_bencode::OwnedValue;
use ccbt_core::merkle::{file_tree_leaves, leaf_hash, root_from_layer, Node};
use ccbt_engine::{AddTorrent, Session, TorrentState};
use ccbt_metainfo::{Magnet, Torrent};
use ccbt_wire::ext::metadata::MetadataMessage;
use ccbt_wire::ext::{ExtHandshake, UT_METADATA};
use ccbt_wire::{Handshake, Hashes, Message, MessageDecoder};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PIECE: usize = 16384;

/// A v2-only single-file torrent of `bytes` with 16 KiB pieces (one leaf per piece, so the
/// piece layer is the leaf layer), with its piece layers.
fn v2_torrent(bytes: &[u8]) -> Torrent {
    let leaves: Vec<Node> = bytes.chunks(PIECE).map(leaf_hash).collect();
    let root = root_from_layer(&leaves, file_tree_leaves(bytes.len() as u64), [0; 32]);
    let node = OwnedValue::dict().with("length", bytes.len() as i64).with("pieces root", root.to_vec());
    let info = OwnedValue::dict()
        .with("file tree", OwnedValue::dict().with("f.bin", OwnedValue::dict().with("", node)))
        .with("meta version", 2i64)
        .with("name", "f.bin")
        .with("piece length", PIECE as i64);
    let layers = OwnedValue::dict().with(root.to_vec(), leaves.concat());
    let top = OwnedValue::dict().with("info", info).with("piece layers", layers);
    Torrent::from_bytes(&top.to_bytes()).unwrap()
}

/// A peer on `ip` that serves the true metadata but answers every hash request with false
/// hashes of the right shape; counts the lies.
async fn spawn_hash_liar(ip: &str, torrent: &Torrent) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lies = Arc::new(AtomicUsize::new(0));
    let (counter, id, info) = (lies.clone(), torrent.info_hash, Bytes::from(torrent.info_bytes.clone()));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (counter, info) = (counter.clone(), info.clone());
            tokio::spawn(async move {
                let mut theirs = [0u8; Handshake::LEN];
                if stream.read_exact(&mut theirs).await.is_err() {
                    return;
                }
                let mut out = BytesMut::new();
                Handshake::new(id, ccbt_core::PeerId([9; 20])).with_v2(true).encode(&mut out);
                let size = info.len() as u64;
                let hs = ExtHandshake {
                    m: vec![(UT_METADATA.into(), 3)],
                    metadata_size: Some(size),
                    ..Default::default()
                };
                ccbt_wire::encode(&Message::Extended { id: 0, payload: hs.encode() }, &mut out);
                if stream.write_all(&out).await.is_err() {
                    return;
                }
                let mut decoder = MessageDecoder::new(ccbt_wire::DEFAULT_MAX_FRAME);
                let mut buf = BytesMut::new();
                while stream.read_buf(&mut buf).await.is_ok_and(|n| n > 0) {
                    while let Ok(Some(msg)) = decoder.decode(&mut buf) {
                        let mut out = BytesMut::new();
                        match msg {
                            Message::Extended { id: 3, payload } => {
                                let Ok(MetadataMessage::Request { piece }) = MetadataMessage::decode(payload)
                                else {
                                    continue;
                                };
                                let data =
                                    MetadataMessage::Data { piece, total_size: size, data: info.clone() };
                                ccbt_wire::encode(
                                    &Message::Extended { id: 1, payload: data.encode() },
                                    &mut out,
                                );
                            }
                            Message::HashRequest(request) => {
                                let count = request.length + request.uncle_count();
                                let nodes = vec![[0x5A; 32]; count as usize];
                                ccbt_wire::encode(&Message::Hashes(Hashes { request, nodes }), &mut out);
                                counter.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => continue,
                        }
                        if stream.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, lies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn false_piece_hashes_are_refused_and_honest_ones_complete_the_download() {
    let bytes = data(5 * PIECE + 777, 3);
    let torrent = v2_torrent(&bytes);
    let v2 = torrent.info_hash_v2.unwrap();
    let (liar, lies) = spawn_hash_liar("127.0.0.2", &torrent).await;

    // The liar alone: the layers never verify, the magnet fails naming them, nothing is written.
    let dst = tempfile::tempdir().unwrap();
    let mut magnet = Magnet::new_v2(v2);
    magnet.peers = vec![liar.to_string()];
    let leecher = Session::new(options()).await.unwrap();
    let id = leecher
        .add_torrent(AddTorrent::parse(&magnet.to_uri()).unwrap().save_path(dst.path()))
        .await
        .unwrap();
    let failed = tokio::time::timeout(Duration::from_secs(150), async {
        loop {
            let status = leecher.status(id).unwrap();
            if matches!(status.state, TorrentState::Error(_)) {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the magnet neither failed nor finished");
    assert!(lies.load(Ordering::Relaxed) > 0, "the liar was never asked: {failed:?}");
    assert_eq!(std::fs::read_dir(dst.path()).unwrap().count(), 0, "nothing may be written");
    leecher.shutdown().await;

    // The liar and an honest ccbt seeder on another address: the download completes, right.
    let src = tempfile::tempdir().unwrap();
    let seeder = seed(&torrent, &bytes, src.path(), "127.0.0.3").await;
    magnet.peers = vec![liar.to_string(), seeder.listen_addr().to_string()];
    download_magnet(&magnet, &bytes).await;
    seeder.shutdown().await;
}

/// A ccbt session on `host` seeding `bytes` (the torrent's one file `f.bin`) from `dir`.
async fn seed(torrent: &Torrent, bytes: &[u8], dir: &std::path::Path, host: &str) -> Session {
    std::fs::write(dir.join("f.bin"), bytes).unwrap();
    let mut opts = options();
    opts.listen_host = host.parse().unwrap();
    let seeder = Session::new(opts).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(dir)).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(30)).await;
    seeder
}

/// Downloads `magnet` with a new session and checks it gives `bytes`.
async fn download_magnet(magnet: &Magnet, bytes: &[u8]) {
    let dst = tempfile::tempdir().unwrap();
    let leecher = Session::new(options()).await.unwrap();
    let id = leecher
        .add_torrent(AddTorrent::parse(&magnet.to_uri()).unwrap().save_path(dst.path()))
        .await
        .unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    assert_eq!(std::fs::read(dst.path().join("f.bin")).unwrap(), bytes);
    leecher.shutdown().await;
}

/// A proxy to `target` that, on the connections numbered in `cut` (from 1, in accept order),
/// relays the target's handshake and then closes: what a peer does that still holds another
/// connection of ours (one per peer id). Counts the connections it took.
async fn refusing_proxy(target: SocketAddr, cut: &'static [usize]) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let taken = Arc::new(AtomicUsize::new(0));
    let counter = taken.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
            let Ok(outbound) = tokio::net::TcpStream::connect(target).await else { continue };
            let (mut ri, mut wi) = inbound.into_split();
            let (mut ro, mut wo) = outbound.into_split();
            let up = tokio::spawn(async move { tokio::io::copy(&mut ri, &mut wo).await });
            if cut.contains(&n) {
                let mut theirs = [0u8; Handshake::LEN];
                if ro.read_exact(&mut theirs).await.is_ok() {
                    let _ = wi.write_all(&theirs).await;
                }
                up.abort();
                continue;
            }
            tokio::spawn(async move { tokio::io::copy(&mut ro, &mut wi).await });
        }
    });
    (addr, taken)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeder_closing_after_the_handshake_is_asked_for_the_layers_again() {
    let bytes = data(5 * PIECE + 777, 4);
    let torrent = v2_torrent(&bytes);
    let src = tempfile::tempdir().unwrap();
    let seeder = seed(&torrent, &bytes, src.path(), "127.0.0.1").await;
    // The first connection fetches the metadata; the next two, the first piece-layer
    // connection and its first retry, are closed right after the handshake.
    let (proxy, taken) = refusing_proxy(seeder.listen_addr(), &[2, 3]).await;

    let mut magnet = Magnet::new_v2(torrent.info_hash_v2.unwrap());
    magnet.peers = vec![proxy.to_string()];
    download_magnet(&magnet, &bytes).await;
    assert!(taken.load(Ordering::Relaxed) >= 4, "the seeder was not asked again");
    seeder.shutdown().await;
}
