//! docs/openapi.json against the code: it documents exactly the routes of `ROUTES` (a route
//! added without documentation fails here), every operation declares the bearer scheme and the
//! guard's error answers, only the stream route takes a signed URL, every `$ref` resolves, and
//! the schemas of the JSON bodies have the fields the code serializes.

use std::collections::BTreeSet;
use std::path::PathBuf;

use ccbt_api::{
    ActiveAlertView, AddRequest, AlertEventView, AlertHistoryView, AlertRuleRequest, AlertRuleView,
    AlertTestView, AlertsView, CheckpointList, CheckpointView, ConfigChangeView, ConfigEntryView,
    ConfigSetView, ConfigView, DhtView, FileList, FileView, PeerList, PeerTraceView, PeerView,
    PendingAlertView, PieceCellView, PieceMapView, SessionLimitsView, SessionView, SnapshotPeerView,
    SnapshotTrackerView, SnapshotView, StreamUrl, StreamUrlList, TorrentCounts, TorrentLimitsView,
    TorrentList, TorrentSnapshotView, TorrentView, TotalsView, TrackerList, TrackerView, XetCleanupRequest,
    XetCleanupView, XetFollowList, XetFollowRequest, XetFollowTorrentView, XetFollowUpdateView,
    XetFollowView, XetRootView, XetStaleView, XetStatsView, ROUTES,
};
use serde_json::Value;

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const STREAM: &str = "/api/v1/torrents/{info_hash}/files/{index}/stream";

fn document() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every operation of the document: method (lower case), path, operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut out = Vec::new();
    for (path, item) in paths {
        for (key, op) in item.as_object().expect("path item") {
            if METHODS.contains(&key.as_str()) {
                out.push((key.clone(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// What `#/components/...` points at.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("external $ref {reference}"));
            doc.pointer(pointer).unwrap_or_else(|| panic!("$ref {reference} points at nothing"))
        }
        None => value,
    }
}

#[test]
fn the_document_lists_exactly_the_routes() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = operations(&doc);
    let documented: BTreeSet<(String, String)> =
        ops.iter().filter(|(m, _, _)| m != "head").map(|(m, p, _)| (m.clone(), p.clone())).collect();
    let routes: BTreeSet<(String, String)> =
        ROUTES.iter().map(|r| (r.verb.as_str().to_ascii_lowercase(), r.path.to_owned())).collect();
    let missing: Vec<_> = routes.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routes).collect();
    assert!(missing.is_empty(), "routes missing from docs/openapi.json: {missing:?}");
    assert!(extra.is_empty(), "docs/openapi.json documents routes that do not exist: {extra:?}");
    assert_eq!(documented.len(), ROUTES.len(), "a route is twice in ROUTES");
    // HEAD is answered by the GET handler (axum), so it may be documented where GET is; the
    // stream route documents it, as players probe with it.
    for (method, path, _) in &ops {
        if method == "head" {
            assert!(routes.contains(&("get".into(), path.clone())), "HEAD {path} without a GET route");
        }
    }
    assert!(ops.iter().any(|(m, p, _)| m == "head" && p == STREAM), "HEAD of the stream route");
    let ids: Vec<&str> =
        ops.iter().map(|(_, _, op)| op["operationId"].as_str().expect("operationId")).collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "operationIds repeat: {ids:?}");
}

#[test]
fn every_operation_is_guarded_and_says_how_it_fails() {
    let doc = document();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["signedUrl"]["type"], "apiKey");
    assert_eq!(schemes["signedUrl"]["in"], "query");
    assert_eq!(schemes["signedUrl"]["name"], ccbt_api::SIG_PARAM);
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], serde_json::json!(["error"]));
    assert_eq!(error["properties"]["error"]["required"], serde_json::json!(["code", "message"]));

    for (method, path, op) in operations(&doc) {
        let name = format!("{method} {path}");
        let security = op["security"].as_array().unwrap_or_else(|| panic!("{name}: no security"));
        let schemes: BTreeSet<&str> =
            security.iter().flat_map(|s| s.as_object().unwrap().keys().map(String::as_str)).collect();
        assert!(schemes.contains("bearer"), "{name}: no bearer security");
        // Only the stream route takes a signature, as only it does in the guard.
        let signed = (method == "get" || method == "head") && path == STREAM;
        assert_eq!(schemes.contains("signedUrl"), signed, "{name}: signed URL scheme");
        let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{name}: no responses"));
        for status in ["401", "421", "500"] {
            let response =
                resolve(&doc, responses.get(status).unwrap_or_else(|| panic!("{name}: no {status}")));
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(schema, "#/components/schemas/Error", "{name} {status}");
        }
        assert!(responses.keys().any(|s| s.starts_with('2')), "{name}: no success answer documented");
        // Every `{parameter}` of the path is declared, and nothing else is a path parameter.
        let in_path: BTreeSet<&str> =
            path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect();
        let params = op["parameters"].as_array().map(Vec::as_slice).unwrap_or_default();
        let declared: BTreeSet<&str> = params
            .iter()
            .map(|p| resolve(&doc, p))
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(in_path, declared, "{name}: path parameters");
    }
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r);
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let doc = document();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 20, "the document has hardly any references");
    for reference in all {
        let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("external $ref {reference}"));
        assert!(doc.pointer(pointer).is_some(), "$ref {reference} points at nothing");
    }
}

/// The keys of a JSON object.
fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().expect("an object").keys().cloned().collect()
}

/// The property names of schema `name`.
fn properties(doc: &Value, name: &str) -> BTreeSet<String> {
    keys(&doc["components"]["schemas"][name]["properties"])
}

#[test]
fn schemas_have_the_fields_the_code_serializes() {
    let doc = document();
    let torrent = TorrentView {
        info_hash: "ab".repeat(20),
        name: "n".into(),
        state: "seeding".into(),
        error: None,
        save_path: "/d".into(),
        progress: 1.0,
        pieces_have: 1,
        pieces_total: 1,
        bytes_have: 1,
        total_bytes: 1,
        download_rate: 0,
        upload_rate: 0,
        downloaded: 0,
        uploaded: 0,
        wasted: 0,
        hashed_pieces: 0,
        connected_peers: 0,
        eta_secs: None,
    };
    let session = SessionView {
        version: "0".into(),
        pid: 1,
        uptime_secs: 0,
        listen_addr: "0.0.0.0:1".into(),
        torrents: TorrentCounts::default(),
        download_rate: 0,
        upload_rate: 0,
        connected_peers: 0,
    };
    let url = StreamUrl { index: 0, path: "a".into(), length: 1, url: "http://x".into() };
    let cases: Vec<(&str, Value)> = vec![
        ("Torrent", serde_json::to_value(&torrent).unwrap()),
        ("TorrentList", serde_json::to_value(TorrentList { torrents: vec![] }).unwrap()),
        ("Session", serde_json::to_value(&session).unwrap()),
        ("TorrentCounts", serde_json::to_value(TorrentCounts::default()).unwrap()),
        ("AddRequest", serde_json::to_value(AddRequest::default()).unwrap()),
        ("StreamUrl", serde_json::to_value(&url).unwrap()),
        (
            "StreamUrlList",
            serde_json::to_value(StreamUrlList { info_hash: String::new(), files: vec![] }).unwrap(),
        ),
    ];
    let cases = cases.into_iter().chain(inspect_views()).chain(snapshot_views(torrent)).chain(xet_views());
    for (name, value) in cases {
        assert_eq!(properties(&doc, name), keys(&value), "schema {name}");
    }
}

/// The Xet store's routes.
fn xet_views() -> Vec<(&'static str, Value)> {
    let root = XetRootView { root: "0".repeat(64), files: 1, chunks: 2, bytes: 3, shared_bytes: 0 };
    let stats = XetStatsView {
        dir: "/x".into(),
        chunks: 0,
        unique_bytes: 0,
        locations: 0,
        files: 0,
        referenced_bytes: 0,
        roots: 0,
        index_bytes: 0,
        packs: 1,
        pack_bytes: 8,
        by_root: vec![root.clone()],
    };
    let stale = XetStaleView { path: "/f".into(), reason: "gone".into() };
    let cleanup = XetCleanupView {
        dry_run: true,
        cap_bytes: 1,
        stale: vec![stale.clone()],
        evicted_packs: vec!["/p".into()],
        pack_bytes_before: 8,
        pack_bytes_after: 0,
        evicted: vec![],
        index_bytes_before: 0,
        index_bytes_after: 0,
    };
    vec![
        ("XetRoot", to(&root)),
        ("XetStats", to(&stats)),
        ("XetStale", to(&stale)),
        ("XetCleanup", to(&cleanup)),
        ("XetCleanupRequest", to(&XetCleanupRequest { dry_run: true })),
    ]
    .into_iter()
    .chain(xet_follow_views())
    .collect()
}

/// The follows' routes, every optional field present.
fn xet_follow_views() -> Vec<(&'static str, Value)> {
    let torrent = XetFollowTorrentView { info_hash: "ab".repeat(20), name: "set".into() };
    let updating = XetFollowUpdateView { info_hash: "cd".repeat(20), seq: 3 };
    let follow = XetFollowView {
        id: "0".repeat(16),
        link: "magnet:?xs=urn:btpk:00".into(),
        public_key: "00".into(),
        salt_hex: "61".into(),
        salt: Some("a".into()),
        dir: "/d".into(),
        poll_secs: 600,
        state: "updating".into(),
        seq: 2,
        info_hash: Some("ab".repeat(20)),
        torrent: Some(torrent.clone()),
        updating: Some(updating.clone()),
        polls: 1,
        switches: 0,
        last_poll: Some(1),
        last_error: Some("e".into()),
    };
    let request = XetFollowRequest {
        source: "magnet:".into(),
        torrent: Some("AA==".into()),
        dir: Some("/d".into()),
        poll_secs: Some(60),
        peers: vec!["127.0.0.1:1".into()],
    };
    vec![
        ("XetFollow", to(&follow)),
        ("XetFollowTorrent", to(&torrent)),
        ("XetFollowUpdate", to(&updating)),
        ("XetFollowList", to(&XetFollowList { follows: vec![follow.clone()] })),
        ("XetFollowRequest", to(&request)),
    ]
}

/// `GET /snapshot` with one torrent of one peer and one tracker, every optional field present:
/// the snapshot and its parts. `SnapshotTorrent` is `Torrent` plus its own part (`allOf`).
fn snapshot_views(torrent: TorrentView) -> Vec<(&'static str, Value)> {
    let peer = SnapshotPeerView {
        addr: "127.0.0.1:1".into(),
        client: "x".into(),
        download_rate: 0,
        upload_rate: 0,
        send_queue: 0,
        outstanding_requests: 0,
        queued_peer_requests: 0,
        request_latency_ms: Some(1),
        snubbed: false,
        health: Some(1),
    };
    let tracker = SnapshotTrackerView {
        url: "http://t".into(),
        tier: 0,
        last_error: Some("e".into()),
        last_warning: Some("w".into()),
        peers_received: 0,
        seeders: Some(0),
        leechers: Some(0),
        announces_ok: 0,
        announces_failed: 0,
        next_announce_secs: Some(0),
    };
    let dht =
        DhtView { good_nodes: 0, questionable_nodes: 0, active_lookups: 0, queries_in: 0, queries_out: 0 };
    let one = TorrentSnapshotView {
        torrent,
        hash_failed_bytes: 0,
        checkpoint_writes: 0,
        connections_succeeded: 0,
        connections_failed: 0,
        outstanding_requests: 0,
        queued_peer_requests: 0,
        time_to_first_byte_ms: Some(1),
        time_to_first_piece_ms: Some(1),
        peers: vec![peer.clone()],
        trackers: vec![tracker.clone()],
    };
    let snapshot = SnapshotView {
        download_rate: 0,
        upload_rate: 0,
        connected_peers: 0,
        handshaking_peers: 0,
        banned_peers: 0,
        hash_queue_depth: 0,
        disk_queue_depth: 0,
        totals: TotalsView::default(),
        dht: Some(dht.clone()),
        torrents: vec![one.clone()],
    };
    let doc = document();
    let torrent_part = &doc["components"]["schemas"]["SnapshotTorrent"]["allOf"][1]["properties"];
    let mut flattened = properties(&doc, "Torrent");
    flattened.extend(keys(torrent_part));
    assert_eq!(flattened, keys(&to(&one)), "schema SnapshotTorrent (Torrent and its own part)");
    vec![
        ("Snapshot", to(&snapshot)),
        ("SnapshotTotals", to(&TotalsView::default())),
        ("SnapshotDht", to(&dht)),
        ("SnapshotPeer", to(&peer)),
        ("SnapshotTracker", to(&tracker)),
    ]
}

/// The views of the inspection routes, each with every field present.
fn inspect_views() -> Vec<(&'static str, Value)> {
    let file = FileView {
        index: 0,
        path: "a".into(),
        length: 1,
        bytes_verified: 0,
        progress: 0.0,
        priority: "normal".into(),
        is_padding: false,
    };
    let peer = PeerView {
        addr: "127.0.0.1:1".into(),
        client: "x".into(),
        download_rate: 0,
        upload_rate: 0,
        request_latency_ms: None,
        snubbed: false,
        health: None,
        pieces: 0,
        progress: 0.0,
        flags: vec![],
        send_queue: 0,
        send_queue_peak: 0,
        outstanding_requests: 0,
        queued_peer_requests: 0,
    };
    let tracker = TrackerView {
        url: "http://t".into(),
        tier: 0,
        status: "pending".into(),
        last_error: None,
        last_warning: None,
        peers_received: 0,
        seeders: None,
        leechers: None,
        next_announce_secs: None,
    };
    let entry = ConfigEntryView {
        key: "k".into(),
        value: Value::Null,
        origin: "default".into(),
        apply: "live".into(),
    };
    let change = ConfigChangeView {
        key: "k".into(),
        value: "1".into(),
        status: "applied".into(),
        message: String::new(),
    };
    let checkpoint = CheckpointView {
        info_hash: String::new(),
        path: "c".into(),
        format: "json".into(),
        size: 0,
        modified: None,
        name: None,
        state: None,
        progress: None,
        saved_at: None,
        error: None,
        running: false,
    };
    let trace = PeerTraceView {
        info_hash: String::new(),
        addr: "127.0.0.1:6881".into(),
        path: "t.log".into(),
        tracing: true,
        was_tracing: false,
    };
    let limits = SessionLimitsView { download: 0, upload: 0, peer_download: 0, peer_upload: 0 };
    vec![
        ("FileView", to(&file)),
        ("FileList", to(&FileList { info_hash: String::new(), files: vec![] })),
        ("PeerView", to(&peer)),
        ("PeerList", to(&PeerList { info_hash: String::new(), peers: vec![] })),
        ("TrackerView", to(&tracker)),
        ("TrackerList", to(&TrackerList { info_hash: String::new(), trackers: vec![] })),
        ("SessionLimits", to(&limits)),
        ("TorrentLimits", to(&TorrentLimitsView { info_hash: String::new(), download: 0, upload: 0 })),
        ("ConfigEntry", to(&entry)),
        ("Config", to(&ConfigView { file: None, settings: vec![] })),
        ("ConfigChange", to(&change)),
        ("ConfigSet", to(&ConfigSetView { file: "f".into(), changes: vec![] })),
        ("CheckpointView", to(&checkpoint)),
        ("CheckpointList", to(&CheckpointList { dir: "d".into(), checkpoints: vec![] })),
        ("PieceCell", to(&PieceCellView { first: 0, count: 1, have: 0, min_availability: 0 })),
        ("PieceMap", to(&PieceMapView { info_hash: String::new(), pieces: 0, cells: vec![] })),
        ("PeerTrace", to(&trace)),
    ]
    .into_iter()
    .chain(alert_views())
    .collect()
}

/// The views of the alert routes, each with every field present.
fn alert_views() -> Vec<(&'static str, Value)> {
    let rule = AlertRuleView {
        name: "r".into(),
        metric: "m".into(),
        condition: "value < 1".into(),
        severity: "warning".into(),
        cooldown_secs: 0,
        for_secs: 0,
        torrent: None,
        enabled: true,
        state: "ok".into(),
    };
    let active = ActiveAlertView {
        rule: "r".into(),
        severity: "warning".into(),
        metric: "m".into(),
        torrent: None,
        value: 0.0,
        since: 0,
    };
    let pending = PendingAlertView { rule: "r".into(), torrent: None, since: 0 };
    let event = AlertEventView {
        seq: 1,
        kind: "fired".into(),
        rule: "r".into(),
        severity: "warning".into(),
        metric: "m".into(),
        torrent: None,
        value: None,
        at: 0,
        fired_at: None,
        reason: None,
    };
    let alerts = AlertsView {
        rules_file: "f".into(),
        rules_error: None,
        rules: vec![],
        firing: vec![],
        pending: vec![],
    };
    vec![
        ("AlertRule", to(&rule)),
        ("ActiveAlert", to(&active)),
        ("PendingAlert", to(&pending)),
        ("Alerts", to(&alerts)),
        ("AlertRuleRequest", to(&AlertRuleRequest::default())),
        ("AlertTest", to(&AlertTestView { rule: "r".into(), value: 0.0, holds: false })),
        ("AlertEvent", to(&event)),
        ("AlertHistory", to(&AlertHistoryView { capacity: 1, next_seq: 1, records: vec![] })),
    ]
}

fn to(view: &impl serde::Serialize) -> Value {
    serde_json::to_value(view).unwrap()
}
