//! Magnet links: metadata fetched from ccbt seeders with ut_metadata, then the download.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ccbt_engine::{AddTorrent, Session, TorrentState};
use ccbt_metainfo::Magnet;
use ccbt_wire::ext::metadata::MetadataMessage;
use ccbt_wire::ext::{ExtHandshake, UT_METADATA};
use ccbt_wire::{Handshake, Message, MessageDecoder};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_resolves_from_two_seeders_and_downloads() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    // Many files make the info dictionary span several 16 KiB metadata pieces.
    let names: Vec<String> =
        (0..700).map(|i| format!("dir{}/file-with-a-long-name-{i:04}.bin", i % 7)).collect();
    let files: Vec<(&str, Vec<u8>)> =
        names.iter().enumerate().map(|(i, n)| (n.as_str(), data(3000 + i, i as u64))).collect();
    let torrent = make_torrent(src.path(), "many", &files, 16384);
    assert!(torrent.info_bytes.len() > 2 * 16384, "metadata should span several pieces");

    let mut seeders = Vec::new();
    for _ in 0..2 {
        let s = Session::new(options()).await.unwrap();
        let id = s.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
        wait_complete(&s, id, Duration::from_secs(30)).await;
        seeders.push(s);
    }

    let mut magnet = Magnet::new(torrent.info_hash);
    magnet.display_name = Some("many".into());
    magnet.peers = seeders.iter().map(|s| s.listen_addr().to_string()).collect();
    let mut opts = options();
    opts.state_dir = state.path().to_owned();
    let leecher = Session::new(opts).await.unwrap();
    let uri = magnet.to_uri();
    let id = leecher.add_torrent(AddTorrent::parse(&uri).unwrap().save_path(dst.path())).await.unwrap();
    assert!(matches!(
        leecher.status(id).unwrap().state,
        TorrentState::FetchingMetadata | TorrentState::Downloading
    ));
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    let status = leecher.status(id).unwrap();
    assert_eq!(status.name, "many");
    assert_eq!(status.total_bytes, torrent.total_length);
    // The .torrent was saved beside the state, byte-identical in its info dictionary.
    let saved = state.path().join("torrents").join(format!("{}.torrent", torrent.info_hash.to_hex()));
    let parsed = ccbt_metainfo::Torrent::from_bytes(&std::fs::read(saved).unwrap()).unwrap();
    assert_eq!(parsed.info_hash, torrent.info_hash);
    leecher.shutdown().await;
    for s in seeders {
        s.shutdown().await;
    }
    assert_same_files(&torrent, src.path(), dst.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_magnets_are_named_errors() {
    let err = AddTorrent::parse("magnet:?dn=x").unwrap_err().to_string();
    assert!(err.contains("invalid magnet link"), "{err}");
    // A btmh (BEP 52) magnet must name a SHA-256 digest: 32 bytes after the 1220 prefix.
    let err = AddTorrent::parse("magnet:?xt=urn:btmh:1220aabbccddeeff").unwrap_err();
    assert!(err.to_string().contains("invalid magnet link"), "{err}");
    let ok = AddTorrent::parse(
        "magnet:?xt=urn:btmh:1220aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899",
    );
    assert!(ok.is_ok(), "a v2 magnet parses");
}

/// A scripted peer on its own loopback address that advertises the right `metadata_size` and
/// answers every metadata request with garbage of the right length. Counts the lies it sent and
/// the connections whose extension handshake carries `metadata_size`: those come from a peer
/// that has the metadata, i.e. from the download phase.
async fn spawn_metadata_liar(
    ip: &str,
    info_hash: ccbt_core::InfoHash,
    size: u64,
) -> (SocketAddr, Arc<Counts>) {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(Counts::default());
    let counter = counts.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut theirs = [0u8; Handshake::LEN];
                if stream.read_exact(&mut theirs).await.is_err() {
                    return;
                }
                let ours = Handshake::new(info_hash, ccbt_core::PeerId([7; 20]));
                let mut out = BytesMut::new();
                ours.encode(&mut out);
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
                        if let Message::Extended { id: 0, payload } = &msg {
                            if ExtHandshake::decode(payload).is_ok_and(|h| h.metadata_size.is_some()) {
                                counter.download_phase.fetch_add(1, Ordering::Relaxed);
                                return;
                            }
                        }
                        let Message::Extended { id: 3, payload } = msg else { continue };
                        let Ok(MetadataMessage::Request { piece }) = MetadataMessage::decode(payload) else {
                            continue;
                        };
                        let start = u64::from(piece) * 16384;
                        let len = size.saturating_sub(start).min(16384) as usize;
                        let lie = MetadataMessage::Data {
                            piece,
                            total_size: size,
                            data: Bytes::from(vec![0xAA; len]),
                        };
                        let mut out = BytesMut::new();
                        // The peer named our ut_metadata id 1 in its extension handshake.
                        ccbt_wire::encode(&Message::Extended { id: 1, payload: lie.encode() }, &mut out);
                        if stream.write_all(&out).await.is_err() {
                            return;
                        }
                        counter.lies.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    (addr, counts)
}

#[derive(Default)]
struct Counts {
    lies: AtomicUsize,
    download_phase: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metadata_liar_is_outvoted_by_honest_seeders_on_other_addresses() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..600).map(|i| format!("d{}/a-long-file-name-{i:04}.bin", i % 5)).collect();
    let files: Vec<(&str, Vec<u8>)> =
        names.iter().enumerate().map(|(i, n)| (n.as_str(), data(2000 + i, i as u64))).collect();
    let torrent = make_torrent(src.path(), "lied", &files, 16384);
    let size = torrent.info_bytes.len() as u64;
    assert!(size > 2 * 16384, "metadata should span several pieces");

    // The liar on 127.0.0.2, honest ccbt seeders on 127.0.0.3 and 127.0.0.4.
    let (liar, counts) = spawn_metadata_liar("127.0.0.2", torrent.info_hash, size).await;
    let mut seeders = Vec::new();
    for host in ["127.0.0.3", "127.0.0.4"] {
        let mut opts = options();
        opts.listen_host = host.parse().unwrap();
        let s = Session::new(opts).await.unwrap();
        let id = s.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
        wait_complete(&s, id, Duration::from_secs(30)).await;
        seeders.push(s);
    }
    // The liar alone first, so it is surely asked (with every peer at once, the honest seeders
    // may serve every piece before the liar answers); the honest seeders join once it has lied.
    let mut magnet = Magnet::new(torrent.info_hash);
    magnet.peers = vec![liar.to_string()];
    let leecher = Session::new(options()).await.unwrap();
    let id = leecher
        .add_torrent(AddTorrent::parse(&magnet.to_uri()).unwrap().save_path(dst.path()))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), async {
        while counts.lies.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the liar was never asked for metadata");
    let honest: Vec<SocketAddr> = seeders.iter().map(|s| s.listen_addr()).collect();
    leecher.add_peers(id, &honest).unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    // The liar was named (only the peers whose copies differ from the verified metadata are) and
    // is banned for the download phase: named again (by a tracker, PEX or the user) it is not
    // dialled, while an honest newcomer named after it is; and its own connections are refused.
    let (probe, probe_counts) = spawn_metadata_liar("127.0.0.5", torrent.info_hash, size).await;
    leecher.add_peers(id, &[liar]).unwrap();
    leecher.add_peers(id, &[probe]).unwrap();
    tokio::time::timeout(Duration::from_secs(30), async {
        while probe_counts.download_phase.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the download phase never dialled the honest peer named after the liar");
    assert!(
        !served_after_handshake("127.0.0.2", leecher.listen_addr(), torrent.info_hash).await,
        "a connection from the liar's address was served"
    );
    assert!(
        served_after_handshake("127.0.0.6", leecher.listen_addr(), torrent.info_hash).await,
        "a connection from another address was not served, so the refusal proved nothing"
    );
    assert_eq!(counts.download_phase.load(Ordering::Relaxed), 0, "the download phase dialled the liar");
    assert_eq!(leecher.status(id).unwrap().banned_peers, 1);
    leecher.shutdown().await;
    for s in seeders {
        s.shutdown().await;
    }
    assert_same_files(&torrent, src.path(), dst.path());
}

/// Connects from `ip` to `to`, shakes hands for `info_hash`, and tells whether the torrent then
/// serves the connection (sends its extension handshake) rather than closing it.
async fn served_after_handshake(ip: &str, to: SocketAddr, info_hash: ccbt_core::InfoHash) -> bool {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(ip.parse().unwrap(), 0)).unwrap();
    let mut stream = socket.connect(to).await.unwrap();
    let mut out = BytesMut::new();
    let id = ip.rsplit('.').next().unwrap().parse::<u8>().unwrap();
    Handshake::new(info_hash, ccbt_core::PeerId([id; 20])).encode(&mut out);
    stream.write_all(&out).await.unwrap();
    let mut theirs = [0u8; Handshake::LEN];
    if stream.read_exact(&mut theirs).await.is_err() {
        return false;
    }
    let mut decoder = MessageDecoder::new(ccbt_wire::DEFAULT_MAX_FRAME);
    let mut buf = BytesMut::new();
    let served = async {
        while stream.read_buf(&mut buf).await.is_ok_and(|n| n > 0) {
            while let Ok(Some(msg)) = decoder.decode(&mut buf) {
                if matches!(msg, Message::Extended { id: 0, .. }) {
                    return true;
                }
            }
        }
        false
    };
    tokio::time::timeout(Duration::from_secs(30), served).await.expect("neither served nor closed")
}

/// A scripted peer on its own loopback address that completes the BitTorrent handshake and then
/// only sends keepalives, every second, forever.
async fn spawn_keepalive_peer(ip: &str, info_hash: ccbt_core::InfoHash) -> SocketAddr {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut theirs = [0u8; Handshake::LEN];
                if stream.read_exact(&mut theirs).await.is_err() {
                    return;
                }
                let mut out = BytesMut::new();
                Handshake::new(info_hash, ccbt_core::PeerId([8; 20])).encode(&mut out);
                if stream.write_all(&out).await.is_err() {
                    return;
                }
                let mut keepalive = BytesMut::new();
                ccbt_wire::encode(&Message::KeepAlive, &mut keepalive);
                while stream.write_all(&keepalive).await.is_ok() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_only_peers_give_their_metadata_slots_back() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let files = [("only.bin", data(50_000, 3))];
    let torrent = make_torrent(src.path(), "slots", &files, 16384);
    // Eight idle peers on 127.0.0.2..=9 are dialled first (they come first in address order)
    // and take every metadata slot; the seeder waits on 127.0.0.10.
    let mut peers = Vec::new();
    for n in 2..=9 {
        peers.push(spawn_keepalive_peer(&format!("127.0.0.{n}"), torrent.info_hash).await.to_string());
    }
    let mut opts = options();
    opts.listen_host = "127.0.0.10".parse().unwrap();
    let seeder = Session::new(opts).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(30)).await;
    peers.push(seeder.listen_addr().to_string());
    let mut magnet = Magnet::new(torrent.info_hash);
    magnet.peers = peers;
    let leecher = Session::new(options()).await.unwrap();
    let id = leecher
        .add_torrent(AddTorrent::parse(&magnet.to_uri()).unwrap().save_path(dst.path()))
        .await
        .unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    leecher.shutdown().await;
    seeder.shutdown().await;
    assert_same_files(&torrent, src.path(), dst.path());
}
