//! Just enough bencode for tests: an encoder to hand-craft (malicious) torrents, and a span
//! finder to hash the original bytes of a torrent's info dictionary independently of ccbt.

use sha1::{Digest, Sha1};

/// A bencode value to encode.
pub enum B {
    Int(i64),
    Str(Vec<u8>),
    List(Vec<B>),
    /// Keys are sorted on encoding, as BEP 3 requires.
    Dict(Vec<(&'static str, B)>),
}

impl B {
    /// A byte string from text.
    pub fn s(text: &str) -> B {
        B::Str(text.as_bytes().to_vec())
    }

    /// The encoded bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            B::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            B::Str(s) => {
                out.extend_from_slice(format!("{}:", s.len()).as_bytes());
                out.extend_from_slice(s);
            }
            B::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode_into(out);
                }
                out.push(b'e');
            }
            B::Dict(entries) => {
                let mut sorted: Vec<&(&str, B)> = entries.iter().collect();
                sorted.sort_by_key(|(k, _)| k.as_bytes());
                out.push(b'd');
                for (key, value) in sorted {
                    B::s(key).encode_into(out);
                    value.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }
}

/// Concatenated SHA-1 piece hashes of `data` for a piece length.
pub fn piece_hashes(data: &[u8], piece_length: usize) -> Vec<u8> {
    data.chunks(piece_length).flat_map(|piece| Sha1::digest(piece).to_vec()).collect()
}

/// Hex SHA-1 of the original bytes of the top-level `info` value of a .torrent.
pub fn info_hash_hex(torrent: &[u8]) -> String {
    let (start, end) = info_span(torrent).expect("torrent has no info dictionary");
    hex(&Sha1::digest(&torrent[start..end]))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Byte range of the value of the top-level `info` key.
fn info_span(data: &[u8]) -> Option<(usize, usize)> {
    if data.first() != Some(&b'd') {
        return None;
    }
    let mut i = 1;
    while data.get(i) != Some(&b'e') {
        let key_end = skip(data, i)?;
        let key = string_body(data, i)?;
        let value_end = skip(data, key_end)?;
        if key == b"info" {
            return Some((key_end, value_end));
        }
        i = value_end;
    }
    None
}

fn string_body(data: &[u8], i: usize) -> Option<&[u8]> {
    let colon = i + data.get(i..)?.iter().position(|&b| b == b':')?;
    let len: usize = std::str::from_utf8(data.get(i..colon)?).ok()?.parse().ok()?;
    data.get(colon + 1..colon + 1 + len)
}

/// The end of the value starting at `i`.
fn skip(data: &[u8], i: usize) -> Option<usize> {
    match *data.get(i)? {
        b'i' => Some(i + data.get(i..)?.iter().position(|&b| b == b'e')? + 1),
        b'l' | b'd' => {
            let mut j = i + 1;
            while *data.get(j)? != b'e' {
                j = skip(data, j)?;
            }
            Some(j + 1)
        }
        b'0'..=b'9' => {
            let colon = i + data.get(i..)?.iter().position(|&b| b == b':')?;
            let len: usize = std::str::from_utf8(data.get(i..colon)?).ok()?.parse().ok()?;
            Some(colon + 1 + len)
        }
        _ => None,
    }
}
