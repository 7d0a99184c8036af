//! Reading one file of a torrent while it downloads: [`TorrentFileReader`], an
//! `AsyncRead + AsyncSeek` that returns only bytes of verified pieces and steers the streaming
//! window to where it reads (the base for `ccbt stream` and HTTP range streaming).
//!
//! # Waiting
//! A read of a piece not verified yet waits on the torrent's have-watch, which the torrent task
//! bumps after every verified or failed piece and whenever it closes the torrent (pause, error,
//! removal, shutdown). Nothing polls on a timer.
//!
//! # Several readers
//! Every read and seek moves the torrent's window to the piece being read: with several readers
//! of one torrent the window follows the one that moved most recently (a player seeking is the
//! reader the user is waiting for; the others still get their pieces, after the window's).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use ccbt_storage::StorageError;
use tokio::io::{AsyncRead, AsyncSeek, ReadBuf};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::lifecycle::Lifecycle;
use crate::sync::lock;
use crate::torrent::{streaming, TorrentShared};
use crate::SessionError;

/// Largest read handed to the blocking pool at once (at most one piece, and the file's end).
const READ_CHUNK: u64 = 256 * 1024;

/// The bytes of one file of a torrent, in order, each only once its piece is verified; made by
/// [`crate::Session::open_file`]. Reads wait for missing pieces; reads and seeks move the
/// torrent's streaming window (streaming is turned on for the torrent if it was off). Ends at
/// the file's end; fails with an error, never hangs, when the torrent is removed, the session
/// shuts down or the torrent fails.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use ccbt_engine::{AddTorrent, Session, SessionOptions};
/// use tokio::io::{AsyncReadExt, AsyncSeekExt};
///
/// let session = Session::new(SessionOptions::default()).await?;
/// let add = AddTorrent::from_file("movie.torrent".as_ref())?.save_path("downloads").streaming(true);
/// let id = session.add_torrent(add).await?;
/// let mut movie = session.open_file(id, 0)?;
/// // A player jumping to the middle: the window follows, and the read waits for that piece.
/// movie.seek(std::io::SeekFrom::Start(movie.len() / 2)).await?;
/// let mut frame = vec![0; 64 * 1024];
/// let n = movie.read(&mut frame).await?;
/// # let _ = n;
/// # Ok(()) }
/// ```
pub struct TorrentFileReader {
    shared: Arc<TorrentShared>,
    /// Torrent byte offset of the file's first byte.
    start: u64,
    len: u64,
    /// Position in the file of the next byte returned.
    pos: u64,
    /// Bytes read from storage starting at `pos`, not returned yet.
    buffered: Bytes,
    have: watch::Receiver<u64>,
    state: State,
    /// The piece this reader last moved the window to.
    window_at: Option<u32>,
}

enum State {
    Idle,
    /// Waiting for a piece: resolves when the have-watch changes (`false`: it is gone).
    Waiting(Pin<Box<dyn Future<Output = bool> + Send>>),
    /// A storage read of the bytes at file position `at` on the blocking pool.
    Reading {
        at: u64,
        job: JoinHandle<Result<Bytes, StorageError>>,
    },
}

/// What the reader does next for the byte at its position.
enum Step {
    Read(JoinHandle<Result<Bytes, StorageError>>),
    Wait(Pin<Box<dyn Future<Output = bool> + Send>>),
}

impl TorrentFileReader {
    /// A reader of file `index` of the running torrent `shared`.
    pub(crate) fn open(shared: Arc<TorrentShared>, index: u32) -> Result<TorrentFileReader, SessionError> {
        let unavailable = |reason: String| SessionError::FileUnavailable { index, reason };
        let layout = shared.torrent.layout();
        let file = layout.files().get(index as usize).ok_or_else(|| {
            unavailable(format!("the torrent has {} files (numbered from 0)", layout.files().len()))
        })?;
        if file.is_padding {
            return Err(unavailable("it is a padding file".into()));
        }
        let (start, len) = (file.offset, file.length);
        let piece_len = u64::from(shared.lengths.piece_length());
        if len > 0 {
            let (first, last) = ((start / piece_len) as u32, ((start + len - 1) / piece_len) as u32);
            let selected = {
                let inner = lock(&shared.inner);
                (first..=last).all(|p| inner.selection.contains(p))
            };
            if !selected {
                return Err(unavailable("it is not selected for download".into()));
            }
        }
        let have = shared.have_watch.subscribe();
        Ok(TorrentFileReader {
            shared,
            start,
            len,
            pos: 0,
            buffered: Bytes::new(),
            have,
            state: State::Idle,
            window_at: None,
        })
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The position of the next byte read.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The piece holding file position `pos`.
    fn piece_at(&self, pos: u64) -> u32 {
        ((self.start + pos) / u64::from(self.shared.lengths.piece_length())) as u32
    }

    /// Reads the bytes at `pos` if their piece is verified, else waits for the next change of
    /// the torrent's pieces; fails if the torrent is stopped or failed. Moves the window.
    fn next_step(&mut self) -> io::Result<Step> {
        let piece = self.piece_at(self.pos);
        // Marked seen before looking, so a piece verified after the look wakes the wait.
        self.have.borrow_and_update();
        let shared = &self.shared;
        let mut inner = lock(&shared.inner);
        match &inner.lifecycle {
            Lifecycle::Stopped => {
                return Err(io::Error::other("the torrent was removed or the session shut down"))
            }
            Lifecycle::Failed(e) => return Err(io::Error::other(format!("the torrent failed: {e}"))),
            _ => {}
        }
        if self.window_at != Some(piece) {
            streaming::move_reader(&mut inner, &shared.torrent, piece);
            self.window_at = Some(piece);
        }
        if !inner.swarm.have().get(piece) {
            let mut have = self.have.clone();
            return Ok(Step::Wait(Box::pin(async move { have.changed().await.is_ok() })));
        }
        drop(inner);
        let offset = self.start + self.pos;
        let piece_end = (u64::from(piece) + 1) * u64::from(shared.lengths.piece_length());
        let end = piece_end.min(self.start + self.len).min(offset + READ_CHUNK);
        let storage = shared.storage.clone();
        let len = (end - offset) as usize;
        Ok(Step::Read(tokio::task::spawn_blocking(move || storage.read(offset, len))))
    }
}

impl AsyncRead for TorrentFileReader {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.pos >= this.len || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            if !this.buffered.is_empty() {
                let n = this.buffered.len().min(buf.remaining());
                buf.put_slice(&this.buffered[..n]);
                this.buffered.advance(n);
                this.pos += n as u64;
                return Poll::Ready(Ok(()));
            }
            match &mut this.state {
                State::Reading { at, job } => {
                    let at = *at;
                    let done = ready!(Pin::new(job).poll(cx));
                    this.state = State::Idle;
                    let bytes = done
                        .map_err(|e| io::Error::other(format!("the read task failed: {e}")))?
                        .map_err(io::Error::other)?;
                    // A seek while reading makes the result stale.
                    if at == this.pos {
                        this.buffered = bytes;
                    }
                }
                State::Waiting(wait) => {
                    let alive = ready!(wait.as_mut().poll(cx));
                    this.state = State::Idle;
                    if !alive {
                        return Poll::Ready(Err(io::Error::other("the torrent is gone")));
                    }
                }
                State::Idle => {
                    this.state = match this.next_step()? {
                        Step::Read(job) => State::Reading { at: this.pos, job },
                        Step::Wait(wait) => State::Waiting(wait),
                    };
                }
            }
        }
    }
}

impl AsyncSeek for TorrentFileReader {
    fn start_seek(self: Pin<&mut Self>, position: io::SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        let target = match position {
            io::SeekFrom::Start(n) => Some(n),
            io::SeekFrom::End(d) => this.len.checked_add_signed(d),
            io::SeekFrom::Current(d) => this.pos.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the file")
        })?;
        if target == this.pos {
            return Ok(());
        }
        this.pos = target;
        this.buffered = Bytes::new();
        if matches!(this.state, State::Waiting(_)) {
            this.state = State::Idle;
        }
        if target < this.len {
            // The window moves now, before the next read, so pieces are asked for at once.
            let piece = this.piece_at(target);
            let shared = &this.shared;
            streaming::move_reader(&mut lock(&shared.inner), &shared.torrent, piece);
            this.window_at = Some(piece);
        }
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(self.pos))
    }
}

impl std::fmt::Debug for TorrentFileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorrentFileReader")
            .field("torrent", &self.shared.id)
            .field("start", &self.start)
            .field("len", &self.len)
            .field("pos", &self.pos)
            .finish()
    }
}
