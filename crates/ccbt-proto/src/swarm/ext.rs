//! BEP 10 extensions inside the swarm: the peer's extension handshake, serving metadata
//! (BEP 9 `ut_metadata`) and peer exchange (BEP 11 `ut_pex`).

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use ccbt_wire::ext::metadata::MetadataMessage;
use ccbt_wire::ext::pex::{PexFlags, PexMessage};
use ccbt_wire::ext::{ExtHandshake, UT_METADATA, UT_PEX};

use crate::metadata::MetadataServer;
use crate::peer::PeerConn;
pub use crate::peer::{OUR_UT_METADATA, OUR_UT_PEX, OUR_XET_CAS};
use crate::pex::PexState;

/// Metadata data replies (16 KiB each) a peer may have waiting in its connection's queue;
/// requests beyond are rejected. A peer that sends thousands of requests and never reads gets
/// this many replies and small rejects, not 16 KiB per request (libtorrent also answers a
/// peer whose send buffer is full with rejects).
pub(super) const MAX_QUEUED_METADATA_REPLIES: u32 = 8;

/// What we know of one peer's extensions.
#[derive(Debug, Default)]
pub(super) struct PeerExt {
    /// The peer's ids for the extensions (from its handshake); None = not supported.
    ut_metadata: Option<u8>,
    ut_pex: Option<u8>,
    /// The address the peer accepts connections on, when known (PEX advertises it).
    pub(super) listen_addr: Option<SocketAddr>,
    pex: Option<PexState>,
}

impl PeerExt {
    /// Records the address the peer listens on and starts PEX with it if enabled.
    pub(super) fn set_listen_addr(&mut self, now: Instant, addr: SocketAddr, pex_enabled: bool) {
        self.listen_addr = Some(addr);
        match &mut self.pex {
            Some(pex) => pex.set_peer_addr(addr),
            None if pex_enabled => self.pex = Some(PexState::new(now, addr)),
            None => {}
        }
    }

    /// Peer exchange was switched on while the connection runs: starts it when the peer's
    /// listen address is known.
    pub(super) fn enable_pex(&mut self, now: Instant) {
        if let (None, Some(addr)) = (&self.pex, self.listen_addr) {
            self.pex = Some(PexState::new(now, addr));
        }
    }

    /// Applies the peer's extension handshake (an undecodable one never reaches the swarm, so
    /// the peer's extensions stay off).
    pub(super) fn on_handshake(
        &mut self,
        now: Instant,
        hs: &ExtHandshake,
        conn: &mut PeerConn,
        remote_ip: Option<std::net::IpAddr>,
        pex_enabled: bool,
    ) {
        self.ut_metadata = hs.extension_id(UT_METADATA);
        self.ut_pex = hs.extension_id(UT_PEX);
        if let Some(reqq) = hs.reqq {
            conn.set_peer_max_requests(reqq);
        }
        if let (Some(port), Some(ip)) = (hs.p, remote_ip.or(self.listen_addr.map(|a| a.ip()))) {
            self.set_listen_addr(now, SocketAddr::new(ip, port), pex_enabled);
        }
    }

    /// Answers a `ut_metadata` request: the piece while few replies wait in the connection's
    /// queue, else a Reject (see [`MAX_QUEUED_METADATA_REPLIES`]).
    pub(super) fn on_metadata_request(
        &self,
        piece: u32,
        conn: &mut PeerConn,
        metadata: Option<&MetadataServer>,
    ) {
        let Some(their_id) = self.ut_metadata else { return };
        let answer = match metadata {
            Some(server) if conn.queued_metadata_replies() < MAX_QUEUED_METADATA_REPLIES => {
                server.answer(piece)
            }
            _ => MetadataMessage::Reject { piece },
        };
        conn.send_metadata(their_id, answer);
    }

    /// Handles a PEX message. Returns the peers learnt.
    pub(super) fn on_pex(&mut self, now: Instant, msg: &PexMessage) -> Vec<SocketAddr> {
        let Some(pex) = self.pex.as_mut() else { return Vec::new() };
        // A peer breaking BEP 11's rate or size limits is ignored, not disconnected.
        pex.on_message(now, msg).map(|v| v.into_iter().map(|(a, _)| a).collect()).unwrap_or_default()
    }

    /// Whether a PEX message to this peer is due.
    pub(super) fn pex_due(&self, now: Instant) -> bool {
        self.ut_pex.is_some() && self.pex.as_ref().and_then(|p| p.poll_timeout()).is_some_and(|t| t <= now)
    }

    /// When the next PEX message to this peer is due, if PEX runs with it.
    pub(super) fn next_pex(&self, pex_enabled: bool) -> Option<Instant> {
        self.pex.as_ref().filter(|_| pex_enabled && self.ut_pex.is_some()).and_then(|p| p.poll_timeout())
    }

    /// Sends the PEX diff of `connected` if one is due.
    pub(super) fn send_pex(
        &mut self,
        now: Instant,
        connected: &[(SocketAddr, PexFlags)],
        conn: &mut PeerConn,
    ) {
        let (Some(pex), Some(their_id)) = (self.pex.as_mut(), self.ut_pex) else { return };
        if let Some(msg) = pex.poll_message(now, connected) {
            conn.send_extended(their_id, msg.encode());
        }
    }
}

/// Our extension handshake: the extensions we serve, our listen port, our request queue size
/// and, when we have it, the metadata size.
pub fn our_ext_handshake(
    listen_port: u16,
    metadata_size: Option<u64>,
    pex: bool,
    client: &str,
    xet: Option<ccbt_wire::ext::XetHandshake>,
) -> Bytes {
    let mut m = vec![(UT_METADATA.to_string(), OUR_UT_METADATA)];
    if pex {
        m.push((UT_PEX.to_string(), OUR_UT_PEX));
    }
    if xet.is_some() {
        m.push((ccbt_wire::ext::XET_CAS.to_string(), OUR_XET_CAS));
    }
    ExtHandshake {
        m,
        v: Some(client.to_string()),
        p: Some(listen_port),
        reqq: u32::try_from(crate::peer::MAX_PEER_REQUESTS).ok(),
        metadata_size,
        yourip: None,
        xet,
    }
    .encode()
}
