//! A peer that offers `xet_cas` and lies about every manifest it is asked for.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use ccbt_wire::ext::xet_cas::XetMessage;
use ccbt_wire::ext::{ExtHandshake, XetHandshake, XET_CAS};
use ccbt_wire::{Handshake, Message, MessageDecoder};
use ccbt_xet::ChunkRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the lying peer saw.
#[derive(Default)]
pub struct LiarLog {
    pub manifest_requests: AtomicUsize,
    /// Connections whose extension handshake offered `xet_cas` (the manifest phase's, and
    /// the download's if the liar were not banned from it).
    pub xet_connections: AtomicUsize,
}

/// A peer on `ip` that offers `xet_cas` and answers every MANIFEST_REQ with a one-entry
/// manifest that does not hash to the root (and serves nothing else).
pub async fn spawn_manifest_liar(ip: &str) -> (SocketAddr, Arc<LiarLog>) {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(LiarLog::default());
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(lie_about_manifests(stream, seen.clone()));
        }
    });
    (addr, log)
}

async fn lie_about_manifests(mut stream: TcpStream, log: Arc<LiarLog>) {
    const THEIR_XET: u8 = 7;
    let mut theirs = [0u8; Handshake::LEN];
    if stream.read_exact(&mut theirs).await.is_err() {
        return;
    }
    let info_hash = Handshake::decode(&theirs).unwrap().unwrap().info_hash;
    let mut out = BytesMut::new();
    Handshake::new(info_hash, ccbt_core::PeerId([2; 20])).with_v2(true).encode(&mut out);
    let xet = XetHandshake { v: 1, cdc: Some("xet-gear-64k".into()), mm: Some(139_264), rq: Some(64) };
    let hs = ExtHandshake { m: vec![(XET_CAS.into(), THEIR_XET)], xet: Some(xet), ..Default::default() };
    ccbt_wire::encode(&Message::Extended { id: 0, payload: hs.encode() }, &mut out);
    if stream.write_all(&out).await.is_err() {
        return;
    }
    let (mut decoder, mut buf) = (MessageDecoder::new(ccbt_wire::DEFAULT_MAX_FRAME), BytesMut::new());
    let mut their_xet = None;
    while stream.read_buf(&mut buf).await.is_ok_and(|n| n > 0) {
        while let Ok(Some(msg)) = decoder.decode(&mut buf) {
            match msg {
                Message::Extended { id: 0, payload } => {
                    their_xet = ExtHandshake::decode(&payload).ok().and_then(|h| h.extension_id(XET_CAS));
                    if their_xet.is_some() {
                        log.xet_connections.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Message::Extended { id: THEIR_XET, payload } => {
                    let Ok(XetMessage::ManifestReq { req, root, .. }) = XetMessage::decode(&payload) else {
                        continue;
                    };
                    log.manifest_requests.fetch_add(1, Ordering::Relaxed);
                    let entries = vec![ChunkRef { id: [0x5A; 32], len: 4096 }];
                    let lie = XetMessage::Manifest { req, root, total: 1, start: 0, entries };
                    let mut out = BytesMut::new();
                    let id = their_xet.expect("a MANIFEST_REQ before the extension handshake");
                    ccbt_wire::encode(&Message::Extended { id, payload: lie.encode() }, &mut out);
                    if stream.write_all(&out).await.is_err() {
                        return;
                    }
                }
                _ => {}
            }
        }
    }
}
