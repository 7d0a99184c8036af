//! A daemon's follow stopped (`XetFollows::shutdown`, the daemon's stop) or removed
//! (`DELETE /api/v1/xet/follows/{id}`) while a switch's commit is held after its first file
//! move (the engine's `test-hooks`): the commit ends all the same, the new version's torrent
//! is in the session with every file in place, and the shutdown has recorded the new version
//! in `xet_follows.json` (the old version's checkpoint deleted, so a restart does not bring it
//! back). A commit cut as by a kill is finished and recorded when the follows
//! start again. DHT nodes and a publisher on loopback, as in the engine's xet_follow.rs.

mod support;

#[path = "../../ccbt-engine/tests/common/xet.rs"]
mod xet;

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::StatusCode;
use ccbt_api::{Verb, XetFollows, FOLLOWS_FILE};
use ccbt_engine::bep46::{encode_info_hash_value, MutableLink};
use ccbt_engine::dht_item::SigningKey;
use ccbt_engine::test_hooks::hold_xet_commit;
use ccbt_engine::{follow_id, AddTorrent, Session, SessionOptions, TorrentState, XET_STAGING_DIR};
use ccbt_metainfo::Torrent;
use serde_json::json;
use support::Api;

const SALT: &[u8] = b"org/dataset";
const PIECE: u32 = 16384;
/// The longest any step may take before the test fails (it turns a hang into a failure).
const LIMIT: Duration = Duration::from_secs(180);

fn bytes(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8).collect()
}

/// Two versions of a two-file dataset: version 2 changes a few KiB of each file.
fn versions(root: &Path) -> (Torrent, Torrent) {
    let old = [bytes(300_000, 1), bytes(300_000, 2)];
    let mut new = old.clone();
    for (i, file) in new.iter_mut().enumerate() {
        file[100_000..108_000].copy_from_slice(&bytes(8_000, 90 + i as u32));
    }
    let files = |set: &[Vec<u8>; 2]| [("a.bin", set[0].clone()), ("b.bin", set[1].clone())];
    let (old, new) = (files(&old), files(&new));
    let v1 = xet::xet_torrent(&root.join("v1"), "dataset", &refs(&old), PIECE);
    let v2 = xet::xet_torrent(&root.join("v2"), "dataset", &refs(&new), PIECE);
    (v1, v2)
}

fn refs<'a>(set: &'a [(&'static str, Vec<u8>); 2]) -> Vec<(&'static str, &'a [u8])> {
    set.iter().map(|(n, b)| (*n, b.as_slice())).collect()
}

/// A DHT bootstrap node, a publisher seeding both versions with version 1 published, and an
/// API whose session follows the publisher's item into `set` with version 1 complete there.
struct Net {
    boot: Session,
    publisher: Session,
    api: Api,
    key: SigningKey,
    v1: Torrent,
    v2: Torrent,
    /// The follow's folder and id.
    set: PathBuf,
    id: String,
    _work: tempfile::TempDir,
}

fn dht_options(state: &Path, bootstrap: Vec<String>) -> SessionOptions {
    SessionOptions {
        listen_port: 0,
        listen_host: "127.0.0.1".parse().unwrap(),
        enable_dht: true,
        dht_port: 0,
        dht_bootstrap_nodes: bootstrap,
        state_dir: state.to_owned(),
        checkpoint_dir: state.join("checkpoints"),
        ..SessionOptions::default()
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what}: not in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn set_up() -> Net {
    let work = tempfile::tempdir().unwrap();
    let (v1, v2) = versions(work.path());
    let boot = Session::new(dht_options(&work.path().join("boot"), Vec::new())).await.unwrap();
    let boot_addr = boot.dht_status().await.expect("dht").local_addr.to_string();
    let publisher =
        Session::new(dht_options(&work.path().join("pub"), vec![boot_addr.clone()])).await.unwrap();
    let api = Api::with(|options, dir| {
        options.xet_store_dir = Some(dir.join("state/xet"));
        options.enable_dht = true;
        options.dht_port = 0;
        options.dht_bootstrap_nodes = vec![boot_addr];
    })
    .await;
    for session in [&publisher, &*api.session] {
        let deadline = tokio::time::Instant::now() + LIMIT;
        while session.dht_status().await.is_some_and(|s| s.good_nodes + s.questionable_nodes == 0) {
            assert!(tokio::time::Instant::now() < deadline, "no dht node found");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for (torrent, dir) in [(&v1, "v1"), (&v2, "v2")] {
        let add = AddTorrent::new(torrent.clone()).save_path(work.path().join(dir));
        let id = publisher.add_torrent(add).await.unwrap();
        wait_until("the publisher's check", || publisher.status(id).is_ok_and(|s| s.is_complete())).await;
    }
    let key = SigningKey::from_seed(&[7; 32]);
    let value = encode_info_hash_value(&follow_id(&v1));
    publisher.dht_put_mutable(&key, SALT, value, 1, Duration::from_secs(30)).await.unwrap();

    let set = api.path().join("set");
    let link = MutableLink { public_key: key.public_key(), salt: SALT.to_vec() }.to_string();
    let peer = publisher.listen_addr().to_string();
    let body = json!({"source": link, "dir": set, "poll_secs": 1, "peers": [peer]});
    let (status, view) = api.call(Verb::Post, "/api/v1/xet/follows", Some(body.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();
    let v1_hex = follow_id(&v1).to_hex();
    wait_until("version 1 followed", || {
        let list = api.follows.list();
        list[0].state == "following" && list[0].info_hash.as_deref() == Some(v1_hex.as_str())
    })
    .await;
    Net { boot, publisher, api, key, v1, v2, set, id, _work: work }
}

impl Net {
    async fn publish_v2(&self) {
        let value = encode_info_hash_value(&follow_id(&self.v2));
        self.publisher.dht_put_mutable(&self.key, SALT, value, 2, Duration::from_secs(30)).await.unwrap();
    }

    /// Version 2 is in the session at the follow's folder, complete, its files in place and
    /// no staging folder left.
    async fn assert_switched(&self) {
        let ih = follow_id(&self.v2);
        let torrent = find_version(&self.api.session, ih).expect("version 2 is in the session");
        assert_eq!(torrent.save_path, self.set);
        assert_eq!(self.api.session.torrents().len(), 1, "{:?}", self.api.session.torrents());
        let id = torrent.id;
        wait_until("version 2 complete", || {
            self.api.session.status(id).is_ok_and(|s| s.is_complete() && s.state == TorrentState::Seeding)
        })
        .await;
        for name in ["a.bin", "b.bin"] {
            let here = std::fs::read(self.set.join("dataset").join(name)).unwrap();
            let there = std::fs::read(self._work.path().join("v2/dataset").join(name)).unwrap();
            assert!(here == there, "{name} is not version 2's");
        }
        assert!(!self.set.join(XET_STAGING_DIR).exists(), "the staging folder is left");
    }

    /// The version `xet_follows.json` records for the follow (info hash, seq).
    fn recorded(&self) -> Option<(String, i64)> {
        let (follows, problem) = XetFollows::open(self.api.path().join("state").join(FOLLOWS_FILE));
        assert_eq!(problem, None);
        let list = follows.list();
        list.iter().find(|f| f.id == self.id).map(|f| (f.info_hash.clone().unwrap_or_default(), f.seq))
    }

    async fn shutdown(self) {
        self.api.follows.shutdown().await;
        self.publisher.shutdown().await;
        self.boot.shutdown().await;
    }
}

fn find_version(session: &Session, ih: ccbt_core::InfoHash) -> Option<ccbt_engine::TorrentStatus> {
    session.torrents().into_iter().find(|s| session.metainfo(s.id).is_ok_and(|t| follow_id(&t) == ih))
}

/// Polls `future` once: whatever it does before its first wait is done.
async fn start<F: std::future::Future>(future: std::pin::Pin<&mut F>) {
    let mut future = Some(future);
    std::future::poll_fn(|cx| {
        let polled = future.as_mut().map(|f| f.as_mut().poll(cx));
        assert!(polled.is_some_and(|p| p.is_pending()), "it ended before the commit went on");
        std::task::Poll::Ready(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_stopped_during_a_switch_records_the_new_version() {
    let net = set_up().await;
    let mut hold = hold_xet_commit(&net.set);
    net.publish_v2().await;
    tokio::time::timeout(LIMIT, hold.reached()).await.expect("the commit began in time");
    // The daemon stops while one file has moved: the follows stop first.
    let mut stopping = Box::pin(net.api.follows.shutdown());
    start(stopping.as_mut()).await;
    hold.release();
    tokio::time::timeout(LIMIT, stopping).await.expect("the follows stopped in time");

    let v2 = (follow_id(&net.v2).to_hex(), 2);
    assert_eq!(net.recorded(), Some(v2), "xet_follows.json does not record version 2");
    net.assert_switched().await;
    // The replaced version's checkpoint is gone: a restart does not bring it back in the folder.
    let checkpoints = ccbt_engine::checkpoints::CheckpointStore::new(net.api.path().join("checkpoints"));
    let saved: Vec<_> = checkpoints.list().unwrap().into_iter().map(|c| c.info_hash).collect();
    assert!(!saved.contains(&net.v1.info_hash), "version 1's checkpoint is left: {saved:?}");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfollow_during_a_switch_leaves_the_new_version_seeding() {
    let net = set_up().await;
    let mut hold = hold_xet_commit(&net.set);
    net.publish_v2().await;
    tokio::time::timeout(LIMIT, hold.reached()).await.expect("the commit began in time");
    let path = format!("/api/v1/xet/follows/{}", net.id);
    let mut unfollow = Box::pin(net.api.call(Verb::Delete, &path, None));
    start(unfollow.as_mut()).await;
    hold.release();
    let (status, body) = tokio::time::timeout(LIMIT, unfollow).await.expect("the unfollow answered in time");
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    assert_eq!(net.recorded(), None, "the follow is still recorded");
    net.assert_switched().await;
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_cut_by_a_kill_is_finished_and_recorded_when_the_follows_start() {
    let net = set_up().await;
    let mut hold = hold_xet_commit(&net.set);
    net.publish_v2().await;
    tokio::time::timeout(LIMIT, hold.reached()).await.expect("the commit began in time");
    hold.crash();
    wait_until("the cut commit's error", || net.api.follows.list()[0].last_error.is_some()).await;
    net.api.follows.shutdown().await;
    // As a killed daemon leaves it: version 1 recorded, one file of version 2 moved.
    let v1_recorded = net.recorded().expect("the follow").0;
    assert_ne!(v1_recorded, follow_id(&net.v2).to_hex());

    // The daemon's next start (on the same session: its torrents are gone already).
    let (follows, _) = XetFollows::open(net.api.path().join("state").join(FOLLOWS_FILE));
    assert_eq!(follows.start(&net.api.session, true), 1);
    let v2_hex = follow_id(&net.v2).to_hex();
    wait_until("version 2 followed", || {
        let list = follows.list();
        list[0].state == "following" && list[0].info_hash.as_deref() == Some(v2_hex.as_str())
    })
    .await;
    assert_eq!(net.recorded(), Some((v2_hex, 2)));
    net.assert_switched().await;
    let id = find_version(&net.api.session, follow_id(&net.v2)).unwrap().id;
    assert_eq!(net.api.session.status(id).unwrap().downloaded, 0, "bytes fetched again");
    follows.shutdown().await;
    net.shutdown().await;
}
