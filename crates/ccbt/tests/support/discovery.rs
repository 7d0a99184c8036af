//! Helpers for the peer-discovery interop tests: opentracker through tests/interop/tracker.py,
//! torrents with trackers or the private flag, libtorrent leechers and DHT nodes, the private
//! namespace network of scripts/netns.sh, and reading ccbt's debug log.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{free_port, interop_dir, repo_root, run_with_timeout, wait_ready_file, Proc, LT_PYTHON, SETUP};

/// Fails the test, pointing at scripts/install-test-deps.sh, unless `program` is on PATH
/// (e.g. `opentracker`, `ip`); call after `support::interop`, which honours CCBT_SKIP_INTEROP.
pub fn require_program(test: &str, program: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{test} needs {program} (Debian package {package}), which is missing: run \
         scripts/install-test-deps.sh (or set CCBT_SKIP_INTEROP=1 to skip the interop tests)"
    );
}

/// Makes a v1 .torrent of `content` with libtorrent's creator and extra lt_make_torrent.py
/// arguments (`--tracker URL`, `--private`, ...).
pub fn lt_make_torrent_with(content: &Path, out: &Path, piece_size: u32, extra: &[&str]) {
    let log_dir = out.parent().expect("torrent folder");
    let done = run_with_timeout(
        "lt_make_torrent",
        Command::new(LT_PYTHON)
            .arg(interop_dir().join("lt_make_torrent.py"))
            .arg("--path")
            .arg(content)
            .arg("--out")
            .arg(out)
            .args(["--piece-size", &piece_size.to_string(), "--v1-only"])
            .args(extra),
        log_dir,
        SETUP,
    );
    done.assert_success("lt_make_torrent.py");
}

/// opentracker (HTTP and UDP on one port) run by tests/interop/tracker.py.
pub struct Tracker {
    pub proc: Proc,
    pub host: String,
    pub port: u16,
}

impl Tracker {
    /// Starts opentracker on 127.0.0.1 allowing the hashes of `torrents` (Debian's build only
    /// answers for whitelisted info hashes) and waits until HTTP and UDP both answer.
    pub fn start(work: &Path, name: &str, torrents: &[&Path]) -> Tracker {
        // opentracker takes no port 0; retry a few times in case another test grabbed the port.
        let mut last = String::new();
        for attempt in 0..3 {
            let port = free_port();
            let ready = work.join(format!("{name}-{attempt}.ready"));
            let mut cmd = Command::new(LT_PYTHON);
            cmd.arg(interop_dir().join("tracker.py"))
                .args(["start", "--host", "127.0.0.1", "--port", &port.to_string(), "--ready-file"])
                .arg(&ready);
            for t in torrents {
                cmd.arg("--torrent").arg(t);
            }
            let mut proc = Proc::spawn(&format!("{name}-{attempt}"), &mut cmd, work);
            let started = super::poll_until(SETUP, || ready.exists() || proc.try_wait().is_some());
            if started && ready.exists() {
                return Tracker { proc, host: "127.0.0.1".into(), port };
            }
            last = proc.logs();
        }
        panic!("opentracker did not start (is the opentracker package installed? run scripts/install-test-deps.sh)\n{last}");
    }

    /// `http://HOST:PORT/announce`.
    pub fn http_url(&self) -> String {
        format!("http://{}:{}/announce", self.host, self.port)
    }

    /// `udp://HOST:PORT/announce`.
    pub fn udp_url(&self) -> String {
        format!("udp://{}:{}/announce", self.host, self.port)
    }

    /// What the tracker itself says about `info_hash` (40 hex digits), asked over HTTP scrape
    /// independently of ccbt: `(seeders, leechers, completed)`, or `None` if it lists nothing.
    pub fn scrape(&self, info_hash: &str) -> Option<ScrapeCounts> {
        let escaped: String =
            (0..info_hash.len()).step_by(2).map(|i| format!("%{}", &info_hash[i..i + 2])).collect();
        let request = format!("GET /scrape?info_hash={escaped} HTTP/1.0\r\nHost: {}\r\n\r\n", self.host);
        let mut stream = TcpStream::connect((self.host.as_str(), self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream.write_all(request.as_bytes()).ok()?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).ok()?;
        let body = String::from_utf8_lossy(&reply);
        let counts = ScrapeCounts {
            seeders: bencode_int_after(&body, "8:complete")?,
            leechers: bencode_int_after(&body, "10:incomplete")?,
            completed: bencode_int_after(&body, "10:downloaded")?,
        };
        Some(counts)
    }
}

/// Seeders, leechers and completed downloads of one torrent as a tracker counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScrapeCounts {
    pub seeders: u64,
    pub leechers: u64,
    pub completed: u64,
}

/// The integer right after `key` in a bencoded text (`...8:completei1e...` → 1).
fn bencode_int_after(text: &str, key: &str) -> Option<u64> {
    let rest = text.split(key).nth(1)?.strip_prefix('i')?;
    rest.split('e').next()?.parse().ok()
}

/// Parses `ccbt scrape` lines `URL: N seeders, M leechers, K completed` for `url`.
pub fn parse_ccbt_scrape(stdout: &str, url: &str) -> Option<ScrapeCounts> {
    let line = stdout.lines().find_map(|l| l.strip_prefix(url)?.strip_prefix(": "))?;
    let nums: Vec<u64> = line.split(", ").filter_map(|part| part.split(' ').next()?.parse().ok()).collect();
    match nums[..] {
        [seeders, leechers, completed] => Some(ScrapeCounts { seeders, leechers, completed }),
        _ => None,
    }
}

/// Starts tests/interop/lt_leech.py with `args` (it needs `--out`, `--port` and a source).
pub fn lt_leech(work: &Path, name: &str, args: &[&str]) -> Proc {
    let mut cmd = Command::new(LT_PYTHON);
    cmd.arg(interop_dir().join("lt_leech.py")).args(args);
    Proc::spawn(name, &mut cmd, work)
}

/// The latest `PEERS ...` line an lt helper printed with `--print-peers`.
pub fn last_peers_line(stdout: &str) -> Option<&str> {
    stdout.lines().rev().find(|l| l.starts_with("PEERS "))
}

/// A magnet link for `info_hash` with `x.pe` peers.
pub fn magnet(info_hash: &str, peers: &[String]) -> String {
    let mut uri = format!("magnet:?xt=urn:btih:{info_hash}");
    for p in peers {
        uri.push_str("&x.pe=");
        uri.push_str(p);
    }
    uri
}

/// The `addr=` values of the ccbt debug-log lines containing `message`, in log order.
pub fn logged_addrs(log: &str, message: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(message))
        .filter_map(|l| l.split("addr=").nth(1)?.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Whether ccbt's debug log shows a completed peer connection with `addr` (`IP:PORT`).
pub fn logged_peer_connected(log: &str, addr: &str) -> bool {
    logged_addrs(log, "peer connected").iter().any(|a| a == addr)
}

/// Whether ccbt's debug log shows a connection it dialled itself to `addr` (`IP:PORT`).
pub fn logged_outgoing_connection(log: &str, addr: &str) -> bool {
    let needle = format!("addr={addr} ");
    log.lines().any(|l| l.contains("peer connected") && l.contains(&needle) && l.contains("outgoing=true"))
}

/// Whether this process runs as root (needed for network namespaces).
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The namespace network of scripts/netns.sh (`ccbt-ns1..N` at 10.77.0.1..N/24); taken down
/// when dropped, also when the test panics.
pub struct Netns {
    log_dir: std::path::PathBuf,
}

impl Netns {
    /// `scripts/netns.sh up N`, starting from a clean network (a previous run killed hard may
    /// have left namespaces and their processes' sockets behind).
    pub fn up(hosts: u32, log_dir: &Path) -> Netns {
        let script = repo_root().join("scripts/netns.sh");
        run_with_timeout("netns-down-before", Command::new(&script).arg("down"), log_dir, SETUP)
            .assert_success("netns.sh down");
        let netns = Netns { log_dir: log_dir.to_owned() };
        run_with_timeout("netns-up", Command::new(&script).args(["up", &hosts.to_string()]), log_dir, SETUP)
            .assert_success("netns.sh up");
        netns
    }

    /// A command running `program` inside host `i` (`ip netns exec ccbt-nsI`).
    pub fn command(&self, i: u32, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &format!("ccbt-ns{i}")]).arg(program);
        cmd
    }

    /// The address of host `i`.
    pub fn addr(i: u32) -> String {
        format!("10.77.0.{i}")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let script = repo_root().join("scripts/netns.sh");
        let done = run_with_timeout("netns-down", Command::new(script).arg("down"), &self.log_dir, SETUP);
        if !done.success() {
            eprintln!("netns.sh down failed\n{}", done.describe());
        }
    }
}

/// Starts tests/interop/lt_dht_node.py with `args` (via `cmd`, e.g. inside a namespace) and
/// waits for its `READY <port>` ready file.
pub fn lt_dht_node(mut cmd: Command, work: &Path, name: &str, args: &[&str]) -> (Proc, u16) {
    let ready = work.join(format!("{name}.ready"));
    cmd.arg(interop_dir().join("lt_dht_node.py")).args(args).arg("--ready-file").arg(&ready);
    let mut proc = Proc::spawn(name, &mut cmd, work);
    let port = wait_ready_file(&ready, &mut proc, SETUP);
    (proc, port)
}
