//! Shared helpers for the `ccbt` integration and interop tests: paths, free ports, deterministic
//! content, file-tree comparison, torrents made by libtorrent and by `ccbt create`, and
//! seeders/leechers run as child processes that never outlive a test.
#![allow(dead_code)] // Each test binary uses its own subset.

pub mod bencode;
pub mod daemon_state;
pub mod discovery;
pub mod process;
pub mod swarm;
pub mod v2;

use std::io::Read as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

pub use process::{run_with_timeout, Finished, Proc};

/// Debian's python, which has the `libtorrent` module (the first `python3` on PATH may not).
pub const LT_PYTHON: &str = "/usr/bin/python3";
/// Time for a helper to start (make a torrent, hash-check, start listening).
pub const SETUP: Duration = Duration::from_secs(30);
/// Time for one transfer of the small test torrents; real runs take a few seconds.
pub const TRANSFER: Duration = Duration::from_secs(60);
/// Time a seeder gets to leave after SIGTERM.
pub const GRACE: Duration = Duration::from_secs(10);

/// A multi-file layout with a zero-length file, files that do not line up with pieces (at any
/// piece size from 16 to 64 KiB), nested folders and a short last piece.
pub const ODD_LAYOUT: &[(&str, u64)] = &[
    ("a.bin", 1_000_003),
    ("empty.txt", 0),
    ("sub/b.bin", 16_385),
    ("sub/deeper/c.bin", 3 * 1024 * 1024 + 7),
    ("d.bin", 1),
    ("z.bin", 500_000),
];

/// The workspace root (where `tests/interop/` lives).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// The folder of the real-client helper scripts.
pub fn interop_dir() -> PathBuf {
    repo_root().join("tests/interop")
}

/// A command running the ccbt binary under test.
pub fn ccbt() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ccbt"));
    // The user's environment must not change what the tests see, and state (the DHT routing
    // table, saved .torrent files) must not leak between runs or into the user's home.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CCBT_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("XDG_STATE_HOME", own_state_home());
    // Nor may the user's ccbt.toml (tests that want a file name it with --config or write one
    // into their own working folder).
    cmd.env("XDG_CONFIG_HOME", std::env::temp_dir().join("ccbt-tests-no-config"));
    cmd
}

/// A state home of its own for each ccbt started: a state folder holds one session at a time,
/// and tests run seeders and leechers at once. Folders of test processes that ended are
/// removed by the next test process.
fn own_state_home() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    static CLEANED: std::sync::Once = std::sync::Once::new();
    let base = std::env::temp_dir().join("ccbt-tests-state");
    CLEANED.call_once(|| {
        for entry in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let owner = name.strip_prefix('p').and_then(|rest| rest.split_once('-')).map(|(pid, _)| pid);
            if owner.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    base.join(format!("p{}-{n}", std::process::id()))
}

/// A fresh temporary folder for one test.
pub fn work_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("ccbt-it-").tempdir().expect("temp dir")
}

/// A TCP port that was free a moment ago (bind port 0 and release it). Only for programs that
/// cannot listen on port 0 and report the port themselves (aria2, Transmission).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_port_open(port: u16, proc: &mut Proc, timeout: Duration) {
    proc.wait_for(&format!("listening on port {port}"), timeout, |_, _| {
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).ok()
    });
}

/// Deterministic incompressible bytes (splitmix64), different for every `seed`.
pub fn gen_bytes(seed: u64, len: u64) -> Vec<u8> {
    let len = usize::try_from(len).expect("test data fits in memory");
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes one file of deterministic content, creating its folders.
pub fn write_file(path: &Path, seed: u64, len: u64) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create folder");
    }
    std::fs::write(path, gen_bytes(seed, len)).expect("write test data");
}

/// Writes `layout` (relative paths and sizes) under `root`; returns `root`.
pub fn write_tree(root: &Path, layout: &[(&str, u64)], seed: u64) -> PathBuf {
    std::fs::create_dir_all(root).expect("create content folder");
    for (i, (rel, len)) in layout.iter().enumerate() {
        write_file(&root.join(rel), seed.wrapping_add(i as u64 * 7919), *len);
    }
    root.to_owned()
}

/// Every regular file under `root`, as sorted relative paths.
pub fn list_files(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).expect("under root").to_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Asserts that `actual` holds exactly the files of `expected` (no more, no fewer) with the
/// same bytes; names the first differing file and offset. Works for single files too.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    if expected.is_file() {
        assert_same_file(expected, actual);
        return;
    }
    assert!(actual.is_dir(), "{} is not a folder", actual.display());
    let want = list_files(expected);
    let got = list_files(actual);
    assert_eq!(got, want, "files under {} differ from {}", actual.display(), expected.display());
    for rel in want {
        assert_same_file(&expected.join(&rel), &actual.join(&rel));
    }
}

fn assert_same_file(expected: &Path, actual: &Path) {
    let want = std::fs::read(expected).unwrap_or_else(|e| panic!("read {}: {e}", expected.display()));
    let got = std::fs::read(actual).unwrap_or_else(|e| panic!("read {}: {e}", actual.display()));
    if want != got {
        let at = want.iter().zip(&got).position(|(a, b)| a != b).unwrap_or(want.len().min(got.len()));
        panic!(
            "{} differs from {}: {} vs {} bytes, first difference at offset {at}",
            actual.display(),
            expected.display(),
            got.len(),
            want.len()
        );
    }
}

/// Whether the files under `actual` already equal those under `expected` (for polling a client
/// that never exits on its own).
pub fn same_tree(expected: &Path, actual: &Path) -> bool {
    if expected.is_file() {
        return std::fs::read(expected).ok() == std::fs::read(actual).ok();
    }
    if !actual.is_dir() || list_files(expected) != list_files(actual) {
        return false;
    }
    list_files(expected)
        .iter()
        .all(|rel| std::fs::read(expected.join(rel)).ok() == std::fs::read(actual.join(rel)).ok())
}

/// Which real clients a test needs.
#[derive(Clone, Copy, Debug)]
pub enum Tool {
    /// Debian's python3 with the libtorrent module (lt_*.py helpers).
    Libtorrent,
    /// A python3 for the stdlib-only helpers (lying_peer.py).
    Python,
    Aria2,
    Transmission,
}

/// Whether an interop test should run. With `CCBT_SKIP_INTEROP=1` it prints a note and returns
/// false; otherwise a missing client fails the test with the way to install it.
pub fn interop(test: &str, tools: &[Tool]) -> bool {
    if std::env::var("CCBT_SKIP_INTEROP").is_ok_and(|v| v == "1") {
        eprintln!("note: {test} skipped because CCBT_SKIP_INTEROP=1");
        return false;
    }
    for tool in tools {
        let (ok, what) = match tool {
            Tool::Libtorrent => (
                quiet_ok(Command::new(LT_PYTHON).args(["-c", "import libtorrent"])),
                "python3-libtorrent (for /usr/bin/python3)",
            ),
            Tool::Python => (quiet_ok(Command::new(LT_PYTHON).arg("--version")), "/usr/bin/python3"),
            Tool::Aria2 => (quiet_ok(Command::new("aria2c").arg("--version")), "aria2c"),
            Tool::Transmission => {
                (quiet_ok(Command::new("transmission-cli").arg("--version")), "transmission-cli")
            }
        };
        assert!(
            ok,
            "{test} needs {what}, which is missing: run scripts/install-test-deps.sh \
             (or set CCBT_SKIP_INTEROP=1 to skip the interop tests)"
        );
    }
    true
}

fn quiet_ok(cmd: &mut Command) -> bool {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Which kind of torrent libtorrent's creator makes.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    V1,
    Hybrid,
    /// BitTorrent v2 only (BEP 52).
    V2,
}

/// Makes a .torrent of `content` with libtorrent's creator (tests/interop/lt_make_torrent.py).
pub fn lt_make_torrent(content: &Path, out: &Path, piece_size: u32, kind: Kind) {
    let flag = match kind {
        Kind::V1 => "--v1-only",
        Kind::Hybrid => "--hybrid",
        Kind::V2 => "--v2-only",
    };
    let log_dir = out.parent().expect("torrent folder");
    let done = run_with_timeout(
        "lt_make_torrent",
        Command::new(LT_PYTHON)
            .arg(interop_dir().join("lt_make_torrent.py"))
            .arg("--path")
            .arg(content)
            .arg("--out")
            .arg(out)
            .args(["--piece-size", &piece_size.to_string(), flag]),
        log_dir,
        SETUP,
    );
    done.assert_success("lt_make_torrent.py");
}

/// Makes a .torrent of `content` with `ccbt create`; returns its stdout.
pub fn ccbt_create(content: &Path, out: &Path, piece_size: u32, extra: &[&str]) -> String {
    let log_dir = out.parent().expect("torrent folder");
    let done = run_with_timeout(
        "ccbt-create",
        ccbt()
            .arg("create")
            .arg(content)
            .arg("-o")
            .arg(out)
            .args(["--piece-size", &piece_size.to_string()])
            .args(extra),
        log_dir,
        SETUP,
    );
    done.assert_success("ccbt create");
    done.stdout
}

/// The v1 info hash libtorrent computes for a .torrent, as lower-case hex.
pub fn lt_info_hash(torrent: &Path) -> String {
    let script = "import sys, libtorrent as lt; print(lt.torrent_info(sys.argv[1]).info_hashes().v1)";
    lt_python(torrent, script)
}

/// Runs a libtorrent one-liner with the torrent path as `sys.argv[1]`; its trimmed stdout.
pub fn lt_python(torrent: &Path, script: &str) -> String {
    let log_dir = torrent.parent().expect("torrent folder");
    let done = run_with_timeout(
        "lt-python",
        Command::new(LT_PYTHON).args(["-c", script]).arg(torrent),
        log_dir,
        SETUP,
    );
    done.assert_success(&format!("libtorrent reading {}", torrent.display()));
    done.stdout.trim().to_owned()
}

/// `ccbt info` output of a torrent (asserts exit 0).
pub fn ccbt_info(torrent: &Path) -> String {
    let log_dir = torrent.parent().expect("torrent folder");
    let done = run_with_timeout("ccbt-info", ccbt().arg("info").arg(torrent), log_dir, SETUP);
    done.assert_success("ccbt info");
    done.stdout
}

/// The value of a `label:` line of `ccbt info` output.
pub fn info_field(info: &str, label: &str) -> String {
    info.lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in\n{info}"))
        .trim()
        .to_owned()
}

/// A seeder (or other listening helper) and the address it listens on.
pub struct Peer {
    pub proc: Proc,
    /// The loopback address it listens on (hostile helpers get their own 127.0.0.N).
    pub host: &'static str,
    pub port: u16,
}

impl Peer {
    /// `<host>:<port>`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The address a running ccbt session listens on, from its "session started" log line (the
/// command must log at info level).
pub fn wait_listen_addr(proc: &mut Proc) -> std::net::SocketAddr {
    proc.wait_for("session started", SETUP, |_, err| {
        let line = err.lines().find(|l| l.contains("session started"))?;
        line.split("listen_addr=").nth(1)?.split_whitespace().next()?.parse().ok()
    })
}

/// Runs tests/interop/lt_leech.py: libtorrent downloads `torrent` into `out` from `peer` alone,
/// and exits when done (or after [`TRANSFER`]).
pub fn lt_leech_from(work: &Path, torrent: &Path, out: &Path, peer: &str) -> Finished {
    run_with_timeout(
        "lt_leech",
        Command::new(LT_PYTHON)
            .arg(interop_dir().join("lt_leech.py"))
            .arg("--torrent")
            .arg(torrent)
            .arg("--out")
            .arg(out)
            .args(["--port", "0", "--peer", peer, "--timeout", &TRANSFER.as_secs().to_string()]),
        work,
        TRANSFER + GRACE,
    )
}

/// Starts libtorrent seeding `torrent` from `data` on a port of its choosing, dialling
/// `connect`, and waits for its ready file.
pub fn lt_seed(
    work: &Path,
    name: &str,
    torrent: &Path,
    data: &Path,
    connect: &[String],
    extra: &[&str],
) -> Peer {
    lt_seed_at("127.0.0.1", work, name, torrent, data, connect, extra)
}

/// [`lt_seed`] listening on (and connecting from) its own loopback address `host`.
pub fn lt_seed_at(
    host: &'static str,
    work: &Path,
    name: &str,
    torrent: &Path,
    data: &Path,
    connect: &[String],
    extra: &[&str],
) -> Peer {
    let ready = work.join(format!("{name}.ready"));
    let mut cmd = Command::new(LT_PYTHON);
    cmd.arg(interop_dir().join("lt_seed.py"))
        .arg("--torrent")
        .arg(torrent)
        .arg("--data")
        .arg(data)
        .args(["--host", host, "--port", "0", "--ready-file"])
        .arg(&ready)
        .args(extra);
    for c in connect {
        cmd.args(["--connect", c]);
    }
    let mut proc = Proc::spawn(name, &mut cmd, work);
    let port = wait_ready_file(&ready, &mut proc, SETUP);
    Peer { proc, host, port }
}

/// Waits for an lt_seed ready file (`READY <port>`) while its process is alive; the port.
pub fn wait_ready_file(path: &Path, proc: &mut Proc, timeout: Duration) -> u16 {
    proc.wait_for("READY", timeout, |_, _| {
        let mut text = String::new();
        std::fs::File::open(path).ok()?.read_to_string(&mut text).ok()?;
        text.trim().strip_prefix("READY ")?.parse().ok()
    })
}

/// Starts `ccbt seed` on a port the system picks and waits until it reports that every piece
/// is present and it is seeding; the port comes from that report.
pub fn ccbt_seed(work: &Path, name: &str, torrent: &Path, dir: &Path, peers: &[String]) -> Peer {
    let mut cmd = ccbt();
    cmd.arg("seed").arg(torrent).arg("-d").arg(dir).args(["--listen-port", "0", "--no-dht"]);
    for p in peers {
        cmd.args(["--peer", p]);
    }
    let mut proc = Proc::spawn(name, &mut cmd, work);
    let port = proc.wait_for("seeding", SETUP, |_, err| {
        let line = err.lines().find(|l| l.contains("present; seeding on port"))?;
        let tail = line.split("seeding on port ").nth(1)?;
        tail.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    });
    Peer { proc, host: "127.0.0.1", port }
}

/// The liar's own loopback address: ccbt bans by IP, and honest helpers use 127.0.0.1.
pub const LIAR_HOST: &str = "127.0.0.2";

/// Starts tests/interop/lying_peer.py serving `torrent` from `data`; `corrupt` is `all`,
/// `none` or piece numbers.
pub fn lying_peer(work: &Path, name: &str, torrent: &Path, data: &Path, corrupt: &str) -> Peer {
    let mut cmd = Command::new(LT_PYTHON);
    cmd.arg(interop_dir().join("lying_peer.py"))
        .arg("--torrent")
        .arg(torrent)
        .arg("--data")
        .arg(data)
        .args(["--host", LIAR_HOST, "--port", "0", "--corrupt", corrupt]);
    let mut proc = Proc::spawn(name, &mut cmd, work);
    let port = proc.wait_for("READY", SETUP, |out, _| {
        out.lines().find_map(|l| l.trim().strip_prefix("READY ")?.parse().ok())
    });
    Peer { proc, host: LIAR_HOST, port }
}

/// `ccbt download TORRENT -o OUT --listen-port 0 --peer ...` with a timeout.
pub fn ccbt_download(work: &Path, name: &str, torrent: &Path, out: &Path, peers: &[String]) -> Finished {
    let mut cmd = ccbt();
    cmd.arg("download").arg(torrent).arg("-o").arg(out).args(["--listen-port", "0", "--no-dht"]);
    for p in peers {
        cmd.args(["--peer", p]);
    }
    run_with_timeout(name, &mut cmd, work, TRANSFER)
}

/// Sleeps in small steps until `done()` or `timeout`; whether it became true.
pub fn poll_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(100));
    }
}

/// Stops a seeder or leecher with SIGTERM and asserts it exited cleanly (`what` names it).
pub fn stop_peer(peer: &mut Peer, what: &str) {
    let (status, clean) = peer.proc.terminate(GRACE);
    assert!(clean && status.success(), "{what} did not stop cleanly: {status}\n{}", peer.proc.logs());
}

/// Content for an interop test: `W/src/single.bin` (3 MiB and an odd tail) or the folder
/// `W/src/data` in [`ODD_LAYOUT`]; returns the content path.
pub fn odd_content(w: &Path, multi: bool, seed: u64) -> PathBuf {
    if multi {
        write_tree(&w.join("src/data"), ODD_LAYOUT, seed)
    } else {
        let file = w.join("src/single.bin");
        write_file(&file, seed, 3 * 1024 * 1024 + 4321);
        file
    }
}
