//! Per-peer tracing against libtorrent: two seeders on their own loopback addresses, ccbt
//! downloading from both. `enable_peer_tracing` gives each its own trace file, naming that peer
//! only and holding between them every block; `ccbt peers trace` on the daemon traces the one
//! peer asked for, from its handshake to the end of its connection, and nothing of the other.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use support::daemon_state::StateDir;
use support::{
    assert_same_tree, interop, lt_info_hash, lt_make_torrent, lt_seed_at, poll_until, run_with_timeout,
    work_dir, write_file, Kind, Peer, Tool, SETUP, TRANSFER,
};

const HOST_A: &str = "127.0.0.2";
const HOST_B: &str = "127.0.0.3";
const PIECE: u32 = 64 * 1024;
const LEN: u64 = 4 * 1024 * 1024 + 1234;
const BLOCK: u64 = 16 * 1024;

/// The content, its torrent and its info hash; two libtorrent seeders of it.
fn swarm(w: &Path) -> (PathBuf, PathBuf, String, Peer, Peer) {
    let content = w.join("src/payload.bin");
    write_file(&content, 77, LEN);
    let torrent = w.join("t.torrent");
    lt_make_torrent(&content, &torrent, PIECE, Kind::V1);
    let info_hash = lt_info_hash(&torrent);
    let a = lt_seed_at(HOST_A, w, "lt-seed-a", &torrent, &w.join("src"), &[], &[]);
    let b = lt_seed_at(HOST_B, w, "lt-seed-b", &torrent, &w.join("src"), &[], &[]);
    (content, torrent, info_hash, a, b)
}

/// One API request on the wire (`path` under `/api/v1`): the status code and the body.
fn api(state: &StateDir, method: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let lock = std::fs::read_to_string(state.path.join("daemon.lock")).unwrap();
    let url = lock.lines().find_map(|l| l.strip_prefix("url ")).expect("url in the lock file").trim();
    let addr = url.strip_prefix("http://").unwrap();
    let token = std::fs::read_to_string(state.path.join("api_token")).unwrap();
    let request = format!(
        "{method} /api/v1{path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        token.trim()
    );
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer: {answer:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    (status, body.to_owned())
}

/// `(index, begin, length)` of the lines `<time> <dir> <kind> index=I begin=B length=L`.
fn blocks(trace: &str, dir: &str, kind: &str) -> Vec<(u64, u64, u64)> {
    let prefix = format!("{dir} {kind} ");
    trace
        .lines()
        .filter_map(|line| {
            let rest = line.split_once(' ')?.1.strip_prefix(&prefix)?;
            let field = |name: &str| -> Option<u64> {
                rest.split_whitespace().find_map(|f| f.strip_prefix(name)?.strip_prefix('='))?.parse().ok()
            };
            Some((field("index")?, field("begin")?, field("length")?))
        })
        .collect()
}

/// Checks a trace file of the peer `own`: every line stamped, its handshakes both ways, pieces
/// only as answers to its own requests, and no word of `other`. The received blocks.
fn check_trace(trace: &str, own: &str, other: &str) -> Vec<(u64, u64, u64)> {
    for line in trace.lines() {
        let mut words = line.split(' ');
        let time = words.next().unwrap_or_default();
        assert!(
            time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "unstamped line {line:?}"
        );
        assert!(matches!(words.next(), Some("send" | "recv" | "note")), "no direction in {line:?}");
        assert!(!line.contains(other), "the trace of {own} names {other}: {line:?}");
    }
    assert!(trace.contains(&format!("note connection established (outgoing) with {own}")), "{trace}");
    let sent_hs = trace.find(" send handshake info_hash=").expect("our handshake is traced");
    let recv_hs = trace.find(" recv handshake info_hash=").expect("the peer's handshake is traced");
    assert!(sent_hs < recv_hs, "an outgoing connection sends its handshake first");
    assert!(trace.contains(" recv extension_handshake m={"), "{trace}");
    assert!(trace.contains(" send extension_handshake m={"), "{trace}");
    assert!(trace.contains(" send interested"), "{trace}");
    let requested: HashSet<_> = blocks(trace, "send", "request").into_iter().collect();
    let received = blocks(trace, "recv", "piece");
    for block in &received {
        assert!(requested.contains(block), "a piece {block:?} never requested from {own}");
    }
    received
}

/// Every block of the torrent is in `received`, which holds nothing else.
fn assert_every_block(received: &HashSet<(u64, u64, u64)>) {
    let mut expected = HashSet::new();
    for start in (0..LEN).step_by(BLOCK as usize) {
        let piece = start / u64::from(PIECE);
        expected.insert((piece, start - piece * u64::from(PIECE), BLOCK.min(LEN - start)));
    }
    assert_eq!(received, &expected, "the traces do not hold exactly the torrent's blocks");
}

#[test]
fn enable_peer_tracing_writes_one_file_per_peer_with_its_own_messages() {
    if !interop("enable_peer_tracing_writes_one_file_per_peer_with_its_own_messages", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let (content, torrent, info_hash, a, b) = swarm(w);
    let state = w.join("state");
    let out = w.join("out");
    let mut cmd = support::ccbt();
    cmd.arg("download").arg(&torrent).arg("-o").arg(&out).args(["--listen-port", "0", "--no-dht"]);
    cmd.args(["--peer", &a.addr(), "--peer", &b.addr(), "--state-dir"]).arg(&state);
    cmd.env("CCBT_ENABLE_PEER_TRACING", "true");
    run_with_timeout("ccbt-download", &mut cmd, w, TRANSFER).assert_success("ccbt download with tracing");
    assert_same_tree(&content, &out.join("payload.bin"));

    let dir = state.join("traces").join(&info_hash);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let expected = [format!("{HOST_A}_{}.log", a.port), format!("{HOST_B}_{}.log", b.port)];
    assert_eq!(names, expected, "one trace file per peer");
    let mut all = HashSet::new();
    for (peer, other) in [(&a, &b), (&b, &a)] {
        let trace = std::fs::read_to_string(dir.join(format!("{}_{}.log", peer.host, peer.port))).unwrap();
        // The download ends the session: each connection says how it ended.
        assert!(trace.contains(" note connection closed: "), "{trace}");
        all.extend(check_trace(&trace, &peer.addr(), &other.addr()));
    }
    assert_every_block(&all);
}

#[test]
fn peers_trace_on_the_daemon_traces_the_one_peer_asked_for() {
    if !interop("peers_trace_on_the_daemon_traces_the_one_peer_asked_for", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let (content, torrent, info_hash, a, b) = swarm(w);
    let state = StateDir::new(w, "state");
    state.start("start");
    let out = w.join("out");
    let (t, o) = (torrent.to_str().unwrap(), out.to_str().unwrap());
    let added = state.ccbt("add", &["add", t, "-o", o, "--paused", "--peer", &a.addr(), "--peer", &b.addr()]);
    assert!(added.success(), "{}", added.describe());
    assert!(poll_until(SETUP, || state.is(&info_hash, "paused")), "{}", state.log());

    // Bad input is refused with the reason, by the CLI and by the API.
    let bad = state.ccbt("trace-bad", &["peers", "trace", &info_hash, "not-an-address"]);
    assert!(!bad.success() && bad.stderr.contains("is not a peer address"), "{}", bad.describe());
    let unknown = state.ccbt("trace-unknown", &["peers", "trace", &"0".repeat(40), &a.addr()]);
    assert!(!unknown.success() && unknown.stderr.contains("no torrent"), "{}", unknown.describe());

    let route = |addr: &str| format!("/torrents/{info_hash}/peers/{addr}/trace");
    let (status, body) = api(&state, "POST", &route("not-an-address"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_peer_address") && body.contains("not-an-address"), "{body}");
    let (status, body) = api(&state, "DELETE", &route("192.0.2.9:1"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"tracing\":false") && body.contains("\"was_tracing\":false"), "{body}");
    // An IPv6 address, brackets percent-encoded: its file name has no `:`.
    let (status, body) = api(&state, "POST", &route("%5B2001%3Adb8%3A%3A7%5D:6881"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("2001-db8--7_6881.log") && body.contains("\"tracing\":true"), "{body}");
    let (status, body) = api(&state, "DELETE", &route("%5B2001:db8::7%5D:6881"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"was_tracing\":true"), "{body}");

    // Traced before the connection exists: from its handshake on.
    let traced = state.ccbt("trace", &["peers", "trace", &info_hash[..8], &a.addr()]);
    assert!(traced.success(), "{}", traced.describe());
    let path = PathBuf::from(traced.stdout.trim());
    let expected = state.path.join("traces").join(&info_hash).join(format!("{HOST_A}_{}.log", a.port));
    assert_eq!(path, expected);
    // `ccbt peers IH` keeps working beside the subcommand.
    let listed = state.ccbt("peers", &["peers", &info_hash]);
    assert!(listed.success() && listed.stdout.contains("no connected peers"), "{}", listed.describe());

    let resumed = state.ccbt("resume", &["resume", &info_hash]);
    assert!(resumed.success(), "{}", resumed.describe());
    assert!(poll_until(TRANSFER, || state.is(&info_hash, "seeding")), "{}", state.log());
    assert_same_tree(&content, &out.join("payload.bin"));
    // Both sides are seeds now: the connection ends, and its trace says so.
    let closed = || std::fs::read_to_string(&path).is_ok_and(|t| t.contains(" note connection closed: "));
    assert!(poll_until(SETUP, closed), "{:?}\n{}", std::fs::read_to_string(&path), state.log());
    let trace = std::fs::read_to_string(&path).unwrap();
    let received = check_trace(&trace, &a.addr(), &b.addr());
    assert!(trace.contains("note connection closed: both sides are seeds"), "{trace}");
    assert!(!received.is_empty(), "no piece from {} in its trace\n{trace}", a.addr());
    assert!(received.iter().all(|&(_, _, len)| len > 0 && len <= BLOCK), "{trace}");
    let files: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(files.len(), 1, "only the peer asked for is traced");

    let stopped = state.ccbt("trace-stop", &["peers", "trace", &info_hash, &a.addr(), "--stop"]);
    assert!(stopped.success() && stopped.stdout.contains("stopped"), "{}", stopped.describe());
    state.stop("stop");
}
