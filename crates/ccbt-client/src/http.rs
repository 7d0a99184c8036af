//! One blocking HTTP request per call (ureq) to the daemon the lock file names, with the token
//! of its state folder.

use std::io::BufReader;
use std::path::Path;
use std::time::Duration;

use ccbt_api::Token;
use serde::de::DeserializeOwned;

use crate::lock::{self, LockInfo, TOKEN_FILE};
use crate::sse::EventReader;
use crate::ClientError;

/// The message of every command that needs a daemon when none runs.
pub const NO_DAEMON: &str = "no ccbt daemon is running (start one with `ccbt daemon start`)";

/// The largest answer read (a snapshot of many torrents with their peers is a few MiB; ureq's
/// own default of 10 MB could refuse a large one).
const MAX_BODY: u64 = 256 * 1024 * 1024;

/// The event stream sends a keep-alive comment every 15 s: silence for longer than this means
/// the daemon hangs or the connection is dead.
const EVENT_READ_TIMEOUT: Duration = Duration::from_secs(45);

/// A running daemon's API.
pub struct Client {
    url: String,
    token: Token,
    agent: ureq::Agent,
    /// The same connection settings without the time limit of a whole request, for the event
    /// stream (which lasts as long as the daemon).
    stream_agent: ureq::Agent,
}

/// The daemon of `state_dir`; each request may take up to `timeout`.
pub fn connect(state_dir: &Path, timeout: Duration) -> Result<Client, ClientError> {
    let info = lock::read_daemon(state_dir).ok_or(ClientError::NoDaemon)?;
    Client::open(state_dir, &info, timeout)
}

impl Client {
    /// The API the lock file describes, with the token of `state_dir`.
    pub fn open(state_dir: &Path, info: &LockInfo, timeout: Duration) -> Result<Client, ClientError> {
        let url = info.url.clone().ok_or(ClientError::Starting { pid: info.pid })?;
        let token = ccbt_api::read_token_file(&state_dir.join(TOKEN_FILE))?;
        let tls = if url.starts_with("https://") {
            let cert = info.cert.as_deref().ok_or_else(|| ClientError::NoCertificate { url: url.clone() })?;
            Some(trusting(cert)?)
        } else {
            None
        };
        let agent = |global: Option<Duration>, per_read: Option<Duration>| -> ureq::Agent {
            let mut config = ureq::Agent::config_builder()
                .timeout_global(global)
                .timeout_connect(Some(timeout))
                .timeout_per_read(per_read)
                .http_status_as_error(false)
                // The daemon is reached directly: a proxy from the environment must not see the token.
                .proxy(None);
            if let Some(tls) = &tls {
                config = config.tls_config(tls.clone());
            }
            config.build().into()
        };
        Ok(Client {
            agent: agent(Some(timeout), None),
            stream_agent: agent(None, Some(EVENT_READ_TIMEOUT)),
            url,
            token,
        })
    }

    /// The API's base URL, `http://127.0.0.1:6890`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// GET `path` (below `/api/v1`), decoded.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call("GET", path, None)
    }

    /// `method` `path` with an optional JSON body, the answer decoded.
    pub fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<T, ClientError> {
        let text = self.request(method, path, body)?;
        serde_json::from_str(&text).map_err(|source| ClientError::Decode {
            method: method.to_owned(),
            path: path.to_owned(),
            source,
        })
    }

    /// One request; the body of a 2xx answer, else the API's error message.
    pub fn request(&self, method: &str, path: &str, body: Option<String>) -> Result<String, ClientError> {
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
        let mut response = result.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let text =
            response.body_mut().with_config().limit(MAX_BODY).read_to_string().map_err(ClientError::Read)?;
        if status.is_success() {
            return Ok(text);
        }
        let message = error_message(&text).unwrap_or_else(|| format!("the daemon answered {status}"));
        Err(ClientError::Api { status: status.as_u16(), message })
    }

    /// `GET /api/v1/events`: the daemon's event stream, read one event at a time.
    pub fn events(&self) -> Result<EventReader<impl std::io::Read>, ClientError> {
        let url = format!("{}{}/events", self.url, ccbt_api::PREFIX);
        let auth = format!("Bearer {}", self.token.as_str());
        let response = self
            .stream_agent
            .get(&url)
            .header("Authorization", &auth)
            .header("Accept", "text/event-stream")
            .call()
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let mut body = response.into_body();
        if !status.is_success() {
            let text = body.with_config().limit(MAX_BODY).read_to_string().map_err(ClientError::Read)?;
            let message = error_message(&text).unwrap_or_else(|| format!("the daemon answered {status}"));
            return Err(ClientError::Api { status: status.as_u16(), message });
        }
        Ok(EventReader::new(BufReader::new(body.into_reader())))
    }

    fn transport_error(&self, e: ureq::Error) -> ClientError {
        let url = self.url.clone();
        match e {
            ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                ClientError::Unreachable { url, source: e }
            }
            source => ClientError::Transport { url, source },
        }
    }
}

/// TLS that trusts only the certificate(s) in the PEM file `cert`: the daemon's own.
fn trusting(cert: &Path) -> Result<ureq::tls::TlsConfig, ClientError> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let pem = std::fs::read(cert)
        .map_err(|source| ClientError::Certificate { path: cert.to_path_buf(), source })?;
    let mut roots = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        let item = item.map_err(|e| ClientError::Pem { path: cert.to_path_buf(), message: e.to_string() })?;
        // Keys and other sections in the file are skipped.
        if let PemItem::Certificate(c) = item {
            roots.push(c);
        }
    }
    if roots.is_empty() {
        return Err(ClientError::EmptyCertificate { path: cert.to_path_buf() });
    }
    Ok(TlsConfig::builder().root_certs(RootCerts::from(roots)).build())
}

/// The message of an API error body.
fn error_message(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    Some(value.get("error")?.get("message")?.as_str()?.to_owned())
}

/// `text` percent-encoded for a query value (everything but unreserved characters).
pub fn encode_query(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An info hash (or prefix) as a path segment: hex digits only, so nothing needs escaping.
pub fn info_hash_segment(info_hash: &str) -> Result<&str, ClientError> {
    let ok =
        !info_hash.is_empty() && info_hash.len() <= 40 && info_hash.bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(info_hash)
    } else {
        Err(ClientError::InfoHash(info_hash.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encoding_and_segments() {
        assert_eq!(encode_query("a b&c/é"), "a%20b%26c%2F%C3%A9");
        assert_eq!(info_hash_segment("ab12").unwrap(), "ab12");
        assert!(info_hash_segment("../x").is_err());
        assert!(info_hash_segment("").is_err());
        assert!(info_hash_segment(&"a".repeat(41)).is_err());
        assert_eq!(
            error_message(r#"{"error":{"code":"x","message":"no such torrent"}}"#).unwrap(),
            "no such torrent"
        );
        assert_eq!(error_message("<html>"), None);
    }
}
