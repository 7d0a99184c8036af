//! Feeds arbitrary bytes to the peer wire decoders, split into chunks whose size the input
//! chooses, and checks that they never panic and that every decoded message re-encodes to a
//! frame that decodes back to itself.

#![no_main]

use bytes::BytesMut;
use ccbt_wire::ext::ExtHandshake;
use ccbt_wire::{encode, Handshake, Message, MessageDecoder};
use libfuzzer_sys::fuzz_target;

/// A small limit so the fuzzer reaches the too-long path as well as complete frames.
const MAX_FRAME: u32 = 4096;

fn round_trips(msg: &Message) {
    let mut buf = BytesMut::new();
    encode(msg, &mut buf);
    assert_eq!(buf.len(), msg.encoded_len());
    let again = MessageDecoder::new(u32::MAX).decode(&mut buf);
    assert_eq!(again.as_ref().ok().and_then(Option::as_ref), Some(msg));
    assert!(buf.is_empty());
}

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);

    let _ = Handshake::decode(data);
    let _ = Handshake::decode_prefix(data);
    if let Ok(h) = ExtHandshake::decode(data) {
        assert!(ExtHandshake::decode(&h.encode()).is_ok());
    }

    let mut decoder = MessageDecoder::new(MAX_FRAME);
    let mut buf = BytesMut::new();
    for piece in data.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(msg)) => {
                    if let Message::Extended { id: 0, payload } = &msg {
                        let _ = ExtHandshake::decode(payload);
                    }
                    round_trips(&msg);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
