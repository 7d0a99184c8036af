//! The BEP 15 client machine for one UDP tracker: connect, cached connection id, request,
//! retransmission with exponential back-off.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ccbt_core::InfoHash;
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

use super::packet::{decode_response, encode_announce, encode_connect, encode_scrape, UdpResponse};
use crate::response::clamp_interval;
use crate::{AnnounceRequest, AnnounceResponse, ScrapeStats, TrackerError};

/// How long a connection id may be used after the tracker handed it out (BEP 15).
pub const CONNECTION_ID_LIFETIME: Duration = Duration::from_secs(60);

/// Timing of a [`UdpTracker`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpTrackerOptions {
    /// Wait before the first retransmission; attempt `n` waits `base_timeout · 2^n`.
    pub base_timeout: Duration,
    /// Retransmissions before giving up with [`TrackerError::Timeout`]: attempts `n = 0..=max_retries`.
    pub max_retries: u32,
    /// The tracker is reached over IPv6, so announce answers carry 18-byte peers.
    pub ipv6: bool,
}

impl Default for UdpTrackerOptions {
    /// The BEP 15 values: 15 s doubling up to 15 · 2^8 s.
    fn default() -> UdpTrackerOptions {
        UdpTrackerOptions { base_timeout: Duration::from_secs(15), max_retries: 8, ipv6: false }
    }
}

/// The outcome of a request started with [`UdpTracker::announce`] or [`UdpTracker::scrape`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpEvent {
    /// The announce worked.
    Announced(AnnounceResponse),
    /// The scrape worked: one entry per requested info hash, in request order.
    Scraped(Vec<ScrapeStats>),
    /// The request failed: [`TrackerError::Timeout`] or [`TrackerError::TrackerErrorAction`].
    Failed(TrackerError),
}

#[derive(Clone, Debug)]
enum Request {
    Announce(AnnounceRequest),
    Scrape(Vec<InfoHash>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Connecting,
    Requesting,
}

#[derive(Debug)]
struct Transaction {
    request: Request,
    phase: Phase,
    transaction_id: u32,
    /// Sends of the current packet so far minus one: the `n` of `base · 2^n`.
    attempt: u32,
    deadline: Instant,
}

/// One UDP tracker, sans-IO: feed it datagrams from the tracker's address and timeouts, send
/// what [`UdpTracker::poll_transmit`] gives to that address.
///
/// One request at a time: starting a new one abandons the one in flight (its answer, if it
/// comes, no longer matches the transaction id and is ignored).
#[derive(Debug)]
pub struct UdpTracker {
    options: UdpTrackerOptions,
    rng: SmallRng,
    /// The connection id and when we got it.
    connection: Option<(u64, Instant)>,
    current: Option<Transaction>,
    transmit: Option<Vec<u8>>,
    events: VecDeque<UdpEvent>,
    ignored: u64,
}

impl UdpTracker {
    /// A tracker machine; transaction ids are drawn from a generator seeded from `rng`.
    pub fn new(options: UdpTrackerOptions, rng: &mut impl RngCore) -> UdpTracker {
        UdpTracker {
            options,
            rng: SmallRng::seed_from_u64(rng.next_u64()),
            connection: None,
            current: None,
            transmit: None,
            events: VecDeque::new(),
            ignored: 0,
        }
    }

    /// Starts an announce (connecting first unless a connection id younger than 60 s is cached).
    pub fn announce(&mut self, now: Instant, request: AnnounceRequest) {
        self.start(now, Request::Announce(request));
    }

    /// Starts a scrape of 1 to [`super::MAX_SCRAPE_HASHES`] torrents.
    pub fn scrape(&mut self, now: Instant, info_hashes: &[InfoHash]) -> Result<(), TrackerError> {
        // Validate now rather than when the packet is built, possibly after a connect round trip.
        encode_scrape(0, 0, info_hashes)?;
        self.start(now, Request::Scrape(info_hashes.to_vec()));
        Ok(())
    }

    /// Whether a request is in flight.
    pub fn is_busy(&self) -> bool {
        self.current.is_some()
    }

    /// Datagrams dropped so far: short, garbage, unexpected or with a wrong transaction id.
    pub fn ignored_packets(&self) -> u64 {
        self.ignored
    }

    /// The next datagram to send to the tracker.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.take()
    }

    /// When [`UdpTracker::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.current.as_ref().map(|t| t.deadline)
    }

    /// The next outcome.
    pub fn poll_event(&mut self) -> Option<UdpEvent> {
        self.events.pop_front()
    }

    /// Retransmits (or gives up) if the deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(t) = self.current.as_mut() else { return };
        if now < t.deadline {
            return;
        }
        t.attempt = t.attempt.saturating_add(1);
        if t.attempt > self.options.max_retries {
            self.finish(UdpEvent::Failed(TrackerError::Timeout));
            return;
        }
        let attempt = t.attempt;
        self.send(now, attempt, false);
    }

    /// Handles one datagram received from the tracker's address.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        let Some(t) = self.current.as_ref() else {
            self.ignored = self.ignored.saturating_add(1);
            return;
        };
        let response = match decode_response(datagram, self.options.ipv6) {
            Ok(r) if r.transaction_id() == t.transaction_id => r,
            _ => {
                self.ignored = self.ignored.saturating_add(1);
                return;
            }
        };
        match (t.phase, &t.request, response) {
            (_, _, UdpResponse::Error { message, .. }) => {
                // The error may be about our connection id; get a fresh one next time.
                self.connection = None;
                self.finish(UdpEvent::Failed(TrackerError::TrackerErrorAction(message)));
            }
            (Phase::Connecting, _, UdpResponse::Connect { connection_id, .. }) => {
                self.connection = Some((connection_id, now));
                // The tracker is alive: the request gets the full retransmission schedule.
                self.send(now, 0, true);
            }
            (
                Phase::Requesting,
                Request::Announce(_),
                UdpResponse::Announce { interval, leechers, seeders, peers, .. },
            ) => {
                let response = AnnounceResponse {
                    interval: clamp_interval(i64::from(interval)),
                    min_interval: None,
                    tracker_id: None,
                    complete: Some(seeders),
                    incomplete: Some(leechers),
                    peers,
                    warning: None,
                };
                self.finish(UdpEvent::Announced(response));
            }
            (Phase::Requesting, Request::Scrape(hashes), UdpResponse::Scrape { stats, .. })
                if stats.len() == hashes.len() =>
            {
                self.finish(UdpEvent::Scraped(stats));
            }
            _ => self.ignored = self.ignored.saturating_add(1),
        }
    }

    fn start(&mut self, now: Instant, request: Request) {
        self.current = Some(Transaction {
            request,
            phase: Phase::Connecting,
            transaction_id: 0,
            attempt: 0,
            deadline: now,
        });
        self.send(now, 0, true);
    }

    fn finish(&mut self, event: UdpEvent) {
        self.current = None;
        self.transmit = None;
        self.events.push_back(event);
    }

    /// Builds the packet for the current transaction. A connect is needed when no connection id
    /// is cached or it is older than [`CONNECTION_ID_LIFETIME`]. A new transaction id is drawn
    /// when the phase changes or `fresh` is set; plain retransmissions keep theirs so a late
    /// answer to an earlier copy still counts.
    fn send(&mut self, now: Instant, attempt: u32, fresh: bool) {
        let connection_id = self
            .connection
            .filter(|(_, at)| now.saturating_duration_since(*at) < CONNECTION_ID_LIFETIME)
            .map(|(id, _)| id);
        if connection_id.is_none() {
            self.connection = None;
        }
        let phase = if connection_id.is_some() { Phase::Requesting } else { Phase::Connecting };
        let new_id: u32 = self.rng.gen();
        let wait = backoff(self.options.base_timeout, attempt);
        let Some(t) = self.current.as_mut() else { return };
        if fresh || t.phase != phase {
            t.transaction_id = new_id;
        }
        t.phase = phase;
        t.attempt = attempt;
        t.deadline = now.checked_add(wait).unwrap_or(now);
        let packet = match (connection_id, &t.request) {
            (None, _) => Ok(encode_connect(t.transaction_id)),
            (Some(id), Request::Announce(req)) => Ok(encode_announce(id, t.transaction_id, req)),
            (Some(id), Request::Scrape(hashes)) => encode_scrape(id, t.transaction_id, hashes),
        };
        match packet {
            Ok(p) => self.transmit = Some(p),
            Err(e) => self.finish(UdpEvent::Failed(e)),
        }
    }
}

/// `base · 2^attempt`, saturating.
fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;
