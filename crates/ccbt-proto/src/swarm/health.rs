//! Peer health as the swarm sees it (see [`crate::health`] for the score), and which connection
//! to close when the torrent is at its connection limit and a candidate waits.
//!
//! # Eviction rule
//!
//! 1. A *useless* connection goes first (no interest either way and no payload for
//!    `idle_after`, the one idle longest: [`crate::candidates::choose_eviction`]).
//! 2. Otherwise a *misbehaving* one: past its grace period ([`crate::health::GRACE`]), penalised
//!    by its health (its address contributed to a failed piece, it broke the protocol in ways
//!    tolerated so far, or it is snubbing us) and scoring below a newcomer; the lowest score
//!    goes ([`crate::health::evict_for_newcomer`]).
//! 3. Otherwise nobody: a peer that is interested either way or moved payload recently, and
//!    behaves, keeps its slot however slow it is. Health overrides that protection only on
//!    evidence of misbehaviour, never on speed alone, so a torrent at its limit does not churn
//!    its honest slow peers for unknown candidates.

use std::time::{Duration, Instant};

use crate::candidates::{choose_eviction, ConnActivity, EvictionOptions};
use crate::health::{evict_for_newcomer, PeerHealth};
use crate::PeerKey;

use super::{Swarm, SwarmPeer};

/// Rates are measured over a 5 s window by the connection and copied here whenever the swarm
/// handles it; a connection that moved no payload for longer has a rate of zero, however old
/// the copy is.
const RATE_STALE: Duration = Duration::from_secs(5);

impl Swarm {
    /// The health of connection `key` at `now` (None for a key the swarm never handled).
    pub fn peer_health(&self, key: PeerKey, now: Instant) -> Option<PeerHealth> {
        self.peers.get(&key).and_then(|p| self.health_of(key, p, now))
    }

    /// The health of every connection the swarm has handled, by key.
    pub fn health(&self, now: Instant) -> Vec<(PeerKey, PeerHealth)> {
        let mut out: Vec<(PeerKey, PeerHealth)> =
            self.peers.iter().filter_map(|(&k, p)| Some((k, self.health_of(k, p, now)?))).collect();
        out.sort_unstable_by_key(|(k, _)| *k);
        out
    }

    /// Whether the peer was snubbing us at the last choker round: it holds no regular upload
    /// slot and gets one request at a time.
    pub fn is_snubbed(&self, key: PeerKey, now: Instant) -> bool {
        self.choker.is_snubbed(key, now)
    }

    /// At the connection limit with a candidate waiting: the connection to close, by the rule
    /// in the module docs, or None when every connection is worth keeping.
    pub fn choose_eviction(&self, now: Instant, options: EvictionOptions) -> Option<PeerKey> {
        if let Some(useless) = choose_eviction(now, &self.activity(), options) {
            return Some(useless);
        }
        let misbehaving: Vec<(PeerKey, PeerHealth)> =
            self.health(now).into_iter().filter(|(_, h)| penalised(h)).collect();
        evict_for_newcomer(&misbehaving)
    }

    /// Interest and payload activity of every connection the swarm has seen, for
    /// [`crate::candidates::choose_eviction`].
    pub fn activity(&self) -> Vec<ConnActivity> {
        let mut out: Vec<ConnActivity> = self
            .peers
            .iter()
            .filter_map(|(&key, p)| {
                Some(ConnActivity {
                    key,
                    am_interested: p.am_interested,
                    peer_interested: p.interested,
                    last_payload: p.last_payload?,
                })
            })
            .collect();
        out.sort_unstable_by_key(|c| c.key);
        out
    }

    fn health_of(&self, key: PeerKey, p: &SwarmPeer, now: Instant) -> Option<PeerHealth> {
        let first_seen = p.first_seen?;
        let fresh = p.last_payload.is_some_and(|t| now.saturating_duration_since(t) < RATE_STALE);
        Some(PeerHealth {
            download_rate: if fresh { p.download_rate } else { 0 },
            upload_rate: if fresh { p.upload_rate } else { 0 },
            request_latency: p.request_latency,
            hash_failures: self.strikes(p.ip),
            protocol_errors: p.protocol_errors,
            snubbed: self.choker.is_snubbed(key, now),
            connected_for: now.saturating_duration_since(first_seen),
        })
    }
}

/// Evidence of misbehaviour, which lifts the protection of an active peer.
fn penalised(h: &PeerHealth) -> bool {
    h.hash_failures > 0 || h.protocol_errors > 0 || h.snubbed
}
