//! Our side of the protocol: transactions, lookups and what their answers do.

use std::net::SocketAddr;
use std::ops::Bound::{Excluded, Unbounded};
use std::time::Instant;

use rand::Rng as _;

use crate::krpc::{Body, Message, Query, Response};
use crate::lookup::QueryTo;
use crate::routing::Contact;
use crate::NodeId;

use super::items::PutAnswer;
use super::{DhtEvent, DhtNode, LookupId, Purpose, Running};

/// What an outstanding query was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TxnKind {
    /// Liveness check of a routing-table node.
    Ping,
    /// A query of a lookup.
    Lookup(LookupId),
    /// An `announce_peer` (its answer only refreshes the routing table).
    Announce,
    /// A BEP 44 `put` of a put lookup.
    Put(LookupId),
    /// A ping to a node not in the table (it queried us, or a peer offered it): an answer
    /// proves the address and lets the node in.
    Verify,
}

/// An outstanding query, keyed by its 2-byte transaction id.
#[derive(Clone, Debug)]
pub(super) struct Txn {
    pub(super) addr: SocketAddr,
    pub(super) node: Option<NodeId>,
    pub(super) deadline: Instant,
    pub(super) kind: TxnKind,
}

impl DhtNode {
    pub(super) fn free_slots(&self) -> usize {
        self.opts.max_outstanding_queries.saturating_sub(self.txns.len())
    }

    /// Sends `query` to `addr` as a new transaction; `false` if the transaction table is full.
    pub(super) fn send_query(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        node: Option<NodeId>,
        query: Query,
        kind: TxnKind,
    ) -> bool {
        if self.free_slots() == 0 {
            return false;
        }
        // Random ids, so that an off-path attacker cannot guess which answer we wait for. At
        // most `max_outstanding_queries` of 65536 ids are taken, so this ends quickly.
        let mut tid: u16 = self.rng.gen();
        while self.txns.contains_key(&tid) {
            tid = self.rng.gen();
        }
        let msg = Message {
            tid: tid.to_be_bytes().to_vec(),
            version: self.opts.client_version.map(|v| v.to_vec()),
            read_only: self.opts.read_only,
            body: Body::Query(query),
        };
        self.txns.insert(
            tid,
            Txn { addr, node, deadline: now.checked_add(self.opts.query_timeout).unwrap_or(now), kind },
        );
        self.queries_out += 1;
        // A full transmit queue drops the datagram; the transaction then simply times out.
        self.queue_transmit(addr, msg.encode());
        true
    }

    pub(super) fn send_ping(&mut self, now: Instant, id: NodeId, addr: SocketAddr) {
        let own = self.id;
        if !self.send_query(now, addr, Some(id), Query::Ping { id: own }, TxnKind::Ping) {
            // No room to ask: count it as unanswered rather than keep a maybe-dead node forever.
            self.table.failed(now, &id);
        }
    }

    /// Pings `addr` (a node not in the table) so that it can join if it answers; at most one
    /// outstanding ping per address and [`super::MAX_VERIFYING`] in all.
    pub(super) fn send_verification_ping(&mut self, now: Instant, id: Option<NodeId>, addr: SocketAddr) {
        if self.verifying.len() >= super::MAX_VERIFYING || self.verifying.contains(&addr) {
            return;
        }
        let own = self.id;
        if self.send_query(now, addr, id, Query::Ping { id: own }, TxnKind::Verify) {
            self.verifying.push(addr);
        }
    }

    /// Removes transaction `tid`, releasing its verification slot.
    fn remove_txn(&mut self, tid: u16) -> Option<Txn> {
        let txn = self.txns.remove(&tid)?;
        if txn.kind == TxnKind::Verify {
            self.verifying.retain(|a| *a != txn.addr);
        }
        Some(txn)
    }

    pub(super) fn expire_txns(&mut self, now: Instant) {
        let expired: Vec<u16> =
            self.txns.iter().filter(|(_, t)| t.deadline <= now).map(|(k, _)| *k).collect();
        for tid in expired {
            if let Some(txn) = self.remove_txn(tid) {
                self.txn_failed(now, &txn, true);
            }
        }
    }

    fn txn_failed(&mut self, now: Instant, txn: &Txn, timed_out: bool) {
        if let (Some(id), true) = (txn.node, timed_out) {
            self.table.failed(now, &id);
        }
        if let TxnKind::Lookup(lid) = txn.kind {
            if let Some(run) = self.lookups.get_mut(&lid) {
                run.lookup.on_failure(QueryTo { id: txn.node, addr: txn.addr });
            }
        }
        if let TxnKind::Put(lid) = txn.kind {
            let answer =
                if timed_out { PutAnswer::Silent } else { PutAnswer::Refused(crate::krpc::ERROR_GENERIC) };
            self.put_answered(lid, txn.addr, answer);
        }
    }

    /// Takes the transaction a reply from `from` with id `tid` answers, if any. Replies with an
    /// unknown id or from another address than the one asked are ignored (spoofing, late or
    /// duplicated datagrams).
    fn take_txn(&mut self, from: SocketAddr, tid: &[u8]) -> Option<Txn> {
        let tid = u16::from_be_bytes(tid.try_into().ok()?);
        if self.txns.get(&tid)?.addr != from {
            return None;
        }
        self.remove_txn(tid)
    }

    pub(super) fn on_response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg_tid: &[u8],
        read_only: bool,
        r: Response,
    ) {
        let Some(txn) = self.take_txn(from, msg_tid) else { return };
        match txn.node {
            Some(expected) if expected != r.id => {
                // Someone else answers at that address now: the node we knew is gone.
                self.table.failed(now, &expected);
            }
            _ => {}
        }
        if !read_only {
            let was_empty = self.table.is_empty();
            if let Some((id, addr)) = self.table.heard_from(now, r.id, from, Contact::Responded) {
                self.send_ping(now, id, addr);
            }
            // A verified node (offered by a peer) into an empty table: join through it now
            // rather than at the next bootstrap retry.
            if txn.kind == TxnKind::Verify && was_empty && !self.table.is_empty() {
                self.bootstrap.retry_at = None;
                self.start_bootstrap(now);
            }
        }
        if let TxnKind::Put(lid) = txn.kind {
            self.put_answered(lid, txn.addr, PutAnswer::Stored);
        }
        if let TxnKind::Lookup(lid) = txn.kind {
            let Some(run) = self.lookups.get_mut(&lid) else { return };
            let peers = run.lookup.on_response(QueryTo { id: txn.node, addr: txn.addr }, &r);
            if let Some(item) = run.item.as_mut() {
                item.offer(&r);
            }
            let wants_peers = matches!(run.purpose, Purpose::GetPeers | Purpose::Announce { .. });
            if wants_peers && !peers.is_empty() {
                let info_hash = run.lookup.target().into();
                self.push_event(DhtEvent::Peers { lookup: lid, info_hash, peers });
            }
        }
    }

    /// An error reply: the node is alive but the query failed.
    pub(super) fn on_error_reply(&mut self, now: Instant, from: SocketAddr, msg_tid: &[u8], code: i64) {
        if let Some(txn) = self.take_txn(from, msg_tid) {
            if let TxnKind::Put(lid) = txn.kind {
                // The code says why (e.g. 302: it holds a newer item); reported as such.
                self.put_answered(lid, txn.addr, PutAnswer::Refused(code));
                return;
            }
            self.txn_failed(now, &txn, false);
        }
    }

    /// Sends what the running lookups want to send and finishes the converged ones.
    pub(super) fn drive(&mut self, now: Instant) {
        let own = self.id;
        // Walk by increasing id so lookups started while finishing others (bucket refreshes
        // after bootstrap) are driven in the same pass.
        let mut cursor = None;
        loop {
            let next = match cursor {
                None => self.lookups.keys().next(),
                Some(c) => self.lookups.range((Excluded(c), Unbounded)).next().map(|(k, _)| k),
            };
            let Some(&lid) = next else { break };
            cursor = Some(lid);
            let budget = self.free_slots();
            let Some(run) = self.lookups.get_mut(&lid) else { continue };
            let target = run.lookup.target();
            let query = match run.purpose {
                Purpose::GetPeers | Purpose::Announce { .. } => {
                    Query::GetPeers { id: own, info_hash: target.into() }
                }
                Purpose::Bootstrap | Purpose::Refresh | Purpose::FindNode => {
                    Query::FindNode { id: own, target }
                }
                Purpose::GetItem | Purpose::PutItem => Query::Get { id: own, target, seq: None },
            };
            for to in run.lookup.next_queries(budget) {
                if !self.send_query(now, to.addr, to.id, query.clone(), TxnKind::Lookup(lid)) {
                    if let Some(run) = self.lookups.get_mut(&lid) {
                        run.lookup.on_failure(to);
                    }
                }
            }
            if self.lookups.get(&lid).is_some_and(|r| r.lookup.is_done()) {
                if let Some(run) = self.lookups.remove(&lid) {
                    self.finish(now, lid, run);
                }
            }
        }
    }

    pub(super) fn finish(&mut self, now: Instant, lid: LookupId, run: Running) {
        let lookup = run.lookup;
        let closest = lookup.closest_responded();
        let done = DhtEvent::LookupDone {
            lookup: lid,
            info_hash: lookup.target().into(),
            nodes_queried: lookup.queried(),
            closest: closest.iter().map(|r| (r.id, r.addr)).collect(),
            rounds: lookup.rounds(),
        };
        match run.purpose {
            Purpose::Bootstrap => {
                self.bootstrap.running = None;
                if self.table.is_empty() {
                    self.schedule_bootstrap_retry(now);
                } else {
                    self.bootstrap.retry_at = None;
                    self.push_event(DhtEvent::BootstrapDone { nodes: self.table.len() });
                    // Fill the far buckets too: the self-lookup only populates the near ones.
                    let targets = self.table.refresh_targets(now, true, &mut self.rng);
                    for target in targets {
                        self.start_internal_lookup(now, target, Purpose::Refresh);
                    }
                }
            }
            Purpose::Refresh => {}
            Purpose::GetItem | Purpose::PutItem => self.finish_item(now, lid, run.item, lookup),
            Purpose::FindNode | Purpose::GetPeers => self.push_event(done),
            Purpose::Announce { port } => {
                let own = self.id;
                let info_hash = lookup.target().into();
                for r in closest {
                    let Some(token) = r.token else { continue };
                    let query = Query::AnnouncePeer {
                        id: own,
                        info_hash,
                        port: port.unwrap_or(0),
                        implied_port: port.is_none(),
                        token,
                    };
                    self.send_query(now, r.addr, Some(r.id), query, TxnKind::Announce);
                }
                self.push_event(done);
            }
        }
    }
}
