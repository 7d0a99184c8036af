//! A peer's client from its peer id, when the id follows the common Azureus style
//! (`-LT2080-` + random bytes: two letters naming the client, four version characters).

/// The clients whose two-letter codes are well established.
const CLIENTS: &[(&str, &str)] = &[
    ("AZ", "Vuze"),
    ("BI", "BiglyBT"),
    ("BT", "BitTorrent"),
    ("CB", "ccbt"),
    ("DE", "Deluge"),
    ("KT", "KTorrent"),
    ("LT", "libtorrent"),
    ("lt", "rTorrent"),
    ("qB", "qBittorrent"),
    ("TR", "Transmission"),
    ("UM", "µTorrent Mac"),
    ("UT", "µTorrent"),
    ("WW", "WebTorrent"),
];

/// `libtorrent 2.0.8` for `-LT2080-...`; the id as given for any other.
pub fn client_name(peer_id: &str) -> String {
    let bytes = peer_id.as_bytes();
    let azureus = bytes.len() >= 8 && bytes[0] == b'-' && bytes[7] == b'-';
    let known = azureus.then(|| CLIENTS.iter().find(|(code, _)| peer_id.get(1..3) == Some(*code))).flatten();
    match (known, peer_id.get(3..6)) {
        (Some((_, name)), Some(version)) if version.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            let dotted: Vec<String> = version.chars().map(String::from).collect();
            format!("{name} {}", dotted.join("."))
        }
        _ => peer_id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_clients_and_keeps_others() {
        assert_eq!(client_name("-LT2080-WxCqDkMH)DA~"), "libtorrent 2.0.8");
        assert_eq!(client_name("-TR4050-abcdefghijkl"), "Transmission 4.0.5");
        assert_eq!(client_name("-CB0100-abcdefghijkl"), "ccbt 0.1.0");
        assert_eq!(client_name("-ZZ1000-abcdefghijkl"), "-ZZ1000-abcdefghijkl");
        assert_eq!(client_name("A2-1-37-0-abc"), "A2-1-37-0-abc");
        assert_eq!(client_name("-LT"), "-LT");
        assert_eq!(client_name("-LT2\u{e9}80-x"), "-LT2\u{e9}80-x", "not Azureus style: kept");
        assert_eq!(client_name(""), "");
    }
}
