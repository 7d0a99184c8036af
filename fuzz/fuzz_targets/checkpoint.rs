//! Feeds arbitrary bytes to the checkpoint decoder: it must never panic, and whatever it accepts
//! must encode again (in both formats) to the same checkpoint.
//!
//! The first byte chooses the input: odd, the bytes as a file (both formats' framing); even, the
//! bytes as a binary payload framed with a valid header and checksum, so mutations reach the
//! payload decoder instead of stopping at the CRC.

#![no_main]

use std::io::Write;

use ccbt_checkpoint::{decode, encode, Format, FORMAT_VERSION, MAGIC};
use libfuzzer_sys::fuzz_target;

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut deflater = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    deflater.write_all(payload).unwrap();
    let compressed = deflater.finish().unwrap();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&compressed).to_le_bytes());
    out.extend_from_slice(&compressed);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        let _ = decode(data);
        return;
    };
    let input = if mode % 2 == 1 { rest.to_vec() } else { framed(rest) };
    let Ok(checkpoint) = decode(&input) else {
        return;
    };
    for format in [Format::Json, Format::Binary] {
        let again = encode(&checkpoint, format).expect("a decoded checkpoint encodes");
        assert_eq!(decode(&again).expect("its encoding decodes"), checkpoint);
    }
});
