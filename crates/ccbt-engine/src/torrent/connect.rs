//! Establishing connections (outgoing and incoming) and registering them with the torrent.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use ccbt_proto::PeerKey;
use ccbt_wire::{Handshake, HandshakePrefix};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{PeerSlot, TorrentCommand, TorrentShared};
use crate::budget::{ConnectionPermit, HandshakePermit};
use crate::peer::{handshake, run_peer, PeerCommand, PEER_COMMAND_CAPACITY};
use crate::sync::lock;
use crate::Event;

static NEXT_PEER_KEY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Dials `addr`, shakes hands and runs the connection; reports the end to the torrent task.
/// `permit` holds the dial's handshake slot until the handshake is done; the connection then
/// needs an established slot (`max_global_peers`).
pub(super) fn connect_outgoing(shared: Arc<TorrentShared>, addr: SocketAddr, permit: HandshakePermit) {
    tokio::spawn(async move {
        let result = async {
            let mut stream = tokio::time::timeout(
                shared.options().connection_timeout,
                crate::net::connect(addr, shared.options().listen_host),
            )
            .await
            .map_err(|_| ("connect timed out".to_string(), false))?
            .map_err(|e| (format!("connect failed: {e}"), false))?;
            let theirs = handshake::outgoing(
                &mut stream,
                shared.torrent.info_hash,
                shared.torrent.info_hash_v2.map(|v2| v2.truncated()),
                shared.peer_id,
                shared.handshake_bits(),
                shared.options().handshake_timeout,
            )
            .await
            .map_err(|e| (e.to_string(), matches!(e, handshake::HandshakeError::SelfConnection)))?;
            let permit = shared.budget.establish(permit).map_err(|e| (e.to_string(), false))?;
            Ok::<_, (String, bool)>((stream, theirs, permit))
        }
        .await;
        match result {
            Ok((stream, theirs, permit)) => run_registered(shared, addr, stream, theirs, true, permit).await,
            Err((reason, ourselves)) => {
                tracing::debug!(%addr, %reason, "outgoing connection failed");
                shared.counters.connects_failed.fetch_add(1, Relaxed);
                let _ = shared.commands.send(TorrentCommand::ConnectFailed { addr, reason, ourselves }).await;
            }
        }
    });
}

/// Finishes the handshake of an incoming connection for this torrent and runs it. The whole
/// handshake must be done by `deadline`; a banned IP is refused before we answer.
pub(crate) fn accept_incoming(
    shared: Arc<TorrentShared>,
    mut stream: TcpStream,
    addr: SocketAddr,
    prefix: HandshakePrefix,
    permit: HandshakePermit,
    deadline: tokio::time::Instant,
) {
    if lock(&shared.inner).candidates.is_banned(addr.ip()) {
        tracing::debug!(%addr, "incoming connection refused: address banned");
        return;
    }
    tokio::spawn(async move {
        let limit = deadline.saturating_duration_since(tokio::time::Instant::now());
        let bits = shared.handshake_bits();
        let theirs = tokio::select! {
            theirs = handshake::finish_incoming(&mut stream, prefix, shared.peer_id, bits, limit) => theirs,
            _ = permit.evicted() => {
                tracing::debug!(%addr, "incoming handshake evicted by a newer connection");
                return;
            }
        };
        let established = theirs.map_err(|e| e.to_string()).and_then(|theirs| {
            let permit = shared.budget.establish(permit).map_err(|e| e.to_string())?;
            Ok((theirs, permit))
        });
        match established {
            Ok((theirs, permit)) => run_registered(shared, addr, stream, theirs, false, permit).await,
            Err(reason) => tracing::debug!(%addr, %reason, "incoming handshake failed"),
        }
    });
}

async fn run_registered(
    shared: Arc<TorrentShared>,
    addr: SocketAddr,
    stream: TcpStream,
    theirs: Handshake,
    outgoing: bool,
    permit: ConnectionPermit,
) {
    // Held until the connection ends: it counts against `max_global_peers`.
    let _permit = permit;
    let key = PeerKey(NEXT_PEER_KEY.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let (tx, rx) = mpsc::channel::<PeerCommand>(PEER_COMMAND_CAPACITY);
    let refused = {
        let mut inner = lock(&shared.inner);
        if !inner.lifecycle.accepts_connections() {
            Some("torrent is not accepting connections")
        } else if inner.candidates.is_banned(addr.ip()) {
            Some("address is banned")
        } else if inner.peers.len() >= shared.options().max_peers_per_torrent {
            Some("peer limit reached")
        } else if inner.peers.values().any(|p| p.peer_id == theirs.peer_id || (outgoing && p.addr == addr)) {
            Some("already connected to this peer")
        } else {
            inner.peers.insert(key, PeerSlot::new(addr, theirs.peer_id, tx));
            None
        }
    };
    if let Some(reason) = refused {
        tracing::debug!(%addr, reason, "connection refused");
        if outgoing {
            shared.counters.connects_failed.fetch_add(1, Relaxed);
            let _ = shared
                .commands
                .send(TorrentCommand::ConnectFailed { addr, reason: reason.into(), ourselves: false })
                .await;
        }
        return;
    }
    tracing::debug!(%addr, peer_id = %theirs.peer_id, outgoing, "peer connected");
    if outgoing {
        shared.counters.connects_ok.fetch_add(1, Relaxed);
    }
    shared.emit(Event::PeerConnected { id: shared.id, addr });
    let end = run_peer(shared.clone(), key, stream, theirs, outgoing, rx).await;
    let reason = end.to_string();
    tracing::debug!(%addr, %reason, "peer disconnected");
    lock(&shared.inner).peers.remove(&key);
    shared.emit(Event::PeerDisconnected { id: shared.id, addr, reason: reason.clone() });
    let _ = shared.commands.send(TorrentCommand::PeerClosed { addr, outgoing, reason }).await;
}
