//! The BitTorrent peer wire protocol as pure codecs: the handshake, the BEP 3 and BEP 6
//! messages, a streaming codec that tolerates input split at any byte, and the BEP 10
//! extension messages (one module per extension under `ext`).
//!
//! Sans-IO: no sockets, no clock.

mod message;

pub use message::Message;
