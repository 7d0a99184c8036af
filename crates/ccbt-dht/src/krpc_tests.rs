use proptest::prelude::*;

use super::*;

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
                token
            })),
        (200i64..300, "[a-z ]{0,20}").prop_map(|(code, message)| Body::Error(ErrorReply { code, message })),
    ]
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
