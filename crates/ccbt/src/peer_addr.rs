//! `--peer` values: `IP:PORT`, `[IPv6]:PORT` or `HOST:PORT`, resolved with the system resolver.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use anyhow::Context as _;

/// A peer named on the command line, before name resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerArg {
    /// A literal address: `192.0.2.1:6881` or `[2001:db8::1]:6881`.
    Addr(SocketAddr),
    /// A host name and a port: `seedbox.example:6881`.
    Host { host: String, port: u16 },
}

impl FromStr for PeerArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Self::check_port(addr.port(), text).map(|()| PeerArg::Addr(addr));
        }
        let Some((host, port)) = text.rsplit_once(':') else {
            return Err(format!("`{text}` has no port: expected HOST:PORT"));
        };
        if host.is_empty() {
            return Err(format!("`{text}` has no host: expected HOST:PORT"));
        }
        if host.contains(':') || host.starts_with('[') {
            return Err(format!("`{text}` is not a valid address: write IPv6 peers as [ADDR]:PORT"));
        }
        if host.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err(format!("`{host}` is not a valid host name"));
        }
        let port: u16 = port.parse().map_err(|_| format!("`{port}` is not a port number (1-65535)"))?;
        Self::check_port(port, text)?;
        Ok(PeerArg::Host { host: host.to_owned(), port })
    }
}

impl PeerArg {
    fn check_port(port: u16, text: &str) -> Result<(), String> {
        if port == 0 {
            Err(format!("`{text}` has port 0: peers listen on ports 1-65535"))
        } else {
            Ok(())
        }
    }

    /// Every address the peer resolves to (a literal address resolves to itself).
    pub async fn resolve(&self) -> anyhow::Result<Vec<SocketAddr>> {
        match self {
            PeerArg::Addr(addr) => Ok(vec![*addr]),
            PeerArg::Host { host, port } => {
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), *port))
                    .await
                    .with_context(|| format!("cannot resolve peer host `{host}`"))?
                    .collect();
                anyhow::ensure!(!addrs.is_empty(), "peer host `{host}` has no address");
                Ok(addrs)
            }
        }
    }
}

impl fmt::Display for PeerArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerArg::Addr(addr) => write!(f, "{addr}"),
            PeerArg::Host { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// Resolves every `--peer` and removes duplicates, keeping the command-line order.
pub async fn resolve_all(peers: &[PeerArg]) -> anyhow::Result<Vec<SocketAddr>> {
    let mut out: Vec<SocketAddr> = Vec::with_capacity(peers.len());
    for peer in peers {
        for addr in peer.resolve().await? {
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> PeerArg {
        PeerArg::Addr(s.parse().unwrap())
    }

    #[test]
    fn literal_addresses() {
        assert_eq!("127.0.0.1:6881".parse(), Ok(addr("127.0.0.1:6881")));
        assert_eq!("[::1]:6881".parse(), Ok(addr("[::1]:6881")));
        assert_eq!("[2001:db8::1]:51413".parse(), Ok(addr("[2001:db8::1]:51413")));
    }

    #[test]
    fn host_names() {
        assert_eq!("localhost:6881".parse(), Ok(PeerArg::Host { host: "localhost".into(), port: 6881 }));
        assert_eq!(
            "seed-1.example.org:1".parse(),
            Ok(PeerArg::Host { host: "seed-1.example.org".into(), port: 1 })
        );
        assert_eq!("seed.example:80".parse::<PeerArg>().unwrap().to_string(), "seed.example:80");
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "127.0.0.1",
            "localhost",
            ":6881",
            "host:",
            "host:65536",
            "host:-1",
            "host:0",
            "127.0.0.1:0",
            "::1:6881",
            "[::1]",
            "[::1]:",
            "a b:1",
        ] {
            assert!(bad.parse::<PeerArg>().is_err(), "{bad:?} was accepted");
        }
    }

    #[tokio::test]
    async fn resolves_and_dedups() {
        let peers: Vec<PeerArg> = vec![addr("127.0.0.1:7000"), addr("127.0.0.1:7000"), addr("[::1]:7000")];
        let out = resolve_all(&peers).await.unwrap();
        assert_eq!(out, vec!["127.0.0.1:7000".parse().unwrap(), "[::1]:7000".parse().unwrap()]);
        let local = PeerArg::Host { host: "localhost".into(), port: 7000 };
        let resolved = local.resolve().await.unwrap();
        assert!(resolved.iter().all(|a| a.ip().is_loopback() && a.port() == 7000));
    }
}
