//! Canonical bencode for versioned info dictionaries. A torrent is named by the hash of its
//! info bytes, so a BEP 52 info dictionary must be the one canonical encoding of its contents:
//! libtorrent refuses one that declares a `meta version` and has unsorted keys ("invalid
//! bencoding"; test_torrents/v2_unordered_files.torrent), and so does ccbt. The decoder
//! already refuses the other non-canonical forms (leading zeros, `-0`, duplicate keys); v1
//! torrents stay accepted with unsorted keys, as libtorrent accepts them.

use ccbt_bencode::{Dict, Value};

/// Longest key path shown in an error (keys are untrusted).
const MAX_SHOWN: usize = 200;

/// The dotted key path (from `info`) of the first dictionary whose keys are not in strictly
/// increasing byte order, if any. Recursion is bounded by the decoder's nesting limit.
pub(crate) fn first_unsorted(info: &Dict<'_>) -> Option<String> {
    let keys = unsorted_in_dict(info)?;
    let mut path = String::from("info");
    for key in keys.iter().rev() {
        path.push('.');
        path.push_str(&String::from_utf8_lossy(key));
        if path.len() > MAX_SHOWN {
            let cut = (0..=MAX_SHOWN).rev().find(|&i| path.is_char_boundary(i)).unwrap_or(0);
            path.truncate(cut);
            path.push('…');
            break;
        }
    }
    Some(path)
}

/// The keys leading to the first unsorted dictionary, innermost first.
fn unsorted_in_dict<'a>(dict: &Dict<'a>) -> Option<Vec<&'a [u8]>> {
    if dict.entries().windows(2).any(|pair| pair[0].0 >= pair[1].0) {
        return Some(Vec::new());
    }
    dict.iter().find_map(|(key, value)| {
        let mut keys = unsorted_in(value)?;
        keys.push(key);
        Some(keys)
    })
}

fn unsorted_in<'a>(value: &Value<'a>) -> Option<Vec<&'a [u8]>> {
    match value {
        Value::Dict(dict) => unsorted_in_dict(dict),
        Value::List(items) => items.iter().find_map(unsorted_in),
        Value::Int(_) | Value::Bytes(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use ccbt_bencode::decode;

    use super::*;

    fn check(input: &[u8]) -> Option<String> {
        first_unsorted(decode(input).unwrap().as_dict().unwrap())
    }

    #[test]
    fn sorted_dictionaries_pass_at_every_depth() {
        assert_eq!(check(b"d1:ai1e1:bld1:xi1e1:yi2eee1:cd0:i0e1:ei0eee"), None);
        assert_eq!(check(b"de"), None);
    }

    #[test]
    fn the_first_unsorted_dictionary_is_named() {
        assert_eq!(check(b"d1:bi1e1:ai2ee").as_deref(), Some("info"));
        assert_eq!(check(b"d9:file treed1:yi1e1:xi2eee").as_deref(), Some("info.file tree"));
        assert_eq!(check(b"d1:ald1:bi1e1:ai2eeee").as_deref(), Some("info.a"));
        let long = format!("d{0}:{1}d1:bi1e1:ai2eee", 300, "k".repeat(300));
        let named = check(long.as_bytes()).unwrap();
        assert!(named.starts_with("info.kkk") && named.ends_with('…') && named.len() < 210, "{named}");
    }
}
