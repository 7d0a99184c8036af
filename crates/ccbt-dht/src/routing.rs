//! The BEP 5 routing table.
//!
//! Buckets are indexed by the length of the prefix a node shares with our own id (the leading
//! zeros of the XOR distance). Bucket `i < last` holds the nodes sharing exactly `i` bits; the
//! last bucket holds everything closer, including the range of our own id. Only that last bucket
//! splits when full, which is exactly the split rule of BEP 5 ("only the bucket containing our
//! own id is split") expressed over prefix lengths.
//!
//! Node states follow BEP 5: *good* if it answered one of our queries in the last 15 minutes,
//! or ever answered and queried us in the last 15 minutes; *questionable* after 15 minutes of
//! silence (or if it never answered at all); *bad* after [`MAX_FAILURES`] unanswered queries
//! in a row, or a single one while questionable. Bad nodes are removed and replaced from a small
//! per-bucket replacement cache. IPv4 only (BEP 32 is future work).
//!
//! Only nodes that answered one of our queries enter the table (a query's source address can be
//! spoofed); nodes that only queried us are verified with a ping first. Nodes whose id follows
//! BEP 42 for their address are preferred: a verified conforming node displaces a
//! non-conforming one from a full bucket, and conforming replacements are promoted first.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::{bep42, NodeId};

/// Silence after which a good node becomes questionable.
pub const QUESTIONABLE_AFTER: Duration = Duration::from_secs(15 * 60);
/// A bucket not changed for this long is refreshed with a lookup of a random id in its range.
pub const REFRESH_AFTER: Duration = Duration::from_secs(15 * 60);
/// Unanswered queries in a row that make a node bad.
pub const MAX_FAILURES: u32 = 2;
/// A questionable node is pinged at most this often.
const PING_INTERVAL: Duration = Duration::from_secs(60);

/// BEP 5 node state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Recently responsive.
    Good,
    /// Unknown responsiveness: to be pinged before relying on it.
    Questionable,
    /// Unresponsive: replaced at the first opportunity.
    Bad,
}

/// How we heard from a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contact {
    /// It answered one of our queries (the address is verified).
    Responded,
    /// It sent us a query (the source address may be spoofed).
    Queried,
}

/// One node in the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEntry {
    /// Its id.
    pub id: NodeId,
    /// Its UDP address.
    pub addr: SocketAddr,
    last_response: Option<Instant>,
    last_query: Option<Instant>,
    added: Instant,
    failures: u32,
    pinged_at: Option<Instant>,
    /// Whether the id follows BEP 42 for the address.
    conforms: bool,
}

impl NodeEntry {
    fn new(now: Instant, id: NodeId, addr: SocketAddr) -> NodeEntry {
        NodeEntry {
            id,
            addr,
            last_response: None,
            last_query: None,
            added: now,
            failures: 0,
            pinged_at: None,
            conforms: bep42::id_matches_ip(&id, addr.ip()),
        }
    }

    fn set_addr(&mut self, addr: SocketAddr) {
        self.addr = addr;
        self.conforms = bep42::id_matches_ip(&self.id, addr.ip());
    }

    /// Whether the node answered one of our queries since it entered the table (nodes restored
    /// from a saved table have not yet).
    pub fn has_responded(&self) -> bool {
        self.last_response.is_some()
    }

    fn touch(&mut self, now: Instant, contact: Contact) {
        match contact {
            Contact::Responded => {
                self.last_response = Some(now);
                self.failures = 0;
                self.pinged_at = None;
            }
            Contact::Queried => self.last_query = Some(now),
        }
    }

    /// The BEP 5 state at `now`.
    pub fn state(&self, now: Instant) -> NodeState {
        let recent =
            |t: Option<Instant>| t.is_some_and(|t| now.saturating_duration_since(t) < QUESTIONABLE_AFTER);
        let good = recent(self.last_response) || (self.last_response.is_some() && recent(self.last_query));
        if self.failures >= MAX_FAILURES || (!good && self.failures > 0) {
            NodeState::Bad
        } else if good {
            NodeState::Good
        } else {
            NodeState::Questionable
        }
    }

    fn last_seen(&self) -> Instant {
        self.last_response.into_iter().chain(self.last_query).fold(self.added, Instant::max)
    }
}

#[derive(Clone, Debug)]
struct Bucket {
    nodes: Vec<NodeEntry>,
    replacements: Vec<NodeEntry>,
    last_changed: Instant,
}

impl Bucket {
    fn new(now: Instant) -> Bucket {
        Bucket { nodes: Vec::new(), replacements: Vec::new(), last_changed: now }
    }
}

/// The routing table: at most `k` nodes per bucket, up to 160 buckets.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    own: NodeId,
    k: usize,
    buckets: Vec<Bucket>,
}

/// Whether `addr` can be a DHT node at all (routable-looking IPv4 with a port).
pub fn is_valid_node_addr(addr: &SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V4(ip) => {
            addr.port() != 0 && !ip.is_unspecified() && !ip.is_broadcast() && !ip.is_multicast()
        }
        IpAddr::V6(_) => false,
    }
}

impl RoutingTable {
    /// An empty table for our id `own` with bucket size `k` (BEP 5: 8).
    pub fn new(own: NodeId, k: usize, now: Instant) -> RoutingTable {
        RoutingTable { own, k: k.max(1), buckets: vec![Bucket::new(now)] }
    }

    /// Our own id.
    pub fn own_id(&self) -> NodeId {
        self.own
    }

    fn bucket_index(&self, id: &NodeId) -> usize {
        self.own.distance(id).leading_zeros().min(self.buckets.len().saturating_sub(1))
    }

    /// Records contact with a node. A node already in the table is refreshed. A new node is
    /// inserted only if it answered one of our queries ([`Contact::Responded`]): a query's source
    /// address can be spoofed, so a node that merely queried us is neither stored nor handed to
    /// others (the caller verifies it with a ping first, see [`RoutingTable::would_admit`]).
    /// Insertion uses free room (splitting the last bucket as needed), replaces a bad node or a
    /// node whose id breaks BEP 42 (when the newcomer's conforms), or else keeps the node in the
    /// bucket's replacement cache. Returns a questionable node of the full bucket that the caller
    /// should ping, so that if it is dead the new node can take its place.
    pub fn heard_from(
        &mut self,
        now: Instant,
        id: NodeId,
        addr: SocketAddr,
        contact: Contact,
    ) -> Option<(NodeId, SocketAddr)> {
        if id == self.own || !is_valid_node_addr(&addr) || self.addr_taken_by_other(now, id, addr) {
            return None;
        }
        let idx = self.bucket_index(&id);
        let bucket = self.buckets.get_mut(idx)?;
        if let Some(n) = bucket.nodes.iter_mut().find(|n| n.id == id) {
            if n.addr != addr {
                if contact == Contact::Queried || n.state(now) != NodeState::Bad {
                    return None;
                }
                n.set_addr(addr);
            }
            n.touch(now, contact);
            if contact == Contact::Responded {
                bucket.last_changed = now;
            }
            return None;
        }
        if contact == Contact::Queried {
            return None;
        }
        let mut entry = match bucket.replacements.iter().position(|n| n.id == id) {
            Some(i) => bucket.replacements.swap_remove(i),
            None => NodeEntry::new(now, id, addr),
        };
        entry.set_addr(addr);
        entry.touch(now, contact);
        self.place(now, entry)
    }

    /// One entry per address: a second id at a known address is either a restarted node (the
    /// old entry fails and goes away) or someone minting ids to crowd the table.
    fn addr_taken_by_other(&self, now: Instant, id: NodeId, addr: SocketAddr) -> bool {
        self.nodes().any(|n| n.addr == addr && n.id != id && n.state(now) != NodeState::Bad)
    }

    /// Whether a node that queried us from `addr` is worth a verification ping: it is not in the
    /// table, and if it answered it would take a place there (free room, a split, a bad node, or
    /// a non-conforming node it would displace under BEP 42).
    pub fn would_admit(&self, now: Instant, id: &NodeId, addr: &SocketAddr) -> bool {
        if *id == self.own || !is_valid_node_addr(addr) || self.addr_taken_by_other(now, *id, *addr) {
            return false;
        }
        let idx = self.bucket_index(id);
        let Some(bucket) = self.buckets.get(idx) else { return false };
        if bucket.nodes.iter().any(|n| n.id == *id) {
            return false;
        }
        let splittable = idx + 1 == self.buckets.len() && self.buckets.len() < NodeId::BITS;
        bucket.nodes.len() < self.k
            || splittable
            || bucket.nodes.iter().any(|n| n.state(now) == NodeState::Bad)
            || (prefers_over_nonconforming(id, addr) && bucket.nodes.iter().any(|n| !n.conforms))
    }

    /// Puts a node that is not in the table yet into its bucket (see [`RoutingTable::heard_from`]).
    fn place(&mut self, now: Instant, entry: NodeEntry) -> Option<(NodeId, SocketAddr)> {
        loop {
            let k = self.k;
            let count = self.buckets.len();
            let idx = self.bucket_index(&entry.id);
            let bucket = self.buckets.get_mut(idx)?;
            if bucket.nodes.len() < k {
                bucket.nodes.push(entry);
                bucket.last_changed = now;
                return None;
            }
            if idx + 1 == count && count < NodeId::BITS {
                self.split_last(now);
                continue;
            }
            if let Some(bad) = bucket.nodes.iter_mut().find(|n| n.state(now) == NodeState::Bad) {
                *bad = entry;
                bucket.last_changed = now;
                return None;
            }
            if entry.last_response.is_some() && prefers_over_nonconforming(&entry.id, &entry.addr) {
                // BEP 42 preference: a verified conforming node displaces the stalest
                // non-conforming one, which stays available as a replacement.
                let stalest = bucket.nodes.iter_mut().filter(|n| !n.conforms).min_by_key(|n| n.last_seen());
                if let Some(slot) = stalest {
                    let displaced = std::mem::replace(slot, entry);
                    push_replacement(&mut bucket.replacements, displaced, k);
                    bucket.last_changed = now;
                    return None;
                }
            }
            push_replacement(&mut bucket.replacements, entry, k);
            let to_ping = bucket
                .nodes
                .iter_mut()
                .filter(|n| n.state(now) == NodeState::Questionable && ping_due(n, now))
                .min_by_key(|n| n.last_seen())?;
            to_ping.pinged_at = Some(now);
            return Some((to_ping.id, to_ping.addr));
        }
    }

    fn split_last(&mut self, now: Instant) {
        let new_index = self.buckets.len();
        let own = self.own;
        let Some(last) = self.buckets.last_mut() else { return };
        let closer = |n: &NodeEntry| own.distance(&n.id).leading_zeros() >= new_index;
        let mut next = Bucket::new(now);
        let (moved, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut last.nodes).into_iter().partition(closer);
        last.nodes = kept;
        next.nodes = moved;
        let (moved, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut last.replacements).into_iter().partition(closer);
        last.replacements = kept;
        next.replacements = moved;
        self.buckets.push(next);
    }

    /// Records that a query to `id` went unanswered. A node that becomes bad is removed and the
    /// most recently seen replacement, if any, takes its place.
    pub fn failed(&mut self, now: Instant, id: &NodeId) {
        let idx = self.bucket_index(id);
        let Some(bucket) = self.buckets.get_mut(idx) else { return };
        let Some(pos) = bucket.nodes.iter().position(|n| n.id == *id) else {
            bucket.replacements.retain(|n| n.id != *id);
            return;
        };
        let Some(node) = bucket.nodes.get_mut(pos) else { return };
        node.failures = node.failures.saturating_add(1);
        node.pinged_at = None;
        if node.state(now) == NodeState::Bad {
            bucket.nodes.swap_remove(pos);
            let best = bucket
                .replacements
                .iter()
                .enumerate()
                .max_by_key(|(_, n)| (n.conforms, n.last_seen()))
                .map(|(i, _)| i);
            if let Some(i) = best {
                bucket.nodes.push(bucket.replacements.swap_remove(i));
            }
            bucket.last_changed = now;
        }
    }

    /// The `n` non-bad nodes closest to `target`, closest first.
    pub fn closest(&self, now: Instant, target: &NodeId, n: usize) -> Vec<(NodeId, SocketAddr)> {
        let mut all: Vec<&NodeEntry> = self.nodes().filter(|e| e.state(now) != NodeState::Bad).collect();
        all.sort_unstable_by_key(|e| e.id.distance(target));
        all.into_iter().take(n).map(|e| (e.id, e.addr)).collect()
    }

    /// The `n` non-bad nodes closest to `target` that answered us, closest first: what we hand
    /// to other nodes (an unverified address is not ours to recommend).
    pub fn closest_verified(&self, now: Instant, target: &NodeId, n: usize) -> Vec<(NodeId, SocketAddr)> {
        let mut all: Vec<&NodeEntry> =
            self.nodes().filter(|e| e.has_responded() && e.state(now) != NodeState::Bad).collect();
        all.sort_unstable_by_key(|e| e.id.distance(target));
        all.into_iter().take(n).map(|e| (e.id, e.addr)).collect()
    }

    /// Targets for bucket refreshes: one random id in the range of each bucket unchanged for
    /// [`REFRESH_AFTER`] (every bucket if `force`). The buckets count as changed from now on, so
    /// each refresh is asked for once per period.
    pub fn refresh_targets(&mut self, now: Instant, force: bool, rng: &mut impl Rng) -> Vec<NodeId> {
        let last = self.buckets.len() - 1;
        let own = self.own;
        let mut out = Vec::new();
        for (i, b) in self.buckets.iter_mut().enumerate() {
            if force || now.saturating_duration_since(b.last_changed) >= REFRESH_AFTER {
                b.last_changed = now;
                out.push(own.random_in_bucket(i, i != last, rng));
            }
        }
        out
    }

    /// Up to `max` questionable nodes to ping, least recently seen first; they are marked as
    /// pinged so the next call does not return them again for a while.
    pub fn to_ping(&mut self, now: Instant, max: usize) -> Vec<(NodeId, SocketAddr)> {
        let mut due: Vec<&mut NodeEntry> = self
            .buckets
            .iter_mut()
            .flat_map(|b| b.nodes.iter_mut())
            .filter(|n| n.state(now) == NodeState::Questionable && ping_due(n, now))
            .collect();
        due.sort_unstable_by_key(|n| n.last_seen());
        due.into_iter()
            .take(max)
            .map(|n| {
                n.pinged_at = Some(now);
                (n.id, n.addr)
            })
            .collect()
    }

    /// The entry of `id`, if it is in the table.
    pub fn get(&self, id: &NodeId) -> Option<&NodeEntry> {
        self.buckets.get(self.bucket_index(id))?.nodes.iter().find(|n| n.id == *id)
    }

    /// All nodes in the table.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeEntry> + '_ {
        self.buckets.iter().flat_map(|b| b.nodes.iter())
    }

    /// Number of nodes in the table.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    /// Whether the table holds no node.
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(|b| b.nodes.is_empty())
    }

    /// Number of nodes per bucket, bucket 0 (farthest) first.
    pub fn bucket_sizes(&self) -> Vec<usize> {
        self.buckets.iter().map(|b| b.nodes.len()).collect()
    }

    /// `(good, questionable)` node counts.
    pub fn counts(&self, now: Instant) -> (usize, usize) {
        self.nodes().fold((0, 0), |(g, q), n| match n.state(now) {
            NodeState::Good => (g + 1, q),
            NodeState::Questionable => (g, q + 1),
            NodeState::Bad => (g, q),
        })
    }

    /// The nodes worth saving across a restart (everything not bad), for [`RoutingTable::import`].
    pub fn export(&self, now: Instant) -> Vec<(NodeId, SocketAddr)> {
        self.nodes().filter(|n| n.state(now) != NodeState::Bad).map(|n| (n.id, n.addr)).collect()
    }

    /// Inserts saved nodes as questionable: they are used for lookups right away and pinged
    /// soon, so a restart does not bootstrap from zero but does not trust stale entries either.
    pub fn import(&mut self, now: Instant, nodes: &[(NodeId, SocketAddr)]) {
        for &(id, addr) in nodes {
            if id == self.own
                || !is_valid_node_addr(&addr)
                || self.nodes().any(|n| n.id == id || n.addr == addr)
            {
                continue;
            }
            // A fresh entry is questionable (it has not answered us in this run yet).
            self.place(now, NodeEntry::new(now, id, addr));
        }
    }
}

/// Whether a node at `addr` proves its id under BEP 42, which earns it a place over nodes that
/// do not. Exempt (local) addresses are never displaced, but prove nothing either.
fn prefers_over_nonconforming(id: &NodeId, addr: &SocketAddr) -> bool {
    !bep42::is_exempt(addr.ip()) && bep42::id_matches_ip(id, addr.ip())
}

fn ping_due(n: &NodeEntry, now: Instant) -> bool {
    match n.pinged_at {
        Some(t) => now.saturating_duration_since(t) >= PING_INTERVAL,
        None => true,
    }
}

/// Keeps at most `k` replacements; a newcomer that answered us displaces the stalest entry, one
/// that merely queried us only fills free space.
fn push_replacement(list: &mut Vec<NodeEntry>, entry: NodeEntry, k: usize) {
    if list.len() < k {
        list.push(entry);
    } else if entry.last_response.is_some() {
        if let Some(old) = list.iter_mut().min_by_key(|n| n.last_seen()) {
            *old = entry;
        }
    }
}

#[cfg(test)]
#[path = "routing_tests.rs"]
mod tests;
