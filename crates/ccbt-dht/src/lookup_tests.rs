use std::net::SocketAddrV4;

use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::*;

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from((std::net::Ipv4Addr::from(0x0a00_0000 + i as u32), 6881))
}

fn v4(a: SocketAddr) -> SocketAddrV4 {
    match a {
        SocketAddr::V4(v) => v,
        SocketAddr::V6(_) => unreachable!("test addresses are IPv4"),
    }
}

/// A network where every node knows the whole world and answers with the 8 closest nodes.
struct World {
    nodes: Vec<(NodeId, SocketAddr)>,
}

impl World {
    fn new(n: usize, rng: &mut SmallRng) -> World {
        World { nodes: (0..n).map(|i| (NodeId::random(rng), addr(i))).collect() }
    }

    /// The asked node's answer: the 8 closest to `target`, leaving out the querier (node 0) as
    /// [`crate::DhtNode`] does.
    fn answer(&self, asked: SocketAddr, target: &NodeId) -> Response {
        let id = self.nodes.iter().find(|(_, a)| *a == asked).unwrap().0;
        let mut all = self.nodes[1..].to_vec();
        all.sort_by_key(|(n, _)| n.distance(target));
        let nodes = all.iter().take(8).map(|&(id, a)| CompactNode { id, addr: v4(a) }).collect();
        Response { id, nodes, values: vec![], token: Some(vec![1, 2]), ..Response::default() }
    }

    fn true_closest(&self, target: &NodeId, own: &NodeId) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = self.nodes.iter().map(|(id, _)| *id).filter(|id| id != own).collect();
        ids.sort_by_key(|id| id.distance(target));
        ids.truncate(8);
        ids
    }
}

#[test]
fn converges_on_the_true_closest_with_bounded_parallelism() {
    let mut rng = SmallRng::seed_from_u64(11);
    let world = World::new(500, &mut rng);
    let own = world.nodes[0].0;
    for _ in 0..20 {
        let target = NodeId::random(&mut rng);
        // Start from a few arbitrary nodes, as a sparse routing table would.
        let start: Vec<_> = world.nodes[1..4].to_vec();
        let mut l = Lookup::new(own, target, 8, 3, 1, &start, &[]);
        let mut steps = 0;
        while !l.is_done() {
            let qs = l.next_queries(usize::MAX);
            assert!(l.in_flight() <= 3);
            assert!(!qs.is_empty(), "not done but nothing to ask");
            for q in qs {
                let r = world.answer(q.addr, &target);
                l.on_response(q, &r);
            }
            steps += 1;
            assert!(steps < 100);
        }
        let got: Vec<NodeId> = l.closest_responded().iter().map(|r| r.id).collect();
        assert_eq!(got, world.true_closest(&target, &own));
        assert!(l.closest_responded().iter().all(|r| r.token.as_deref() == Some(&[1, 2][..])));
        assert!(l.rounds() <= 6, "rounds {}", l.rounds());
    }
}

#[test]
fn all_failures_terminate_and_retries_are_bounded() {
    let mut rng = SmallRng::seed_from_u64(12);
    let nodes: Vec<_> = (0..5).map(|i| (NodeId::random(&mut rng), addr(i))).collect();
    let mut l = Lookup::new(NodeId([0; 20]), NodeId([1; 20]), 8, 3, 2, &nodes, &[]);
    let mut sent = 0;
    while !l.is_done() {
        let qs = l.next_queries(usize::MAX);
        assert!(!qs.is_empty());
        sent += qs.len();
        for q in qs {
            l.on_failure(q);
        }
    }
    assert_eq!(sent, 10, "each node asked twice");
    assert_eq!(l.queried(), 10);
    assert!(l.closest_responded().is_empty());
}

#[test]
fn empty_lookup_is_done_at_once() {
    let l = Lookup::new(NodeId([0; 20]), NodeId([1; 20]), 8, 3, 1, &[], &[]);
    assert!(l.is_done());
    assert_eq!(l.rounds(), 0);
}

#[test]
fn seeds_of_unknown_id_become_candidates() {
    let mut rng = SmallRng::seed_from_u64(13);
    let world = World::new(50, &mut rng);
    let target = NodeId::random(&mut rng);
    let seed = world.nodes[7].1;
    let mut l = Lookup::new(NodeId([0; 20]), target, 8, 3, 1, &[], &[seed]);
    assert!(!l.is_done());
    let qs = l.next_queries(usize::MAX);
    assert_eq!(qs, vec![QueryTo { id: None, addr: seed }]);
    l.on_response(qs[0], &world.answer(seed, &target));
    while !l.is_done() {
        for q in l.next_queries(usize::MAX) {
            l.on_response(q, &world.answer(q.addr, &target));
        }
    }
    let got: Vec<NodeId> = l.closest_responded().iter().map(|r| r.id).collect();
    assert_eq!(got, world.true_closest(&target, &NodeId([0; 20])));
}

#[test]
fn wrong_id_or_unasked_answers_are_not_trusted() {
    let a = (NodeId([0x10; 20]), addr(1));
    let mut l = Lookup::new(NodeId([0; 20]), NodeId([0x11; 20]), 8, 3, 1, &[a], &[]);
    let q = l.next_queries(1)[0];
    let evil = CompactNode { id: NodeId([0x11; 20]), addr: v4(addr(9)) };
    let liar = Response {
        id: NodeId([0x99; 20]),
        nodes: vec![evil],
        values: vec![],
        token: None,
        ..Response::default()
    };
    l.on_response(q, &liar);
    assert!(l.is_done(), "the only node failed; the liar's nodes were ignored");
    // Unsolicited answers change nothing.
    l.on_response(QueryTo { id: Some(a.0), addr: addr(1) }, &Response { id: a.0, ..Default::default() });
    assert!(l.closest_responded().is_empty());
}

#[test]
fn peers_are_deduplicated_and_candidates_bounded() {
    let mut rng = SmallRng::seed_from_u64(14);
    let start = vec![(NodeId::random(&mut rng), addr(1))];
    let mut l = Lookup::new(NodeId([0; 20]), NodeId::random(&mut rng), 8, 3, 1, &start, &[]);
    let q = l.next_queries(usize::MAX)[0];
    let peer = v4(addr(500));
    let many: Vec<CompactNode> =
        (0..1000).map(|i| CompactNode { id: NodeId::random(&mut rng), addr: v4(addr(1000 + i)) }).collect();
    let r = Response {
        id: start[0].0,
        nodes: many,
        values: vec![peer, peer],
        token: None,
        ..Response::default()
    };
    assert_eq!(l.on_response(q, &r), vec![SocketAddr::V4(peer)]);
    assert!(l.candidates.len() <= 64);
    assert_eq!(l.peers_found(), 1);
}
