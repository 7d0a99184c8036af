use proptest::prelude::*;

use super::*;

const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

fn hash() -> InfoHash {
    HEX.parse().unwrap()
}

#[test]
fn hex_magnet_with_everything() {
    let m = Magnet::parse(
        "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=Ubuntu+22.04%20desktop\
         &tr=udp%3A%2F%2Ftracker.example.org%3A6969%2Fannounce&tr=http://t2.example/announce\
         &x.pe=10.0.0.1:6881&x.pe=[::1]:6881&ws=https%3A%2F%2Fseed.example%2Ff&so=0,2,4-6",
    )
    .unwrap();
    assert_eq!(m.info_hash, hash());
    assert_eq!(m.display_name.as_deref(), Some("Ubuntu 22.04 desktop"));
    assert_eq!(m.trackers, ["udp://tracker.example.org:6969/announce", "http://t2.example/announce"]);
    assert_eq!(m.peers, ["10.0.0.1:6881", "[::1]:6881"]);
    assert_eq!(m.web_seeds, ["https://seed.example/f"]);
    assert_eq!(m.select_only, Some(vec![0, 2, 4, 5, 6]));
}

#[test]
fn minimal_magnet() {
    let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}")).unwrap();
    assert_eq!(m, Magnet::new(hash()));
}

#[test]
fn upper_case_hex_and_scheme() {
    let m = Magnet::parse(&format!("MAGNET:?XT=URN:BTIH:{}", HEX.to_uppercase())).unwrap();
    assert_eq!(m.info_hash, hash());
}

#[test]
fn base32_info_hash_any_case() {
    let b32 = info_hash_base32(&hash());
    assert_eq!(b32.len(), 32);
    for form in [b32.clone(), b32.to_lowercase()] {
        let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{form}")).unwrap();
        assert_eq!(m.info_hash, hash());
    }
}

#[test]
fn base32_known_vector() {
    // RFC 4648 test vector "fooba" repeated four times = 20 bytes.
    let bytes: [u8; 20] = *b"foobafoobafoobafooba";
    assert_eq!(base32_encode(&bytes), "MZXW6YTBMZXW6YTBMZXW6YTBMZXW6YTB");
    assert_eq!(base32_decode("mzxw6ytbmzxw6ytbmzxw6ytbmzxw6ytb"), Some(bytes));
}

#[test]
fn params_in_any_order_numbered_keys_and_unknown_params() {
    let m = Magnet::parse(&format!(
        "magnet:?tr.1=http://a/announce&x.foo=bar&dn=n&xt.1=urn:btih:{HEX}&tr.2=http://b/announce\
         &kt=some+keywords&xl=12345&&novalue&x.pe.1=h:1"
    ))
    .unwrap();
    assert_eq!(m.info_hash, hash());
    assert_eq!(m.trackers, ["http://a/announce", "http://b/announce"]);
    assert_eq!(m.peers, ["h:1"]);
    assert_eq!(m.display_name.as_deref(), Some("n"));
}

#[test]
fn duplicate_trackers_are_dropped_in_order() {
    let m = Magnet::parse(&format!(
        "magnet:?xt=urn:btih:{HEX}&tr=http://b&tr=http://a&tr=http%3A%2F%2Fb&tr=http://c&tr="
    ))
    .unwrap();
    assert_eq!(m.trackers, ["http://b", "http://a", "http://c"]);
}

#[test]
fn plus_is_space_only_in_dn() {
    let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&dn=a+b%2Bc&tr=http://x/?a+b")).unwrap();
    assert_eq!(m.display_name.as_deref(), Some("a b+c"));
    assert_eq!(m.trackers, ["http://x/?a+b"]);
}

#[test]
fn utf8_display_name() {
    let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&dn=%C3%A9t%C3%A9")).unwrap();
    assert_eq!(m.display_name.as_deref(), Some("été"));
}

#[test]
fn hybrid_magnet_uses_btih() {
    let btmh = format!("1220{}", "ab".repeat(32));
    let m = Magnet::parse(&format!("magnet:?xt=urn:btmh:{btmh}&xt=urn:btih:{HEX}&dn=x")).unwrap();
    assert_eq!(m.info_hash, hash());
}

#[test]
fn v2_only_magnet_is_refused_with_a_clear_message() {
    let err = Magnet::parse(&format!("magnet:?xt=urn:btmh:1220{}", "ab".repeat(32))).unwrap_err();
    assert_eq!(err, MagnetError::V2Unsupported);
    assert_eq!(err.to_string(), "v2-only magnets are not supported yet");
}

#[test]
fn other_urns_are_ignored() {
    let m = Magnet::parse(&format!("magnet:?xt=urn:ed2k:31D6CFE0D16AE931&xt=urn:btih:{HEX}")).unwrap();
    assert_eq!(m.info_hash, hash());
    assert_eq!(
        Magnet::parse("magnet:?xt=urn:sha1:YNCKHTQCWBTRNJIV4WNAE52SJUQCZO5C"),
        Err(MagnetError::MissingInfoHash)
    );
}

#[test]
fn select_only_forms() {
    let so = |v: &str| Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&so={v}")).map(|m| m.select_only);
    assert_eq!(so("3"), Ok(Some(vec![3])));
    assert_eq!(so("5-5"), Ok(Some(vec![5])));
    assert_eq!(so("6,1-3,2"), Ok(Some(vec![1, 2, 3, 6])));
    assert_eq!(so("4294967295"), Ok(Some(vec![u32::MAX])));
    // Two `so` params merge.
    let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&so=1&so.1=0")).unwrap();
    assert_eq!(m.select_only, Some(vec![0, 1]));
}

#[test]
fn malformed_select_only() {
    for bad in [
        "",
        ",",
        "1,",
        "a",
        "-1",
        "1-",
        "-",
        "6-4",
        "1--2",
        " 1",
        "+1",
        "4294967296",
        "1-2-3",
        "0-4294967295",
    ] {
        let uri = format!("magnet:?xt=urn:btih:{HEX}&so={bad}");
        assert_eq!(
            Magnet::parse(&uri),
            Err(MagnetError::InvalidSelectOnly { value: bad.to_owned() }),
            "so={bad:?}"
        );
    }
}

#[test]
fn not_a_magnet() {
    for bad in ["", "magnet:", "magnet:xt=urn:btih:x", "http://example.com/?xt=urn:btih:", "magnét:?", "é"]
    {
        assert_eq!(Magnet::parse(bad), Err(MagnetError::NotAMagnet), "{bad:?}");
    }
}

#[test]
fn missing_info_hash() {
    for bad in ["magnet:?", "magnet:?dn=x&tr=http://t", "magnet:?xt=", "magnet:?xt=urn:btih"] {
        assert_eq!(Magnet::parse(bad), Err(MagnetError::MissingInfoHash), "{bad:?}");
    }
}

#[test]
fn invalid_info_hashes() {
    for bad in [
        "",
        "abc",
        &HEX[..39],
        &format!("{HEX}0"),
        &format!("{}g", &HEX[..39]),
        "0123456789abcdefghijklmnopqrstuv", // 32 chars, but '0', '1', '8', '9' are not base32
        "ééééééééééééééééééééé",
    ] {
        let err = Magnet::parse(&format!("magnet:?xt=urn:btih:{bad}")).unwrap_err();
        assert_eq!(err, MagnetError::InvalidInfoHash { value: bad.to_owned() }, "{bad:?}");
    }
}

#[test]
fn bad_percent_encoding_names_the_param() {
    for (uri_tail, param) in [
        ("&dn=%", "dn"),
        ("&dn=%4", "dn"),
        ("&tr.3=%zz", "tr.3"),
        ("&ws=%FF", "ws"),
        ("&x.pe=%C3%28", "x.pe"),
        ("&so=%", "so"),
    ] {
        let err = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}{uri_tail}")).unwrap_err();
        assert_eq!(err, MagnetError::BadPercentEncoding { param: param.to_owned() });
    }
    // A bad escape in an unknown parameter is not our problem.
    assert!(Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&kt=%zz")).is_ok());
}

#[test]
fn long_bad_values_are_shortened_in_errors() {
    let long = "x".repeat(10_000);
    let err = Magnet::parse(&format!("magnet:?xt=urn:btih:{long}")).unwrap_err();
    assert!(err.to_string().len() < 300);
}

#[test]
fn fragment_is_not_part_of_the_last_value() {
    let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&dn=a#frag")).unwrap();
    assert_eq!(m.display_name.as_deref(), Some("a"));
}

#[test]
fn to_uri_golden() {
    let m = Magnet {
        info_hash: hash(),
        display_name: Some("a b&c+d/é".into()),
        trackers: vec!["udp://t.example:6969/announce?x=1&y=2".into()],
        peers: vec!["[::1]:6881".into()],
        web_seeds: vec!["https://s.example/f".into()],
        select_only: Some(vec![6, 0, 2, 4, 5]),
    };
    assert_eq!(
        m.to_uri(),
        format!(
            "magnet:?xt=urn:btih:{HEX}&dn=a%20b%26c%2Bd/%C3%A9\
             &tr=udp://t.example:6969/announce%3Fx%3D1%26y%3D2&ws=https://s.example/f\
             &x.pe=%5B::1%5D:6881&so=0,2,4-6"
        )
    );
    assert_eq!(Magnet::parse(&m.to_uri()).unwrap(), Magnet { select_only: Some(vec![0, 2, 4, 5, 6]), ..m });
}

#[test]
fn format_select_only_ranges() {
    assert_eq!(format_select_only(&[]), "");
    assert_eq!(format_select_only(&[u32::MAX - 1, u32::MAX, 0]), "0,4294967294-4294967295");
    assert_eq!(format_select_only(&[1, 1, 2, 4]), "1-2,4");
}

fn arb_magnet() -> impl Strategy<Value = Magnet> {
    let text = "[^\u{0}]{1,20}";
    (
        any::<[u8; 20]>(),
        proptest::option::of("[^\u{0}]{0,20}"),
        proptest::collection::vec(text, 0..4),
        proptest::collection::vec(text, 0..4),
        proptest::collection::vec(text, 0..4),
        proptest::option::of(proptest::collection::btree_set(any::<u32>(), 1..10)),
    )
        .prop_map(|(hash, display_name, trackers, peers, web_seeds, so)| {
            let dedup = |v: Vec<String>| {
                let mut out = Vec::new();
                for s in v {
                    push_unique(&mut out, s);
                }
                out
            };
            Magnet {
                info_hash: InfoHash(hash),
                display_name,
                trackers: dedup(trackers),
                peers: dedup(peers),
                web_seeds: dedup(web_seeds),
                select_only: so.map(|s| s.into_iter().collect()),
            }
        })
}

proptest! {
    #[test]
    fn to_uri_round_trips(m in arb_magnet()) {
        prop_assert_eq!(Magnet::parse(&m.to_uri()), Ok(m));
    }

    #[test]
    fn random_strings_never_panic(s in "\\PC{0,200}") {
        let _ = Magnet::parse(&s);
        let _ = Magnet::parse(&format!("magnet:?{s}"));
        let _ = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&{s}"));
    }

    #[test]
    fn random_query_alphabet_never_panics(s in "[a-z0-9.:%+=&,\\-]{0,200}") {
        let _ = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&{s}"));
        let _ = Magnet::parse(&format!("magnet:?{s}"));
    }
}
