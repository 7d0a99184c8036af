//! The pump's side of rate limiting: every read and write of a connection first asks the
//! session's limiter for a grant and moves at most that many bytes; what the socket did not
//! take (a short write, less data waiting than granted) is given back. When the limiter says
//! wait, that direction stays shut until the instant it named, while the pump goes on with
//! the other direction, commands and timers.

use std::io;
use std::time::Instant;

use bytes::{BufMut, BytesMut};
use ccbt_proto::limit::Decision;
use tokio::net::TcpStream;

use super::out_queue::OutQueue;
use crate::limits::{ConnRate, Direction};

/// What one attempt to move bytes gave.
pub(super) enum Moved {
    /// This many bytes moved (0: the socket was not ready after all).
    Bytes(usize),
    /// The limiter refused: this direction waits (see [`RateGate::next_wake`]).
    Limited,
    /// The peer closed the connection (a read of 0 bytes).
    Closed,
}

/// One connection's grants, both directions.
pub(crate) struct RateGate<'a> {
    rate: &'a ConnRate,
    read_wait: Option<Instant>,
    write_wait: Option<Instant>,
}

impl<'a> RateGate<'a> {
    pub(crate) fn new(rate: &'a ConnRate) -> RateGate<'a> {
        RateGate { rate, read_wait: None, write_wait: None }
    }

    /// Whether reads may be tried (no wait pending).
    pub(super) fn read_open(&self) -> bool {
        self.read_wait.is_none()
    }

    pub(super) fn write_open(&self) -> bool {
        self.write_wait.is_none()
    }

    /// When a shut direction may ask again.
    pub(super) fn next_wake(&self) -> Option<Instant> {
        [self.read_wait, self.write_wait].into_iter().flatten().min()
    }

    /// Opens the directions whose wait is over.
    pub(super) fn wake(&mut self, now: Instant) {
        for wait in [&mut self.read_wait, &mut self.write_wait] {
            if wait.is_some_and(|at| at <= now) {
                *wait = None;
            }
        }
    }

    /// The pump stopped wanting to read (its queue is full): a waiting reservation would only
    /// hold up other connections.
    pub(super) fn stop_reading(&mut self) {
        if self.read_wait.take().is_some() {
            self.rate.cancel(Direction::Down);
        }
    }

    /// Reads at most `want` bytes (and at most the grant) into `rbuf`, which must have room
    /// for `want` more bytes.
    pub(super) fn read(&mut self, stream: &TcpStream, rbuf: &mut BytesMut, want: usize) -> io::Result<Moved> {
        let now = Instant::now();
        let granted = match self.rate.request(Direction::Down, now, want as u64) {
            Decision::Grant { bytes } => bytes as usize,
            Decision::WaitUntil(at) => {
                self.read_wait = Some(at);
                return Ok(Moved::Limited);
            }
        };
        let result = stream.try_read_buf(&mut (&mut *rbuf).limit(granted));
        let moved = *result.as_ref().unwrap_or(&0);
        self.rate.give_back(Direction::Down, now, (granted - moved) as u64);
        match result {
            Ok(0) => Ok(Moved::Closed),
            Ok(n) => Ok(Moved::Bytes(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Moved::Bytes(0)),
            Err(e) => Err(e),
        }
    }

    /// Writes the front of `out` (at most the grant) and removes what went out.
    pub(super) fn write(&mut self, stream: &TcpStream, out: &mut OutQueue) -> io::Result<Moved> {
        let now = Instant::now();
        let granted = match self.rate.request(Direction::Up, now, out.len() as u64) {
            Decision::Grant { bytes } => bytes as usize,
            Decision::WaitUntil(at) => {
                self.write_wait = Some(at);
                return Ok(Moved::Limited);
            }
        };
        let result = out.write_with(granted, |slices| stream.try_write_vectored(slices));
        let moved = *result.as_ref().unwrap_or(&0);
        self.rate.give_back(Direction::Up, now, (granted - moved) as u64);
        match result {
            Ok(n) => Ok(Moved::Bytes(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Moved::Bytes(0)),
            Err(e) => Err(e),
        }
    }
}
