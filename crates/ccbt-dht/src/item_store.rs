//! BEP 44 items stored for other nodes (`put`), bounded in count, in bytes and per source IP,
//! expiring when not re-put for [`ITEM_TTL`].
//!
//! As in the peer store, a full store refuses new items rather than evicting live ones: under a
//! flood of junk, the items already held (which their publishers refresh) stay. A token proves
//! only that the storer owns one address, so one IP may hold at most `max_per_ip` items.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::item::{Item, MutableItem};
use crate::NodeId;

/// How long an item lives unless put again (BEP 44: items may expire after 2 hours;
/// publishers re-put hourly).
pub const ITEM_TTL: Duration = Duration::from_secs(2 * 60 * 60);
/// Bytes counted per item on top of its value and salt (key, signature, target, bookkeeping).
const ITEM_OVERHEAD: usize = 160;

/// Why a `put` was not stored; each maps to a KRPC error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutRefused {
    /// `cas` given and not equal to the stored sequence number (301).
    CasMismatch,
    /// The sequence number is lower than the stored one, or equal with another value (302).
    SeqTooLow,
    /// The store (or the storer's share of it) is full (202).
    Full,
}

#[derive(Clone, Debug)]
struct Stored {
    item: Item,
    refreshed: Instant,
    /// The IP that first stored it, charged for it until it expires.
    owner: IpAddr,
}

/// Bounded store of BEP 44 items.
#[derive(Clone, Debug)]
pub struct ItemStore {
    items: HashMap<NodeId, Stored>,
    per_ip: HashMap<IpAddr, usize>,
    bytes: usize,
    max_items: usize,
    max_bytes: usize,
    max_per_ip: usize,
    ttl: Duration,
}

fn cost(item: &Item) -> usize {
    let salt = match item {
        Item::Mutable(m) => m.salt.len(),
        Item::Immutable(_) => 0,
    };
    item.value().len() + salt + ITEM_OVERHEAD
}

impl ItemStore {
    /// An empty store of at most `max_items` items and `max_bytes` bytes (values, salts and a
    /// fixed overhead each), at most `max_per_ip` items first stored by one IP, each kept for
    /// `ttl` after its last put.
    pub fn new(max_items: usize, max_bytes: usize, max_per_ip: usize, ttl: Duration) -> ItemStore {
        ItemStore {
            items: HashMap::new(),
            per_ip: HashMap::new(),
            bytes: 0,
            max_items,
            max_bytes,
            max_per_ip,
            ttl,
        }
    }

    /// The live item stored under `target`.
    pub fn get(&self, now: Instant, target: &NodeId) -> Option<&Item> {
        self.items
            .get(target)
            .filter(|s| now.saturating_duration_since(s.refreshed) < self.ttl)
            .map(|s| &s.item)
    }

    /// Stores `item` (already validated: sizes, signature) for `from`, under `item.target()`.
    /// A mutable item replaces a stored one only with a higher sequence number; the same number
    /// and value only refresh it (BEP 44). `cas`, if given, must equal the stored number; with
    /// nothing stored there is nothing to compare, and the put is accepted.
    pub fn put(
        &mut self,
        now: Instant,
        from: IpAddr,
        item: Item,
        cas: Option<i64>,
    ) -> Result<(), PutRefused> {
        let target = item.target();
        let live = self.get(now, &target).is_some();
        if !live {
            self.remove(&target);
        }
        if let Some(stored) = self.items.get(&target) {
            if let (Item::Mutable(new), Item::Mutable(old)) = (&item, &stored.item) {
                check_replace(old, new, cas)?;
            }
            let delta = cost(&item) as isize - cost(&stored.item) as isize;
            if delta > 0 && self.bytes + delta as usize > self.max_bytes {
                self.expire(now);
                if self.bytes + delta as usize > self.max_bytes {
                    return Err(PutRefused::Full);
                }
            }
            let Some(stored) = self.items.get_mut(&target) else { return Err(PutRefused::Full) };
            self.bytes = self.bytes.saturating_add_signed(delta);
            stored.item = item;
            stored.refreshed = now;
            return Ok(());
        }
        let need = cost(&item);
        let full = |s: &ItemStore| {
            s.items.len() >= s.max_items
                || s.bytes + need > s.max_bytes
                || s.per_ip.get(&from).copied().unwrap_or(0) >= s.max_per_ip
        };
        if full(self) {
            self.expire(now);
            if full(self) {
                return Err(PutRefused::Full);
            }
        }
        self.bytes += need;
        *self.per_ip.entry(from).or_insert(0) += 1;
        self.items.insert(target, Stored { item, refreshed: now, owner: from });
        Ok(())
    }

    fn remove(&mut self, target: &NodeId) {
        if let Some(old) = self.items.remove(target) {
            self.bytes = self.bytes.saturating_sub(cost(&old.item));
            forget(&mut self.per_ip, old.owner);
        }
    }

    /// Drops the items not put again within the TTL.
    pub fn expire(&mut self, now: Instant) {
        let ttl = self.ttl;
        let dead: Vec<NodeId> = self
            .items
            .iter()
            .filter(|(_, s)| now.saturating_duration_since(s.refreshed) >= ttl)
            .map(|(t, _)| *t)
            .collect();
        for t in dead {
            self.remove(&t);
        }
    }

    /// Items held (expired ones included until the next [`ItemStore::expire`]).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no item is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes charged for the items held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// The BEP 44 rules for replacing `old` by `new` (same target).
fn check_replace(old: &MutableItem, new: &MutableItem, cas: Option<i64>) -> Result<(), PutRefused> {
    if cas.is_some_and(|cas| cas != old.seq) {
        return Err(PutRefused::CasMismatch);
    }
    if new.seq < old.seq || (new.seq == old.seq && new.v != old.v) {
        return Err(PutRefused::SeqTooLow);
    }
    Ok(())
}

fn forget(per_ip: &mut HashMap<IpAddr, usize>, ip: IpAddr) {
    if let Some(n) = per_ip.get_mut(&ip) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            per_ip.remove(&ip);
        }
    }
}

#[cfg(test)]
#[path = "item_store_tests.rs"]
mod tests;
