//! The UDP tracker protocol (BEP 15): packets and the per-tracker machine.

mod packet;
mod tracker;

pub use packet::{
    action, decode_response, encode_announce, encode_connect, encode_scrape, UdpResponse, MAX_SCRAPE_HASHES,
    PROTOCOL_ID,
};
pub use tracker::{UdpEvent, UdpTracker, UdpTrackerOptions, CONNECTION_ID_LIFETIME};

use crate::http::short;
use crate::TrackerError;

/// The host and port of a `udp://host:port[/path]` tracker URL. The host is returned without
/// IPv6 brackets, ready for a resolver; the port is required (UDP has no default).
pub fn parse_udp_url(url: &str) -> Result<(String, u16), TrackerError> {
    let bad = |what: &str| TrackerError::InvalidUrl(format!("{what} in {}", short(url)));
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("udp") => rest,
        Some((scheme, _)) => return Err(TrackerError::UnsupportedScheme(short(scheme).to_owned())),
        None => return Err(bad("no scheme")),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ipv6 bracket"))?;
        (host, after.strip_prefix(':').ok_or_else(|| bad("no port"))?)
    } else {
        authority.rsplit_once(':').ok_or_else(|| bad("no port"))?
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port: u16 = port.parse().map_err(|_| bad("bad port"))?;
    if port == 0 {
        return Err(bad("port 0"));
    }
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_urls() {
        assert_eq!(
            parse_udp_url("udp://tracker.example:6969/announce"),
            Ok(("tracker.example".into(), 6969))
        );
        assert_eq!(parse_udp_url("UDP://1.2.3.4:80"), Ok(("1.2.3.4".into(), 80)));
        assert_eq!(parse_udp_url("udp://[::1]:1337/announce?x"), Ok(("::1".into(), 1337)));
        for bad in ["udp://host/announce", "udp://:80", "udp://h:0", "udp://h:99999", "udp://[::1/x", "udp"] {
            assert!(matches!(parse_udp_url(bad), Err(TrackerError::InvalidUrl(_))), "{bad}");
        }
        assert_eq!(parse_udp_url("http://h:1"), Err(TrackerError::UnsupportedScheme("http".into())));
    }
}
