//! The guard in front of every route: the `Host` header first (421), then the bearer token
//! (401). It is one `from_fn` layer over the whole router, fallbacks included.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, Token};

/// Who may use the API: the token, and the address the API listens on (for the Host check).
#[derive(Debug)]
pub struct Access {
    pub token: Token,
    pub addr: SocketAddr,
}

impl Access {
    /// Why a request with these headers is refused, if it is.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if !host.is_some_and(|h| host_is_ours(h, self.addr)) {
            return Err(ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "foreign_host",
                format!(
                    "the Host header must be {} or localhost:{} (requests for other names are refused)",
                    self.addr,
                    self.addr.port()
                ),
            ));
        }
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
}

/// The middleware: the request goes on only when [`Access::check`] passes.
pub(crate) async fn guard(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    match access.check(request.headers()) {
        Ok(()) => next.run(request).await,
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
