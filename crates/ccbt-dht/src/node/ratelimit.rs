//! Per-source-IP token buckets for incoming queries, in a bounded table that costs O(1) per
//! packet.
//!
//! An IP whose bucket has been idle long enough to refill completely is indistinguishable from a
//! new one, so it can be forgotten. Rather than scan the table for such IPs (O(n) per packet once
//! the table is full, which a flood from many spoofed sources would trigger on every datagram),
//! the table is split into two generations: IPs charged in the current one, and those charged
//! only in the previous one. A generation lasts the time a bucket takes to refill; when it ends,
//! the previous generation is dropped whole (its IPs have been idle for at least that long) and
//! the current one becomes the previous.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// One unit of budget, in thousandths, so refills stay exact in integers.
const COST: u64 = 1000;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    milli_tokens: u64,
    last: Instant,
}

/// Allows each source IP `per_sec` queries per second with bursts of `burst`, tracking at most
/// `max_tracked` IPs. When the table is full of IPs still under limitation, queries from new
/// IPs are refused: under such a flood, answering fewer hosts beats unbounded memory.
#[derive(Clone, Debug)]
pub(crate) struct RateLimiter {
    per_sec: u64,
    capacity: u64,
    max_tracked: usize,
    /// How long an empty bucket takes to refill (`None`: never, with a zero rate).
    generation: Option<Duration>,
    generation_started: Option<Instant>,
    current: HashMap<IpAddr, Bucket>,
    previous: HashMap<IpAddr, Bucket>,
    #[cfg(test)]
    visited: usize,
}

impl RateLimiter {
    pub(crate) fn new(per_sec: u32, burst: u32, max_tracked: usize) -> RateLimiter {
        let capacity = u64::from(burst.max(1)).saturating_mul(COST);
        let per_sec = u64::from(per_sec);
        // Milli-tokens refill at `per_sec` per millisecond.
        let generation = capacity.checked_div(per_sec).map(|ms| Duration::from_millis(ms.max(1)));
        RateLimiter {
            per_sec,
            capacity,
            max_tracked,
            generation,
            generation_started: None,
            current: HashMap::new(),
            previous: HashMap::new(),
            #[cfg(test)]
            visited: 0,
        }
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let ms = u64::try_from(now.saturating_duration_since(b.last).as_millis()).unwrap_or(u64::MAX);
        b.milli_tokens = b.milli_tokens.saturating_add(ms.saturating_mul(self.per_sec)).min(self.capacity);
        b.last = now;
    }

    /// Ends the current generation if it has lasted a refill time (both, after a long pause).
    fn rotate(&mut self, now: Instant) {
        let (Some(generation), Some(started)) = (self.generation, self.generation_started) else {
            self.generation_started.get_or_insert(now);
            return;
        };
        let elapsed = now.saturating_duration_since(started);
        if elapsed < generation {
            return;
        }
        self.previous = if elapsed >= generation.saturating_mul(2) {
            self.current.clear();
            HashMap::new()
        } else {
            std::mem::take(&mut self.current)
        };
        self.generation_started = Some(now);
    }

    /// Whether a query from `ip` may be answered now (and charges it if so).
    pub(crate) fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        #[cfg(test)]
        {
            self.visited += 1;
        }
        self.rotate(now);
        let bucket = match self.current.get(&ip) {
            Some(b) => Some(*b),
            None => self.previous.remove(&ip),
        };
        if bucket.is_none() && self.tracked() >= self.max_tracked {
            return false;
        }
        let mut b = bucket.unwrap_or(Bucket { milli_tokens: self.capacity, last: now });
        self.refill(&mut b, now);
        let ok = b.milli_tokens >= COST;
        if ok {
            b.milli_tokens -= COST;
        }
        self.current.insert(ip, b);
        ok
    }

    /// Drops the generations whose time is up (periodic housekeeping; `allow` does it too).
    pub(crate) fn purge(&mut self, now: Instant) {
        self.rotate(now);
    }

    /// IPs tracked.
    pub(crate) fn tracked(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(10, 5, 100);
        let ip: IpAddr = "1.2.3.4".parse().unwrap();
        assert_eq!((0..10).filter(|_| r.allow(t0, ip)).count(), 5);
        assert!(r.allow(t0 + Duration::from_millis(100), ip), "one token back after 100 ms");
        assert!(!r.allow(t0 + Duration::from_millis(100), ip));
        assert!(r.allow(t0 + Duration::from_millis(100), "1.2.3.5".parse().unwrap()), "other IPs unaffected");
    }

    #[test]
    fn table_is_bounded() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(10, 5, 3);
        for i in 0..3u8 {
            assert!(r.allow(t0, IpAddr::from([10, 0, 0, i])));
        }
        assert!(!r.allow(t0, "10.0.0.9".parse().unwrap()), "full of active IPs");
        assert_eq!(r.tracked(), 3);
        // Once their buckets refill they are forgotten and there is room again.
        assert!(r.allow(t0 + Duration::from_secs(1), "10.0.0.9".parse().unwrap()));
        assert_eq!(r.tracked(), 1);
    }

    #[test]
    fn a_full_table_costs_no_scan_per_packet() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(20, 60, 1000);
        let ip = |i: u32| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        for i in 0..1000 {
            assert!(r.allow(t0, ip(i)));
        }
        // A flood from (spoofed) new addresses while the table is full of active ones.
        for i in 1000..3000 {
            assert!(!r.allow(t0 + Duration::from_millis(u64::from(i - 1000) / 2), ip(i)));
        }
        assert!(r.visited <= 3000, "{} entries visited for 3000 packets", r.visited);
        assert!(r.tracked() <= 1000);
    }
}
