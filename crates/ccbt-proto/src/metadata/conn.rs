//! One connection of the metadata phase, after the BitTorrent handshake: the extension
//! handshake, then `ut_metadata` requests handed out by the shared [`MetadataFetcher`]. Nothing
//! else of the peer protocol is spoken: without the metadata we cannot validate bitfields or
//! pieces, so they are ignored.
//!
//! Sans-IO, after quinn's `Connection`: the engine feeds decoded messages to
//! [`MetadataConn::handle_message`], calls [`MetadataConn::handle_timeout`] when
//! [`MetadataConn::poll_timeout`] passes or the fetcher changed, writes what
//! [`MetadataConn::poll_transmit`] returns while its write buffer has room, and acts on
//! [`MetadataConn::poll_event`]. An `Err(ConnEnd)` from any of them means: close the connection.
//!
//! Hostile peers are bounded here: the extension handshake must come within
//! [`EXT_HANDSHAKE_DEADLINE`]; a peer must deliver an accepted piece within [`SERVE_DEADLINE`]
//! of connecting and of its previous piece, or its slot goes to another candidate; at most
//! [`MAX_QUEUED_REJECTS`] answers to its requests wait for it to read; PEX messages are rate
//! limited by [`PexState`] and at most [`MAX_PEX_PEERS`] addresses are taken from each.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ccbt_wire::ext::metadata::MetadataMessage;
use ccbt_wire::ext::pex::PexMessage;
use ccbt_wire::ext::{ExtHandshake, UT_METADATA};
use ccbt_wire::Message;
use thiserror::Error;

use super::{MetadataError, MetadataFailure, MetadataFetcher};
use crate::pex::PexState;
use crate::swarm::{our_ext_handshake, OUR_UT_METADATA, OUR_UT_PEX};
use crate::PeerKey;

/// Time from the connection's start for the peer's extension handshake to arrive.
pub const EXT_HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// Time a peer has to deliver an accepted metadata piece, counted from the connection's start
/// and again from each piece it delivers. A peer that only sends keepalives, or whose size is
/// outvoted, gives its slot back.
pub const SERVE_DEADLINE: Duration = Duration::from_secs(30);

/// Most rejects (our answer to the peer's own metadata requests: we have nothing yet) waiting
/// to be written; requests beyond it are ignored, as BEP 9 allows.
pub const MAX_QUEUED_REJECTS: usize = 4;

/// Most addresses taken from one PEX message in the metadata phase.
pub const MAX_PEX_PEERS: usize = 50;

/// What we say about ourselves in the extension handshake.
#[derive(Debug, Clone)]
pub struct ConnOptions {
    /// Our listen port (`p`).
    pub listen_port: u16,
    /// Whether to speak PEX (never for a private torrent; a magnet has no private flag).
    pub pex: bool,
    /// Whether the peer's handshake set the fast-extension bit (BEP 6).
    pub fast: bool,
    /// Our client name (`v`).
    pub client: String,
}

/// Why a metadata connection ends.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnEnd {
    #[error("peer does not serve metadata (no ut_metadata or metadata_size)")]
    NoMetadata,
    #[error("bad extension handshake: {0}")]
    BadExtHandshake(String),
    #[error("no extension handshake within {} s", EXT_HANDSHAKE_DEADLINE.as_secs())]
    ExtHandshakeTimeout,
    #[error("no metadata piece delivered within {} s", SERVE_DEADLINE.as_secs())]
    Stalled,
    #[error("bad metadata piece: {0}")]
    BadPiece(#[from] MetadataError),
    #[error("sent metadata that does not match the info hash")]
    Lied,
    #[error("metadata complete")]
    Complete,
}

/// What the engine should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnEvent {
    /// A metadata piece from this peer was taken.
    PieceAccepted { piece: u32, total_size: u64 },
    /// The metadata verified (this connection delivered the last piece).
    Verified(Vec<u8>),
    /// The metadata failed the hash check; the fetcher is confirming each piece (for logs).
    HashMismatch(MetadataFailure),
    /// Addresses learnt from PEX, already filtered and limited.
    Peers(Vec<SocketAddr>),
}

/// The metadata-phase state of one connection.
#[derive(Debug)]
pub struct MetadataConn {
    key: PeerKey,
    addr: SocketAddr,
    /// The peer's id for `ut_metadata`, once its extension handshake came.
    their_metadata_id: Option<u8>,
    /// Messages waiting to be written: the opening messages, then requests.
    transmits: VecDeque<Message>,
    /// Pieces the peer asked us for, to be rejected; at most [`MAX_QUEUED_REJECTS`].
    rejects: VecDeque<u32>,
    events: VecDeque<ConnEvent>,
    ext_handshake_deadline: Instant,
    serve_deadline: Instant,
    pieces_delivered: u64,
    pex: Option<PexState>,
}

impl MetadataConn {
    /// A connection to `addr`, registered with the fetcher as `key` once its extension
    /// handshake arrives. Queues our opening messages.
    pub fn new(now: Instant, key: PeerKey, addr: SocketAddr, opts: &ConnOptions) -> MetadataConn {
        let mut transmits = VecDeque::with_capacity(4);
        if opts.fast {
            // BEP 6: with the fast extension the first message must state what we have.
            transmits.push_back(Message::HaveNone);
        }
        let payload = our_ext_handshake(opts.listen_port, None, opts.pex, &opts.client, None);
        transmits.push_back(Message::Extended { id: 0, payload });
        MetadataConn {
            key,
            addr,
            their_metadata_id: None,
            transmits,
            rejects: VecDeque::with_capacity(MAX_QUEUED_REJECTS),
            events: VecDeque::new(),
            ext_handshake_deadline: later(now, EXT_HANDSHAKE_DEADLINE),
            serve_deadline: later(now, SERVE_DEADLINE),
            pieces_delivered: 0,
            pex: opts.pex.then(|| PexState::new(now, addr)),
        }
    }

    /// Metadata pieces this peer delivered that were taken.
    pub fn pieces_delivered(&self) -> u64 {
        self.pieces_delivered
    }

    /// One message from the peer.
    pub fn handle_message(
        &mut self,
        now: Instant,
        msg: Message,
        fetcher: &mut MetadataFetcher,
    ) -> Result<(), ConnEnd> {
        let Message::Extended { id, payload } = msg else { return Ok(()) };
        match id {
            0 => self.on_ext_handshake(&payload, fetcher),
            OUR_UT_METADATA => match MetadataMessage::decode(payload) {
                Ok(MetadataMessage::Data { piece, total_size, data }) => {
                    self.on_data(now, piece, total_size, &data, fetcher)
                }
                Ok(MetadataMessage::Reject { piece }) => {
                    fetcher.on_reject(now, self.key, piece);
                    Ok(())
                }
                Ok(MetadataMessage::Request { piece }) => {
                    // We have no metadata yet. Beyond the bound the request goes unanswered.
                    if self.their_metadata_id.is_some() && self.rejects.len() < MAX_QUEUED_REJECTS {
                        self.rejects.push_back(piece);
                    }
                    Ok(())
                }
                // BEP 9: unknown or malformed ut_metadata messages are ignored.
                Err(_) => Ok(()),
            },
            OUR_UT_PEX => {
                self.on_pex(now, &payload);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn on_ext_handshake(&mut self, payload: &[u8], fetcher: &mut MetadataFetcher) -> Result<(), ConnEnd> {
        let hs = ExtHandshake::decode(payload).map_err(|e| ConnEnd::BadExtHandshake(e.to_string()))?;
        let (Some(their_id), Some(size)) = (hs.extension_id(UT_METADATA), hs.metadata_size) else {
            return Err(ConnEnd::NoMetadata);
        };
        // BEP 10 allows later handshakes; only the first one's size votes, so that a peer cannot
        // make the fetch switch sizes back and forth.
        if self.their_metadata_id.replace(their_id).is_none() {
            fetcher.add_peer(self.key, self.addr.ip(), size);
        }
        Ok(())
    }

    fn on_data(
        &mut self,
        now: Instant,
        piece: u32,
        total_size: u64,
        data: &[u8],
        fetcher: &mut MetadataFetcher,
    ) -> Result<(), ConnEnd> {
        if !fetcher.on_data(now, self.key, piece, total_size, data)? {
            return Ok(());
        }
        self.pieces_delivered += 1;
        self.serve_deadline = later(now, SERVE_DEADLINE);
        self.events.push_back(ConnEvent::PieceAccepted { piece, total_size });
        match fetcher.poll_complete() {
            Some(Ok(metadata)) => self.events.push_back(ConnEvent::Verified(metadata)),
            Some(Err(failure)) => self.events.push_back(ConnEvent::HashMismatch(failure)),
            None => {}
        }
        Ok(())
    }

    fn on_pex(&mut self, now: Instant, payload: &[u8]) {
        let (Some(pex), Ok(msg)) = (self.pex.as_mut(), PexMessage::decode(payload)) else { return };
        // Too frequent or too large: the message is not used.
        let Ok(added) = pex.on_message(now, &msg) else { return };
        let peers: Vec<SocketAddr> = added.into_iter().map(|(addr, _)| addr).take(MAX_PEX_PEERS).collect();
        if !peers.is_empty() {
            self.events.push_back(ConnEvent::Peers(peers));
        }
    }

    /// Checks the deadlines and the fetch's state: `Err` when the connection should close
    /// (the metadata is complete, the peer lied, or it stalled).
    pub fn handle_timeout(&mut self, now: Instant, fetcher: &MetadataFetcher) -> Result<(), ConnEnd> {
        if fetcher.is_done() {
            return Err(if fetcher.is_liar(self.addr.ip()) { ConnEnd::Lied } else { ConnEnd::Complete });
        }
        if self.their_metadata_id.is_none() && now >= self.ext_handshake_deadline {
            return Err(ConnEnd::ExtHandshakeTimeout);
        }
        if now >= self.serve_deadline {
            return Err(ConnEnd::Stalled);
        }
        Ok(())
    }

    /// The next message to write, if any: opening messages, then rejects, then the requests the
    /// fetcher hands this peer. Call only while the write buffer has room, so that what a peer
    /// that does not read can make us queue stays bounded.
    pub fn poll_transmit(&mut self, now: Instant, fetcher: &mut MetadataFetcher) -> Option<Message> {
        if let Some(msg) = self.transmits.pop_front() {
            return Some(msg);
        }
        let their_id = self.their_metadata_id?;
        if let Some(piece) = self.rejects.pop_front() {
            return Some(Message::Extended {
                id: their_id,
                payload: MetadataMessage::Reject { piece }.encode(),
            });
        }
        for piece in fetcher.take_requests(now, self.key) {
            let payload = MetadataMessage::Request { piece }.encode();
            self.transmits.push_back(Message::Extended { id: their_id, payload });
        }
        self.transmits.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) (and `poll_transmit`) must next run.
    pub fn poll_timeout(&self, fetcher: &MetadataFetcher) -> Option<Instant> {
        let handshake = self.their_metadata_id.is_none().then_some(self.ext_handshake_deadline);
        [handshake, Some(self.serve_deadline), fetcher.poll_timeout()].into_iter().flatten().min()
    }

    /// The next event for the engine.
    pub fn poll_event(&mut self) -> Option<ConnEvent> {
        self.events.pop_front()
    }

    /// The connection closed: its requests go to other peers.
    pub fn close(&mut self, fetcher: &mut MetadataFetcher) {
        fetcher.remove_peer(self.key);
    }
}

fn later(now: Instant, by: Duration) -> Instant {
    now.checked_add(by).unwrap_or(now)
}
