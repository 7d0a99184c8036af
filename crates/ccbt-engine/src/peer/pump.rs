//! The socket pump: moves bytes between one TCP stream and one sans-IO connection machine, for
//! torrent connections and metadata connections alike (after quinn's split of `Connection` from
//! its driver: the machine decides, the pump only reads, writes and sleeps).
//!
//! # Interface
//!
//! A machine implements [`Machine`]; [`run`] drives it until it or the socket ends the
//! connection. Each turn of the loop:
//!
//! 1. [`Machine::after_input`]: the machine's owner reacts to what arrived (a torrent connection
//!    hands its events to the swarm here).
//! 2. [`Machine::poll_transmit`] is drained into the write buffer.
//! 3. [`Machine::start_output`] may start work that produces output later (upload reads), within
//!    the room left under the cap; such promised bytes are reported by [`Machine::pending_output`].
//! 4. The pump waits for the first of: socket readable (only under the read threshold), socket
//!    writable (only with bytes to write), [`Machine::wake`] (commands, finished disk reads) or
//!    [`Machine::poll_timeout`], and feeds what happened back in.
//!
//! # Back-pressure
//!
//! Queued bytes are the write buffer plus [`Machine::pending_output`]. Messages are fed to the
//! machine at most [`MESSAGES_PER_STEP`] at a time, and only while queued bytes are below
//! `cap - MESSAGES_PER_STEP * max_output_per_message`: each message can make the machine queue
//! at most `max_output_per_message` (a 16 KiB block or `ut_metadata` piece), so queued bytes
//! never exceed `cap`. Above the threshold the pump stops decoding and stops reading the socket:
//! a peer that requests faster than it reads only fills its own socket buffers.
//!
//! # Rate limits
//!
//! Every read and write goes through a [`RateGate`] (`peer/rate.rs`): it asks the session's
//! limiter for a grant and moves at most that much. A refused direction sleeps until the
//! instant the limiter named (one more branch of the same `select!`), so commands, timers and
//! the other direction go on meanwhile.
//!
//! # The two kinds of connection
//!
//! `TorrentConn` (`peer/mod.rs`) drives a `PeerConn` and the torrent's swarm;
//! `MetadataMachine` (`magnet/conn.rs`) drives a metadata-phase `MetadataConn` and the
//! resolver's fetcher. The latter keeps the messages fed to it and hands them to its machine in
//! `after_input`, under one lock of the fetcher per step, and waits on the resolver's wake-ups
//! in `wake`. Both use the same [`PumpLimits`] (`peer::LIMITS`): the largest reply one message
//! can cause is a 16 KiB block or `ut_metadata` piece with its headers.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use bytes::BytesMut;
use ccbt_wire::{Message, MessageDecoder};
use tokio::net::TcpStream;

use super::end::ConnEnd;
use super::out_queue::OutQueue;
use super::rate::{Moved, RateGate};
use crate::limits::ConnRate;

#[cfg(test)]
mod tests;

/// Messages fed to the machine between two calls of [`Machine::after_input`].
pub(crate) const MESSAGES_PER_STEP: usize = 16;

/// Read buffer growth step; blocks are split off it without copying.
const READ_CHUNK: usize = 256 * 1024;

/// A sans-IO connection as the pump sees it. Errors end the connection.
pub(crate) trait Machine {
    /// Feeds one decoded message.
    fn handle_message(&mut self, now: Instant, msg: Message) -> Result<(), ConnEnd>;
    /// Lets the machine's owner react to the input since the last call (also called once
    /// before anything is read, and after every timer and wake-up).
    fn after_input(&mut self, now: Instant) -> Result<(), ConnEnd>;
    /// The next message to send, in order.
    fn poll_transmit(&mut self) -> Option<Message>;
    /// Bytes the machine promised to queue but has not yet handed to `poll_transmit` (upload
    /// reads in flight); counted against the cap.
    fn pending_output(&self) -> usize {
        0
    }
    /// May start work producing at most `room` bytes of output later.
    fn start_output(&mut self, _room: usize) {}
    /// When [`Machine::handle_timeout`] has work next.
    fn poll_timeout(&self) -> Option<Instant>;
    fn handle_timeout(&mut self, now: Instant) -> Result<(), ConnEnd>;
    /// Waits for work that does not come from the socket. Must be cancel-safe: the pump drops
    /// it whenever the socket or a timer is ready first.
    fn wake(&mut self) -> impl Future<Output = Result<(), ConnEnd>> + Send;
}

/// Bounds of one pump.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PumpLimits {
    /// Most bytes queued for one peer (see the module docs).
    pub cap: usize,
    /// Most output one message can make the machine queue.
    pub max_output_per_message: usize,
    /// Largest frame accepted from the peer.
    pub max_frame: u32,
}

impl PumpLimits {
    /// Queued bytes at which the pump stops feeding input.
    fn read_threshold(&self) -> usize {
        self.cap.saturating_sub(MESSAGES_PER_STEP * self.max_output_per_message)
    }
}

/// Bytes queued for one peer, now and at the most, readable from other tasks (peer lists).
#[derive(Debug, Default)]
pub(crate) struct QueueGauge {
    queued: AtomicUsize,
    peak: AtomicUsize,
}

impl QueueGauge {
    fn record(&self, queued: usize) {
        self.queued.store(queued, Relaxed);
        self.peak.fetch_max(queued, Relaxed);
    }
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Relaxed)
    }
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Relaxed)
    }
}

/// Drives `machine` over `stream` until one of them ends the connection; `rate` is the
/// connection's place in the session's rate limiters.
pub(crate) async fn run<M: Machine>(
    stream: &TcpStream,
    machine: &mut M,
    limits: PumpLimits,
    gauge: &QueueGauge,
    rate: &ConnRate,
) -> ConnEnd {
    let mut gate = RateGate::new(rate);
    let mut decoder = MessageDecoder::new(limits.max_frame);
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = OutQueue::default();
    // Complete frames may still wait in `rbuf`: decode them before reading more.
    let mut input_pending = false;
    loop {
        if let Err(end) = machine.after_input(Instant::now()) {
            return end;
        }
        while let Some(msg) = machine.poll_transmit() {
            out.push(msg);
        }
        let room = limits.cap.saturating_sub(out.len() + machine.pending_output());
        machine.start_output(room);
        let queued = out.len() + machine.pending_output();
        gauge.record(queued);
        let may_read = queued < limits.read_threshold();
        if !may_read {
            gate.stop_reading();
        }
        if may_read && input_pending {
            input_pending = match feed(&mut decoder, &mut rbuf, machine) {
                Ok(more) => more,
                Err(end) => return end,
            };
            // A long run of buffered input must not starve the other tasks of this thread.
            tokio::task::consume_budget().await;
            continue;
        }
        let deadline = machine.poll_timeout().map(tokio::time::Instant::from_std);
        let rate_wake = gate.next_wake().map(tokio::time::Instant::from_std);
        tokio::select! {
            ready = stream.readable(), if may_read && gate.read_open() => {
                if let Err(e) = ready {
                    return ConnEnd::Io(e);
                }
                if rbuf.capacity() - rbuf.len() < 32 * 1024 {
                    rbuf.reserve(READ_CHUNK);
                }
                let want = rbuf.capacity() - rbuf.len();
                match gate.read(stream, &mut rbuf, want) {
                    Ok(Moved::Closed) => return ConnEnd::PeerClosed,
                    Ok(Moved::Bytes(n)) => input_pending |= n > 0,
                    Ok(Moved::Limited) => {}
                    Err(e) => return ConnEnd::Io(e),
                }
            }
            ready = stream.writable(), if !out.is_empty() && gate.write_open() => {
                if let Err(e) = ready {
                    return ConnEnd::Io(e);
                }
                if let Err(e) = gate.write(stream, &mut out) {
                    return ConnEnd::Io(e);
                }
            }
            _ = sleep_until(rate_wake) => gate.wake(Instant::now()),
            woke = machine.wake() => {
                if let Err(end) = woke {
                    return end;
                }
            }
            _ = sleep_until(deadline) => {
                if let Err(end) = machine.handle_timeout(Instant::now()) {
                    return end;
                }
            }
        }
    }
}

/// Feeds up to [`MESSAGES_PER_STEP`] messages from `rbuf`. Returns whether more may be waiting.
fn feed<M: Machine>(
    decoder: &mut MessageDecoder,
    rbuf: &mut BytesMut,
    machine: &mut M,
) -> Result<bool, ConnEnd> {
    let now = Instant::now();
    for _ in 0..MESSAGES_PER_STEP {
        match decoder.decode(rbuf).map_err(ConnEnd::Wire)? {
            Some(msg) => machine.handle_message(now, msg)?,
            None => return Ok(false),
        }
    }
    Ok(true)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
