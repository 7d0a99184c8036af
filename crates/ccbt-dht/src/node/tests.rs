use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ccbt_core::InfoHash;

use super::*;
use crate::krpc::{self, decode, Body, ErrorReply, Message, Query, Response};

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i], 6881))
}

fn node(i: u8, now: Instant) -> DhtNode {
    DhtNode::new(NodeId([i; 20]), DhtOptions::default(), now, u64::from(i))
}

fn query(tid: &[u8], q: Query) -> Vec<u8> {
    Message { tid: tid.to_vec(), version: None, read_only: false, body: Body::Query(q) }.encode()
}

/// Sends `data` to `n` and returns its reply (a verification ping of an unknown querier may
/// follow it; it is dropped).
fn ask(n: &mut DhtNode, now: Instant, from: SocketAddr, data: &[u8]) -> Option<Message> {
    n.handle_datagram(now, from, data);
    let (to, bytes) = n.poll_transmit()?;
    assert_eq!(to, from);
    while let Some((_, more)) = n.poll_transmit() {
        assert!(matches!(decode(&more).unwrap().body, Body::Query(Query::Ping { .. })));
    }
    Some(decode(&bytes).unwrap())
}

fn response(m: Message) -> Response {
    match m.body {
        Body::Response(r) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn error(m: Message) -> ErrorReply {
    match m.body {
        Body::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Delivers every pending datagram between the nodes (zero latency) until quiet.
fn pump(nodes: &mut [(SocketAddr, DhtNode)], now: Instant) {
    for _ in 0..10_000 {
        let mut moved = false;
        for i in 0..nodes.len() {
            while let Some((to, bytes)) = nodes[i].1.poll_transmit() {
                moved = true;
                let from = nodes[i].0;
                if let Some(dst) = nodes.iter_mut().find(|(a, _)| *a == to) {
                    dst.1.handle_datagram(now, from, &bytes);
                }
            }
        }
        if !moved {
            return;
        }
    }
    panic!("network never went quiet");
}

/// Every datagram `n` wants to send, decoded.
fn drain(n: &mut DhtNode) -> Vec<(SocketAddr, Message)> {
    std::iter::from_fn(|| n.poll_transmit()).map(|(to, b)| (to, decode(&b).unwrap())).collect()
}

fn answer(to: &Message, id: NodeId) -> Vec<u8> {
    Message {
        tid: to.tid.clone(),
        version: None,
        read_only: false,
        body: Body::Response(Response { id, ..Response::default() }),
    }
    .encode()
}

#[test]
fn a_querier_joins_the_table_only_after_answering_our_ping() {
    let now = Instant::now();
    let mut n = node(1, now);
    n.handle_datagram(now, addr(2), &query(b"p1", Query::Ping { id: NodeId([2; 20]) }));
    let sent = drain(&mut n);
    assert_eq!(sent.len(), 2, "the answer, and a ping to verify the querier: {sent:?}");
    assert_eq!(response(sent[0].1.clone()).id, NodeId([1; 20]));
    let (to, ping) = &sent[1];
    assert_eq!(*to, addr(2));
    assert!(matches!(ping.body, Body::Query(Query::Ping { .. })));
    assert!(n.routing_table().is_empty(), "a query alone (spoofable) does not enter the table");
    // Not handed to others either.
    let find = query(b"f1", Query::FindNode { id: NodeId([3; 20]), target: NodeId([2; 20]) });
    n.handle_datagram(now, addr(3), &find);
    let sent = drain(&mut n);
    assert!(response(sent[0].1.clone()).nodes.is_empty(), "{sent:?}");
    // Once it answers, it is in and recommended.
    n.handle_datagram(now, addr(2), &answer(ping, NodeId([2; 20])));
    assert_eq!(n.routing_table(), vec![(NodeId([2; 20]), addr(2))]);
    // Our first node: we join the network through it.
    assert!(drain(&mut n)
        .iter()
        .all(|(to, m)| *to == addr(2) && matches!(m.body, Body::Query(Query::FindNode { .. }))));
    let m = ask(
        &mut n,
        now,
        addr(4),
        &query(b"f2", Query::FindNode { id: NodeId([4; 20]), target: NodeId([2; 20]) }),
    )
    .unwrap();
    assert_eq!(m.tid, b"f2");
    assert_eq!(response(m).nodes.first().map(|c| c.id), Some(NodeId([2; 20])));
    assert_eq!(n.status().queries_in, 3);
}

#[test]
fn verification_pings_are_bounded() {
    let now = Instant::now();
    let mut n = node(1, now);
    for i in 0..200u8 {
        let id = NodeId([i.wrapping_add(2); 20]);
        n.handle_datagram(now, SocketAddr::from(([10, 0, 1, i], 6881)), &query(b"pp", Query::Ping { id }));
    }
    let pings = drain(&mut n).iter().filter(|(_, m)| matches!(m.body, Body::Query(_))).count();
    assert!(pings <= 16, "{pings} verification pings: spoofed queries must not fill the transaction table");
    assert!(n.routing_table().is_empty());
}

#[test]
fn transaction_ids_are_random() {
    let now = Instant::now();
    let nodes: Vec<(NodeId, SocketAddr)> = (2..40u8).map(|i| (NodeId([i; 20]), addr(i))).collect();
    let mut n = DhtNode::with_routing_table(NodeId([1; 20]), DhtOptions::default(), now, 1, &nodes);
    for h in 0..10u8 {
        n.get_peers(now, InfoHash([h; 20]));
    }
    let tids: Vec<u16> =
        drain(&mut n).iter().map(|(_, m)| u16::from_be_bytes(m.tid.as_slice().try_into().unwrap())).collect();
    assert!(tids.len() >= 20, "{tids:?}");
    let sequential = tids.windows(2).filter(|w| w[1] == w[0].wrapping_add(1)).count();
    assert!(sequential <= 1, "guessable transaction ids: {tids:?}");
}

#[test]
fn stored_announces_are_capped_per_ip() {
    let t0 = Instant::now();
    let opts = DhtOptions { max_info_hashes: 40, ..DhtOptions::default() };
    let cap = opts.max_announces_per_ip;
    assert!(cap < 40);
    let mut n = DhtNode::new(NodeId([1; 20]), opts, t0, 1);
    let token_for = |n: &mut DhtNode, from: SocketAddr, now: Instant| {
        let q = query(b"g1", Query::GetPeers { id: NodeId([2; 20]), info_hash: InfoHash([0; 20]) });
        response(ask(n, now, from, &q).unwrap()).token.unwrap()
    };
    let token = token_for(&mut n, addr(2), t0);
    // One address announces many torrents (one a second, within the rate limit).
    for h in 0..60u8 {
        let now = t0 + Duration::from_secs(u64::from(h));
        let q = Query::AnnouncePeer {
            id: NodeId([2; 20]),
            info_hash: InfoHash([h; 20]),
            port: 5000,
            implied_port: false,
            token: token.clone(),
        };
        n.handle_datagram(now, addr(2), &query(b"a1", q));
        drain(&mut n);
    }
    assert_eq!(n.status().stored_peers, cap, "one IP holds at most its share of the store");
    let now = t0 + Duration::from_secs(70);
    let token = token_for(&mut n, addr(3), now);
    let q = Query::AnnouncePeer {
        id: NodeId([3; 20]),
        info_hash: InfoHash([0xee; 20]),
        port: 1,
        implied_port: false,
        token,
    };
    response(ask(&mut n, now, addr(3), &query(b"a2", q)).unwrap());
    assert_eq!(n.status().stored_peers, cap + 1, "other addresses can still announce");
}

#[test]
fn offered_nodes_are_pinged_and_never_take_bootstrap_slots() {
    let now = Instant::now();
    let mut n = node(1, now);
    // A peer's Port messages offer many (possibly bogus) addresses before the routers resolve.
    for i in 0..100u8 {
        n.add_node(now, SocketAddr::from(([10, 0, 2, i], 6881)));
    }
    let sent = drain(&mut n);
    assert!(!sent.is_empty() && sent.len() <= 16, "bounded verification pings: {}", sent.len());
    assert!(sent.iter().all(|(_, m)| matches!(m.body, Body::Query(Query::Ping { .. }))));
    // The routers still get the bootstrap lookup.
    n.bootstrap(now, &[addr(9)]);
    let sent = drain(&mut n);
    assert!(sent
        .iter()
        .any(|(to, m)| *to == addr(9) && matches!(m.body, Body::Query(Query::FindNode { .. }))));
    // An offered node that answers joins the table.
    let mut n = node(1, now);
    n.add_node(now, addr(5));
    let (to, ping) = drain(&mut n).pop().unwrap();
    assert_eq!(to, addr(5));
    n.handle_datagram(now, addr(5), &answer(&ping, NodeId([5; 20])));
    assert_eq!(n.routing_table(), vec![(NodeId([5; 20]), addr(5))]);
}

#[test]
fn get_peers_token_and_announce() {
    let now = Instant::now();
    let mut n = node(1, now);
    let h = InfoHash([7; 20]);
    let q = query(b"g1", Query::GetPeers { id: NodeId([2; 20]), info_hash: h });
    let r = response(ask(&mut n, now, addr(2), &q).unwrap());
    assert!(r.values.is_empty());
    let token = r.token.unwrap();

    let announce = |token: Vec<u8>, implied_port| {
        query(
            b"a1",
            Query::AnnouncePeer { id: NodeId([2; 20]), info_hash: h, port: 5000, implied_port, token },
        )
    };
    // A token issued to another IP is refused.
    let e = error(ask(&mut n, now, addr(3), &announce(token.clone(), false)).unwrap());
    assert_eq!(e.code, krpc::ERROR_PROTOCOL);
    assert_eq!(n.status().stored_peers, 0);
    response(ask(&mut n, now, addr(2), &announce(token.clone(), false)).unwrap());
    response(ask(&mut n, now, addr(2), &announce(token, true)).unwrap());
    assert_eq!(n.status().stored_peers, 2);

    let r = response(ask(&mut n, now, addr(4), &q).unwrap());
    let mut values: Vec<SocketAddr> = r.values.into_iter().map(SocketAddr::V4).collect();
    values.sort();
    assert_eq!(values, vec![SocketAddr::from(([10, 0, 0, 2], 5000)), addr(2)]);
}

#[test]
fn malformed_queries_get_203_and_garbage_is_ignored() {
    let now = Instant::now();
    let mut n = node(1, now);
    let good = query(b"zz", Query::FindNode { id: NodeId([2; 20]), target: NodeId([3; 20]) });
    for cut in 0..good.len() {
        // Every truncation: either no reply, or a 203 carrying our tid.
        if let Some(m) = ask(&mut n, now + Duration::from_secs(cut as u64), addr(2), &good[..cut]) {
            assert_eq!(error(m).code, krpc::ERROR_PROTOCOL);
        }
    }
    let bad_id = b"d1:ad2:id3:abce1:q4:ping1:t2:xy1:y1:qe";
    let m = ask(&mut n, now, addr(3), bad_id).unwrap();
    assert_eq!(m.tid, b"xy");
    assert_eq!(error(m).code, krpc::ERROR_PROTOCOL);
    let unknown = b"d1:ad2:id20:abcdefghij0123456789e1:q4:vote1:t2:xy1:y1:qe";
    assert_eq!(error(ask(&mut n, now, addr(3), unknown).unwrap()).code, krpc::ERROR_METHOD_UNKNOWN);
    // Broken responses and errors never get an answer (no error ping-pong).
    assert!(ask(&mut n, now, addr(3), b"d1:rd2:id1:xe1:t2:xy1:y1:re").is_none());
    assert!(ask(&mut n, now, addr(3), b"d1:eli201e1:xe1:t2:xy1:y1:ee").is_none());
    assert!(ask(&mut n, now, addr(3), &[0xff; 3000]).is_none());
    assert!(ask(&mut n, now, addr(3), &vec![b'l'; MAX_DATAGRAM + 1]).is_none());
}

#[test]
fn queries_are_rate_limited_per_ip() {
    let now = Instant::now();
    let mut n = node(1, now);
    let ping = query(b"pp", Query::Ping { id: NodeId([2; 20]) });
    let answered = (0..100).filter(|_| ask(&mut n, now, addr(2), &ping).is_some()).count();
    assert_eq!(answered, DhtOptions::default().rate_limit_burst as usize);
    assert!(ask(&mut n, now, addr(3), &ping).is_some(), "other sources unaffected");
    assert!(ask(&mut n, now + Duration::from_secs(1), addr(2), &ping).is_some(), "refilled");
}

#[test]
fn replies_from_the_wrong_address_or_tid_are_ignored() {
    let now = Instant::now();
    let mut n = node(1, now);
    n.bootstrap(now, &[addr(9)]);
    let (to, bytes) = n.poll_transmit().unwrap();
    assert_eq!(to, addr(9));
    let q = decode(&bytes).unwrap();
    assert_eq!(q.tid.len(), 2);
    assert!(matches!(q.body, Body::Query(Query::FindNode { target, .. }) if target == NodeId([1; 20])));
    let reply = |tid: &[u8]| {
        Message {
            tid: tid.to_vec(),
            version: None,
            read_only: false,
            body: Body::Response(Response { id: NodeId([9; 20]), ..Response::default() }),
        }
        .encode()
    };
    n.handle_datagram(now, addr(8), &reply(&q.tid));
    n.handle_datagram(now, addr(9), &reply(b"??"));
    assert!(n.routing_table().is_empty());
    n.handle_datagram(now, addr(9), &reply(&q.tid));
    assert_eq!(n.routing_table(), vec![(NodeId([9; 20]), addr(9))]);
    assert_eq!(n.poll_event(), Some(DhtEvent::BootstrapDone { nodes: 1 }));
}

#[test]
fn bootstrap_retries_with_backoff_while_alone() {
    let t0 = Instant::now();
    let mut n = node(1, t0);
    n.bootstrap(t0, &[addr(9)]);
    let mut sends = vec![];
    let mut now = t0;
    for _ in 0..200 {
        while let Some((to, _)) = n.poll_transmit() {
            assert_eq!(to, addr(9));
            sends.push(now);
        }
        now = n.poll_timeout().unwrap().max(now);
        if now > t0 + Duration::from_secs(120) {
            break;
        }
        n.handle_timeout(now);
    }
    assert!(n.poll_event().is_none(), "no success, no error event");
    // Attempts (each asked twice) at growing intervals: 5 s, 10 s, 20 s, 40 s back-off.
    assert!((4..=12).contains(&sends.len()), "{sends:?}");
    let gaps: Vec<Duration> = sends.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().any(|g| *g >= Duration::from_secs(20)), "{gaps:?}");
}

#[test]
fn two_nodes_find_each_other_and_announce() {
    let now = Instant::now();
    let mut nodes: Vec<(SocketAddr, DhtNode)> = (1..=3).map(|i| (addr(i), node(i, now))).collect();
    nodes[1].1.bootstrap(now, &[addr(1)]);
    nodes[2].1.bootstrap(now, &[addr(1)]);
    pump(&mut nodes, now);
    assert!(nodes.iter().all(|(_, n)| n.routing_table().len() == 2), "everyone knows everyone");

    let h = InfoHash([0x55; 20]);
    let lid = nodes[1].1.announce(now, h, Some(7000));
    pump(&mut nodes, now);
    let done =
        std::iter::from_fn(|| nodes[1].1.poll_event()).find(|e| matches!(e, DhtEvent::LookupDone { .. }));
    assert!(matches!(done, Some(DhtEvent::LookupDone { lookup, nodes_queried: 2, .. }) if lookup == lid));
    let stored: usize = nodes.iter().map(|(_, n)| n.status().stored_peers).sum();
    assert_eq!(stored, 2, "announced to both other nodes");

    let lid = nodes[2].1.get_peers(now, h);
    pump(&mut nodes, now);
    let events: Vec<DhtEvent> = std::iter::from_fn(|| nodes[2].1.poll_event()).collect();
    let want = SocketAddr::from(([10, 0, 0, 2], 7000));
    assert!(events.contains(&DhtEvent::Peers { lookup: lid, info_hash: h, peers: vec![want] }), "{events:?}");
}

#[test]
fn lookups_beyond_the_limit_end_at_once() {
    let now = Instant::now();
    let opts = DhtOptions { max_lookups: 0, ..DhtOptions::default() };
    let mut n = DhtNode::new(NodeId([1; 20]), opts, now, 1);
    let lid = n.get_peers(now, InfoHash([2; 20]));
    assert!(
        matches!(n.poll_event(), Some(DhtEvent::LookupDone { lookup, nodes_queried: 0, .. }) if lookup == lid)
    );
    assert_eq!(n.status().active_lookups, 0);
}
