//! The request queues of one connection, readable from other tasks (peer lists, the session
//! snapshot) without the connection's state: its task copies the two lengths from its
//! `PeerConn` after every turn of the pump, and readers load them.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Our requests to the peer not yet answered, and the peer's requests to us not yet served.
#[derive(Debug, Default)]
pub(crate) struct RequestGauge {
    outstanding: AtomicUsize,
    queued: AtomicUsize,
}

impl RequestGauge {
    /// Records the queue lengths the connection has now.
    pub(crate) fn record(&self, outstanding: usize, queued: usize) {
        self.outstanding.store(outstanding, Relaxed);
        self.queued.store(queued, Relaxed);
    }

    /// Blocks we requested from the peer and wait for (blocks in flight).
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.load(Relaxed)
    }

    /// Blocks the peer requested from us that are accepted and not yet sent.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Relaxed)
    }
}
