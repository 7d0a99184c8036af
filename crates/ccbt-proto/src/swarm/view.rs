//! What the swarm knows of one connection, for status displays (`ccbt peers`, the API).

use crate::PeerKey;

use super::Swarm;

/// One connection's availability and interest/choke state as the swarm last saw them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerSummary {
    /// Pieces the peer announced (all of them for a seed).
    pub pieces: u32,
    /// It announced every piece (HaveAll, or a full bitfield).
    pub is_seed: bool,
    /// It is interested in our pieces.
    pub interested: bool,
    /// We are interested in its pieces.
    pub am_interested: bool,
    /// We upload to it (it holds an upload slot).
    pub unchoked: bool,
}

impl Swarm {
    /// The summary of connection `key` (None for a key the swarm never handled).
    pub fn peer_summary(&self, key: PeerKey) -> Option<PeerSummary> {
        let peer = self.peers.get(&key)?;
        let total = self.lengths.num_pieces();
        let pieces = if peer.is_seed { total } else { peer.has.as_ref().map_or(0, |h| h.count_ones()) };
        Some(PeerSummary {
            pieces,
            is_seed: peer.is_seed || (total > 0 && pieces == total),
            interested: peer.interested,
            am_interested: peer.am_interested,
            unchoked: peer.unchoked,
        })
    }
}
