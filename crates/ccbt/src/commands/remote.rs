//! The client side of the daemon's API, for the commands that drive it: the daemon's address
//! comes from its lock file, the token from its token file, and each call is one blocking
//! HTTP request. The transport (and the TLS trust of the daemon's own certificate) is
//! `ccbt-client`'s, shared with the dashboard; this file names the calls the commands make.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use ccbt_api::{AddRequest, SessionView, StreamUrl, StreamUrlList, TorrentList, TorrentView};
use ccbt_client::Client;
use serde::de::DeserializeOwned;

use super::daemon::lock::{self, LockInfo};

/// The message of every command that needs a daemon when none runs.
pub use ccbt_client::NO_DAEMON;

/// Time limit of one request (adding a torrent creates its files, which can take a moment).
const TIMEOUT: Duration = Duration::from_secs(60);

/// A running daemon's API.
pub struct Daemon {
    client: Client,
}

/// The daemon of `state_dir`, or the "no daemon" error.
pub fn connect(state_dir: &Path) -> anyhow::Result<Daemon> {
    let info = lock::read_daemon(state_dir).ok_or_else(|| no_daemon(state_dir))?;
    Daemon::open(state_dir, &info)
}

/// [`NO_DAEMON`], naming the foreground session that uses the state folder, if one does.
pub fn no_daemon(state_dir: &Path) -> anyhow::Error {
    match lock::read_live(state_dir) {
        Some(info) if info.role == lock::Role::Session => anyhow::anyhow!(
            "{NO_DAEMON}; the state folder {} is in use by {}",
            state_dir.display(),
            super::session_lock::describe(&info)
        ),
        _ => anyhow::anyhow!("{NO_DAEMON}"),
    }
}

impl Daemon {
    /// The API the lock file describes, with the token of `state_dir`.
    pub fn open(state_dir: &Path, info: &LockInfo) -> anyhow::Result<Daemon> {
        Ok(Daemon { client: Client::open(state_dir, info, TIMEOUT)? })
    }

    pub fn url(&self) -> &str {
        self.client.url()
    }

    pub fn session(&self) -> anyhow::Result<SessionView> {
        self.call("GET", "/session", None)
    }

    /// `GET /snapshot`: the figures `ccbt status`, `ccbt status --json` and `/metrics` show.
    pub fn snapshot(&self) -> anyhow::Result<ccbt_api::SnapshotView> {
        self.call("GET", "/snapshot", None)
    }

    /// `GET /snapshot`, as the daemon sent it (checked to be a snapshot).
    pub fn snapshot_json(&self) -> anyhow::Result<String> {
        let text = self.request("GET", "/snapshot", None)?;
        serde_json::from_str::<ccbt_api::SnapshotView>(&text)
            .context("unexpected answer from the daemon to GET /snapshot")?;
        Ok(text)
    }

    pub fn torrents(&self) -> anyhow::Result<Vec<TorrentView>> {
        Ok(self.call::<TorrentList>("GET", "/torrents", None)?.torrents)
    }

    /// The torrents in one of `states` (all when empty) whose name contains `name`.
    pub fn torrents_where(&self, states: &[String], name: Option<&str>) -> anyhow::Result<Vec<TorrentView>> {
        let mut query = Vec::new();
        if !states.is_empty() {
            query.push(format!("state={}", encode(&states.join(","))));
        }
        if let Some(name) = name {
            query.push(format!("name={}", encode(name)));
        }
        let path =
            if query.is_empty() { "/torrents".to_owned() } else { format!("/torrents?{}", query.join("&")) };
        Ok(self.call::<TorrentList>("GET", &path, None)?.torrents)
    }

    /// GET `/torrents/{info_hash}/{what}` (`files`, `peers`, `trackers`, `limits`).
    pub fn torrent_part<T: DeserializeOwned>(&self, info_hash: &str, what: &str) -> anyhow::Result<T> {
        self.call("GET", &format!("/torrents/{}/{what}", segment(info_hash)?), None)
    }

    /// PUT `/torrents/{info_hash}/{what}` with a JSON body.
    pub fn put_torrent_part<T: DeserializeOwned>(
        &self,
        info_hash: &str,
        what: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<T> {
        self.call("PUT", &format!("/torrents/{}/{what}", segment(info_hash)?), Some(body.to_string()))
    }

    /// GET a path of the API (`/limits`).
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.call("GET", path, None)
    }

    /// PUT a JSON body to a path of the API (`/limits`).
    pub fn put<T: DeserializeOwned>(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<T> {
        self.call("PUT", path, Some(body.to_string()))
    }

    /// POST a JSON body to a path of the API (`/alerts/rules`).
    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<T> {
        self.call("POST", path, Some(body.to_string()))
    }

    /// DELETE a path of the API that answers 204 (`/alerts/rules/NAME`).
    pub fn delete(&self, path: &str) -> anyhow::Result<()> {
        self.call_empty("DELETE", path)
    }

    pub fn torrent(&self, info_hash: &str) -> anyhow::Result<TorrentView> {
        self.call("GET", &format!("/torrents/{}", segment(info_hash)?), None)
    }

    pub fn add(&self, request: &AddRequest) -> anyhow::Result<TorrentView> {
        let body = serde_json::to_string(request).context("cannot encode the request")?;
        self.call("POST", "/torrents", Some(body))
    }

    /// POST `/torrents/{info_hash}/{action}` (`pause`, `resume`).
    pub fn act(&self, info_hash: &str, action: &str) -> anyhow::Result<()> {
        self.call_empty("POST", &format!("/torrents/{}/{action}", segment(info_hash)?))
    }

    /// `DELETE /torrents/IH?delete_data=true`: what was deleted and kept.
    pub fn remove_with_data(&self, info_hash: &str) -> anyhow::Result<ccbt_api::RemovedView> {
        self.call("DELETE", &format!("/torrents/{}?delete_data=true", segment(info_hash)?), None)
    }

    pub fn remove(&self, info_hash: &str) -> anyhow::Result<()> {
        self.call_empty("DELETE", &format!("/torrents/{}", segment(info_hash)?))
    }

    /// `POST` (or with `stop`, `DELETE`) `/torrents/{info_hash}/peers/{addr}/trace`.
    pub fn peer_trace(
        &self,
        info_hash: &str,
        addr: std::net::SocketAddr,
        stop: bool,
    ) -> anyhow::Result<ccbt_api::PeerTraceView> {
        // An IPv6 address's brackets are percent-encoded in the path; its colons may stay.
        let addr = addr.to_string().replace('[', "%5B").replace(']', "%5D");
        let path = format!("/torrents/{}/peers/{addr}/trace", segment(info_hash)?);
        self.call(if stop { "DELETE" } else { "POST" }, &path, None)
    }

    /// The signed streaming URL of file `index`.
    pub fn stream_url(&self, info_hash: &str, index: u32) -> anyhow::Result<StreamUrl> {
        self.call("GET", &format!("/torrents/{}/files/{index}/url", segment(info_hash)?), None)
    }

    /// The signed streaming URL of every file.
    pub fn stream_urls(&self, info_hash: &str) -> anyhow::Result<StreamUrlList> {
        self.call("GET", &format!("/torrents/{}/urls", segment(info_hash)?), None)
    }

    fn call<T: DeserializeOwned>(&self, method: &str, path: &str, body: Option<String>) -> anyhow::Result<T> {
        Ok(self.client.call(method, path, body)?)
    }

    fn call_empty(&self, method: &str, path: &str) -> anyhow::Result<()> {
        self.request(method, path, None).map(drop)
    }

    /// One request; the body of a 2xx answer, else the API's error message.
    fn request(&self, method: &str, path: &str, body: Option<String>) -> anyhow::Result<String> {
        Ok(self.client.request(method, path, body)?)
    }
}

/// `text` percent-encoded for a query value (everything but unreserved characters).
fn encode(text: &str) -> String {
    ccbt_client::encode_query(text)
}

/// An info hash (or prefix) as a path segment: hex digits only, so nothing needs escaping.
fn segment(info_hash: &str) -> anyhow::Result<&str> {
    Ok(ccbt_client::info_hash_segment(info_hash)?)
}
