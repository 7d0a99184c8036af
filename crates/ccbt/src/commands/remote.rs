//! The client side of the daemon's API, for the commands that drive it: the daemon's address
//! comes from its lock file, the token from its token file, and each call is one blocking
//! HTTP request (ureq, no TLS: the API is on loopback).

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use ccbt_api::{AddRequest, SessionView, Token, TorrentList, TorrentView};
use serde::de::DeserializeOwned;

use super::daemon::lock::{self, TOKEN_FILE};

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
    let info = lock::read_live(state_dir).context(NO_DAEMON)?;
    let url = info.url.with_context(|| format!("the ccbt daemon (pid {}) is still starting", info.pid))?;
    Daemon::open(state_dir, url)
}

impl Daemon {
    /// The API at `url` with the token of `state_dir`.
    pub fn open(state_dir: &Path, url: String) -> anyhow::Result<Daemon> {
        let token = ccbt_api::read_token_file(&state_dir.join(TOKEN_FILE))?;
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            // Loopback only: a proxy from the environment must not see the token.
            .proxy(None)
            .build()
            .into();
        Ok(Daemon { url, token, agent })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn session(&self) -> anyhow::Result<SessionView> {
        self.call("GET", "/session", None)
    }

    pub fn torrents(&self) -> anyhow::Result<Vec<TorrentView>> {
        Ok(self.call::<TorrentList>("GET", "/torrents", None)?.torrents)
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

/// The message of an API error body.
fn error_message(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    Some(value.get("error")?.get("message")?.as_str()?.to_owned())
}

/// An info hash (or prefix) as a path segment: hex digits only, so nothing needs escaping.
fn segment(info_hash: &str) -> anyhow::Result<&str> {
    let ok =
        !info_hash.is_empty() && info_hash.len() <= 40 && info_hash.bytes().all(|b| b.is_ascii_hexdigit());
    anyhow::ensure!(ok, "{info_hash:?} is not an info hash (up to 40 hex digits; see `ccbt list`)");
    Ok(info_hash)
}
