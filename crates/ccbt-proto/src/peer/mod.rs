//! The per-connection peer protocol state machine, [`PeerConn`].
//!
//! Sans-IO, after quinn-proto's `Connection`: the engine's connection task does the 68-byte
//! handshake, then feeds decoded [`Message`]s ([`PeerConn::handle_message`]), timer expiries
//! ([`PeerConn::handle_timeout`] at [`PeerConn::poll_timeout`]) and commands from the torrent
//! logic, and drains [`PeerConn::poll_transmit`] (messages to encode, in order) and
//! [`PeerConn::poll_event`] (what the torrent must know). Every `Err` is a [`PeerError`] that
//! ends the connection; after one, the connection must be dropped.
//!
//! # States
//!
//! Two independent choke/interest pairs, each starting choked and not interested (BEP 3):
//!
//! ```text
//!   am_choking ──unchoke()──► unchoked        peer_choking ──Unchoke──► unchoked
//!       ▲                        │                 ▲                      │
//!       └────────choke()─────────┘                 └────────Choke─────────┘
//! ```
//!
//! Availability (BEP 3, BEP 6): the first Bitfield, HaveAll or HaveNone may come after other
//! messages (Transmission sends its extension handshake first, aria2 interest and allowed-fast).
//! A later one may only add pieces: aria2 sends a whole Bitfield instead of many Haves, and
//! HaveAll when it finishes. Such a Bitfield is reported as Haves of its new pieces only, so a
//! peer repeating bitfields costs the work of reading them here, outside the torrent's lock, and
//! the torrent at most one update per piece for the connection's life. Taking a piece back, a
//! second HaveAll, or a HaveNone after any availability is [`PeerError::InvalidAvailability`].
//!
//! # Which message is legal when (receive side)
//!
//! | message | rule |
//! |---|---|
//! | Bitfield | length and spare bits checked; a later one must include every piece announced before |
//! | HaveAll | fast extension only; at most once |
//! | HaveNone | fast extension only; only before any other availability message (Have included) |
//! | Have | valid piece index; a repeated Have is silently absorbed |
//! | Suggest, AllowedFast | fast extension only; valid piece index |
//! | Request | block inside its piece (else error). Refused — Reject with the fast extension, silently dropped without — when it is larger than `max_block_len`, for a piece we do not have, while we choke the peer (unless we granted the piece as allowed-fast), or when `max_peer_requests` are already queued. More refusals than `max_peer_requests` since our last unchoke is an error |
//! | Cancel | block inside its piece; removes the queued request (with the fast extension answered by a Reject, BEP 6) |
//! | Reject | fast extension only; block inside its piece; releases our request. One for a request we never sent (nor recently abandoned) counts; more than `max_unrequested` is an error |
//! | Piece | block inside its piece; answers our request, else it is wasted. Blocks we never requested (nor recently abandoned) count; more than `max_unrequested` is an error |
//! | Extended | extension protocol only; id 0 is the extension handshake, decoded here (outside the torrent's lock) into a typed event like our `ut_metadata` requests and `ut_pex` messages; undecodable payloads and other ids are dropped |
//! | KeepAlive, Choke, Unchoke, Interested, NotInterested, Port | always |
//!
//! Anything the peer sends, KeepAlive included, resets the idle timer; `idle_timeout` of
//! silence is [`PeerError::Timeout`].
//!
//! # Our requests
//!
//! [`PeerConn::request`] puts a block on the wire and tracks it as outstanding with the time it
//! was sent. It leaves the outstanding set by exactly one of: its Piece arrives
//! ([`PeerEvent::Block`]); the peer rejects it, chokes us without the fast extension, or leaves it
//! unanswered for `request_timeout` ([`PeerEvent::RequestsReleased`]; a timeout also sends Cancel
//! and halves the pipeline depth); or [`PeerConn::cancel`]. With the fast extension a Choke does
//! not release anything: BEP 6 guarantees each request one answer, Piece or Reject. Released and
//! cancelled blocks are remembered for a while as *abandoned*: their late Piece is wasted and a
//! late Reject ignored, neither counted as abuse.
//!
//! Invariants: outstanding requests never exceed `max(min, max)_pipeline_depth`; while the
//! peer chokes us, new requests are only accepted for its allowed-fast pieces.
//!
//! The pipeline depth starts at `min_pipeline_depth` and, on every block that arrives, is set to
//! the number of 16 KiB blocks the peer delivers in one second (enough in flight to cover about a
//! second of round trip at that rate), clamped to `[min, max]_pipeline_depth` and to the peer's
//! `reqq` ([`PeerConn::set_peer_max_requests`]).
//!
//! # Their requests
//!
//! Accepted requests are queued as a set of blocks (at most `max_peer_requests`) and reported as
//! [`PeerEvent::Request`]. The engine reads the block and calls [`PeerConn::serve_block`], which
//! sends it only if it is still queued: a Cancel or our [`PeerConn::choke`] in the meantime
//! removes it. `choke()` drops every queued request (with the fast extension it rejects each,
//! except those for pieces we granted with [`PeerConn::allow_fast`]).
//!
//! # Opening and timers
//!
//! [`PeerConn::start`] queues HaveAll/HaveNone/Bitfield first (BEP 6 wants it to be the first
//! message), then the extension handshake. A KeepAlive goes out when nothing else was queued for
//! `keepalive_interval`. Statistics count block payload only.
//!
//! # Outgoing bytes
//!
//! [`PeerConn::queued_bytes`] counts the wire bytes of every message queued and not yet polled,
//! so the engine's write-buffer cap covers what waits here too; metadata replies are counted
//! separately ([`PeerConn::queued_metadata_replies`]) so the swarm can bound them.

mod commands;
mod error;
mod event;
mod incoming;
mod options;
mod rate;
mod requests;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use ccbt_core::{Bitfield, Lengths};
use ccbt_wire::Message;

pub use error::PeerError;
pub use event::{PeerEvent, PeerStats};
pub use options::{PeerConnOptions, MAX_PEER_REQUESTS};

use rate::Rate;
use requests::{Abandoned, OurRequests, TheirRequests};

/// The extension ids we advertise in our handshake (the peer sends us messages with these).
pub const OUR_UT_METADATA: u8 = 1;
pub const OUR_UT_PEX: u8 = 2;
/// `xet_cas` (docs/xet.md), advertised by torrent connections of Xet torrents.
pub use crate::xet::OUR_XET_CAS;

/// Largest allowed-fast set we keep in either direction (BEP 6 suggests 10; the cap only
/// bounds memory against a peer that sends an AllowedFast for every piece).
const MAX_ALLOWED_FAST: usize = 256;

/// The sans-IO state machine of one peer connection (see the [module docs](self)).
#[derive(Debug)]
pub struct PeerConn {
    opts: PeerConnOptions,

    /// What the peer has; HaveAll expands to a full bitfield.
    peer_has: Bitfield,
    /// `peer_has.count_ones()`, kept so that `is_seed` is O(1).
    peer_have_count: u32,
    /// Whether any availability message (Have included) arrived: HaveNone is then an error.
    availability_seen: bool,
    /// Whether HaveAll arrived: a second one is an error.
    have_all_seen: bool,
    peer_choking: bool,
    peer_interested: bool,
    /// Pieces the peer lets us request while it chokes us.
    allowed_fast: Vec<u32>,

    /// What we have, to refuse requests for anything else.
    our_have: Bitfield,
    am_choking: bool,
    am_interested: bool,
    /// Pieces we let the peer request while we choke it.
    granted_fast: Vec<u32>,

    ours: OurRequests,
    theirs: TheirRequests,
    abandoned: Abandoned,
    pipeline_depth: u32,
    peer_reqq: Option<u32>,

    last_received: Instant,
    last_sent: Instant,
    /// The latest `now` seen, for rates queried without a `now`.
    last_now: Instant,
    download: Rate,
    upload: Rate,
    /// Counters; the rate fields are filled in by [`PeerConn::stats`].
    stats: PeerStats,

    transmits: VecDeque<Queued>,
    /// Wire bytes of `transmits`.
    queued_bytes: usize,
    /// Metadata data replies in `transmits`.
    queued_metadata_replies: u32,
    events: VecDeque<PeerEvent>,
}

/// A message waiting in [`PeerConn::poll_transmit`]'s queue.
#[derive(Debug)]
struct Queued {
    msg: Message,
    /// A `ut_metadata` data reply (counted by [`PeerConn::queued_metadata_replies`]).
    metadata_reply: bool,
}

impl PeerConn {
    /// A connection whose handshake just completed at `now`.
    pub fn new(mut options: PeerConnOptions, now: Instant) -> PeerConn {
        // Options are public fields: repair an inverted range rather than misbehave.
        options.min_pipeline_depth = options.min_pipeline_depth.max(1);
        options.max_pipeline_depth = options.max_pipeline_depth.max(options.min_pipeline_depth);
        let n = options.lengths.num_pieces();
        let abandoned_cap = (options.max_pipeline_depth as usize).saturating_mul(2).max(64);
        PeerConn {
            peer_has: Bitfield::new(n),
            peer_have_count: 0,
            availability_seen: false,
            have_all_seen: false,
            peer_choking: true,
            peer_interested: false,
            allowed_fast: Vec::new(),
            our_have: Bitfield::new(n),
            am_choking: true,
            am_interested: false,
            granted_fast: Vec::new(),
            ours: OurRequests::default(),
            theirs: TheirRequests::default(),
            abandoned: Abandoned::new(abandoned_cap),
            pipeline_depth: options.min_pipeline_depth,
            peer_reqq: None,
            last_received: now,
            last_sent: now,
            last_now: now,
            download: Rate::new(),
            upload: Rate::new(),
            stats: PeerStats::default(),
            transmits: VecDeque::new(),
            queued_bytes: 0,
            queued_metadata_replies: 0,
            events: VecDeque::new(),
            opts: options,
        }
    }

    /// Queues our opening messages: HaveAll/HaveNone (fast extension, when we have all or
    /// nothing) or Bitfield (skipped when we have nothing and there is no fast extension), then
    /// the extension handshake payload if the extension protocol was negotiated and one is
    /// given. The availability message goes first because BEP 6 requires it right after the
    /// handshake; BEP 10 allows the extension handshake anywhere.
    pub fn start(&mut self, now: Instant, our_have: &Bitfield, ext_handshake: Option<Bytes>) {
        self.touch(now);
        // Copy bit by bit so a bitfield of the wrong length can never reach the wire.
        let mut have = Bitfield::new(self.lengths().num_pieces());
        for piece in our_have.iter_ones() {
            have.set(piece);
        }
        let fast = self.opts.fast_extension;
        if fast && have.all() {
            self.send(Message::HaveAll);
        } else if fast && have.none() {
            self.send(Message::HaveNone);
        } else if !have.none() {
            self.send(Message::Bitfield(Bytes::copy_from_slice(have.as_bytes())));
        }
        self.our_have = have;
        if let (true, Some(payload)) = (self.opts.extension_protocol, ext_handshake) {
            self.send(Message::Extended { id: 0, payload });
        }
    }

    /// Runs the timers due at `now`: the idle timeout (an error), request timeouts (released,
    /// cancelled, pipeline halved) and keep-alive.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), PeerError> {
        self.touch(now);
        let idle = now.saturating_duration_since(self.last_received);
        if idle >= self.opts.idle_timeout {
            return Err(PeerError::Timeout { idle });
        }
        let expired = self.ours.take_older_than(now, self.opts.request_timeout);
        if !expired.is_empty() {
            for block in &expired {
                self.send(Message::Cancel(*block));
                self.abandoned.insert(*block);
            }
            // A slow peer: keep less in flight so fewer blocks wait on it.
            self.pipeline_depth = self.clamp_depth(self.pipeline_depth / 2);
            self.events.push_back(PeerEvent::RequestsReleased(expired));
        }
        if now.saturating_duration_since(self.last_sent) >= self.opts.keepalive_interval {
            self.send(Message::KeepAlive);
        }
        Ok(())
    }

    /// The earliest instant at which [`PeerConn::handle_timeout`] has work: keep-alive due, idle
    /// deadline, or the oldest request's deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let keepalive = self.last_sent.checked_add(self.opts.keepalive_interval);
        let idle = self.last_received.checked_add(self.opts.idle_timeout);
        let request = self.ours.oldest_sent().and_then(|t| t.checked_add(self.opts.request_timeout));
        [keepalive, idle, request].into_iter().flatten().min()
    }

    /// The next message to encode and send (FIFO).
    pub fn poll_transmit(&mut self) -> Option<Message> {
        let queued = self.transmits.pop_front()?;
        self.queued_bytes = self.queued_bytes.saturating_sub(queued.msg.encoded_len());
        if queued.metadata_reply {
            self.queued_metadata_replies = self.queued_metadata_replies.saturating_sub(1);
        }
        Some(queued.msg)
    }

    /// Wire bytes of the messages queued for [`PeerConn::poll_transmit`].
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// `ut_metadata` data replies queued for [`PeerConn::poll_transmit`].
    pub fn queued_metadata_replies(&self) -> u32 {
        self.queued_metadata_replies
    }

    /// The next event for the torrent (FIFO).
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    /// What the peer has (HaveAll expands to a full bitfield).
    pub fn peer_has(&self) -> &Bitfield {
        &self.peer_has
    }

    /// Whether the peer has every piece.
    pub fn is_seed(&self) -> bool {
        self.peer_have_count == self.lengths().num_pieces()
    }

    /// Whether the peer chokes us.
    pub fn peer_choking(&self) -> bool {
        self.peer_choking
    }

    /// Whether the peer is interested in us.
    pub fn peer_interested(&self) -> bool {
        self.peer_interested
    }

    /// Whether we choke the peer.
    pub fn am_choking(&self) -> bool {
        self.am_choking
    }

    /// Whether we told the peer we are interested.
    pub fn am_interested(&self) -> bool {
        self.am_interested
    }

    /// Our requests on the wire, not yet answered.
    pub fn outstanding_requests(&self) -> usize {
        self.ours.len()
    }

    /// The blocks of our outstanding requests, oldest first.
    pub fn outstanding_blocks(&self) -> impl Iterator<Item = ccbt_core::BlockRef> + '_ {
        self.ours.blocks()
    }

    /// The peer's accepted requests not yet served.
    pub fn queued_peer_requests(&self) -> usize {
        self.theirs.len()
    }

    /// How many requests we keep in flight now.
    pub fn pipeline_depth(&self) -> u32 {
        self.pipeline_depth
    }

    /// Pieces the peer lets us request while it chokes us (BEP 6 allowed-fast set).
    pub fn allowed_fast(&self) -> &[u32] {
        &self.allowed_fast
    }

    /// Payload counters and rates as of the latest `now` given.
    pub fn stats(&self) -> PeerStats {
        PeerStats {
            download_rate: self.download.per_second(self.last_now),
            upload_rate: self.upload.per_second(self.last_now),
            ..self.stats
        }
    }

    fn lengths(&self) -> &Lengths {
        &self.opts.lengths
    }

    fn touch(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
    }

    /// Queues a message; anything queued counts as sent for the keep-alive timer.
    fn send(&mut self, msg: Message) {
        self.enqueue(msg, false);
    }

    fn enqueue(&mut self, msg: Message, metadata_reply: bool) {
        self.last_sent = self.last_now;
        self.queued_bytes = self.queued_bytes.saturating_add(msg.encoded_len());
        if metadata_reply {
            self.queued_metadata_replies = self.queued_metadata_replies.saturating_add(1);
        }
        self.transmits.push_back(Queued { msg, metadata_reply });
    }

    /// Clamps a pipeline depth to the configured range and the peer's advertised queue.
    fn clamp_depth(&self, depth: u32) -> u32 {
        let depth = depth.clamp(self.opts.min_pipeline_depth, self.opts.max_pipeline_depth);
        match self.peer_reqq {
            Some(reqq) => depth.min(reqq.max(1)),
            None => depth,
        }
    }
}
