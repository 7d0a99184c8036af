//! `/metrics` read by real Prometheus tools while ccbt downloads from a rate-limited libtorrent
//! seeder: `promtool check metrics` accepts every scrape, the seeds' names are all there, no
//! series appears twice, the download rate is above zero while data flows and the completed
//! pieces rise; then a real Prometheus server scraping ccbt every second has recorded the series
//! (asked through its HTTP query API).

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::discovery::require_program;
use support::{
    ccbt, free_port, interop, lt_make_torrent, lt_seed, wait_port_open, work_dir, write_file, Kind, Proc,
    Tool, SETUP, TRANSFER,
};

const SEED_NAMES: [&str; 6] = [
    "ccbt_download_rate_bytes_per_second",
    "ccbt_upload_rate_bytes_per_second",
    "ccbt_connected_peers",
    "ccbt_pieces_completed",
    "ccbt_disk_queue_depth",
    "ccbt_hash_queue_depth",
];
/// 4 MiB in 32 KiB pieces, sent at 256 KiB/s: about 16 s of transfer, many scrapes.
const SIZE: u64 = 4 * 1024 * 1024;
const PIECES: f64 = 128.0;
const SEED_RATE: u64 = 256 * 1024;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into()
}

/// GET `url`: (status, body), or None when nothing answers yet.
fn get(agent: &ureq::Agent, url: &str, query: &[(&str, &str)]) -> Option<(u16, String)> {
    let mut request = agent.get(url);
    for (k, v) in query {
        request = request.query(*k, *v);
    }
    let mut response = request.call().ok()?;
    let status = response.status().as_u16();
    Some((status, response.body_mut().read_to_string().ok()?))
}

/// `promtool check metrics` on `text` (the real parser and linter of the Prometheus project).
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    assert!(
        out.status.success(),
        "promtool check metrics refused the scrape: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Series (name and labels) → value; panics on a series seen twice.
fn samples(text: &str) -> HashMap<String, f64> {
    let mut all = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, value) = line.rsplit_once(' ').expect("a sample line is `series value`");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line}"));
        assert!(all.insert(series.to_owned(), value).is_none(), "duplicate series {series}\n{text}");
    }
    all
}

fn start_prometheus(w: &Path, target_port: u16) -> (Proc, u16) {
    let port = free_port();
    let config = w.join("prometheus.yml");
    let yaml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: ccbt\n    \
         static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
    );
    std::fs::write(&config, yaml).expect("write prometheus.yml");
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", w.join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let mut proc = Proc::spawn("prometheus", &mut cmd, w);
    wait_port_open(port, &mut proc, SETUP);
    (proc, port)
}

/// The values of an instant query's result vector (empty while nothing is recorded).
fn prometheus_query(agent: &ureq::Agent, port: u16, query: &str) -> Vec<f64> {
    let url = format!("http://127.0.0.1:{port}/api/v1/query");
    let Some((200, body)) = get(agent, &url, &[("query", query)]) else { return Vec::new() };
    let json: serde_json::Value = serde_json::from_str(&body).expect("prometheus answers JSON");
    assert_eq!(json["status"], "success", "{body}");
    let result = json["data"]["result"].as_array().cloned().unwrap_or_default();
    result.iter().filter_map(|r| r["value"][1].as_str()?.parse().ok()).collect()
}

#[test]
fn metrics_are_read_by_promtool_and_recorded_by_prometheus() {
    if !interop("metrics_are_read_by_promtool_and_recorded_by_prometheus", &[Tool::Libtorrent]) {
        return;
    }
    require_program("metrics_interop", "promtool", "prometheus");
    require_program("metrics_interop", "prometheus", "prometheus");
    let work = work_dir();
    let w = work.path();
    let file = w.join("src/metered.bin");
    write_file(&file, 11, SIZE);
    let torrent = w.join("t.torrent");
    lt_make_torrent(&file, &torrent, 32 * 1024, Kind::V1);
    let seed =
        lt_seed(w, "lt_seed", &torrent, &w.join("src"), &[], &["--upload-limit", &SEED_RATE.to_string()]);

    let metrics_port = free_port();
    let (mut prometheus, prometheus_port) = start_prometheus(w, metrics_port);
    let mut cmd = ccbt();
    cmd.arg("download").arg(&torrent).arg("-o").arg(w.join("out"));
    cmd.args(["--listen-port", "0", "--no-dht", "--seed", "--peer", &seed.addr()]);
    cmd.env("CCBT_ENABLE_METRICS", "true").env("CCBT_METRICS_PORT", metrics_port.to_string());
    let mut download = Proc::spawn("ccbt-download", &mut cmd, w);
    wait_port_open(metrics_port, &mut download, SETUP);

    // Scrape until every piece is verified.
    let agent = agent();
    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let deadline = Instant::now() + TRANSFER;
    let (mut pieces_seen, mut rate_while_flowing) = (Vec::new(), false);
    loop {
        assert!(
            Instant::now() < deadline,
            "the download did not finish in {TRANSFER:?}\n{}",
            download.logs()
        );
        assert!(download.try_wait().is_none(), "ccbt stopped\n{}", download.logs());
        let (status, text) = get(&agent, &url, &[]).expect("ccbt answers /metrics");
        assert_eq!(status, 200, "{text}");
        promtool_check(&text);
        let samples = samples(&text);
        for name in SEED_NAMES {
            assert!(samples.contains_key(name), "{name} missing\n{text}");
        }
        let pieces = samples["ccbt_pieces_completed"];
        if pieces > 0.0 && pieces < PIECES && samples["ccbt_download_rate_bytes_per_second"] > 0.0 {
            rate_while_flowing = true;
        }
        assert!(
            pieces_seen.last().is_none_or(|&last| pieces >= last),
            "pieces completed went down: {pieces_seen:?} then {pieces}"
        );
        pieces_seen.push(pieces);
        if pieces == PIECES {
            assert!(samples["ccbt_downloaded_bytes_total"] >= SIZE as f64, "{text}");
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(rate_while_flowing, "no scrape showed a download rate above zero while pieces arrived");
    let rising = pieces_seen.windows(2).filter(|w| w[1] > w[0]).count();
    assert!(rising >= 2, "completed pieces rose only {rising} times over the scrapes: {pieces_seen:?}");

    // The server has recorded the download: several samples of the series, the whole download.
    let deadline = Instant::now() + SETUP;
    loop {
        let counts = prometheus_query(&agent, prometheus_port, "count_over_time(ccbt_pieces_completed[10m])");
        let max = prometheus_query(&agent, prometheus_port, "max_over_time(ccbt_pieces_completed[10m])");
        let rate = prometheus_query(
            &agent,
            prometheus_port,
            "max_over_time(ccbt_download_rate_bytes_per_second[10m])",
        );
        if counts.first().is_some_and(|&c| c >= 3.0)
            && max == [PIECES]
            && rate.first().is_some_and(|&r| r > 0.0)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus has not recorded the series: count {counts:?}, max {max:?}, rate {rate:?}\n{}",
            prometheus.logs()
        );
        assert!(prometheus.try_wait().is_none(), "prometheus stopped\n{}", prometheus.logs());
        std::thread::sleep(Duration::from_millis(500));
    }
    for name in SEED_NAMES {
        let found = prometheus_query(&agent, prometheus_port, name);
        assert_eq!(found.len(), 1, "prometheus has no single series {name}: {found:?}");
    }
    download.terminate(Duration::from_secs(10));
    prometheus.terminate(Duration::from_secs(10));
}

/// The daemon serves `/metrics` too, and `ccbt status --json` shows the same snapshot: a torrent
/// whose data is all there is checked, then its pieces show in both.
#[test]
fn the_daemon_serves_metrics_and_status_json() {
    if !interop("the_daemon_serves_metrics_and_status_json", &[Tool::Libtorrent]) {
        return;
    }
    require_program("metrics_interop", "promtool", "prometheus");
    let work = work_dir();
    let w = work.path();
    let file = w.join("src/daemon.bin");
    write_file(&file, 12, 1024 * 1024);
    let torrent = w.join("t.torrent");
    lt_make_torrent(&file, &torrent, 32 * 1024, Kind::V1);
    let state = w.join("state");
    let metrics_port = free_port();
    let mut cmd = ccbt();
    cmd.args(["daemon", "start", "--foreground", "--api-port", "0", "--listen-port", "0", "--no-dht"])
        .arg("--state-dir")
        .arg(&state)
        .env("CCBT_ENABLE_METRICS", "true")
        .env("CCBT_METRICS_PORT", metrics_port.to_string());
    let mut daemon = Proc::spawn("daemon", &mut cmd, w);
    daemon.wait_for("serving", SETUP, |out, _| out.contains("serving http://").then_some(()));
    let ccbt_run = |name: &str, args: &[&str]| {
        let mut cmd = ccbt();
        cmd.args(args).arg("--state-dir").arg(&state);
        let done = support::run_with_timeout(name, &mut cmd, w, SETUP);
        assert!(done.success(), "ccbt {args:?}: {}", done.describe());
        done.stdout
    };
    let mut add = vec!["add".to_owned(), torrent.display().to_string(), "-o".into()];
    add.push(w.join("src").display().to_string());
    ccbt_run("add", &add.iter().map(String::as_str).collect::<Vec<_>>());

    let agent = agent();
    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let deadline = Instant::now() + SETUP;
    loop {
        let (status, text) = get(&agent, &url, &[]).expect("the daemon answers /metrics");
        assert_eq!(status, 200, "{text}");
        promtool_check(&text);
        let samples = samples(&text);
        if samples["ccbt_pieces_completed"] == 32.0 {
            assert_eq!(samples["ccbt_torrents{state=\"seeding\"}"], 1.0, "{text}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon's torrent never showed complete\n{text}\n{}",
            daemon.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let json: serde_json::Value = serde_json::from_str(&ccbt_run("status-json", &["status", "--json"]))
        .expect("status --json prints JSON");
    let torrents = json["torrents"].as_array().expect("torrents");
    assert_eq!(torrents.len(), 1, "{json}");
    assert_eq!(
        (torrents[0]["state"].as_str(), torrents[0]["pieces_have"].as_u64()),
        (Some("seeding"), Some(32))
    );
    assert!(json["totals"]["downloaded"].is_u64() && json["hash_queue_depth"].is_u64(), "{json}");
    let (exit, clean) = daemon.terminate(Duration::from_secs(30));
    assert!(clean && exit.success(), "{exit:?}\n{}", daemon.logs());
}
