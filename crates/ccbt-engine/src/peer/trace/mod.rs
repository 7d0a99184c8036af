//! Per-peer tracing: every message to and from one connection, one timestamped line each, in
//! `<state_dir>/traces/<info hash>/<ip>_<port>.log`.
//!
//! # Cost
//!
//! A connection holds an `Option<PeerTracer>`; untraced, each message costs the test of that
//! `None` and nothing else (no formatting, no allocation, no clock). Traced, the connection
//! formats the line and hands it to a bounded channel; a writer task of its own appends the
//! lines to the file through a buffer, flushed whenever the channel runs empty, so the file is
//! readable while the connection lives and the socket task never waits for the disk.
//!
//! # Bounds
//!
//! The file stops growing at `peer_trace_max_mib` (counted from its size when the writer
//! opens it: traces of successive connections to one address are appended), with a last line
//! saying so; the writer then ends and the connection drops its tracer. A writer that falls
//! behind (a full channel of [`CHANNEL_LINES`] lines) costs lines, never memory: the next line
//! that gets through is preceded by the count of those lost.

mod format;

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ccbt_core::InfoHash;
use ccbt_wire::{Handshake, Message};
use tokio::sync::mpsc::{self, error::TrySendError};

pub(crate) use format::Direction;
use format::ExtNames;

/// Lines waiting for one writer: at most this many (a few hundred KiB) per traced connection.
pub(crate) const CHANNEL_LINES: usize = 2048;

/// Room kept under the cap for the line that says the trace stopped.
const STOP_LINE_ROOM: u64 = 128;

/// The trace file of the peer at `addr` in the torrent `info_hash`.
pub(crate) fn trace_path(state_dir: &Path, info_hash: &InfoHash, addr: SocketAddr) -> PathBuf {
    // `:` of IPv6 addresses is not welcome in every file system.
    let ip = addr.ip().to_string().replace(':', "-");
    state_dir.join("traces").join(info_hash.to_hex()).join(format!("{ip}_{}.log", addr.port()))
}

/// The tracing side of one connection: formats lines and hands them to its writer task.
#[derive(Debug)]
pub(crate) struct PeerTracer {
    tx: mpsc::Sender<String>,
    names: ExtNames,
    /// Lines lost to a full channel since the last one that got through.
    dropped: u64,
}

impl PeerTracer {
    /// Starts the writer task of a trace appended to `path`, stopping at `max_bytes`. The file
    /// (and its folder) is created when the first line is written.
    pub(crate) fn start(path: PathBuf, max_bytes: u64) -> PeerTracer {
        let (tx, rx) = mpsc::channel(CHANNEL_LINES);
        tokio::spawn(write_lines(path, max_bytes, rx));
        PeerTracer { tx, names: ExtNames::default(), dropped: 0 }
    }

    /// Traces one message. False when the trace is over (cap reached, file unwritable): the
    /// connection then drops the tracer.
    pub(crate) fn message(&mut self, dir: Direction, msg: &Message) -> bool {
        let text = format::message(msg, dir, &mut self.names);
        self.send(Some(dir), &text)
    }

    /// Traces a handshake, sent or received.
    pub(crate) fn handshake(&mut self, dir: Direction, h: &Handshake) -> bool {
        self.send(Some(dir), &format::handshake(h))
    }

    /// Traces an event of the connection (start, end).
    pub(crate) fn note(&mut self, text: &str) -> bool {
        self.send(None, text)
    }

    fn send(&mut self, dir: Option<Direction>, text: &str) -> bool {
        let now = SystemTime::now();
        if self.dropped > 0 {
            let lost = format!("{} lines lost: the trace writer fell behind", self.dropped);
            match self.tx.try_send(format::line(now, None, &lost)) {
                Ok(()) => self.dropped = 0,
                Err(TrySendError::Full(_)) => {
                    self.dropped += 1;
                    return true;
                }
                Err(TrySendError::Closed(_)) => return false,
            }
        }
        match self.tx.try_send(format::line(now, dir, text)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                true
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }
}

/// The writer task: appends the lines to `path` until the channel closes or the cap is
/// reached. The file is written on the blocking pool, one batch of lines at a time.
async fn write_lines(path: PathBuf, max_bytes: u64, mut rx: mpsc::Receiver<String>) {
    let mut batch = Vec::with_capacity(BATCH_LINES);
    let mut file: Option<TraceFile> = None;
    while rx.recv_many(&mut batch, BATCH_LINES).await > 0 {
        let lines = std::mem::take(&mut batch);
        let opened = file.take();
        let at = path.clone();
        let step = tokio::task::spawn_blocking(move || {
            let mut file = match opened {
                Some(file) => file,
                None => match TraceFile::open(&at, max_bytes)? {
                    Some(file) => file,
                    // An earlier trace of this address filled the file (and said so).
                    None => return Ok((None, lines)),
                },
            };
            let mut lines = lines;
            let more = file.write(&mut lines)?;
            Ok::<_, std::io::Error>((more.then_some(file), lines))
        })
        .await;
        match step {
            Ok(Ok((Some(open), lines))) => {
                file = Some(open);
                batch = lines;
            }
            // The cap was reached: dropping `rx` tells the connection.
            Ok(Ok((None, _))) => return,
            Ok(Err(e)) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot write the peer trace");
                return;
            }
            Err(_) => return,
        }
    }
}

/// Lines handed to the blocking pool at once.
const BATCH_LINES: usize = 256;

/// An open trace file and what it may still take.
struct TraceFile {
    out: BufWriter<File>,
    written: u64,
    max_bytes: u64,
}

impl TraceFile {
    /// Opens `path` for appending (creating its folder); None when it is full already.
    fn open(path: &Path, max_bytes: u64) -> std::io::Result<Option<TraceFile>> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        if written + STOP_LINE_ROOM >= max_bytes {
            return Ok(None);
        }
        Ok(Some(TraceFile { out: BufWriter::with_capacity(64 * 1024, file), written, max_bytes }))
    }

    /// Appends `lines` (emptying it) and flushes. False once the cap is reached: the last line
    /// written then says so.
    fn write(&mut self, lines: &mut Vec<String>) -> std::io::Result<bool> {
        let budget = self.max_bytes.saturating_sub(STOP_LINE_ROOM);
        for line in lines.drain(..) {
            if self.written + line.len() as u64 > budget {
                let mib = self.max_bytes / (1024 * 1024);
                let text = format!("trace stopped: the file reached peer_trace_max_mib ({mib} MiB)");
                self.out.write_all(format::line(SystemTime::now(), None, &text).as_bytes())?;
                self.out.flush()?;
                return Ok(false);
            }
            self.out.write_all(line.as_bytes())?;
            self.written += line.len() as u64;
        }
        self.out.flush()?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
