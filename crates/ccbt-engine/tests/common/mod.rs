//! Shared helpers for the engine's loopback tests: deterministic data, torrents built from it,
//! sessions on ephemeral ports.

#![allow(dead_code)]

pub mod manifest_liar;
pub mod raw_xet;
pub mod xet;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ccbt_engine::{Session, SessionOptions, TorrentId, TorrentState};
use ccbt_metainfo::{Torrent, TorrentBuilder};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Deterministic pseudo-random bytes (xorshift), different per `seed`.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Writes `files` (relative path, contents) under `root/name/` (multi-file) or `root/name`
/// (a single file with an empty path) and returns the parsed torrent.
pub fn make_torrent(root: &Path, name: &str, files: &[(&str, Vec<u8>)], piece_length: u32) -> Torrent {
    let single = files.len() == 1 && files[0].0.is_empty();
    let mut stream = Vec::new();
    let mut entries = Vec::new();
    for (path, bytes) in files {
        let full = if single { root.join(name) } else { root.join(name).join(path) };
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, bytes).unwrap();
        stream.extend_from_slice(bytes);
        let components = if single { Vec::new() } else { path.split('/').map(String::from).collect() };
        entries.push((components, bytes.len() as u64));
    }
    let piece_hashes = stream.chunks(piece_length as usize).map(|c| Sha1::digest(c).into()).collect();
    let builder = TorrentBuilder {
        name: name.to_string(),
        files: entries,
        piece_length,
        piece_hashes,
        trackers: Vec::new(),
        private: false,
        comment: None,
        created_by: Some("ccbt tests".into()),
        creation_date: None,
        url_list: Vec::new(),
        ..TorrentBuilder::default()
    };
    Torrent::from_bytes(&builder.build().unwrap()).unwrap()
}

/// Options for a test session: an ephemeral port on loopback.
pub fn options() -> SessionOptions {
    SessionOptions {
        listen_port: 0,
        listen_host: "127.0.0.1".parse().unwrap(),
        hash_workers: 2,
        // Tests never leave loopback: no public DHT routers.
        enable_dht: false,
        dht_bootstrap_nodes: Vec::new(),
        ..SessionOptions::default()
    }
}

/// Waits until the torrent is complete, failing the test after `limit`.
pub async fn wait_complete(session: &Session, id: TorrentId, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let status = session.status(id).unwrap();
        if let TorrentState::Error(e) = &status.state {
            panic!("torrent failed: {e}");
        }
        if status.is_complete() && status.state == TorrentState::Seeding {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "not complete in time: {status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the torrent has checked its data and takes connections (a connection that
/// arrives while it is still checking is refused), failing the test after `limit`.
pub async fn wait_accepting(session: &Session, id: TorrentId, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let status = session.status(id).unwrap();
        match &status.state {
            TorrentState::Error(e) => panic!("torrent failed: {e}"),
            TorrentState::Downloading | TorrentState::Seeding => return,
            _ => {}
        }
        assert!(tokio::time::Instant::now() < deadline, "still not taking connections: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Compares two trees file by file.
pub fn assert_same_files(torrent: &Torrent, a: &Path, b: &Path) {
    for f in &torrent.files {
        if f.is_padding {
            continue;
        }
        let rel: std::path::PathBuf = f.path.iter().collect();
        let x = std::fs::read(a.join(&rel)).unwrap_or_else(|e| panic!("{}: {e}", a.join(&rel).display()));
        let y = std::fs::read(b.join(&rel)).unwrap_or_else(|e| panic!("{}: {e}", b.join(&rel).display()));
        assert!(x == y, "file {} differs", rel.display());
    }
}

/// A TCP proxy on loopback to `target` that counts the bytes it carries, both directions.
pub async fn counting_proxy(target: SocketAddr) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let total = count.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = TcpStream::connect(target).await else { continue };
            let (ri, wi) = inbound.into_split();
            let (ro, wo) = outbound.into_split();
            tokio::spawn(pump(ri, wo, total.clone()));
            tokio::spawn(pump(ro, wi, total.clone()));
        }
    });
    (addr, count)
}

async fn pump(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    count: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
    let _ = to.shutdown().await;
}

/// Session options for the Xet tests: state in `state`, a chunk store under it when `xet`, and
/// no peer exchange (only the addresses a test gives travel between its sessions).
pub fn xet_session_options(state: &Path, xet: bool) -> SessionOptions {
    SessionOptions {
        state_dir: state.to_path_buf(),
        xet_store_dir: xet.then(|| state.join("xet")),
        enable_pex: false,
        ..options()
    }
}
