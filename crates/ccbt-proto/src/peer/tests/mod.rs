//! Tests driving a `PeerConn` with a fake clock (a base `Instant` plus offsets).

mod availability;
mod commands;
mod incoming;
mod opening;
mod prop;
mod timers;

use std::time::{Duration, Instant};

use bytes::Bytes;
use ccbt_core::{BlockRef, Lengths};
use ccbt_wire::Message;

use super::{PeerConn, PeerConnOptions, PeerEvent};

/// The origin of the fake clock. Reading the real clock once in tests is the only way to get
/// an `Instant`; everything after is offsets from it.
pub(crate) fn base() -> Instant {
    Instant::now()
}

/// 10 pieces of 32 KiB (2 blocks each) and a last piece of 1000 bytes: 11 pieces.
pub(super) fn lengths() -> Lengths {
    Lengths::new(10 * 32768 + 1000, 32768).expect("valid geometry")
}

pub(super) fn options(fast: bool, ext: bool) -> PeerConnOptions {
    PeerConnOptions { fast_extension: fast, extension_protocol: ext, ..PeerConnOptions::new(lengths()) }
}

/// Block `index` of `piece` in the test geometry.
pub(super) fn blk(piece: u32, index: u32) -> BlockRef {
    let l = lengths();
    l.block(l.validate_piece(piece).expect("piece"), index).expect("block")
}

pub(super) fn data(block: BlockRef) -> Bytes {
    Bytes::from(vec![0xab; block.len as usize])
}

pub(super) fn piece_msg(block: BlockRef) -> Message {
    Message::Piece { piece: block.piece, offset: block.offset, data: data(block) }
}

/// A connection plus its clock.
pub(super) struct Harness {
    pub(super) conn: PeerConn,
    pub(super) t0: Instant,
}

impl Harness {
    pub(super) fn new(options: PeerConnOptions) -> Harness {
        let t0 = base();
        Harness { conn: PeerConn::new(options, t0), t0 }
    }

    /// A connection whose opening messages were already exchanged (we have nothing, the peer
    /// everything), with queues drained.
    pub(super) fn opened(fast: bool) -> Harness {
        let mut h = Harness::new(options(fast, true));
        let n = lengths().num_pieces();
        h.conn.start(h.t0, &ccbt_core::Bitfield::new(n), None);
        let full = ccbt_core::Bitfield::full(n);
        h.recv(0.0, Message::Bitfield(Bytes::copy_from_slice(full.as_bytes()))).expect("bitfield");
        h.tx();
        h.ev();
        h
    }

    /// Opened, and the peer unchoked us.
    pub(super) fn unchoked(fast: bool) -> Harness {
        let mut h = Harness::opened(fast);
        h.recv(0.0, Message::Unchoke).expect("unchoke");
        h.ev();
        h
    }

    /// Opened, we have every piece and unchoked the peer.
    pub(super) fn serving(fast: bool) -> Harness {
        let mut h = Harness::opened(fast);
        for p in 0..lengths().num_pieces() {
            h.conn.have(p);
        }
        h.conn.unchoke();
        h.tx();
        h
    }

    pub(super) fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }

    pub(super) fn recv(&mut self, secs: f64, msg: Message) -> Result<(), super::PeerError> {
        let now = self.at(secs);
        self.conn.handle_message(now, msg)
    }

    pub(super) fn tick(&mut self, secs: f64) -> Result<(), super::PeerError> {
        let now = self.at(secs);
        self.conn.handle_timeout(now)
    }

    pub(super) fn request(&mut self, secs: f64, block: BlockRef) -> bool {
        let now = self.at(secs);
        self.conn.request(now, block)
    }

    pub(super) fn tx(&mut self) -> Vec<Message> {
        std::iter::from_fn(|| self.conn.poll_transmit()).collect()
    }

    pub(super) fn ev(&mut self) -> Vec<PeerEvent> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }
}
