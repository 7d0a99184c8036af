use ccbt_core::{FileLayout, InfoHash, Lengths};

/// A parsed v1 (or hybrid) .torrent. Every field is validated: paths are sanitised, the piece
/// hashes match the length, and the info hash is the SHA-1 of the original info bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Torrent {
    /// SHA-1 of `info_bytes`.
    pub info_hash: InfoHash,
    /// The original bytes of the info dictionary (served to peers over ut_metadata).
    pub info_bytes: Vec<u8>,
    /// The torrent name: the file name of a single-file torrent, the folder of a multi-file one.
    pub name: String,
    /// Bytes per piece (a positive multiple of 16 KiB).
    pub piece_length: u32,
    /// One SHA-1 per piece.
    pub piece_hashes: Vec<[u8; 20]>,
    /// Files in torrent order, including BEP 47 padding files.
    pub files: Vec<FileEntry>,
    /// Sum of the file lengths (including padding files).
    pub total_length: u64,
    /// BEP 27 private torrent: no DHT, no PEX.
    pub private: bool,
    /// BEP 12 tracker tiers. A lone `announce` becomes one tier; `announce-list` wins if present.
    pub trackers: Vec<Vec<String>>,
    /// BEP 19 web seeds.
    pub url_list: Vec<String>,
    /// Free-form comment.
    pub comment: Option<String>,
    /// The program that created the torrent.
    pub created_by: Option<String>,
    /// Creation time, seconds since the Unix epoch.
    pub creation_date: Option<i64>,
    /// A hybrid v1 + v2 torrent (BEP 52) parsed through its v1 part.
    pub is_hybrid: bool,
    /// The info dictionary has `length` rather than `files`.
    pub single_file: bool,
    /// Geometry validated at parse time, so [`Torrent::lengths`] cannot fail.
    pub(crate) lengths: Lengths,
}

/// One file of a torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Sanitised path components relative to the download folder: `[name, ...path]` for a
    /// multi-file torrent (everything lives under the torrent's folder), `[name]` for single-file.
    pub path: Vec<String>,
    /// Length in bytes.
    pub length: u64,
    /// A BEP 47 padding file (`attr` contains `p`, or a BitComet `_____padding_file_` name):
    /// part of the byte stream, never stored.
    pub is_padding: bool,
    /// A BEP 47 symlink (`attr` contains `l`): its target, sanitised like every path and
    /// relative to the download folder (`[name, ...]` in a multi-file torrent). A symlink holds
    /// no data (`length` is 0); ccbt creates no links yet: storage treats the entry as an empty file.
    pub symlink: Option<Vec<String>>,
}

impl Torrent {
    /// Piece and block geometry. Computed from the parsed fields when the torrent was parsed;
    /// changing the public fields afterwards does not change it.
    pub fn lengths(&self) -> Lengths {
        self.lengths
    }

    /// Maps torrent byte ranges to files.
    pub fn layout(&self) -> FileLayout {
        FileLayout::new(self.files.iter().map(|f| (f.path.clone(), f.length, f.is_padding)))
    }

    /// Number of pieces.
    pub fn num_pieces(&self) -> u32 {
        self.lengths.num_pieces()
    }

    /// The SHA-1 of piece `index`, if it exists.
    pub fn piece_hash(&self, index: u32) -> Option<&[u8; 20]> {
        self.piece_hashes.get(usize::try_from(index).ok()?)
    }
}
