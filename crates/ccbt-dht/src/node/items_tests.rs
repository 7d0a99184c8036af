use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::item::SigningKey;
use crate::krpc::{decode, Body, Message};
use crate::DhtOptions;

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i], 6881))
}

/// Sends query `q` from `from` and returns the answer (later datagrams, verification pings,
/// are dropped).
fn ask(n: &mut DhtNode, now: Instant, from: SocketAddr, q: Query) -> Body {
    let bytes =
        Message { tid: b"qq".to_vec(), version: None, read_only: false, body: Body::Query(q) }.encode();
    n.handle_datagram(now, from, &bytes);
    let (to, reply) = n.poll_transmit().expect("an answer");
    assert_eq!(to, from);
    while n.poll_transmit().is_some() {}
    let m = decode(&reply).unwrap();
    assert_eq!(m.tid, b"qq");
    m.body
}

fn get(n: &mut DhtNode, now: Instant, from: SocketAddr, target: NodeId, seq: Option<i64>) -> Response {
    match ask(n, now, from, Query::Get { id: NodeId([2; 20]), target, seq }) {
        Body::Response(r) => r,
        other => panic!("{other:?}"),
    }
}

/// Puts `item` with a fresh token; `Ok` or the error code.
fn put(n: &mut DhtNode, now: Instant, from: SocketAddr, item: Item, cas: Option<i64>) -> Result<(), i64> {
    let token = get(n, now, from, item.target(), None).token.unwrap();
    match ask(n, now, from, Query::Put { id: NodeId([2; 20]), token, item, cas }) {
        Body::Response(_) => Ok(()),
        Body::Error(e) => Err(e.code),
        other => panic!("{other:?}"),
    }
}

fn node(now: Instant) -> DhtNode {
    DhtNode::new(NodeId([1; 20]), DhtOptions::default(), now, 1)
}

#[test]
fn mutable_items_are_stored_by_the_rules() {
    let now = Instant::now();
    let mut n = node(now);
    let key = SigningKey::from_seed(&[3; 32]);
    let item = |seq: i64, v: &str| {
        Item::Mutable(key.sign_item(b"salt", seq, format!("{}:{v}", v.len()).into_bytes()).unwrap())
    };
    let target = item(0, "x").target();

    let r = get(&mut n, now, addr(2), target, None);
    assert!(r.token.is_some() && r.v.is_none() && r.seq.is_none(), "{r:?}");
    // A token is needed, and it is the querier's own.
    let token = r.token.unwrap();
    let q = Query::Put { id: NodeId([3; 20]), token: token.clone(), item: item(1, "one"), cas: None };
    assert!(matches!(ask(&mut n, now, addr(3), q), Body::Error(e) if e.code == krpc::ERROR_PROTOCOL));
    assert_eq!(n.status().stored_items, 0);

    assert_eq!(put(&mut n, now, addr(2), item(1, "one"), None), Ok(()));
    let r = get(&mut n, now, addr(4), target, None);
    let Item::Mutable(m) = item(1, "one") else { unreachable!() };
    assert_eq!((r.v, r.k, r.sig, r.seq), (Some(m.v.clone()), Some(m.k), Some(m.sig), Some(1)));
    // A querier that has seq 1 gets the number only.
    let r = get(&mut n, now, addr(4), target, Some(1));
    assert_eq!((r.v, r.k, r.sig, r.seq), (None, None, None, Some(1)));
    assert!(get(&mut n, now, addr(4), target, Some(0)).v.is_some());

    assert_eq!(put(&mut n, now, addr(2), item(0, "zero"), None), Err(krpc::ERROR_SEQ_TOO_LOW));
    assert_eq!(put(&mut n, now, addr(2), item(1, "other"), None), Err(krpc::ERROR_SEQ_TOO_LOW));
    assert_eq!(put(&mut n, now, addr(2), item(2, "two"), Some(0)), Err(krpc::ERROR_CAS_MISMATCH));
    assert_eq!(put(&mut n, now, addr(5), item(2, "two"), Some(1)), Ok(()));
    assert_eq!(get(&mut n, now, addr(4), target, None).seq, Some(2));

    // Forged and oversized items.
    let mut forged = m.clone();
    forged.seq = 9;
    assert_eq!(put(&mut n, now, addr(2), Item::Mutable(forged), None), Err(krpc::ERROR_INVALID_SIGNATURE));
    let mut salty = m.clone();
    salty.salt = vec![0; 65];
    assert_eq!(put(&mut n, now, addr(2), Item::Mutable(salty), None), Err(krpc::ERROR_SALT_TOO_BIG));
    let big = format!("997:{}", "x".repeat(997)).into_bytes();
    assert_eq!(put(&mut n, now, addr(2), Item::Immutable(big), None), Err(krpc::ERROR_MESSAGE_TOO_BIG));
    // Unsorted keys (sent raw: our encoder would sort them).
    let token = get(&mut n, now, addr(2), target, None).token.unwrap();
    let mut raw = b"d1:ad2:id20:bbbbbbbbbbbbbbbbbbbb5:token".to_vec();
    raw.extend_from_slice(format!("{}:", token.len()).as_bytes());
    raw.extend_from_slice(&token);
    raw.extend_from_slice(b"1:vd1:bi1e1:ai1eee1:q3:put1:t2:qq1:y1:qe");
    n.handle_datagram(now, addr(2), &raw);
    let reply = decode(&n.poll_transmit().unwrap().1).unwrap();
    assert!(matches!(reply.body, Body::Error(e) if e.code == krpc::ERROR_PROTOCOL), "not canonical");
    while n.poll_transmit().is_some() {}
    assert_eq!(n.status().stored_items, 1);

    // Expiry: gone 2 hours after the last put.
    let later = now + Duration::from_secs(2 * 3600);
    n.handle_timeout(later);
    assert_eq!(n.status().stored_items, 0);
    assert!(get(&mut n, later, addr(4), target, None).v.is_none());
}

#[test]
fn immutable_items_round_trip() {
    let now = Instant::now();
    let mut n = node(now);
    let v = b"d2:ih20:aaaaaaaaaaaaaaaaaaaae".to_vec();
    assert_eq!(put(&mut n, now, addr(2), Item::Immutable(v.clone()), None), Ok(()));
    let r = get(&mut n, now, addr(3), immutable_target(&v), None);
    assert_eq!((r.v, r.k, r.seq), (Some(v), None, None));
}

#[test]
fn a_lookup_keeps_only_checked_items() {
    let key = SigningKey::from_seed(&[4; 32]);
    let other = SigningKey::from_seed(&[5; 32]);
    let signed = |k: &SigningKey, seq: i64| k.sign_item(b"", seq, b"4:spam".to_vec()).unwrap();
    let response = |m: &MutableItem| Response {
        v: Some(m.v.clone()),
        k: Some(m.k),
        sig: Some(m.sig),
        seq: Some(m.seq),
        ..Response::default()
    };
    let target = mutable_target(&key.public_key(), b"");
    let mut l = ItemLookup {
        target,
        wanted: Wanted::Mutable { k: key.public_key(), salt: Vec::new() },
        best: None,
        put: None,
    };
    l.offer(&response(&signed(&other, 9)));
    assert_eq!(l.best, None, "another key");
    let mut forged = signed(&key, 9);
    forged.v = b"4:eggs".to_vec();
    l.offer(&response(&forged));
    assert_eq!(l.best, None, "bad signature");
    l.offer(&response(&signed(&key, 3)));
    l.offer(&response(&signed(&key, 2)));
    assert_eq!(l.best, Some(Item::Mutable(signed(&key, 3))), "the highest seq");
    l.offer(&response(&signed(&key, 4)));
    assert_eq!(l.best, Some(Item::Mutable(signed(&key, 4))));

    let v = b"3:abc".to_vec();
    let mut l = ItemLookup { target: immutable_target(&v), wanted: Wanted::Immutable, best: None, put: None };
    l.offer(&Response { v: Some(b"3:abd".to_vec()), ..Response::default() });
    assert_eq!(l.best, None, "not the target's value");
    l.offer(&Response { v: Some(v.clone()), ..Response::default() });
    assert_eq!(l.best, Some(Item::Immutable(v)));
}

#[test]
fn invalid_items_are_not_put() {
    let now = Instant::now();
    let mut n = node(now);
    assert_eq!(n.put_item(now, Item::Immutable(b"x".to_vec()), None), Err(ItemError::NotCanonical));
    let mut m = SigningKey::from_seed(&[1; 32]).sign_item(b"", 1, b"i1e".to_vec()).unwrap();
    m.seq = 2;
    assert_eq!(n.put_item(now, Item::Mutable(m), None), Err(ItemError::BadSignature));
    // A node that knows nobody finishes at once, having stored nothing.
    let item = Item::Immutable(b"i1e".to_vec());
    let lid = n.put_item(now, item.clone(), None).unwrap();
    let done = std::iter::from_fn(|| n.poll_event()).find(|e| matches!(e, DhtEvent::PutItemDone { .. }));
    assert_eq!(
        done,
        Some(DhtEvent::PutItemDone {
            lookup: lid,
            target: item.target(),
            stored: 0,
            refused: Vec::new(),
            asked: 0
        })
    );
}
