//! Tracker answers (HTTP announce and scrape bodies, UDP packets): never a panic, peer lists
//! capped.

#![no_main]

use ccbt_core::InfoHash;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = ccbt_tracker::parse_announce(data) {
        assert!(r.peers.len() <= ccbt_tracker::MAX_PEERS);
    }
    let _ = ccbt_tracker::parse_scrape(data, &InfoHash([0; 20]));
    let _ = ccbt_tracker::udp::decode_response(data, false);
    let _ = ccbt_tracker::udp::decode_response(data, true);
});
