//! Tracker answers: the HTTP announce and scrape bodies (BEP 3, 7, 23, 48) and the compact peer
//! formats shared with UDP (BEP 15).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

use ccbt_bencode::{Dict, Value};
use ccbt_core::InfoHash;

use crate::error::bounded_text;
use crate::TrackerError;

/// Most peers taken from one answer; the rest are ignored so a hostile list cannot make us
/// allocate without bound (a torrent never needs more than this from one announce anyway).
pub const MAX_PEERS: usize = 2000;
/// Shortest re-announce interval we accept; a smaller `interval` is raised to this.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// Longest re-announce interval we accept; a larger `interval` is lowered to this.
pub const MAX_INTERVAL: Duration = Duration::from_secs(6 * 3600);
/// Longest `tracker id` we keep and echo back.
const MAX_TRACKER_ID: usize = 256;

/// A successful announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// When to announce again, clamped to [`MIN_INTERVAL`]..=[`MAX_INTERVAL`].
    pub interval: Duration,
    /// The tracker's floor for early re-announces (clamped like `interval`, never above it).
    pub min_interval: Option<Duration>,
    /// An id to echo back in later announces to this tracker.
    pub tracker_id: Option<Vec<u8>>,
    /// Seeders in the swarm.
    pub complete: Option<u32>,
    /// Leechers in the swarm.
    pub incomplete: Option<u32>,
    /// Peers, IPv4 and IPv6, at most [`MAX_PEERS`].
    pub peers: Vec<SocketAddr>,
    /// A `warning message`: the announce worked but the tracker has something to say.
    pub warning: Option<String>,
}

/// Swarm counters of one torrent from a scrape (BEP 48, BEP 15).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScrapeStats {
    /// Seeders.
    pub complete: u32,
    /// Leechers.
    pub incomplete: u32,
    /// Completed downloads the tracker has seen.
    pub downloaded: u32,
}

/// Clamps a tracker-supplied interval in seconds to the accepted range.
pub(crate) fn clamp_interval(secs: i64) -> Duration {
    let secs = u64::try_from(secs).unwrap_or(0);
    Duration::from_secs(secs).clamp(MIN_INTERVAL, MAX_INTERVAL)
}

/// Appends the peers of a compact IPv4 list (BEP 23: 4 address bytes, 2 port bytes, big-endian)
/// to `out` until it holds [`MAX_PEERS`]. Port 0 entries are skipped: nobody listens there.
pub(crate) fn compact_v4(bytes: &[u8], out: &mut Vec<SocketAddr>) -> Result<(), TrackerError> {
    if bytes.len() % 6 != 0 {
        return Err(TrackerError::InvalidResponse(format!(
            "compact peers length {} is not a multiple of 6",
            bytes.len()
        )));
    }
    for entry in bytes.chunks_exact(6) {
        if out.len() >= MAX_PEERS {
            break;
        }
        if let [a, b, c, d, p0, p1] = *entry {
            let port = u16::from_be_bytes([p0, p1]);
            if port != 0 {
                out.push(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), port)));
            }
        }
    }
    Ok(())
}

/// Like [`compact_v4`] for IPv6 (BEP 7: 16 address bytes, 2 port bytes).
pub(crate) fn compact_v6(bytes: &[u8], out: &mut Vec<SocketAddr>) -> Result<(), TrackerError> {
    if bytes.len() % 18 != 0 {
        return Err(TrackerError::InvalidResponse(format!(
            "compact peers6 length {} is not a multiple of 18",
            bytes.len()
        )));
    }
    for entry in bytes.chunks_exact(18) {
        if out.len() >= MAX_PEERS {
            break;
        }
        let (ip, port) = entry.split_at(16);
        let (Ok(ip), Ok(port)) = (<[u8; 16]>::try_from(ip), <[u8; 2]>::try_from(port)) else {
            continue;
        };
        let port = u16::from_be_bytes(port);
        if port != 0 {
            out.push(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0)));
        }
    }
    Ok(())
}

/// The original BEP 3 peer list: dictionaries with `ip` (text) and `port`. Entries we cannot
/// use (a host name, which a sans-IO parser cannot resolve; a bad port) are skipped rather than
/// failing the whole answer: the other peers are still good.
fn dict_peers(list: &[Value<'_>], out: &mut Vec<SocketAddr>) {
    for entry in list {
        if out.len() >= MAX_PEERS {
            break;
        }
        let ip = entry.get(b"ip").and_then(Value::as_str).and_then(|s| s.parse::<IpAddr>().ok());
        let port = entry.get(b"port").and_then(Value::as_int).and_then(|p| u16::try_from(p).ok());
        if let (Some(ip), Some(port)) = (ip, port) {
            if port != 0 {
                out.push(SocketAddr::new(ip, port));
            }
        }
    }
}

fn top_dict<'a, 'b>(value: &'b Value<'a>) -> Result<&'b Dict<'a>, TrackerError> {
    value
        .as_dict()
        .ok_or_else(|| TrackerError::InvalidResponse(format!("body is a {}, not a dictionary", value.kind())))
}

fn decode_body(body: &[u8]) -> Result<Value<'_>, TrackerError> {
    ccbt_bencode::decode(body).map_err(|e| TrackerError::InvalidResponse(format!("body is not bencode: {e}")))
}

/// `failure reason`, if present, as the error it means.
fn failure(dict: &Dict<'_>) -> Option<TrackerError> {
    let reason = dict.get(b"failure reason")?;
    let text = reason.as_bytes().map_or_else(|| "(not a string)".to_owned(), bounded_text);
    Some(TrackerError::Failure(text))
}

fn optional_int(dict: &Dict<'_>, key: &str) -> Result<Option<i64>, TrackerError> {
    match dict.get(key.as_bytes()) {
        None => Ok(None),
        Some(v) => v
            .as_int()
            .map(Some)
            .ok_or_else(|| TrackerError::InvalidResponse(format!("{key} is a {}, not an integer", v.kind()))),
    }
}

fn count(n: Option<i64>) -> Option<u32> {
    n.map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX))
}

/// Parses the body of an HTTP announce answer.
pub fn parse_announce(body: &[u8]) -> Result<AnnounceResponse, TrackerError> {
    let value = decode_body(body)?;
    let dict = top_dict(&value)?;
    if let Some(err) = failure(dict) {
        return Err(err);
    }
    let interval = optional_int(dict, "interval")?
        .ok_or_else(|| TrackerError::InvalidResponse("interval is missing".to_owned()))?;
    let interval = clamp_interval(interval);
    let min_interval = optional_int(dict, "min interval")?.map(|m| clamp_interval(m).min(interval));
    let tracker_id = dict
        .get(b"tracker id")
        .and_then(Value::as_bytes)
        .filter(|id| !id.is_empty() && id.len() <= MAX_TRACKER_ID)
        .map(<[u8]>::to_vec);
    let complete = count(optional_int(dict, "complete")?);
    let incomplete = count(optional_int(dict, "incomplete")?);
    let warning = dict.get(b"warning message").and_then(Value::as_bytes).map(bounded_text);

    let mut peers = Vec::new();
    match dict.get(b"peers") {
        None => {}
        Some(Value::Bytes(b)) => compact_v4(b, &mut peers)?,
        Some(Value::List(list)) => dict_peers(list, &mut peers),
        Some(other) => {
            return Err(TrackerError::InvalidResponse(format!(
                "peers is a {}, not a byte string or a list",
                other.kind()
            )))
        }
    }
    match dict.get(b"peers6") {
        None => {}
        Some(Value::Bytes(b)) => compact_v6(b, &mut peers)?,
        Some(other) => {
            return Err(TrackerError::InvalidResponse(format!(
                "peers6 is a {}, not a byte string",
                other.kind()
            )))
        }
    }
    Ok(AnnounceResponse { interval, min_interval, tracker_id, complete, incomplete, peers, warning })
}

/// Parses the body of an HTTP scrape answer (BEP 48) and returns the counters of `info_hash`.
pub fn parse_scrape(body: &[u8], info_hash: &InfoHash) -> Result<ScrapeStats, TrackerError> {
    let value = decode_body(body)?;
    let dict = top_dict(&value)?;
    if let Some(err) = failure(dict) {
        return Err(err);
    }
    let files =
        dict.get(b"files").ok_or_else(|| TrackerError::InvalidResponse("files is missing".to_owned()))?;
    let files = files.as_dict().ok_or_else(|| {
        TrackerError::InvalidResponse(format!("files is a {}, not a dictionary", files.kind()))
    })?;
    let entry = files
        .get(info_hash.as_bytes())
        .ok_or_else(|| TrackerError::InvalidResponse(format!("files has no entry for {info_hash}")))?;
    let entry = entry.as_dict().ok_or_else(|| {
        TrackerError::InvalidResponse(format!("files entry is a {}, not a dictionary", entry.kind()))
    })?;
    Ok(ScrapeStats {
        complete: count(optional_int(entry, "complete")?).unwrap_or(0),
        incomplete: count(optional_int(entry, "incomplete")?).unwrap_or(0),
        downloaded: count(optional_int(entry, "downloaded")?).unwrap_or(0),
    })
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
