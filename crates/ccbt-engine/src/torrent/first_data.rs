//! Time to first byte and time to first verified piece of a torrent: how long a download took
//! to get going, from the moment it started downloading (after its data check, or the metadata
//! fetch of a magnet link; again at each resume) to the first payload byte received, and to the
//! first piece verified after that start.
//!
//! A torrent that starts complete (seeding) has neither figure. The figures describe the latest
//! start while downloading: a resume of an incomplete torrent measures again; a pause, or a
//! start with nothing to download, stops the clock and keeps what was measured.
//!
//! Connections report payload on every turn of their pump: they pay one relaxed atomic load,
//! and take the lock once, for the first byte.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::lock;

/// The clock's state; pure, driven by the instants given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Clock {
    /// When the torrent last started downloading (None while it is not downloading).
    started: Option<Instant>,
    first_byte: Option<Duration>,
    first_piece: Option<Duration>,
}

impl Clock {
    /// The torrent starts downloading at `now`: measures from scratch.
    pub(crate) fn start(&mut self, now: Instant) {
        *self = Clock { started: Some(now), first_byte: None, first_piece: None };
    }

    /// The torrent stopped downloading (paused): what was measured stays.
    pub(crate) fn stop(&mut self) {
        self.started = None;
    }

    /// Payload arrived at `now`.
    pub(crate) fn on_byte(&mut self, now: Instant) {
        if let (Some(started), None) = (self.started, self.first_byte) {
            self.first_byte = Some(now.saturating_duration_since(started));
        }
    }

    /// A downloaded piece was verified at `now`.
    pub(crate) fn on_piece(&mut self, now: Instant) {
        if let (Some(started), None) = (self.started, self.first_piece) {
            self.first_piece = Some(now.saturating_duration_since(started));
        }
    }

    /// Whether a first byte would be recorded now.
    fn awaits_byte(&self) -> bool {
        self.started.is_some() && self.first_byte.is_none()
    }

    pub(crate) fn first_byte(&self) -> Option<Duration> {
        self.first_byte
    }

    pub(crate) fn first_piece(&self) -> Option<Duration> {
        self.first_piece
    }
}

/// A torrent's [`Clock`], shared by its task (start, stop, pieces) and its connections (bytes).
#[derive(Debug, Default)]
pub(crate) struct FirstData {
    /// Mirrors [`Clock::awaits_byte`], written under the lock: connections read it before
    /// taking the lock.
    awaiting_byte: AtomicBool,
    clock: Mutex<Clock>,
}

impl FirstData {
    /// Changes the clock with `change`.
    pub(crate) fn update(&self, change: impl FnOnce(&mut Clock)) {
        let mut clock = lock(&self.clock);
        change(&mut clock);
        self.awaiting_byte.store(clock.awaits_byte(), Relaxed);
    }

    /// Payload arrived now (cheap when the first byte is already measured).
    pub(crate) fn payload_arrived(&self) {
        if self.awaiting_byte.load(Relaxed) {
            let now = Instant::now();
            self.update(|c| c.on_byte(now));
        }
    }

    /// The clock as it is now.
    pub(crate) fn get(&self) -> Clock {
        *lock(&self.clock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn measures_from_the_start_to_the_first_byte_and_piece() {
        let t0 = Instant::now();
        let mut c = Clock::default();
        c.on_byte(t0);
        assert_eq!(c.first_byte(), None, "no figure before the torrent starts");
        c.start(t0);
        c.on_piece(t0 + 5 * S);
        c.on_byte(t0 + 2 * S);
        c.on_byte(t0 + 3 * S);
        c.on_piece(t0 + 7 * S);
        assert_eq!(c.first_byte(), Some(2 * S), "the first byte only");
        assert_eq!(c.first_piece(), Some(5 * S), "the first piece only");
    }

    #[test]
    fn a_pause_keeps_the_figures_and_a_resume_measures_again() {
        let t0 = Instant::now();
        let mut c = Clock::default();
        c.start(t0);
        c.on_byte(t0 + S);
        c.stop();
        c.on_piece(t0 + 2 * S);
        assert_eq!((c.first_byte(), c.first_piece()), (Some(S), None), "nothing counts while stopped");
        c.start(t0 + 10 * S);
        assert_eq!(c.first_byte(), None);
        c.on_byte(t0 + 13 * S);
        assert_eq!(c.first_byte(), Some(3 * S));
    }

    #[test]
    fn connections_take_the_lock_only_while_the_first_byte_is_awaited() {
        let first = FirstData::default();
        first.payload_arrived();
        assert_eq!(first.get().first_byte(), None);
        assert!(!first.awaiting_byte.load(Relaxed));
        first.update(|c| c.start(Instant::now()));
        assert!(first.awaiting_byte.load(Relaxed));
        first.payload_arrived();
        assert!(first.get().first_byte().is_some());
        assert!(!first.awaiting_byte.load(Relaxed), "measured: no more locking");
        first.update(Clock::stop);
        first.update(|c| c.start(Instant::now()));
        assert!(first.awaiting_byte.load(Relaxed), "a resume awaits a first byte again");
    }
}
