//! Helpers for the BEP 52 (v2 and hybrid) tests: the torrent formats, and what libtorrent reads
//! from a .torrent (info hashes, piece layers, pieces roots).

use std::path::Path;

use super::{lt_python, Kind};

/// The torrent formats `ccbt create` and libtorrent's creator make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    V1,
    V2,
    Hybrid,
}

impl Format {
    /// The `ccbt create` flag (none for v1).
    pub fn ccbt_flag(self) -> Option<&'static str> {
        match self {
            Format::V1 => None,
            Format::V2 => Some("--v2"),
            Format::Hybrid => Some("--hybrid"),
        }
    }

    /// The same format for libtorrent's creator.
    pub fn lt_kind(self) -> Kind {
        match self {
            Format::V1 => Kind::V1,
            Format::V2 => Kind::V2,
            Format::Hybrid => Kind::Hybrid,
        }
    }
}

/// What libtorrent reads from a .torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LtView {
    /// v1 info hash (hex), if the torrent has a v1 part.
    pub v1: Option<String>,
    /// v2 info hash (64 hex), if the torrent has a v2 part.
    pub v2: Option<String>,
    /// SHA-256 of the bencoded top-level `piece layers`, if present: equal for two torrents
    /// exactly when their piece layers are.
    pub piece_layers: Option<String>,
    /// Files (pad files included) and pieces as libtorrent counts them.
    pub files: usize,
    pub pieces: usize,
}

/// Loads `torrent` with `lt.torrent_info` (which fails on a torrent libtorrent refuses).
pub fn lt_view(torrent: &Path) -> LtView {
    let script = "\
import sys, hashlib, libtorrent as lt
ti = lt.torrent_info(sys.argv[1])
ih = ti.info_hashes()
top = lt.bdecode(open(sys.argv[1], 'rb').read())
pl = top.get(b'piece layers')
print(ih.v1 if ih.has_v1() else '-', ih.v2 if ih.has_v2() else '-',
      hashlib.sha256(lt.bencode(pl)).hexdigest() if pl is not None else '-',
      ti.num_files(), ti.num_pieces())";
    let out = lt_python(torrent, script);
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields.len(), 5, "unexpected libtorrent output: {out}");
    let opt = |s: &str| (s != "-").then(|| s.to_owned());
    LtView {
        v1: opt(fields[0]),
        v2: opt(fields[1]),
        piece_layers: opt(fields[2]),
        files: fields[3].parse().expect("file count"),
        pieces: fields[4].parse().expect("piece count"),
    }
}

/// `path root` of every file libtorrent gives a pieces root (non-empty, non-padding files), in
/// torrent order; the path is below the torrent's folder for a multi-file torrent.
pub fn lt_roots(torrent: &Path) -> Vec<String> {
    let script = "\
import sys, libtorrent as lt
fs = lt.torrent_info(sys.argv[1]).files()
for i in range(fs.num_files()):
    r = fs.root(i).to_bytes().hex()
    if r != '0' * 64:
        print(fs.file_path(i), r)";
    lt_python(torrent, script).lines().map(str::to_owned).collect()
}
