//! `Torrent::from_bytes`: strict on everything that decides which bytes go where (the info
//! dictionary), lenient on informational keys (trackers, comment, dates), where real torrents
//! are often sloppy and an ill-typed value is ignored rather than rejecting the torrent.

use std::collections::HashSet;

use ccbt_bencode::{decode_prefix, raw_value_of_key, Dict, Value};
use ccbt_core::{InfoHash, InfoHashV2, Lengths, BLOCK_SIZE};
use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::canonical::first_unsorted;
use crate::dedup::resolve_paths;
use crate::file_tree::read_file_tree;
use crate::parse_v2::{
    check_hybrid, check_v2_piece_length, is_single_file, read_piece_layers, v2_file_entries,
};
use crate::path::{display, sanitize_component, IfEmpty, MAX_PATH_COMPONENTS};
use crate::{FileEntry, MetaVersion, MetainfoError, Torrent};

/// Largest piece length accepted: libtorrent's limit (32767 blocks of 16 KiB, just under
/// 512 MiB), so every torrent libtorrent opens opens here too.
pub(crate) const MAX_PIECE_LENGTH: u32 = 32767 * BLOCK_SIZE;

/// Most pieces a torrent may have: libtorrent's default (`load_torrent_limits::max_pieces`),
/// so a torrent libtorrent refuses for its size is refused here too. A v1 torrent is bounded by
/// its 20-byte hashes anyway; a v2 one states only lengths, and without this 200 bytes could
/// ask for billions of pieces (a bitfield of hundreds of megabytes per peer).
pub const MAX_PIECES: u32 = 0x20_0000;

/// Largest .torrent file accepted, in bytes: libtorrent's default (`max_buffer_size`). Readers
/// of .torrent files read at most one byte more than this, so a huge or endless file (a FIFO,
/// `/dev/zero`) costs bounded memory, and parse with [`Torrent::from_file_bytes`], which refuses
/// anything larger. (Metadata fetched for a magnet link has its own limit, `max_metadata_kib`.)
pub const MAX_TORRENT_FILE_SIZE: usize = 10_000_000;

type Result<T> = std::result::Result<T, MetainfoError>;

impl Torrent {
    /// Parses the contents of a .torrent file read from disk: refused if longer than
    /// [`MAX_TORRENT_FILE_SIZE`] (a reader passes at most one byte more), else [`Torrent::from_bytes`].
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Torrent> {
        if bytes.len() > MAX_TORRENT_FILE_SIZE {
            return Err(MetainfoError::TooLarge { limit: MAX_TORRENT_FILE_SIZE });
        }
        Torrent::from_bytes(bytes)
    }

    /// Parses and validates a .torrent.
    ///
    /// Bytes after the top-level dictionary are ignored, as libtorrent does: some web servers
    /// append a newline to files they serve.
    pub fn from_bytes(bytes: &[u8]) -> Result<Torrent> {
        let (top, end) = decode_prefix(bytes)?;
        let bytes = bytes.get(..end).unwrap_or(bytes);
        let top = top.as_dict().ok_or(MetainfoError::NotADict)?;
        let info = required(get_dict(top, b"info", "info")?, "info")?;
        let info_bytes = required(raw_value_of_key(bytes, b"info")?, "info")?;

        let meta_version = get_int(info, b"meta version", "info.meta version")?;
        let is_v2 = match meta_version {
            None | Some(1) => false,
            Some(2) => true,
            Some(other) => return Err(MetainfoError::UnsupportedMetaVersion(other)),
        };
        if !is_v2 && info.contains_key(b"file tree") {
            // libtorrent refuses v2 keys without `meta version 2` rather than guess which half
            // to believe.
            let reason = "a file tree without meta version 2";
            return Err(MetainfoError::InvalidFileTree { path: String::new(), reason });
        }
        if meta_version.is_some() {
            if let Some(path) = first_unsorted(info) {
                return Err(MetainfoError::UnsortedKeys { path });
            }
        }
        let has_v1 = info.contains_key(b"pieces") || !is_v2;
        let version = match (has_v1, is_v2) {
            (true, true) => MetaVersion::Hybrid,
            (false, true) => MetaVersion::V2,
            _ => MetaVersion::V1,
        };

        let info_hash_v2 = is_v2.then(|| InfoHashV2(Sha256::digest(info_bytes).into()));
        let info_hash = match info_hash_v2 {
            Some(v2) if !has_v1 => v2.truncated(),
            _ => InfoHash(Sha1::digest(info_bytes).into()),
        };
        let piece_length =
            required(get_int(info, b"piece length", "info.piece length")?, "info.piece length")?;
        let piece_length = check_piece_length(piece_length)?;
        let tree = match is_v2 {
            true => {
                check_v2_piece_length(piece_length)?;
                let tree = required(get_dict(info, b"file tree", "info.file tree")?, "info.file tree")?;
                Some(read_file_tree(tree)?)
            }
            false => None,
        };

        let files_list = info.get(b"files");
        let single_file = match (&tree, has_v1) {
            (Some(tree), false) => {
                let root_entries = info.get(b"file tree").and_then(Value::as_dict).map_or(0, Dict::len);
                is_single_file(tree, root_entries)
            }
            _ => files_list.is_none(),
        };
        let name = match (&tree, has_v1) {
            // BEP 52: a v2-only single file is named by its key in the file tree (`name` is only
            // advisory), and so is the torrent, as in libtorrent. `name` must still be there.
            (Some(tree), false) if single_file => {
                torrent_name(info, info_hash, false)?;
                tree[0].components[0].clone()
            }
            _ => torrent_name(info, info_hash, single_file)?,
        };
        let mut files = match (has_v1, files_list) {
            (true, Some(list)) => parse_files(list, &name)?,
            (true, None) => {
                let length = required(get_int(info, b"length", "info.length")?, "info.length")?;
                let length = to_u64(length, "info.length")?;
                vec![FileEntry {
                    path: vec![name.clone()],
                    length,
                    is_padding: false,
                    symlink: None,
                    pieces_root: None,
                }]
            }
            (false, _) => Vec::new(),
        };
        match (tree, has_v1) {
            (Some(tree), true) => check_hybrid(&mut files, &tree, piece_length)?,
            (Some(tree), false) => files = v2_file_entries(tree, &name, single_file, piece_length),
            (None, _) => {}
        }
        if !single_file {
            resolve_paths(&mut files)?;
        }
        let total_length = files
            .iter()
            .try_fold(0u64, |sum, f| sum.checked_add(f.length))
            .ok_or(MetainfoError::LengthOverflow)?;
        if total_length == 0 {
            return Err(MetainfoError::EmptyTorrent);
        }
        let pieces = total_length.div_ceil(u64::from(piece_length));
        if pieces > u64::from(MAX_PIECES) {
            return Err(MetainfoError::TooManyPieces { pieces, limit: MAX_PIECES });
        }

        let piece_hashes = match has_v1 {
            true => v1_piece_hashes(info, total_length, piece_length)?,
            false => Vec::new(),
        };
        let piece_layers = match is_v2 {
            true => read_piece_layers(top, &files, piece_length)?,
            false => Default::default(),
        };
        let xet = crate::xet::read_xet_parts(top, info, &files, version)?;
        let lengths = Lengths::new(total_length, piece_length).map_err(MetainfoError::Geometry)?;
        let file_starts = files
            .iter()
            .scan(0u64, |offset, f| {
                let start = *offset;
                *offset += f.length;
                Some(start)
            })
            .collect();

        Ok(Torrent {
            info_hash,
            info_hash_v2,
            version,
            info_bytes: info_bytes.to_vec(),
            name,
            piece_length,
            piece_hashes,
            files,
            piece_layers,
            xet: xet.xet,
            xet_ignored_version: xet.ignored_version,
            xet_layers: xet.layers,
            similar: xet.similar,
            collections: xet.collections,
            total_length,
            private: info.get(b"private").and_then(Value::as_int) == Some(1),
            trackers: trackers(top),
            url_list: url_list(top),
            comment: text(top, b"comment", b"comment.utf-8", "comment").ok().flatten(),
            created_by: text(top, b"created by", b"created by.utf-8", "created by").ok().flatten(),
            creation_date: top.get(b"creation date").and_then(Value::as_int),
            single_file,
            file_starts,
            lengths,
        })
    }
}

/// The v1 `pieces`: one SHA-1 per piece of the (padded) byte stream.
fn v1_piece_hashes(info: &Dict<'_>, total_length: u64, piece_length: u32) -> Result<Vec<[u8; 20]>> {
    let pieces = required(get_bytes(info, b"pieces", "info.pieces")?, "info.pieces")?;
    if pieces.len() % 20 != 0 {
        return Err(MetainfoError::InvalidPiecesLength { len: pieces.len() });
    }
    let piece_hashes: Vec<[u8; 20]> =
        pieces.chunks_exact(20).filter_map(|c| <[u8; 20]>::try_from(c).ok()).collect();
    let expected = total_length.div_ceil(u64::from(piece_length));
    if expected != piece_hashes.len() as u64 {
        return Err(MetainfoError::PieceCountMismatch { expected, got: piece_hashes.len() });
    }
    Ok(piece_hashes)
}

fn check_piece_length(value: i64) -> Result<u32> {
    let err = |reason| MetainfoError::InvalidPieceLength { value, reason };
    if value <= 0 {
        return Err(err("must be positive"));
    }
    let len = u32::try_from(value).map_err(|_| err("larger than 32767 blocks"))?;
    if len > MAX_PIECE_LENGTH {
        return Err(err("larger than 32767 blocks"));
    }
    if len % BLOCK_SIZE != 0 {
        return Err(err("not a multiple of 16 KiB"));
    }
    Ok(len)
}

/// The sanitised torrent name (`name.utf-8` when it is valid UTF-8, else `name`). A name with
/// nothing usable in it (`..`) becomes the info hash in hex, as in libtorrent; a single-file
/// torrent has no such fallback, since its name is the file's name.
fn torrent_name(info: &Dict<'_>, info_hash: InfoHash, single_file: bool) -> Result<String> {
    let raw = match info.get(b"name.utf-8").and_then(Value::as_str) {
        Some(utf8) => utf8.as_bytes(),
        None => required(get_bytes(info, b"name", "info.name")?, "info.name")?,
    };
    // libtorrent keeps an empty name as `_`, but refuses it for a single file.
    let name = if single_file && raw.is_empty() { None } else { sanitize_component(raw, IfEmpty::Drop) };
    match name {
        Some(name) => Ok(name),
        None if single_file => Err(MetainfoError::UnsafePath {
            path: String::from_utf8_lossy(raw).into_owned(),
            reason: "no usable file name",
        }),
        None => Ok(info_hash.to_hex()),
    }
}

/// The `files` list of a multi-file torrent, with paths `[name, ...path]`, sanitised (colliding
/// paths are renamed by the caller, once a hybrid's two halves have been compared).
fn parse_files(list: &Value<'_>, name: &str) -> Result<Vec<FileEntry>> {
    let list = list.as_list().ok_or_else(|| wrong_type("info.files", "a list"))?;
    if list.is_empty() {
        return Err(MetainfoError::NoFiles);
    }
    list.iter().enumerate().map(|(i, entry)| parse_file(i, entry, name)).collect()
}

/// One entry of `files`. BEP 47 attributes: a padding file (`p`) may lack a path (it is never
/// stored: it gets `.pad/<length>`), a symlink (`l`) holds no data whatever its `length` says.
fn parse_file(i: usize, entry: &Value<'_>, name: &str) -> Result<FileEntry> {
    let key = |k: &str| format!("info.files[{i}].{k}");
    let entry = entry.as_dict().ok_or_else(|| wrong_type(&format!("info.files[{i}]"), "a dictionary"))?;
    let attr = get_bytes(entry, b"attr", &key("attr"))?.unwrap_or_default();
    let is_symlink = attr.contains(&b'l');
    let mut is_padding = attr.contains(&b'p');
    let length = if is_symlink {
        0
    } else {
        to_u64(required(get_int(entry, b"length", &key("length"))?, &key("length"))?, &key("length"))?
    };

    let mut path = vec![name.to_owned()];
    match file_path(entry, i)? {
        Some(raw) if !raw.is_empty() => path.extend(raw.iter().map(|c| component(c))),
        _ if is_padding => path.extend([".pad".to_owned(), length.to_string()]),
        Some(_) => return Err(MetainfoError::UnsafePath { path: display(&path), reason: "empty path" }),
        None => return Err(MetainfoError::MissingKey(key("path"))),
    }
    // BitComet names its padding files so instead of setting an attribute.
    is_padding |= path.iter().any(|c| c.contains("_____padding_file_"));

    let symlink = if is_symlink { symlink_target(entry, i, name)? } else { None };
    Ok(FileEntry { path, length, is_padding, symlink, pieces_root: None })
}

/// A symlink's `symlink path` as `[name, ...]`, sanitised like a path. Without one the entry is
/// an ordinary empty file, as in libtorrent.
fn symlink_target(entry: &Dict<'_>, i: usize, name: &str) -> Result<Option<Vec<String>>> {
    Ok(path_list(entry, "symlink path", i)?.map(|raw| {
        // BEP 47 forbids `.` and `..` here; libtorrent drops them, and so does ccbt.
        let kept = raw.into_iter().filter(|c| *c != b"." && *c != b"..");
        std::iter::once(name.to_owned()).chain(kept.map(component)).collect()
    }))
}

/// A file path component sanitised; never empty.
fn component(raw: &[u8]) -> String {
    sanitize_component(raw, IfEmpty::Underscore).unwrap_or_else(|| "_".to_owned())
}

/// The raw components of a file's path: `path.utf-8` when it is a list of valid UTF-8 strings
/// (within the depth limit), else `path`.
fn file_path<'a>(entry: &Dict<'a>, i: usize) -> Result<Option<Vec<&'a [u8]>>> {
    let utf8 = entry
        .get(b"path.utf-8")
        .and_then(Value::as_list)
        .filter(|list| list.len() <= MAX_PATH_COMPONENTS)
        .and_then(|list| list.iter().map(|c| c.as_str().map(str::as_bytes)).collect::<Option<Vec<_>>>());
    match utf8 {
        Some(components) => Ok(Some(components)),
        None => path_list(entry, "path", i),
    }
}

/// The list of byte strings under `k`, refused when deeper than [`MAX_PATH_COMPONENTS`] before
/// any component is looked at.
fn path_list<'a>(entry: &Dict<'a>, k: &'static str, i: usize) -> Result<Option<Vec<&'a [u8]>>> {
    let Some(value) = entry.get(k.as_bytes()) else { return Ok(None) };
    let wrong = || wrong_type(&format!("info.files[{i}].{k}"), "a list of byte strings");
    let list = value.as_list().ok_or_else(wrong)?;
    if list.len() > MAX_PATH_COMPONENTS {
        let limit = MAX_PATH_COMPONENTS;
        return Err(MetainfoError::PathTooDeep { index: i, key: k, components: list.len(), limit });
    }
    list.iter().map(|c| c.as_bytes().ok_or_else(wrong)).collect::<Result<Vec<_>>>().map(Some)
}

/// BEP 12 tiers from `announce-list`, else one tier from `announce`. Empty, non-UTF-8 and
/// repeated URLs are dropped, and so are tiers left empty.
fn trackers(top: &Dict<'_>) -> Vec<Vec<String>> {
    let mut seen = HashSet::new();
    let mut tiers = Vec::new();
    let announce_list = top.get(b"announce-list").and_then(Value::as_list).unwrap_or_default();
    for tier in announce_list.iter().filter_map(Value::as_list) {
        let urls: Vec<String> = tier
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|u| !u.is_empty() && seen.insert(*u))
            .map(str::to_owned)
            .collect();
        if !urls.is_empty() {
            tiers.push(urls);
        }
    }
    if tiers.is_empty() {
        if let Some(url) = top.get(b"announce").and_then(Value::as_str).map(str::trim) {
            if !url.is_empty() {
                tiers.push(vec![url.to_owned()]);
            }
        }
    }
    tiers
}

/// BEP 19 `url-list`: a single URL or a list of them, without empty or repeated URLs.
fn url_list(top: &Dict<'_>) -> Vec<String> {
    let urls: Vec<&str> = match top.get(b"url-list") {
        Some(Value::List(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(v) => v.as_str().into_iter().collect(),
        None => Vec::new(),
    };
    let mut seen = HashSet::new();
    urls.into_iter().map(str::trim).filter(|u| !u.is_empty() && seen.insert(*u)).map(str::to_owned).collect()
}

fn required<T>(v: Option<T>, key: &str) -> Result<T> {
    v.ok_or_else(|| MetainfoError::MissingKey(key.to_owned()))
}

fn wrong_type(key: &str, expected: &'static str) -> MetainfoError {
    MetainfoError::WrongType { key: key.to_owned(), expected }
}

fn to_u64(value: i64, key: &str) -> Result<u64> {
    u64::try_from(value)
        .map_err(|_| MetainfoError::InvalidLength { key: key.to_owned(), value: i128::from(value) })
}

fn get_int(d: &Dict<'_>, k: &[u8], key: &str) -> Result<Option<i64>> {
    d.get(k).map(|v| v.as_int().ok_or_else(|| wrong_type(key, "an integer"))).transpose()
}

fn get_bytes<'a>(d: &Dict<'a>, k: &[u8], key: &str) -> Result<Option<&'a [u8]>> {
    d.get(k).map(|v| v.as_bytes().ok_or_else(|| wrong_type(key, "a byte string"))).transpose()
}

fn get_dict<'d, 'a>(d: &'d Dict<'a>, k: &[u8], key: &str) -> Result<Option<&'d Dict<'a>>> {
    d.get(k).map(|v| v.as_dict().ok_or_else(|| wrong_type(key, "a dictionary"))).transpose()
}

/// A text field: the `.utf-8` variant when present and valid, else the plain key, lossily.
fn text(d: &Dict<'_>, k: &[u8], utf8_k: &[u8], key: &str) -> Result<Option<String>> {
    if let Some(s) = d.get(utf8_k).and_then(Value::as_str) {
        return Ok(Some(s.to_owned()));
    }
    Ok(get_bytes(d, k, key)?.map(|b| String::from_utf8_lossy(b).into_owned()))
}
