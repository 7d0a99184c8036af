//! Outgoing peer connections leave from the session's `listen_host` when it names one address,
//! as Transmission's bind address does: a client bound to one interface (a VPN, or one of
//! several loopback addresses in tests) then also dials from it, so peers see the address we
//! announce. With the default (`0.0.0.0`, or an address of the other family) the system picks.
//!
//! Tracker requests are not bound: UDP tracker sockets and the HTTP client still leave from the
//! address the system picks (docs/config.md says so under `listen_host`).

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};

/// The local address a connection to `remote` is bound to, if any.
fn local_ip(listen_host: IpAddr, remote: SocketAddr) -> Option<IpAddr> {
    (!listen_host.is_unspecified() && listen_host.is_ipv4() == remote.is_ipv4()).then_some(listen_host)
}

/// Connects to `remote`, from `listen_host` when it names one address of the same family.
pub(crate) async fn connect(remote: SocketAddr, listen_host: IpAddr) -> io::Result<TcpStream> {
    let Some(ip) = local_ip(listen_host, remote) else {
        return TcpStream::connect(remote).await;
    };
    let socket = if remote.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(remote).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dials_from_the_listen_host() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let remote = listener.local_addr().unwrap();
        let host: IpAddr = "127.0.0.3".parse().unwrap();
        let (_ours, accepted) = tokio::join!(connect(remote, host), listener.accept());
        assert_eq!(accepted.unwrap().1.ip(), host);
    }

    #[test]
    fn unspecified_or_other_family_is_not_bound() {
        let v4: SocketAddr = "10.0.0.1:6881".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:6881".parse().unwrap();
        assert_eq!(local_ip("0.0.0.0".parse().unwrap(), v4), None);
        assert_eq!(local_ip("::".parse().unwrap(), v6), None);
        assert_eq!(local_ip("192.168.1.2".parse().unwrap(), v6), None);
        assert_eq!(local_ip("192.168.1.2".parse().unwrap(), v4), Some("192.168.1.2".parse().unwrap()));
    }
}
