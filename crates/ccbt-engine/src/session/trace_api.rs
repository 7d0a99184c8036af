//! [`Session::trace_peer`] and [`Session::stop_peer_trace`]: per-peer tracing of one address
//! of a torrent (see `peer/trace` for the file and its bounds).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::Session;
use crate::peer::PeerCommand;
use crate::sync::lock;
use crate::torrent::TorrentShared;
use crate::{SessionError, TorrentId};

impl Session {
    /// Traces every message to and from the peer at `addr` (as [`Session::peers`] shows it) in
    /// torrent `id`, to the returned file, `<state_dir>/traces/<info hash>/<ip>_<port>.log`.
    /// A connection to `addr` open now is traced from now on (its handshake is past: the
    /// trace opens with a line saying so); a connection made later, including a reconnection,
    /// is traced from its handshake. Traces of successive connections are appended to the
    /// one file, which stops at `peer_trace_max_mib`. Tracing an address already traced does
    /// nothing more.
    pub async fn trace_peer(&self, id: TorrentId, addr: SocketAddr) -> Result<PathBuf, SessionError> {
        let shared = self.shared(id)?;
        lock(&shared.traced_peers).insert(addr);
        tell_connection(&shared, addr, PeerCommand::StartTrace).await;
        Ok(shared.trace_path(addr))
    }

    /// Stops tracing `addr` in torrent `id` (its open connection, and later ones); returns
    /// whether it was traced. Under `enable_peer_tracing`, new connections are still traced.
    pub async fn stop_peer_trace(&self, id: TorrentId, addr: SocketAddr) -> Result<bool, SessionError> {
        let shared = self.shared(id)?;
        let was = lock(&shared.traced_peers).remove(&addr);
        tell_connection(&shared, addr, PeerCommand::StopTrace).await;
        Ok(was)
    }

    /// The trace file of `addr` in torrent `id`, traced or not.
    pub fn peer_trace_path(&self, id: TorrentId, addr: SocketAddr) -> Result<PathBuf, SessionError> {
        Ok(self.shared(id)?.trace_path(addr))
    }
}

/// Sends `cmd` to the connection with `addr`, if one is open.
async fn tell_connection(shared: &TorrentShared, addr: SocketAddr, cmd: PeerCommand) {
    let sender = lock(&shared.inner).peers.values().find(|p| p.addr == addr).map(|p| p.commands.clone());
    if let Some(sender) = sender {
        // A connection that ended meanwhile has nothing to trace.
        let _ = sender.send(cmd).await;
    }
}
