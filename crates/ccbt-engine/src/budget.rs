//! Session-wide connection limits: how many connections may be established
//! (`max_global_peers`), how many may be handshaking at once in each direction
//! (`max_handshakes`), how many may exist to or from one IP (`max_connections_per_ip`), and how
//! fast new outgoing ones may be attempted (`max_connects_per_sec`).
//!
//! A connection first holds a [`HandshakePermit`] (its IP's share and a handshake slot of its
//! direction) and trades it for a [`ConnectionPermit`] once the handshake is done. Idle TCP
//! connections therefore never hold established slots, incoming ones cannot use up the
//! handshake slots of our own dials, and one host cannot take more than its per-IP share.
//! When the incoming handshake slots are full, a new connection evicts the oldest incoming
//! handshake instead of being refused: hosts that keep reconnecting idle sockets only push
//! each other out, while an honest peer, which sends its handshake at once, finishes it long
//! before its turn to be evicted comes.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::sync::lock;

/// Limits of a [`ConnectionBudget`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct BudgetLimits {
    pub established: usize,
    pub handshakes_per_direction: usize,
    pub per_ip: usize,
    pub connects_per_sec: u32,
}

/// Shared by every torrent of a session. Its limits may change while it runs
/// ([`ConnectionBudget::set_limits`]).
pub(crate) struct ConnectionBudget {
    established: AtomicUsize,
    handshakes_per_direction: AtomicUsize,
    per_ip_limit: AtomicUsize,
    active: AtomicUsize,
    /// Handshakes in progress: [incoming, outgoing].
    handshaking: [AtomicUsize; 2],
    /// Incoming handshakes, oldest first, with the signal that evicts each.
    incoming: Mutex<IncomingQueue>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    bucket: Mutex<TokenBucket>,
}

/// Which way a connection was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Incoming = 0,
    Outgoing = 1,
}

/// Why a connection was refused a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NoSlot {
    #[error("max_connections_per_ip reached for this address")]
    PerIp,
    #[error("max_handshakes reached")]
    Handshakes,
    #[error("max_global_peers reached")]
    Established,
}

#[derive(Default)]
struct IncomingQueue {
    next_id: u64,
    live: VecDeque<(u64, Arc<tokio::sync::Notify>)>,
}

/// Holds an IP's share; dropping it gives the share back.
struct IpShare {
    budget: Arc<ConnectionBudget>,
    ip: IpAddr,
}

impl Drop for IpShare {
    fn drop(&mut self) {
        let mut map = lock(&self.budget.per_ip);
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// A connection still handshaking.
pub(crate) struct HandshakePermit {
    share: IpShare,
    slot: Slot,
}

/// Which handshake slot a permit holds.
enum Slot {
    Outgoing,
    /// An entry of the incoming queue (gone from it once evicted).
    Incoming {
        id: u64,
        evicted: Arc<tokio::sync::Notify>,
    },
}

impl HandshakePermit {
    /// Completes when a newer incoming connection evicted this one (never for outgoing ones).
    pub(crate) async fn evicted(&self) {
        match &self.slot {
            Slot::Outgoing => std::future::pending().await,
            Slot::Incoming { evicted, .. } => evicted.notified().await,
        }
    }
}

impl Drop for HandshakePermit {
    fn drop(&mut self) {
        let budget = &self.share.budget;
        match &self.slot {
            Slot::Outgoing => {
                budget.handshaking[Direction::Outgoing as usize].fetch_sub(1, Ordering::AcqRel);
            }
            Slot::Incoming { id, .. } => {
                let mut queue = lock(&budget.incoming);
                if let Some(pos) = queue.live.iter().position(|(i, _)| i == id) {
                    queue.live.remove(pos);
                    budget.handshaking[Direction::Incoming as usize].fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
    }
}

/// An established connection's slot; dropping it frees the slot and the IP's share.
pub(crate) struct ConnectionPermit {
    share: IpShare,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.share.budget.active.fetch_sub(1, Ordering::AcqRel);
    }
}

struct TokenBucket {
    tokens: f64,
    per_sec: f64,
    last: Instant,
}

/// Takes one unit of `counter` if it is below `max`.
fn take(counter: &AtomicUsize, max: usize) -> bool {
    counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)).is_ok()
}

impl ConnectionBudget {
    pub(crate) fn new(limits: BudgetLimits) -> Arc<ConnectionBudget> {
        let per_sec = f64::from(limits.connects_per_sec.max(1));
        Arc::new(ConnectionBudget {
            established: AtomicUsize::new(limits.established),
            handshakes_per_direction: AtomicUsize::new(limits.handshakes_per_direction),
            per_ip_limit: AtomicUsize::new(limits.per_ip),
            active: AtomicUsize::new(0),
            handshaking: [AtomicUsize::new(0), AtomicUsize::new(0)],
            incoming: Mutex::new(IncomingQueue::default()),
            per_ip: Mutex::new(HashMap::new()),
            bucket: Mutex::new(TokenBucket { tokens: per_sec, per_sec, last: Instant::now() }),
        })
    }

    /// A handshake slot for a new connection to or from `ip`.
    pub(crate) fn try_handshake(
        self: &Arc<Self>,
        ip: IpAddr,
        direction: Direction,
    ) -> Result<HandshakePermit, NoSlot> {
        let share = {
            let mut map = lock(&self.per_ip);
            let n = map.entry(ip).or_insert(0);
            if *n >= self.per_ip_limit.load(Ordering::Acquire) {
                return Err(NoSlot::PerIp);
            }
            *n += 1;
            IpShare { budget: self.clone(), ip }
        };
        let slot = match direction {
            Direction::Outgoing => {
                if !take(
                    &self.handshaking[Direction::Outgoing as usize],
                    self.handshakes_per_direction.load(Ordering::Acquire),
                ) {
                    return Err(NoSlot::Handshakes);
                }
                Slot::Outgoing
            }
            Direction::Incoming => self.incoming_slot(),
        };
        Ok(HandshakePermit { share, slot })
    }

    /// An incoming handshake slot, evicting the oldest incoming handshake when all are taken.
    fn incoming_slot(&self) -> Slot {
        let mut queue = lock(&self.incoming);
        if queue.live.len() >= self.handshakes_per_direction.load(Ordering::Acquire) {
            if let Some((_, oldest)) = queue.live.pop_front() {
                oldest.notify_one();
            }
        } else {
            self.handshaking[Direction::Incoming as usize].fetch_add(1, Ordering::AcqRel);
        }
        let id = queue.next_id;
        queue.next_id += 1;
        let evicted = Arc::new(tokio::sync::Notify::new());
        queue.live.push_back((id, evicted.clone()));
        Slot::Incoming { id, evicted }
    }

    /// Trades a finished handshake for an established slot, if the session has room.
    pub(crate) fn establish(&self, permit: HandshakePermit) -> Result<ConnectionPermit, NoSlot> {
        if !take(&self.active, self.established.load(Ordering::Acquire)) {
            return Err(NoSlot::Established);
        }
        let share = IpShare { budget: permit.share.budget.clone(), ip: permit.share.ip };
        // The share moves to the new permit: count it once more before the old one is dropped.
        *lock(&self.per_ip).entry(share.ip).or_insert(0) += 1;
        drop(permit);
        Ok(ConnectionPermit { share })
    }

    /// Whether another connection could be established now (checked before dialling).
    pub(crate) fn has_room(&self) -> bool {
        self.active.load(Ordering::Acquire) < self.established.load(Ordering::Acquire)
    }

    /// New limits (hot reload). They apply to connections made from now on: connections
    /// beyond a lowered count are not closed here (the session closes established ones beyond
    /// `max_global_peers`; handshakes end on their own within `handshake_timeout`). A new
    /// dial rate refills at the new rate, its bucket capped at one second's worth.
    pub(crate) fn set_limits(&self, limits: BudgetLimits) {
        self.established.store(limits.established, Ordering::Release);
        self.handshakes_per_direction.store(limits.handshakes_per_direction, Ordering::Release);
        self.per_ip_limit.store(limits.per_ip, Ordering::Release);
        let mut bucket = lock(&self.bucket);
        bucket.per_sec = f64::from(limits.connects_per_sec.max(1));
        bucket.tokens = bucket.tokens.min(bucket.per_sec);
    }

    /// The most established connections allowed now.
    pub(crate) fn established_limit(&self) -> usize {
        self.established.load(Ordering::Acquire)
    }

    /// Takes one connection attempt from the rate limit; false when the session already dialled
    /// `max_connects_per_sec` peers in the last second.
    pub(crate) fn try_dial(&self, now: Instant) -> bool {
        let mut b = lock(&self.bucket);
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

    /// Established connections.
    pub(crate) fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Connections still handshaking, both directions.
    pub(crate) fn handshaking(&self) -> usize {
        self.handshaking.iter().map(|h| h.load(Ordering::Acquire)).sum()
    }
}

impl ConnectionPermit {
    /// The IP this slot belongs to.
    #[cfg(test)]
    fn ip(&self) -> IpAddr {
        self.share.ip
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn budget(established: usize, handshakes: usize, per_ip: usize) -> Arc<ConnectionBudget> {
        ConnectionBudget::new(BudgetLimits {
            established,
            handshakes_per_direction: handshakes,
            per_ip,
            connects_per_sec: 10,
        })
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    #[test]
    fn established_slots_are_bounded_and_released() {
        let b = budget(2, 8, 8);
        let p1 = b.establish(b.try_handshake(ip(2), Direction::Incoming).unwrap()).unwrap();
        let _p2 = b.establish(b.try_handshake(ip(3), Direction::Outgoing).unwrap()).unwrap();
        let third = b.try_handshake(ip(4), Direction::Incoming).unwrap();
        assert_eq!(b.establish(third).err(), Some(NoSlot::Established));
        assert_eq!(b.handshaking(), 0, "a refused handshake gives its slot back");
        assert_eq!(p1.ip(), ip(2));
        drop(p1);
        assert_eq!(b.active(), 1);
        assert!(b.establish(b.try_handshake(ip(4), Direction::Incoming).unwrap()).is_ok());
    }

    #[test]
    fn one_ip_gets_at_most_its_share_in_both_phases() {
        let b = budget(100, 100, 2);
        let h = b.try_handshake(ip(2), Direction::Incoming).unwrap();
        let e = b.establish(b.try_handshake(ip(2), Direction::Outgoing).unwrap()).unwrap();
        assert_eq!(b.try_handshake(ip(2), Direction::Incoming).err(), Some(NoSlot::PerIp));
        assert!(b.try_handshake(ip(3), Direction::Incoming).is_ok(), "other hosts are unaffected");
        drop(e);
        let e2 = b.establish(h).unwrap();
        assert!(b.try_handshake(ip(2), Direction::Incoming).is_ok());
        drop(e2);
        assert!(b.per_ip.lock().unwrap().is_empty(), "released shares leave no entry behind");
    }

    #[test]
    fn incoming_handshakes_cannot_take_the_slots_of_our_dials() {
        let b = budget(100, 2, 100);
        let _held: Vec<_> = (2..4).map(|n| b.try_handshake(ip(n), Direction::Incoming).unwrap()).collect();
        let _out: Vec<_> = (2..4).map(|n| b.try_handshake(ip(n), Direction::Outgoing).unwrap()).collect();
        assert_eq!(b.try_handshake(ip(9), Direction::Outgoing).err(), Some(NoSlot::Handshakes));
        let _newest = b.try_handshake(ip(9), Direction::Incoming).unwrap();
        assert_eq!(b.handshaking(), 4, "a new incoming handshake replaces one, never adds a slot");
    }

    #[tokio::test]
    async fn a_full_incoming_budget_evicts_the_oldest_handshake() {
        let b = budget(100, 2, 100);
        let oldest = b.try_handshake(ip(2), Direction::Incoming).unwrap();
        let middle = b.try_handshake(ip(3), Direction::Incoming).unwrap();
        let newest = b.try_handshake(ip(4), Direction::Incoming).unwrap();
        // The oldest is told to go; its slot is already the newest's.
        tokio::time::timeout(Duration::from_secs(5), oldest.evicted()).await.expect("oldest evicted");
        assert_eq!(b.handshaking(), 2);
        drop(oldest);
        assert_eq!(b.handshaking(), 2, "an evicted permit frees no slot twice");
        let established = b.establish(middle).unwrap();
        assert_eq!(b.handshaking(), 1);
        drop((newest, established));
        assert_eq!(b.handshaking(), 0);
        assert!(b.per_ip.lock().unwrap().is_empty());
    }

    #[test]
    fn dial_rate_is_limited_and_refills() {
        let b = ConnectionBudget::new(BudgetLimits {
            established: 100,
            handshakes_per_direction: 8,
            per_ip: 8,
            connects_per_sec: 3,
        });
        let t0 = Instant::now();
        assert!((0..3).all(|_| b.try_dial(t0)));
        assert!(!b.try_dial(t0));
        assert!(b.try_dial(t0 + Duration::from_millis(400)));
        assert!(!b.try_dial(t0 + Duration::from_millis(400)));
    }

    #[test]
    fn new_limits_apply_to_new_connections() {
        let b = budget(1, 1, 1);
        let first = b.establish(b.try_handshake(ip(2), Direction::Outgoing).unwrap()).unwrap();
        assert_eq!(b.try_handshake(ip(2), Direction::Outgoing).err(), Some(NoSlot::PerIp));
        assert!(!b.has_room());
        b.set_limits(BudgetLimits {
            established: 2,
            handshakes_per_direction: 1,
            per_ip: 2,
            connects_per_sec: 1,
        });
        assert!(b.has_room());
        let second = b.establish(b.try_handshake(ip(2), Direction::Outgoing).unwrap()).unwrap();
        assert_eq!(b.active(), 2);
        // Lowered below what is open: nothing closes here, nothing new gets in.
        b.set_limits(BudgetLimits {
            established: 1,
            handshakes_per_direction: 1,
            per_ip: 1,
            connects_per_sec: 1,
        });
        assert_eq!((b.active(), b.established_limit()), (2, 1));
        assert_eq!(b.try_handshake(ip(2), Direction::Outgoing).err(), Some(NoSlot::PerIp));
        let third = b.try_handshake(ip(3), Direction::Outgoing).unwrap();
        assert_eq!(b.establish(third).err(), Some(NoSlot::Established));
        drop((first, second));
        let t0 = Instant::now();
        assert!(b.try_dial(t0));
        assert!(!b.try_dial(t0), "one dial per second now");
    }
}
