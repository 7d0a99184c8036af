//! Per-source-IP token buckets for incoming queries, in a bounded table.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

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
    ips: HashMap<IpAddr, Bucket>,
}

impl RateLimiter {
    pub(crate) fn new(per_sec: u32, burst: u32, max_tracked: usize) -> RateLimiter {
        RateLimiter {
            per_sec: u64::from(per_sec),
            capacity: u64::from(burst.max(1)).saturating_mul(COST),
            max_tracked,
            ips: HashMap::new(),
        }
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let ms = u64::try_from(now.saturating_duration_since(b.last).as_millis()).unwrap_or(u64::MAX);
        b.milli_tokens = b.milli_tokens.saturating_add(ms.saturating_mul(self.per_sec)).min(self.capacity);
        b.last = now;
    }

    /// Whether a query from `ip` may be answered now (and charges it if so).
    pub(crate) fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        if !self.ips.contains_key(&ip) && self.ips.len() >= self.max_tracked {
            self.purge(now);
            if self.ips.len() >= self.max_tracked {
                return false;
            }
        }
        let mut b = self.ips.get(&ip).copied().unwrap_or(Bucket { milli_tokens: self.capacity, last: now });
        self.refill(&mut b, now);
        let ok = b.milli_tokens >= COST;
        if ok {
            b.milli_tokens -= COST;
        }
        self.ips.insert(ip, b);
        ok
    }

    /// Forgets IPs whose bucket has refilled completely: they are indistinguishable from new.
    pub(crate) fn purge(&mut self, now: Instant) {
        let (per_sec, capacity) = (self.per_sec, self.capacity);
        self.ips.retain(|_, b| {
            let ms = u64::try_from(now.saturating_duration_since(b.last).as_millis()).unwrap_or(u64::MAX);
            b.milli_tokens.saturating_add(ms.saturating_mul(per_sec)) < capacity
        });
    }

    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.ips.len()
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
}
