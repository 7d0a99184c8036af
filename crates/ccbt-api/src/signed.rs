//! Signed streaming URLs: `…/torrents/{info_hash}/files/{index}/stream?sig=<hex>`, for players
//! that cannot send an `Authorization` header (mpv, VLC, a browser's `<video>`).
//!
//! The signature is a BLAKE3 keyed hash of (info hash, file index) under a key derived from the
//! API token, so it opens that one file of that one torrent and nothing else; it needs no state
//! on the daemon and stops working when the token changes, that is when the daemon restarts.
//! There is no expiry within a daemon's life: whoever holds the URL can read that file (never
//! anything else) until then, as with the token file itself.

use subtle::ConstantTimeEq as _;

use crate::{Token, PREFIX};

/// The BLAKE3 key-derivation context: the key is for stream signatures only (the string is
/// fixed forever, as the derivation requires).
const KEY_CONTEXT: &str = "ccbt 2026-12 api signed stream url v1";

/// The query parameter carrying the signature.
pub const SIG_PARAM: &str = "sig";

/// The stream route a signature opens: one file of one torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamTarget {
    pub info_hash: [u8; 20],
    pub index: u32,
}

/// Signs and checks the streaming URLs of one API token.
pub struct StreamSigner {
    key: [u8; 32],
}

impl StreamSigner {
    /// The signer of `token`'s URLs.
    pub fn new(token: &Token) -> StreamSigner {
        StreamSigner { key: blake3::derive_key(KEY_CONTEXT, token.as_str().as_bytes()) }
    }

    /// The signature of `target`, 64 lower-case hex digits.
    pub fn sign(&self, target: StreamTarget) -> String {
        hex(self.mac(target).as_bytes())
    }

    /// Whether `sig` is the signature of `target`, compared in constant time.
    pub fn verify(&self, target: StreamTarget, sig: &str) -> bool {
        let Some(given) = unhex::<32>(sig) else { return false };
        self.mac(target).as_bytes().ct_eq(&given).into()
    }

    fn mac(&self, target: StreamTarget) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new_keyed(&self.key);
        hasher.update(&target.info_hash);
        hasher.update(&target.index.to_be_bytes());
        hasher.finalize()
    }
}

impl StreamTarget {
    /// The target of `path` if it is exactly the stream route in the form signed URLs use: a
    /// 40-digit lower-case info hash (no prefix) and a plain decimal index (no sign, no leading
    /// zero). Any other spelling (percent-escapes, a trailing slash, an upper-case hash) is not
    /// a signed URL's, so it gets no signature check at all.
    pub fn from_path(path: &str) -> Option<StreamTarget> {
        let rest = path.strip_prefix(PREFIX)?.strip_prefix("/torrents/")?;
        let (hash, rest) = rest.split_once('/')?;
        let index = rest.strip_prefix("files/")?.strip_suffix("/stream")?;
        let lower = hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !lower {
            return None;
        }
        let info_hash = unhex::<20>(hash)?;
        let canonical = index == "0" || (!index.starts_with('0') && !index.is_empty());
        if !canonical || !index.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(StreamTarget { info_hash, index: index.parse().ok()? })
    }

    /// The route's path, as [`StreamTarget::from_path`] reads it.
    pub fn path(&self) -> String {
        format!("{PREFIX}/torrents/{}/files/{}/stream", hex(&self.info_hash), self.index)
    }
}

/// The value of the one `sig` parameter of a query string; `None` when there is none, and
/// `Some("")` (which no signature matches) when there are several.
pub fn sig_param(query: &str) -> Option<&str> {
    let mut values = query.split('&').filter_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name == SIG_PARAM).then_some(value)
    });
    let first = values.next()?;
    Some(if values.next().is_some() { "" } else { first })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Exactly `N` bytes of hex (either case), or `None`.
fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0123456789abcdef0123456789abcdef01234567";

    fn target(index: u32) -> StreamTarget {
        StreamTarget { info_hash: unhex::<20>(HASH).unwrap(), index }
    }

    #[test]
    fn a_signature_opens_its_own_file_only() {
        let token = Token::generate();
        let signer = StreamSigner::new(&token);
        let sig = signer.sign(target(3));
        assert_eq!(sig.len(), 64);
        assert!(signer.verify(target(3), &sig));
        assert!(signer.verify(target(3), &sig.to_ascii_uppercase()));
        assert!(!signer.verify(target(4), &sig));
        let mut other = target(3);
        other.info_hash[19] ^= 1;
        assert!(!signer.verify(other, &sig));
        assert!(!signer.verify(target(3), &sig[..63]));
        assert!(!signer.verify(target(3), ""));
        assert!(!signer.verify(target(3), &format!("{}zz", &sig[..62])));
        // Another token (a restarted daemon) signs differently.
        assert!(!StreamSigner::new(&Token::generate()).verify(target(3), &sig));
        // Nor is the signature the token or derived from it in an obvious way.
        assert!(!sig.contains(token.as_str()));
    }

    #[test]
    fn only_the_canonical_stream_path_is_a_target() {
        let path = format!("/api/v1/torrents/{HASH}/files/12/stream");
        assert_eq!(StreamTarget::from_path(&path), Some(target(12)));
        assert_eq!(target(12).path(), path);
        assert_eq!(
            StreamTarget::from_path(&format!("/api/v1/torrents/{HASH}/files/0/stream")),
            Some(target(0))
        );
        for bad in [
            format!("/api/v1/torrents/{HASH}/files/12/stream/"),
            format!("/api/v1/torrents/{HASH}/files/012/stream"),
            format!("/api/v1/torrents/{HASH}/files/+12/stream"),
            format!("/api/v1/torrents/{HASH}/files//stream"),
            format!("/api/v1/torrents/{HASH}/files/4294967296/stream"),
            format!("/api/v1/torrents/{HASH}/files/12/url"),
            format!("/api/v1/torrents/{}/files/12/stream", HASH.to_ascii_uppercase()),
            format!("/api/v1/torrents/{}/files/12/stream", &HASH[..39]),
            format!("/api/v1/torrents/%30{}/files/12/stream", &HASH[1..]),
            format!("/api/v1/torrents/{HASH}"),
            format!("/api/v1//torrents/{HASH}/files/12/stream"),
            format!("/api/v2/torrents/{HASH}/files/12/stream"),
            "/api/v1/session".to_owned(),
        ] {
            assert_eq!(StreamTarget::from_path(&bad), None, "{bad}");
        }
    }

    #[test]
    fn the_sig_parameter() {
        assert_eq!(sig_param("sig=ab"), Some("ab"));
        assert_eq!(sig_param("x=1&sig=ab&y"), Some("ab"));
        assert_eq!(sig_param("signature=ab"), None);
        assert_eq!(sig_param(""), None);
        assert_eq!(sig_param("sig"), Some(""));
        assert_eq!(sig_param("sig=ab&sig=ab"), Some(""));
    }
}
