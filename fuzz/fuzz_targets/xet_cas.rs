//! `xet_cas` extension payloads from peers: never a panic, every cap of the specification
//! holds on what is accepted, and what is accepted re-encodes to the same bytes.

#![no_main]

use ccbt_wire::ext::xet_cas::{self, XetMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = XetMessage::decode(data) else { return };
    assert!(data.len() <= xet_cas::MAX_XET_MESSAGE);
    match &msg {
        XetMessage::Manifest { entries, total, start, .. } => {
            assert!(entries.len() <= xet_cas::MAX_MANIFEST_ENTRIES as usize);
            assert!(u64::from(*start) + entries.len() as u64 <= u64::from(*total));
            assert!(entries.iter().all(|e| (1..=xet_cas::MAX_CHUNK_LEN).contains(&e.len)));
        }
        XetMessage::Query { ids, .. } => assert!((1..=usize::from(xet_cas::MAX_QUERY_IDS)).contains(&ids.len())),
        XetMessage::QueryReply { have, .. } => {
            assert!((1..=usize::from(xet_cas::MAX_QUERY_IDS)).contains(&have.len()))
        }
        XetMessage::HaveMap { n, bitfield, .. } => assert_eq!(bitfield.len(), (*n as usize).div_ceil(8)),
        XetMessage::Chunk { off, data, .. } => {
            assert!(!data.is_empty() && *off as usize + data.len() <= xet_cas::MAX_CHUNK_LEN as usize)
        }
        XetMessage::UpdateHint { salt, .. } => assert!(salt.len() <= xet_cas::MAX_SALT_LEN),
        _ => {}
    }
    assert_eq!(&msg.encode()[..], data);
});
