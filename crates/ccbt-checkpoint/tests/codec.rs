//! The codecs: round trips, and every kind of damaged input giving its own error, never a panic.

use ccbt_checkpoint::{
    decode, decode_with_format, encode, Checkpoint, CheckpointError, FileEntry, FilePriority, FileStamp,
    Format, PieceSelection, Source, TorrentState, FORMAT_VERSION, MAGIC,
};
use ccbt_core::{Bitfield, InfoHash};
use proptest::prelude::*;
use sha1::{Digest, Sha1};

fn sample() -> Checkpoint {
    let info = b"d6:lengthi40000e4:name5:hello12:piece lengthi16384e6:pieces60:aaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbcccccccccccccccccccce".to_vec();
    let info_hash = InfoHash(Sha1::digest(&info).into());
    let mut c = Checkpoint::new(info_hash, "hello", "/tmp/out", 3);
    c.info = Some(info);
    c.source = Source { torrent_file: Some("/tmp/hello.torrent".into()), magnet_uri: None };
    let mut verified = Bitfield::new(3);
    verified.set(0);
    verified.set(2);
    c.set_verified_pieces(&verified);
    c.files.push(FileEntry {
        path: "hello".into(),
        length: 40_000,
        observed: Some(FileStamp { size: 40_000, mtime_secs: 1_700_000_000, mtime_nanos: 123 }),
        created_by_ccbt: true,
        priority: FilePriority::High,
    });
    c.options.down_limit = Some(100_000);
    c.options.piece_selection = Some(PieceSelection::Sequential);
    c.totals.downloaded = 32_768;
    c.totals.active_secs = 12;
    c.state = TorrentState::Paused;
    c.saved_at = 1_700_000_100;
    c
}

#[test]
fn both_formats_round_trip_and_are_detected() {
    let c = sample();
    for format in [Format::Json, Format::Binary] {
        let bytes = encode(&c, format).unwrap();
        assert_eq!(decode_with_format(&bytes).unwrap(), (c.clone(), format));
    }
    c.validate(&c.info_hash).unwrap();
}

#[test]
fn json_is_readable_with_hex_bytes() {
    let text = String::from_utf8(encode(&sample(), Format::Json).unwrap()).unwrap();
    assert!(text.contains(&format!("\"info_hash\": \"{}\"", sample().info_hash.to_hex())), "{text}");
    assert!(text.contains("\"verified\": \"a0\""), "{text}");
    assert!(text.contains("\"state\": \"paused\""), "{text}");
    assert!(text.contains("\"priority\": \"high\""), "{text}");
}

#[test]
fn binary_is_compressed_and_smaller_than_json() {
    let mut c = sample();
    c.set_verified_pieces(&Bitfield::full(100_000));
    let json = encode(&c, Format::Json).unwrap();
    let binary = encode(&c, Format::Binary).unwrap();
    assert!(binary.starts_with(MAGIC));
    assert!(binary.len() * 10 < json.len(), "binary {} json {}", binary.len(), json.len());
}

fn is_truncated_or_malformed(e: &CheckpointError) -> bool {
    matches!(e, CheckpointError::Truncated { .. } | CheckpointError::Malformed { .. })
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    for format in [Format::Json, Format::Binary] {
        let bytes = encode(&sample(), format).unwrap();
        // The trailing newline of JSON is not part of the document.
        let complete = if format == Format::Json { bytes.len() - 1 } else { bytes.len() };
        for len in 0..complete {
            let e = decode(&bytes[..len]).unwrap_err();
            assert!(is_truncated_or_malformed(&e), "{format:?} cut at {len}: {e}");
        }
    }
    // A binary file cut inside its payload is named as truncated, not as damaged.
    let binary = encode(&sample(), Format::Binary).unwrap();
    assert!(matches!(decode(&binary[..binary.len() - 1]), Err(CheckpointError::Truncated { .. })));
}

#[test]
fn a_flipped_bit_in_the_binary_payload_fails_the_checksum() {
    let bytes = encode(&sample(), Format::Binary).unwrap();
    for at in 24..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x10;
        let e = decode(&damaged).unwrap_err();
        assert!(matches!(e, CheckpointError::ChecksumMismatch { .. }), "byte {at}: {e}");
    }
}

#[test]
fn a_damaged_header_is_an_error() {
    let bytes = encode(&sample(), Format::Binary).unwrap();
    for at in 0..24 {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x01;
        assert!(decode(&damaged).is_err(), "byte {at}");
    }
}

#[test]
fn a_future_version_is_refused_in_both_formats() {
    let future = FORMAT_VERSION + 1;
    let mut binary = encode(&sample(), Format::Binary).unwrap();
    binary[8..12].copy_from_slice(&future.to_le_bytes());
    let json = String::from_utf8(encode(&sample(), Format::Json).unwrap()).unwrap();
    // A newer version may also add fields: the version alone decides.
    let json = json.replacen(
        &format!("\"version\": {FORMAT_VERSION}"),
        &format!("\"version\": {future}, \"new\": 1"),
        1,
    );
    for bytes in [binary, json.into_bytes()] {
        match decode(&bytes) {
            Err(CheckpointError::UnsupportedVersion { found, supported }) => {
                assert_eq!((found, supported), (future, FORMAT_VERSION));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn foreign_data_and_unknown_fields_are_refused() {
    assert!(matches!(decode(b"d8:announce3:urle"), Err(CheckpointError::BadMagic)));
    assert!(matches!(decode(b"CCBT"), Err(CheckpointError::Truncated { .. })));
    assert!(matches!(decode(b""), Err(CheckpointError::Truncated { .. })));
    assert!(matches!(decode(b"{\"some\": \"json\"}"), Err(CheckpointError::Malformed { .. })));
    let json = String::from_utf8(encode(&sample(), Format::Json).unwrap()).unwrap();
    let extra = json.replacen("\"name\"", "\"colour\": \"red\",\n  \"name\"", 1);
    assert!(matches!(decode(extra.as_bytes()), Err(CheckpointError::Malformed { .. })));
}

#[test]
fn structural_lies_are_malformed() {
    let json = String::from_utf8(encode(&sample(), Format::Json).unwrap()).unwrap();
    let cases = [
        ("\"verified\": \"a0\"", "\"verified\": \"a000\""), // wrong length
        ("\"verified\": \"a0\"", "\"verified\": \"a1\""),   // spare bit set
        ("\"verified\": \"a0\"", "\"verified\": \"zz\""),   // not hex
        ("\"path\": \"hello\"", "\"path\": \"../hello\""),  // escapes the folder
        ("\"path\": \"hello\"", "\"path\": \"/etc/passwd\""), // absolute
        ("\"mtime_nanos\": 123", "\"mtime_nanos\": 1000000000"),
    ];
    for (from, to) in cases {
        assert!(json.contains(from), "{from}");
        let bad = json.replacen(from, to, 1);
        let e = decode(bad.as_bytes()).unwrap_err();
        assert!(matches!(e, CheckpointError::Malformed { .. }), "{to}: {e}");
    }
}

#[test]
fn validate_names_foreign_checkpoints_and_wrong_info_dicts() {
    let c = sample();
    let other = InfoHash([7; 20]);
    assert!(matches!(c.validate(&other), Err(CheckpointError::InfoHashMismatch { .. })));
    let mut lying = c.clone();
    lying.info.as_mut().unwrap()[3] ^= 1;
    assert!(matches!(lying.validate(&c.info_hash), Err(CheckpointError::InfoDictMismatch { .. })));
}

#[test]
fn only_the_current_version_is_written() {
    let mut c = sample();
    c.version = FORMAT_VERSION + 1;
    assert!(matches!(encode(&c, Format::Json), Err(CheckpointError::Encode { .. })));
}

#[test]
fn a_declared_huge_payload_is_refused_before_inflating() {
    let mut bytes = encode(&sample(), Format::Binary).unwrap();
    bytes[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(decode(&bytes), Err(CheckpointError::TooLarge { .. })));
    let mut bytes = encode(&sample(), Format::Binary).unwrap();
    bytes[16..20].copy_from_slice(&1000u32.to_le_bytes());
    assert!(matches!(decode(&bytes), Err(CheckpointError::Malformed { .. })));
}

fn arb_checkpoint() -> impl Strategy<Value = Checkpoint> {
    (
        any::<[u8; 20]>(),
        ".{0,20}",
        proptest::collection::vec(any::<bool>(), 0..300),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        proptest::collection::vec(
            ("[a-z]{1,8}(/[a-z]{1,8}){0,2}", any::<u64>(), any::<bool>(), 0..4u8),
            0..5,
        ),
        (any::<u64>(), any::<u64>(), any::<u64>(), proptest::option::of(any::<u64>())),
        (0..3u8, proptest::option::of(".{0,30}")),
        (
            proptest::option::of(any::<[u8; 32]>()),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        ),
    )
        .prop_map(
            |(hash, name, bits, info, files, (down, up, secs, limit), (state, magnet), (v2, layers))| {
                let mut c = Checkpoint::new(InfoHash(hash), name, "/out", 0);
                // v2 state; piece layers only with a v2 info hash, as a v1 torrent has none.
                c.info_hash_v2 = v2.map(ccbt_core::InfoHashV2);
                c.piece_layers = layers.filter(|_| v2.is_some());
                let mut pieces = Bitfield::new(bits.len() as u32);
                for (i, _) in bits.iter().enumerate().filter(|(_, b)| **b) {
                    pieces.set(i as u32);
                }
                c.set_verified_pieces(&pieces);
                c.info = info;
                c.source.magnet_uri = magnet;
                c.files = files
                    .into_iter()
                    .map(|(path, length, created, p)| FileEntry {
                        path: path.into(),
                        length,
                        observed: created.then_some(FileStamp {
                            size: length,
                            mtime_secs: -5,
                            mtime_nanos: 999_999_999,
                        }),
                        created_by_ccbt: created,
                        priority: [
                            FilePriority::Skip,
                            FilePriority::Low,
                            FilePriority::Normal,
                            FilePriority::High,
                        ][usize::from(p)],
                    })
                    .collect();
                c.totals.downloaded = down;
                c.totals.uploaded = up;
                c.totals.active_secs = secs;
                c.options.up_limit = limit;
                c.state = [TorrentState::Downloading, TorrentState::Paused, TorrentState::Seeding]
                    [usize::from(state)];
                c.saved_at = secs;
                c
            },
        )
}

proptest! {
    #[test]
    fn any_checkpoint_round_trips(c in arb_checkpoint()) {
        for format in [Format::Json, Format::Binary] {
            let bytes = encode(&c, format).unwrap();
            prop_assert_eq!(decode(&bytes).unwrap(), c.clone());
        }
    }

    #[test]
    fn a_changed_byte_never_panics(at in any::<prop::sample::Index>(), value in any::<u8>(), json in any::<bool>()) {
        let format = if json { Format::Json } else { Format::Binary };
        let mut bytes = encode(&sample(), format).unwrap();
        let at = at.index(bytes.len());
        bytes[at] = value;
        if let Ok(c) = decode(&bytes) {
            // Whatever is accepted is a consistent checkpoint that encodes again.
            prop_assert_eq!(decode(&encode(&c, Format::Binary).unwrap()).unwrap(), c);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
        let mut framed = MAGIC.to_vec();
        framed.extend_from_slice(&bytes);
        let _ = decode(&framed);
    }
}

#[test]
fn hand_written_json_may_leave_options_out() {
    let zeros = "0".repeat(40);
    let text = format!(
        r#"{{"version":1,"info_hash":"{zeros}","name":"x","source":{{"torrent_file":null,"magnet_uri":null}},
        "info":null,"save_path":"/o","piece_count":3,"verified":"e0",
        "files":[{{"path":"a/b","length":5,"observed":null,"created_by_ccbt":true,"priority":"skip"}}],
        "options":{{"streaming":true}},"totals":{{"downloaded":0,"uploaded":0,"active_secs":0}},
        "state":"paused","saved_at":0}}"#
    );
    let c = decode(text.as_bytes()).unwrap();
    assert_eq!(c.options.streaming, Some(true));
    assert_eq!(c.options.down_limit, None);
    assert_eq!(c.verified_count(), 3);
    assert_eq!(c.files[0].priority, FilePriority::Skip);
    assert_eq!(c.progress(), 1.0);
}
