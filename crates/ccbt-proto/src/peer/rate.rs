//! A moving-window byte rate estimator driven by the `now`s it is given.

use std::time::{Duration, Instant};

/// Width of one bucket.
const BUCKET: Duration = Duration::from_millis(250);
/// Number of buckets: the window is `BUCKETS * BUCKET` = 5 s, short enough to follow a peer
/// that speeds up or stalls, long enough to smooth TCP burstiness.
const BUCKETS: usize = 20;
/// Rates are never computed over less than this, so that the first block does not look like
/// an enormous rate (which would inflate the pipeline on a single sample).
const MIN_SPAN: Duration = Duration::from_secs(1);

/// Bytes per second over the last few seconds, in fixed time buckets (constant memory,
/// however many samples arrive).
#[derive(Clone, Debug)]
pub(super) struct Rate {
    /// The time of the first sample; slot numbers count buckets from here.
    origin: Option<Instant>,
    /// Bytes per bucket, indexed by `slot % BUCKETS`.
    buckets: [u64; BUCKETS],
    /// The newest slot written; older slots in the ring are `head - k`.
    head: u64,
}

impl Rate {
    pub(super) fn new() -> Rate {
        Rate { origin: None, buckets: [0; BUCKETS], head: 0 }
    }

    fn slot(origin: Instant, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(origin).as_nanos();
        u64::try_from(elapsed / BUCKET.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Counts `bytes` transferred at `now`.
    pub(super) fn record(&mut self, now: Instant, bytes: u64) {
        let origin = *self.origin.get_or_insert(now);
        let slot = Rate::slot(origin, now);
        if slot > self.head {
            // Clear the buckets we skipped; after a long gap that is all of them.
            let gap = slot - self.head;
            for k in 1..=gap.min(BUCKETS as u64) {
                self.buckets[((self.head + k) % BUCKETS as u64) as usize] = 0;
            }
            self.head = slot;
        }
        // A `now` older than `head` (a clock that went backwards) lands in the newest bucket.
        let idx = (self.head % BUCKETS as u64) as usize;
        self.buckets[idx] = self.buckets[idx].saturating_add(bytes);
    }

    /// Bytes per second over the window ending at `now`.
    pub(super) fn per_second(&self, now: Instant) -> u64 {
        let Some(origin) = self.origin else { return 0 };
        let current = Rate::slot(origin, now).max(self.head);
        // Oldest slot still inside the window ending in `current`.
        let oldest = current.saturating_sub(BUCKETS as u64 - 1);
        let mut sum: u64 = 0;
        for k in 0..BUCKETS as u64 {
            let Some(slot) = self.head.checked_sub(k) else { break };
            if slot < oldest {
                break;
            }
            sum = sum.saturating_add(self.buckets[(slot % BUCKETS as u64) as usize]);
        }
        // The window starts at the beginning of the oldest slot, or at the first sample.
        let window_start = origin
            .checked_add(BUCKET.saturating_mul(u32::try_from(oldest).unwrap_or(u32::MAX)))
            .unwrap_or(origin);
        let span = now.saturating_duration_since(window_start).max(MIN_SPAN);
        let rate = u128::from(sum) * 1_000_000_000 / span.as_nanos().max(1);
        u64::try_from(rate).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_zero() {
        let base = crate::peer::tests::base();
        assert_eq!(Rate::new().per_second(base), 0);
    }

    #[test]
    fn steady_rate_is_measured() {
        let base = crate::peer::tests::base();
        let mut r = Rate::new();
        // 100 KiB every 100 ms for 10 s: 1 MiB/s.
        for i in 0..100u64 {
            r.record(base + Duration::from_millis(i * 100), 100 * 1024);
        }
        let rate = r.per_second(base + Duration::from_millis(9_950));
        let expect = 1024 * 1024;
        assert!(rate.abs_diff(expect) < expect / 10, "rate {rate}");
    }

    #[test]
    fn first_sample_is_spread_over_a_second() {
        let base = crate::peer::tests::base();
        let mut r = Rate::new();
        r.record(base, 16384);
        assert_eq!(r.per_second(base), 16384);
    }

    #[test]
    fn decays_to_zero_after_a_stall() {
        let base = crate::peer::tests::base();
        let mut r = Rate::new();
        for i in 0..20u64 {
            r.record(base + Duration::from_millis(i * 50), 16384);
        }
        assert!(r.per_second(base + Duration::from_secs(1)) > 0);
        assert_eq!(r.per_second(base + Duration::from_secs(7)), 0);
        // One sample after a long gap: averaged over the whole (otherwise idle) window.
        r.record(base + Duration::from_secs(60), 1000);
        let rate = r.per_second(base + Duration::from_secs(60));
        assert!((200..=220).contains(&rate), "rate {rate}");
    }

    #[test]
    fn clock_going_backwards_does_not_panic() {
        let base = crate::peer::tests::base() + Duration::from_secs(10);
        let mut r = Rate::new();
        r.record(base, 10);
        r.record(base - Duration::from_secs(5), 10);
        assert_eq!(r.per_second(base - Duration::from_secs(9)), 20);
    }
}
