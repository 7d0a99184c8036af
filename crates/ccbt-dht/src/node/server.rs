//! Incoming datagrams: dispatch, and answers to other nodes' queries.

use std::net::SocketAddr;
use std::time::Instant;

use crate::krpc::{self, Body, CompactNode, ErrorReply, Message, Query, Response};
use crate::routing::Contact;
use crate::{KrpcError, NodeId};

use super::{DhtNode, MAX_DATAGRAM};

impl DhtNode {
    /// Feeds one received datagram. Queries are answered (subject to the per-IP rate limit),
    /// answers to our queries advance lookups and the routing table. Malformed queries get an
    /// error 203 (204 for unknown methods); anything else that does not parse is dropped.
    /// Never panics, whatever the bytes.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.last_now = now;
        if data.len() > MAX_DATAGRAM {
            return;
        }
        match krpc::decode(data) {
            Ok(msg) => match msg.body {
                Body::Query(q) => self.on_query(now, from, msg.tid, msg.read_only, q),
                Body::Response(r) => self.on_response(now, from, &msg.tid, msg.read_only, r),
                Body::Error(e) => self.on_error_reply(now, from, &msg.tid, e.code),
            },
            Err(err) => {
                if let Some(tid) = krpc::query_tid(data) {
                    self.queries_in += 1;
                    if self.opts.read_only || !self.limiter.allow(now, from.ip()) {
                        return;
                    }
                    let (code, message) = match err {
                        KrpcError::UnknownMethod { .. } => (krpc::ERROR_METHOD_UNKNOWN, "method unknown"),
                        _ => (krpc::ERROR_PROTOCOL, "protocol error"),
                    };
                    self.reply_error(from, tid, code, message);
                }
            }
        }
        self.drive(now);
    }

    fn reply(&mut self, to: SocketAddr, tid: Vec<u8>, body: Body) {
        let msg =
            Message { tid, version: self.opts.client_version.map(|v| v.to_vec()), read_only: false, body };
        self.queue_transmit(to, msg.encode());
    }

    pub(super) fn reply_error(&mut self, to: SocketAddr, tid: Vec<u8>, code: i64, message: &str) {
        self.reply(to, tid, Body::Error(ErrorReply { code, message: message.to_owned() }));
    }

    /// The k verified nodes closest to `target`, leaving out the querier: it knows itself, and one more
    /// real candidate serves its lookup better.
    fn compact_closest(&self, now: Instant, target: &NodeId, querier: &NodeId) -> Vec<CompactNode> {
        self.table
            .closest_verified(now, target, self.opts.k + 1)
            .into_iter()
            .filter(|(id, _)| id != querier)
            .filter_map(|(id, addr)| match addr {
                SocketAddr::V4(addr) => Some(CompactNode { id, addr }),
                SocketAddr::V6(_) => None,
            })
            .take(self.opts.k)
            .collect()
    }

    fn on_query(&mut self, now: Instant, from: SocketAddr, tid: Vec<u8>, sender_read_only: bool, q: Query) {
        self.queries_in += 1;
        if self.opts.read_only || !self.limiter.allow(now, from.ip()) {
            return;
        }
        let own = self.id;
        let querier = q.id();
        let response = match q {
            Query::Ping { .. } => Response { id: own, ..Response::default() },
            Query::FindNode { target, .. } => Response {
                id: own,
                nodes: self.compact_closest(now, &target, &querier),
                ..Response::default()
            },
            Query::GetPeers { info_hash, .. } => {
                let values: Vec<_> = self
                    .store
                    .get(now, &info_hash, self.opts.max_values_per_reply, &mut self.rng)
                    .into_iter()
                    .filter_map(|p| match p {
                        SocketAddr::V4(p) => Some(p),
                        SocketAddr::V6(_) => None,
                    })
                    .collect();
                // Nodes only when there are no values: the querier stops at peers anyway and
                // a short answer is less useful for amplification.
                let nodes = if values.is_empty() {
                    self.compact_closest(now, &info_hash.into(), &querier)
                } else {
                    Vec::new()
                };
                let token = Some(self.tokens.token_for(from.ip()).to_vec());
                Response { id: own, nodes, values, token, ..Response::default() }
            }
            Query::AnnouncePeer { info_hash, port, implied_port, token, .. } => {
                if !self.tokens.verify(from.ip(), &token) {
                    self.reply_error(from, tid, krpc::ERROR_PROTOCOL, "bad token");
                    return;
                }
                let port = if implied_port { from.port() } else { port };
                if port != 0 {
                    self.store.insert(now, info_hash, SocketAddr::new(from.ip(), port));
                }
                Response { id: own, ..Response::default() }
            }
            Query::Get { target, seq, .. } => {
                let mut r = Response {
                    id: own,
                    nodes: self.compact_closest(now, &target, &querier),
                    token: Some(self.tokens.token_for(from.ip()).to_vec()),
                    ..Response::default()
                };
                self.fill_item(now, &target, seq, &mut r);
                r
            }
            Query::Put { token, item, cas, .. } => {
                if !self.tokens.verify(from.ip(), &token) {
                    self.reply_error(from, tid, krpc::ERROR_PROTOCOL, "bad token");
                    return;
                }
                if let Err((code, message)) = self.store_item(now, from.ip(), item, cas) {
                    self.reply_error(from, tid, code, message);
                    return;
                }
                Response { id: own, ..Response::default() }
            }
        };
        self.reply(from, tid, Body::Response(response));
        // BEP 43: read-only nodes answer nothing, so they must not enter routing tables. A
        // query refreshes a known node; an unknown one (its address may be spoofed) is pinged
        // after our answer, and enters only if it answers.
        if !sender_read_only {
            self.table.heard_from(now, querier, from, Contact::Queried);
            if self.table.would_admit(now, &querier, &from) {
                self.send_verification_ping(now, Some(querier), from);
            }
        }
    }
}
