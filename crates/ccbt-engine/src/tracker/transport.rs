//! Moving tracker requests over the network: HTTP(S) through a blocking `ureq` agent on tokio's
//! blocking pool, UDP through one socket per tracker driving the sans-IO [`UdpTracker`].

use std::net::SocketAddr;
use std::time::Duration;

use ccbt_core::InfoHash;
use ccbt_tracker::{
    announce_url, parse_announce, parse_scrape, parse_udp_url, scrape_request_url, AnnounceRequest,
    AnnounceResponse, ScrapeStats, TrackerError, UdpEvent, UdpTracker, UdpTrackerOptions,
};
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// Largest datagram we read from a UDP tracker: room for more peers than we ever keep.
const UDP_BUFFER: usize = 16 * 1024;
/// Longest transport error text we keep (ureq errors can quote URLs).
const MAX_ERROR_TEXT: usize = 300;

/// Network limits of tracker requests.
#[derive(Clone, Debug)]
pub(crate) struct TransportOptions {
    /// TCP (and TLS) connect timeout of HTTP trackers.
    pub(crate) http_connect_timeout: Duration,
    /// Whole-request timeout of HTTP trackers, redirects included.
    pub(crate) http_timeout: Duration,
    /// Largest HTTP answer body we read.
    pub(crate) max_body: u64,
    /// Retransmission schedule of UDP trackers.
    pub(crate) udp: UdpTrackerOptions,
}

impl Default for TransportOptions {
    fn default() -> TransportOptions {
        TransportOptions {
            http_connect_timeout: Duration::from_secs(10),
            http_timeout: Duration::from_secs(20),
            max_body: 2 * 1024 * 1024,
            // BEP 15's 15 s doubling, but only two retransmissions: with eight, one dead tracker
            // would hold up the tier for over two hours before the next one is tried.
            udp: UdpTrackerOptions { base_timeout: Duration::from_secs(15), max_retries: 2, ipv6: false },
        }
    }
}

fn transport_error(e: impl std::fmt::Display) -> TrackerError {
    let mut text = e.to_string();
    if text.len() > MAX_ERROR_TEXT {
        let mut end = MAX_ERROR_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    TrackerError::Transport(text)
}

/// A shareable HTTP client with our timeouts. Non-2xx answers are returned, not errors: a
/// tracker may explain a 4xx with a bencoded `failure reason`.
pub(crate) fn http_agent(options: &TransportOptions) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(options.http_timeout))
        .timeout_connect(Some(options.http_connect_timeout))
        .http_status_as_error(false)
        .max_redirects(5)
        .user_agent(concat!("ccbt/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// [`http_agent`] that opens a connection per request. For one-off announces (the Xet
/// discovery keys, look-ups): a kept connection the tracker has closed meanwhile fails the next
/// request with a reset (opentracker closes after each answer), and a `stopped` is sent once.
pub(crate) fn http_agent_unpooled(options: &TransportOptions) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(options.http_timeout))
        .timeout_connect(Some(options.http_connect_timeout))
        .http_status_as_error(false)
        .max_redirects(5)
        .max_idle_connections(0)
        .user_agent(concat!("ccbt/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// GETs `url` on the blocking pool and returns the status and at most `max_body` bytes of body.
async fn http_get(agent: &ureq::Agent, url: String, max_body: u64) -> Result<(u16, Vec<u8>), TrackerError> {
    let agent = agent.clone();
    let task = tokio::task::spawn_blocking(move || {
        let mut response = agent.get(&url).call().map_err(map_ureq)?;
        let status = response.status().as_u16();
        let body = response.body_mut().with_config().limit(max_body).read_to_vec().map_err(map_ureq)?;
        Ok((status, body))
    });
    task.await.map_err(transport_error)?
}

fn map_ureq(e: ureq::Error) -> TrackerError {
    match e {
        ureq::Error::Timeout(_) => TrackerError::Timeout,
        ureq::Error::BodyExceedsLimit(limit) => {
            TrackerError::InvalidResponse(format!("body is larger than {limit} bytes"))
        }
        other => transport_error(other),
    }
}

/// Parses an HTTP answer with `parse`, turning a non-2xx status into an error unless the body
/// carries the tracker's own explanation.
fn http_answer<T>(
    status: u16,
    body: &[u8],
    parse: impl FnOnce(&[u8]) -> Result<T, TrackerError>,
) -> Result<T, TrackerError> {
    if (200..300).contains(&status) {
        return parse(body);
    }
    match parse(body) {
        Err(failure @ TrackerError::Failure(_)) => Err(failure),
        _ => Err(TrackerError::HttpStatus { status }),
    }
}

/// One announce to an HTTP(S) tracker.
pub(crate) async fn http_announce(
    agent: &ureq::Agent,
    base: &str,
    request: &AnnounceRequest,
    max_body: u64,
) -> Result<AnnounceResponse, TrackerError> {
    let url = announce_url(base, request)?;
    let (status, body) = http_get(agent, url, max_body).await?;
    http_answer(status, &body, parse_announce)
}

/// One scrape of an HTTP(S) tracker (BEP 48).
pub(crate) async fn http_scrape(
    agent: &ureq::Agent,
    announce: &str,
    info_hash: &InfoHash,
    max_body: u64,
) -> Result<ScrapeStats, TrackerError> {
    let url = scrape_request_url(announce, info_hash)
        .ok_or_else(|| TrackerError::InvalidUrl(format!("{announce} has no scrape convention")))?;
    let (status, body) = http_get(agent, url, max_body).await?;
    http_answer(status, &body, |b| parse_scrape(b, info_hash))
}

/// A UDP tracker: its socket (connected to the tracker, so the kernel drops datagrams from
/// anyone else) and its machine, which keeps the connection id between announces.
pub(crate) struct UdpSession {
    socket: UdpSocket,
    machine: UdpTracker,
    buf: Vec<u8>,
}

impl UdpSession {
    /// Resolves the tracker of `url` and opens a socket to it.
    pub(crate) async fn open(url: &str, options: UdpTrackerOptions) -> Result<UdpSession, TrackerError> {
        let (host, port) = parse_udp_url(url)?;
        let addr: SocketAddr = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(transport_error)?
            .next()
            .ok_or_else(|| TrackerError::Transport(format!("{host} has no address")))?;
        let bind: SocketAddr =
            if addr.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }.parse().map_err(transport_error)?;
        let socket = UdpSocket::bind(bind).await.map_err(transport_error)?;
        socket.connect(addr).await.map_err(transport_error)?;
        let options = UdpTrackerOptions { ipv6: addr.is_ipv6(), ..options };
        let machine = UdpTracker::new(options, &mut rand::thread_rng());
        Ok(UdpSession { socket, machine, buf: vec![0; UDP_BUFFER] })
    }

    /// One announce.
    pub(crate) async fn announce(
        &mut self,
        request: AnnounceRequest,
    ) -> Result<AnnounceResponse, TrackerError> {
        self.machine.announce(Instant::now().into_std(), request);
        match self.drive().await? {
            UdpEvent::Announced(r) => Ok(r),
            UdpEvent::Failed(e) => Err(e),
            UdpEvent::Scraped(_) => Err(TrackerError::InvalidResponse("scrape answer to an announce".into())),
        }
    }

    /// One scrape of one torrent.
    pub(crate) async fn scrape(&mut self, info_hash: InfoHash) -> Result<ScrapeStats, TrackerError> {
        self.machine.scrape(Instant::now().into_std(), &[info_hash])?;
        match self.drive().await? {
            UdpEvent::Scraped(stats) => stats
                .into_iter()
                .next()
                .ok_or_else(|| TrackerError::InvalidResponse("empty scrape answer".into())),
            UdpEvent::Failed(e) => Err(e),
            UdpEvent::Announced(_) => {
                Err(TrackerError::InvalidResponse("announce answer to a scrape".into()))
            }
        }
    }

    /// Moves datagrams and timeouts between the socket and the machine until it has an outcome.
    async fn drive(&mut self) -> Result<UdpEvent, TrackerError> {
        loop {
            while let Some(packet) = self.machine.poll_transmit() {
                self.socket.send(&packet).await.map_err(transport_error)?;
            }
            if let Some(event) = self.machine.poll_event() {
                return Ok(event);
            }
            let Some(deadline) = self.machine.poll_timeout() else {
                return Err(TrackerError::InvalidRequest("udp tracker has no request in flight".into()));
            };
            tokio::select! {
                received = self.socket.recv(&mut self.buf) => {
                    // A refused port (ICMP) means nobody listens there: no point retransmitting.
                    let n = received.map_err(transport_error)?;
                    let datagram = self.buf.get(..n).unwrap_or_default();
                    self.machine.handle_datagram(Instant::now().into_std(), datagram);
                }
                () = tokio::time::sleep_until(Instant::from_std(deadline)) => {
                    self.machine.handle_timeout(Instant::now().into_std());
                }
            }
        }
    }
}
