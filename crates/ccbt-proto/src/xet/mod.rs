//! The `xet_cas` extension between two peers (docs/xet.md, "The xet_cas extension"):
//! [`XetServer`] answers a peer's MANIFEST_REQ, CHUNK_REQ, QUERY and CANCEL from our chunk
//! store; [`XetFetcher`] asks a peer for chunks, manifests and QUERYs, and hands out only what
//! it verified (a chunk against its id, a manifest against its file's xet root).
//!
//! Both are per connection and sans-IO: the engine decodes the extended messages
//! ([`ccbt_wire::ext::xet_cas::XetMessage`]), routes requests ([`is_request`]) to the server and
//! answers to the fetcher, passes the time where a rate limit needs it, reads chunks from its
//! store when the server says so, and sends what comes back. A decode error or any
//! [`XetViolation`] means the peer broke the protocol: penalise it and close the connection.
//! HAVE_MAP and HAVE_RANGE feed [`PeerHaves`] (which chunks the peer holds, for the files we
//! fetch); UPDATE_HINT is for the engine itself, to confirm with BEP 46 before any use.

mod chunks;
mod fetcher;
mod haves;
mod manifests;
mod server;

pub use chunks::{ChunkAsk, ChunkSchedule, CHUNKS_PER_PEER, QUERY_IDS_PER_PEER};
pub use fetcher::{
    max_manifest_entries, FetchError, FetchEvent, XetFetcher, XetViolation, REMEMBERED_CANCELS,
};
pub use haves::{PeerHaves, MAX_EARLY_MAPS, MAX_EARLY_MAP_BYTES};
pub use manifests::{ManifestAsk, ManifestSchedule};
pub use server::{
    ChunkStore, ManifestPage, ReadOutcome, ReadRequest, ServerAction, ServerConfig, XetServer,
    DEFAULT_QUERY_BURST, DEFAULT_QUERY_IDS_PER_MINUTE,
};

use ccbt_wire::ext::xet_cas::{XetMessage, MAX_XET_MESSAGE};
use ccbt_wire::ext::{ExtHandshake, XetHandshake, XET_CAS};

/// The extended message id we ask peers to send `xet_cas` messages under (next to
/// [`crate::peer::OUR_UT_METADATA`] 1 and [`crate::peer::OUR_UT_PEX`] 2).
pub const OUR_XET_CAS: u8 = 3;

/// The version of the extension this module speaks.
pub const XET_VERSION: u32 = 1;

/// The chunking scheme of version 1 (Xet's gear CDC, 64 KiB target), the handshake's `cdc`.
pub const XET_CDC: &str = "xet-gear-64k";

/// Requests a peer accepts outstanding when its handshake gives no `rq`; also what we offer.
pub const DEFAULT_RQ: u32 = 64;

/// Deepest pipeline we keep to one peer whatever its `rq` says: 256 whole chunks are 32 MiB in
/// flight, more than any link needs, and it bounds the fetcher's bookkeeping.
pub const MAX_RQ: u32 = 256;

/// What a peer's handshake lets us do with the extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XetPeerCaps {
    /// The extended message id to send `xet_cas` messages under.
    pub ext_id: u8,
    /// Requests we may keep outstanding at the peer (its `rq`, within 1..=[`MAX_RQ`]).
    pub rq: u32,
}

/// Whether (and how) to speak `xet_cas` with the peer whose extension handshake is `theirs`.
///
/// `None` when it does not list the extension, sends no `xet` dictionary, speaks another
/// version or chunking scheme (fixed per version: a peer ignores the extension rather than fall
/// back), or accepts messages smaller than a whole chunk needs (`mm` below 139,264).
pub fn negotiate(theirs: &ExtHandshake) -> Option<XetPeerCaps> {
    let ext_id = theirs.extension_id(XET_CAS)?;
    let xet = theirs.xet.as_ref()?;
    if xet.v != XET_VERSION || xet.cdc.as_deref().is_some_and(|cdc| cdc != XET_CDC) {
        return None;
    }
    if xet.mm.is_some_and(|mm| (mm as usize) < MAX_XET_MESSAGE) {
        return None;
    }
    let rq = xet.rq.unwrap_or(DEFAULT_RQ).clamp(1, MAX_RQ);
    Some(XetPeerCaps { ext_id, rq })
}

/// The `xet` dictionary of our extension handshake, offering `rq` outstanding requests (the
/// server's [`ServerConfig::max_outstanding`]).
pub fn our_handshake(rq: u32) -> XetHandshake {
    XetHandshake {
        v: XET_VERSION,
        cdc: Some(XET_CDC.to_owned()),
        mm: Some(MAX_XET_MESSAGE as u32),
        rq: Some(rq),
    }
}

/// Whether `msg` is a request (for [`XetServer::handle`]) rather than an answer (for
/// [`XetFetcher::on_answer`]) or a notice (HAVE_MAP, HAVE_RANGE, UPDATE_HINT: the engine's).
pub fn is_request(msg: &XetMessage) -> bool {
    matches!(
        msg,
        XetMessage::ManifestReq { .. }
            | XetMessage::ChunkReq { .. }
            | XetMessage::Query { .. }
            | XetMessage::Cancel { .. }
    )
}

/// Whether `msg` answers one of our requests (for [`XetFetcher::on_answer`]).
pub fn is_answer(msg: &XetMessage) -> bool {
    matches!(
        msg,
        XetMessage::Manifest { .. }
            | XetMessage::Chunk { .. }
            | XetMessage::QueryReply { .. }
            | XetMessage::Reject { .. }
    )
}

/// Hex of an id for errors and logs (bytes in wire order).
fn hex(id: &[u8; 32]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod chunks_tests;
#[cfg(test)]
mod fetcher_tests;
#[cfg(test)]
mod manifests_tests;
#[cfg(test)]
mod server_tests;
#[cfg(test)]
mod tests;
