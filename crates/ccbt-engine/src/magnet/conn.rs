//! Drives one connection of the metadata phase: connect, BitTorrent handshake, then move bytes
//! between the socket and the sans-IO [`MetadataConn`] (which makes every protocol decision),
//! and timers and events between it and the resolver.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ccbt_proto::metadata::{ConnEvent, ConnOptions, MetadataConn};
use ccbt_proto::PeerKey;
use ccbt_wire::MessageDecoder;
use tokio::net::TcpStream;

use super::{MetaShared, ResolverCommand};
use crate::peer::handshake;

/// Bytes queued for a peer beyond which we stop reading from it and stop asking the machine for
/// more to send: a peer that does not read cannot make us queue more.
const WRITE_BUFFER_CAP: usize = 64 * 1024;

/// Sleep when the machine names no deadline (it always does while the fetch runs).
const IDLE_WAKE: Duration = Duration::from_secs(60);

/// How one metadata connection ended.
pub(super) struct Ended {
    pub addr: SocketAddr,
    /// Why, for the debug log.
    pub reason: String,
    /// Whether the peer delivered at least one metadata piece we took.
    pub served: bool,
}

pub(super) async fn run(shared: Arc<MetaShared>, key: PeerKey, addr: SocketAddr) -> Ended {
    let ended = |reason: String| Ended { addr, reason, served: false };
    let limit = shared.options.connection_timeout;
    let mut stream = match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return ended(format!("connect failed: {e}")),
        Err(_) => return ended("connect timed out".into()),
    };
    let theirs =
        match handshake::outgoing(&mut stream, shared.info_hash, shared.peer_id, shared.dht.is_some(), limit)
            .await
        {
            Ok(h) => h,
            Err(e) => return ended(e.to_string()),
        };
    if !theirs.supports_extensions() {
        return ended("peer does not support the extension protocol (no ut_metadata)".into());
    }
    let _ = stream.set_nodelay(true);
    let opts = ConnOptions {
        listen_port: shared.listen_port,
        pex: shared.pex,
        fast: theirs.supports_fast(),
        client: concat!("ccbt ", env!("CARGO_PKG_VERSION")).into(),
    };
    let mut conn = MetadataConn::new(Instant::now(), key, addr, &opts);
    shared.connected.fetch_add(1, Ordering::Relaxed);
    let reason = drive(&shared, &mut conn, addr, &mut stream).await;
    shared.connected.fetch_sub(1, Ordering::Relaxed);
    conn.close(&mut shared.state.lock().expect("metadata lock poisoned").fetcher);
    shared.wake.send_modify(|g| *g += 1);
    Ended { addr, reason, served: conn.pieces_delivered() > 0 }
}

/// The socket pump: reads while the write buffer has room, writes what the machine hands out,
/// and wakes the machine at its deadlines or when another connection changed the fetch.
async fn drive(
    shared: &MetaShared,
    conn: &mut MetadataConn,
    addr: SocketAddr,
    stream: &mut TcpStream,
) -> String {
    let mut decoder = MessageDecoder::new(ccbt_wire::DEFAULT_MAX_FRAME);
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    let mut wbuf = BytesMut::new();
    let mut wake = shared.wake.subscribe();
    loop {
        let deadline = {
            let mut st = shared.state.lock().expect("metadata lock poisoned");
            let now = Instant::now();
            if let Err(end) = conn.handle_timeout(now, &st.fetcher) {
                return end.to_string();
            }
            let before = st.fetcher.generation();
            while wbuf.len() < WRITE_BUFFER_CAP {
                let Some(msg) = conn.poll_transmit(now, &mut st.fetcher) else { break };
                ccbt_wire::encode(&msg, &mut wbuf);
            }
            if st.fetcher.generation() != before {
                shared.wake.send_modify(|g| *g += 1);
            }
            conn.poll_timeout(&st.fetcher)
        };
        // Without a deadline the machine has nothing to do until input or a wake-up.
        let sleep_until = deadline.unwrap_or_else(|| Instant::now() + IDLE_WAKE);
        tokio::select! {
            ready = stream.readable(), if wbuf.len() < WRITE_BUFFER_CAP => {
                if let Err(e) = ready { return e.to_string(); }
                rbuf.reserve(16 * 1024);
                match stream.try_read_buf(&mut rbuf) {
                    Ok(0) => return "peer closed the connection".into(),
                    Ok(_) => {
                        if let Err(reason) = on_readable(shared, conn, addr, &mut decoder, &mut rbuf) {
                            return reason;
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
            () = tokio::time::sleep_until(sleep_until.into()) => {}
        }
    }
}

/// Decodes every whole message read and hands it to the machine, then acts on its events.
fn on_readable(
    shared: &MetaShared,
    conn: &mut MetadataConn,
    addr: SocketAddr,
    decoder: &mut MessageDecoder,
    rbuf: &mut BytesMut,
) -> Result<(), String> {
    let mut st = shared.state.lock().expect("metadata lock poisoned");
    let before = st.fetcher.generation();
    let now = Instant::now();
    let mut result = Ok(());
    while result.is_ok() {
        match decoder.decode(rbuf) {
            Ok(Some(msg)) => {
                result = conn.handle_message(now, msg, &mut st.fetcher).map_err(|e| e.to_string())
            }
            Ok(None) => break,
            Err(e) => result = Err(e.to_string()),
        }
    }
    while let Some(event) = conn.poll_event() {
        match event {
            ConnEvent::PieceAccepted { piece, total_size } => {
                tracing::debug!(%addr, piece, total_size, "metadata piece received");
            }
            ConnEvent::Verified(bytes) => {
                st.metadata = Some(bytes);
                shared.done.store(true, Ordering::Release);
                shared.verified.notify_one();
            }
            ConnEvent::HashMismatch(failure) => {
                tracing::warn!(%failure, "metadata failed the info-hash check")
            }
            ConnEvent::Peers(peers) => {
                tracing::debug!(%addr, count = peers.len(), "peers from PEX during the metadata phase");
                let _ = shared.commands.try_send(ResolverCommand::AddPeers(peers));
            }
            _ => {}
        }
    }
    if st.fetcher.generation() != before || shared.done.load(Ordering::Acquire) {
        shared.wake.send_modify(|g| *g += 1);
    }
    result
}
