//! Operations on the daemon's torrents through the CLI: a torrent and a magnet link added
//! `--paused` dial nobody until resumed (also after a daemon restart, which keeps them paused);
//! `ccbt recheck` finds a piece corrupted on disk and the torrent downloads it again from
//! libtorrent; `ccbt reannounce` reaches the tracker at once; `ccbt remove --delete-data`
//! deletes the torrent's files (created before a daemon restart) but not the user's file beside them.

mod support;

use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use support::daemon_state::StateDir;
use support::{ccbt_create, ccbt_info, info_field, interop, lt_info_hash, lt_make_torrent, lt_seed};
use support::{poll_until, work_dir, write_file, Kind, Tool, SETUP, TRANSFER};

/// A TCP listener standing in for a peer: it only counts who connects.
fn fake_peer() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

/// Whether a connection is waiting on `listener` now (taking it).
fn connected(listener: &TcpListener) -> bool {
    listener.accept().is_ok()
}

fn torrent_of(work: &Path, name: &str, len: u64, extra: &[&str]) -> (std::path::PathBuf, String) {
    let content = work.join("src").join(name);
    write_file(&content, 11, len);
    let torrent = work.join(format!("{name}.torrent"));
    ccbt_create(&content, &torrent, 16 * 1024, extra);
    let info_hash = info_field(&ccbt_info(&torrent), "info hash:");
    (torrent, info_hash)
}

#[test]
fn paused_adds_dial_nobody_until_resumed_and_stay_paused_across_a_restart() {
    let work = work_dir();
    let w = work.path();
    let (torrent, info_hash) = torrent_of(w, "p.bin", 200_000, &[]);
    let (peer_t, addr_t) = fake_peer();
    let (peer_m, addr_m) = fake_peer();
    let magnet_hash = "cd".repeat(20);
    // The peer is part of the link (x.pe), so the restored magnet link still knows it.
    let magnet = format!("magnet:?xt=urn:btih:{magnet_hash}&x.pe={addr_m}");
    let state = StateDir::new(w, "state");
    state.start("start-1");
    let out = w.join("out");
    let out_arg = out.to_str().unwrap();
    let added =
        state.ccbt("add", &["add", torrent.to_str().unwrap(), "-o", out_arg, "--paused", "--peer", &addr_t]);
    assert!(added.success(), "{}", added.describe());
    let added = state.ccbt("add-magnet", &["add", &magnet, "-o", out_arg, "--paused"]);
    assert!(added.success(), "{}", added.describe());
    assert!(poll_until(SETUP, || state.is(&info_hash, "paused")), "{}", state.log());
    assert!(state.is(&magnet_hash, "paused"), "{}", state.log());
    assert!(!connected(&peer_t) && !connected(&peer_m), "a paused torrent dialled a peer\n{}", state.log());

    state.stop("stop-1");
    state.start("start-2");
    assert!(
        poll_until(SETUP, || state.is(&info_hash, "paused")),
        "not paused after the restart\n{}",
        state.log()
    );
    assert!(
        state.is(&magnet_hash, "paused"),
        "the magnet link is not paused after the restart\n{}",
        state.log()
    );
    assert!(!connected(&peer_m), "a restored paused magnet link dialled its peer\n{}", state.log());

    let resumed = state.ccbt("resume-magnet", &["resume", &magnet_hash]);
    assert!(resumed.success(), "{}", resumed.describe());
    assert!(poll_until(SETUP, || connected(&peer_m)), "no metadata connection after resume\n{}", state.log());
    // The .torrent's peer was given at the add, and is not part of its checkpoint: add it again.
    let resumed = state.ccbt("resume", &["resume", &info_hash]);
    assert!(resumed.success(), "{}", resumed.describe());
    assert!(poll_until(SETUP, || state.is(&info_hash, "downloading")), "{}", state.log());
    state.stop("stop-2");

    // A fresh add with the peer, resumed without a restart: the peer is dialled.
    let state = StateDir::new(w, "state-b");
    let out_b = w.join("out-b");
    state.start("start-b");
    let added = state.ccbt(
        "add-b",
        &["add", torrent.to_str().unwrap(), "-o", out_b.to_str().unwrap(), "--paused", "--peer", &addr_t],
    );
    assert!(added.success(), "{}", added.describe());
    assert!(poll_until(SETUP, || state.is(&info_hash, "paused")), "{}", state.log());
    assert!(!connected(&peer_t), "a paused torrent dialled its peer\n{}", state.log());
    let resumed = state.ccbt("resume-b", &["resume", &info_hash]);
    assert!(resumed.success(), "{}", resumed.describe());
    assert!(poll_until(SETUP, || connected(&peer_t)), "no connection after resume\n{}", state.log());
    state.stop("stop-b");
}

#[test]
fn recheck_finds_a_corrupted_piece_and_downloads_it_again_from_libtorrent() {
    if !interop("recheck_finds_a_corrupted_piece_and_downloads_it_again_from_libtorrent", &[Tool::Libtorrent])
    {
        return;
    }
    let work = work_dir();
    let w = work.path();
    write_file(&w.join("src/movie.bin"), 3, 700_000);
    let torrent = w.join("movie.torrent");
    lt_make_torrent(&w.join("src/movie.bin"), &torrent, 16 * 1024, Kind::V1);
    let info_hash = lt_info_hash(&torrent);
    let _seeder = {
        let seeder = lt_seed(w, "lt-seed", &torrent, &w.join("src"), &[], &[]);
        let state = StateDir::new(w, "state");
        (seeder, state)
    };
    let (seeder, state) = _seeder;
    state.start("start");
    let out = w.join("out");
    let peer = format!("127.0.0.1:{}", seeder.port);
    let added =
        state.ccbt("add", &["add", torrent.to_str().unwrap(), "-o", out.to_str().unwrap(), "--peer", &peer]);
    assert!(added.success(), "{}", added.describe());
    assert!(poll_until(TRANSFER, || state.is(&info_hash, "seeding")), "never completed\n{}", state.log());

    // Piece 5 changes on disk behind ccbt's back.
    let file = out.join("movie.bin");
    let mut f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    f.seek(SeekFrom::Start(5 * 16 * 1024 + 100)).unwrap();
    f.write_all(b"not what the torrent says").unwrap();
    f.sync_all().unwrap();
    drop(f);
    let rechecked = state.ccbt("recheck", &["recheck", &info_hash[..12]]);
    assert!(rechecked.success() && rechecked.stdout.contains("rechecking"), "{}", rechecked.describe());
    let reported = || state.log().lines().any(|l| l.contains("recheck done") && l.contains("lost=1"));
    assert!(poll_until(SETUP, reported), "the recheck did not report one lost piece\n{}", state.log());
    assert!(
        poll_until(TRANSFER, || state.is(&info_hash, "seeding")),
        "piece 5 never came back\n{}",
        state.log()
    );
    assert_eq!(std::fs::read(&file).unwrap(), std::fs::read(w.join("src/movie.bin")).unwrap());
    state.stop("stop");
}

/// An HTTP tracker that answers every announce with no peers and counts them.
struct FakeTracker {
    url: String,
    announces: Arc<AtomicUsize>,
    events: Arc<Mutex<Vec<String>>>,
}

impl FakeTracker {
    fn start() -> FakeTracker {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/announce", listener.local_addr().unwrap());
        let announces = Arc::new(AtomicUsize::new(0));
        let events = Arc::new(Mutex::new(Vec::new()));
        let (count, log) = (announces.clone(), events.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(line) = answer(stream) {
                    count.fetch_add(1, Ordering::SeqCst);
                    log.lock().unwrap().push(line);
                }
            }
        });
        FakeTracker { url, announces, events }
    }

    fn count(&self) -> usize {
        self.announces.load(Ordering::SeqCst)
    }
}

/// Reads one request and answers it; its request line when it was an announce.
fn answer(mut stream: TcpStream) -> Option<String> {
    stream.set_read_timeout(Some(SETUP)).ok()?;
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&request).lines().next()?.to_owned();
    let body = b"d8:intervali1800e5:peers0:e";
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    line.starts_with("GET /announce").then_some(line)
}

#[test]
fn reannounce_reaches_the_tracker_and_delete_data_keeps_the_users_file() {
    let work = work_dir();
    let w = work.path();
    let tracker = FakeTracker::start();
    let (torrent, info_hash) = torrent_of(w, "t.bin", 300_000, &["--tracker", &tracker.url]);
    let dl = w.join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    std::fs::write(dl.join("notes.txt"), b"the user's").unwrap();
    let state = StateDir::new(w, "state");
    state.start_with("start-1", true);
    let added = state.ccbt("add", &["add", torrent.to_str().unwrap(), "-o", dl.to_str().unwrap()]);
    assert!(added.success(), "{}", added.describe());
    assert!(poll_until(SETUP, || tracker.count() >= 1), "no first announce\n{}", state.log());
    assert!(state.is(&info_hash, "downloading"), "{}", state.log());
    let before = tracker.count();
    let again = state.ccbt("reannounce", &["reannounce", &info_hash]);
    assert!(again.success(), "{}", again.describe());
    assert!(
        poll_until(SETUP, || tracker.count() > before),
        "the reannounce never reached the tracker: {:?}\n{}",
        tracker.events.lock().unwrap(),
        state.log()
    );

    let paused = state.ccbt("pause", &["pause", &info_hash]);
    assert!(paused.success(), "{}", paused.describe());
    let refused = state.ccbt("reannounce-paused", &["reannounce", &info_hash]);
    assert_eq!(refused.code(), Some(1), "{}", refused.describe());
    assert!(refused.stderr.contains("paused"), "{}", refused.describe());

    assert!(dl.join("t.bin").exists(), "ccbt created the torrent's file");
    // After a restart the file is one ccbt opened, not created: the record still says whose it is.
    state.stop("stop-1");
    state.start_with("start-2", true);
    assert!(poll_until(SETUP, || state.is(&info_hash, "paused")), "{}", state.log());
    let removed = state.ccbt("remove", &["remove", &info_hash, "--delete-data"]);
    assert!(removed.success(), "{}", removed.describe());
    assert!(removed.stdout.contains("deleted ") && removed.stdout.contains("t.bin"), "{}", removed.stdout);
    assert!(!dl.join("t.bin").exists(), "the torrent's file must go");
    assert_eq!(std::fs::read(dl.join("notes.txt")).unwrap(), b"the user's", "the user's file must stay");
    let list = state.ccbt("list", &["list"]);
    assert!(list.stdout.contains("no torrents"), "{}", list.describe());
    state.stop("stop-2");
}
