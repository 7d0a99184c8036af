use proptest::prelude::*;

use super::*;
use crate::item::MutableItem;

fn id(s: &[u8; 20]) -> NodeId {
    NodeId(*s)
}

fn msg(body: Body) -> Message {
    Message { tid: b"aa".to_vec(), version: None, read_only: false, body }
}

/// The examples of BEP 5, byte for byte, both ways.
fn golden() -> Vec<(&'static [u8], Message)> {
    let a = id(b"abcdefghij0123456789");
    let m = id(b"mnopqrstuvwxyz123456");
    vec![
        (&b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"[..], msg(Body::Query(Query::Ping { id: a }))),
        (
            b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
            msg(Body::Response(Response { id: m, ..Response::default() })),
        ),
        (
            b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe",
            msg(Body::Query(Query::FindNode { id: a, target: m })),
        ),
        (
            b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe",
            msg(Body::Query(Query::GetPeers { id: a, info_hash: InfoHash(m.0) })),
        ),
        (
            b"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
            msg(Body::Response(Response {
                id: a,
                nodes: vec![],
                values: vec![
                    decode_peer(b"axje.u"),
                    SocketAddrV4::new(Ipv4Addr::new(b'i', b'd', b'h', b't'), u16::from_be_bytes([b'n', b'm'])),
                ],
                token: Some(b"aoeusnth".to_vec()),
                ..Response::default()
            })),
        ),
        (
            b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
            msg(Body::Query(Query::AnnouncePeer {
                id: a,
                info_hash: InfoHash(m.0),
                port: 6881,
                implied_port: true,
                token: b"aoeusnth".to_vec(),
            })),
        ),
        (
            b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
            msg(Body::Error(ErrorReply { code: 201, message: "A Generic Error Ocurred".into() })),
        ),
    ]
}

#[test]
fn bep5_examples_decode_and_encode() {
    for (bytes, want) in golden() {
        assert_eq!(decode(bytes).unwrap(), want, "{}", String::from_utf8_lossy(bytes));
        assert_eq!(want.encode(), bytes);
    }
}

#[test]
fn find_node_response_with_nodes() {
    let n = CompactNode { id: NodeId([7; 20]), addr: "1.2.3.4:6881".parse().unwrap() };
    let mut want = b"d1:rd2:id20:0123456789abcdefghij5:nodes26:".to_vec();
    want.extend_from_slice(&[7; 20]);
    want.extend_from_slice(&[1, 2, 3, 4, 0x1a, 0xe1]);
    want.extend_from_slice(b"e1:t2:aa1:y1:re");
    let m = msg(Body::Response(Response {
        id: id(b"0123456789abcdefghij"),
        nodes: vec![n],
        ..Default::default()
    }));
    assert_eq!(m.encode(), want);
    assert_eq!(decode(&want).unwrap(), m);
}

#[test]
fn unknown_keys_are_ignored_and_version_kept() {
    let d = b"d1:ad2:id20:abcdefghij01234567895:extrai3ee1:q4:ping1:t1:x1:v4:LT012:ipl1:ze1:y1:qe";
    let m = decode(d).unwrap();
    assert_eq!(m.version.as_deref(), Some(&b"LT01"[..]));
    assert!(matches!(m.body, Body::Query(Query::Ping { .. })));
}

#[test]
fn ipv6_values_are_skipped() {
    let mut d = b"d1:rd2:id20:abcdefghij01234567896:valuesl18:".to_vec();
    d.extend_from_slice(&[1; 18]);
    d.extend_from_slice(b"6:axje.uee1:t2:aa1:y1:re");
    let Body::Response(r) = decode(&d).unwrap().body else { panic!("not a response") };
    assert_eq!(r.values, vec![decode_peer(b"axje.u")]);
}

#[test]
fn errors_name_the_problem() {
    let cases: Vec<(&[u8], KrpcError)> = vec![
        (b"le", KrpcError::NotADict { key: "message" }),
        (b"d1:y1:qe", KrpcError::MissingKey { key: "t" }),
        (b"d1:ti1e1:y1:qe", KrpcError::WrongType { key: "t", expected: "byte string", found: "integer" }),
        (b"d1:t2:aa1:y1:ze", KrpcError::UnknownType { kind: "z".into() }),
        (b"d1:ad2:id2:xxe1:q4:ping1:t2:aa1:y1:qe", KrpcError::WrongLength { key: "id", expected: 20, got: 2 }),
        (
            b"d1:ad2:id20:abcdefghij0123456789e1:q4:fly!1:t2:aa1:y1:qe",
            KrpcError::UnknownMethod { method: "fly!".into() },
        ),
        (b"d1:ad2:id20:abcdefghij0123456789e1:q9:find_node1:t2:aa1:y1:qe", KrpcError::MissingKey { key: "target" }),
        (
            b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti0e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe",
            KrpcError::InvalidPort { port: 0 },
        ),
        (
            b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti70000e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe",
            KrpcError::InvalidPort { port: 70000 },
        ),
        (b"d1:rd2:id20:abcdefghij01234567895:nodes3:abce1:t2:aa1:y1:re", KrpcError::WrongLength {
            key: "nodes",
            expected: 26,
            got: 3,
        }),
        (b"d1:rd2:id20:abcdefghij01234567896:valuesl1:xee1:t2:aa1:y1:re", KrpcError::WrongLength {
            key: "values",
            expected: 6,
            got: 1,
        }),
        (b"d1:el1:xe1:t2:aa1:y1:ee", KrpcError::MalformedError),
    ];
    for (bytes, want) in cases {
        assert_eq!(decode(bytes), Err(want), "{}", String::from_utf8_lossy(bytes));
    }
    assert!(matches!(decode(b"d1:t"), Err(KrpcError::Bencode { .. })));
}

#[test]
fn announce_with_implied_port_may_omit_port() {
    let d = b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234565:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe";
    let Body::Query(Query::AnnouncePeer { port, implied_port, .. }) = decode(d).unwrap().body else {
        panic!("not an announce")
    };
    assert_eq!((port, implied_port), (0, true));
    let no_port = b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234565:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe";
    assert_eq!(decode(no_port), Err(KrpcError::MissingKey { key: "port" }));
}

#[test]
fn query_tid_only_for_queries() {
    assert_eq!(query_tid(b"d1:q4:ping1:t2:ab1:y1:qe"), Some(b"ab".to_vec()));
    assert_eq!(query_tid(b"d1:t2:ab1:y1:re"), None);
    assert_eq!(query_tid(b"d1:t2:ab1:y1:q"), None);
    assert_eq!(query_tid(b"garbage"), None);
}

#[test]
fn every_truncation_is_an_error_never_a_panic() {
    for (bytes, _) in golden() {
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "prefix {cut} of {}", String::from_utf8_lossy(bytes));
            let _ = query_tid(&bytes[..cut]);
        }
    }
}

fn arb_id() -> impl Strategy<Value = NodeId> {
    any::<[u8; 20]>().prop_map(NodeId)
}

fn arb_v4() -> impl Strategy<Value = SocketAddrV4> {
    (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV4::new(ip.into(), port))
}

fn arb_body() -> impl Strategy<Value = Body> {
    let tok = proptest::collection::vec(any::<u8>(), 0..MAX_TOKEN_LEN);
    prop_oneof![
        arb_id().prop_map(|id| Body::Query(Query::Ping { id })),
        (arb_id(), arb_id()).prop_map(|(id, target)| Body::Query(Query::FindNode { id, target })),
        (arb_id(), arb_id())
            .prop_map(|(id, h)| Body::Query(Query::GetPeers { id, info_hash: InfoHash::from(h) })),
        (arb_id(), arb_id(), 1u16.., any::<bool>(), tok.clone()).prop_map(
            |(id, h, port, implied_port, token)| {
                Body::Query(Query::AnnouncePeer { id, info_hash: h.into(), port, implied_port, token })
            }
        ),
        (
            arb_id(),
            proptest::collection::vec(
                (arb_id(), arb_v4()).prop_map(|(id, addr)| CompactNode { id, addr }),
                0..8
            ),
            proptest::collection::vec(arb_v4(), 0..8),
            proptest::option::of(tok)
        )
            .prop_map(|(id, nodes, values, token)| Body::Response(Response {
                id,
                nodes,
                values,
                token,
                ..Response::default()
            })),
        (200i64..300, "[a-z ]{0,20}").prop_map(|(code, message)| Body::Error(ErrorReply { code, message })),
        (arb_id(), arb_id(), proptest::option::of(any::<i64>()))
            .prop_map(|(id, target, seq)| Body::Query(Query::Get { id, target, seq })),
        (arb_id(), arb_item(), proptest::option::of(any::<i64>()), tok2()).prop_map(
            |(id, item, cas, token)| {
                let cas = if matches!(item, Item::Mutable(_)) { cas } else { None };
                Body::Query(Query::Put { id, token, item, cas })
            }
        ),
        (arb_id(), arb_item(), any::<bool>()).prop_map(|(id, item, with_item)| {
            let mut r = Response { id, token: Some(vec![1, 2]), ..Response::default() };
            match item {
                Item::Immutable(v) => r.v = Some(v),
                Item::Mutable(m) => {
                    r.seq = Some(m.seq);
                    if with_item {
                        (r.v, r.k, r.sig) = (Some(m.v), Some(m.k), Some(m.sig));
                    }
                }
            }
            Body::Response(r)
        }),
    ]
}

fn tok2() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..MAX_TOKEN_LEN)
}

/// Items as they travel: any canonical value, any key, salt, seq and signature (checking
/// them is the storing node's job, not the codec's).
fn arb_item() -> impl Strategy<Value = Item> {
    let value = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..50).prop_map(|b| OwnedValue::Bytes(b).to_bytes()),
        any::<i64>().prop_map(|n| OwnedValue::Int(n).to_bytes()),
        any::<[u8; 20]>()
            .prop_map(|ih| OwnedValue::dict().with("ih", ih.to_vec()).with("x", 1i64).to_bytes()),
    ];
    prop_oneof![
        value.clone().prop_map(Item::Immutable),
        (
            value,
            any::<[u8; 32]>(),
            proptest::collection::vec(any::<u8>(), 0..80),
            any::<i64>(),
            proptest::collection::vec(any::<u8>(), 64)
        )
            .prop_map(|(v, k, salt, seq, sig)| Item::Mutable(MutableItem {
                k,
                salt,
                seq,
                v,
                sig: sig.try_into().unwrap()
            })),
    ]
}

/// A `put` query with `extra` arguments besides `id` (`cas`, the one key sorting before
/// `id`, is put first).
fn put_args(extra: &str) -> Vec<u8> {
    let (cas, rest) = match extra.strip_prefix("3:casi3e") {
        Some(rest) => ("3:casi3e", rest),
        None => ("", extra),
    };
    let mut a = format!("d1:ad{cas}2:id20:abcdefghij0123456789").into_bytes();
    a.extend_from_slice(rest.as_bytes());
    a.extend_from_slice(b"e1:q3:put1:t2:aa1:y1:qe");
    a
}

#[test]
fn bep44_get_and_put_golden() {
    let id = NodeId(*b"abcdefghij0123456789");
    let target = NodeId(*b"mnopqrstuvwxyz123456");
    let get =
        b"d1:ad2:id20:abcdefghij01234567893:seqi4e6:target20:mnopqrstuvwxyz123456e1:q3:get1:t2:aa1:y1:qe";
    let m = msg(Body::Query(Query::Get { id, target, seq: Some(4) }));
    assert_eq!(decode(get).unwrap(), m);
    assert_eq!(m.encode(), get.to_vec());

    let k = [b'k'; 32];
    let sig = [b's'; 64];
    let put = format!(
        "3:casi3e1:k32:{}4:salt6:foobar3:seqi4e3:sig64:{}5:token4:tokn1:v12:Hello World!",
        "k".repeat(32),
        "s".repeat(64)
    );
    let item = MutableItem { k, salt: b"foobar".to_vec(), seq: 4, v: b"12:Hello World!".to_vec(), sig };
    let m =
        msg(Body::Query(Query::Put { id, token: b"tokn".to_vec(), item: Item::Mutable(item), cas: Some(3) }));
    assert_eq!(decode(&put_args(&put)).unwrap(), m);
    assert_eq!(m.encode(), put_args(&put));

    let put = "5:token4:tokn1:vd2:ih3:abce";
    let m = msg(Body::Query(Query::Put {
        id,
        token: b"tokn".to_vec(),
        item: Item::Immutable(b"d2:ih3:abce".to_vec()),
        cas: None,
    }));
    assert_eq!(decode(&put_args(put)).unwrap(), m);
    assert_eq!(m.encode(), put_args(put));

    let resp = format!(
        "d1:rd2:id20:abcdefghij01234567891:k32:{}3:seqi9e3:sig64:{}5:token2:tk1:vli1ei2eee1:t2:aa1:y1:re",
        "k".repeat(32),
        "s".repeat(64)
    );
    let r = decode(resp.as_bytes()).unwrap();
    let Body::Response(r) = r.body else { panic!("{r:?}") };
    assert_eq!((r.v.as_deref(), r.k, r.sig, r.seq), (Some(&b"li1ei2ee"[..]), Some(k), Some(sig), Some(9)));
    assert_eq!(r.token.as_deref(), Some(&b"tk"[..]));
}

#[test]
fn bep44_values_keep_their_bytes() {
    // Unsorted keys are kept as received: the signature covers these bytes, and a node that
    // stores the value checks they are canonical.
    let put = put_args("5:token1:x1:vd1:bi1e1:ai2ee");
    let Body::Query(Query::Put { item, .. }) = decode(&put).unwrap().body else { panic!() };
    assert_eq!(item, Item::Immutable(b"d1:bi1e1:ai2ee".to_vec()));
}

#[test]
fn bep44_hostile_inputs_name_the_fault() {
    let k = "k".repeat(32);
    let sig = "s".repeat(64);
    let cases: Vec<(String, KrpcError)> = vec![
        ("5:token1:x".into(), KrpcError::MissingKey { key: "v" }),
        ("1:v1:x".into(), KrpcError::MissingKey { key: "token" }),
        (
            format!("5:token{}:{}1:vi1e", 65, "t".repeat(65)),
            KrpcError::WrongLength { key: "token", expected: 64, got: 65 },
        ),
        ("1:k3:abc5:token1:x1:vi1e".into(), KrpcError::WrongLength { key: "k", expected: 32, got: 3 }),
        (format!("1:k32:{k}5:token1:x1:vi1e"), KrpcError::MissingKey { key: "sig" }),
        (
            format!("1:k32:{k}3:sig3:abc5:token1:x1:vi1e"),
            KrpcError::WrongLength { key: "sig", expected: 64, got: 3 },
        ),
        (format!("1:k32:{k}3:sig64:{sig}5:token1:x1:vi1e"), KrpcError::MissingKey { key: "seq" }),
        (
            format!("1:k32:{k}3:seq1:13:sig64:{sig}5:token1:x1:vi1e"),
            KrpcError::WrongType { key: "seq", expected: "integer", found: "byte string" },
        ),
        (
            format!("1:k32:{k}4:salti1e3:seqi1e3:sig64:{sig}5:token1:x1:vi1e"),
            KrpcError::WrongType { key: "salt", expected: "byte string", found: "integer" },
        ),
    ];
    for (args, want) in cases {
        assert_eq!(decode(&put_args(&args)), Err(want), "{args}");
    }
    let get = b"d1:ad2:id20:abcdefghij01234567896:target3:abce1:q3:get1:t2:aa1:y1:qe";
    assert_eq!(decode(get), Err(KrpcError::WrongLength { key: "target", expected: 20, got: 3 }));
    let resp = b"d1:rd2:id20:abcdefghij01234567893:seq1:xe1:t2:aa1:y1:re";
    assert!(decode(resp).is_err());
    let resp = b"d1:rd2:id20:abcdefghij01234567891:k2:abe1:t2:aa1:y1:re";
    assert_eq!(decode(resp), Err(KrpcError::WrongLength { key: "k", expected: 32, got: 2 }));
}

proptest! {
    #[test]
    fn round_trip(
        tid in proptest::collection::vec(any::<u8>(), 0..MAX_TID_LEN),
        version in proptest::option::of(proptest::collection::vec(any::<u8>(), 4)),
        read_only in any::<bool>(),
        body in arb_body(),
    ) {
        let m = Message { tid, version, read_only, body };
        let bytes = m.encode();
        prop_assert_eq!(decode(&bytes).unwrap(), m);
        for cut in 0..bytes.len() {
            prop_assert!(decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(&data);
        let _ = query_tid(&data);
    }
}
