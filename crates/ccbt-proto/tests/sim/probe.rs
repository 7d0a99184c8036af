//! Read-only views into simulated nodes for the choking and streaming scenarios.
// Each test binary compiles `sim` on its own and uses a different subset of these.
#![allow(dead_code)]

use super::{NodeId, Sim};

impl Sim {
    /// Whether `node` chokes `remote` on their connection (`None`: not connected).
    pub fn am_choking(&self, node: NodeId, remote: NodeId) -> Option<bool> {
        self.nodes[node].conns.values().find(|c| c.remote == remote).map(|c| c.pc.am_choking())
    }

    /// The nodes `node` currently unchokes.
    pub fn unchoked_by(&self, node: NodeId) -> Vec<NodeId> {
        self.nodes[node].conns.values().filter(|c| !c.pc.am_choking()).map(|c| c.remote).collect()
    }

    /// Requests `node` has outstanding with `remote` (`None`: not connected).
    pub fn outstanding(&self, node: NodeId, remote: NodeId) -> Option<usize> {
        self.nodes[node].conns.values().find(|c| c.remote == remote).map(|c| c.pc.outstanding_requests())
    }
}
