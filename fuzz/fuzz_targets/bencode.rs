//! Feeds arbitrary bytes to the bencode decoder: it must never panic, every accepted input must
//! re-encode to exactly itself (the decoder only accepts canonical forms, apart from key order),
//! and the raw span of a top-level key must be a value that decodes on its own.

#![no_main]

use ccbt_bencode::{decode, decode_prefix, encode, raw_value_of_key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = decode(data);
    if let Ok(value) = &whole {
        assert_eq!(encode(value), data);
        // The owned form sorts keys; it must still decode to an equal owned value.
        let owned = value.to_owned_value();
        let sorted = owned.to_bytes();
        let again = decode(&sorted).map(|v| v.to_owned_value());
        assert_eq!(again.as_ref(), Ok(&owned));
    }

    match decode_prefix(data) {
        Ok((value, used)) => {
            let prefix = data.get(..used).unwrap_or_default();
            assert_eq!(encode(&value), prefix);
            assert_eq!(whole.is_ok(), used == data.len());
        }
        Err(_) => assert!(whole.is_err()),
    }

    if let Ok(Some(raw)) = raw_value_of_key(data, b"info") {
        assert!(whole.is_ok());
        assert!(decode(raw).is_ok());
    }
});
