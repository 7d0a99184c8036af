//! Which connections of a torrent are traced (`peer/trace`): all of them under
//! `enable_peer_tracing`, else those whose address was named by `Session::trace_peer`.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::TorrentShared;
use crate::peer::trace::{trace_path, PeerTracer};
use crate::sync::lock;

impl TorrentShared {
    /// Whether a connection with `addr` starting now is traced.
    pub(crate) fn traces_peer(&self, addr: SocketAddr) -> bool {
        self.options.borrow().peer_tracing || lock(&self.traced_peers).contains(&addr)
    }

    /// The trace file of `addr` in this torrent.
    pub(crate) fn trace_path(&self, addr: SocketAddr) -> PathBuf {
        trace_path(&self.options.borrow().state_dir, &self.torrent.info_hash, addr)
    }

    /// A tracer writing to the trace file of `addr`, bounded as the options say now.
    pub(crate) fn start_tracer(&self, addr: SocketAddr) -> PeerTracer {
        PeerTracer::start(self.trace_path(addr), self.options.borrow().peer_trace_max_bytes)
    }
}
