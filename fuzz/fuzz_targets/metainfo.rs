//! Feeds arbitrary bytes to the torrent parser: it must never panic, and whatever it accepts
//! must satisfy the invariants the rest of ccbt relies on (safe paths, consistent geometry, an
//! info hash that depends only on the info bytes).

#![no_main]

use ccbt_metainfo::Torrent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(t) = Torrent::from_bytes(data) else {
        return;
    };
    assert!(t.total_length > 0);
    assert_eq!(t.piece_hashes.len(), t.num_pieces() as usize);
    assert_eq!(t.lengths().total_length(), t.total_length);
    assert_eq!(t.layout().total_length(), t.total_length);
    for file in &t.files {
        assert_eq!(file.path.first(), Some(&t.name));
        for c in &file.path {
            assert!(!c.is_empty() && c != "." && c != "..");
            assert!(!c.contains(['/', '\\', '\0']));
        }
    }

    // The same info dictionary under a different wrapper has the same info hash.
    let mut wrapped = b"d4:info".to_vec();
    wrapped.extend_from_slice(&t.info_bytes);
    wrapped.push(b'e');
    let again = Torrent::from_bytes(&wrapped).map(|u| u.info_hash);
    assert_eq!(again, Ok(t.info_hash));
});
