//! Live stats of a daemon downloading from a rate-limited libtorrent seeder, read the three
//! ways the snapshot is shown: `ccbt status --json` (sampled until a moment with requests
//! outstanding to the seeder, and until the time to first byte is measured), `ccbt status` and
//! `ccbt peers` for people, and `/metrics`. A second torrent with no peer never gets a byte,
//! and never shows a time to first byte.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::daemon_state::StateDir;
use support::{
    free_port, interop, lt_info_hash, lt_make_torrent, lt_seed, run_with_timeout, write_file, Kind, SETUP,
    TRANSFER,
};

/// 4 MiB in 32 KiB pieces, sent at 256 KiB/s: about 16 s of transfer.
const SIZE: u64 = 4 * 1024 * 1024;
const SEED_RATE: u64 = 256 * 1024;

/// The torrent `info_hash` of a `ccbt status --json` snapshot.
fn torrent<'a>(snapshot: &'a Value, info_hash: &str) -> &'a Value {
    let torrents = snapshot["torrents"].as_array().expect("torrents in the snapshot");
    torrents
        .iter()
        .find(|t| t["info_hash"] == info_hash)
        .unwrap_or_else(|| panic!("{info_hash} in {snapshot}"))
}

fn scrape(port: u16) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .proxy(None)
        .build()
        .into();
    let mut answer = agent.get(&format!("http://127.0.0.1:{port}/metrics")).call().expect("GET /metrics");
    answer.body_mut().read_to_string().expect("a text body")
}

/// The value of the sample line `series` (name and labels), if the scrape has it.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn request_queues_and_time_to_first_byte_from_a_libtorrent_download() {
    if !interop(
        "request_queues_and_time_to_first_byte_from_a_libtorrent_download",
        &[support::Tool::Libtorrent],
    ) {
        return;
    }
    let work = support::work_dir();
    let w = work.path();
    write_file(&w.join("src/flowing.bin"), 21, SIZE);
    let flowing = w.join("flowing.torrent");
    lt_make_torrent(&w.join("src/flowing.bin"), &flowing, 32 * 1024, Kind::V1);
    write_file(&w.join("idle/idle.bin"), 22, 256 * 1024);
    let idle = w.join("idle.torrent");
    lt_make_torrent(&w.join("idle/idle.bin"), &idle, 32 * 1024, Kind::V1);
    let (flowing_hash, idle_hash) = (lt_info_hash(&flowing), lt_info_hash(&idle));
    let seeder =
        lt_seed(w, "lt-seed", &flowing, &w.join("src"), &[], &["--upload-limit", &SEED_RATE.to_string()]);

    let state = StateDir::new(w, "state");
    let metrics_port = free_port();
    let mut start = state.start_command(false);
    start.env("CCBT_ENABLE_METRICS", "true").env("CCBT_METRICS_PORT", metrics_port.to_string());
    let done = run_with_timeout("daemon-start", &mut start, w, SETUP);
    assert!(done.success(), "daemon start failed\n{}\n{}", done.describe(), state.log());
    let ok = |name: &str, args: &[&str]| {
        let done = state.ccbt(name, args);
        assert!(done.success(), "ccbt {args:?} failed\n{}\n{}", done.describe(), state.log());
        done.stdout
    };
    // No peer and no tracker: it downloads nothing, ever.
    ok("add-idle", &["add", idle.to_str().unwrap(), "-o", w.join("out-idle").to_str().unwrap()]);
    let peer = format!("127.0.0.1:{}", seeder.port);
    ok("add", &["add", flowing.to_str().unwrap(), "-o", w.join("out").to_str().unwrap(), "--peer", &peer]);

    // Sample the snapshot until a moment with blocks in flight from the seeder, and until the
    // first byte is measured; the idle torrent never has a first byte.
    let deadline = Instant::now() + TRANSFER;
    let (mut in_flight, mut first_byte) = (false, None);
    while !(in_flight && first_byte.is_some()) {
        assert!(
            Instant::now() < deadline,
            "no sample with requests in flight and a first byte\n{}",
            state.log()
        );
        let snapshot: Value = serde_json::from_str(&ok("status-json", &["status", "--json"]))
            .expect("ccbt status --json prints JSON");
        let t = torrent(&snapshot, &flowing_hash);
        let peers = t["peers"].as_array().expect("peers");
        let from_peers: u64 =
            peers.iter().map(|p| p["outstanding_requests"].as_u64().expect("a count")).sum();
        assert_eq!(t["outstanding_requests"].as_u64(), Some(from_peers), "the torrent sums its peers: {t}");
        assert!(t["queued_peer_requests"].is_u64(), "{t}");
        in_flight |= t["state"] == "downloading" && from_peers > 0;
        first_byte = first_byte.or(t["time_to_first_byte_ms"].as_u64());
        if t["downloaded"].as_u64() == Some(0) {
            assert!(t["time_to_first_byte_ms"].is_null(), "a first byte before any payload: {t}");
        }
        let i = torrent(&snapshot, &idle_hash);
        assert_eq!(i["state"], "downloading", "{i}");
        assert!(i["time_to_first_byte_ms"].is_null() && i["time_to_first_piece_ms"].is_null(), "{i}");
        assert_eq!(i["outstanding_requests"], 0, "{i}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The same figures for people, and in /metrics.
    let status = ok("status", &["status", &flowing_hash]);
    assert!(status.lines().any(|l| l.starts_with("outstanding_requests:")), "{status}");
    assert!(status.lines().any(|l| l.starts_with("time_to_first_byte_ms:")), "{status}");
    assert!(
        status.lines().any(|l| l.starts_with("peer:") && l.contains(&peer) && l.contains("health")),
        "{status}"
    );
    let idle_status = ok("status-idle", &["status", &idle_hash]);
    assert!(
        idle_status.contains("outstanding_requests:") && !idle_status.contains("time_to_first"),
        "{idle_status}"
    );
    let summary = ok("summary", &["status"]);
    assert!(summary.contains("2 torrents:") && summary.contains("dht: off"), "{summary}");
    assert!(summary.lines().any(|l| l.starts_with("requests: ")), "{summary}");
    let peers = ok("peers", &["peers", &flowing_hash]);
    assert!(peers.lines().next().is_some_and(|h| h.contains("REQS O/I")), "{peers}");
    let metrics = scrape(metrics_port);
    let series =
        |name: &str, info_hash: &str| sample(&metrics, &format!("{name}{{info_hash=\"{info_hash}\"}}"));
    let measured = series("ccbt_torrent_time_to_first_byte_seconds", &flowing_hash);
    assert!(measured.is_some_and(|s| s >= 0.0), "{metrics}");
    assert_eq!(series("ccbt_torrent_time_to_first_byte_seconds", &idle_hash), None, "{metrics}");
    assert_eq!(series("ccbt_torrent_requests_outstanding", &idle_hash), Some(0.0), "{metrics}");
    assert!(series("ccbt_torrent_requests_outstanding", &flowing_hash).is_some(), "{metrics}");
    assert!(sample(&metrics, "ccbt_requests_outstanding").is_some(), "{metrics}");

    // Once complete, the first verified piece is measured too, and the first byte kept.
    let complete = || {
        let snapshot: Value = serde_json::from_str(&ok("status-json", &["status", "--json"])).unwrap();
        let t = torrent(&snapshot, &flowing_hash).clone();
        (t["state"] == "seeding").then_some(t)
    };
    let deadline = Instant::now() + TRANSFER;
    let t = loop {
        if let Some(t) = complete() {
            break t;
        }
        assert!(Instant::now() < deadline, "the download never completed\n{}", state.log());
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(t["time_to_first_byte_ms"].as_u64(), first_byte, "{t}");
    let first_piece = t["time_to_first_piece_ms"].as_u64().unwrap_or_else(|| panic!("{t}"));
    assert!(first_piece >= first_byte.unwrap(), "a piece verified before its first byte arrived: {t}");
    state.stop("stop");
}
