//! Inspecting and tuning a running daemon through the CLI and the API on the wire: `ccbt peers`
//! and `ccbt files` show a download from a libtorrent seeder while it runs, a priority and the
//! limits change live, `list --state` filters; `PUT /api/v1/config` edits the daemon's config
//! file (comments kept) and applies it, refusing bad keys and values without touching the file;
//! an edit of the file itself is applied by the daemon's hot reload.

mod support;

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use support::{
    ccbt, interop, lt_info_hash, lt_make_torrent, lt_seed, poll_until, run_with_timeout, work_dir,
};
use support::{write_file, Finished, Kind, Tool, SETUP, TRANSFER};

/// A daemon started with `--config FILE` in its own state folder; killed if a test fails.
struct Daemon {
    state: PathBuf,
    config: PathBuf,
    log_dir: PathBuf,
}

impl Daemon {
    /// Starts a daemon on ports the system picks, trackers and DHT off, reading `config_text`.
    fn start(work: &Path, config_text: &str, extra: &[&str]) -> Daemon {
        let daemon =
            Daemon { state: work.join("state"), config: work.join("ccbt.toml"), log_dir: work.to_owned() };
        std::fs::write(&daemon.config, config_text).unwrap();
        let mut cmd = ccbt();
        cmd.args(["daemon", "start", "--api-port", "0", "--listen-port", "0", "--no-dht", "--no-trackers"])
            .args(["--log-level", "info", "--state-dir"])
            .arg(&daemon.state)
            .arg("--config")
            .arg(&daemon.config)
            .args(extra);
        let done = run_with_timeout("daemon-start", &mut cmd, work, SETUP);
        assert!(done.success(), "daemon start failed\n{}\n{}", done.describe(), daemon.log());
        daemon
    }

    /// `ccbt ARGS --state-dir STATE` to completion.
    fn ccbt(&self, args: &[&str]) -> Finished {
        let mut cmd = ccbt();
        cmd.args(args).arg("--state-dir").arg(&self.state);
        run_with_timeout(args[0], &mut cmd, &self.log_dir, SETUP)
    }

    /// `ccbt ARGS` that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let done = self.ccbt(args);
        assert!(done.success(), "ccbt {args:?} failed\n{}\n{}", done.describe(), self.log());
        done.stdout
    }

    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.state.join("daemon.log")).unwrap_or_default();
        format!("--- daemon.log ---\n{log}")
    }

    /// One API request on the wire: the status code and the JSON body.
    fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        let lock = std::fs::read_to_string(self.state.join("daemon.lock")).unwrap();
        let url = lock.lines().find_map(|l| l.strip_prefix("url ")).expect("url in the lock file").trim();
        let addr = url.strip_prefix("http://").unwrap();
        let token = std::fs::read_to_string(self.state.join("api_token")).unwrap();
        let body = body.unwrap_or("");
        let request = format!(
            "{method} /api/v1{path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            token.trim(),
            body.len()
        );
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (head, json) =
            answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer: {answer:?}"));
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{head}"));
        let json =
            if json.is_empty() { serde_json::Value::Null } else { serde_json::from_str(json).unwrap() };
        (status, json)
    }

    fn stop(&self) {
        let done = self.ccbt(&["daemon", "stop"]);
        assert!(done.success(), "daemon stop failed\n{}\n{}", done.describe(), self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let text = std::fs::read_to_string(self.state.join("daemon.lock")).unwrap_or_default();
        if let Some(pid) = text.lines().find_map(|l| l.strip_prefix("pid ")) {
            let _ = std::process::Command::new("kill").args(["-KILL", pid.trim()]).output();
        }
    }
}

#[test]
fn peers_files_and_limits_of_a_download_from_libtorrent() {
    if !interop("peers_files_and_limits_of_a_download_from_libtorrent", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    write_file(&w.join("src/album/a.bin"), 5, 400_000);
    write_file(&w.join("src/album/b.bin"), 6, 300_000);
    let torrent = w.join("album.torrent");
    lt_make_torrent(&w.join("src/album"), &torrent, 16 * 1024, Kind::V1);
    let info_hash = lt_info_hash(&torrent);
    let seeder = lt_seed(w, "lt-seed", &torrent, &w.join("src"), &[], &[]);
    // Slow (64 KiB/s): the download is still running while the peer list is read.
    let daemon = Daemon::start(w, "# the test's configuration\n", &["--down-limit", "64"]);
    let out = w.join("out");
    let peer = format!("127.0.0.1:{}", seeder.port);
    daemon.ok(&["add", torrent.to_str().unwrap(), "-o", out.to_str().unwrap(), "--peer", &peer]);

    let mut peers = String::new();
    let listed = poll_until(TRANSFER, || {
        peers = daemon.ccbt(&["peers", &info_hash[..12]]).stdout;
        peers.lines().any(|l| l.contains(&peer) && l.contains("100.0%"))
    });
    assert!(listed, "ccbt peers never showed the seeder {peer}:\n{peers}\n{}", daemon.log());
    assert!(peers.starts_with("ADDRESS"), "{peers}");
    let row = peers.lines().find(|l| l.contains(&peer)).unwrap();
    assert!(row.contains("-LT"), "libtorrent's peer id names its client: {row}");
    assert!(row.contains("seed"), "the seeder has every piece: {row}");

    let files = daemon.ok(&["files", &info_hash]);
    let rows: Vec<&str> = files.lines().collect();
    assert!(rows[0].contains("INDEX") && rows[0].contains("PRIORITY"), "{files}");
    assert!(rows.iter().any(|r| r.contains("album/a.bin") && r.contains("normal")), "{files}");
    let skipped = daemon.ok(&["files", &info_hash, "--priority", "1=skip"]);
    let b = skipped.lines().find(|l| l.contains("album/b.bin")).unwrap_or_else(|| panic!("{skipped}"));
    assert!(b.contains("skip"), "{skipped}");
    let bad = daemon.ccbt(&["files", &info_hash, "--priority", "7=high"]);
    assert!(!bad.success() && bad.stderr.contains("no file 7"), "{}", bad.describe());
    let bad = daemon.ccbt(&["files", &info_hash, "--priority", "0=urgent"]);
    assert!(!bad.success() && bad.stderr.contains("urgent"), "{}", bad.describe());

    let limits = daemon.ok(&["limits"]);
    assert!(limits.lines().next().unwrap().contains("(64 KiB/s)"), "{limits}");
    let torrent_limits = daemon.ok(&["limits", &info_hash, "--up", "32"]);
    assert!(
        torrent_limits.contains("upload:   ") && torrent_limits.contains("(32 KiB/s)"),
        "{torrent_limits}"
    );
    let unlimited = daemon.ok(&["limits", "--down", "0"]);
    assert!(unlimited.lines().next().unwrap().contains("unlimited"), "{unlimited}");
    assert!(daemon.ok(&["trackers", &info_hash]).contains("no trackers"));

    // With b.bin skipped the torrent completes on a.bin alone.
    let seeding = || daemon.ccbt(&["list", "--state", "seeding"]).stdout.contains(&info_hash);
    assert!(poll_until(TRANSFER, seeding), "never completed\n{}", daemon.log());
    assert_eq!(
        std::fs::read(out.join("album/a.bin")).unwrap(),
        std::fs::read(w.join("src/album/a.bin")).unwrap()
    );
    assert!(daemon.ok(&["list", "--state", "downloading,paused"]).contains("no torrents match"));
    assert!(daemon.ok(&["list", "--name", "ALBUM"]).contains(&info_hash));
    let bad = daemon.ccbt(&["list", "--state", "finished"]);
    assert!(!bad.success() && bad.stderr.contains("unknown state \"finished\""), "{}", bad.describe());
    daemon.stop();
}

#[test]
fn config_over_the_api_edits_the_file_and_applies_it_live() {
    let work = work_dir();
    let w = work.path();
    let daemon = Daemon::start(w, "# kept by every edit\n[limits]\nglobal_up_kib = 0 # up\n", &[]);

    let (status, config) = daemon.api("GET", "/config", None);
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["file"], daemon.config.to_str().unwrap());
    let entry = |config: &serde_json::Value, key: &str| {
        config["settings"].as_array().unwrap().iter().find(|e| e["key"] == key).cloned().unwrap()
    };
    let up = entry(&config, "limits.global_up_kib");
    assert_eq!((up["value"].as_u64(), up["apply"].as_str()), (Some(0), Some("live")), "{up}");
    assert!(up["origin"].as_str().unwrap().ends_with("ccbt.toml:3"), "{up}");
    assert_eq!(entry(&config, "network.listen_port")["origin"], "command line");
    assert!(entry(&config, "disk.preallocate")["value"].is_string());

    let body = r#"{"settings": {"limits.global_down_kib": 256, "global_up_kib": 128, "hash_workers": 3}}"#;
    let (status, set) = daemon.api("PUT", "/config", Some(body));
    assert_eq!(status, 200, "{set}\n{}", daemon.log());
    let change = |key: &str| {
        set["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("{key}: {set}"))
    };
    assert_eq!(change("limits.global_down_kib")["status"], "applied");
    assert_eq!(change("limits.global_up_kib")["status"], "applied");
    let restart = change("disk.hash_workers");
    assert_eq!(restart["status"], "restart_required", "{restart}");
    assert!(restart["message"].as_str().unwrap().contains("needs a restart"), "{restart}");
    let (_, limits) = daemon.api("GET", "/limits", None);
    assert_eq!(
        (limits["download"].as_u64(), limits["upload"].as_u64()),
        (Some(256 * 1024), Some(128 * 1024))
    );
    let text = std::fs::read_to_string(&daemon.config).unwrap();
    assert!(text.starts_with("# kept by every edit\n"), "{text}");
    assert!(text.contains("global_up_kib = 128 # up") && text.contains("global_down_kib = 256"), "{text}");
    assert!(text.contains("hash_workers = 3"), "{text}");
    let (_, again) = daemon.api("PUT", "/config", Some(r#"{"settings": {"global_up_kib": 128}}"#));
    assert_eq!(again["changes"][0]["status"], "unchanged", "{again}");

    for (body, code, named) in [
        (r#"{"settings": {"limits.global_dwon_kib": 1}}"#, "unknown_key", "global_dwon_kib"),
        (r#"{"settings": {"listen_port": "7000"}}"#, "invalid_value", "listen_port"),
        (r#"{"settings": {"global_down_kib": -5}}"#, "invalid_value", "global_down_kib"),
        (r#"{"settings": {"preallocate": "most"}}"#, "invalid_value", "preallocate"),
        (
            r#"{"settings": {"pipeline_depth": 5000, "global_down_kib": 1}}"#,
            "invalid_value",
            "pipeline_depth",
        ),
        (r#"{"settings": {"enable_pex": 1}}"#, "invalid_value", "enable_pex"),
        (r#"{"settings": []}"#, "invalid_json", "settings"),
    ] {
        let (status, error) = daemon.api("PUT", "/config", Some(body));
        assert_eq!((status, error["error"]["code"].as_str()), (400, Some(code)), "{body}: {error}");
        assert!(error["error"]["message"].as_str().unwrap().contains(named), "{body}: {error}");
    }
    assert_eq!(std::fs::read_to_string(&daemon.config).unwrap(), text, "a refused PUT wrote the file");
    assert_eq!(daemon.api("GET", "/limits", None).1["download"], 256 * 1024);

    // An edit of the file itself: the daemon's hot reload applies it.
    std::fs::write(&daemon.config, text.replace("global_up_kib = 128", "global_up_kib = 64")).unwrap();
    let reloaded = poll_until(TRANSFER, || daemon.api("GET", "/limits", None).1["upload"] == 64 * 1024);
    assert!(reloaded, "the daemon did not reload its file\n{}", daemon.log());
    assert!(daemon.log().contains("config: limits.global_up_kib = 64 applied"), "{}", daemon.log());

    // The CLI side of limits and its refusals.
    let set = daemon.ok(&["limits", "--down", "100"]);
    assert!(set.lines().next().unwrap().contains("(100 KiB/s)"), "{set}");
    let bad = daemon.ccbt(&["limits", "--down", "-5"]);
    assert_eq!(bad.code(), Some(2), "{}", bad.describe());
    let missing = daemon.ccbt(&["files", "abcd"]);
    assert!(!missing.success() && missing.stderr.contains("no torrent abcd"), "{}", missing.describe());
    let (status, list) = daemon.api("GET", "/checkpoints", None);
    assert_eq!((status, list["checkpoints"].as_array().map(Vec::len)), (200, Some(0)), "{list}");
    daemon.stop();
}
