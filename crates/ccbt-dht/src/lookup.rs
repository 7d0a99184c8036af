//! Iterative Kademlia lookups (`find_node`, `get_peers`), as a pure state machine.
//!
//! Candidates are kept sorted by XOR distance to the target. At most `alpha` queries are in
//! flight; a query goes to the closest not-yet-queried candidate among the `k` closest that have
//! not failed. The lookup is done when those `k` closest have all answered (nothing closer is
//! left to ask), when no candidate is left, or when the query budget is spent. Timeouts are
//! reported by the caller ([`Lookup::on_failure`]), which owns the transactions and the clock.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;

use crate::krpc::{CompactNode, Response};
use crate::routing::is_valid_node_addr;
use crate::NodeId;

/// Nodes taken from one response: BEP 5 replies carry 8; more is noise or an attack.
const MAX_NODES_PER_RESPONSE: usize = 16;
/// Queries one lookup may send, so a hostile network cannot keep it running forever.
pub const MAX_QUERIES_PER_LOOKUP: usize = 256;
/// Distinct peers one lookup collects.
pub const MAX_PEERS_PER_LOOKUP: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Fresh,
    InFlight,
    Responded,
    Failed,
}

#[derive(Clone, Debug)]
struct Candidate {
    id: NodeId,
    addr: SocketAddr,
    state: State,
    /// Hops from the starting set: 0 for nodes we knew, d + 1 for nodes learned from a node at
    /// depth d. The deepest answering node tells how many rounds the lookup took.
    depth: usize,
    attempts: u8,
    token: Option<Vec<u8>>,
}

/// Whom to query next: a known node, or a bootstrap address whose id we do not know yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryTo {
    /// The node id, `None` for a bootstrap address.
    pub id: Option<NodeId>,
    /// Where to send the query.
    pub addr: SocketAddr,
}

/// A node that answered the lookup, with the announce token it gave (get_peers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Responder {
    /// Its id.
    pub id: NodeId,
    /// Its address.
    pub addr: SocketAddr,
    /// Its `token`, if any.
    pub token: Option<Vec<u8>>,
}

/// One iterative lookup.
#[derive(Clone, Debug)]
pub struct Lookup {
    own: NodeId,
    target: NodeId,
    k: usize,
    alpha: usize,
    attempts: u8,
    /// Keyed by distance to the target, so iteration is closest first.
    candidates: BTreeMap<NodeId, Candidate>,
    seen_addrs: HashSet<SocketAddr>,
    seeds: Vec<SocketAddr>,
    seeds_in_flight: Vec<SocketAddr>,
    in_flight: usize,
    queried: usize,
    peers: HashSet<SocketAddr>,
}

impl Lookup {
    /// A lookup of `target` by node `own`, starting from `nodes` (typically the routing table's
    /// closest) and `seeds` (addresses of unknown id, e.g. bootstrap routers, asked first).
    /// `attempts` is how many times an unanswered candidate is asked before it counts as failed.
    pub fn new(
        own: NodeId,
        target: NodeId,
        k: usize,
        alpha: usize,
        attempts: u8,
        nodes: &[(NodeId, SocketAddr)],
        seeds: &[SocketAddr],
    ) -> Lookup {
        let mut l = Lookup {
            own,
            target,
            k: k.max(1),
            alpha: alpha.max(1),
            attempts: attempts.max(1),
            candidates: BTreeMap::new(),
            seen_addrs: HashSet::new(),
            seeds: Vec::new(),
            seeds_in_flight: Vec::new(),
            in_flight: 0,
            queried: 0,
            peers: HashSet::new(),
        };
        for &(id, addr) in nodes {
            l.add_candidate(id, addr, 0);
        }
        for &addr in seeds.iter().rev() {
            if !l.seen_addrs.contains(&addr) && !l.seeds.contains(&addr) {
                l.seeds.push(addr);
            }
        }
        l
    }

    /// The target id.
    pub fn target(&self) -> NodeId {
        self.target
    }

    fn add_candidate(&mut self, id: NodeId, addr: SocketAddr, depth: usize) {
        if id == self.own || !is_valid_node_addr(&addr) || self.seen_addrs.contains(&addr) {
            return;
        }
        let key = id.distance(&self.target);
        if self.candidates.contains_key(&key) {
            return;
        }
        self.seen_addrs.insert(addr);
        self.candidates
            .insert(key, Candidate { id, addr, state: State::Fresh, depth, attempts: 0, token: None });
    }

    /// Queries to send now, keeping at most `alpha` in flight; at most `budget` are returned
    /// (the caller's limit on outstanding transactions). Each returned query must later be
    /// answered with [`Lookup::on_response`] or [`Lookup::on_failure`].
    pub fn next_queries(&mut self, budget: usize) -> Vec<QueryTo> {
        let mut out = Vec::new();
        while self.in_flight < self.alpha && out.len() < budget && self.queried < MAX_QUERIES_PER_LOOKUP {
            if let Some(addr) = self.seeds.pop() {
                self.seeds_in_flight.push(addr);
                self.in_flight += 1;
                self.queried += 1;
                out.push(QueryTo { id: None, addr });
                continue;
            }
            let k = self.k;
            let next = self
                .candidates
                .values_mut()
                .filter(|c| c.state != State::Failed)
                .take(k)
                .find(|c| c.state == State::Fresh);
            let Some(c) = next else { break };
            c.state = State::InFlight;
            c.attempts = c.attempts.saturating_add(1);
            self.in_flight += 1;
            self.queried += 1;
            out.push(QueryTo { id: Some(c.id), addr: c.addr });
        }
        out
    }

    /// Feeds the answer of the query sent to `to`. Returns the peers (`values`) not seen
    /// before in this lookup. A response whose id is not the one we asked is treated as a
    /// failure of the asked node (its content is not trusted).
    pub fn on_response(&mut self, to: QueryTo, response: &Response) -> Vec<SocketAddr> {
        let depth = match to.id {
            None => {
                let Some(pos) = self.seeds_in_flight.iter().position(|a| *a == to.addr) else {
                    return Vec::new();
                };
                self.seeds_in_flight.swap_remove(pos);
                self.in_flight = self.in_flight.saturating_sub(1);
                // Now that the router told us its id, it is an ordinary answered candidate.
                self.add_candidate(response.id, to.addr, 0);
                match self.candidates.get_mut(&response.id.distance(&self.target)) {
                    Some(c) if c.addr == to.addr => {
                        c.state = State::Responded;
                        c.token.clone_from(&response.token);
                    }
                    _ => {}
                }
                0
            }
            Some(id) if id != response.id => {
                self.on_failure(to);
                return Vec::new();
            }
            Some(id) => {
                let Some(c) = self.candidates.get_mut(&id.distance(&self.target)) else { return Vec::new() };
                if c.state != State::InFlight || c.addr != to.addr {
                    return Vec::new();
                }
                c.state = State::Responded;
                c.token.clone_from(&response.token);
                self.in_flight = self.in_flight.saturating_sub(1);
                c.depth
            }
        };
        for n in response.nodes.iter().take(MAX_NODES_PER_RESPONSE) {
            let CompactNode { id, addr } = *n;
            self.add_candidate(id, SocketAddr::V4(addr), depth.saturating_add(1));
        }
        self.prune();
        let mut fresh = Vec::new();
        for v in &response.values {
            let peer = SocketAddr::V4(*v);
            if self.peers.len() < MAX_PEERS_PER_LOOKUP && self.peers.insert(peer) {
                fresh.push(peer);
            }
        }
        fresh
    }

    /// The query sent to `to` timed out or was answered with an error.
    pub fn on_failure(&mut self, to: QueryTo) {
        match to.id {
            None => {
                if let Some(pos) = self.seeds_in_flight.iter().position(|a| *a == to.addr) {
                    self.seeds_in_flight.swap_remove(pos);
                    self.in_flight = self.in_flight.saturating_sub(1);
                }
            }
            Some(id) => {
                let attempts = self.attempts;
                if let Some(c) = self.candidates.get_mut(&id.distance(&self.target)) {
                    if c.state == State::InFlight && c.addr == to.addr {
                        c.state = if c.attempts < attempts { State::Fresh } else { State::Failed };
                        self.in_flight = self.in_flight.saturating_sub(1);
                    }
                }
            }
        }
    }

    /// Keeps the candidate set bounded: far candidates that are not in flight are dropped
    /// (their addresses stay in `seen_addrs`, so they are not re-added).
    fn prune(&mut self) {
        let cap = self.k * 8;
        while self.candidates.len() > cap {
            let far =
                self.candidates.iter().rev().find(|(_, c)| c.state != State::InFlight).map(|(key, _)| *key);
            match far {
                Some(key) => {
                    self.candidates.remove(&key);
                }
                None => break,
            }
        }
    }

    /// Whether the lookup has converged: the `k` closest live candidates all answered, or
    /// nothing is left to ask.
    pub fn is_done(&self) -> bool {
        if !self.seeds.is_empty() || !self.seeds_in_flight.is_empty() {
            return false;
        }
        let budget_left = self.queried < MAX_QUERIES_PER_LOOKUP;
        let pending = self
            .candidates
            .values()
            .filter(|c| c.state != State::Failed)
            .take(self.k)
            .any(|c| c.state == State::InFlight || (c.state == State::Fresh && budget_left));
        !pending
    }

    /// Up to `k` answering nodes closest to the target, closest first, with their tokens.
    pub fn closest_responded(&self) -> Vec<Responder> {
        self.candidates
            .values()
            .filter(|c| c.state == State::Responded)
            .take(self.k)
            .map(|c| Responder { id: c.id, addr: c.addr, token: c.token.clone() })
            .collect()
    }

    /// Rounds the lookup took: the depth of the deepest answering node, counting the starting
    /// set as round 1.
    pub fn rounds(&self) -> usize {
        self.candidates
            .values()
            .filter(|c| c.state == State::Responded)
            .map(|c| c.depth.saturating_add(1))
            .max()
            .unwrap_or(0)
    }

    /// Queries sent so far (retries included).
    pub fn queried(&self) -> usize {
        self.queried
    }

    /// Queries currently awaiting an answer.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Distinct peers collected so far.
    pub fn peers_found(&self) -> usize {
        self.peers.len()
    }
}

#[cfg(test)]
#[path = "lookup_tests.rs"]
mod tests;
