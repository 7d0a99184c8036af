//! Discovery of Xet chunk holders through trackers (docs/xet.md, "Discovery of chunk holders"),
//! against real opentracker instances on loopback (Debian package, installed by
//! scripts/install-test-deps.sh; `CCBT_SKIP_INTEROP=1` skips): a holder's discovery keys reach
//! the trackers of its public torrents, where a seeker without a DHT finds it; a private
//! torrent's tracker never gets a key, even for a file a public torrent shares (that test's
//! public tracker is asked over UDP).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ccbt_core::InfoHash;
use ccbt_engine::{AddTorrent, Session, SessionOptions};
use ccbt_metainfo::{MetaVersion, Torrent, TorrentBuilder, XetBuild};
use ccbt_xet::{anchor_ids, anchor_key, file_key, FileHasher};
use common::xet::v2_piece_nodes;
use common::*;

/// One opentracker on a free loopback port, killed on drop.
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

/// One blocking HTTP/1.0 GET; the body, if it answered.
fn http_get(port: u16, path_and_query: &str) -> Option<Vec<u8>> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(format!("GET {path_and_query} HTTP/1.0\r\n\r\n").as_bytes()).ok()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    let start = answer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    answer.get(start..).map(<[u8]>::to_vec)
}

fn encoded(hash: &InfoHash) -> String {
    let mut out = String::new();
    ccbt_tracker::percent_encode_to(hash.as_bytes(), &mut out);
    out
}

/// Whether opentracker accepts `hash` yet (it loads its whitelist in a thread of its own). The
/// probe announces and leaves again, so counts stay untouched.
fn whitelisted(port: u16, hash: &InfoHash) -> bool {
    let query = format!(
        "/announce?info_hash={}&peer_id=-probe-probe-probe--&port=1&uploaded=0&downloaded=0&left=1&compact=1",
        encoded(hash)
    );
    let Some(body) = http_get(port, &format!("{query}&event=started")) else { return false };
    let accepted = ccbt_tracker::parse_announce(&body).is_ok();
    let _ = http_get(port, &format!("{query}&event=stopped"));
    accepted
}

impl Opentracker {
    /// Starts opentracker serving `hashes` (Debian builds it in whitelist mode), or `None`
    /// when the interop tests are skipped.
    fn start(hashes: &[InfoHash]) -> Option<Opentracker> {
        if std::env::var_os("CCBT_SKIP_INTEROP").is_some_and(|v| v == "1") {
            eprintln!("note: opentracker test skipped because CCBT_SKIP_INTEROP=1");
            return None;
        }
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // opentracker chroots into its directory and drops to "nobody" when run as root.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let list: String = hashes.iter().map(|h| format!("{}\n", h.to_hex())).collect();
        let list_path = dir.path().join("whitelist.txt");
        std::fs::write(&list_path, list).unwrap();
        std::fs::set_permissions(&list_path, std::fs::Permissions::from_mode(0o644)).unwrap();
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new("opentracker")
                .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-P", &port.to_string()])
                .args(["-w", "whitelist.txt", "-A", "127.0.0.1", "-d"])
                .arg(dir.path())
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("opentracker cannot be started: run scripts/install-test-deps.sh");
            for _ in 0..100 {
                if hashes.iter().all(|h| whitelisted(port, h)) {
                    return Some(Opentracker { port, child, _dir: dir });
                }
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("opentracker did not come up");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }

    /// The same tracker over BEP 15.
    fn udp_url(&self) -> String {
        format!("udp://127.0.0.1:{}/announce", self.port)
    }

    /// Seeders the tracker lists for `hash` (asked over HTTP scrape, independently of ccbt).
    fn seeders(&self, hash: &InfoHash) -> u32 {
        let Some(body) = http_get(self.port, &format!("/scrape?info_hash={}", encoded(hash))) else {
            return 0;
        };
        ccbt_tracker::parse_scrape(&body, hash).map_or(0, |s| s.complete)
    }
}

/// A v2 Xet torrent of `files` written under `root/name/` (or `root/name` for one file with
/// an empty path), announcing to `tracker`.
fn xet_torrent(
    root: &Path,
    name: &str,
    files: &[(&str, &[u8])],
    tracker: Option<String>,
    private: bool,
) -> Torrent {
    let (mut entries, mut nodes, mut chunks) = (Vec::new(), Vec::new(), Vec::new());
    for (path, bytes) in files {
        // One file with an empty path: a single-file torrent.
        let full = if path.is_empty() { root.join(name) } else { root.join(name).join(path) };
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, bytes).unwrap();
        let components = if path.is_empty() { Vec::new() } else { vec![path.to_string()] };
        entries.push((components, bytes.len() as u64));
        nodes.push(v2_piece_nodes(bytes, 16384));
        let mut hasher = FileHasher::new();
        hasher.update(bytes);
        chunks.push(hasher.finish().1);
    }
    let builder = TorrentBuilder {
        version: MetaVersion::V2,
        name: name.to_string(),
        files: entries,
        piece_length: 16384,
        v2_piece_hashes: nodes,
        xet: Some(XetBuild::from_chunks(chunks, None)),
        trackers: tracker.map(|t| vec![vec![t]]).unwrap_or_default(),
        private,
        ..TorrentBuilder::default()
    };
    Torrent::from_bytes(&builder.build().unwrap()).unwrap()
}

/// The file key and every anchor key of each file of `torrent`.
fn keys_of(torrent: &Torrent) -> Vec<InfoHash> {
    let mut keys = Vec::new();
    for (root, chunks) in &torrent.xet_layers {
        keys.push(InfoHash(file_key(root)));
        keys.extend(anchor_ids(chunks).iter().map(|id| InfoHash(anchor_key(id))));
    }
    keys
}

fn xet_options(state: &Path) -> SessionOptions {
    SessionOptions { state_dir: state.to_owned(), xet_store_dir: Some(state.join("xet")), ..options() }
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "{what}: not in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The keys `session` plans for the tracker at `url`.
fn planned(session: &Session, url: &str) -> Vec<[u8; 20]> {
    session.xet_tracker_keys().into_iter().find(|(u, _)| u == url).map(|(_, keys)| keys).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_s_keys_reach_its_torrent_s_tracker_where_a_seeker_without_dht_finds_it() {
    let src = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    // Version 1 of a dataset, held; version 2 (its file grown at the end), known to the seeker.
    let v1 = data(3 << 20, 71);
    let mut v2 = v1.clone();
    v2.extend_from_slice(&data(1 << 20, 72));
    let plain1 = xet_torrent(src.path(), "d", &[("", &v1)], None, false);
    let plain2 = xet_torrent(other.path(), "d", &[("", &v2)], None, false);
    let mut hashes = keys_of(&plain1);
    hashes.extend(keys_of(&plain2));
    hashes.extend([plain1.info_hash, plain2.info_hash]);
    let Some(tracker) = Opentracker::start(&hashes) else { return };
    let one = xet_torrent(src.path(), "d", &[("", &v1)], Some(tracker.url()), false);
    let two = xet_torrent(other.path(), "d", &[("", &v2)], Some(tracker.url()), false);
    assert_eq!((one.info_hash, two.info_hash), (plain1.info_hash, plain2.info_hash));

    let states = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let holder = Session::new(xet_options(states[0].path())).await.unwrap();
    let id = holder.add_torrent(AddTorrent::new(one.clone()).save_path(src.path())).await.unwrap();
    wait_complete(&holder, id, Duration::from_secs(60)).await;

    // The plan: the file key first, then the anchors, to the torrent's tracker.
    let root1 = one.xet_root_of(0).unwrap();
    let first_chunk = one.xet_layers[&root1][0].id;
    let (key1, anchor) = (file_key(&root1), anchor_key(&first_chunk));
    wait_until("the holder plans its keys for the tracker", || {
        planned(&holder, &tracker.url()).contains(&anchor)
    })
    .await;
    assert_eq!(planned(&holder, &tracker.url())[0], key1);
    // The tracker itself lists the holder as a seeder of the keys.
    for key in [key1, anchor] {
        wait_until("the tracker lists the holder under the key", || tracker.seeders(&InfoHash(key)) == 1)
            .await;
    }

    // The seeker has version 2 (paused: it downloads nothing) and no DHT: only the tracker
    // can tell it who holds the anchor both versions share.
    let root2 = two.xet_root_of(0).unwrap();
    assert_eq!(two.xet_layers[&root2][0].id, first_chunk, "the versions share their first chunk");
    let seeker = Session::new(xet_options(states[1].path())).await.unwrap();
    // Into an empty folder: with version 2 on disk it would hold (and announce) the anchor too.
    let empty = tempfile::tempdir().unwrap();
    seeker.add_torrent(AddTorrent::new(two).save_path(empty.path()).paused(true)).await.unwrap();
    let holders = seeker.xet_find_holders(anchor, Duration::from_secs(20)).await;
    let holder_addr = SocketAddr::from(([127, 0, 0, 1], holder.listen_addr().port()));
    assert!(holders.contains(&holder_addr), "{holders:?} lacks {holder_addr}");
    assert!(!holders.iter().any(|a| a.port() == seeker.listen_addr().port()), "{holders:?} has the seeker");
    // A key the seeker's torrents do not stand for is asked of no tracker.
    assert!(seeker.xet_find_holders(key1, Duration::from_secs(5)).await.is_empty());
    // The seeker left the anchor's swarm again: only the holder stays listed.
    wait_until("the seeker's look-up leaves the tracker", || {
        http_get(tracker.port, &format!("/scrape?info_hash={}", encoded(&InfoHash(anchor))))
            .and_then(|b| ccbt_tracker::parse_scrape(&b, &InfoHash(anchor)).ok())
            .is_some_and(|s| s.complete == 1 && s.incomplete == 0)
    })
    .await;
    assert!(seeker.xet_discovery_keys().is_empty(), "the seeker holds nothing");

    // On the way out the holder says `stopped` for its keys.
    seeker.shutdown().await;
    holder.shutdown().await;
    wait_until("the holder leaves the key's swarm", || tracker.seeders(&InfoHash(key1)) == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_torrent_s_tracker_never_gets_a_key() {
    let src = tempfile::tempdir().unwrap();
    // `shared.bin` is in both torrents; `secret.bin` only in the private one.
    let (own, shared, secret) = (data(1 << 20, 81), data(1 << 20, 82), data(1 << 20, 83));
    let files_pub: [(&str, &[u8]); 2] = [("own.bin", &own), ("shared.bin", &shared)];
    let files_priv: [(&str, &[u8]); 2] = [("secret.bin", &secret), ("shared.bin", &shared)];
    let plain_pub = xet_torrent(src.path(), "pub", &files_pub, None, false);
    let plain_priv = xet_torrent(src.path(), "priv", &files_priv, None, true);
    let mut hashes = keys_of(&plain_pub);
    hashes.extend(keys_of(&plain_priv));
    hashes.extend([plain_pub.info_hash, plain_priv.info_hash]);
    let Some(public_tracker) = Opentracker::start(&hashes) else { return };
    let private_tracker = Opentracker::start(&hashes).unwrap();
    let public = xet_torrent(src.path(), "pub", &files_pub, Some(public_tracker.udp_url()), false);
    let private = xet_torrent(src.path(), "priv", &files_priv, Some(private_tracker.url()), true);
    assert!(private.private);

    let state = tempfile::tempdir().unwrap();
    let holder = Session::new(xet_options(state.path())).await.unwrap();
    for t in [&private, &public] {
        let id = holder.add_torrent(AddTorrent::new(t.clone()).save_path(src.path())).await.unwrap();
        wait_complete(&holder, id, Duration::from_secs(60)).await;
    }
    let root = |t: &Torrent, i| file_key(&t.xet_root_of(i).unwrap());
    let (own_key, shared_key, secret_key) = (root(&public, 0), root(&public, 1), root(&private, 0));
    assert_eq!(shared_key, root(&private, 1));
    // Once every file is held and announced, the public tracker gets the public torrent's
    // files (the shared one too); no tracker gets the private-only file; the private tracker
    // gets nothing.
    wait_until("the holder plans the keys of all its files", || {
        let keys = holder.xet_discovery_keys();
        let plan = planned(&holder, &public_tracker.udp_url());
        [own_key, shared_key, secret_key].iter().all(|k| keys.contains(k))
            && [own_key, shared_key].iter().all(|k| plan.contains(k))
    })
    .await;
    let plan = holder.xet_tracker_keys();
    assert_eq!(plan.len(), 1, "{plan:?}");
    let secret_keys: Vec<[u8; 20]> = keys_of(&private).iter().map(|k| k.0).collect();
    let public_keys: Vec<[u8; 20]> = keys_of(&public).iter().map(|k| k.0).collect();
    for key in &plan[0].1 {
        assert!(public_keys.contains(key), "a key of no public file was planned");
    }
    assert!(!plan[0].1.contains(&secret_key));

    // The trackers agree: the public one lists the holder under the shared file's key; the
    // private one lists it for the private torrent only, never under a key.
    wait_until("the public tracker lists the shared key", || {
        public_tracker.seeders(&InfoHash(shared_key)) == 1
    })
    .await;
    wait_until("the private tracker lists its torrent", || private_tracker.seeders(&private.info_hash) == 1)
        .await;
    for key in secret_keys.iter().chain(&public_keys) {
        assert_eq!(private_tracker.seeders(&InfoHash(*key)), 0, "a key reached the private tracker");
    }
    // Looking a shared key up never asks the private tracker either.
    let found = holder.xet_find_holders(shared_key, Duration::from_secs(10)).await;
    assert!(found.is_empty(), "{found:?}");
    for key in secret_keys.iter().chain(&public_keys) {
        assert_eq!(private_tracker.seeders(&InfoHash(*key)), 0, "a look-up reached the private tracker");
    }

    // Switched off (live), the keys leave the public tracker with `stopped`, the session still
    // running; the torrent itself stays listed.
    let mut off = (*holder.options()).clone();
    off.xet_tracker_announce = false;
    assert_eq!(holder.reconfigure(off).unwrap().applied, vec!["xet_tracker_announce"]);
    wait_until("the plan empties", || holder.xet_tracker_keys().is_empty()).await;
    wait_until("the keys leave the tracker", || public_tracker.seeders(&InfoHash(shared_key)) == 0).await;
    assert_eq!(public_tracker.seeders(&InfoHash(own_key)), 0);
    assert_eq!(public_tracker.seeders(&public.info_hash), 1);
    holder.shutdown().await;
}
