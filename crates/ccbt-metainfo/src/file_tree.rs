//! The BEP 52 `file tree`: nested dictionaries whose keys are path components, ending in a
//! file node `"": {length, pieces root}`. Files come out depth first in key order, which is
//! the order v2 lays them out in pieces.
//!
//! Depth is bounded by [`MAX_PATH_COMPONENTS`] (the decoder's own nesting limit comes first for
//! absurd inputs) and the number of files by [`MAX_V2_FILES`], so a hostile tree costs bounded
//! work. Components are sanitised exactly as v1 paths are.

use ccbt_bencode::{Dict, Value};
use ccbt_core::merkle::Node;

use crate::path::{display, sanitize_component, IfEmpty, MAX_PATH_COMPONENTS};
use crate::MetainfoError;

/// Most files a v2 file tree may hold (far above any real torrent; a 10 MB .torrent cannot
/// describe many more).
pub const MAX_V2_FILES: usize = 1_000_000;

/// One file of a v2 file tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TreeFile {
    /// Sanitised components below the torrent's folder (or the single file's name).
    pub components: Vec<String>,
    pub length: u64,
    /// Absent only for empty files.
    pub root: Option<Node>,
    /// A BEP 47 symlink's sanitised target (components below the torrent's folder).
    pub symlink: Option<Vec<String>>,
}

type Result<T> = std::result::Result<T, MetainfoError>;

/// Reads `info.file tree` into its files, in layout order.
pub(crate) fn read_file_tree(tree: &Dict<'_>) -> Result<Vec<TreeFile>> {
    let mut files = Vec::new();
    let mut prefix = Vec::new();
    walk(tree, &mut prefix, &mut files)?;
    if files.is_empty() {
        return Err(MetainfoError::NoFiles);
    }
    Ok(files)
}

fn walk(dir: &Dict<'_>, prefix: &mut Vec<String>, out: &mut Vec<TreeFile>) -> Result<()> {
    for (key, value) in dir.iter() {
        let here = || display(&[prefix.as_slice(), &[String::from_utf8_lossy(key).into_owned()]].concat());
        let entry = value.as_dict().ok_or_else(|| invalid(here(), "entry is not a dictionary"))?;
        if key.is_empty() {
            return Err(invalid(display(prefix), "a file node where a name was expected"));
        }
        if prefix.len() >= MAX_PATH_COMPONENTS {
            return Err(MetainfoError::PathTooDeep {
                index: out.len(),
                key: "file tree",
                components: prefix.len() + 1,
                limit: MAX_PATH_COMPONENTS,
            });
        }
        prefix.push(sanitize_component(key, IfEmpty::Underscore).unwrap_or_else(|| "_".to_owned()));
        match entry.get(b"") {
            Some(node) => {
                if entry.len() != 1 {
                    return Err(invalid(display(prefix), "a file that is also a folder"));
                }
                if out.len() >= MAX_V2_FILES {
                    return Err(MetainfoError::TooManyFiles { limit: MAX_V2_FILES });
                }
                out.push(file_node(node, prefix)?);
            }
            None if entry.is_empty() => return Err(invalid(display(prefix), "an empty folder")),
            None => walk(entry, prefix, out)?,
        }
        prefix.pop();
    }
    Ok(())
}

/// `{length, pieces root, attr?, symlink path?}` of the file at `path`.
fn file_node(node: &Value<'_>, path: &[String]) -> Result<TreeFile> {
    let node = node.as_dict().ok_or_else(|| invalid(display(path), "file node is not a dictionary"))?;
    let attr = node.get(b"attr").and_then(Value::as_bytes).unwrap_or_default();
    let symlink = if attr.contains(&b'l') { symlink_target(node, path)? } else { None };
    let length = match node.get(b"length").map(Value::as_int) {
        _ if symlink.is_some() => 0,
        Some(Some(n)) => u64::try_from(n).map_err(|_| MetainfoError::InvalidLength {
            key: format!("file tree {:?} length", display(path)),
            value: i128::from(n),
        })?,
        Some(None) => return Err(invalid(display(path), "length is not an integer")),
        None => return Err(invalid(display(path), "file has no length")),
    };
    let root = match node.get(b"pieces root") {
        None if length == 0 => None,
        None => return Err(root_error(path, "missing")),
        Some(v) => {
            let bytes = v.as_bytes().ok_or_else(|| root_error(path, "not a byte string"))?;
            let root: Node = bytes.try_into().map_err(|_| root_error(path, "not 32 bytes"))?;
            if length == 0 {
                // An empty file has no tree; libtorrent ignores a root given anyway.
                None
            } else if root == [0; 32] {
                return Err(root_error(path, "all zeros"));
            } else {
                Some(root)
            }
        }
    };
    Ok(TreeFile { components: path.to_vec(), length, root, symlink })
}

fn symlink_target(node: &Dict<'_>, path: &[String]) -> Result<Option<Vec<String>>> {
    let Some(list) = node.get(b"symlink path").and_then(Value::as_list) else { return Ok(None) };
    if list.len() > MAX_PATH_COMPONENTS {
        return Err(invalid(display(path), "symlink path too deep"));
    }
    let raw: Vec<&[u8]> = list
        .iter()
        .map(|c| c.as_bytes().ok_or_else(|| invalid(display(path), "symlink path is not byte strings")))
        .collect::<Result<_>>()?;
    // BEP 47 forbids `.` and `..` in symlink targets; libtorrent drops them, and so does ccbt.
    let kept = raw.into_iter().filter(|c| *c != b"." && *c != b"..");
    Ok(Some(kept.map(|c| sanitize_component(c, IfEmpty::Underscore).unwrap_or_else(|| "_".into())).collect()))
}

fn invalid(path: String, reason: &'static str) -> MetainfoError {
    MetainfoError::InvalidFileTree { path, reason }
}

fn root_error(path: &[String], reason: &'static str) -> MetainfoError {
    MetainfoError::InvalidPiecesRoot { path: display(path), reason }
}
