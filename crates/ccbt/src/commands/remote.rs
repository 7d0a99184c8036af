//! The client side of the daemon's API, for the commands that drive it: the daemon's address
//! comes from its lock file, the token from its token file, and each call is one blocking
//! HTTP request (ureq). A daemon serving HTTPS publishes its certificate's path in the lock
//! file; the client trusts that certificate alone (no system roots, verification on).

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use ccbt_api::{AddRequest, SessionView, StreamUrl, StreamUrlList, Token, TorrentList, TorrentView};
use serde::de::DeserializeOwned;

use super::daemon::lock::{self, LockInfo, TOKEN_FILE};

/// The message of every command that needs a daemon when none runs.
pub const NO_DAEMON: &str = "no ccbt daemon is running (start one with `ccbt daemon start`)";

/// Time limit of one request (adding a torrent creates its files, which can take a moment).
const TIMEOUT: Duration = Duration::from_secs(60);

/// A running daemon's API.
pub struct Daemon {
    url: String,
    token: Token,
    agent: ureq::Agent,
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
        let url = info
            .url
            .clone()
            .with_context(|| format!("the ccbt daemon (pid {}) is still starting", info.pid))?;
        let token = ccbt_api::read_token_file(&state_dir.join(TOKEN_FILE))?;
        let mut config = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            // The daemon is reached directly: a proxy from the environment must not see the token.
            .proxy(None);
        if url.starts_with("https://") {
            let cert = info
                .cert
                .as_deref()
                .with_context(|| format!("the daemon serves {url} but its lock file names no certificate"))?;
            config = config.tls_config(trusting(cert)?);
        }
        Ok(Daemon { url, token, agent: config.build().into() })
    }

    pub fn url(&self) -> &str {
        &self.url
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
        let text = self.request(method, path, body)?;
        serde_json::from_str(&text)
            .with_context(|| format!("unexpected answer from the daemon to {method} {path}"))
    }

    fn call_empty(&self, method: &str, path: &str) -> anyhow::Result<()> {
        self.request(method, path, None).map(drop)
    }

    /// One request; the body of a 2xx answer, else the API's error message.
    fn request(&self, method: &str, path: &str, body: Option<String>) -> anyhow::Result<String> {
        let url = format!("{}{}{path}", self.url, ccbt_api::PREFIX);
        let auth = format!("Bearer {}", self.token.as_str());
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => self.agent.delete(&url).header("Authorization", &auth).call(),
            ("PUT", body) => self
                .agent
                .put(&url)
                .header("Authorization", &auth)
                .content_type("application/json")
                .send(body.unwrap_or_default().as_bytes()),
            (_, Some(body)) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .content_type("application/json")
                .send(body.as_bytes()),
            (_, None) => self.agent.post(&url).header("Authorization", &auth).send_empty(),
        };
        let mut response = result.map_err(|e| match e {
            ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                anyhow::anyhow!("{NO_DAEMON}: {} does not answer ({e})", self.url)
            }
            other => anyhow::anyhow!("cannot reach the daemon at {}: {other}", self.url),
        })?;
        let status = response.status();
        let text = response.body_mut().read_to_string().context("cannot read the daemon's answer")?;
        if status.is_success() {
            return Ok(text);
        }
        Err(anyhow::anyhow!(
            "{}",
            error_message(&text).unwrap_or_else(|| format!("the daemon answered {status}"))
        ))
    }
}

/// TLS that trusts only the certificate(s) in the PEM file `cert`: the daemon's own.
fn trusting(cert: &Path) -> anyhow::Result<ureq::tls::TlsConfig> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let pem = std::fs::read(cert)
        .with_context(|| format!("cannot read the daemon's certificate {}", cert.display()))?;
    let mut roots = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        // Keys and other sections in the file are skipped.
        if let PemItem::Certificate(c) = item.with_context(|| format!("invalid PEM in {}", cert.display()))? {
            roots.push(c);
        }
    }
    anyhow::ensure!(!roots.is_empty(), "no certificate in {}", cert.display());
    Ok(TlsConfig::builder().root_certs(RootCerts::from(roots)).build())
}

/// The message of an API error body.
fn error_message(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    Some(value.get("error")?.get("message")?.as_str()?.to_owned())
}

/// `text` percent-encoded for a query value (everything but unreserved characters).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An info hash (or prefix) as a path segment: hex digits only, so nothing needs escaping.
fn segment(info_hash: &str) -> anyhow::Result<&str> {
    let ok =
        !info_hash.is_empty() && info_hash.len() <= 40 && info_hash.bytes().all(|b| b.is_ascii_hexdigit());
    anyhow::ensure!(ok, "{info_hash:?} is not an info hash (up to 40 hex digits; see `ccbt list`)");
    Ok(info_hash)
}
