//! Tracker URLs, parsed by the `url` crate (WHATWG rules: userinfo, IPv6 literals, default
//! ports, case and percent-encoding normalised), and the byte-level percent-encoding of
//! announce parameters.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use url::{Host, Url};

use crate::TrackerError;

/// Bytes that stay as they are in a query value: RFC 3986 unreserved characters. Info hashes and
/// peer ids are binary, so everything else is `%XX`, byte by byte.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The URL schemes a tracker can have that we speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrackerScheme {
    /// `http://`.
    Http,
    /// `https://`.
    Https,
    /// `udp://` (BEP 15).
    Udp,
}

/// At most 200 bytes of a URL for an error message (cut on a character boundary).
pub(crate) fn short(s: &str) -> &str {
    let mut end = s.len().min(200);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// Parses a tracker URL: a scheme we speak and a host. The result is normalised (scheme and
/// domain lower case, default port dropped), so equal trackers compare equal.
pub fn parse_tracker_url(url: &str) -> Result<(TrackerScheme, Url), TrackerError> {
    let parsed =
        Url::parse(url.trim()).map_err(|e| TrackerError::InvalidUrl(format!("{e} in {}", short(url))))?;
    let scheme = match parsed.scheme() {
        "http" => TrackerScheme::Http,
        "https" => TrackerScheme::Https,
        "udp" => TrackerScheme::Udp,
        other => return Err(TrackerError::UnsupportedScheme(short(other).to_owned())),
    };
    if parsed.host_str().map_or(true, str::is_empty) {
        return Err(TrackerError::InvalidUrl(format!("no host in {}", short(url))));
    }
    Ok((scheme, parsed))
}

/// Whether an HTTP(S) tracker URL passes the SSRF rule libtorrent applies with
/// `ssrf_mitigation`: a tracker on the loopback interface (`localhost`, 127.0.0.0/8, `::1`) is
/// asked only when its path starts with `/announce`. A torrent cannot then point ccbt's GET
/// requests, with their query string, at an arbitrary local web service (an admin page, an
/// API); real trackers on loopback keep working. UDP trackers and other hosts always pass. Names
/// are not resolved here (sans-IO): a DNS name that resolves to loopback is not caught.
pub fn passes_ssrf_rule(url: &str) -> bool {
    let Ok((scheme, parsed)) = parse_tracker_url(url) else { return true };
    if scheme == TrackerScheme::Udp {
        return true;
    }
    let loopback = match parsed.host() {
        Some(Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    !loopback || parsed.path().starts_with("/announce")
}

/// The scheme of a tracker URL, or why it is not one we speak.
pub fn tracker_scheme(url: &str) -> Result<TrackerScheme, TrackerError> {
    parse_tracker_url(url).map(|(scheme, _)| scheme)
}

/// The host and port of a `udp://host:port[/path]` tracker URL. The host is returned without
/// IPv6 brackets, ready for a resolver; userinfo is ignored; the port is required (UDP has no
/// default).
pub fn parse_udp_url(url: &str) -> Result<(String, u16), TrackerError> {
    let bad = |what: &str| TrackerError::InvalidUrl(format!("{what} in {}", short(url)));
    let (scheme, parsed) = parse_tracker_url(url)?;
    if scheme != TrackerScheme::Udp {
        return Err(TrackerError::UnsupportedScheme(parsed.scheme().to_owned()));
    }
    let host = match parsed.host().ok_or_else(|| bad("no host"))? {
        Host::Ipv6(ip) => ip.to_string(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Domain(name) => name.to_owned(),
    };
    let port = parsed.port().ok_or_else(|| bad("no port"))?;
    if port == 0 {
        return Err(bad("port 0"));
    }
    Ok((host, port))
}

/// Appends `bytes` percent-encoded byte by byte: RFC 3986 unreserved characters stay, every
/// other byte becomes `%XX`.
pub fn percent_encode_to(bytes: &[u8], out: &mut String) {
    out.extend(percent_encoding::percent_encode(bytes, QUERY_VALUE));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_http_trackers_need_an_announce_path() {
        for refused in [
            "http://127.0.0.1:8080/admin/delete?all=1",
            "http://localhost/",
            "http://LOCALHOST:631/jobs",
            "https://[::1]:9000/api",
            "http://127.1.2.3/scrape",
        ] {
            assert!(!passes_ssrf_rule(refused), "{refused} must be refused");
        }
        for allowed in [
            "http://127.0.0.1:6969/announce",
            "http://localhost:8000/announce.php?passkey=x",
            "udp://127.0.0.1:6969",
            "http://tracker.example/anything",
            "http://10.0.0.1/x",
        ] {
            assert!(passes_ssrf_rule(allowed), "{allowed} must pass");
        }
    }

    #[test]
    fn udp_urls() {
        assert_eq!(
            parse_udp_url("udp://tracker.example:6969/announce"),
            Ok(("tracker.example".into(), 6969))
        );
        assert_eq!(parse_udp_url("UDP://1.2.3.4:80"), Ok(("1.2.3.4".into(), 80)));
        assert_eq!(parse_udp_url("udp://[::1]:1337/announce?x"), Ok(("::1".into(), 1337)));
        assert_eq!(parse_udp_url("udp://[2001:DB8::0:1]:6969"), Ok(("2001:db8::1".into(), 6969)));
        for bad in ["udp://host/announce", "udp://:80", "udp://h:0", "udp://h:99999", "udp://[::1/x", "udp"] {
            assert!(matches!(parse_udp_url(bad), Err(TrackerError::InvalidUrl(_))), "{bad}");
        }
        assert_eq!(parse_udp_url("http://h:1"), Err(TrackerError::UnsupportedScheme("http".into())));
    }

    #[test]
    fn userinfo_is_not_part_of_the_host() {
        // Hand-splitting at the last ':' used to take "user:pw@host" for the host.
        assert_eq!(parse_udp_url("udp://user:pw@tracker.example:6969"), Ok(("tracker.example".into(), 6969)));
        assert_eq!(parse_udp_url("udp://user@[::1]:6969"), Ok(("::1".into(), 6969)));
    }

    #[test]
    fn http_urls_are_normalised() {
        let (scheme, url) = parse_tracker_url(" HTTP://User:PW@Tracker.Example:80/announce?k=1 ").unwrap();
        assert_eq!(scheme, TrackerScheme::Http);
        assert_eq!(url.as_str(), "http://User:PW@tracker.example/announce?k=1");
        let (_, url) = parse_tracker_url("https://[2001:db8::1]:443/announce").unwrap();
        assert_eq!(url.as_str(), "https://[2001:db8::1]/announce");
        for bad in ["http://", "http://[::1/announce", "http://h:99999/", "/announce"] {
            assert!(matches!(parse_tracker_url(bad), Err(TrackerError::InvalidUrl(_))), "{bad}");
        }
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_bytes() {
        let mut s = String::new();
        percent_encode_to(b"aZ09-._~ /%\x00\xff", &mut s);
        assert_eq!(s, "aZ09-._~%20%2F%25%00%FF");
    }

    #[test]
    fn short_cuts_on_char_boundary() {
        let s = "é".repeat(150);
        assert!(short(&s).len() <= 200);
        assert!(s.starts_with(short(&s)));
    }
}
