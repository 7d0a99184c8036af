use super::*;
use proptest::prelude::*;

fn v4(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// What opentracker answers to a compact announce (its exact key order and layout).
const OPENTRACKER_COMPACT: &[u8] = b"d8:completei1e10:downloadedi0e10:incompletei2e8:intervali1800e\
12:min intervali900e5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x50e";

#[test]
fn opentracker_compact_answer() {
    let r = parse_announce(OPENTRACKER_COMPACT).unwrap();
    assert_eq!(r.interval, Duration::from_secs(1800));
    assert_eq!(r.min_interval, Some(Duration::from_secs(900)));
    assert_eq!(r.complete, Some(1));
    assert_eq!(r.incomplete, Some(2));
    assert_eq!(r.peers, vec![v4("127.0.0.1:6881"), v4("10.0.0.2:80")]);
    assert_eq!(r.warning, None);
    assert_eq!(r.tracker_id, None);
}

#[test]
fn opentracker_ipv6_answer() {
    let mut body = b"d8:completei0e10:incompletei1e8:intervali1800e5:peers0:6:peers618:".to_vec();
    body.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1a, 0xe1]);
    body.push(b'e');
    let r = parse_announce(&body).unwrap();
    assert_eq!(r.peers, vec!["[2001:db8::1]:6881".parse::<SocketAddr>().unwrap()]);
}

#[test]
fn dictionary_peers() {
    let body = b"d8:intervali900e5:peersld2:ip9:127.0.0.17:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti6881eed2:ip3:::14:porti7000eed2:ip11:example.org4:porti1eed2:ip8:10.0.0.14:porti0eed2:ip8:10.0.0.14:porti70000eed2:ip8:10.0.0.1eee";
    let r = parse_announce(body).unwrap();
    assert_eq!(r.peers, vec![v4("127.0.0.1:6881"), "[::1]:7000".parse().unwrap()]);
}

#[test]
fn failure_reason_is_an_error_whatever_else_is_there() {
    assert_eq!(
        parse_announce(b"d14:failure reason17:torrent not founde"),
        Err(TrackerError::Failure("torrent not found".to_owned()))
    );
    assert_eq!(
        parse_announce(b"d14:failure reasoni3e8:intervali5ee"),
        Err(TrackerError::Failure("(not a string)".to_owned()))
    );
    assert_eq!(
        parse_scrape(b"d14:failure reason4:nopee", &InfoHash([0; 20])),
        Err(TrackerError::Failure("nope".to_owned()))
    );
}

#[test]
fn warning_and_tracker_id_surface() {
    let body = b"d8:intervali10e10:tracker id3:xyz15:warning message11:slow down!!5:peers0:e";
    let r = parse_announce(body).unwrap();
    assert_eq!(r.warning.as_deref(), Some("slow down!!"));
    assert_eq!(r.tracker_id.as_deref(), Some(&b"xyz"[..]));
    // 10 s is below the floor.
    assert_eq!(r.interval, MIN_INTERVAL);
    assert!(r.peers.is_empty());
}

#[test]
fn intervals_are_clamped() {
    let r = parse_announce(b"d8:intervali99999999e12:min intervali-5ee").unwrap();
    assert_eq!(r.interval, MAX_INTERVAL);
    assert_eq!(r.min_interval, Some(MIN_INTERVAL));
    let r = parse_announce(b"d8:intervali120e12:min intervali9999ee").unwrap();
    assert_eq!(r.min_interval, Some(Duration::from_secs(120)), "min interval never above interval");
    let r = parse_announce(b"d8:completei-4e10:incompletei99999999999e8:intervali60ee").unwrap();
    assert_eq!((r.complete, r.incomplete), (Some(0), Some(u32::MAX)));
}

fn invalid(body: &[u8]) -> String {
    match parse_announce(body) {
        Err(TrackerError::InvalidResponse(what)) => what,
        other => panic!("expected InvalidResponse for {body:?}, got {other:?}"),
    }
}

#[test]
fn malformed_bodies_are_named() {
    assert!(invalid(b"<html>502 Bad Gateway</html>").contains("not bencode"));
    assert!(invalid(b"").contains("not bencode"));
    assert!(invalid(b"d8:intervali60e").contains("not bencode"));
    assert!(invalid(b"l8:intervale").contains("list, not a dictionary"));
    assert!(invalid(b"d5:peers0:e").contains("interval is missing"));
    assert!(invalid(b"d8:interval2:60e").contains("interval is a byte string"));
    assert!(invalid(b"d8:intervali60e5:peersi3ee").contains("peers is a integer"));
    assert!(invalid(b"d8:intervali60e5:peers7:abcdefge").contains("not a multiple of 6"));
    assert!(invalid(b"d8:intervali60e6:peers65:abcdee").contains("not a multiple of 18"));
    assert!(invalid(b"d8:intervali60e6:peers6lee").contains("peers6 is a list"));
    assert!(invalid(b"d8:completele8:intervali60ee").contains("complete is a list"));
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    for cut in 0..OPENTRACKER_COMPACT.len() {
        assert!(parse_announce(&OPENTRACKER_COMPACT[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn huge_peer_lists_are_capped() {
    let n = MAX_PEERS + 500;
    let mut body = format!("d8:intervali60e5:peers{}:", n * 6).into_bytes();
    for i in 0..n {
        body.extend_from_slice(&[10, 0, (i >> 8) as u8, i as u8, 0, 1]);
    }
    body.extend_from_slice(b"6:peers618:");
    body.extend_from_slice(&[0; 15]);
    body.extend_from_slice(&[1, 0, 1]);
    body.push(b'e');
    let r = parse_announce(&body).unwrap();
    assert_eq!(r.peers.len(), MAX_PEERS);

    let mut list = String::from("d8:intervali60e5:peersl");
    for _ in 0..n {
        list.push_str("d2:ip7:1.2.3.44:porti1ee");
    }
    list.push_str("ee");
    assert_eq!(parse_announce(list.as_bytes()).unwrap().peers.len(), MAX_PEERS);
}

#[test]
fn scrape_answers() {
    let hash = InfoHash([0xab; 20]);
    let mut body = b"d5:filesd20:".to_vec();
    body.extend_from_slice(&[0xab; 20]);
    body.extend_from_slice(b"d8:completei5e10:downloadedi50e10:incompletei10eeee");
    assert_eq!(parse_scrape(&body, &hash), Ok(ScrapeStats { complete: 5, incomplete: 10, downloaded: 50 }));

    let other = InfoHash([1; 20]);
    assert!(
        matches!(parse_scrape(&body, &other), Err(TrackerError::InvalidResponse(w)) if w.contains("no entry"))
    );
    assert!(
        matches!(parse_scrape(b"de", &hash), Err(TrackerError::InvalidResponse(w)) if w.contains("files is missing"))
    );
    assert!(
        matches!(parse_scrape(b"d5:filesi1ee", &hash), Err(TrackerError::InvalidResponse(w)) if w.contains("files is a integer"))
    );
    let mut bad = b"d5:filesd20:".to_vec();
    bad.extend_from_slice(&[0xab; 20]);
    bad.extend_from_slice(b"i1eee");
    assert!(
        matches!(parse_scrape(&bad, &hash), Err(TrackerError::InvalidResponse(w)) if w.contains("entry is a"))
    );
    for cut in 0..body.len() {
        assert!(parse_scrape(&body[..cut], &hash).is_err());
    }
}

proptest! {
    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_announce(&body);
        let _ = parse_scrape(&body, &InfoHash([0; 20]));
    }

    #[test]
    fn compact_round_trip(peers in proptest::collection::vec((any::<[u8; 4]>(), 1u16..), 0..50)) {
        let mut bytes = Vec::new();
        for (ip, port) in &peers {
            bytes.extend_from_slice(ip);
            bytes.extend_from_slice(&port.to_be_bytes());
        }
        let mut out = Vec::new();
        compact_v4(&bytes, &mut out).unwrap();
        let want: Vec<SocketAddr> =
            peers.iter().map(|(ip, port)| SocketAddr::new(IpAddr::from(*ip), *port)).collect();
        prop_assert_eq!(out, want);
    }
}
