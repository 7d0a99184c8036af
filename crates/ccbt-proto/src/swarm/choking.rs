//! The swarm's side of choking: a snapshot of every connection for the [`crate::choker`], and
//! the choke changes it decides.

use std::time::Instant;

use rand::Rng;

use crate::choker::ChokerPeer;
use crate::PeerKey;

use super::Swarm;

impl Swarm {
    /// Runs the swarm's timers due at `now`: the choker, every
    /// [`ChokerOptions::unchoke_interval`]. Returns the
    /// choke changes as [`Swarm::rechoke`] does (empty when nothing was due).
    pub fn handle_timeout(&mut self, now: Instant, rng: &mut impl Rng) -> Vec<(PeerKey, bool)> {
        if self.next_rechoke.is_some_and(|due| now < due) {
            return Vec::new();
        }
        self.next_rechoke = Some(now + self.options.choker.unchoke_interval);
        self.rechoke(now, rng)
    }

    /// Runs the choker now ([`Swarm::handle_timeout`] runs it every `unchoke_interval`).
    /// Returns the peers whose choke state must change: `(peer, unchoke)`. The swarm records the
    /// new state at once; the engine forwards it to the connections.
    pub fn rechoke(&mut self, now: Instant, rng: &mut impl Rng) -> Vec<(PeerKey, bool)> {
        let mut view: Vec<ChokerPeer> = self
            .peers
            .iter()
            .map(|(&key, p)| ChokerPeer {
                key,
                interested: p.interested,
                unchoked: p.unchoked,
                download_rate: p.download_rate,
                upload_rate: p.upload_rate,
                is_seed: p.is_seed,
                am_interested: p.am_interested,
                downloaded: p.downloaded,
                uploaded: p.uploaded,
            })
            .collect();
        // `peers` iterates in no fixed order (random hashing); the choker shuffles its input with
        // `rng`, so only a fixed input order makes the outcome a function of the RNG's seed.
        view.sort_unstable_by_key(|p| p.key);
        let seeding = self.picker.is_complete();
        let chosen = self.choker.decide(now, &view, seeding, rng);
        let mut changes = Vec::new();
        for (key, peer) in self.peers.iter_mut() {
            let unchoke = chosen.contains(key);
            if unchoke != peer.unchoked {
                peer.unchoked = unchoke;
                changes.push((*key, unchoke));
            }
        }
        changes.sort_unstable();
        changes
    }
}
