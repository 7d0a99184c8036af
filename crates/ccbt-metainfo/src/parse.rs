//! `Torrent::from_bytes`: strict on everything that decides which bytes go where (the info
//! dictionary), lenient on informational keys (trackers, comment, dates), where real torrents
//! are often sloppy and an ill-typed value is ignored rather than rejecting the torrent.

use std::collections::HashSet;

use ccbt_bencode::{decode, raw_value_of_key, Dict, Value};
use ccbt_core::{InfoHash, Lengths, BLOCK_SIZE};
use sha1::{Digest, Sha1};

use crate::path::{check_component, check_path, display};
use crate::{FileEntry, MetainfoError, Torrent};

/// Largest piece length accepted (libtorrent's limit too): bigger pieces make every hash
/// failure and every partial piece needlessly expensive.
pub(crate) const MAX_PIECE_LENGTH: u32 = 256 * 1024 * 1024;

type Result<T> = std::result::Result<T, MetainfoError>;

impl Torrent {
    /// Parses and validates a .torrent file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Torrent> {
        let top = decode(bytes)?;
        let top = top.as_dict().ok_or(MetainfoError::NotADict)?;
        let info = required(get_dict(top, b"info", "info")?, "info")?;
        let info_bytes = required(raw_value_of_key(bytes, b"info")?, "info")?;

        let meta_version = get_int(info, b"meta version", "info.meta version")?;
        let has_v2_keys = meta_version == Some(2) || info.contains_key(b"file tree");
        if has_v2_keys && !info.contains_key(b"pieces") {
            return Err(MetainfoError::V2OnlyUnsupported);
        }

        let name = text(info, b"name", b"name.utf-8", "info.name")?;
        let name = required(name, "info.name")?;
        check_component(&name).map_err(|reason| MetainfoError::UnsafePath { path: name.clone(), reason })?;

        let (files, single_file) = match info.get(b"files") {
            Some(list) => (parse_files(list, &name)?, false),
            None => {
                let length = required(get_int(info, b"length", "info.length")?, "info.length")?;
                let length = to_u64(length, "info.length")?;
                (vec![FileEntry { path: vec![name.clone()], length, is_padding: false }], true)
            }
        };
        let total_length = files
            .iter()
            .try_fold(0u64, |sum, f| sum.checked_add(f.length))
            .ok_or(MetainfoError::LengthOverflow)?;
        if total_length == 0 {
            return Err(MetainfoError::EmptyTorrent);
        }

        let piece_length =
            required(get_int(info, b"piece length", "info.piece length")?, "info.piece length")?;
        let piece_length = check_piece_length(piece_length)?;
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
        let lengths = Lengths::new(total_length, piece_length).map_err(MetainfoError::Geometry)?;

        Ok(Torrent {
            info_hash: InfoHash(Sha1::digest(info_bytes).into()),
            info_bytes: info_bytes.to_vec(),
            name,
            piece_length,
            piece_hashes,
            files,
            total_length,
            private: info.get(b"private").and_then(Value::as_int) == Some(1),
            trackers: trackers(top),
            url_list: url_list(top),
            comment: text(top, b"comment", b"comment.utf-8", "comment").ok().flatten(),
            created_by: text(top, b"created by", b"created by.utf-8", "created by").ok().flatten(),
            creation_date: top.get(b"creation date").and_then(Value::as_int),
            is_hybrid: has_v2_keys,
            single_file,
            lengths,
        })
    }
}

fn check_piece_length(value: i64) -> Result<u32> {
    let err = |reason| MetainfoError::InvalidPieceLength { value, reason };
    if value <= 0 {
        return Err(err("must be positive"));
    }
    let len = u32::try_from(value).map_err(|_| err("larger than 256 MiB"))?;
    if len > MAX_PIECE_LENGTH {
        return Err(err("larger than 256 MiB"));
    }
    if len % BLOCK_SIZE != 0 {
        return Err(err("not a multiple of 16 KiB"));
    }
    Ok(len)
}

/// The `files` list of a multi-file torrent, with paths `[name, ...path]`.
fn parse_files(list: &Value<'_>, name: &str) -> Result<Vec<FileEntry>> {
    let list = list.as_list().ok_or_else(|| wrong_type("info.files", "a list"))?;
    if list.is_empty() {
        return Err(MetainfoError::NoFiles);
    }
    let mut files = Vec::with_capacity(list.len());
    // Paths of stored files, and every folder they imply: a path may not be both.
    let mut file_paths: HashSet<Vec<String>> = HashSet::new();
    let mut dir_paths: HashSet<Vec<String>> = HashSet::new();
    for (i, entry) in list.iter().enumerate() {
        let key = |k: &str| format!("info.files[{i}].{k}");
        let entry = entry.as_dict().ok_or_else(|| wrong_type(&format!("info.files[{i}]"), "a dictionary"))?;
        let length = required(get_int(entry, b"length", &key("length"))?, &key("length"))?;
        let length = to_u64(length, &key("length"))?;
        let is_padding = get_bytes(entry, b"attr", &key("attr"))?.is_some_and(|a| a.contains(&b'p'));

        let components = match entry.get(b"path.utf-8").and_then(utf8_path) {
            Some(components) => components,
            None => {
                let raw = required(entry.get(b"path"), &key("path"))?;
                let raw = raw.as_list().ok_or_else(|| wrong_type(&key("path"), "a list of byte strings"))?;
                raw.iter()
                    .map(|c| c.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| wrong_type(&key("path"), "a list of byte strings"))?
            }
        };
        let mut path = Vec::with_capacity(components.len() + 1);
        path.push(name.to_owned());
        path.extend(components);
        let unsafe_path = |reason| MetainfoError::UnsafePath { path: display(&path), reason };
        if path.len() == 1 {
            return Err(unsafe_path("empty path"));
        }
        check_path(&path).map_err(unsafe_path)?;
        // Padding files are never stored, and creators give them all the same path.
        if !is_padding {
            if file_paths.contains(&path) {
                return Err(unsafe_path("two files have the same path"));
            }
            if dir_paths.contains(&path) {
                return Err(unsafe_path("path is both a file and a folder"));
            }
            for end in 1..path.len() {
                let dir = path.get(..end).unwrap_or_default();
                if file_paths.contains(dir) {
                    return Err(unsafe_path("path is both a file and a folder"));
                }
                dir_paths.insert(dir.to_vec());
            }
            file_paths.insert(path.clone());
        }
        files.push(FileEntry { path, length, is_padding });
    }
    Ok(files)
}

/// A `path.utf-8` list, if it is one and every component is valid UTF-8.
fn utf8_path(v: &Value<'_>) -> Option<Vec<String>> {
    v.as_list()?.iter().map(|c| c.as_str().map(str::to_owned)).collect()
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

/// BEP 19 `url-list`: a single URL or a list of them.
fn url_list(top: &Dict<'_>) -> Vec<String> {
    let urls: Vec<&str> = match top.get(b"url-list") {
        Some(Value::List(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(v) => v.as_str().into_iter().collect(),
        None => Vec::new(),
    };
    urls.into_iter().map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect()
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
