//! The lines of a per-peer trace file: one message (or event) per line, as
//! `<RFC 3339 UTC time with ms> <send|recv|note> <message>`. Pure: no clock, no files; the
//! tracer hands in the time. Payloads are never dumped: a piece is its index, offset and
//! length, an extended message its extension's name and size.

use std::fmt::Write as _;
use std::time::SystemTime;

use ccbt_core::BlockRef;
use ccbt_proto::swarm::{OUR_UT_METADATA, OUR_UT_PEX};
use ccbt_wire::ext::ExtHandshake;
use ccbt_wire::{Handshake, Message};

/// Which way a message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From us to the peer.
    Send,
    /// From the peer to us.
    Recv,
}

impl Direction {
    fn word(self) -> &'static str {
        match self {
            Direction::Send => "send",
            Direction::Recv => "recv",
        }
    }
}

/// The names of extended message ids, both ways: the ids we advertised (fixed) for what we
/// receive, the peer's own ids (from its extension handshake) for what we send.
#[derive(Debug, Default)]
pub(crate) struct ExtNames {
    theirs: Vec<(String, u8)>,
}

impl ExtNames {
    /// Learns the peer's ids from its extension handshake.
    fn learn(&mut self, hs: &ExtHandshake) {
        self.theirs = hs.m.iter().filter(|(_, id)| *id != 0).cloned().collect();
    }

    fn name(&self, dir: Direction, id: u8) -> Option<&str> {
        match dir {
            Direction::Recv => match id {
                OUR_UT_METADATA => Some("ut_metadata"),
                OUR_UT_PEX => Some("ut_pex"),
                _ => None,
            },
            Direction::Send => self.theirs.iter().find(|(_, i)| *i == id).map(|(n, _)| n.as_str()),
        }
    }
}

/// One complete line (with its newline): `time direction text`.
pub(crate) fn line(at: SystemTime, dir: Option<Direction>, text: &str) -> String {
    let mut out = String::with_capacity(32 + text.len());
    let _ = writeln!(
        out,
        "{} {} {text}",
        humantime::format_rfc3339_millis(at),
        dir.map_or("note", Direction::word)
    );
    out
}

/// A handshake, as sent or received.
pub(crate) fn handshake(h: &Handshake) -> String {
    let mut features = Vec::new();
    if h.supports_extensions() {
        features.push("extensions");
    }
    if h.supports_fast() {
        features.push("fast");
    }
    if h.supports_dht() {
        features.push("dht");
    }
    let features = if features.is_empty() { "none".to_string() } else { features.join(",") };
    format!("handshake info_hash={} peer_id={} features={features}", h.info_hash, h.peer_id)
}

/// A peer-wire message; an extension handshake also teaches `names` the peer's ids.
pub(crate) fn message(msg: &Message, dir: Direction, names: &mut ExtNames) -> String {
    let block =
        |name: &str, b: &BlockRef| format!("{name} index={} begin={} length={}", b.piece, b.offset, b.len);
    match msg {
        Message::KeepAlive => "keepalive".into(),
        Message::Choke => "choke".into(),
        Message::Unchoke => "unchoke".into(),
        Message::Interested => "interested".into(),
        Message::NotInterested => "not_interested".into(),
        Message::Have { piece } => format!("have index={piece}"),
        Message::Bitfield(bits) => {
            let set: u32 = bits.iter().map(|b| b.count_ones()).sum();
            format!("bitfield bytes={} pieces_set={set}", bits.len())
        }
        Message::Request(b) => block("request", b),
        Message::Piece { piece, offset, data } => {
            format!("piece index={piece} begin={offset} length={}", data.len())
        }
        Message::Cancel(b) => block("cancel", b),
        Message::Port(port) => format!("port {port}"),
        Message::Suggest { piece } => format!("suggest_piece index={piece}"),
        Message::HaveAll => "have_all".into(),
        Message::HaveNone => "have_none".into(),
        Message::Reject(b) => block("reject_request", b),
        Message::AllowedFast { piece } => format!("allowed_fast index={piece}"),
        Message::HashRequest(r) => hash_line("hash_request", r),
        Message::Hashes(h) => format!("{} nodes={}", hash_line("hashes", &h.request), h.nodes.len()),
        Message::HashReject(r) => hash_line("hash_reject", r),
        Message::Extended { id: 0, payload } => ext_handshake(payload, dir, names),
        Message::Extended { id, payload } => match names.name(dir, *id) {
            Some(name) => format!("extended {name} (id {id}, {} bytes)", payload.len()),
            None => format!("extended id {id} ({} bytes)", payload.len()),
        },
    }
}

/// A BEP 52 hash message's header: which file (root prefix), layer and range.
fn hash_line(name: &str, r: &ccbt_wire::HashRequest) -> String {
    let root: String = r.pieces_root[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{name} root={root}.. base={} index={} length={} proof_layers={}",
        r.base_layer, r.index, r.length, r.proof_layers
    )
}

fn ext_handshake(payload: &[u8], dir: Direction, names: &mut ExtNames) -> String {
    let hs = match ExtHandshake::decode(payload) {
        Ok(hs) => hs,
        Err(e) => return format!("extension_handshake undecodable ({} bytes): {e}", payload.len()),
    };
    if dir == Direction::Recv {
        names.learn(&hs);
    }
    let mut out = String::from("extension_handshake m={");
    for (i, (name, id)) in hs.m.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(out, "{sep}{}:{id}", printable(name));
    }
    out.push('}');
    if let Some(v) = &hs.v {
        let _ = write!(out, " v=\"{}\"", printable(v));
    }
    if let Some(p) = hs.p {
        let _ = write!(out, " p={p}");
    }
    if let Some(reqq) = hs.reqq {
        let _ = write!(out, " reqq={reqq}");
    }
    if let Some(size) = hs.metadata_size {
        let _ = write!(out, " metadata_size={size}");
    }
    out
}

/// A peer-chosen string made safe for one line: no control characters, quotes escaped.
fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| if c.is_control() || c == '"' { c.escape_default().collect() } else { vec![c] })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use bytes::Bytes;
    use ccbt_core::{InfoHash, PeerId};

    use super::*;

    fn at() -> SystemTime {
        // 2024-01-02T03:04:05.678Z
        UNIX_EPOCH + Duration::from_millis(1_704_164_645_678)
    }

    #[test]
    fn a_line_is_time_direction_text() {
        assert_eq!(line(at(), Some(Direction::Send), "choke"), "2024-01-02T03:04:05.678Z send choke\n");
        assert_eq!(line(at(), Some(Direction::Recv), "unchoke"), "2024-01-02T03:04:05.678Z recv unchoke\n");
        assert_eq!(
            line(at(), None, "connection closed"),
            "2024-01-02T03:04:05.678Z note connection closed\n"
        );
    }

    #[test]
    fn pieces_show_their_block_not_their_bytes() {
        let mut names = ExtNames::default();
        let msg = Message::Piece { piece: 7, offset: 16384, data: Bytes::from(vec![0xAB; 16384]) };
        assert_eq!(message(&msg, Direction::Recv, &mut names), "piece index=7 begin=16384 length=16384");
        let req = Message::Request(BlockRef { piece: 7, offset: 0, len: 16384 });
        assert_eq!(message(&req, Direction::Send, &mut names), "request index=7 begin=0 length=16384");
        let rej = Message::Reject(BlockRef { piece: 1, offset: 32768, len: 100 });
        assert_eq!(
            message(&rej, Direction::Recv, &mut names),
            "reject_request index=1 begin=32768 length=100"
        );
        let bits = Message::Bitfield(Bytes::from_static(&[0xFF, 0x80]));
        assert_eq!(message(&bits, Direction::Recv, &mut names), "bitfield bytes=2 pieces_set=9");
        assert_eq!(message(&Message::KeepAlive, Direction::Send, &mut names), "keepalive");
        assert_eq!(message(&Message::HaveAll, Direction::Recv, &mut names), "have_all");
    }

    #[test]
    fn extended_messages_are_named_from_both_handshakes() {
        let mut names = ExtNames::default();
        let theirs = ExtHandshake {
            m: vec![("ut_metadata".into(), 3), ("ut_pex".into(), 1), ("lt_donthave".into(), 0)],
            v: Some("lt \"2\"\n".into()),
            p: Some(6881),
            ..ExtHandshake::default()
        };
        let hs = Message::Extended { id: 0, payload: theirs.encode() };
        assert_eq!(
            message(&hs, Direction::Recv, &mut names),
            "extension_handshake m={lt_donthave:0,ut_metadata:3,ut_pex:1} v=\"lt \\\"2\\\"\\n\" p=6881"
        );
        // What we send goes to the peer's ids; what we receive comes to ours.
        let out = Message::Extended { id: 1, payload: Bytes::from_static(b"de") };
        assert_eq!(message(&out, Direction::Send, &mut names), "extended ut_pex (id 1, 2 bytes)");
        let inc = Message::Extended { id: OUR_UT_PEX, payload: Bytes::from_static(b"de") };
        assert_eq!(message(&inc, Direction::Recv, &mut names), "extended ut_pex (id 2, 2 bytes)");
        let unknown = Message::Extended { id: 9, payload: Bytes::new() };
        assert_eq!(message(&unknown, Direction::Send, &mut names), "extended id 9 (0 bytes)");
        let bad = Message::Extended { id: 0, payload: Bytes::from_static(b"x") };
        assert!(message(&bad, Direction::Recv, &mut names)
            .starts_with("extension_handshake undecodable (1 bytes)"));
    }

    #[test]
    fn handshakes_show_ids_and_features() {
        let mut h = Handshake::new(InfoHash([0x11; 20]), PeerId(*b"-LT2000-abcdefghijkl"));
        h.reserved = [0; 8];
        assert_eq!(
            handshake(&h),
            format!("handshake info_hash={} peer_id=-LT2000-abcdefghijkl features=none", "11".repeat(20))
        );
        h.reserved[5] |= 0x10;
        h.reserved[7] |= 0x05;
        assert_eq!(
            handshake(&h),
            format!(
                "handshake info_hash={} peer_id=-LT2000-abcdefghijkl features=extensions,fast,dht",
                "11".repeat(20)
            )
        );
    }
}
