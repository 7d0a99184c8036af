//! HTTP tracker requests (BEP 3, BEP 23, BEP 48): building announce and scrape URLs.
//!
//! The answers are parsed in [`crate::response`]; the transport is the caller's.

use std::fmt::Write as _;

use ccbt_core::{InfoHash, PeerId};

use crate::tracker_url::{parse_tracker_url, percent_encode_to, TrackerScheme};
use crate::TrackerError;

/// The `event` of an announce (BEP 3). BEP 15 uses the same four values with its own numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AnnounceEvent {
    /// A regular announce.
    #[default]
    None,
    /// The first announce of a download.
    Started,
    /// The download just completed (not sent if it was complete when it started).
    Completed,
    /// We are leaving the swarm.
    Stopped,
}

impl AnnounceEvent {
    /// The value of the HTTP `event` parameter, `None` for a regular announce (no parameter).
    pub fn as_http_param(self) -> Option<&'static str> {
        match self {
            AnnounceEvent::None => None,
            AnnounceEvent::Started => Some("started"),
            AnnounceEvent::Completed => Some("completed"),
            AnnounceEvent::Stopped => Some("stopped"),
        }
    }

    /// The BEP 15 number: 0 none, 1 completed, 2 started, 3 stopped.
    pub fn as_udp(self) -> u32 {
        match self {
            AnnounceEvent::None => 0,
            AnnounceEvent::Completed => 1,
            AnnounceEvent::Started => 2,
            AnnounceEvent::Stopped => 3,
        }
    }
}

/// Everything one announce tells the tracker, for HTTP and UDP alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Our peer id.
    pub peer_id: PeerId,
    /// The port we accept peer connections on.
    pub port: u16,
    /// Payload bytes sent since the `started` announce.
    pub uploaded: u64,
    /// Payload bytes received since the `started` announce.
    pub downloaded: u64,
    /// Bytes we still need.
    pub left: u64,
    /// Why we announce.
    pub event: AnnounceEvent,
    /// How many peers we want; `None` lets the tracker choose.
    pub numwant: Option<u32>,
    /// A random number stable for the session, so a tracker can recognise us across IP changes.
    pub key: u32,
    /// The `tracker id` the tracker gave us in an earlier answer, echoed back.
    pub tracker_id: Option<Vec<u8>>,
    /// Ask for the compact peer list (BEP 23). Every tracker today supports it.
    pub compact: bool,
}

/// The full announce URL for `req` on the tracker at `base` (an `http` or `https` URL, possibly
/// with a query of its own, which is kept: private trackers put a passkey there). The URL is
/// normalised; a fragment, which is never sent to the server, is dropped.
pub fn announce_url(base: &str, req: &AnnounceRequest) -> Result<String, TrackerError> {
    let (scheme, mut url) = parse_tracker_url(base)?;
    if scheme == TrackerScheme::Udp {
        return Err(TrackerError::UnsupportedScheme("udp".to_owned()));
    }
    url.set_fragment(None);
    let mut query = url.query().unwrap_or_default().to_owned();
    if !query.is_empty() && !query.ends_with('&') {
        query.push('&');
    }
    query.push_str("info_hash=");
    percent_encode_to(req.info_hash.as_bytes(), &mut query);
    query.push_str("&peer_id=");
    percent_encode_to(req.peer_id.as_bytes(), &mut query);
    let _ = write!(
        query,
        "&port={}&uploaded={}&downloaded={}&left={}&compact={}",
        req.port,
        req.uploaded,
        req.downloaded,
        req.left,
        u8::from(req.compact)
    );
    // Peer ids in a dictionary list are wasted bytes: we never use them.
    query.push_str("&no_peer_id=1");
    if let Some(event) = req.event.as_http_param() {
        query.push_str("&event=");
        query.push_str(event);
    }
    if let Some(n) = req.numwant {
        let _ = write!(query, "&numwant={n}");
    }
    let _ = write!(query, "&key={:08x}", req.key);
    if let Some(id) = &req.tracker_id {
        query.push_str("&trackerid=");
        percent_encode_to(id, &mut query);
    }
    // Everything appended is unreserved or `%XX`, which `set_query` leaves as it is.
    url.set_query(Some(&query));
    Ok(url.into())
}

/// The BEP 48 scrape URL of an HTTP announce URL: the last path segment must start with
/// `announce`, which is replaced by `scrape` (`/announce.php` → `/scrape.php`); the query is
/// kept. `None` when the tracker has no scrape convention or is not an HTTP tracker.
pub fn scrape_url(announce_url: &str) -> Option<String> {
    let (scheme, mut url) = parse_tracker_url(announce_url).ok()?;
    if scheme == TrackerScheme::Udp {
        return None;
    }
    let last = url.path_segments()?.next_back()?.to_owned();
    let tail = last.strip_prefix("announce")?;
    let scrape = format!("scrape{tail}");
    url.path_segments_mut().ok()?.pop().push(&scrape);
    url.set_fragment(None);
    Some(url.into())
}

/// The scrape URL for `info_hash` on the tracker whose announce URL is `announce_url`
/// (see [`scrape_url`]).
pub fn scrape_request_url(announce_url: &str, info_hash: &InfoHash) -> Option<String> {
    let mut url = scrape_url(announce_url)?;
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str("info_hash=");
    percent_encode_to(info_hash.as_bytes(), &mut url);
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker_scheme;

    fn request() -> AnnounceRequest {
        let mut hash = [0u8; 20];
        for (i, b) in hash.iter_mut().enumerate() {
            *b = (i as u8) * 13;
        }
        AnnounceRequest {
            info_hash: InfoHash(hash),
            peer_id: PeerId(*b"-CB0100-abc~.XYZ_ 1\xff"),
            port: 6881,
            uploaded: 1,
            downloaded: 2,
            left: 3,
            event: AnnounceEvent::Started,
            numwant: Some(50),
            key: 0xdead_beef,
            tracker_id: None,
            compact: true,
        }
    }

    #[test]
    fn golden_announce_url() {
        let url = announce_url("http://t.example:6969/announce", &request()).unwrap();
        assert_eq!(
            url,
            "http://t.example:6969/announce?info_hash=%00%0D%1A%274AN%5Bhu%82%8F%9C%A9%B6%C3%D0%DD%EA%F7\
             &peer_id=-CB0100-abc~.XYZ_%201%FF&port=6881&uploaded=1&downloaded=2&left=3&compact=1\
             &no_peer_id=1&event=started&numwant=50&key=deadbeef"
        );
    }

    #[test]
    fn existing_query_is_kept_and_fragment_dropped() {
        let mut req = request();
        req.event = AnnounceEvent::None;
        req.numwant = None;
        req.compact = false;
        req.tracker_id = Some(b"id 1/&".to_vec());
        let url = announce_url("https://t.example/a/announce?passkey=abc#frag", &req).unwrap();
        assert!(url.starts_with("https://t.example/a/announce?passkey=abc&info_hash=%00"), "{url}");
        assert!(url.ends_with("&compact=0&no_peer_id=1&key=deadbeef&trackerid=id%201%2F%26"), "{url}");
        assert!(!url.contains("event="));
        assert!(!url.contains('#'));
        let url = announce_url("http://t.example/announce?x=1&", &req).unwrap();
        assert!(url.starts_with("http://t.example/announce?x=1&info_hash="), "{url}");
    }

    #[test]
    fn ipv6_hosts_and_userinfo_are_kept() {
        let url = announce_url("http://user:pw@[2001:db8::1]:6969/announce?pk=1", &request()).unwrap();
        assert!(url.starts_with("http://user:pw@[2001:db8::1]:6969/announce?pk=1&info_hash=%00"), "{url}");
        let scrape = scrape_request_url("https://[::1]/announce", &InfoHash([0xab; 20])).unwrap();
        assert_eq!(scrape, format!("https://[::1]/scrape?info_hash={}", "%AB".repeat(20)));
    }

    #[test]
    fn schemes() {
        assert_eq!(tracker_scheme("HTTP://a/announce"), Ok(TrackerScheme::Http));
        assert_eq!(tracker_scheme("udp://a:1"), Ok(TrackerScheme::Udp));
        assert_eq!(tracker_scheme("wss://a/"), Err(TrackerError::UnsupportedScheme("wss".into())));
        assert!(matches!(tracker_scheme("nonsense"), Err(TrackerError::InvalidUrl(_))));
        assert_eq!(
            announce_url("udp://a:1/announce", &request()),
            Err(TrackerError::UnsupportedScheme("udp".into()))
        );
    }

    #[test]
    fn every_event_has_its_numbers() {
        assert_eq!(AnnounceEvent::None.as_udp(), 0);
        assert_eq!(AnnounceEvent::Completed.as_udp(), 1);
        assert_eq!(AnnounceEvent::Started.as_udp(), 2);
        assert_eq!(AnnounceEvent::Stopped.as_udp(), 3);
        assert_eq!(AnnounceEvent::Stopped.as_http_param(), Some("stopped"));
        assert_eq!(AnnounceEvent::Completed.as_http_param(), Some("completed"));
    }

    #[test]
    fn scrape_urls() {
        let cases = [
            ("http://t.example/announce", Some("http://t.example/scrape")),
            ("http://t.example:80/x/announce.php?k=1#f", Some("http://t.example/x/scrape.php?k=1")),
            (
                "https://t.example/announce?passkey=a/announce",
                Some("https://t.example/scrape?passkey=a/announce"),
            ),
            ("http://t.example/a", None),
            ("http://t.example/announce/x", None),
            ("http://announce", None),
            ("udp://t.example:1/announce", None),
            ("http://t.example/x%064announce", None),
            ("http://u:p@[2001:db8::1]:8080/announce", Some("http://u:p@[2001:db8::1]:8080/scrape")),
        ];
        for (input, want) in cases {
            assert_eq!(scrape_url(input).as_deref(), want, "{input}");
        }
    }
}
