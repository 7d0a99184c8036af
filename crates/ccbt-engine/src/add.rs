//! What a user adds to a session: a parsed `.torrent` or a magnet link, with options.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ccbt_core::InfoHash;
use ccbt_metainfo::{Magnet, Torrent, MAX_TORRENT_FILE_SIZE};

use crate::torrent::FileChoice;
use crate::{FilePriority, ResumeData, SessionError, TorrentLimits};

/// The first `MAX_TORRENT_FILE_SIZE + 1` bytes of `path`: enough for the parser to tell an
/// oversize file from one at the limit.
fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let limit = MAX_TORRENT_FILE_SIZE as u64 + 1;
    std::fs::File::open(path)?.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Where a torrent's metadata comes from.
#[derive(Clone, Debug)]
pub enum TorrentSource {
    /// A parsed `.torrent`.
    Torrent(Box<Torrent>),
    /// A magnet link: the metadata is fetched from peers first (BEP 9).
    Magnet(Box<Magnet>),
}

/// What to add to a session.
#[derive(Clone, Debug)]
pub struct AddTorrent {
    pub source: TorrentSource,
    /// Folder the torrent's files go in (default: the session's `download_dir`).
    pub save_path: Option<PathBuf>,
    /// Peers to connect to right away (besides those that connect to us or that discovery finds).
    pub peers: Vec<SocketAddr>,
    /// Check data already on disk before downloading (default true). Only files that exist and
    /// are not empty are checked.
    pub check_existing: bool,
    /// Download only these files (indices in the torrent's file order); None = all. A magnet's
    /// `so=` (BEP 53) is used when this is None.
    pub selected_files: Option<Vec<u32>>,
    /// Skip these files (applied after `selected_files`).
    pub skipped_files: Vec<u32>,
    /// A priority per file in the torrent's file order (files past the end are normal); applied
    /// before `selected_files` and `skipped_files`. For a magnet link every index is checked
    /// once the metadata arrives: a file that does not exist fails the torrent, naming it.
    pub file_priorities: Option<Vec<FilePriority>>,
    /// Download the first and last piece of every file not skipped before the rest (media
    /// players read a file's header and index first).
    pub first_last_pieces: bool,
    /// Write into files that already exist with data although ccbt did not create them
    /// (default false: such a file is written only if it already holds verified pieces of this
    /// torrent; otherwise the torrent stops with an error naming it). The CLI's `--overwrite`.
    pub overwrite: bool,
    /// Streaming for this torrent (pieces near the read position first); None = the session's
    /// `streaming_mode`.
    pub streaming: Option<bool>,
    /// Start from a checkpoint's pieces instead of hashing the data (see [`ResumeData`]); set by
    /// [`AddTorrent::resume_from`].
    pub resume: Option<ResumeData>,
    /// Where the torrent came from (a `.torrent` path, a magnet link), recorded in its
    /// checkpoints so `ccbt resume` needs neither again.
    pub origin: ccbt_checkpoint::Source,
    /// This torrent's own rate limits, bytes/s each way (default 0: only the session's and
    /// the per-peer limits apply). Changed later with [`crate::Session::set_torrent_limits`].
    pub limits: TorrentLimits,
    /// Start paused: no connection, tracker announce, DHT lookup or (for a magnet link) metadata
    /// fetch until [`crate::Session::resume`]. A `.torrent`'s data is still checked. Recorded in
    /// its checkpoints (see [`AddTorrent::resume_from`]).
    pub paused: bool,
}

impl AddTorrent {
    /// Adds a parsed `.torrent`.
    pub fn new(torrent: Torrent) -> AddTorrent {
        AddTorrent::with_source(TorrentSource::Torrent(Box::new(torrent)))
    }

    /// Adds a magnet link.
    pub fn magnet(magnet: Magnet) -> AddTorrent {
        let mut add = AddTorrent::with_source(TorrentSource::Magnet(Box::new(magnet.clone())));
        add.origin.magnet_uri = Some(magnet.to_uri());
        add
    }

    fn with_source(source: TorrentSource) -> AddTorrent {
        AddTorrent {
            source,
            save_path: None,
            peers: Vec::new(),
            check_existing: true,
            selected_files: None,
            skipped_files: Vec::new(),
            file_priorities: None,
            first_last_pieces: false,
            overwrite: false,
            streaming: None,
            resume: None,
            origin: ccbt_checkpoint::Source::default(),
            limits: TorrentLimits::default(),
            paused: false,
        }
    }

    /// Reads and parses a `.torrent` file. At most one byte more than
    /// [`MAX_TORRENT_FILE_SIZE`] is read, so a huge or endless file costs bounded memory and is
    /// refused with an error naming the limit.
    pub fn from_file(path: &Path) -> Result<AddTorrent, SessionError> {
        let bytes = read_limited(path)
            .map_err(|source| SessionError::ReadTorrentFile { path: path.to_owned(), source })?;
        let torrent = Torrent::from_file_bytes(&bytes)
            .map_err(|source| SessionError::InvalidTorrent { path: path.to_owned(), source })?;
        let mut add = AddTorrent::new(torrent);
        add.origin.torrent_file = Some(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()));
        Ok(add)
    }

    /// A `magnet:` URI or the path of a `.torrent` file.
    pub fn parse(arg: &str) -> Result<AddTorrent, SessionError> {
        if arg.starts_with("magnet:") {
            let magnet = Magnet::parse(arg).map_err(SessionError::InvalidMagnet)?;
            let mut add = AddTorrent::magnet(magnet);
            add.origin.magnet_uri = Some(arg.to_owned());
            Ok(add)
        } else {
            AddTorrent::from_file(Path::new(arg))
        }
    }

    /// See [`AddTorrent::paused`].
    pub fn paused(mut self, paused: bool) -> Self {
        self.paused = paused;
        self
    }

    pub fn save_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.save_path = Some(path.into());
        self
    }

    pub fn peers(mut self, peers: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.peers.extend(peers);
        self
    }

    /// Allows writing into pre-existing files that ccbt did not create (see [`AddTorrent::overwrite`]).
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Streams this torrent (or not), whatever the session's `streaming_mode` says.
    pub fn streaming(mut self, streaming: bool) -> Self {
        self.streaming = Some(streaming);
        self
    }

    /// Starts from `data` (pieces and file stamps of a checkpoint) instead of hashing every piece.
    pub fn resume_data(mut self, data: ResumeData) -> Self {
        self.resume = Some(data);
        self
    }

    /// Limits this torrent's rates (bytes/s each way, 0 = unlimited), within the session's.
    ///
    /// ```no_run
    /// # fn demo() -> Result<(), ccbt_engine::SessionError> {
    /// use ccbt_engine::{AddTorrent, TorrentLimits};
    /// let add = AddTorrent::from_file("ubuntu.torrent".as_ref())?
    ///     .limits(TorrentLimits { download: 512 * 1024, upload: 64 * 1024 });
    /// # Ok(()) }
    /// ```
    pub fn limits(mut self, limits: TorrentLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Downloads only the files with these indices (in the torrent's file order).
    pub fn select_files(mut self, files: impl IntoIterator<Item = u32>) -> Self {
        self.selected_files = Some(files.into_iter().collect());
        self
    }

    /// Skips the files with these indices (see [`AddTorrent::skipped_files`]).
    pub fn skip_files(mut self, files: impl IntoIterator<Item = u32>) -> Self {
        self.skipped_files.extend(files);
        self
    }

    /// Sets a priority per file, in the torrent's file order (see [`AddTorrent::file_priorities`]).
    pub fn file_priorities(mut self, priorities: Vec<FilePriority>) -> Self {
        self.file_priorities = Some(priorities);
        self
    }

    /// Downloads the first and last piece of every selected file first.
    pub fn first_last_pieces(mut self, on: bool) -> Self {
        self.first_last_pieces = on;
        self
    }

    /// What the user chose about files, checked against the file list once it is known.
    pub(crate) fn file_choice(&self) -> FileChoice {
        FileChoice {
            priorities: self.file_priorities.clone(),
            selected: self.selected_files.clone(),
            skipped: self.skipped_files.clone(),
            first_last_pieces: self.first_last_pieces,
        }
    }

    /// The torrent's name: from the metadata, else the magnet's `dn`, else the info hash.
    pub fn name(&self) -> String {
        match &self.source {
            TorrentSource::Torrent(t) => t.name.clone(),
            TorrentSource::Magnet(m) => m.display_name.clone().unwrap_or_else(|| m.info_hash.to_hex()),
        }
    }

    pub fn info_hash(&self) -> InfoHash {
        match &self.source {
            TorrentSource::Torrent(t) => t.info_hash,
            TorrentSource::Magnet(m) => m.info_hash,
        }
    }

    /// Every id the torrent is known by on the wire (a hybrid's v1 and truncated v2 hashes).
    pub fn ids(&self) -> Vec<InfoHash> {
        match &self.source {
            TorrentSource::Torrent(t) => t.wire_ids(),
            TorrentSource::Magnet(m) => m.wire_ids(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversize_torrent_file_is_refused_naming_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.torrent");
        // Sparse: costs no disk, but a reader without a limit would allocate all of it.
        std::fs::File::create(&path).unwrap().set_len(64 * MAX_TORRENT_FILE_SIZE as u64).unwrap();
        let err = AddTorrent::from_file(&path).unwrap_err();
        assert!(
            matches!(
                &err,
                SessionError::InvalidTorrent { source: ccbt_metainfo::MetainfoError::TooLarge { limit }, .. }
                    if *limit == MAX_TORRENT_FILE_SIZE
            ),
            "{err:?}"
        );
    }
}
