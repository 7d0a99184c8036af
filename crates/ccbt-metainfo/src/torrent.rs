use std::collections::BTreeMap;

use ccbt_core::merkle::{file_tree_leaves, Node, LEAF_SIZE};
use ccbt_core::{FileLayout, InfoHash, InfoHashV2, Lengths, PieceCheck, V2PieceCheck};

/// Which BitTorrent metainfo formats a torrent carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetaVersion {
    /// BEP 3: SHA-1 piece hashes.
    V1,
    /// BEP 52 only: a file tree with per-file SHA-256 merkle roots.
    V2,
    /// Both, describing the same bytes (v1 files padded to piece boundaries).
    Hybrid,
}

impl MetaVersion {
    /// Carries v1 piece hashes (v1 peers can join).
    pub fn has_v1(self) -> bool {
        matches!(self, MetaVersion::V1 | MetaVersion::Hybrid)
    }
    /// Carries a v2 file tree (v2 peers can join).
    pub fn has_v2(self) -> bool {
        matches!(self, MetaVersion::V2 | MetaVersion::Hybrid)
    }
    /// `v1`, `v2` or `hybrid`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetaVersion::V1 => "v1",
            MetaVersion::V2 => "v2",
            MetaVersion::Hybrid => "hybrid",
        }
    }
}

/// A parsed .torrent: v1, v2 (BEP 52) or hybrid. Every field is validated: paths are
/// sanitised, the piece hashes match the length, piece layers match their roots, a hybrid's
/// two halves agree, and the info hashes are computed over the original info bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Torrent {
    /// The 20-byte id the torrent goes by on the wire (handshakes, trackers, DHT): the SHA-1 of
    /// `info_bytes` for v1 and hybrid torrents, the truncated SHA-256 for v2-only ones.
    pub info_hash: InfoHash,
    /// SHA-256 of `info_bytes`, for v2 and hybrid torrents.
    pub info_hash_v2: Option<InfoHashV2>,
    /// Which formats the torrent carries.
    pub version: MetaVersion,
    /// The original bytes of the info dictionary (served to peers over ut_metadata).
    pub info_bytes: Vec<u8>,
    /// The torrent name: the file name of a single-file torrent, the folder of a multi-file one.
    pub name: String,
    /// Bytes per piece (a positive multiple of 16 KiB).
    pub piece_length: u32,
    /// One SHA-1 per piece (empty for a v2-only torrent).
    pub piece_hashes: Vec<[u8; 20]>,
    /// Files in torrent order, including BEP 47 padding files. A v2-only torrent gets the
    /// padding entries a hybrid would have, so every file starts on a piece boundary.
    pub files: Vec<FileEntry>,
    /// BEP 52 piece layers known so far, by pieces root: one node per piece of each file longer
    /// than a piece. Complete for a .torrent that carried them; filled from peers otherwise.
    pub piece_layers: BTreeMap<Node, Vec<Node>>,
    /// The `info.xet` dictionary (docs/xet.md): each non-empty file's xet root. `None` for a
    /// torrent without one, or with a later version of it (see `xet_ignored_version`).
    pub xet: Option<crate::XetInfo>,
    /// The `v` of an `info.xet` of a later format than ccbt knows: the torrent is used as a
    /// plain v2 torrent, and this records why its xet part was ignored.
    pub xet_ignored_version: Option<i64>,
    /// Chunk manifests known so far, by xet root, each checked against its file's length and
    /// root. Complete for a .torrent that carried all its `xet layers`; filled from peers
    /// otherwise ([`Torrent::set_xet_layer`]).
    pub xet_layers: BTreeMap<ccbt_xet::ChunkId, Vec<ccbt_xet::ChunkRef>>,
    /// BEP 38 `similar`: info hashes of torrents with content in common (the info
    /// dictionary's first, then the top level's).
    pub similar: Vec<crate::SimilarHash>,
    /// BEP 38 `collections`: names of collections the torrent belongs to.
    pub collections: Vec<String>,
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
    /// The info dictionary has `length` rather than `files`.
    pub single_file: bool,
    /// Offset of each entry of `files` in the torrent's byte stream (for piece → file lookups).
    pub(crate) file_starts: Vec<u64>,
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
    /// The BEP 52 merkle root of a non-empty data file of a v2 or hybrid torrent.
    pub pieces_root: Option<Node>,
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

    /// The SHA-1 of piece `index`, if it exists and the torrent has v1 hashes.
    pub fn piece_hash(&self, index: u32) -> Option<&[u8; 20]> {
        self.piece_hashes.get(usize::try_from(index).ok()?)
    }

    /// Every hash piece `index` must match: its SHA-1 (v1, hybrid) and its v2 merkle node
    /// (v2, hybrid, once the file's piece layer is known). `None` past the last piece. A
    /// v2-only piece whose layer is still missing has no hash at all (not checkable yet).
    pub fn piece_check(&self, index: u32) -> Option<PieceCheck> {
        if index >= self.num_pieces() {
            return None;
        }
        let sha1 = self.piece_hash(index).copied();
        Some(PieceCheck { sha1, v2: self.v2_piece_check(index) })
    }

    fn v2_piece_check(&self, index: u32) -> Option<V2PieceCheck> {
        let piece_length = u64::from(self.piece_length);
        let start = u64::from(index) * piece_length;
        let (file, file_start) = self.file_at(start)?;
        let root = file.pieces_root?;
        let local = (start - file_start) / piece_length;
        let data_len = (file.length - local * piece_length).min(piece_length) as u32;
        if file.length <= piece_length {
            let leaves = u32::try_from(file_tree_leaves(file.length)).ok()?;
            return Some(V2PieceCheck { expected: root, data_len, leaves });
        }
        let expected = *self.piece_layers.get(&root)?.get(usize::try_from(local).ok()?)?;
        Some(V2PieceCheck { expected, data_len, leaves: self.piece_length / LEAF_SIZE })
    }

    /// The data file holding torrent byte `offset`, with the file's first byte offset.
    fn file_at(&self, offset: u64) -> Option<(&FileEntry, u64)> {
        let starts = self.file_starts();
        let i = starts.partition_point(|&s| s <= offset).checked_sub(1)?;
        let file = &self.files[i];
        (!file.is_padding && offset < starts[i] + file.length).then_some((file, starts[i]))
    }

    fn file_starts(&self) -> &[u64] {
        &self.file_starts
    }

    /// Files longer than one piece whose piece layer is not known yet: `(file index, pieces
    /// root, pieces of the file)`. Empty for a .torrent that carried its layers.
    pub fn missing_piece_layers(&self) -> Vec<(usize, Node, u32)> {
        let piece_length = u64::from(self.piece_length);
        let mut seen = std::collections::BTreeSet::new();
        self.files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.length > piece_length)
            .filter_map(|(i, f)| Some((i, f.pieces_root?, f.length.div_ceil(piece_length) as u32)))
            .filter(|(_, root, _)| !self.piece_layers.contains_key(root) && seen.insert(*root))
            .collect()
    }

    /// Records the piece layer of the file(s) with pieces root `root`, after checking that it
    /// has one node per piece and folds to the root.
    pub fn set_piece_layer(&mut self, root: Node, layer: Vec<Node>) -> Result<(), crate::MetainfoError> {
        let piece_length = self.piece_length;
        let file = self
            .files
            .iter()
            .find(|f| f.pieces_root == Some(root) && f.length > u64::from(piece_length))
            .ok_or_else(|| crate::MetainfoError::UnknownPiecesRoot(hex(&root)))?;
        let err = |reason| crate::MetainfoError::InvalidPieceLayer { path: file.path.join("/"), reason };
        if layer.len() as u64 != file.length.div_ceil(u64::from(piece_length)) {
            return Err(err("wrong length for the file's number of pieces"));
        }
        if !crate::parse_v2::layer_matches_root(&layer, &root, file.length, piece_length) {
            return Err(err("does not match the file's pieces root"));
        }
        self.piece_layers.insert(root, layer);
        Ok(())
    }

    /// The ids the torrent is known by on the wire: its `info_hash`, and for a hybrid also the
    /// truncated v2 hash (the v2 swarm's id on trackers and the DHT).
    pub fn wire_ids(&self) -> Vec<InfoHash> {
        let mut ids = vec![self.info_hash];
        if let (MetaVersion::Hybrid, Some(v2)) = (self.version, self.info_hash_v2) {
            ids.push(v2.truncated());
        }
        ids
    }

    /// Whether a peer asking for `id` in its handshake means this torrent (either wire id).
    pub fn answers_to(&self, id: &InfoHash) -> bool {
        self.info_hash == *id || self.info_hash_v2.is_some_and(|v2| v2.truncated() == *id)
    }

    /// The known piece layers as a bencoded `piece layers` dictionary (root → nodes).
    pub fn piece_layers_bencoded(&self) -> Vec<u8> {
        let mut dict = ccbt_bencode::OwnedValue::dict();
        for (root, layer) in &self.piece_layers {
            dict.insert(root.to_vec(), ccbt_bencode::OwnedValue::bytes(layer.concat()));
        }
        dict.to_bytes()
    }

    /// Rebuilds a torrent from its info dictionary's bytes (as fetched over ut_metadata or kept
    /// in a checkpoint) and, optionally, a bencoded `piece layers` dictionary. Checked like a
    /// .torrent file.
    pub fn from_parts(
        info_bytes: &[u8],
        piece_layers: Option<&[u8]>,
    ) -> Result<Torrent, crate::MetainfoError> {
        let mut bytes = Vec::with_capacity(info_bytes.len() + 32 + piece_layers.map_or(0, <[u8]>::len));
        bytes.extend_from_slice(b"d4:info");
        bytes.extend_from_slice(info_bytes);
        if let Some(layers) = piece_layers {
            bytes.extend_from_slice(b"12:piece layers");
            bytes.extend_from_slice(layers);
        }
        bytes.push(b'e');
        Torrent::from_bytes(&bytes)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
