//! The JSON of `/api/v1/xet/follows`: the request that starts a follow and the view of each.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The longest poll interval a follow takes (a day), as `ccbt xet follow --poll-secs`.
pub const MAX_POLL_SECS: u64 = 86_400;
/// The poll interval of a request that names none (docs/xet.md suggests 5 to 15 minutes).
pub const DEFAULT_POLL_SECS: u64 = 600;

/// `POST /api/v1/xet/follows`. The dataset is named exactly once: by `source` (a BEP 46 link
/// `magnet:?xs=urn:btpk:<key>[&s=<salt hex>]`, or the absolute path of the current version's
/// .torrent, whose `info.xet.pk` names the publisher) or by `torrent` (that .torrent's bytes,
/// base64).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XetFollowRequest {
    #[serde(default)]
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torrent: Option<String>,
    /// The folder holding (or to hold) the dataset, absolute; created when missing.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Seconds between two looks at the publisher's item (1 to 86400; default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_secs: Option<u64>,
    /// `IP:PORT` peers to try for the current version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
}

/// `GET /api/v1/xet/follows`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct XetFollowList {
    pub follows: Vec<XetFollowView>,
}

/// One follow: the answer of `POST /api/v1/xet/follows` and the items of the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct XetFollowView {
    /// 16 hex digits, the same for the same publisher, salt and folder.
    pub id: String,
    /// The publisher's BEP 46 link.
    pub link: String,
    /// 64 hex digits.
    pub public_key: String,
    /// The salt in hex (empty for none), and as text when it is UTF-8.
    pub salt_hex: String,
    pub salt: Option<String>,
    pub dir: PathBuf,
    pub poll_secs: u64,
    /// `looking_up` (finding the newest version in the DHT), `fetching` (getting the current
    /// version into `dir`), `following` (polling the item), `updating` (a newer version is
    /// downloading into the staging folder) or `stopped` (cannot run; `last_error` says why).
    pub state: String,
    /// The item's sequence number of the version in use (0 while unknown).
    pub seq: i64,
    /// The id the item names the version in use by (40 hex digits: the truncated v2 info hash
    /// of a v2 or hybrid torrent), None until a link's first lookup.
    pub info_hash: Option<String>,
    /// The session's torrent of the version in use, once it is in the session.
    pub torrent: Option<XetFollowTorrentView>,
    /// The version being fetched.
    pub updating: Option<XetFollowUpdateView>,
    /// Polls of the item since the follow (re)started, and versions switched to.
    pub polls: u64,
    pub switches: u64,
    /// Unix seconds of the last poll.
    pub last_poll: Option<u64>,
    /// The last failure, cleared by the next success.
    pub last_error: Option<String>,
}

/// The torrent of a follow's version in use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct XetFollowTorrentView {
    /// As `/api/v1/torrents` names it.
    pub info_hash: String,
    pub name: String,
}

/// A version being fetched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct XetFollowUpdateView {
    pub info_hash: String,
    pub seq: i64,
}
