//! The TCP listener: binds the listen port (moving to the next free port unless the user named
//! it) and routes each incoming connection to its torrent by the info hash of its handshake.

use std::net::SocketAddr;
use std::sync::Weak;

use tokio::net::TcpListener;

use crate::budget::Direction;
use crate::peer::handshake;
use crate::session::SessionInner;
use crate::torrent::accept_incoming;
use crate::{SessionError, SessionOptions};

/// Ports tried after the configured one when it is taken.
const PORT_SEARCH: u16 = 50;

pub(crate) async fn bind(options: &SessionOptions) -> Result<TcpListener, SessionError> {
    let first = options.listen_port;
    let last =
        if options.listen_port_explicit || first == 0 { first } else { first.saturating_add(PORT_SEARCH) };
    let mut port = first;
    loop {
        match TcpListener::bind(SocketAddr::new(options.listen_host, port)).await {
            Ok(listener) => {
                if port != first {
                    tracing::warn!("listen port {first} is in use; listening on port {port} instead");
                }
                return Ok(listener);
            }
            Err(source) if source.kind() == std::io::ErrorKind::AddrInUse && port < last => port += 1,
            Err(source) if port == first => return Err(SessionError::Listen { port, source }),
            Err(_) => return Err(SessionError::NoFreePort { first, last }),
        }
    }
}

pub(crate) async fn run(listener: TcpListener, session: Weak<SessionInner>) {
    loop {
        let (mut stream, addr) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                continue;
            }
        };
        let Some(inner) = session.upgrade() else { return };
        // One deadline for the whole handshake, and a handshake slot of the incoming direction
        // taken before anything is read: a host holding idle connections gets at most its
        // per-IP share of these, and never an established slot or one of our dials' slots
        // (when the slots are full, the oldest incoming handshake makes room).
        let deadline = tokio::time::Instant::now() + inner.options().handshake_timeout;
        let permit = match inner.budget.try_handshake(addr.ip(), Direction::Incoming) {
            Ok(permit) => permit,
            Err(why) => {
                tracing::debug!(%addr, %why, "incoming connection refused");
                continue;
            }
        };
        let session = session.clone();
        drop(inner);
        tokio::spawn(async move {
            let limit = deadline.saturating_duration_since(tokio::time::Instant::now());
            let prefix = tokio::select! {
                read = handshake::read_incoming_prefix(&mut stream, limit) => match read {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::debug!(%addr, error = %e, "incoming handshake failed");
                        return;
                    }
                },
                _ = permit.evicted() => {
                    tracing::debug!(%addr, "incoming handshake evicted by a newer connection");
                    return;
                }
            };
            let Some(inner) = session.upgrade() else { return };
            if let Some(torrent) = inner.find_torrent(&prefix.info_hash) {
                drop(inner);
                return accept_incoming(torrent, stream, addr, prefix, permit, deadline);
            }
            // Not a torrent: maybe a Xet discovery key we announce (an xet-only peer).
            let Some(ctx) = inner.xet_only_context(&prefix.info_hash) else {
                tracing::debug!(%addr, info_hash = %prefix.info_hash, "incoming peer wants an unknown torrent");
                return;
            };
            drop(inner);
            crate::xet_discovery::serve::run(ctx, stream, addr, prefix, permit, deadline).await;
        });
    }
}
