//! [`DhtNode`]: the whole DHT node as a sans-IO machine (after quinn's `Connection`).
//!
//! The driver owns a UDP socket and a timer and loops:
//! 1. on a datagram: `handle_datagram(now, from, bytes)`;
//! 2. when `poll_timeout()` passes: `handle_timeout(now)`;
//! 3. after either, and after any command (commands take `now` too, so their first queries
//!    go out at once): drain `poll_transmit()` to the socket and
//!    `poll_event()` to the consumers, then re-arm the timer from `poll_timeout()`.
//!
//! Persistence: save [`DhtNode::routing_table`] (and the node id) now and then; on restart build
//! the node with [`DhtNode::with_routing_table`] and call [`DhtNode::bootstrap`] as usual.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ccbt_core::InfoHash;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::item::Item;
use crate::item_store::{ItemStore, ITEM_TTL};
use crate::lookup::Lookup;
use crate::routing::{is_valid_node_addr, RoutingTable};
use crate::storage::{PeerStore, PEER_TTL};
use crate::token::TokenSecrets;
use crate::NodeId;

mod client;
mod items;
mod ratelimit;
mod server;

use ratelimit::RateLimiter;

/// Datagrams longer than this are dropped unread (BEP 5 messages fit in ~1.5 KB).
pub const MAX_DATAGRAM: usize = 4096;
/// Housekeeping period: token rotation, expiry, pings of questionable nodes, bucket refresh.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(5);
/// First bootstrap retry delay; doubled up to [`MAX_BOOTSTRAP_BACKOFF`].
const BOOTSTRAP_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BOOTSTRAP_BACKOFF: Duration = Duration::from_secs(300);
/// Bootstrap addresses remembered.
const MAX_BOOTSTRAP_ADDRS: usize = 32;
/// Verification pings outstanding at once (to nodes that queried us or were offered by peers):
/// spoofed queries must not fill the transaction table that lookups need.
const MAX_VERIFYING: usize = 16;
/// Nodes offered by peers ([`DhtNode::add_node`]) are pinged only while the routing table is
/// smaller than this: beyond that the table fills itself and an offered node adds nothing.
const ADD_NODE_BELOW: usize = 16;
/// Pending events beyond which new `Peers` events are dropped (completions are always kept;
/// they are bounded by the lookup limit).
const MAX_EVENTS: usize = 4096;

/// Tunables. [`DhtOptions::default`] follows BEP 5.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhtOptions {
    /// Bucket size and lookup result size (BEP 5: 8).
    pub k: usize,
    /// Parallel queries per lookup (3).
    pub alpha: usize,
    /// How long a query may go unanswered (2 s).
    pub query_timeout: Duration,
    /// Times a lookup asks a silent node before giving up on it (2: one retry, which makes
    /// lookups robust to a lost datagram at the cost of a slower give-up on dead nodes).
    pub lookup_attempts: u8,
    /// Outstanding queries (transactions) at once (256).
    pub max_outstanding_queries: usize,
    /// Concurrent lookups, user and internal (64). Beyond that a new lookup ends at once.
    pub max_lookups: usize,
    /// Datagrams waiting in [`DhtNode::poll_transmit`] beyond which new ones are dropped (1024).
    pub max_transmit_queue: usize,
    /// Torrents whose announced peers we store (2000).
    pub max_info_hashes: usize,
    /// Peers stored per torrent (200).
    pub max_peers_per_info_hash: usize,
    /// Announces stored from one IP, over all torrents (32): a token proves only that the
    /// announcer owns one address.
    pub max_announces_per_ip: usize,
    /// Peers per `get_peers` answer (50; 6 bytes each keeps the datagram well under 1 KB).
    pub max_values_per_reply: usize,
    /// Lifetime of an announcement (30 min).
    pub peer_ttl: Duration,
    /// BEP 44 items stored for others (1000).
    pub max_items: usize,
    /// Bytes of BEP 44 items stored for others, values, salts and a fixed overhead each
    /// (2 MiB).
    pub max_item_bytes: usize,
    /// BEP 44 items first stored by one IP (32).
    pub max_items_per_ip: usize,
    /// Lifetime of a BEP 44 item not put again (2 h).
    pub item_ttl: Duration,
    /// Incoming queries per second per source IP (20), with bursts of
    /// `rate_limit_burst` (60).
    pub rate_limit_per_sec: u32,
    /// Burst size of the per-IP rate limit.
    pub rate_limit_burst: u32,
    /// Source IPs tracked by the rate limiter (4096).
    pub rate_limit_tracked_ips: usize,
    /// BEP 43 read-only mode: answer no queries and ask others not to add us.
    pub read_only: bool,
    /// The `v` key of our messages (BEP 5: two-letter client code and two version bytes).
    pub client_version: Option<[u8; 4]>,
}

impl Default for DhtOptions {
    fn default() -> Self {
        DhtOptions {
            k: 8,
            alpha: 3,
            query_timeout: Duration::from_secs(2),
            lookup_attempts: 2,
            max_outstanding_queries: 256,
            max_lookups: 64,
            max_transmit_queue: 1024,
            max_info_hashes: 2000,
            max_peers_per_info_hash: 200,
            max_announces_per_ip: 32,
            max_values_per_reply: 50,
            peer_ttl: PEER_TTL,
            max_items: 1000,
            max_item_bytes: 2 << 20,
            max_items_per_ip: 32,
            item_ttl: ITEM_TTL,
            rate_limit_per_sec: 20,
            rate_limit_burst: 60,
            rate_limit_tracked_ips: 4096,
            read_only: false,
            client_version: Some(*b"CB\x00\x01"),
        }
    }
}

/// Identifies a lookup started by a command, in the events it produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LookupId(pub u64);

/// What the node reports to its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DhtEvent {
    /// Peers found by a `get_peers` or `announce` lookup (only ones new to this lookup; a
    /// lookup may report several batches).
    Peers {
        /// The lookup.
        lookup: LookupId,
        /// The torrent.
        info_hash: InfoHash,
        /// The new peers.
        peers: Vec<SocketAddr>,
    },
    /// A lookup finished (for `announce`, the `announce_peer` queries have been sent).
    LookupDone {
        /// The lookup.
        lookup: LookupId,
        /// Its target (the info hash, or the node id for `find_node`).
        info_hash: InfoHash,
        /// Queries it sent.
        nodes_queried: usize,
        /// Up to k answering nodes closest to the target, closest first.
        closest: Vec<(NodeId, SocketAddr)>,
        /// Rounds it took (depth of the deepest answering node, the first wave being 1).
        rounds: usize,
    },
    /// A BEP 44 `get` ([`DhtNode::get_immutable`], [`DhtNode::get_mutable`]) finished.
    GetItemDone {
        /// The lookup.
        lookup: LookupId,
        /// The item's target.
        target: NodeId,
        /// The item found, checked: for an immutable one SHA-1 of the value is the target, for
        /// a mutable one the key is the asked one and the signature is valid; the highest
        /// sequence number any node gave. `None` if no node had it.
        item: Option<Item>,
        /// Queries the lookup sent.
        nodes_queried: usize,
    },
    /// A BEP 44 `put` ([`DhtNode::put_item`]) finished: every storing node answered or timed
    /// out.
    PutItemDone {
        /// The lookup.
        lookup: LookupId,
        /// The item's target.
        target: NodeId,
        /// Nodes that stored it.
        stored: usize,
        /// Nodes that refused it, with their error code (e.g. 302: they hold a newer `seq`).
        refused: Vec<(SocketAddr, i64)>,
        /// Nodes asked to store it (the closest that gave a token).
        asked: usize,
    },
    /// The bootstrap lookup finished with a non-empty routing table.
    BootstrapDone {
        /// Nodes in the routing table.
        nodes: usize,
    },
}

/// A snapshot for dashboards and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhtStatus {
    /// Our id.
    pub node_id: NodeId,
    /// Good nodes in the routing table.
    pub good_nodes: usize,
    /// Questionable nodes in the routing table.
    pub questionable_nodes: usize,
    /// Bucket fill, farthest bucket first.
    pub buckets: Vec<BucketStatus>,
    /// Running lookups (internal ones included).
    pub active_lookups: usize,
    /// Torrents with peers announced to us.
    pub stored_info_hashes: usize,
    /// Peers announced to us.
    pub stored_peers: usize,
    /// BEP 44 items stored for others.
    pub stored_items: usize,
    /// Queries received since start.
    pub queries_in: u64,
    /// Queries sent since start.
    pub queries_out: u64,
}

/// One routing-table bucket in [`DhtStatus`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BucketStatus {
    /// Bucket index = length of the prefix its nodes share with our id.
    pub index: usize,
    /// Nodes in it.
    pub nodes: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Bootstrap,
    Refresh,
    FindNode,
    GetPeers,
    Announce {
        port: Option<u16>,
    },
    /// BEP 44 `get` (the details are in [`Running::item`]).
    GetItem,
    /// BEP 44 `get`, then `put` to the closest nodes.
    PutItem,
}

#[derive(Debug)]
struct Running {
    lookup: Lookup,
    purpose: Purpose,
    /// What a BEP 44 lookup looks for and has found.
    item: Option<Box<items::ItemLookup>>,
}

#[derive(Debug)]
struct Bootstrap {
    addrs: Vec<SocketAddr>,
    running: Option<LookupId>,
    retry_at: Option<Instant>,
    backoff: Duration,
}

/// A DHT node. See the module documentation for the driver loop.
#[derive(Debug)]
pub struct DhtNode {
    id: NodeId,
    opts: DhtOptions,
    rng: SmallRng,
    table: RoutingTable,
    tokens: TokenSecrets,
    store: PeerStore,
    items: ItemStore,
    /// BEP 44 puts waiting for the storing nodes' answers.
    puts: BTreeMap<LookupId, items::PutProgress>,
    limiter: RateLimiter,
    txns: BTreeMap<u16, client::Txn>,
    /// Addresses with an outstanding verification ping (at most [`MAX_VERIFYING`]).
    verifying: Vec<SocketAddr>,
    lookups: BTreeMap<LookupId, Running>,
    next_lookup: u64,
    transmits: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<DhtEvent>,
    bootstrap: Bootstrap,
    next_maintenance: Instant,
    last_now: Instant,
    queries_in: u64,
    queries_out: u64,
}

impl DhtNode {
    /// A node with id `id` and an empty routing table. All randomness (transaction ids, token
    /// secrets, refresh targets) comes from an RNG seeded with `seed`, so a simulation is
    /// reproducible; in production pass a random seed.
    pub fn new(id: NodeId, options: DhtOptions, now: Instant, seed: u64) -> DhtNode {
        let mut rng = SmallRng::seed_from_u64(seed);
        let tokens = TokenSecrets::new(now, &mut rng);
        DhtNode {
            id,
            table: RoutingTable::new(id, options.k, now),
            tokens,
            store: PeerStore::new(
                options.max_info_hashes,
                options.max_peers_per_info_hash,
                options.max_announces_per_ip,
                options.peer_ttl,
            ),
            items: ItemStore::new(
                options.max_items,
                options.max_item_bytes,
                options.max_items_per_ip,
                options.item_ttl,
            ),
            puts: BTreeMap::new(),
            limiter: RateLimiter::new(
                options.rate_limit_per_sec,
                options.rate_limit_burst,
                options.rate_limit_tracked_ips,
            ),
            txns: BTreeMap::new(),
            verifying: Vec::new(),
            lookups: BTreeMap::new(),
            next_lookup: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            bootstrap: Bootstrap {
                addrs: Vec::new(),
                running: None,
                retry_at: None,
                backoff: BOOTSTRAP_BACKOFF,
            },
            next_maintenance: now,
            last_now: now,
            queries_in: 0,
            queries_out: 0,
            opts: options,
            rng,
        }
    }

    /// A node whose routing table is restored from [`DhtNode::routing_table`] output. The
    /// restored nodes are used at once and pinged soon to weed out the ones that left.
    pub fn with_routing_table(
        id: NodeId,
        options: DhtOptions,
        now: Instant,
        seed: u64,
        nodes: &[(NodeId, SocketAddr)],
    ) -> DhtNode {
        let mut node = DhtNode::new(id, options, now, seed);
        node.table.import(now, nodes);
        node
    }

    /// Our node id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The routing table's nodes worth keeping (not bad), for persistence.
    pub fn routing_table(&self) -> Vec<(NodeId, SocketAddr)> {
        self.table.export(self.last_now)
    }

    /// Joins the network through `addrs` (well-known routers or saved nodes, ids unknown): a
    /// `find_node` lookup of our own id seeded with them and with whatever the routing table
    /// holds. While the table stays empty it is retried quietly with exponential back-off
    /// (5 s up to 5 min); [`DhtEvent::BootstrapDone`] reports success. Calling it again adds
    /// addresses and restarts the attempt.
    pub fn bootstrap(&mut self, now: Instant, addrs: &[SocketAddr]) {
        self.last_now = now;
        for a in addrs {
            if self.bootstrap.addrs.len() < MAX_BOOTSTRAP_ADDRS && !self.bootstrap.addrs.contains(a) {
                self.bootstrap.addrs.push(*a);
            }
        }
        self.bootstrap.backoff = BOOTSTRAP_BACKOFF;
        self.start_bootstrap(now);
        self.drive(now);
    }

    /// Starts a `get_peers` lookup for `info_hash`; peers arrive as [`DhtEvent::Peers`], the end
    /// as [`DhtEvent::LookupDone`].
    pub fn get_peers(&mut self, now: Instant, info_hash: InfoHash) -> LookupId {
        self.start_user_lookup(now, info_hash.into(), Purpose::GetPeers)
    }

    /// Announces that we are a peer of `info_hash` on TCP `port` (`None`: the port we send
    /// from, BEP 5 `implied_port`, for uTP behind NAT): a `get_peers` lookup, then
    /// `announce_peer` to the k closest nodes that gave a token. Peers found on the way are
    /// reported as by [`DhtNode::get_peers`]. Re-announce every ~15-30 minutes.
    pub fn announce(&mut self, now: Instant, info_hash: InfoHash, port: Option<u16>) -> LookupId {
        self.start_user_lookup(now, info_hash.into(), Purpose::Announce { port })
    }

    /// Starts a `find_node` lookup of `target`; the k closest nodes are in
    /// [`DhtEvent::LookupDone::closest`](DhtEvent::LookupDone).
    pub fn find_node(&mut self, now: Instant, target: NodeId) -> LookupId {
        self.start_user_lookup(now, target, Purpose::FindNode)
    }

    /// Offers a node heard of elsewhere (a peer's BEP 5 `Port` message): it is pinged and joins
    /// the routing table if it answers. Offered addresses are never used as bootstrap routers,
    /// so they cannot crowd out the configured ones. Only while the table is small, and within
    /// the budget of verification pings; ignored otherwise.
    pub fn add_node(&mut self, now: Instant, addr: SocketAddr) {
        self.last_now = now;
        if self.table.len() < ADD_NODE_BELOW && is_valid_node_addr(&addr) {
            self.send_verification_ping(now, None, addr);
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<DhtEvent> {
        self.events.pop_front()
    }

    /// When [`DhtNode::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let txn = self.txns.values().map(|t| t.deadline).min();
        [Some(self.next_maintenance), txn, self.bootstrap.retry_at].into_iter().flatten().min()
    }

    /// Expires unanswered queries, runs periodic housekeeping and drives lookups.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        self.expire_txns(now);
        if now >= self.next_maintenance {
            self.next_maintenance = now + MAINTENANCE_EVERY;
            self.maintenance(now);
        }
        if self.bootstrap.retry_at.is_some_and(|t| now >= t) {
            self.bootstrap.retry_at = None;
            self.start_bootstrap(now);
        }
        self.drive(now);
    }

    /// A snapshot of the node's state (node states as of the last `handle_*` call).
    pub fn status(&self) -> DhtStatus {
        let (good_nodes, questionable_nodes) = self.table.counts(self.last_now);
        DhtStatus {
            node_id: self.id,
            good_nodes,
            questionable_nodes,
            buckets: self
                .table
                .bucket_sizes()
                .into_iter()
                .enumerate()
                .map(|(index, nodes)| BucketStatus { index, nodes })
                .collect(),
            active_lookups: self.lookups.len(),
            stored_info_hashes: self.store.info_hashes(),
            stored_peers: self.store.peers(),
            stored_items: self.items.len(),
            queries_in: self.queries_in,
            queries_out: self.queries_out,
        }
    }

    fn maintenance(&mut self, now: Instant) {
        self.tokens.maybe_rotate(now, &mut self.rng);
        self.store.expire(now);
        self.items.expire(now);
        self.limiter.purge(now);
        for (id, addr) in self.table.to_ping(now, 8) {
            self.send_ping(now, id, addr);
        }
        if !self.table.is_empty() {
            let targets = self.table.refresh_targets(now, false, &mut self.rng);
            for target in targets {
                self.start_internal_lookup(now, target, Purpose::Refresh);
            }
        } else if self.bootstrap.running.is_none() && self.bootstrap.retry_at.is_none() {
            // Every node went bad (or the driver never bootstrapped but gave addresses earlier).
            self.schedule_bootstrap_retry(now);
        }
    }

    fn start_bootstrap(&mut self, now: Instant) {
        if self.bootstrap.running.is_some_and(|id| self.lookups.contains_key(&id)) {
            return;
        }
        if self.bootstrap.addrs.is_empty() && self.table.is_empty() {
            return;
        }
        self.bootstrap.running = self.start_internal_lookup(now, self.id, Purpose::Bootstrap);
    }

    fn schedule_bootstrap_retry(&mut self, now: Instant) {
        if self.bootstrap.addrs.is_empty() {
            return;
        }
        self.bootstrap.retry_at = Some(now + self.bootstrap.backoff);
        self.bootstrap.backoff = (self.bootstrap.backoff * 2).min(MAX_BOOTSTRAP_BACKOFF);
    }

    fn alloc_lookup_id(&mut self) -> LookupId {
        self.next_lookup += 1;
        LookupId(self.next_lookup)
    }

    fn start_user_lookup(&mut self, now: Instant, target: NodeId, purpose: Purpose) -> LookupId {
        self.last_now = now;
        let id = self.alloc_lookup_id();
        if self.lookups.len() >= self.opts.max_lookups {
            self.events.push_back(DhtEvent::LookupDone {
                lookup: id,
                info_hash: target.into(),
                nodes_queried: 0,
                closest: Vec::new(),
                rounds: 0,
            });
            return id;
        }
        self.insert_lookup(now, id, target, purpose);
        self.drive(now);
        id
    }

    /// Internal lookups (bootstrap, refresh) leave half of the slots to the user's.
    fn start_internal_lookup(&mut self, now: Instant, target: NodeId, purpose: Purpose) -> Option<LookupId> {
        if self.lookups.len() >= self.opts.max_lookups / 2 {
            return None;
        }
        let id = self.alloc_lookup_id();
        self.insert_lookup(now, id, target, purpose);
        Some(id)
    }

    fn insert_lookup(&mut self, now: Instant, id: LookupId, target: NodeId, purpose: Purpose) {
        let nodes = self.table.closest(now, &target, self.opts.k);
        // Routers are asked only when bootstrapping or when the table cannot start a lookup.
        let seeds = if purpose == Purpose::Bootstrap || nodes.is_empty() {
            self.bootstrap.addrs.clone()
        } else {
            Vec::new()
        };
        let lookup = Lookup::new(
            self.id,
            target,
            self.opts.k,
            self.opts.alpha,
            self.opts.lookup_attempts,
            &nodes,
            &seeds,
        );
        self.lookups.insert(id, Running { lookup, purpose, item: None });
    }

    fn push_event(&mut self, event: DhtEvent) {
        if matches!(event, DhtEvent::Peers { .. }) && self.events.len() >= MAX_EVENTS {
            return;
        }
        self.events.push_back(event);
    }

    fn queue_transmit(&mut self, to: SocketAddr, bytes: Vec<u8>) -> bool {
        if self.transmits.len() >= self.opts.max_transmit_queue {
            return false;
        }
        self.transmits.push_back((to, bytes));
        true
    }
}

#[cfg(test)]
mod tests;
