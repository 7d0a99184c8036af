//! `GET /api/v1/events`: the session's events as Server-Sent Events, each an `event:` name and
//! a JSON `data:` line naming the torrent by its info hash (and, with alert rules, the
//! `alert_fired` and `alert_resolved` events of `alerts.rs`). Progress is sent at most once a
//! second per torrent. A subscriber too slow for the engine's event queue misses events: it gets
//! a `lagged` event saying how many, and the stream goes on.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use ccbt_engine::{Event, Session, TorrentId, TorrentState};
use futures_util::stream::{self, StreamExt as _};
use serde_json::{json, Value};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::ApiContext;

/// Least time between two progress events of one torrent.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// What one subscriber remembers about the torrents it reports on.
struct Subscriber {
    events: broadcast::Receiver<Event>,
    session: Arc<Session>,
    /// Info hash of each torrent seen, so its removal can still name it.
    hashes: HashMap<TorrentId, String>,
    /// Torrents whose `torrent_added` went out (or that existed when the client connected).
    announced: HashSet<TorrentId>,
    /// Torrents still fetching their metadata when last looked at.
    resolving: HashSet<TorrentId>,
    last_progress: HashMap<TorrentId, Instant>,
}

pub(crate) async fn events(State(ctx): State<Arc<ApiContext>>) -> Response {
    // The snapshot first: a torrent added after it is announced by its first event.
    let existing = ctx.session.torrents();
    let mut subscriber = Subscriber {
        events: ctx.session.subscribe(),
        session: ctx.session.clone(),
        hashes: HashMap::new(),
        announced: existing.iter().map(|s| s.id).collect(),
        resolving: HashSet::new(),
        last_progress: HashMap::new(),
    };
    for status in existing {
        subscriber.learn(status.id, status.info_hash.to_hex(), &status.state);
    }
    let stream = stream::unfold(subscriber, |mut s| async move {
        let batch = s.next_batch().await?;
        Some((stream::iter(batch.into_iter().map(Ok::<_, Infallible>)), s))
    })
    .flatten();
    // Alerts fired and resolved join the stream when the API has alert rules.
    let stream = match crate::alerts::sse_events(&ctx) {
        Some(alerts) => stream::select(stream, alerts).boxed(),
        None => stream.boxed(),
    };
    Sse::new(ctx.closing.guard(stream)).keep_alive(KeepAlive::default()).into_response()
}

impl Subscriber {
    fn learn(&mut self, id: TorrentId, hash: String, state: &TorrentState) {
        self.hashes.insert(id, hash);
        if matches!(state, TorrentState::FetchingMetadata) {
            self.resolving.insert(id);
        }
    }

    /// The SSE events of the next engine event that has any (None: the session is gone).
    async fn next_batch(&mut self) -> Option<Vec<SseEvent>> {
        loop {
            let batch = match self.events.recv().await {
                Ok(event) => self.translate(event),
                Err(RecvError::Lagged(missed)) => vec![sse("lagged", json!({ "missed": missed }))],
                Err(RecvError::Closed) => return None,
            };
            if !batch.is_empty() {
                return Some(batch);
            }
        }
    }

    /// The info hash of torrent `id`, looked up on first sight.
    fn hash(&mut self, id: TorrentId) -> Option<String> {
        if let Some(hash) = self.hashes.get(&id) {
            return Some(hash.clone());
        }
        let status = self.session.status(id).ok()?;
        let hash = status.info_hash.to_hex();
        self.learn(id, hash.clone(), &status.state);
        Some(hash)
    }

    fn translate(&mut self, event: Event) -> Vec<SseEvent> {
        let id = match &event {
            Event::TorrentAdded { id, .. }
            | Event::PieceVerified { id, .. }
            | Event::TorrentCompleted { id }
            | Event::StateChanged { id, .. }
            | Event::TorrentRemoved { id } => *id,
            // Peer and hash-failure events are too chatty for this stream.
            _ => return Vec::new(),
        };
        let Some(hash) = self.hash(id) else { return Vec::new() };
        let mut out = Vec::new();
        // The engine may send a new torrent's first state change before its `TorrentAdded`:
        // `torrent_added` is sent before any other event of the torrent, and only once.
        if self.announced.insert(id) {
            let name = match &event {
                Event::TorrentAdded { name, .. } => Some(name.clone()),
                _ => self.session.status(id).ok().map(|s| s.name),
            };
            out.push(sse("torrent_added", json!({ "info_hash": hash, "name": name })));
        }
        out.extend(self.metadata_arrived(id, &hash));
        match event {
            Event::TorrentAdded { .. } => {}
            Event::PieceVerified { .. } => out.extend(self.progress(id, &hash)),
            Event::TorrentCompleted { .. } => {
                out.push(sse("torrent_completed", json!({ "info_hash": hash })))
            }
            Event::StateChanged { state, .. } => {
                if let TorrentState::Error(error) = &state {
                    let body = json!({ "info_hash": hash, "error": error.to_string() });
                    out.push(sse("torrent_error", body));
                }
                let body = json!({ "info_hash": hash, "state": state_name(&state) });
                out.push(sse("state_changed", body));
            }
            Event::TorrentRemoved { .. } => {
                self.hashes.remove(&id);
                self.announced.remove(&id);
                self.resolving.remove(&id);
                self.last_progress.remove(&id);
                out.push(sse("torrent_removed", json!({ "info_hash": hash })));
            }
            _ => {}
        }
        out
    }

    /// `metadata_received` when torrent `id` was fetching its metadata and no longer is.
    fn metadata_arrived(&mut self, id: TorrentId, hash: &str) -> Vec<SseEvent> {
        if !self.resolving.contains(&id) {
            return Vec::new();
        }
        let Ok(status) = self.session.status(id) else { return Vec::new() };
        if matches!(status.state, TorrentState::FetchingMetadata | TorrentState::Error(_)) {
            return Vec::new();
        }
        self.resolving.remove(&id);
        let body = json!({ "info_hash": hash, "name": status.name, "total_bytes": status.total_bytes });
        vec![sse("metadata_received", body)]
    }

    /// A `progress` event, unless one of this torrent went out less than a second ago.
    fn progress(&mut self, id: TorrentId, hash: &str) -> Option<SseEvent> {
        let now = Instant::now();
        if self.last_progress.get(&id).is_some_and(|at| now.duration_since(*at) < PROGRESS_EVERY) {
            return None;
        }
        let status = self.session.status(id).ok()?;
        self.last_progress.insert(id, now);
        let body = json!({
            "info_hash": hash,
            "progress": status.progress,
            "bytes_have": status.bytes_have,
            "total_bytes": status.total_bytes,
            "pieces_have": status.pieces_have,
            "pieces_total": status.pieces_total,
            "download_rate": status.download_rate,
            "upload_rate": status.upload_rate,
        });
        Some(sse("progress", body))
    }
}

fn sse(name: &'static str, data: Value) -> SseEvent {
    SseEvent::default().event(name).data(data.to_string())
}

/// The API's name of `state` (as in [`crate::TorrentView`]).
fn state_name(state: &TorrentState) -> &'static str {
    match state {
        TorrentState::FetchingMetadata => "fetching_metadata",
        TorrentState::Checking => "checking",
        TorrentState::Downloading => "downloading",
        TorrentState::Seeding => "seeding",
        TorrentState::Paused => "paused",
        TorrentState::Error(_) => "error",
    }
}
