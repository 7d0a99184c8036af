//! BEP 10 extension messages, carried in [`crate::Message::Extended`]. One module per
//! extension; the handshake (extended id 0) advertises which extensions a peer speaks.

mod handshake;
pub mod metadata;
pub mod pex;
pub mod xet_cas;

pub use handshake::{ExtHandshake, XetHandshake, MAX_EXTENSIONS, MAX_NAME_LEN};

/// Extended message id of the extension handshake; every other id is assigned by the receiver
/// in its own handshake's `m` dictionary.
pub const HANDSHAKE_ID: u8 = 0;

/// BEP 9: metadata (info dictionary) exchange, used by magnet links.
pub const UT_METADATA: &str = "ut_metadata";

/// BEP 11: peer exchange.
pub const UT_PEX: &str = "ut_pex";

/// The Xet chunk exchange (docs/xet.md, "The xet_cas extension").
pub const XET_CAS: &str = "xet_cas";
