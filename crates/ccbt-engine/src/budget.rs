//! Session-wide connection limits: how many connections may exist (`max_global_peers`) and how
//! fast new outgoing ones may be attempted (`max_connects_per_sec`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Shared by every torrent of a session.
pub(crate) struct ConnectionBudget {
    active: AtomicUsize,
    max: usize,
    bucket: Mutex<TokenBucket>,
}

/// Holds one connection slot; dropping it frees the slot.
pub(crate) struct ConnectionPermit {
    budget: Arc<ConnectionBudget>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.budget.active.fetch_sub(1, Ordering::AcqRel);
    }
}

struct TokenBucket {
    tokens: f64,
    per_sec: f64,
    last: Instant,
}

impl ConnectionBudget {
    pub(crate) fn new(max: usize, connects_per_sec: u32) -> Arc<ConnectionBudget> {
        let per_sec = f64::from(connects_per_sec.max(1));
        Arc::new(ConnectionBudget {
            active: AtomicUsize::new(0),
            max,
            bucket: Mutex::new(TokenBucket { tokens: per_sec, per_sec, last: Instant::now() }),
        })
    }

    /// A slot for a new connection, if the session is below `max_global_peers`.
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<ConnectionPermit> {
        let mut cur = self.active.load(Ordering::Acquire);
        loop {
            if cur >= self.max {
                return None;
            }
            match self.active.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(ConnectionPermit { budget: self.clone() }),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Takes one connection attempt from the rate limit; false when the session already dialled
    /// `max_connects_per_sec` peers in the last second.
    pub(crate) fn try_dial(&self, now: Instant) -> bool {
        let mut b = self.bucket.lock().expect("budget lock poisoned");
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.last = now;
        b.tokens = (b.tokens + elapsed * b.per_sec).min(b.per_sec);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub(crate) fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn permits_are_bounded_and_released() {
        let b = ConnectionBudget::new(2, 10);
        let p1 = b.try_acquire().unwrap();
        let _p2 = b.try_acquire().unwrap();
        assert!(b.try_acquire().is_none());
        drop(p1);
        assert_eq!(b.active(), 1);
        assert!(b.try_acquire().is_some());
    }

    #[test]
    fn dial_rate_is_limited_and_refills() {
        let b = ConnectionBudget::new(100, 3);
        let t0 = Instant::now();
        assert!((0..3).all(|_| b.try_dial(t0)));
        assert!(!b.try_dial(t0));
        assert!(b.try_dial(t0 + Duration::from_millis(400)));
        assert!(!b.try_dial(t0 + Duration::from_millis(400)));
    }
}
