//! A deterministic swarm simulation: every node is a real `Swarm` with real `PeerConn`s, driven
//! the way the engine's connection tasks drive them (feed input, `handle_conn`, perform the
//! actions, encode the transmits), over in-memory links with latency and bandwidth, on a
//! virtual clock that jumps from one due event (segment arrival, connection timer, choker round)
//! to the next. Messages go through `ccbt_wire::encode` and `MessageDecoder`, cut into random
//! segments. Pieces are verified synchronously with SHA-1. Everything random comes from one
//! seeded RNG, so a run is a function of its seed.

pub mod net;
pub mod probe;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ccbt_core::{Bitfield, Lengths};
use ccbt_proto::peer::{PeerConn, PeerConnOptions};
use ccbt_proto::swarm::{Swarm, SwarmAction, SwarmOptions};
use ccbt_proto::PeerKey;
use ccbt_wire::MessageDecoder;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha1::{Digest, Sha1};

use net::{Link, LinkSpec};

/// Index of a node in [`Sim::nodes`].
pub type NodeId = usize;

/// The torrent's content and piece hashes.
pub struct Content {
    pub lengths: Lengths,
    pub data: Bytes,
    pub hashes: Vec<[u8; 20]>,
}

impl Content {
    /// `num_pieces` pieces of `piece_len` random bytes, the last one `last_len` bytes long.
    pub fn generate(rng: &mut StdRng, num_pieces: u32, piece_len: u32, last_len: u32) -> Content {
        let total = u64::from(num_pieces - 1) * u64::from(piece_len) + u64::from(last_len);
        let lengths = Lengths::new(total, piece_len).expect("valid geometry");
        let mut data = vec![0u8; total as usize];
        rng.fill(&mut data[..]);
        let data = Bytes::from(data);
        let mut content = Content { lengths, data, hashes: Vec::new() };
        content.hashes = (0..num_pieces).map(|p| Sha1::digest(content.piece(p)).into()).collect();
        content
    }

    /// The bytes of `piece`.
    pub fn piece(&self, piece: u32) -> &[u8] {
        let range = self.range(piece);
        &self.data[range]
    }

    fn range(&self, piece: u32) -> std::ops::Range<usize> {
        let p = self.lengths.validate_piece(piece).expect("piece in range");
        let start = self.lengths.piece_offset(p) as usize;
        start..start + self.lengths.piece_len(p) as usize
    }
}

/// How a node serves others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Honest,
    /// Flips a byte of every block it uploads.
    Liar,
    /// Sends nothing at all (not even keep-alives) from this long after the start.
    SilentAfter(Duration),
}

/// One connection end.
struct Conn {
    pc: PeerConn,
    remote: NodeId,
    remote_key: PeerKey,
    decoder: MessageDecoder,
    rbuf: BytesMut,
    /// Bytes from this end to the remote one.
    out: Link,
}

/// A simulated client: one torrent's `Swarm`, its connections and its storage.
pub struct Node {
    pub name: &'static str,
    pub swarm: Swarm,
    behaviour: Behaviour,
    store: Vec<u8>,
    conns: BTreeMap<PeerKey, Conn>,
    /// Pieces reported verified, in order.
    pub verified: Vec<u32>,
    pub hash_failures: u32,
    /// Nodes whose connection was closed because the swarm banned them.
    pub banned: Vec<NodeId>,
    /// Virtual time at which the last piece was verified.
    pub completed_at: Option<Duration>,
    /// Block payload received over closed connections, by sender.
    received_closed: BTreeMap<NodeId, u64>,
    next_rechoke: Instant,
}

/// The address node `id` connects from (its own, so strikes and bans by address name it alone).
pub fn node_ip(id: NodeId) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, (id >> 8) as u8, id as u8 + 1))
}

/// The whole simulated swarm.
pub struct Sim {
    pub content: Content,
    pub nodes: Vec<Node>,
    t0: Instant,
    now: Instant,
    rng: StdRng,
    conn_options: PeerConnOptions,
    next_key: u64,
    /// Closed connection ends: (node, remote node, reason).
    pub closed: Vec<(NodeId, NodeId, String)>,
    /// Messages put on the wire, by (sender, receiver, kind).
    sent: BTreeMap<(NodeId, NodeId, &'static str), u64>,
}

impl Sim {
    /// A simulation of `content` seeded with `seed`; every connection uses `conn_options`.
    pub fn new(seed: u64, content: Content, conn_options: PeerConnOptions) -> Sim {
        // The only real clock read: the origin of the virtual clock.
        let t0 = Instant::now();
        Sim {
            content,
            nodes: Vec::new(),
            t0,
            now: t0,
            rng: StdRng::seed_from_u64(seed),
            conn_options,
            next_key: 1,
            closed: Vec::new(),
            sent: BTreeMap::new(),
        }
    }

    /// Adds a node holding the (verified) pieces `have`.
    pub fn add_node(
        &mut self,
        name: &'static str,
        have: &Bitfield,
        options: SwarmOptions,
        behaviour: Behaviour,
    ) -> NodeId {
        let mut store = vec![0u8; self.content.data.len()];
        for piece in have.iter_ones() {
            let range = self.content.range(piece);
            store[range.clone()].copy_from_slice(&self.content.data[range]);
        }
        let first_round = self.now + options.choker.unchoke_interval;
        let swarm = Swarm::new(self.content.lengths, have.clone(), options);
        self.nodes.push(Node {
            name,
            swarm,
            behaviour,
            store,
            conns: BTreeMap::new(),
            verified: Vec::new(),
            hash_failures: 0,
            banned: Vec::new(),
            completed_at: None,
            received_closed: BTreeMap::new(),
            next_rechoke: first_round,
        });
        self.nodes.len() - 1
    }

    /// Connects `a` and `b` (the handshake is taken as done): `a_to_b` shapes what `a` sends.
    pub fn connect(&mut self, a: NodeId, b: NodeId, a_to_b: LinkSpec, b_to_a: LinkSpec) {
        let (ka, kb) = (PeerKey(self.next_key), PeerKey(self.next_key + 1));
        self.next_key += 2;
        for (node, key, remote, remote_key, spec) in [(a, ka, b, kb, a_to_b), (b, kb, a, ka, b_to_a)] {
            let now = self.now;
            let mut pc = PeerConn::new(self.conn_options.clone(), now);
            let n = &mut self.nodes[node];
            pc.start(now, n.swarm.have(), None);
            n.swarm.add_peer(key, node_ip(remote));
            let conn = Conn {
                pc,
                remote,
                remote_key,
                decoder: MessageDecoder::default(),
                rbuf: BytesMut::new(),
                out: Link::new(spec, now),
            };
            n.conns.insert(key, conn);
        }
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Runs until `done` holds (true) or `max_steps` steps have passed (false).
    pub fn run_until(&mut self, max_steps: u32, done: impl Fn(&Sim) -> bool) -> bool {
        if done(self) {
            return true;
        }
        for _ in 0..max_steps {
            self.step();
            if done(self) {
                return true;
            }
            match self.next_event() {
                Some(next) => self.now = self.now.max(next),
                None => return done(self),
            }
        }
        done(self)
    }

    /// Whether `a` and `b` are connected.
    pub fn connected(&self, a: NodeId, b: NodeId) -> bool {
        self.nodes[a].conns.values().any(|c| c.remote == b)
    }

    /// Messages of `kind` (see `kind`) `from` sent `to`.
    pub fn sent(&self, from: NodeId, to: NodeId, kind: &'static str) -> u64 {
        self.sent.get(&(from, to, kind)).copied().unwrap_or(0)
    }

    /// Block payload `node` accepted from `from` (requested and received), over all connections.
    pub fn received(&self, node: NodeId, from: NodeId) -> u64 {
        let n = &self.nodes[node];
        let live: u64 = n.conns.values().filter(|c| c.remote == from).map(|c| c.pc.stats().downloaded).sum();
        live + n.received_closed.get(&from).copied().unwrap_or(0)
    }

    /// Whether `node` holds exactly the source data.
    pub fn data_matches(&self, node: NodeId) -> bool {
        self.nodes[node].store[..] == self.content.data[..]
    }

    /// One pass at the current instant, in the order of an engine connection task's loop.
    fn step(&mut self) {
        let now = self.now;
        self.deliver(now);
        self.timers(now);
        self.rechoke(now);
        for id in 0..self.nodes.len() {
            self.pump(id, now);
        }
        self.flush(now);
    }

    /// The earliest pending arrival, connection timer or choker round.
    fn next_event(&self) -> Option<Instant> {
        let conns = self.nodes.iter().flat_map(|n| n.conns.values());
        let arrivals = conns.clone().filter_map(|c| c.out.next_arrival());
        let timers = conns.filter_map(|c| c.pc.poll_timeout());
        let rechokes = self.nodes.iter().map(|n| n.next_rechoke);
        arrivals.chain(timers).chain(rechokes).min()
    }

    /// Moves arrived segments into the receivers' buffers and decodes them.
    fn deliver(&mut self, now: Instant) {
        let mut due = Vec::new();
        for node in &mut self.nodes {
            for conn in node.conns.values_mut() {
                while let Some(segment) = conn.out.pop_due(now) {
                    due.push((conn.remote, conn.remote_key, segment));
                }
            }
        }
        for (id, key, segment) in due {
            let Some(conn) = self.nodes[id].conns.get_mut(&key) else { continue };
            conn.rbuf.extend_from_slice(&segment);
            let result = loop {
                match conn.decoder.decode(&mut conn.rbuf) {
                    Ok(Some(msg)) => {
                        if let Err(e) = conn.pc.handle_message(now, msg) {
                            break Err(e.to_string());
                        }
                    }
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e.to_string()),
                }
            };
            if let Err(reason) = result {
                self.close(id, key, reason);
            }
        }
    }

    fn timers(&mut self, now: Instant) {
        let mut failed = Vec::new();
        for (id, node) in self.nodes.iter_mut().enumerate() {
            for (&key, conn) in &mut node.conns {
                if conn.pc.poll_timeout().is_some_and(|t| t <= now) {
                    if let Err(e) = conn.pc.handle_timeout(now) {
                        failed.push((id, key, e.to_string()));
                    }
                }
            }
        }
        for (id, key, reason) in failed {
            self.close(id, key, reason);
        }
    }

    fn rechoke(&mut self, now: Instant) {
        for node in &mut self.nodes {
            if node.next_rechoke <= now {
                // The swarm's own timer, at the choker's configured interval.
                let changes = node.swarm.handle_timeout(now, &mut self.rng);
                node.next_rechoke = node.swarm.poll_timeout().expect("the choker is scheduled");
                for (key, unchoke) in changes {
                    if let Some(conn) = node.conns.get_mut(&key) {
                        if unchoke {
                            conn.pc.unchoke();
                        } else {
                            conn.pc.choke();
                        }
                    }
                }
            }
        }
    }

    /// Hands every connection of node `id` to its swarm and performs the actions: at least two
    /// rounds (blocks one connection releases in the first are for the others to pick up), then
    /// until a round produces no action (a verified piece frees the buffer budget and sends
    /// Haves, which the next round turns into requests, as the engine's next loop would).
    fn pump(&mut self, id: NodeId, now: Instant) {
        let elapsed = now - self.t0;
        let mut actions = Vec::new();
        let mut closes = Vec::new();
        for round in 0..8 {
            let mut busy = round == 0;
            let Sim { nodes, rng, content, .. } = self;
            let node = &mut nodes[id];
            let keys: Vec<PeerKey> = node.conns.keys().copied().collect();
            for key in keys {
                let Some(conn) = node.conns.get_mut(&key) else { continue };
                let useless = node.swarm.handle_conn(now, key, &mut conn.pc, rng, &mut actions);
                busy |= !actions.is_empty();
                for action in actions.drain(..) {
                    node.act(id, key, action, content, elapsed, &mut closes);
                }
                if useless {
                    closes.push((id, key, "both sides are seeds".to_string()));
                }
            }
            for (id, key, reason) in closes.drain(..) {
                self.close(id, key, reason);
            }
            if !busy {
                break;
            }
        }
    }

    /// Encodes every queued message onto the links (a silent node's bytes are dropped).
    fn flush(&mut self, now: Instant) {
        let Sim { nodes, rng, sent, t0, .. } = self;
        for (id, node) in nodes.iter_mut().enumerate() {
            let silent = matches!(node.behaviour, Behaviour::SilentAfter(d) if now >= *t0 + d);
            for conn in node.conns.values_mut() {
                let mut buf = BytesMut::new();
                while let Some(msg) = conn.pc.poll_transmit() {
                    *sent.entry((id, conn.remote, msg.name())).or_default() += 1;
                    ccbt_wire::encode(&msg, &mut buf);
                }
                if !buf.is_empty() && !silent {
                    conn.out.send(now, buf.freeze(), rng);
                }
            }
        }
    }

    /// Drops both ends of a connection, as a TCP close would (bytes in flight are lost).
    fn close(&mut self, id: NodeId, key: PeerKey, reason: String) {
        let Some(conn) = self.nodes[id].forget(key) else { return };
        self.closed.push((id, conn.remote, reason));
        if self.nodes[conn.remote].forget(conn.remote_key).is_some() {
            self.closed.push((conn.remote, id, "closed by the peer".to_string()));
        }
    }
}

impl Node {
    /// Performs one swarm action for connection `key` of this node (`id`).
    fn act(
        &mut self,
        id: NodeId,
        key: PeerKey,
        action: SwarmAction,
        content: &Content,
        elapsed: Duration,
        closes: &mut Vec<(NodeId, PeerKey, String)>,
    ) {
        match action {
            // Peer exchange is off in the simulation (no addresses).
            SwarmAction::NewPeers(_) | SwarmAction::DhtNode { .. } => {}
            SwarmAction::Verify { piece, blocks, block_hashes } => {
                // What the engine's hash pool hands back: a SHA-1 per block when asked.
                let hashes = block_hashes.then(|| {
                    let blocks = blocks.iter().flat_map(|b| b.chunks(ccbt_core::BLOCK_SIZE as usize));
                    blocks.map(|b| <[u8; 20]>::from(Sha1::digest(b))).collect::<Vec<_>>()
                });
                let data = blocks.concat();
                let hash: [u8; 20] = Sha1::digest(&data).into();
                if content.hashes.get(piece as usize) == Some(&hash) {
                    // The property under test: nothing but the source data is ever accepted.
                    assert_eq!(&data[..], content.piece(piece), "{}: piece {piece} accepted", self.name);
                    self.store[content.range(piece)].copy_from_slice(&data);
                    self.verified.push(piece);
                    let complete = self.swarm.on_piece_verified(piece, hashes);
                    for conn in self.conns.values_mut() {
                        conn.pc.have(piece);
                    }
                    if complete && self.completed_at.is_none() {
                        self.completed_at = Some(elapsed);
                    }
                } else {
                    self.hash_failures += 1;
                    for banned in self.swarm.on_piece_failed(piece, hashes) {
                        for key in banned.peers {
                            if let Some(conn) = self.conns.get(&key) {
                                self.banned.push(conn.remote);
                                let reason = format!("banned after {} hash failures", banned.failures);
                                closes.push((id, key, reason));
                            }
                        }
                    }
                }
            }
            SwarmAction::Cancel { peer, block } => {
                if let Some(conn) = self.conns.get_mut(&peer) {
                    conn.pc.cancel(block);
                }
            }
            SwarmAction::Read { block } => {
                let lengths = content.lengths;
                let p = lengths.validate_piece(block.piece).expect("requests are validated");
                let start = (lengths.piece_offset(p) + u64::from(block.offset)) as usize;
                let mut data = self.store[start..start + block.len as usize].to_vec();
                if self.behaviour == Behaviour::Liar {
                    data[0] ^= 0x5a;
                }
                if let Some(conn) = self.conns.get_mut(&key) {
                    conn.pc.serve_block(block, Bytes::from(data));
                }
            }
        }
    }

    /// Removes a connection from this node and its swarm, keeping its download count.
    fn forget(&mut self, key: PeerKey) -> Option<Conn> {
        let conn = self.conns.remove(&key)?;
        self.swarm.remove_peer(key);
        *self.received_closed.entry(conn.remote).or_default() += conn.pc.stats().downloaded;
        Some(conn)
    }
}
