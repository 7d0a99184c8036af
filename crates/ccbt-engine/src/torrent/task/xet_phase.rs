//! The torrent task's side of the Xet chunk phase (`torrent/xet_chunks`): the pieces the phase
//! works on are held out of the picker from the swarm's start, and handed back (with the peers
//! that sent wrong chunks banned) when it ends, is paused, rechecked or shut down.

use std::net::IpAddr;

use ccbt_proto::swarm::Banned;

use super::TorrentTask;
use crate::sync::lock;
use crate::torrent::xet_chunks::{self, ChunkPlan};

impl TorrentTask {
    /// Starts the chunk phase on the pieces held for it by `start_with`.
    pub(super) fn start_chunk_phase(&mut self, plan: ChunkPlan) {
        if plan.pieces.is_empty() {
            return;
        }
        let held = plan.pieces.clone();
        tracing::info!(
            torrent = %self.shared.torrent.name,
            pieces = held.len(),
            chunks = plan.chunks.len(),
            "xet: asking peers for the chunks partly filled pieces lack"
        );
        let handle = xet_chunks::spawn(self.shared.clone(), plan);
        self.chunk_phase = Some((handle, held));
    }

    /// Ends a running chunk phase now (pause, recheck, shutdown): its pieces go back to the
    /// picker. Chunks it wrote into them are verified bytes; the pieces are downloaded whole.
    pub(super) fn stop_chunk_phase(&mut self) {
        if let Some((handle, held)) = self.chunk_phase.take() {
            handle.abort();
            self.release_held(&held);
        }
    }

    /// The phase ended by itself: release its pieces and ban the peers that lied.
    pub(super) fn on_chunks_done(&mut self, held: Vec<u32>, liars: Vec<IpAddr>) {
        if self.chunk_phase.take().is_none() {
            return; // stopped already, and released then
        }
        self.release_held(&held);
        if liars.is_empty() {
            return;
        }
        let shared = self.shared.clone();
        let mut inner = lock(&shared.inner);
        let banned: Vec<Banned> = liars
            .into_iter()
            .filter(|&ip| inner.swarm.ban_ip(ip))
            .map(|ip| Banned { ip, failures: 0, peers: Vec::new() })
            .collect();
        self.ban(&mut inner, banned, "sent xet chunks that do not match their ids");
    }

    fn release_held(&self, held: &[u32]) {
        lock(&self.shared.inner).swarm.release_pieces(held);
        // Connections pick again: the pieces not completed are downloaded as usual.
        self.shared.have_watch.send_modify(|g| *g += 1);
    }
}
