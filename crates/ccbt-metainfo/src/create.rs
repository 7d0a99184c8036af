//! Torrent creation. Pure: the storage crate reads the files and hashes the pieces; this only
//! assembles and validates the .torrent.

use ccbt_bencode::OwnedValue;
use ccbt_core::merkle::Node;

use crate::create_v2::{check_tree_order, check_v2_piece_length, v1_aligned_files, v2_parts};
use crate::{MetaVersion, MetainfoError, SimilarHash, Torrent, XetBuild};

/// Smallest piece length [`auto_piece_length`] picks: one block.
const MIN_AUTO_PIECE_LENGTH: u32 = 16 * 1024;
/// Largest piece length [`auto_piece_length`] picks; bigger pieces hurt swarms of large files.
const MAX_AUTO_PIECE_LENGTH: u32 = 16 * 1024 * 1024;
/// [`auto_piece_length`] keeps the piece count at or below this and above half of it.
const TARGET_MAX_PIECES: u64 = 2048;

/// The parts of a new torrent. `build` produces the bencoded .torrent.
///
/// Layout: `files` holds `(path below the torrent folder, length)` in torrent order for a
/// multi-file torrent. A single entry with an *empty* path makes a single-file torrent whose
/// file is called `name`.
///
/// A v2 or hybrid torrent (BEP 52, [`TorrentBuilder::version`]) lists its files in file tree
/// order (sorted by path components) and aligns each to a piece boundary; the builder adds the
/// pad files of a hybrid's v1 part itself, see [`crate::aligned_layout`], which also gives the
/// byte stream `piece_hashes` are computed over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorrentBuilder {
    /// Which formats the torrent carries: v1 (`pieces`), v2 (`file tree`) or both.
    pub version: MetaVersion,
    /// File name (single-file) or folder name (multi-file).
    pub name: String,
    /// `(path components, length)` per file; see the type docs for single-file torrents.
    pub files: Vec<(Vec<String>, u64)>,
    /// Bytes per piece: a positive multiple of 16 KiB, see [`auto_piece_length`].
    pub piece_length: u32,
    /// SHA-1 of every piece, in order (v1 and hybrid; over the padded stream of a hybrid).
    pub piece_hashes: Vec<[u8; 20]>,
    /// v2 and hybrid: for each file of `files`, the merkle node of each of its pieces (the
    /// root of the piece's 16 KiB leaves; for a file no longer than one piece, the root of the
    /// file's tree). The builder derives the `pieces root`s and `piece layers` from them.
    pub v2_piece_hashes: Vec<Vec<Node>>,
    /// Per file of `files`, whether it is executable: BEP 47 `attr` `x`, as libtorrent writes
    /// for files with the owner's execute bit (a missing entry means no).
    pub executable: Vec<bool>,
    /// BEP 12 tiers. The first URL becomes `announce`; `announce-list` is written when there
    /// is more than one URL.
    pub trackers: Vec<Vec<String>>,
    /// BEP 27 private flag.
    pub private: bool,
    /// Free-form comment.
    pub comment: Option<String>,
    /// The creating program, e.g. `ccbt/0.1.0`.
    pub created_by: Option<String>,
    /// Seconds since the Unix epoch (passed in: this crate does not read the clock).
    pub creation_date: Option<i64>,
    /// BEP 19 web seeds.
    pub url_list: Vec<String>,
    /// Xet metadata (`info.xet` and the `xet layers`); v2 and hybrid torrents only.
    pub xet: Option<XetBuild>,
    /// BEP 38 `similar`: info hashes of torrents with content in common (written in the info
    /// dictionary).
    pub similar: Vec<SimilarHash>,
    /// BEP 38 `collections` (written in the info dictionary).
    pub collections: Vec<String>,
}

impl Default for TorrentBuilder {
    fn default() -> Self {
        Self {
            version: MetaVersion::V1,
            name: String::new(),
            files: Vec::new(),
            piece_length: 0,
            piece_hashes: Vec::new(),
            v2_piece_hashes: Vec::new(),
            executable: Vec::new(),
            trackers: Vec::new(),
            private: false,
            comment: None,
            created_by: None,
            creation_date: None,
            url_list: Vec::new(),
            xet: None,
            similar: Vec::new(),
            collections: Vec::new(),
        }
    }
}

impl TorrentBuilder {
    /// Whether this describes a single-file torrent (one file with an empty path).
    pub fn is_single_file(&self) -> bool {
        matches!(self.files.as_slice(), [(path, _)] if path.is_empty())
    }

    /// The bencoded .torrent. It is checked by parsing it back with [`Torrent::from_bytes`], so
    /// a built torrent passes exactly the validation a downloaded one does (safe paths,
    /// matching piece count, ...), and the error names the offending key or path.
    pub fn build(&self) -> Result<Vec<u8>, MetainfoError> {
        let (info, piece_layers) = self.info_dict()?;
        let mut top = OwnedValue::dict().with("info", info);
        if let Some(layers) = piece_layers {
            // Written even when empty, as libtorrent does: no file is longer than one piece.
            top.insert("piece layers", layers);
        }
        if let Some(layers) = self.xet_layers_value() {
            top.insert("xet layers", layers);
        }
        let tiers: Vec<&Vec<String>> = self.trackers.iter().filter(|t| !t.is_empty()).collect();
        if let Some(first) = tiers.first().and_then(|t| t.first()) {
            top.insert("announce", first.as_str());
        }
        if tiers.iter().map(|t| t.len()).sum::<usize>() > 1 {
            let list = tiers.iter().map(|t| OwnedValue::list(t.iter().map(String::as_str)));
            top.insert("announce-list", OwnedValue::list(list));
        }
        if !self.url_list.is_empty() {
            top.insert("url-list", OwnedValue::list(self.url_list.iter().map(String::as_str)));
        }
        if let Some(comment) = &self.comment {
            top.insert("comment", comment.as_str());
        }
        if let Some(created_by) = &self.created_by {
            top.insert("created by", created_by.as_str());
        }
        if let Some(date) = self.creation_date {
            top.insert("creation date", date);
        }

        let bytes = top.to_bytes();
        let parsed = Torrent::from_bytes(&bytes)?;
        self.check_names_kept(&parsed)?;
        Ok(bytes)
    }

    /// The info dictionary, and the `piece layers` of a v2 or hybrid torrent.
    fn info_dict(&self) -> Result<(OwnedValue, Option<OwnedValue>), MetainfoError> {
        let mut info =
            OwnedValue::dict().with("name", self.name.as_str()).with("piece length", self.piece_length);
        if self.private {
            info.insert("private", 1i64);
        }
        let single = self.is_single_file();
        let mut piece_layers = None;
        if self.version.has_v2() {
            check_v2_piece_length(self.piece_length)?;
            check_tree_order(&self.files)?;
            let single_name = single.then_some(self.name.as_str());
            let (tree, layers) = v2_parts(
                &self.files,
                &self.v2_piece_hashes,
                &self.executable,
                self.piece_length,
                single_name,
            )?;
            info.insert("meta version", 2i64);
            info.insert("file tree", tree);
            piece_layers = Some(layers);
        }
        if self.version.has_v1() {
            info.insert("pieces", self.piece_hashes.concat());
            if single {
                let length = self.files.first().map_or(0, |(_, len)| *len);
                info.insert("length", to_i64(length, "info.length")?);
                if self.executable.first() == Some(&true) {
                    info.insert("attr", "x");
                }
            } else if self.version.has_v2() {
                info.insert("files", v1_aligned_files(&self.files, &self.executable, self.piece_length)?);
            } else {
                let mut files = Vec::with_capacity(self.files.len());
                for (i, (path, length)) in self.files.iter().enumerate() {
                    let length = to_i64(*length, &format!("info.files[{i}].length"))?;
                    let path = OwnedValue::list(path.iter().map(String::as_str));
                    let mut file = OwnedValue::dict().with("length", length).with("path", path);
                    if self.executable.get(i) == Some(&true) {
                        file.insert("attr", "x");
                    }
                    files.push(file);
                }
                info.insert("files", files);
            }
        }
        self.insert_xet_info(&mut info)?;
        Ok((info, piece_layers))
    }

    /// Refuses names the parser would sanitise or rename: a torrent we create must name its
    /// files exactly as the user's files are named, or seeding would look for other files.
    fn check_names_kept(&self, parsed: &Torrent) -> Result<(), MetainfoError> {
        // Pad files (a hybrid's, or those the parser gives a v2 torrent) are not ours to check.
        let parsed_files = parsed.files.iter().filter(|f| !f.is_padding);
        for ((path, _), file) in self.files.iter().zip(parsed_files) {
            let mut wanted = vec![self.name.clone()];
            wanted.extend(path.iter().cloned());
            if wanted != file.path {
                let path = crate::path::display(&wanted);
                return Err(MetainfoError::UnsafePath { path, reason: "not a portable, unique file name" });
            }
        }
        Ok(())
    }
}

pub(crate) fn to_i64(length: u64, key: &str) -> Result<i64, MetainfoError> {
    i64::try_from(length)
        .map_err(|_| MetainfoError::InvalidLength { key: key.to_owned(), value: i128::from(length) })
}

/// A piece length for a torrent of `total_length` bytes: the smallest power of two giving at
/// most 2048 pieces (so roughly 1000-2000), clamped to 16 KiB..=16 MiB.
pub fn auto_piece_length(total_length: u64) -> u32 {
    let wanted = total_length.div_ceil(TARGET_MAX_PIECES).max(1);
    let pow = wanted.checked_next_power_of_two().unwrap_or(u64::MAX);
    let clamped = pow.clamp(u64::from(MIN_AUTO_PIECE_LENGTH), u64::from(MAX_AUTO_PIECE_LENGTH));
    u32::try_from(clamped).unwrap_or(MAX_AUTO_PIECE_LENGTH)
}

#[cfg(test)]
mod tests {
    use sha1::{Digest, Sha1};

    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn multi() -> TorrentBuilder {
        TorrentBuilder {
            version: MetaVersion::V1,
            name: "album".into(),
            files: vec![(strings(&["cd1", "01.flac"]), 40_000), (strings(&["cover.jpg"]), 9_000)],
            piece_length: 32768,
            piece_hashes: vec![[1; 20], [2; 20]],
            v2_piece_hashes: vec![],
            executable: vec![],
            trackers: vec![strings(&["http://a/announce"]), vec![], strings(&["udp://b:80", "udp://c:80"])],
            private: true,
            comment: Some("a comment".into()),
            created_by: Some("ccbt/0.1.0".into()),
            creation_date: Some(1_700_000_000),
            url_list: strings(&["http://seed/"]),
            xet: None,
            similar: vec![],
            collections: vec![],
        }
    }

    #[test]
    fn multi_file_round_trip() {
        let b = multi();
        let bytes = b.build().unwrap();
        let t = Torrent::from_bytes(&bytes).unwrap();
        assert_eq!(t.name, "album");
        assert!(!t.single_file);
        let files: Vec<_> = t.files.iter().map(|f| (f.path.join("/"), f.length, f.is_padding)).collect();
        assert_eq!(
            files,
            [("album/cd1/01.flac".to_string(), 40_000, false), ("album/cover.jpg".into(), 9_000, false)]
        );
        assert_eq!(t.piece_length, 32768);
        assert_eq!(t.piece_hashes, b.piece_hashes);
        assert_eq!(t.total_length, 49_000);
        assert!(t.private);
        assert_eq!(t.trackers, [strings(&["http://a/announce"]), strings(&["udp://b:80", "udp://c:80"])]);
        assert_eq!(t.url_list, b.url_list);
        assert_eq!(t.comment, b.comment);
        assert_eq!(t.created_by, b.created_by);
        assert_eq!(t.creation_date, b.creation_date);
        let digest: [u8; 20] = Sha1::digest(&t.info_bytes).into();
        assert_eq!(t.info_hash.0, digest);
        // Deterministic: building twice gives the same bytes and therefore the same info hash.
        assert_eq!(b.build().unwrap(), bytes);
    }

    #[test]
    fn single_file_round_trip() {
        let b = TorrentBuilder {
            name: "movie.mkv".into(),
            files: vec![(vec![], 16385)],
            piece_length: 16384,
            piece_hashes: vec![[7; 20], [8; 20]],
            trackers: vec![strings(&["http://only/announce"])],
            ..TorrentBuilder::default()
        };
        assert!(b.is_single_file());
        let bytes = b.build().unwrap();
        let t = Torrent::from_bytes(&bytes).unwrap();
        assert!(t.single_file);
        assert_eq!(
            t.files,
            [crate::FileEntry {
                path: strings(&["movie.mkv"]),
                length: 16385,
                is_padding: false,
                symlink: None,
                pieces_root: None
            }]
        );
        assert_eq!(t.trackers, [strings(&["http://only/announce"])]);
        assert!(!t.private && t.comment.is_none() && t.url_list.is_empty());
        // One tracker: `announce` only, no `announce-list`.
        let top = ccbt_bencode::decode(&bytes).unwrap();
        assert!(top.get(b"announce-list").is_none());
        assert_eq!(top.get(b"announce").and_then(|v| v.as_str()), Some("http://only/announce"));
    }

    #[test]
    fn invalid_builders_are_rejected() {
        let mut b = multi();
        b.piece_hashes.pop();
        assert_eq!(b.build(), Err(MetainfoError::PieceCountMismatch { expected: 2, got: 1 }));
        let mut b = multi();
        b.files[1].0 = strings(&["..", "x"]);
        assert_eq!(
            b.build(),
            Err(MetainfoError::UnsafePath {
                path: "album/../x".into(),
                reason: "not a portable, unique file name"
            })
        );
        let mut b = multi();
        b.files[1].1 = u64::MAX;
        assert_eq!(
            b.build(),
            Err(MetainfoError::InvalidLength {
                key: "info.files[1].length".into(),
                value: i128::from(u64::MAX)
            })
        );
        let mut b = multi();
        b.files.clear();
        assert_eq!(b.build(), Err(MetainfoError::NoFiles));
        let mut b = multi();
        b.piece_length = 1000;
        assert!(matches!(b.build(), Err(MetainfoError::InvalidPieceLength { value: 1000, .. })));
    }

    #[test]
    fn auto_piece_lengths() {
        assert_eq!(auto_piece_length(0), 16 * 1024);
        assert_eq!(auto_piece_length(1), 16 * 1024);
        assert_eq!(auto_piece_length(u64::MAX), 16 * 1024 * 1024);
        for total in [50 << 20, 700 << 20, (4 << 30) + 12345, 20 << 30] {
            let pl = auto_piece_length(total);
            assert!(pl.is_power_of_two());
            let pieces = total.div_ceil(u64::from(pl));
            assert!((1024..=2048).contains(&pieces), "{total}: {pl} gives {pieces} pieces");
        }
    }
}
