use proptest::prelude::*;

use super::*;
use crate::Torrent;

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

const V2_HEX: &str = "d8dd32ac93357c368556af3ac1d95c9d76bd0dff6fa9833ecdac3d53134efabb";

fn hash_v2() -> InfoHashV2 {
    V2_HEX.parse().unwrap()
}

#[test]
fn v2_only_magnet() {
    let m = Magnet::parse(&format!("magnet:?xt=urn:btmh:1220{V2_HEX}&dn=x")).unwrap();
    assert_eq!(m.info_hash_v2, Some(hash_v2()));
    // The wire id of a v2-only torrent is its truncated v2 hash; there is no v1 hash.
    assert_eq!(m.info_hash, hash_v2().truncated());
    assert_eq!(m.info_hash.to_hex(), &V2_HEX[..40]);
    assert_eq!(m.info_hash_v1(), None);
    assert_eq!(m.wire_ids(), [hash_v2().truncated()]);
    assert_eq!(m.display_name.as_deref(), Some("x"));
    assert_eq!(Magnet { display_name: None, ..m }, Magnet::new_v2(hash_v2()));
}

#[test]
fn hybrid_magnet_has_both_hashes_in_either_order() {
    for uri in [
        format!("magnet:?xt=urn:btmh:1220{V2_HEX}&xt=urn:btih:{HEX}&dn=x"),
        format!("magnet:?xt=urn:btih:{HEX}&dn=x&xt.2=urn:btmh:1220{V2_HEX}"),
    ] {
        let m = Magnet::parse(&uri).unwrap();
        assert_eq!(m.info_hash, hash(), "{uri}");
        assert_eq!(m.info_hash_v1(), Some(hash()));
        assert_eq!(m.info_hash_v2, Some(hash_v2()));
        assert_eq!(m.wire_ids(), [hash(), hash_v2().truncated()]);
        assert_eq!(Magnet { display_name: None, ..m }, Magnet::new_hybrid(hash(), hash_v2()));
    }
}

#[test]
fn v1_magnet_has_no_v2_hash() {
    let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}")).unwrap();
    assert_eq!(m.info_hash_v2, None);
    assert_eq!(m.info_hash_v1(), Some(hash()));
    assert_eq!(m.wire_ids(), [hash()]);
}

#[test]
fn btih_equal_to_the_truncated_btmh_is_not_a_v1_hash() {
    let m =
        Magnet::parse(&format!("magnet:?xt=urn:btih:{}&xt=urn:btmh:1220{V2_HEX}", &V2_HEX[..40])).unwrap();
    assert_eq!(m.info_hash_v1(), None);
    assert_eq!(m.wire_ids(), [hash_v2().truncated()]);
    assert_eq!(m.to_uri(), format!("magnet:?xt=urn:btmh:1220{V2_HEX}"));
}

#[test]
fn btmh_any_case() {
    for uri in [
        format!("MAGNET:?XT=URN:BTMH:1220{}", V2_HEX.to_uppercase()),
        format!("magnet:?xt=urn:BtMh:1220{}", V2_HEX.to_uppercase()),
        format!("magnet:?xt=Urn:btmh:1220{V2_HEX}"),
    ] {
        assert_eq!(Magnet::parse(&uri).unwrap().info_hash_v2, Some(hash_v2()), "{uri}");
    }
}

#[test]
fn the_first_btmh_wins() {
    let other = "ab".repeat(32);
    let m = Magnet::parse(&format!("magnet:?xt=urn:btmh:1220{V2_HEX}&xt=urn:btmh:1220{other}")).unwrap();
    assert_eq!(m.info_hash_v2, Some(hash_v2()));
}

#[test]
fn malformed_btmh_is_refused_with_the_reason() {
    for (bad, reason) in [
        ("", "truncated multihash function code"),
        ("12", "truncated multihash digest length"),
        ("122", "not hex"),
        (&format!("1220{}", &V2_HEX[..62]), "but 31 follow"),
        (&format!("1220{V2_HEX}00"), "but 33 follow"),
        (&format!("1220{}g", &V2_HEX[..63]), "not hex"),
        (&format!("1220{}é", &V2_HEX[..62]), "not hex"),
        ("ff", "truncated multihash function code"),
        // A varint longer than multiformats' 9 bytes.
        ("ffffffffffffffffff01", "truncated multihash function code"),
    ] {
        let err = Magnet::parse(&format!("magnet:?xt=urn:btmh:{bad}&xt=urn:btih:{HEX}")).unwrap_err();
        let MagnetError::InvalidV2InfoHash { value, reason: got } = &err else { panic!("{bad:?}: {err:?}") };
        assert_eq!(value, bad);
        assert!(got.contains(reason), "{bad:?}: {got}");
        assert!(err.to_string().starts_with("invalid v2 info hash"), "{err}");
    }
}

#[test]
fn other_multihash_functions_and_lengths_are_refused() {
    for (bad, code, length) in [
        // sha1 (0x11), 20 bytes: what a v1 hash would look like as a multihash.
        (format!("1114{HEX}"), 0x11, 20),
        // sha2-512 (0x13), 64 bytes.
        (format!("1340{V2_HEX}{V2_HEX}"), 0x13, 64),
        // sha2-256 truncated to 20 bytes.
        (format!("1214{HEX}"), 0x12, 20),
        // blake3 (0x1e).
        (format!("1e20{V2_HEX}"), 0x1e, 32),
        // A two-byte varint code: 0xb220 = blake2b-256.
        (format!("a0e40220{V2_HEX}"), 0xb220, 32),
    ] {
        let err = Magnet::parse(&format!("magnet:?xt=urn:btmh:{bad}")).unwrap_err();
        assert_eq!(err, MagnetError::UnsupportedMultihash { code, length }, "{bad}");
        assert!(err.to_string().contains("sha2-256"), "{err}");
    }
}

#[test]
fn long_bad_btmh_is_shortened_in_errors() {
    let err = Magnet::parse(&format!("magnet:?xt=urn:btmh:1220{}", "a".repeat(10_000))).unwrap_err();
    assert!(err.to_string().len() < 300, "{err}");
}

#[test]
fn to_uri_writes_every_hash() {
    assert_eq!(Magnet::new_v2(hash_v2()).to_uri(), format!("magnet:?xt=urn:btmh:1220{V2_HEX}"));
    let hybrid = Magnet { display_name: Some("x".into()), ..Magnet::new_hybrid(hash(), hash_v2()) };
    assert_eq!(hybrid.to_uri(), format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btmh:1220{V2_HEX}&dn=x"));
    assert_eq!(Magnet::parse(&hybrid.to_uri()), Ok(hybrid));
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
        info_hash_v2: None,
        display_name: Some("a b&c+d/é".into()),
        trackers: vec!["udp://t.example:6969/announce?x=1&y=2".into()],
        peers: vec!["[::1]:6881".into()],
        web_seeds: vec!["https://s.example/f".into()],
        select_only: Some(vec![6, 0, 2, 4, 5]),
        any_version: false,
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
        proptest::option::of(any::<[u8; 32]>()),
        any::<bool>(),
        proptest::option::of("[^\u{0}]{0,20}"),
        proptest::collection::vec(text, 0..4),
        proptest::collection::vec(text, 0..4),
        proptest::collection::vec(text, 0..4),
        proptest::option::of(proptest::collection::btree_set(any::<u32>(), 1..10)),
    )
        .prop_map(|(hash, v2, with_v1, display_name, trackers, peers, web_seeds, so)| {
            let dedup = |v: Vec<String>| {
                let mut out = Vec::new();
                for s in v {
                    push_unique(&mut out, s);
                }
                out
            };
            // v1 only, v2 only (the wire id is then the truncated v2 hash) or hybrid.
            let v2 = v2.map(InfoHashV2);
            let info_hash = match v2 {
                Some(v2) if !with_v1 => v2.truncated(),
                _ => InfoHash(hash),
            };
            Magnet {
                info_hash,
                info_hash_v2: v2,
                display_name,
                trackers: dedup(trackers),
                peers: dedup(peers),
                web_seeds: dedup(web_seeds),
                select_only: so.map(|s| s.into_iter().collect()),
                any_version: false,
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

/// Magnets libtorrent 2.0.8 made (`make_magnet_uri`) for a hybrid and a v2-only torrent of one
/// file: read with the hashes `info_hashes()` reported, and written back byte for byte.
#[test]
fn libtorrent_magnets() {
    let hybrid = "magnet:?xt=urn:btih:e468967b97ae77ea0ff2234dbbec78177764e784\
                  &xt=urn:btmh:1220bb01ebbde32836ecf4f7e2e518659904d29649deab14ccd208b89a31049eba11&dn=f.bin";
    let m = Magnet::parse(hybrid).unwrap();
    assert_eq!(m.info_hash, "e468967b97ae77ea0ff2234dbbec78177764e784".parse().unwrap());
    assert_eq!(
        m.info_hash_v2,
        Some("bb01ebbde32836ecf4f7e2e518659904d29649deab14ccd208b89a31049eba11".parse().unwrap())
    );
    assert_eq!(m.to_uri(), hybrid);

    let v2 =
        "magnet:?xt=urn:btmh:122087c4a31c70daa464a202f6ddb1f442f82004f26e5ddfb414d8baa031b15a94c4&dn=f.bin";
    let m = Magnet::parse(v2).unwrap();
    let expected: InfoHashV2 =
        "87c4a31c70daa464a202f6ddb1f442f82004f26e5ddfb414d8baa031b15a94c4".parse().unwrap();
    assert_eq!(m.info_hash_v2, Some(expected));
    assert_eq!(m.info_hash, expected.truncated());
    assert_eq!(m.to_uri(), v2);
}

/// Torrents libtorrent 2.0.8 made (one 60,000-byte file, 16 KiB pieces, a tracker and a web
/// seed): the magnet ccbt makes of each names what libtorrent's `make_magnet_uri` names.
#[test]
fn magnets_of_libtorrent_torrents() {
    let cases: [(&[u8], &str); 2] = [
        (
            include_bytes!("testdata/lt_hybrid.torrent"),
            "magnet:?xt=urn:btih:e468967b97ae77ea0ff2234dbbec78177764e784\
             &xt=urn:btmh:1220bb01ebbde32836ecf4f7e2e518659904d29649deab14ccd208b89a31049eba11&dn=f.bin\
             &tr=http%3a%2f%2ftracker.example%2fannounce&ws=http%3a%2f%2fseed.example%2ff.bin",
        ),
        (
            include_bytes!("testdata/lt_v2.torrent"),
            "magnet:?xt=urn:btmh:122087c4a31c70daa464a202f6ddb1f442f82004f26e5ddfb414d8baa031b15a94c4\
             &dn=f.bin&tr=http%3a%2f%2ftracker.example%2fannounce",
        ),
    ];
    for (bytes, lt_uri) in cases {
        let torrent = Torrent::from_bytes(bytes).unwrap();
        let ours = Magnet::from_torrent(&torrent);
        let theirs = Magnet::parse(lt_uri).unwrap();
        assert_eq!(ours.info_hash, theirs.info_hash, "{lt_uri}");
        assert_eq!(ours.info_hash_v2, theirs.info_hash_v2, "{lt_uri}");
        assert_eq!(ours.info_hash_v1(), theirs.info_hash_v1(), "{lt_uri}");
        assert_eq!(ours.wire_ids(), torrent.wire_ids(), "{lt_uri}");
        assert_eq!(ours.display_name, theirs.display_name);
        assert_eq!(ours.trackers, theirs.trackers);
        assert_eq!(ours.web_seeds, ["http://seed.example/f.bin"]);
        assert_eq!(Magnet::parse(&ours.to_uri()), Ok(ours));
    }
}

#[test]
fn magnet_of_a_v1_torrent() {
    let torrent = Torrent::from_bytes(
        b"d8:announce13:http://t/anno4:infod6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee",
    )
    .unwrap();
    let m = Magnet::from_torrent(&torrent);
    assert_eq!((m.info_hash, m.info_hash_v2), (torrent.info_hash, None));
    assert_eq!(m.trackers, ["http://t/anno"]);
    assert_eq!(m.display_name.as_deref(), Some("a"));
}
