//! BEP 9 ut_metadata and BEP 11 ut_pex payloads from peers: never a panic, bounded output.

#![no_main]

use bytes::Bytes;
use ccbt_wire::ext::metadata::MetadataMessage;
use ccbt_wire::ext::pex::PexMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(MetadataMessage::Data { data: piece, .. }) = MetadataMessage::decode(Bytes::copy_from_slice(data)) {
        assert!(piece.len() <= ccbt_wire::ext::metadata::METADATA_PIECE_LEN);
    }
    if let Ok(pex) = PexMessage::decode(data) {
        assert!(pex.added.len() <= ccbt_wire::ext::pex::MAX_DECODED_ENTRIES);
        assert!(pex.added6.len() <= ccbt_wire::ext::pex::MAX_DECODED_ENTRIES);
    }
});
