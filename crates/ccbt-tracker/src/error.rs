use thiserror::Error;

/// Why an announce or a scrape did not produce a usable answer.
///
/// Every variant concerns one tracker: the caller logs it, backs off and tries the next tracker
/// of the tier (BEP 12). Strings that come from the tracker are lossy UTF-8 and length-bounded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrackerError {
    /// The tracker refused the request with a `failure reason` (HTTP).
    #[error("tracker failure: {0}")]
    Failure(String),
    /// The tracker answered something we cannot use; the string names what is wrong.
    #[error("invalid tracker response: {0}")]
    InvalidResponse(String),
    /// No answer after all retransmissions (UDP) or within the request timeout (HTTP).
    #[error("tracker timed out")]
    Timeout,
    /// The tracker URL uses a scheme we do not speak (only http, https and udp are supported).
    #[error("unsupported tracker url scheme: {0}")]
    UnsupportedScheme(String),
    /// The UDP tracker answered with an error packet (BEP 15 action 3).
    #[error("tracker error: {0}")]
    TrackerErrorAction(String),
    /// The tracker URL cannot be parsed (no host, bad port, ...); the string names what.
    #[error("invalid tracker url: {0}")]
    InvalidUrl(String),
    /// A request the protocol cannot express (e.g. too many info hashes in one UDP scrape).
    #[error("invalid tracker request: {0}")]
    InvalidRequest(String),
    /// The HTTP tracker answered with a non-success status and no bencoded failure reason.
    #[error("tracker answered http status {status}")]
    HttpStatus {
        /// The HTTP status code.
        status: u16,
    },
    /// The request could not be carried out (DNS, connect, TLS, socket error).
    #[error("tracker request failed: {0}")]
    Transport(String),
}

/// Longest tracker-supplied text kept in an error or a warning: untrusted input must not make
/// a log line or a status snapshot arbitrarily large.
pub(crate) const MAX_TEXT: usize = 512;

/// Lossy UTF-8 rendering of tracker-supplied text, cut at [`MAX_TEXT`] bytes.
pub(crate) fn bounded_text(bytes: &[u8]) -> String {
    let shown = bytes.get(..MAX_TEXT).unwrap_or(bytes);
    let mut s = String::from_utf8_lossy(shown).into_owned();
    if bytes.len() > MAX_TEXT {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text_cuts_and_replaces() {
        assert_eq!(bounded_text(b"hello"), "hello");
        assert_eq!(bounded_text(b"a\xffb"), "a\u{fffd}b");
        let long = vec![b'x'; MAX_TEXT + 10];
        let s = bounded_text(&long);
        assert!(s.ends_with('…'));
        assert_eq!(s.chars().count(), MAX_TEXT + 1);
    }

    #[test]
    fn messages_are_lower_case() {
        assert_eq!(TrackerError::Timeout.to_string(), "tracker timed out");
        assert_eq!(TrackerError::HttpStatus { status: 404 }.to_string(), "tracker answered http status 404");
    }
}
