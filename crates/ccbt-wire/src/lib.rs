//! The BitTorrent peer wire protocol as pure codecs: the handshake, the BEP 3 and BEP 6
//! messages, the BEP 52 merkle hash messages ([`hashes`]), a streaming codec that tolerates input split at any byte, and the BEP 10
//! extension messages (one module per extension under `ext`).
//!
//! Sans-IO: no sockets, no clock.

// Unit tests take `Instant::now()` once as their virtual clock's origin; product code may not
// (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

mod codec;
mod error;
pub mod ext;
mod handshake;
pub mod hashes;
mod message;

pub use codec::{
    encode, encode_extended_header, encode_piece_header, frame_len_hint, MessageDecoder, DEFAULT_MAX_FRAME,
    EXTENDED_HEADER_LEN, PIECE_HEADER_LEN,
};
pub use error::WireError;
pub use handshake::{Handshake, HandshakePrefix, PROTOCOL};
pub use hashes::{HashRequest, Hashes};
pub use message::{id as message_id, Message};
