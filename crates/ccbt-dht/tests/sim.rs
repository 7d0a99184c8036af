//! Deterministic simulation: a few hundred `DhtNode`s on an in-memory network with a virtual
//! clock, latency and packet loss. No wall clock is read except one `Instant` used as the
//! origin of virtual time; everything else is seeded.

// The simulation takes `Instant::now()` once as its virtual clock's origin.
#![allow(clippy::disallowed_methods)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ccbt_core::InfoHash;
use ccbt_dht::item::{self, Item, SigningKey};
use ccbt_dht::{bep46, DhtEvent, DhtNode, DhtOptions, LookupId, NodeId};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const NODES: usize = 220;
const K: usize = 8;

struct SimNode {
    addr: SocketAddr,
    node: DhtNode,
    online: bool,
    events: Vec<DhtEvent>,
    timer: Option<Instant>,
}

struct Packet {
    at: Instant,
    seq: u64,
    to: usize,
    from: SocketAddr,
    data: Vec<u8>,
}

impl PartialEq for Packet {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Packet {}
impl PartialOrd for Packet {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Packet {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct Sim {
    now: Instant,
    nodes: Vec<SimNode>,
    by_addr: HashMap<SocketAddr, usize>,
    packets: BinaryHeap<Reverse<Packet>>,
    seq: u64,
    rng: SmallRng,
    loss: f64,
    delivered: u64,
}

fn node_addr(i: usize) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(10, 1, (i / 250) as u8, (i % 250 + 1) as u8), 6881))
}

impl Sim {
    fn new(seed: u64, n: usize, loss: f64) -> Sim {
        let now = Instant::now();
        let mut rng = SmallRng::seed_from_u64(seed);
        let nodes: Vec<SimNode> = (0..n)
            .map(|i| {
                let id = NodeId::random(&mut rng);
                let node = DhtNode::new(id, DhtOptions::default(), now, rng.gen());
                SimNode { addr: node_addr(i), node, online: true, events: Vec::new(), timer: None }
            })
            .collect();
        let by_addr = nodes.iter().enumerate().map(|(i, n)| (n.addr, i)).collect();
        let mut sim =
            Sim { now, nodes, by_addr, packets: BinaryHeap::new(), seq: 0, rng, loss, delivered: 0 };
        for i in 0..n {
            sim.flush(i);
        }
        sim
    }

    /// Moves node `i`'s datagrams onto the wire and its events into its log.
    fn flush(&mut self, i: usize) {
        while let Some((to, data)) = self.nodes[i].node.poll_transmit() {
            let from = self.nodes[i].addr;
            let Some(&dst) = self.by_addr.get(&to) else { continue };
            if self.rng.gen_bool(self.loss) {
                continue;
            }
            let latency = Duration::from_millis(self.rng.gen_range(10..80));
            self.seq += 1;
            self.packets.push(Reverse(Packet { at: self.now + latency, seq: self.seq, to: dst, from, data }));
        }
        while let Some(e) = self.nodes[i].node.poll_event() {
            self.nodes[i].events.push(e);
        }
        self.nodes[i].timer = self.nodes[i].node.poll_timeout();
    }

    /// Processes the next packet or timer. Offline nodes neither receive nor wake up.
    fn step(&mut self) {
        let timer = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.online)
            .filter_map(|(i, n)| n.timer.map(|t| (t, i)))
            .min();
        let packet_at = self.packets.peek().map(|Reverse(p)| p.at);
        match (timer, packet_at) {
            (Some((t, i)), p) if p.map_or(true, |p| t < p) => {
                self.now = self.now.max(t);
                let now = self.now;
                self.nodes[i].node.handle_timeout(now);
                self.flush(i);
            }
            (_, Some(_)) => {
                let Some(Reverse(p)) = self.packets.pop() else { return };
                self.now = self.now.max(p.at);
                if self.nodes[p.to].online {
                    let now = self.now;
                    self.nodes[p.to].node.handle_datagram(now, p.from, &p.data);
                    self.delivered += 1;
                    self.flush(p.to);
                }
            }
            _ => {}
        }
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step();
        }
    }

    /// Runs until `done` holds, failing the test after `limit` of virtual time.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Sim) -> bool) {
        let end = self.now + limit;
        while !done(self) {
            assert!(self.now < end, "condition not reached within {limit:?}");
            self.step();
        }
    }

    fn lookup_done(&self, i: usize, lid: LookupId) -> Option<&DhtEvent> {
        self.nodes[i]
            .events
            .iter()
            .find(|e| matches!(e, DhtEvent::LookupDone { lookup, .. } if *lookup == lid))
    }

    /// Starts a lookup on node `i` and waits for it.
    fn wait_lookup(&mut self, i: usize, lid: LookupId) -> DhtEvent {
        self.flush(i);
        self.run_until(Duration::from_secs(120), |s| s.lookup_done(i, lid).is_some());
        self.lookup_done(i, lid).cloned().unwrap()
    }

    /// Brute force: the k online nodes closest to `target`, other than node `except`.
    fn true_closest(&self, target: &NodeId, except: usize) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = (0..self.nodes.len())
            .filter(|&j| j != except && self.nodes[j].online)
            .map(|j| self.nodes[j].node.id())
            .collect();
        ids.sort_by_key(|id| id.distance(target));
        ids.truncate(K);
        ids
    }

    /// Node 0..3 are seeds; the others join one by one, 100 ms apart, through the seeds.
    fn bootstrap_all(&mut self) {
        let seeds: Vec<SocketAddr> = (0..3).map(node_addr).collect();
        for i in 0..self.nodes.len() {
            let others: Vec<SocketAddr> = seeds.iter().copied().filter(|a| *a != node_addr(i)).collect();
            let now = self.now;
            self.nodes[i].node.bootstrap(now, &others);
            self.flush(i);
            self.run_for(Duration::from_millis(100));
        }
        self.run_for(Duration::from_secs(60));
        for n in &self.nodes {
            assert!(
                n.events.iter().any(|e| matches!(e, DhtEvent::BootstrapDone { .. })),
                "{} never joined",
                n.addr
            );
            assert!(n.node.status().good_nodes >= K, "{} knows too few nodes: {:?}", n.addr, n.node.status());
        }
    }

    /// Runs `find_node` lookups from random online nodes; returns how many matched the brute
    /// force exactly, asserting every one found at least k - 1 of the true k closest within
    /// 10 rounds.
    fn check_lookups(&mut self, count: usize, from: impl Fn(&mut SmallRng) -> usize) -> usize {
        let mut exact = 0;
        for _ in 0..count {
            let i = from(&mut self.rng);
            let target = NodeId::random(&mut self.rng);
            let now = self.now;
            let lid = self.nodes[i].node.find_node(now, target);
            let DhtEvent::LookupDone { closest, rounds, .. } = self.wait_lookup(i, lid) else {
                unreachable!()
            };
            let got: Vec<NodeId> = closest.iter().map(|(id, _)| *id).collect();
            let want = self.true_closest(&target, i);
            let found = want.iter().filter(|id| got.contains(id)).count();
            assert!(rounds <= 10, "lookup took {rounds} rounds");
            assert!(found >= K - 1, "lookup from {i} found {found}/{K}: {got:?} vs {want:?}");
            if got == want {
                exact += 1;
            }
        }
        exact
    }
}

#[test]
fn lookups_converge_and_announces_are_found() {
    let mut sim = Sim::new(1, NODES, 0.02);
    sim.bootstrap_all();

    // (a) find_node converges on the true k closest.
    let n = NODES;
    let exact = sim.check_lookups(30, |rng| rng.gen_range(0..n));
    assert!(exact >= 27, "only {exact}/30 lookups exact");

    // (b) an announce is found by other nodes' get_peers.
    let h = InfoHash([0x42; 20]);
    let now = sim.now;
    let lid = sim.nodes[17].node.announce(now, h, Some(7000));
    let DhtEvent::LookupDone { nodes_queried, .. } = sim.wait_lookup(17, lid) else { unreachable!() };
    assert!(nodes_queried >= K);
    sim.run_for(Duration::from_secs(5));
    let holders = sim.nodes.iter().filter(|n| n.node.status().stored_peers > 0).count();
    assert!(holders >= K - 2, "announce stored on {holders} nodes");
    let want = SocketAddr::from((Ipv4Addr::new(10, 1, 0, 18), 7000));
    for i in [3, 50, 99, 150, 200] {
        let now = sim.now;
        let lid = sim.nodes[i].node.get_peers(now, h);
        sim.wait_lookup(i, lid);
        let found = sim.nodes[i].events.iter().any(|e| {
            matches!(e, DhtEvent::Peers { lookup, peers, info_hash } if *lookup == lid && *info_hash == h && peers.contains(&want))
        });
        assert!(found, "node {i} did not find the announced peer");
    }
}

#[test]
fn routing_tables_survive_a_restart() {
    let mut sim = Sim::new(2, NODES, 0.02);
    sim.bootstrap_all();
    let i = 123;
    let saved = sim.nodes[i].node.routing_table();
    assert!(saved.len() >= K);
    let id = sim.nodes[i].node.id();
    let now = sim.now;
    // Restart: same id and address, table restored, no bootstrap routers at all.
    let restored = DhtNode::with_routing_table(id, DhtOptions::default(), now, 99, &saved);
    let mut a = saved.clone();
    let mut b = restored.routing_table();
    a.sort();
    b.sort();
    assert_eq!(a, b, "export, import, export is the identity");
    sim.nodes[i].node = restored;
    sim.nodes[i].events.clear();
    sim.flush(i);
    sim.run_for(Duration::from_secs(30));
    assert!(sim.nodes[i].node.status().good_nodes >= K, "{:?}", sim.nodes[i].node.status());
    let exact = sim.check_lookups(5, |_| i);
    assert!(exact >= 4);
}

#[test]
fn offline_nodes_are_evicted() {
    let mut sim = Sim::new(3, NODES, 0.02);
    sim.bootstrap_all();
    let gone: HashSet<usize> = (10..NODES).step_by(10).collect();
    for &g in &gone {
        sim.nodes[g].online = false;
    }
    let gone_ids: HashSet<NodeId> = gone.iter().map(|&g| sim.nodes[g].node.id()).collect();
    let stale = |s: &Sim| -> usize {
        s.nodes
            .iter()
            .filter(|n| n.online)
            .map(|n| n.node.routing_table().iter().filter(|(id, _)| gone_ids.contains(id)).count())
            .sum()
    };
    let before = stale(&sim);
    assert!(before > 50, "offline nodes were known: {before}");
    sim.run_for(Duration::from_secs(40 * 60));
    assert_eq!(stale(&sim), 0, "offline nodes still in routing tables");
    // The network still works without them.
    let alive: Vec<usize> = (0..NODES).filter(|i| !gone.contains(i)).collect();
    let exact = sim.check_lookups(10, |rng| alive[rng.gen_range(0..alive.len())]);
    assert!(exact >= 8, "only {exact}/10 exact");
}

#[test]
fn garbage_does_not_break_a_node() {
    let mut sim = Sim::new(4, 120, 0.0);
    sim.bootstrap_all();
    let victim = 42;
    // Real traffic to mutate: queries and answers the victim would see.
    let samples: Vec<Vec<u8>> = {
        let mut probe = DhtNode::new(NodeId([9; 20]), DhtOptions::default(), sim.now, 5);
        let now = sim.now;
        probe.bootstrap(now, &[node_addr(0)]);
        probe.get_peers(now, InfoHash([1; 20]));
        std::iter::from_fn(|| probe.poll_transmit()).map(|(_, d)| d).collect()
    };
    for k in 0..20_000u32 {
        let from = SocketAddr::from((Ipv4Addr::from(0xc0a8_0000 + k % 5000), 1000 + (k % 60000) as u16));
        let data: Vec<u8> = match k % 4 {
            0 => (0..sim.rng.gen_range(0..300)).map(|_| sim.rng.gen()).collect(),
            1 => {
                let mut d = samples[k as usize % samples.len()].clone();
                for _ in 0..3 {
                    let at = sim.rng.gen_range(0..d.len());
                    d[at] = sim.rng.gen();
                }
                d
            }
            2 => {
                let d = &samples[k as usize % samples.len()];
                d[..sim.rng.gen_range(0..d.len())].to_vec()
            }
            _ => format!("d1:ad2:id{}:xe1:q4:ping1:t2:aa1:y1:qe", sim.rng.gen_range(0..40)).into_bytes(),
        };
        let now = sim.now;
        sim.nodes[victim].node.handle_datagram(now, from, &data);
        // The replies go nowhere (unknown addresses), the queue must not grow.
        while sim.nodes[victim].node.poll_transmit().is_some() {}
    }
    sim.flush(victim);
    sim.run_for(Duration::from_secs(30));
    let status = sim.nodes[victim].node.status();
    assert!(status.good_nodes >= K, "{status:?}");
    let exact = sim.check_lookups(5, |_| victim);
    assert!(exact >= 4);
}

#[test]
fn spoofed_queries_neither_enter_tables_nor_spread() {
    let mut sim = Sim::new(5, 120, 0.0);
    sim.bootstrap_all();
    // An attacker sends every node a query from an address it does not own (nothing answers
    // there), under an id right next to the node's own: the bucket it falls in has room.
    let mut fakes = HashSet::new();
    for i in 0..sim.nodes.len() {
        let mut id = sim.nodes[i].node.id();
        id.0[19] ^= 1;
        fakes.insert(id);
        let from = SocketAddr::from((Ipv4Addr::new(10, 9, (i / 250) as u8, (i % 250 + 1) as u8), 6881));
        let ping = format!("d1:ad2:id20:{}e1:q4:ping1:t2:aa1:y1:qe", "x".repeat(20)).into_bytes();
        let ping = [&ping[..12], &id.0[..], &ping[32..]].concat();
        let now = sim.now;
        sim.nodes[i].node.handle_datagram(now, from, &ping);
        sim.flush(i);
    }
    let spread = |s: &Sim| -> usize {
        s.nodes
            .iter()
            .map(|n| n.node.routing_table().iter().filter(|(id, _)| fakes.contains(id)).count())
            .sum()
    };
    assert_eq!(spread(&sim), 0, "unverified nodes entered routing tables");
    sim.run_for(Duration::from_secs(30));
    assert_eq!(spread(&sim), 0);
    // Lookups toward the fake ids never return them, and still converge.
    for i in [1, 40, 80] {
        let mut target = sim.nodes[i].node.id();
        target.0[19] ^= 1;
        let now = sim.now;
        let lid = sim.nodes[(i + 7) % 120].node.find_node(now, target);
        let DhtEvent::LookupDone { closest, .. } = sim.wait_lookup((i + 7) % 120, lid) else {
            unreachable!()
        };
        assert!(closest.iter().all(|(id, _)| !fakes.contains(id)), "{closest:?}");
        assert_eq!(closest.first().map(|(id, _)| *id), Some(sim.nodes[i].node.id()));
    }
}

impl Sim {
    /// Waits for the event of lookup `lid` on node `i` that `pick` recognises.
    fn wait_event(&mut self, i: usize, lid: LookupId, pick: fn(&DhtEvent) -> Option<LookupId>) -> DhtEvent {
        self.flush(i);
        let found = |s: &Sim| s.nodes[i].events.iter().find(|e| pick(e) == Some(lid)).cloned();
        self.run_until(Duration::from_secs(120), |s| found(s).is_some());
        found(self).unwrap()
    }

    fn put(&mut self, i: usize, item: Item) -> usize {
        let now = self.now;
        let lid = self.nodes[i].node.put_item(now, item, None).unwrap();
        let pick = |e: &DhtEvent| match e {
            DhtEvent::PutItemDone { lookup, .. } => Some(*lookup),
            _ => None,
        };
        let DhtEvent::PutItemDone { stored, refused, asked, .. } = self.wait_event(i, lid, pick) else {
            unreachable!()
        };
        assert!(refused.is_empty(), "{refused:?}");
        assert!(asked >= K - 1, "asked {asked}");
        stored
    }

    fn get(&mut self, i: usize, lid: LookupId) -> Option<Item> {
        let pick = |e: &DhtEvent| match e {
            DhtEvent::GetItemDone { lookup, .. } => Some(*lookup),
            _ => None,
        };
        let DhtEvent::GetItemDone { item, .. } = self.wait_event(i, lid, pick) else { unreachable!() };
        item
    }
}

#[test]
fn bep44_items_are_put_and_found() {
    let mut sim = Sim::new(6, 150, 0.02);
    sim.bootstrap_all();
    let key = SigningKey::from_seed(&[42; 32]);

    // A mutable item with salt: stored near its target, found by others.
    let v1 = bep46::encode_info_hash_value(&InfoHash([1; 20]));
    let stored = sim.put(5, Item::Mutable(key.sign_item(b"dataset", 1, v1).unwrap()));
    assert!(stored >= K - 2, "stored on {stored} nodes");
    let holders = sim.nodes.iter().filter(|n| n.node.status().stored_items > 0).count();
    assert_eq!(holders, stored);
    for i in [17, 60, 101] {
        let now = sim.now;
        let lid = sim.nodes[i].node.get_mutable(now, key.public_key(), b"dataset");
        let Some(Item::Mutable(m)) = sim.get(i, lid) else { panic!("node {i} did not find the item") };
        assert_eq!((m.seq, bep46::decode_info_hash_value(&m.v)), (1, Ok(InfoHash([1; 20]))));
    }
    // Another salt is another item: nothing there.
    let now = sim.now;
    let lid = sim.nodes[17].node.get_mutable(now, key.public_key(), b"other");
    assert_eq!(sim.get(17, lid), None);

    // A new version replaces the old one everywhere it was stored.
    let v2 = bep46::encode_info_hash_value(&InfoHash([2; 20]));
    assert!(sim.put(5, Item::Mutable(key.sign_item(b"dataset", 2, v2).unwrap())) >= K - 2);
    let now = sim.now;
    let lid = sim.nodes[140].node.get_mutable(now, key.public_key(), b"dataset");
    let Some(Item::Mutable(m)) = sim.get(140, lid) else { panic!("no item") };
    assert_eq!((m.seq, bep46::decode_info_hash_value(&m.v)), (2, Ok(InfoHash([2; 20]))));

    // An immutable item.
    let v = b"l5:hello5:worlde".to_vec();
    assert!(sim.put(33, Item::Immutable(v.clone())) >= K - 2);
    let now = sim.now;
    let lid = sim.nodes[99].node.get_immutable(now, item::immutable_target(&v));
    assert_eq!(sim.get(99, lid), Some(Item::Immutable(v)));
}
