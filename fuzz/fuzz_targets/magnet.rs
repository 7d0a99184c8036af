//! Magnet links from arbitrary text: never a panic; whatever parses round-trips through to_uri.

#![no_main]

use ccbt_metainfo::Magnet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(m) = Magnet::parse(text) {
        let again = Magnet::parse(&m.to_uri()).expect("to_uri output parses");
        assert_eq!(again.info_hash, m.info_hash);
        assert_eq!(again.trackers, m.trackers);
    }
});
