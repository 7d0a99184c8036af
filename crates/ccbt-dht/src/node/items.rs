//! BEP 44 on the node: `get`/`put` lookups (client) and the item store behind the `get`/`put`
//! queries of others (server).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::item::{immutable_target, mutable_target, Item, ItemError, MutableItem, PUBLIC_KEY_LEN};
use crate::item_store::PutRefused;
use crate::krpc::{self, Query, Response};
use crate::lookup::Lookup;
use crate::NodeId;

use super::client::TxnKind;
use super::{DhtEvent, DhtNode, LookupId, Purpose};

/// What a `get` lookup accepts as the item.
#[derive(Clone, Debug)]
enum Wanted {
    /// Any value whose SHA-1 is the target.
    Immutable,
    /// A mutable item of this key and salt, validly signed.
    Mutable { k: [u8; PUBLIC_KEY_LEN], salt: Vec<u8> },
}

/// The item side of a BEP 44 lookup.
#[derive(Clone, Debug)]
pub(super) struct ItemLookup {
    target: NodeId,
    wanted: Wanted,
    best: Option<Item>,
    /// For a put lookup: the item to store and its `cas`.
    put: Option<(Item, Option<i64>)>,
}

impl ItemLookup {
    /// Considers the item of one `get` response: kept if it checks out and is newer than the
    /// best so far. Anything else (a forged value, a bad signature, another key) is ignored.
    pub(super) fn offer(&mut self, r: &Response) {
        let Some(v) = &r.v else { return };
        let item = match &self.wanted {
            Wanted::Immutable => {
                if immutable_target(v) != self.target || self.best.is_some() {
                    return;
                }
                Item::Immutable(v.clone())
            }
            Wanted::Mutable { k, salt } => {
                let (Some(rk), Some(sig), Some(seq)) = (r.k, r.sig, r.seq) else { return };
                if rk != *k {
                    return;
                }
                if matches!(&self.best, Some(Item::Mutable(b)) if b.seq >= seq) {
                    return;
                }
                Item::Mutable(MutableItem { k: rk, salt: salt.clone(), seq, v: v.clone(), sig })
            }
        };
        if item.validate().is_ok() {
            self.best = Some(item);
        }
    }
}

/// How a storing node answered a `put`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PutAnswer {
    Stored,
    Refused(i64),
    Silent,
}

/// A put waiting for the storing nodes.
#[derive(Clone, Debug)]
pub(super) struct PutProgress {
    target: NodeId,
    pending: usize,
    asked: usize,
    stored: usize,
    refused: Vec<(SocketAddr, i64)>,
}

impl DhtNode {
    /// Starts a BEP 44 `get` of the immutable item stored under `target` (SHA-1 of its bencoded
    /// value). The result is [`DhtEvent::GetItemDone`].
    pub fn get_immutable(&mut self, now: Instant, target: NodeId) -> LookupId {
        let state = ItemLookup { target, wanted: Wanted::Immutable, best: None, put: None };
        self.start_item_lookup(now, Purpose::GetItem, state)
    }

    /// Starts a BEP 44 `get` of the mutable item of public key `k` and `salt` (empty for none).
    /// The result is [`DhtEvent::GetItemDone`], with the highest valid `seq` found.
    pub fn get_mutable(&mut self, now: Instant, k: [u8; PUBLIC_KEY_LEN], salt: &[u8]) -> LookupId {
        let target = mutable_target(&k, salt);
        let state =
            ItemLookup { target, wanted: Wanted::Mutable { k, salt: salt.to_vec() }, best: None, put: None };
        self.start_item_lookup(now, Purpose::GetItem, state)
    }

    /// Stores `item` in the DHT: a `get` lookup of its target, then `put` to the k closest
    /// nodes that gave a token, with `cas` for a mutable item. The item is checked first (an
    /// invalid one is refused here, not by the network). The result is
    /// [`DhtEvent::PutItemDone`]; re-put hourly to keep the item alive.
    pub fn put_item(&mut self, now: Instant, item: Item, cas: Option<i64>) -> Result<LookupId, ItemError> {
        item.validate()?;
        let target = item.target();
        let wanted = match &item {
            Item::Immutable(_) => Wanted::Immutable,
            Item::Mutable(m) => Wanted::Mutable { k: m.k, salt: m.salt.clone() },
        };
        let state = ItemLookup { target, wanted, best: None, put: Some((item, cas)) };
        Ok(self.start_item_lookup(now, Purpose::PutItem, state))
    }

    fn start_item_lookup(&mut self, now: Instant, purpose: Purpose, state: ItemLookup) -> LookupId {
        self.last_now = now;
        let id = self.alloc_lookup_id();
        let target = state.target;
        if self.lookups.len() >= self.opts.max_lookups {
            self.push_event(match purpose {
                Purpose::PutItem => {
                    DhtEvent::PutItemDone { lookup: id, target, stored: 0, refused: Vec::new(), asked: 0 }
                }
                _ => DhtEvent::GetItemDone { lookup: id, target, item: None, nodes_queried: 0 },
            });
            return id;
        }
        self.insert_lookup(now, id, target, purpose);
        if let Some(run) = self.lookups.get_mut(&id) {
            run.item = Some(Box::new(state));
        }
        self.drive(now);
        id
    }

    /// A `get` or put lookup converged: report the item, or send the puts.
    pub(super) fn finish_item(
        &mut self,
        now: Instant,
        lid: LookupId,
        state: Option<Box<ItemLookup>>,
        lookup: Lookup,
    ) {
        let Some(state) = state else { return };
        let target = state.target;
        let Some((item, cas)) = state.put else {
            let nodes_queried = lookup.queried();
            self.push_event(DhtEvent::GetItemDone { lookup: lid, target, item: state.best, nodes_queried });
            return;
        };
        let own = self.id;
        let mut progress = PutProgress { target, pending: 0, asked: 0, stored: 0, refused: Vec::new() };
        for r in lookup.closest_responded() {
            let Some(token) = r.token else { continue };
            let query = Query::Put { id: own, token, item: item.clone(), cas };
            progress.asked += 1;
            if self.send_query(now, r.addr, Some(r.id), query, TxnKind::Put(lid)) {
                progress.pending += 1;
            }
        }
        if progress.pending == 0 {
            self.push_put_done(lid, progress);
        } else {
            self.puts.insert(lid, progress);
        }
    }

    /// One storing node answered (or not) the put of lookup `lid`.
    pub(super) fn put_answered(&mut self, lid: LookupId, from: SocketAddr, answer: PutAnswer) {
        let Some(p) = self.puts.get_mut(&lid) else { return };
        p.pending = p.pending.saturating_sub(1);
        match answer {
            PutAnswer::Stored => p.stored += 1,
            PutAnswer::Refused(code) => p.refused.push((from, code)),
            PutAnswer::Silent => {}
        }
        if p.pending == 0 {
            if let Some(p) = self.puts.remove(&lid) {
                self.push_put_done(lid, p);
            }
        }
    }

    fn push_put_done(&mut self, lid: LookupId, p: PutProgress) {
        self.push_event(DhtEvent::PutItemDone {
            lookup: lid,
            target: p.target,
            stored: p.stored,
            refused: p.refused,
            asked: p.asked,
        });
    }

    /// The item part of our answer to a `get`: a mutable item is sent only if newer than the
    /// querier's `seq` (its number is sent in any case, so the querier knows it is current).
    pub(super) fn fill_item(&self, now: Instant, target: &NodeId, seq: Option<i64>, r: &mut Response) {
        match self.items.get(now, target) {
            Some(Item::Immutable(v)) => r.v = Some(v.clone()),
            Some(Item::Mutable(m)) => {
                r.seq = Some(m.seq);
                if seq.map_or(true, |s| m.seq > s) {
                    r.v = Some(m.v.clone());
                    r.k = Some(m.k);
                    r.sig = Some(m.sig);
                }
            }
            None => {}
        }
    }

    /// Stores the item of a `put` whose token checked out; `Err` is the KRPC error to answer.
    pub(super) fn store_item(
        &mut self,
        now: Instant,
        from: IpAddr,
        item: Item,
        cas: Option<i64>,
    ) -> Result<(), (i64, &'static str)> {
        item.validate().map_err(|e| match e {
            ItemError::ValueTooBig { .. } => (krpc::ERROR_MESSAGE_TOO_BIG, "message (v field) too big"),
            ItemError::SaltTooBig { .. } => (krpc::ERROR_SALT_TOO_BIG, "salt (salt field) too big"),
            ItemError::BadSignature => (krpc::ERROR_INVALID_SIGNATURE, "invalid signature"),
            _ => (krpc::ERROR_PROTOCOL, "invalid value"),
        })?;
        self.items.put(now, from, item, cas).map_err(|e| match e {
            PutRefused::CasMismatch => (krpc::ERROR_CAS_MISMATCH, "cas mismatch"),
            PutRefused::SeqTooLow => (krpc::ERROR_SEQ_TOO_LOW, "sequence number less than current"),
            PutRefused::Full => (krpc::ERROR_SERVER, "storage full"),
        })
    }
}

#[cfg(test)]
#[path = "items_tests.rs"]
mod tests;
