//! The route table. [`ROUTES`] is the one list the router is built from, so a test that walks
//! it reaches every route there is; the guard is a layer over the finished router.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

use crate::guard::{guard, Access};
use crate::{add_options, handlers, ApiContext, ApiError};

/// Where every route lives.
pub const PREFIX: &str = "/api/v1";

/// The HTTP methods the API uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    /// The method's name, `GET`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Delete => "DELETE",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Delete => MethodFilter::DELETE,
        }
    }
}

/// What a route does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Session,
    ListTorrents,
    AddTorrent,
    GetTorrent,
    PauseTorrent,
    ResumeTorrent,
    RemoveTorrent,
    RecheckTorrent,
    ReannounceTorrent,
    StreamFile,
    Events,
    StreamUrls,
    StreamUrl,
    ListFiles,
    SetFilePriorities,
    ListPeers,
    ListTrackers,
    GetLimits,
    SetLimits,
    GetTorrentLimits,
    SetTorrentLimits,
    GetConfig,
    SetConfig,
    ListCheckpoints,
    DeleteCheckpoint,
    Snapshot,
    PieceMap,
    ListAlerts,
    AddAlertRule,
    RemoveAlertRule,
    TestAlertRule,
    AlertHistory,
    StartPeerTrace,
    StopPeerTrace,
    XetStats,
    XetCleanup,
    AddXetFollow,
    ListXetFollows,
    RemoveXetFollow,
}

/// One route: method, path (axum syntax, `{info_hash}` for a parameter) and handler.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub verb: Verb,
    pub path: &'static str,
    pub endpoint: Endpoint,
}

const fn route(verb: Verb, path: &'static str, endpoint: Endpoint) -> Route {
    Route { verb, path, endpoint }
}

/// Every route of the API.
pub const ROUTES: &[Route] = &[
    route(Verb::Get, "/api/v1/session", Endpoint::Session),
    route(Verb::Get, "/api/v1/torrents", Endpoint::ListTorrents),
    route(Verb::Post, "/api/v1/torrents", Endpoint::AddTorrent),
    route(Verb::Get, "/api/v1/torrents/{info_hash}", Endpoint::GetTorrent),
    route(Verb::Post, "/api/v1/torrents/{info_hash}/pause", Endpoint::PauseTorrent),
    route(Verb::Post, "/api/v1/torrents/{info_hash}/resume", Endpoint::ResumeTorrent),
    route(Verb::Delete, "/api/v1/torrents/{info_hash}", Endpoint::RemoveTorrent),
    route(Verb::Post, "/api/v1/torrents/{info_hash}/recheck", Endpoint::RecheckTorrent),
    route(Verb::Post, "/api/v1/torrents/{info_hash}/reannounce", Endpoint::ReannounceTorrent),
    route(Verb::Get, "/api/v1/torrents/{info_hash}/files/{index}/stream", Endpoint::StreamFile),
    route(Verb::Get, "/api/v1/events", Endpoint::Events),
    route(Verb::Get, "/api/v1/torrents/{info_hash}/urls", Endpoint::StreamUrls),
    route(Verb::Get, "/api/v1/torrents/{info_hash}/files/{index}/url", Endpoint::StreamUrl),
    route(Verb::Get, "/api/v1/torrents/{info_hash}/files", Endpoint::ListFiles),
    route(Verb::Put, "/api/v1/torrents/{info_hash}/files", Endpoint::SetFilePriorities),
    route(Verb::Get, "/api/v1/torrents/{info_hash}/peers", Endpoint::ListPeers),
    route(Verb::Get, "/api/v1/torrents/{info_hash}/trackers", Endpoint::ListTrackers),
    route(Verb::Get, "/api/v1/limits", Endpoint::GetLimits),
    route(Verb::Put, "/api/v1/limits", Endpoint::SetLimits),
    route(Verb::Get, "/api/v1/torrents/{info_hash}/limits", Endpoint::GetTorrentLimits),
    route(Verb::Put, "/api/v1/torrents/{info_hash}/limits", Endpoint::SetTorrentLimits),
    route(Verb::Get, "/api/v1/config", Endpoint::GetConfig),
    route(Verb::Put, "/api/v1/config", Endpoint::SetConfig),
    route(Verb::Get, "/api/v1/checkpoints", Endpoint::ListCheckpoints),
    route(Verb::Delete, "/api/v1/checkpoints/{info_hash}", Endpoint::DeleteCheckpoint),
    route(Verb::Get, "/api/v1/snapshot", Endpoint::Snapshot),
    route(Verb::Get, "/api/v1/torrents/{info_hash}/pieces", Endpoint::PieceMap),
    route(Verb::Get, "/api/v1/alerts", Endpoint::ListAlerts),
    route(Verb::Post, "/api/v1/alerts/rules", Endpoint::AddAlertRule),
    route(Verb::Delete, "/api/v1/alerts/rules/{name}", Endpoint::RemoveAlertRule),
    route(Verb::Post, "/api/v1/alerts/rules/{name}/test", Endpoint::TestAlertRule),
    route(Verb::Get, "/api/v1/alerts/history", Endpoint::AlertHistory),
    route(Verb::Post, "/api/v1/torrents/{info_hash}/peers/{addr}/trace", Endpoint::StartPeerTrace),
    route(Verb::Delete, "/api/v1/torrents/{info_hash}/peers/{addr}/trace", Endpoint::StopPeerTrace),
    route(Verb::Get, "/api/v1/xet/stats", Endpoint::XetStats),
    route(Verb::Post, "/api/v1/xet/cleanup", Endpoint::XetCleanup),
    route(Verb::Post, "/api/v1/xet/follows", Endpoint::AddXetFollow),
    route(Verb::Get, "/api/v1/xet/follows", Endpoint::ListXetFollows),
    route(Verb::Delete, "/api/v1/xet/follows/{id}", Endpoint::RemoveXetFollow),
];

/// The API over `context`, every request guarded by `access`.
pub fn router(context: Arc<ApiContext>, access: Access) -> Router {
    let mut router = Router::new();
    for route in ROUTES {
        router = router.route(route.path, method_router(route));
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Last, so it wraps everything above: routes, fallback and 405 answers.
        .layer(axum::middleware::from_fn_with_state(Arc::new(access), guard))
        .with_state(context)
}

fn method_router(route: &Route) -> MethodRouter<Arc<ApiContext>> {
    let filter = route.verb.filter();
    match route.endpoint {
        Endpoint::Session => on(filter, handlers::session),
        Endpoint::ListTorrents => on(filter, handlers::list),
        // Room for a base64 `.torrent` at the parser's size limit (axum's default is 2 MB).
        Endpoint::AddTorrent => {
            on(filter, handlers::add).layer(DefaultBodyLimit::max(add_options::MAX_ADD_BODY))
        }
        Endpoint::GetTorrent => on(filter, handlers::get),
        Endpoint::PauseTorrent => on(filter, handlers::pause),
        Endpoint::ResumeTorrent => on(filter, handlers::resume),
        Endpoint::RemoveTorrent => on(filter, crate::ops::remove),
        Endpoint::RecheckTorrent => on(filter, crate::ops::recheck),
        Endpoint::ReannounceTorrent => on(filter, crate::ops::reannounce),
        Endpoint::StreamFile => on(filter, crate::stream::stream),
        Endpoint::Events => on(filter, crate::events::events),
        Endpoint::StreamUrls => on(filter, crate::stream_url::urls),
        Endpoint::StreamUrl => on(filter, crate::stream_url::url),
        Endpoint::ListFiles => on(filter, crate::files::list),
        Endpoint::SetFilePriorities => on(filter, crate::files::set_priorities),
        Endpoint::ListPeers => on(filter, crate::peers::list),
        Endpoint::ListTrackers => on(filter, crate::trackers::list),
        Endpoint::GetLimits => on(filter, crate::limits::get_session),
        Endpoint::SetLimits => on(filter, crate::limits::set_session),
        Endpoint::GetTorrentLimits => on(filter, crate::limits::get_torrent),
        Endpoint::SetTorrentLimits => on(filter, crate::limits::set_torrent),
        Endpoint::GetConfig => on(filter, crate::config::get),
        Endpoint::SetConfig => on(filter, crate::config::set),
        Endpoint::ListCheckpoints => on(filter, crate::checkpoints::list),
        Endpoint::DeleteCheckpoint => on(filter, crate::checkpoints::delete),
        Endpoint::Snapshot => on(filter, crate::snapshot::snapshot),
        Endpoint::PieceMap => on(filter, crate::pieces::map),
        Endpoint::ListAlerts => on(filter, crate::alerts::list),
        Endpoint::AddAlertRule => on(filter, crate::alerts::add),
        Endpoint::RemoveAlertRule => on(filter, crate::alerts::remove),
        Endpoint::TestAlertRule => on(filter, crate::alerts::test),
        Endpoint::AlertHistory => on(filter, crate::alerts::history),
        Endpoint::StartPeerTrace => on(filter, crate::peer_trace::start),
        Endpoint::StopPeerTrace => on(filter, crate::peer_trace::stop),
        Endpoint::XetStats => on(filter, crate::xet::stats),
        Endpoint::XetCleanup => on(filter, crate::xet::cleanup),
        // Room for a base64 `.torrent`, as when adding a torrent.
        Endpoint::AddXetFollow => {
            on(filter, crate::follow_routes::add).layer(DefaultBodyLimit::max(add_options::MAX_ADD_BODY))
        }
        Endpoint::ListXetFollows => on(filter, crate::follow_routes::list),
        Endpoint::RemoveXetFollow => on(filter, crate::follow_routes::remove),
    }
}

async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route (see docs/api.md)").into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
    .into_response()
}
