//! The tracker driver against a real opentracker (Debian package, installed by
//! scripts/install-test-deps.sh): HTTP and UDP announces, scrape counts, `stopped`.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ccbt_core::{InfoHash, PeerId};
use ccbt_tracker::ScrapeStats;
use tokio::sync::mpsc;

use super::*;

mod session;

/// One opentracker on a free loopback port (HTTP and UDP on the same number), killed on drop.
struct Opentracker {
    port: u16,
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
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Whether opentracker answers a BEP 15 connect on `port`.
fn udp_ready(port: u16) -> bool {
    let Ok(s) = UdpSocket::bind("127.0.0.1:0") else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let packet = ccbt_tracker::udp::encode_connect(0x0ccb_7000);
    if s.send_to(&packet, ("127.0.0.1", port)).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(s.recv(&mut buf), Ok(n) if n >= 16 && buf[4..8] == 0x0ccb_7000u32.to_be_bytes())
}

/// One blocking HTTP/1.0 GET to opentracker; the body, if it answered.
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

/// Whether opentracker has loaded its access list and accepts `hash`: it reads the list in a
/// thread of its own, so the sockets answer before announces are authorised. The probe peer
/// announces `started` and leaves again with `stopped`, so swarm counts stay untouched.
fn whitelisted(port: u16, hash: &InfoHash) -> bool {
    let mut query = String::from("/announce?info_hash=");
    ccbt_tracker::percent_encode_to(hash.as_bytes(), &mut query);
    query.push_str("&peer_id=-probe-probe-probe--&port=1&uploaded=0&downloaded=0&left=1&compact=1");
    let Some(body) = http_get(port, &format!("{query}&event=started")) else { return false };
    let accepted = ccbt_tracker::parse_announce(&body).is_ok();
    let _ = http_get(port, &format!("{query}&event=stopped"));
    accepted
}

impl Opentracker {
    /// Starts opentracker serving `hashes` (Debian builds it in whitelist mode), or `None` when
    /// the interop tests are skipped with `CCBT_SKIP_INTEROP=1`.
    fn start(hashes: &[InfoHash]) -> Option<Opentracker> {
        if std::env::var_os("CCBT_SKIP_INTEROP").is_some_and(|v| v == "1") {
            eprintln!("note: opentracker test skipped because CCBT_SKIP_INTEROP=1");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        // opentracker chroots into its directory and drops to "nobody" when run as root.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let list: String = hashes.iter().map(|h| format!("{}\n", h.to_hex())).collect();
        let list_path = dir.path().join("whitelist.txt");
        std::fs::write(&list_path, list).unwrap();
        std::fs::set_permissions(&list_path, std::fs::Permissions::from_mode(0o644)).unwrap();
        for _ in 0..5 {
            let port = free_port();
            let spawned = Command::new("opentracker")
                .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-P", &port.to_string()])
                .args(["-w", "whitelist.txt", "-A", "127.0.0.1", "-d"])
                .arg(dir.path())
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let mut child = match spawned {
                Ok(c) => c,
                Err(e) => panic!(
                    "opentracker cannot be started ({e}): run scripts/install-test-deps.sh \
                     (or set CCBT_SKIP_INTEROP=1 to skip the interop tests)"
                ),
            };
            for _ in 0..100 {
                if udp_ready(port) && hashes.iter().all(|h| whitelisted(port, h)) {
                    return Some(Opentracker { port, child, _dir: dir });
                }
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // Lost a race for the port (or a slow start): try another one.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("opentracker did not come up");
    }

    fn http(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }

    fn udp(&self) -> String {
        format!("udp://127.0.0.1:{}/announce", self.port)
    }
}

fn hash(n: u8) -> InfoHash {
    InfoHash([n; 20])
}

fn peer_id(n: u8) -> PeerId {
    PeerId([n; 20])
}

fn start(
    url: &str,
    hash: InfoHash,
    id: u8,
    port: u16,
    left: u64,
) -> (AnnouncerHandle, mpsc::Receiver<Vec<SocketAddr>>) {
    let (tx, rx) = mpsc::channel(16);
    let target =
        AnnounceTarget { tiers: vec![vec![url.to_owned()]], info_hash: hash, peer_id: peer_id(id), port };
    // Quick retries, in case the machine is slow and a first announce gets lost.
    let options =
        AnnouncerOptions { backoff_base: Duration::from_millis(200), ..AnnouncerOptions::default() };
    let handle = spawn_announcer(target, options, move || TrackerStats { left, ..Default::default() }, tx);
    (handle, rx)
}

/// Waits until the announcer's first round succeeded (a next announce is scheduled, no error).
async fn wait_announced(handle: &AnnouncerHandle) {
    for _ in 0..200 {
        let status = handle.status();
        if status.iter().any(|s| s.next_announce_in.is_some() && s.last_error.is_none()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("announcer never succeeded: {:?}", handle.status());
}

async fn next_peers(rx: &mut mpsc::Receiver<Vec<SocketAddr>>) -> Vec<SocketAddr> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no peers in time")
        .expect("channel closed")
}

async fn scrape_eventually(url: &str, hash: InfoHash, want: ScrapeStats) {
    let mut last = None;
    for _ in 0..40 {
        let got = scrape(url, hash).await.unwrap();
        if (got.complete, got.incomplete) == (want.complete, want.incomplete) {
            return;
        }
        last = Some(got);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("scrape of {url} never reached {want:?}: last {last:?}");
}

/// A seeder and a leecher find each other through `url`; the counts and `stopped` show in scrapes.
async fn swarm_through(tracker: &Opentracker, url: &str, h: InfoHash) {
    let (seeder, _seeder_rx) = start(url, h, 1, 1111, 0);
    wait_announced(&seeder).await;
    let (leecher, mut leecher_rx) = start(url, h, 2, 2222, 100);
    let peers = next_peers(&mut leecher_rx).await;
    assert!(peers.contains(&"127.0.0.1:1111".parse().unwrap()), "{peers:?}");
    wait_announced(&leecher).await;
    let status = leecher.status();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].url, url);
    assert!(status[0].peers_received >= 1);
    assert!(status[0].next_announce_in.unwrap() > Duration::from_secs(60));

    let counts = |complete, incomplete| ScrapeStats { complete, incomplete, downloaded: 0 };
    for scrape_url in [tracker.http(), tracker.udp()] {
        scrape_eventually(&scrape_url, h, counts(1, 1)).await;
    }
    seeder.stop().await;
    scrape_eventually(url, h, counts(0, 1)).await;
    leecher.stop().await;
    scrape_eventually(url, h, counts(0, 0)).await;
}

#[tokio::test]
async fn http_announces_find_each_other_and_stop_leaves() {
    let h = hash(0x41);
    let Some(tracker) = Opentracker::start(&[h]) else { return };
    swarm_through(&tracker, &tracker.http(), h).await;
}

#[tokio::test]
async fn udp_announces_find_each_other_and_stop_leaves() {
    let h = hash(0x42);
    let Some(tracker) = Opentracker::start(&[h]) else { return };
    swarm_through(&tracker, &tracker.udp(), h).await;
}

#[tokio::test]
async fn unlisted_torrent_is_a_named_failure() {
    let Some(tracker) = Opentracker::start(&[hash(1)]) else { return };
    let (handle, _rx) = start(&tracker.http(), hash(2), 1, 1111, 0);
    for _ in 0..200 {
        let status = handle.status();
        if let Some((Some(err), Some(_retry))) = status.first().map(|s| (&s.last_error, s.next_announce_in)) {
            assert!(err.starts_with("tracker failure: "), "{err}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no failure reported");
}
