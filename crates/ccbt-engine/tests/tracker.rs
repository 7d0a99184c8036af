//! Peers find each other through a real tracker (opentracker, Debian package) over HTTP and UDP,
//! and scrape counts match.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::Duration;

use ccbt_engine::{AddTorrent, Session};
use common::*;

/// A running opentracker on 127.0.0.1, killed on drop.
struct Opentracker {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Opentracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts opentracker (HTTP and UDP on one port) serving `info_hash`, or returns None when the
/// test environment explicitly skips interop tests (CCBT_SKIP_INTEROP=1). A missing binary
/// otherwise fails the test.
///
/// Debian builds opentracker in whitelist mode: it serves only the hashes in its access list,
/// which it reads from its working folder after dropping to the user `nobody` (so the folder and
/// file must be world-readable), in a background thread: wait until a scrape is accepted.
async fn start_opentracker_on(port: u16, info_hash: ccbt_core::InfoHash) -> Option<Opentracker> {
    if std::env::var_os("CCBT_SKIP_INTEROP").is_some_and(|v| v == "1") {
        eprintln!("CCBT_SKIP_INTEROP=1: skipping the opentracker test");
        return None;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let list = dir.path().join("whitelist.txt");
    std::fs::write(&list, format!("{}\n", info_hash.to_hex())).unwrap();
    std::fs::set_permissions(&list, std::fs::Permissions::from_mode(0o644)).unwrap();
    let child = Command::new("opentracker")
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-P", &port.to_string()])
        .args(["-w", "whitelist.txt", "-A", "127.0.0.1", "-d"])
        .arg(dir.path())
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("opentracker is not installed: run scripts/install-test-deps.sh");
    let tracker = Opentracker { child, _dir: dir };
    for _ in 0..100 {
        if whitelisted(port, &info_hash) {
            return Some(tracker);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("opentracker did not start serving on port {port}");
}

/// One HTTP GET to the tracker; the body of the answer.
fn http_get(port: u16, path_and_query: &str) -> Option<Vec<u8>> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(format!("GET {path_and_query} HTTP/1.0\r\n\r\n").as_bytes()).ok()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    let start = answer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    answer.get(start..).map(<[u8]>::to_vec)
}

/// Whether opentracker accepts announces for `hash` yet. The probe peer announces `started`
/// and leaves with `stopped`, so the swarm counts stay untouched.
fn whitelisted(port: u16, hash: &ccbt_core::InfoHash) -> bool {
    let mut query = String::from("/announce?info_hash=");
    ccbt_tracker::percent_encode_to(hash.as_bytes(), &mut query);
    query.push_str("&peer_id=-probe-probe-probe--&port=1&uploaded=0&downloaded=0&left=1&compact=1");
    let Some(body) = http_get(port, &format!("{query}&event=started")) else { return false };
    let accepted = ccbt_tracker::parse_announce(&body).is_ok();
    let _ = http_get(port, &format!("{query}&event=stopped"));
    accepted
}

async fn find_each_other_through(scheme: &str) {
    let port = free_port();
    let url = format!("{scheme}://127.0.0.1:{port}/announce");
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let files = [("a.bin", data(300_000, 11)), ("b.bin", data(123_457, 12))];
    let torrent = make_torrent_with_trackers(src.path(), "tracked", &files, 32768, vec![vec![url.clone()]]);
    let Some(_tracker) = start_opentracker_on(port, torrent.info_hash).await else { return };

    let seeder = Session::new(options()).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(30)).await;

    // No --peer: the leecher only knows the tracker.
    let leecher = Session::new(options()).await.unwrap();
    let lid = leecher.add_torrent(AddTorrent::new(torrent.clone()).save_path(dst.path())).await.unwrap();
    wait_complete(&leecher, lid, Duration::from_secs(60)).await;
    // Tracker status is refreshed once a second.
    let mut trackers = leecher.trackers(lid).unwrap();
    for _ in 0..30 {
        if trackers.first().is_some_and(|t| t.peers_received >= 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        trackers = leecher.trackers(lid).unwrap();
    }
    assert_eq!(trackers.len(), 1);
    assert_eq!(trackers[0].url, url);
    assert!(trackers[0].peers_received >= 1, "{trackers:?}");

    // Both announced (the leecher announced `completed`): two seeders on the tracker.
    let mut scraped = None;
    for _ in 0..50 {
        let s = Session::scrape(&url, torrent.info_hash).await.unwrap();
        if s.complete >= 2 {
            scraped = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let scraped = scraped.expect("scrape never showed two seeders");
    assert_eq!(scraped.incomplete, 0, "{scraped:?}");
    leecher.shutdown().await;
    seeder.shutdown().await;
    assert_same_files(&torrent, src.path(), dst.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_find_each_other_over_http_tracker() {
    find_each_other_through("http").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_find_each_other_over_udp_tracker() {
    find_each_other_through("udp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_of_an_unreachable_tracker_is_a_named_error() {
    let port = free_port();
    let url = format!("udp://127.0.0.1:{port}/announce");
    let started = std::time::Instant::now();
    let err =
        tokio::time::timeout(Duration::from_secs(120), Session::scrape(&url, ccbt_core::InfoHash([1; 20])))
            .await
            .expect("scrape must give up on its own");
    let err = err.unwrap_err().to_string();
    assert!(err.contains(&url), "{err}");
    eprintln!("gave up after {:?}: {err}", started.elapsed());
}
