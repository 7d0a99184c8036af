//! The guard in front of every route: the `Host` header first (421), then the bearer token
//! (401), or, for the stream route alone, a signed URL's `sig` parameter (401 when it does not
//! match). It is one `from_fn` layer over the whole router, fallbacks included.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::signed::{sig_param, StreamSigner, StreamTarget};
use crate::{ApiError, Token};

/// Who may use the API: the token, and the address the API listens on (for the Host check).
/// Handed to the handlers as a request extension (the signed-URL route signs with it).
#[derive(Debug)]
pub struct Access {
    pub token: Token,
    pub addr: SocketAddr,
    /// Whether the API is served over TLS (the scheme of the URLs it hands out).
    pub https: bool,
}

impl Access {
    /// Why a request for `method uri` with these headers is refused, if it is. A request
    /// without an `Authorization` header may carry a signed URL's `sig` instead, which opens
    /// only the stream (GET or HEAD) of the one file it was made for.
    pub fn check(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
        self.check_host(headers)?;
        let given = headers.get(header::AUTHORIZATION);
        let sig = uri.query().and_then(sig_param);
        match (given, sig) {
            (None, Some(sig)) => self.check_signature(method, uri.path(), sig),
            _ => self.check_bearer(headers),
        }
    }

    /// The signer of this API's streaming URLs.
    pub fn signer(&self) -> StreamSigner {
        StreamSigner::new(&self.token)
    }

    fn check_host(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if host.is_some_and(|h| host_is_ours(h, self.addr)) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "foreign_host",
            format!(
                "the Host header must be {} or localhost:{} (requests for other names are refused)",
                self.addr,
                self.addr.port()
            ),
        ))
    }

    fn check_bearer(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let given = headers.get(header::AUTHORIZATION).and_then(|h| h.to_str().ok()).and_then(bearer);
        match given {
            Some(token) if self.token.matches(token) => Ok(()),
            Some(_) => Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "wrong API token")),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_token",
                "send `Authorization: Bearer <token>`; the token is in the file api_token of the daemon's state folder",
            )),
        }
    }

    fn check_signature(&self, method: &Method, path: &str, sig: &str) -> Result<(), ApiError> {
        let readable = method == Method::GET || method == Method::HEAD;
        let target = StreamTarget::from_path(path).filter(|_| readable);
        match target {
            Some(target) if self.signer().verify(target, sig) => Ok(()),
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                "this signed URL does not open this route: a signature opens only GET or HEAD of the stream \
                 of the one file it was made for, until the daemon restarts (get a new one with \
                 `ccbt stream-url`, or send `Authorization: Bearer <token>`)",
            )),
        }
    }
}

/// The middleware: the request goes on only when [`Access::check`] passes, with the access
/// as an extension for the handlers that sign URLs.
pub(crate) async fn guard(State(access): State<Arc<Access>>, mut request: Request, next: Next) -> Response {
    match access.check(request.method(), request.uri(), request.headers()) {
        Ok(()) => {
            request.extensions_mut().insert(access);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

/// The token of an `Authorization: Bearer <token>` value (the scheme in any case).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether a `Host` value names the API at `addr`: its IP (any IP when `addr` is a wildcard)
/// or `localhost`, with no port or `addr`'s port. Any other name is what a DNS-rebinding page would send.
fn host_is_ours(host: &str, addr: SocketAddr) -> bool {
    let (name, port) = match split_host(host) {
        Some(parts) => parts,
        None => return false,
    };
    if port.is_some_and(|p| p != addr.port()) {
        return false;
    }
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    // Bound to every address (`0.0.0.0`, `::`), the API cannot know which one the client
    // dialled: any IP literal is accepted (DNS rebinding needs a name, and names stay refused).
    name.parse::<IpAddr>().is_ok_and(|ip| ip == addr.ip() || addr.ip().is_unspecified())
}

/// `name[:port]` or `[v6][:port]` split into the name (without brackets) and the port.
fn split_host(host: &str) -> Option<(&str, Option<u16>)> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (name, after) = rest.split_once(']')?;
        match after {
            "" => (name, None),
            _ => (name, Some(after.strip_prefix(':')?)),
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    Some((name, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_that_name_the_api() {
        let v4: SocketAddr = "127.0.0.1:6890".parse().unwrap();
        for ok in ["127.0.0.1:6890", "127.0.0.1", "localhost:6890", "LOCALHOST", "localhost"] {
            assert!(host_is_ours(ok, v4), "{ok}");
        }
        for bad in [
            "evil.example:6890",
            "127.0.0.1:6891",
            "127.0.0.2:6890",
            "localhost.evil.example:6890",
            "127.0.0.1:6890:1",
            "127.0.0.1:",
            "",
            "[::1]:6890",
        ] {
            assert!(!host_is_ours(bad, v4), "{bad}");
        }
        let v6: SocketAddr = "[::1]:7000".parse().unwrap();
        assert!(host_is_ours("[::1]:7000", v6));
        assert!(host_is_ours("[::1]", v6));
        assert!(host_is_ours("localhost:7000", v6));
        assert!(!host_is_ours("[::1]:7001", v6));
        assert!(!host_is_ours("[::1", v6));
        assert!(!host_is_ours("::1", v6));
        let any: SocketAddr = "0.0.0.0:6890".parse().unwrap();
        for ok in ["192.0.2.7:6890", "127.0.0.1", "[2001:db8::1]:6890", "localhost:6890"] {
            assert!(host_is_ours(ok, any), "{ok}");
        }
        for bad in ["evil.example:6890", "192.0.2.7:6891", "nas.lan:6890"] {
            assert!(!host_is_ours(bad, any), "{bad}");
        }
    }

    #[test]
    fn bearer_scheme_in_any_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }
}
