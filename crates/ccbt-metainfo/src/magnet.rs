//! Magnet links (BEP 9 `xt`/`dn`/`tr`/`x.pe`, BEP 19 `ws`, BEP 53 `so`), v1 (`urn:btih:`), v2
//! (`urn:btmh:`, BEP 52) or hybrid (both in one link).
//!
//! Parsing is forgiving where magnets in the wild differ (parameter order, numbered keys such
//! as `tr.1`, upper-case hex, base32 info hashes, unknown parameters) and strict where a wrong
//! guess would fetch the wrong torrent (a malformed info hash or `so` list is an error).

use ccbt_core::{InfoHash, InfoHashV2};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use thiserror::Error;

use crate::{MetaVersion, Torrent};

/// Most file indices a `so` parameter may expand to. Ranges such as `0-4294967295` would
/// otherwise turn a few bytes of link into gigabytes of indices.
pub const MAX_SELECT_ONLY: usize = 1 << 20;

/// Longest piece of user input quoted back in an error message, in characters.
const MAX_QUOTED: usize = 100;

/// Why a magnet link was rejected. Messages name the offending parameter or value.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MagnetError {
    /// The text does not start with `magnet:?`.
    #[error("not a magnet link (it should start with \"magnet:?\")")]
    NotAMagnet,
    /// No `xt=urn:btih:` nor `xt=urn:btmh:` parameter.
    #[error("magnet link has no info hash (xt=urn:btih:... or xt=urn:btmh:1220...)")]
    MissingInfoHash,
    /// A `urn:btih:` value that is neither 40 hex nor 32 base32 characters.
    #[error("invalid info hash {value:?}: expected 40 hex or 32 base32 characters")]
    InvalidInfoHash { value: String },
    /// A `urn:btmh:` value that is not a well-formed hex multihash.
    #[error("invalid v2 info hash {value:?}: {reason}")]
    InvalidV2InfoHash { value: String, reason: String },
    /// A `urn:btmh:` multihash of another function than sha2-256, or of another length than 32
    /// bytes: BitTorrent v2 info hashes are SHA-256.
    #[error("unsupported multihash in urn:btmh: function 0x{code:x}, {length} bytes (BitTorrent v2 uses sha2-256: \"1220\" and 64 hex digits)")]
    UnsupportedMultihash { code: u64, length: u64 },
    /// A BEP 53 `so` value that is not a list of indices and ascending ranges.
    #[error("invalid file selection so={value:?}: expected indices and ranges like \"0,2,4-6\"")]
    InvalidSelectOnly { value: String },
    /// A value with a bad `%` escape or that is not UTF-8 once decoded.
    #[error("bad percent-encoding in magnet parameter {param:?}")]
    BadPercentEncoding { param: String },
}

/// A parsed magnet link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Magnet {
    /// The 20-byte id the torrent goes by on the wire (handshakes, trackers, DHT): the v1 info
    /// hash (`xt=urn:btih:`) if the link has one, else the truncated v2 info hash.
    pub info_hash: InfoHash,
    /// The v2 info hash (`xt=urn:btmh:`, the SHA-256 of the info dictionary), if any.
    pub info_hash_v2: Option<InfoHashV2>,
    /// `dn`: a name to show until the metadata arrives.
    pub display_name: Option<String>,
    /// `tr`: tracker URLs, in link order, without duplicates.
    pub trackers: Vec<String>,
    /// `x.pe`: peer addresses as given (`host:port`, `[v6]:port`); the engine resolves them.
    pub peers: Vec<String>,
    /// `ws`: web seed URLs (BEP 19), in link order, without duplicates.
    pub web_seeds: Vec<String>,
    /// `so` (BEP 53): the file indices to download, sorted and without duplicates.
    pub select_only: Option<Vec<u32>>,
    /// `info_hash` is a 20-byte id learnt elsewhere (a BEP 46 `ih`) that may be the v1 info
    /// hash or the truncated v2 one: the metadata may hash to either (SHA-1, or SHA-256 whose
    /// first 20 bytes it is). Never set by [`Magnet::parse`]; [`Magnet::to_uri`] writes `btih`.
    pub any_version: bool,
}

impl Magnet {
    /// A magnet with only a v1 info hash.
    pub fn new(info_hash: InfoHash) -> Magnet {
        Magnet {
            info_hash,
            info_hash_v2: None,
            display_name: None,
            trackers: Vec::new(),
            peers: Vec::new(),
            web_seeds: Vec::new(),
            select_only: None,
            any_version: false,
        }
    }

    /// A magnet of a 20-byte id that is the torrent's v1 info hash or its truncated v2 one, as
    /// a BEP 46 item names it (see [`Magnet::any_version`]).
    pub fn of_any_version(info_hash: InfoHash) -> Magnet {
        Magnet { any_version: true, ..Magnet::new(info_hash) }
    }

    /// A magnet with only a v2 info hash (its wire id is the truncated hash).
    pub fn new_v2(info_hash_v2: InfoHashV2) -> Magnet {
        Magnet { info_hash_v2: Some(info_hash_v2), ..Magnet::new(info_hash_v2.truncated()) }
    }

    /// A magnet of a hybrid torrent, with both info hashes (its wire id is the v1 one).
    pub fn new_hybrid(info_hash: InfoHash, info_hash_v2: InfoHashV2) -> Magnet {
        Magnet { info_hash_v2: Some(info_hash_v2), ..Magnet::new(info_hash) }
    }

    /// The magnet link of a torrent: its info hashes (v1, v2 or both, by its version), name,
    /// trackers (all tiers, in order) and web seeds.
    pub fn from_torrent(torrent: &Torrent) -> Magnet {
        let base = match (torrent.version, torrent.info_hash_v2) {
            (MetaVersion::V2, Some(v2)) => Magnet::new_v2(v2),
            (MetaVersion::Hybrid, Some(v2)) => Magnet::new_hybrid(torrent.info_hash, v2),
            _ => Magnet::new(torrent.info_hash),
        };
        let mut trackers = Vec::new();
        for url in torrent.trackers.iter().flatten() {
            push_unique(&mut trackers, url.clone());
        }
        let mut web_seeds = Vec::new();
        for url in &torrent.url_list {
            push_unique(&mut web_seeds, url.clone());
        }
        Magnet { display_name: Some(torrent.name.clone()), trackers, web_seeds, ..base }
    }

    /// The v1 info hash (SHA-1 of the info dictionary), if the link named one. A `btih` equal
    /// to the truncated `btmh` is the v2 torrent's wire id, not a v1 hash.
    pub fn info_hash_v1(&self) -> Option<InfoHash> {
        if self.any_version {
            return None;
        }
        match self.info_hash_v2 {
            Some(v2) if v2.truncated() == self.info_hash => None,
            _ => Some(self.info_hash),
        }
    }

    /// Every 20-byte id the torrent's swarms go by, to announce and look up: the v1 info hash
    /// and the truncated v2 one for a hybrid, else the one id. The first is [`Magnet::info_hash`].
    pub fn wire_ids(&self) -> Vec<InfoHash> {
        let mut ids = vec![self.info_hash];
        if let Some(v2) = self.info_hash_v2.map(|h| h.truncated()).filter(|t| *t != self.info_hash) {
            ids.push(v2);
        }
        ids
    }

    /// Parses a `magnet:?` URI.
    pub fn parse(uri: &str) -> Result<Magnet, MagnetError> {
        let query = strip_scheme(uri).ok_or(MagnetError::NotAMagnet)?;
        // A fragment is not part of the query (RFC 3986); nobody puts one in a magnet, but if
        // someone does it must not end up inside the last value.
        let query = query.split('#').next().unwrap_or_default();

        let mut btih: Option<InfoHash> = None;
        let mut btmh: Option<InfoHashV2> = None;
        let mut display_name = None;
        let mut trackers = Vec::new();
        let mut peers = Vec::new();
        let mut web_seeds = Vec::new();
        let mut select_only: Option<Vec<u32>> = None;

        for param in query.split('&') {
            let Some((raw_key, raw_value)) = param.split_once('=') else { continue };
            match base_key(raw_key).as_str() {
                "xt" => match parse_xt(&decode(raw_key, raw_value, false)?)? {
                    Some(Topic::V1(hash)) => {
                        // The first btih wins; a second one could only be a broken link.
                        btih.get_or_insert(hash);
                    }
                    Some(Topic::V2(hash)) => {
                        btmh.get_or_insert(hash);
                    }
                    None => {}
                },
                "dn" => {
                    let name = decode(raw_key, raw_value, true)?;
                    display_name.get_or_insert(name);
                }
                "tr" => push_unique(&mut trackers, decode(raw_key, raw_value, false)?),
                "x.pe" => push_unique(&mut peers, decode(raw_key, raw_value, false)?),
                "ws" => push_unique(&mut web_seeds, decode(raw_key, raw_value, false)?),
                "so" => {
                    let value = decode(raw_key, raw_value, false)?;
                    let list = select_only.get_or_insert_with(Vec::new);
                    parse_select_only(&value, list)?;
                }
                _ => {}
            }
        }

        let info_hash = match (btih, btmh) {
            (Some(hash), _) => hash,
            (None, Some(v2)) => v2.truncated(),
            (None, None) => return Err(MagnetError::MissingInfoHash),
        };
        if let Some(list) = &mut select_only {
            list.sort_unstable();
            list.dedup();
        }
        Ok(Magnet {
            info_hash,
            info_hash_v2: btmh,
            display_name,
            trackers,
            peers,
            web_seeds,
            select_only,
            any_version: false,
        })
    }

    /// The magnet as a URI that [`Magnet::parse`] reads back to an equal value. The info hashes
    /// are written in hex (`btih` for v1, `btmh` multihash for v2, both for a hybrid), `so` as
    /// compact ranges.
    pub fn to_uri(&self) -> String {
        let mut topics = Vec::new();
        if let Some(v1) = self.info_hash_v1() {
            topics.push(format!("xt=urn:btih:{}", v1.to_hex()));
        }
        if let Some(v2) = self.info_hash_v2 {
            topics.push(format!("xt=urn:btmh:{SHA2_256_MULTIHASH_PREFIX}{}", v2.to_hex()));
        }
        let mut uri = format!("magnet:?{}", topics.join("&"));
        if let Some(name) = &self.display_name {
            push_param(&mut uri, "dn", name);
        }
        for tracker in &self.trackers {
            push_param(&mut uri, "tr", tracker);
        }
        for web_seed in &self.web_seeds {
            push_param(&mut uri, "ws", web_seed);
        }
        for peer in &self.peers {
            push_param(&mut uri, "x.pe", peer);
        }
        if let Some(indices) = &self.select_only {
            let so = format_select_only(indices);
            if !so.is_empty() {
                push_param(&mut uri, "so", &so);
            }
        }
        uri
    }
}

impl std::str::FromStr for Magnet {
    type Err = MagnetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Magnet::parse(s)
    }
}

/// What an `xt` parameter names.
enum Topic {
    V1(InfoHash),
    V2(InfoHashV2),
}

/// The multihash header of a SHA-256 digest: function code 0x12 (sha2-256), length 0x20.
const SHA2_256_MULTIHASH_PREFIX: &str = "1220";

/// The query part after a case-insensitive `magnet:?`.
fn strip_scheme(uri: &str) -> Option<&str> {
    let uri = uri.trim();
    let prefix = uri.get(..8)?;
    prefix.eq_ignore_ascii_case("magnet:?").then(|| uri.get(8..)).flatten()
}

/// `tr.1` → `tr`: BEP 9 allows numbering repeated keys. Keys are compared case-insensitively.
fn base_key(key: &str) -> String {
    let key = key.to_ascii_lowercase();
    match key.rsplit_once('.') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base.to_owned(),
        _ => key,
    }
}

fn push_unique(list: &mut Vec<String>, value: String) {
    if !value.is_empty() && !list.contains(&value) {
        list.push(value);
    }
}

/// Reads an `xt` value: `Some(V1)` for btih, `Some(V2)` for btmh, `None` for other URNs (some
/// links also carry ed2k or sha1 URNs for other networks).
fn parse_xt(value: &str) -> Result<Option<Topic>, MagnetError> {
    let Some((urn, hash)) = value.get(..9).zip(value.get(9..)) else { return Ok(None) };
    if urn.eq_ignore_ascii_case("urn:btmh:") {
        return parse_btmh(hash).map(|h| Some(Topic::V2(h)));
    }
    if !urn.eq_ignore_ascii_case("urn:btih:") {
        return Ok(None);
    }
    let invalid = || MagnetError::InvalidInfoHash { value: quote(hash) };
    let bytes = match hash.len() {
        40 => hash.parse::<InfoHash>().map_err(|_| invalid())?.0,
        32 => base32_decode(hash).ok_or_else(invalid)?,
        _ => return Err(invalid()),
    };
    Ok(Some(Topic::V1(InfoHash(bytes))))
}

/// A hex multihash (multiformats: varint function code, varint digest length, digest) that
/// must be a 32-byte sha2-256 digest. Other functions are refused rather than skipped: a link
/// naming only those could never be fetched, and the user should know why.
fn parse_btmh(hex: &str) -> Result<InfoHashV2, MagnetError> {
    let invalid =
        |reason: &str| MagnetError::InvalidV2InfoHash { value: quote(hex), reason: reason.to_owned() };
    let bytes = decode_hex(hex).ok_or_else(|| invalid("not hex (expected \"1220\" and 64 hex digits)"))?;
    let mut rest = bytes.as_slice();
    let code = read_varint(&mut rest).ok_or_else(|| invalid("truncated multihash function code"))?;
    let length = read_varint(&mut rest).ok_or_else(|| invalid("truncated multihash digest length"))?;
    if code != 0x12 || length != 32 {
        return Err(MagnetError::UnsupportedMultihash { code, length });
    }
    let digest: [u8; 32] = rest.try_into().map_err(|_| {
        invalid(&format!(
            "the multihash says 32 digest bytes but {} follow (expected \"1220\" and 64 hex digits)",
            rest.len()
        ))
    })?;
    Ok(InfoHashV2(digest))
}

/// Hex digits (either case) to bytes; `None` for an odd length or a non-hex character.
fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

/// An unsigned LEB128 varint (multiformats caps them at 9 bytes), advancing `input` past it.
fn read_varint(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &byte) in input.iter().enumerate().take(9) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *input = &input[i + 1..];
            return Some(value);
        }
    }
    None
}

/// RFC 4648 base32 (case-insensitive, no padding) of exactly 32 characters → 20 bytes.
fn base32_decode(s: &str) -> Option<[u8; 20]> {
    if s.len() != 32 {
        return None;
    }
    let mut out = [0u8; 20];
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    let mut n = 0usize;
    for c in s.bytes() {
        let v = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(n)? = (acc >> bits) as u8;
            n += 1;
            acc &= (1 << bits) - 1;
        }
    }
    // 32 × 5 bits is exactly 160 bits: nothing can be left over.
    (n == 20 && bits == 0).then_some(out)
}

fn base32_encode(bytes: &[u8; 20]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(32);
    for group in bytes.chunks(5) {
        let mut acc = 0u64;
        for &b in group {
            acc = (acc << 8) | u64::from(b);
        }
        // Every group of a 20-byte input is a full 5 bytes = 8 characters.
        for shift in (0..8).rev() {
            let index = ((acc >> (shift * 5)) & 31) as usize;
            out.push(char::from(ALPHABET[index]));
        }
    }
    out
}

/// The base32 form of an info hash, as some magnets carry it.
pub fn info_hash_base32(info_hash: &InfoHash) -> String {
    base32_encode(info_hash.as_bytes())
}

/// Percent-decodes `value` (and `+` to space when `plus_is_space`), which must be UTF-8. A `%`
/// not followed by two hex digits is an error: guessing what a broken link meant could fetch
/// from the wrong tracker.
fn decode(key: &str, value: &str, plus_is_space: bool) -> Result<String, MagnetError> {
    let bad = || MagnetError::BadPercentEncoding { param: quote(key) };
    let well_formed = value
        .split('%')
        .skip(1)
        .all(|escape| escape.as_bytes().get(..2).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)));
    if !well_formed {
        return Err(bad());
    }
    // A literal `+` is written `%2B`, so replacing before decoding is exact.
    let value = if plus_is_space { value.replace('+', " ") } else { value.to_owned() };
    let decoded = percent_decode_str(&value).decode_utf8().map_err(|_| bad())?;
    Ok(decoded.into_owned())
}

/// Bytes escaped in a value: everything but unreserved characters and the few delimiters that
/// are unambiguous inside a query value (`:`, `/`, `@`, `,`), so URLs stay readable.
const VALUE_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'/')
    .remove(b'@')
    .remove(b',');

/// Appends `&key=value`, escaping `value` with [`VALUE_ESCAPES`].
fn push_param(uri: &mut String, key: &str, value: &str) {
    uri.push('&');
    uri.push_str(key);
    uri.push('=');
    uri.extend(utf8_percent_encode(value, VALUE_ESCAPES));
}

/// Appends the indices of a BEP 53 list such as `0,2,4-6` to `out`.
fn parse_select_only(value: &str, out: &mut Vec<u32>) -> Result<(), MagnetError> {
    let invalid = || MagnetError::InvalidSelectOnly { value: quote(value) };
    for item in value.split(',') {
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (parse_index(a).ok_or_else(invalid)?, parse_index(b).ok_or_else(invalid)?),
            None => {
                let i = parse_index(item).ok_or_else(invalid)?;
                (i, i)
            }
        };
        if first > last {
            return Err(invalid());
        }
        let count = usize::try_from(last - first).ok().and_then(|n| n.checked_add(1)).ok_or_else(invalid)?;
        if out.len().saturating_add(count) > MAX_SELECT_ONLY {
            return Err(invalid());
        }
        out.extend(first..=last);
    }
    Ok(())
}

/// A decimal file index: digits only (no sign, no spaces), fitting in `u32`.
fn parse_index(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Sorted, deduplicated indices as compact BEP 53 ranges: `[0, 2, 4, 5, 6]` → `0,2,4-6`.
fn format_select_only(indices: &[u32]) -> String {
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut iter = sorted.into_iter().peekable();
    while let Some(first) = iter.next() {
        let mut last = first;
        while let Some(&next) = iter.peek() {
            if last.checked_add(1) != Some(next) {
                break;
            }
            last = next;
            iter.next();
        }
        parts.push(if first == last { first.to_string() } else { format!("{first}-{last}") });
    }
    parts.join(",")
}

/// User input shortened for an error message.
fn quote(s: &str) -> String {
    s.chars().take(MAX_QUOTED).collect()
}

#[cfg(test)]
mod tests;
