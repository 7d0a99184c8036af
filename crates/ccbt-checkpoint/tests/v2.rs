//! BitTorrent v2 state in checkpoints (format version 2): the v2 info hash and piece layers round
//! trip in both formats, a v2 info dictionary is checked with SHA-256, and version-1 files (made
//! by the version-1 code, in tests/data) still load.

use ccbt_checkpoint::{
    decode, decode_with_format, encode, Checkpoint, CheckpointError, Format, FORMAT_VERSION,
};
use ccbt_core::{InfoHash, InfoHashV2};
use sha1::{Digest, Sha1};
use sha2::Sha256;

/// A v2 info dictionary (its content does not matter to the checkpoint, only its hashes).
const INFO: &[u8] = b"d9:file treed5:hellod0:d6:lengthi40000e11:pieces root32:rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrreee12:meta versioni2e4:name5:hello12:piece lengthi16384ee";

/// A bencoded `piece layers` dictionary: one root, three piece hashes.
fn piece_layers() -> Vec<u8> {
    let mut out = b"d32:rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr96:".to_vec();
    out.extend_from_slice(&[0xab; 96]);
    out.push(b'e');
    out
}

fn v1_of(info: &[u8]) -> InfoHash {
    InfoHash(Sha1::digest(info).into())
}

fn v2_of(info: &[u8]) -> InfoHashV2 {
    InfoHashV2(Sha256::digest(info).into())
}

/// A checkpoint of a v2-only torrent: its id is the truncated v2 hash.
fn v2_only() -> Checkpoint {
    let v2 = v2_of(INFO);
    let mut c = Checkpoint::new(v2.truncated(), "hello", "/tmp/out", 3);
    c.info_hash_v2 = Some(v2);
    c.info = Some(INFO.to_vec());
    c.piece_layers = Some(piece_layers());
    c.saved_at = 1_700_000_100;
    c
}

/// A checkpoint of a hybrid torrent: its id is the SHA-1.
fn hybrid() -> Checkpoint {
    let mut c = Checkpoint::new(v1_of(INFO), "hello", "/tmp/out", 3);
    c.info_hash_v2 = Some(v2_of(INFO));
    c.info = Some(INFO.to_vec());
    c.piece_layers = Some(piece_layers());
    c
}

#[test]
fn v2_and_hybrid_state_round_trip_in_both_formats() {
    let mut no_layers = v2_only();
    no_layers.piece_layers = None;
    let mut magnet_without_metadata = v2_only();
    magnet_without_metadata.info = None;
    magnet_without_metadata.piece_layers = None;
    for c in [v2_only(), hybrid(), no_layers, magnet_without_metadata] {
        for format in [Format::Json, Format::Binary] {
            let bytes = encode(&c, format).unwrap();
            assert_eq!(decode_with_format(&bytes).unwrap(), (c.clone(), format));
        }
        c.validate(&c.info_hash).unwrap();
    }
}

#[test]
fn json_shows_the_v2_state_in_hex() {
    let text = String::from_utf8(encode(&v2_only(), Format::Json).unwrap()).unwrap();
    assert!(text.contains(&format!("\"version\": {FORMAT_VERSION}")), "{text}");
    assert!(text.contains(&format!("\"info_hash_v2\": \"{}\"", v2_of(INFO).to_hex())), "{text}");
    assert!(text.contains(&format!("\"piece_layers\": \"6433323a{}", "72".repeat(32))), "{text}");
    let text =
        String::from_utf8(encode(&Checkpoint::new(InfoHash([1; 20]), "x", "/o", 0), Format::Json).unwrap())
            .unwrap();
    assert!(text.contains("\"info_hash_v2\": null"), "{text}");
    assert!(text.contains("\"piece_layers\": null"), "{text}");
}

#[test]
fn v2_only_and_hybrid_are_told_apart() {
    assert!(v2_only().is_v2_only());
    assert!(!hybrid().is_v2_only());
    assert!(!Checkpoint::new(v1_of(INFO), "x", "/o", 0).is_v2_only());
}

#[test]
fn a_tampered_v2_info_dict_is_refused() {
    let mut c = v2_only();
    c.info.as_mut().unwrap()[5] ^= 1;
    match c.validate(&c.info_hash) {
        Err(CheckpointError::InfoDictMismatchV2 { info_hash_v2, computed }) => {
            assert_eq!(info_hash_v2, v2_of(INFO));
            assert_eq!(computed, v2_of(c.info.as_ref().unwrap()));
        }
        other => panic!("{other:?}"),
    }
    // A hybrid's dictionary is checked with SHA-256 too.
    let mut c = hybrid();
    c.info.as_mut().unwrap()[5] ^= 1;
    assert!(matches!(c.validate(&c.info_hash), Err(CheckpointError::InfoDictMismatchV2 { .. })));
}

#[test]
fn a_v2_info_dict_is_checked_with_sha256_not_sha1() {
    // v2-only: the SHA-1 is not the id and is not checked.
    v2_only().validate(&v2_of(INFO).truncated()).unwrap();
    // A v2 torrent recorded without its v2 hash cannot pass as v1 (its id is not a SHA-1).
    let mut c = v2_only();
    c.info_hash_v2 = None;
    assert!(matches!(c.validate(&c.info_hash), Err(CheckpointError::InfoDictMismatch { .. })));
    // Another dictionary's v2 hash.
    let mut c = v2_only();
    c.info_hash_v2 = Some(v2_of(b"d4:name5:othere"));
    c.info_hash = v2_of(b"d4:name5:othere").truncated();
    assert!(matches!(c.validate(&c.info_hash), Err(CheckpointError::InfoDictMismatchV2 { .. })));
}

#[test]
fn a_hybrid_must_match_both_hashes() {
    // Right v2 hash, wrong SHA-1 id.
    let mut c = hybrid();
    c.info_hash = InfoHash([9; 20]);
    match c.validate(&c.info_hash) {
        Err(CheckpointError::InfoDictMismatch { computed, .. }) => assert_eq!(computed, v1_of(INFO)),
        other => panic!("{other:?}"),
    }
    // Right SHA-1 id, wrong v2 hash.
    let mut c = hybrid();
    c.info_hash_v2 = Some(InfoHashV2([9; 32]));
    assert!(matches!(c.validate(&c.info_hash), Err(CheckpointError::InfoDictMismatchV2 { .. })));
}

#[test]
fn piece_layers_without_a_v2_hash_are_malformed() {
    let mut c = v2_only();
    c.info_hash_v2 = None;
    let json = encode(&c, Format::Json).unwrap();
    let e = decode(&json).unwrap_err();
    assert!(matches!(e, CheckpointError::Malformed { .. }), "{e}");
    assert!(e.to_string().contains("piece layers"), "{e}");
    let binary = encode(&c, Format::Binary).unwrap();
    assert!(matches!(decode(&binary), Err(CheckpointError::Malformed { .. })));
}

#[test]
fn a_bad_v2_hash_in_json_is_malformed() {
    let json = String::from_utf8(encode(&v2_only(), Format::Json).unwrap()).unwrap();
    let hex = v2_of(INFO).to_hex();
    for bad in [&hex[..62], "zz", ""] {
        let text = json.replacen(&hex, bad, 1);
        let e = decode(text.as_bytes()).unwrap_err();
        assert!(matches!(e, CheckpointError::Malformed { .. }), "{bad:?}: {e}");
    }
}

/// The version-1 files in tests/data were written by the version-1 code (before v2 state): the
/// same checkpoint in both formats, of a v1 torrent added from a magnet link.
fn version_1_files() -> [(&'static [u8], Format); 2] {
    [
        (include_bytes!("data/v1.checkpoint.json"), Format::Json),
        (include_bytes!("data/v1.checkpoint.bin"), Format::Binary),
    ]
}

#[test]
fn version_1_checkpoints_still_load_as_the_current_version() {
    let mut loaded = Vec::new();
    for (bytes, format) in version_1_files() {
        assert!(bytes.starts_with(b"{\n  \"version\": 1,") || bytes[8..12] == 1u32.to_le_bytes());
        let (c, got) = decode_with_format(bytes).unwrap();
        assert_eq!(got, format);
        assert_eq!(c.version, FORMAT_VERSION);
        assert_eq!((c.info_hash_v2, c.piece_layers.as_ref()), (None, None));
        assert_eq!(c.info_hash.to_hex(), "7ccaa21f183a35ad8d10bccaa523f979cb0ccd61");
        assert_eq!(c.name, "hello");
        assert_eq!(c.verified_count(), 2);
        assert_eq!(c.files.len(), 1);
        assert_eq!(c.saved_at, 1_700_000_100);
        c.validate(&c.info_hash).unwrap();
        // Saved again, it is a current checkpoint with the same content.
        for format in [Format::Json, Format::Binary] {
            assert_eq!(decode(&encode(&c, format).unwrap()).unwrap(), c);
        }
        loaded.push(c);
    }
    assert_eq!(loaded[0], loaded[1], "both formats hold the same checkpoint");
}

#[test]
fn version_1_json_with_version_2_fields_is_malformed() {
    // A version-1 file never had them: it was not written by ccbt.
    let text = std::str::from_utf8(version_1_files()[0].0).unwrap();
    let with_v2 =
        text.replacen("\"name\"", &format!("\"info_hash_v2\": \"{}\",\n  \"name\"", "00".repeat(32)), 1);
    assert!(matches!(decode(with_v2.as_bytes()), Err(CheckpointError::Malformed { .. })));
}

#[test]
fn version_1_binary_damage_is_still_caught() {
    let bytes = version_1_files()[1].0;
    for len in 0..bytes.len() {
        assert!(decode(&bytes[..len]).is_err(), "cut at {len}");
    }
    // A version-1 header over a version-2 payload (or the reverse) is not believed.
    let mut current = encode(&v2_only(), Format::Binary).unwrap();
    current[8..12].copy_from_slice(&1u32.to_le_bytes());
    assert!(matches!(decode(&current), Err(CheckpointError::Malformed { .. })));
    let mut old = bytes.to_vec();
    old[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    assert!(matches!(decode(&old), Err(CheckpointError::Malformed { .. })));
}
