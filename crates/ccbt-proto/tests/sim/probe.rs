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

impl Sim {
    /// For each piece, how many of `nodes` hold it verified.
    pub fn piece_copies(&self, nodes: &[NodeId]) -> Vec<u32> {
        let mut copies = vec![0u32; self.content.lengths.num_pieces() as usize];
        for &n in nodes {
            for piece in self.nodes[n].swarm.have().iter_ones() {
                copies[piece as usize] += 1;
            }
        }
        copies
    }

    /// The most connections of `node` holding a request for the same block at once.
    pub fn max_requesters(&self, node: NodeId) -> usize {
        let mut count: std::collections::HashMap<ccbt_core::BlockRef, usize> = Default::default();
        for conn in self.nodes[node].conns.values() {
            for block in conn.pc.outstanding_blocks() {
                *count.entry(block).or_default() += 1;
            }
        }
        count.into_values().max().unwrap_or(0)
    }
}
