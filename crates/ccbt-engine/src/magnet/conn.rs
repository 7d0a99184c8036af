//! One connection of the metadata phase: handshake, extension handshake, then `ut_metadata`
//! requests handed out by the shared `MetadataFetcher`. Nothing else of the peer protocol is
//! spoken: without the metadata we cannot validate bitfields or pieces, so they are ignored.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ccbt_proto::swarm::{our_ext_handshake, OUR_UT_METADATA, OUR_UT_PEX};
use ccbt_proto::PeerKey;
use ccbt_wire::ext::metadata::MetadataMessage;
use ccbt_wire::ext::pex::PexMessage;
use ccbt_wire::ext::{ExtHandshake, UT_METADATA};
use ccbt_wire::{Message, MessageDecoder};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{MetaShared, ResolverCommand};
use crate::peer::handshake;

/// Why a metadata connection ended (logged at debug level).
pub(super) type EndReason = String;

pub(super) async fn run(shared: Arc<MetaShared>, key: PeerKey, addr: SocketAddr) -> EndReason {
    let limit = shared.options.connection_timeout;
    let mut stream = match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return format!("connect failed: {e}"),
        Err(_) => return "connect timed out".into(),
    };
    let theirs =
        match handshake::outgoing(&mut stream, shared.info_hash, shared.peer_id, shared.dht.is_some(), limit)
            .await
        {
            Ok(h) => h,
            Err(e) => return e.to_string(),
        };
    if !theirs.supports_extensions() {
        return "peer does not support the extension protocol (no ut_metadata)".into();
    }
    let _ = stream.set_nodelay(true);
    let mut out = BytesMut::new();
    if theirs.supports_fast() {
        // BEP 6: with the fast extension the first message must state what we have.
        ccbt_wire::encode(&Message::HaveNone, &mut out);
    }
    let ext =
        our_ext_handshake(shared.listen_port, None, shared.pex, concat!("ccbt ", env!("CARGO_PKG_VERSION")));
    ccbt_wire::encode(&Message::Extended { id: 0, payload: ext }, &mut out);
    if let Err(e) = stream.write_all(&out).await {
        return format!("write failed: {e}");
    }
    shared.connected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let reason = drive(&shared, key, addr, &mut stream).await;
    shared.connected.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    shared.state.lock().expect("metadata lock poisoned").fetcher.remove_peer(key);
    reason
}

async fn drive(shared: &MetaShared, key: PeerKey, addr: SocketAddr, stream: &mut TcpStream) -> EndReason {
    let mut decoder = MessageDecoder::new(ccbt_wire::DEFAULT_MAX_FRAME);
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    let mut wbuf = BytesMut::new();
    let mut wake = shared.wake.subscribe();
    let mut their_metadata_id: Option<u8> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let idle_limit = Duration::from_secs(60);
    let mut last_heard = Instant::now();
    loop {
        // Hand out requests and pick up ours; announce completion.
        if let Some(their_id) = their_metadata_id {
            let mut st = shared.state.lock().expect("metadata lock poisoned");
            if st.bad.contains(&key) {
                return "sent metadata that does not match the info hash".into();
            }
            let mine = st.distribute(Instant::now(), key);
            if st.woke_others {
                st.woke_others = false;
                shared.wake.send_modify(|g| *g += 1);
            }
            drop(st);
            for piece in mine {
                let payload = MetadataMessage::Request { piece }.encode();
                ccbt_wire::encode(&Message::Extended { id: their_id, payload }, &mut wbuf);
            }
        }
        if shared.done.load(std::sync::atomic::Ordering::Acquire) {
            return "metadata complete".into();
        }
        tokio::select! {
            ready = stream.readable() => {
                if let Err(e) = ready { return e.to_string(); }
                rbuf.reserve(16 * 1024);
                match stream.try_read_buf(&mut rbuf) {
                    Ok(0) => return "peer closed the connection".into(),
                    Ok(_) => {
                        last_heard = Instant::now();
                        loop {
                            match decoder.decode(&mut rbuf) {
                                Ok(Some(msg)) => {
                                    if let Err(reason) = on_message(shared, key, addr, msg, &mut their_metadata_id, &mut wbuf) {
                                        return reason;
                                    }
                                }
                                Ok(None) => break,
                                Err(e) => return e.to_string(),
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return e.to_string(),
                }
            }
            ready = stream.writable(), if !wbuf.is_empty() => {
                if let Err(e) = ready { return e.to_string(); }
                match stream.try_write(&wbuf) {
                    Ok(n) => { let _ = wbuf.split_to(n); }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return e.to_string(),
                }
            }
            changed = wake.changed() => {
                if changed.is_err() { return "resolver stopped".into(); }
            }
            _ = tick.tick() => {
                if last_heard.elapsed() > idle_limit {
                    return "peer silent for 60 s".into();
                }
            }
        }
    }
}

fn on_message(
    shared: &MetaShared,
    key: PeerKey,
    addr: SocketAddr,
    msg: Message,
    their_metadata_id: &mut Option<u8>,
    wbuf: &mut BytesMut,
) -> Result<(), EndReason> {
    let Message::Extended { id, payload } = msg else { return Ok(()) };
    match id {
        0 => {
            let hs = ExtHandshake::decode(&payload).map_err(|e| format!("bad extension handshake: {e}"))?;
            let (Some(their_id), Some(size)) = (hs.extension_id(UT_METADATA), hs.metadata_size) else {
                return Err("peer does not serve metadata".into());
            };
            *their_metadata_id = Some(their_id);
            shared.state.lock().expect("metadata lock poisoned").fetcher.add_peer(key, size);
        }
        OUR_UT_METADATA => match MetadataMessage::decode(payload) {
            Ok(MetadataMessage::Data { piece, total_size, data }) => {
                tracing::debug!(%addr, piece, total_size, "metadata piece received");
                let mut st = shared.state.lock().expect("metadata lock poisoned");
                st.fetcher
                    .on_data(Instant::now(), key, piece, total_size, data)
                    .map_err(|e| format!("bad metadata piece: {e}"))?;
                st.check_complete();
                if st.metadata.is_some() {
                    shared.done.store(true, std::sync::atomic::Ordering::Release);
                }
                shared.wake.send_modify(|g| *g += 1);
            }
            Ok(MetadataMessage::Reject { piece }) => {
                shared.state.lock().expect("metadata lock poisoned").fetcher.on_reject(
                    Instant::now(),
                    key,
                    piece,
                );
                shared.wake.send_modify(|g| *g += 1);
            }
            Ok(MetadataMessage::Request { piece }) => {
                // We do not have the metadata yet.
                if let Some(their_id) = *their_metadata_id {
                    let payload = MetadataMessage::Reject { piece }.encode();
                    ccbt_wire::encode(&Message::Extended { id: their_id, payload }, wbuf);
                }
            }
            // BEP 9: unknown or malformed ut_metadata messages are ignored.
            Err(e) => tracing::debug!(%addr, error = %e, "ignoring a ut_metadata message"),
        },
        OUR_UT_PEX if shared.pex => {
            if let Ok(pex) = PexMessage::decode(&payload) {
                let peers: Vec<SocketAddr> = pex
                    .added
                    .iter()
                    .map(|(a, _)| SocketAddr::V4(*a))
                    .chain(pex.added6.iter().map(|(a, _)| SocketAddr::V6(*a)))
                    .take(200)
                    .collect();
                tracing::debug!(%addr, count = peers.len(), "peers from PEX during the metadata phase");
                let _ = shared.commands.try_send(ResolverCommand::AddPeers(peers));
            }
        }
        _ => {}
    }
    Ok(())
}
