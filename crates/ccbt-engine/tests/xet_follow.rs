//! Following a dataset over BEP 46 (docs/xet.md, "Publishing and following"): three sessions
//! with DHT nodes on loopback. The publisher seeds version 1 and puts its item; the follower
//! holds version 1 and follows the item; the publisher seeds version 2 (about 1 % of the bytes
//! changed) and puts it with a higher seq; the follower fetches it through a staging folder and
//! switches its folder to it. A stop of the follow during the switch's commit does not cut
//! it, and a commit cut by a kill is finished from its journal by the next start.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ccbt_engine::bep46::encode_info_hash_value;
use ccbt_engine::dht_item::SigningKey;
use ccbt_engine::test_hooks::hold_xet_commit;
use ccbt_engine::{
    follow_id, AddTorrent, Session, SessionOptions, XetFollowSpec, XetFollowStatus, XetSwitchRecorder,
    XET_STAGING_DIR,
};
use common::xet::xet_torrent;
use common::*;

const PIECE: u32 = 16384;
const FILES: usize = 4;
const FILE_LEN: usize = 2 << 20;

fn dht_options(state: &std::path::Path, bootstrap: Vec<String>, xet: bool) -> SessionOptions {
    SessionOptions {
        enable_dht: true,
        dht_port: 0,
        dht_bootstrap_nodes: bootstrap,
        state_dir: state.to_owned(),
        checkpoint_dir: state.join("checkpoints"),
        xet_store_dir: xet.then(|| state.join("xet")),
        ..options()
    }
}

/// Version 2 of file `i`: files 0 and 1 get 10 KiB overwritten and 10 KiB inserted.
fn edited(i: usize, old: &[u8]) -> Vec<u8> {
    if i >= 2 {
        return old.to_vec();
    }
    let mut new = old.to_vec();
    let at = old.len() / 3 + i * 12_345;
    new[at..at + 10_240].copy_from_slice(&data(10_240, 900 + i as u64));
    let insert_at = 2 * old.len() / 3;
    new.splice(insert_at..insert_at, data(10_240, 950 + i as u64));
    new
}

async fn wait_dht_nodes(session: &Session) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = session.dht_status().await.expect("dht running");
        if status.good_nodes + status.questionable_nodes >= 1 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the dht node found no other node");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Three sessions on loopback: a DHT bootstrap node, a publisher seeding version 1 (item seq
/// 1) and a follower holding version 1 complete and indexed in its chunk store.
struct Net {
    boot: Session,
    publisher: Session,
    follower: Session,
    key: SigningKey,
    salt: Vec<u8>,
    v2: ccbt_metainfo::Torrent,
    /// The follower's torrent of version 1.
    f1: ccbt_engine::TorrentId,
    dataset: u64,
}

/// The test's folders: version 1's and 2's sources, the follower's folder, the states of the
/// bootstrap node, the publisher and the follower.
fn folders() -> Vec<tempfile::TempDir> {
    (0..6).map(|_| tempfile::tempdir().unwrap()).collect()
}

async fn set_up(dirs: &[tempfile::TempDir]) -> Net {
    let [v1_dir, v2_dir, follower_dir, boot_state, pub_state, fol_state] = dirs else { unreachable!() };
    let old: Vec<Vec<u8>> = (0..FILES).map(|i| data(FILE_LEN, 300 + i as u64)).collect();
    let new: Vec<Vec<u8>> = old.iter().enumerate().map(|(i, f)| edited(i, f)).collect();
    let names: Vec<String> = (0..FILES).map(|i| format!("part-{i}.bin")).collect();
    let v1_refs: Vec<(&str, &[u8])> =
        names.iter().map(String::as_str).zip(old.iter().map(Vec::as_slice)).collect();
    let v2_refs: Vec<(&str, &[u8])> =
        names.iter().map(String::as_str).zip(new.iter().map(Vec::as_slice)).collect();
    let v1 = xet_torrent(v1_dir.path(), "dataset", &v1_refs, PIECE);
    let v2 = xet_torrent(v2_dir.path(), "dataset", &v2_refs, PIECE);
    let dataset: u64 = new.iter().map(|f| f.len() as u64).sum();

    let boot = Session::new(dht_options(boot_state.path(), Vec::new(), false)).await.unwrap();
    let boot_addr = boot.dht_status().await.expect("dht running").local_addr.to_string();
    let publisher =
        Session::new(dht_options(pub_state.path(), vec![boot_addr.clone()], false)).await.unwrap();
    let follower = Session::new(dht_options(fol_state.path(), vec![boot_addr], true)).await.unwrap();
    wait_dht_nodes(&publisher).await;
    wait_dht_nodes(&follower).await;

    // Version 1: seeded, published with seq 1, downloaded and indexed by the follower.
    let key = SigningKey::from_seed(&[42; 32]);
    let salt = b"org/dataset".to_vec();
    let p1 = publisher.add_torrent(AddTorrent::new(v1.clone()).save_path(v1_dir.path())).await.unwrap();
    wait_complete(&publisher, p1, Duration::from_secs(60)).await;
    let put = publisher
        .dht_put_mutable(&key, &salt, encode_info_hash_value(&follow_id(&v1)), 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(put.stored >= 1, "{put:?}");
    let add = AddTorrent::new(v1.clone()).save_path(follower_dir.path()).peers([publisher.listen_addr()]);
    let f1 = follower.add_torrent(add).await.unwrap();
    wait_complete(&follower, f1, Duration::from_secs(60)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while follower.xet_stats().await.unwrap().files < FILES as u64 {
        assert!(tokio::time::Instant::now() < deadline, "version 1 not indexed in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Net { boot, publisher, follower, key, salt, v2, f1, dataset }
}

impl Net {
    fn spec(&self, dir: &std::path::Path) -> XetFollowSpec {
        XetFollowSpec {
            current_seq: 1,
            poll_interval: Duration::from_secs(1),
            lookup_timeout: Duration::from_secs(10),
            ..XetFollowSpec::new(self.key.public_key(), self.salt.clone(), dir.to_owned(), self.f1)
        }
    }

    /// Seeds version 2 from `dir` and publishes it with seq 2; the publisher's torrent of it.
    async fn publish_v2(&self, dir: &std::path::Path) -> ccbt_engine::TorrentId {
        let add = AddTorrent::new(self.v2.clone()).save_path(dir);
        let p2 = self.publisher.add_torrent(add).await.unwrap();
        wait_complete(&self.publisher, p2, Duration::from_secs(60)).await;
        let value = encode_info_hash_value(&follow_id(&self.v2));
        self.publisher
            .dht_put_mutable(&self.key, &self.salt, value, 2, Duration::from_secs(30))
            .await
            .unwrap();
        p2
    }

    async fn shutdown(self) {
        self.follower.shutdown().await;
        self.publisher.shutdown().await;
        self.boot.shutdown().await;
    }
}

async fn wait_status(
    watch: &mut tokio::sync::watch::Receiver<XetFollowStatus>,
    what: &str,
    done: impl FnMut(&XetFollowStatus) -> bool,
) -> XetFollowStatus {
    let waited = tokio::time::timeout(Duration::from_secs(180), watch.wait_for(done))
        .await
        .map(|status| status.map(|s| s.clone()));
    match waited {
        Ok(Ok(status)) => status,
        Ok(Err(_)) => panic!("{what}: the follow ended first: {:?}", *watch.borrow()),
        Err(_) => panic!("{what}: not in time: {:?}", *watch.borrow()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_switches_to_the_published_version_in_place() {
    let dirs = folders();
    let (v2_dir, follower_dir) = (dirs[1].path(), dirs[2].path());
    let net = set_up(&dirs).await;
    let follow = net.follower.xet_follow(net.spec(follower_dir)).unwrap();
    let p2 = net.publish_v2(v2_dir).await;

    let mut watch = follow.watch();
    let status = wait_status(&mut watch, "the switch", |s| s.switches == 1).await;
    assert_eq!((status.seq, status.info_hash), (2, follow_id(&net.v2)));
    assert!(status.last_error.is_none(), "{status:?}");
    let follower = &net.follower;
    wait_complete(follower, status.torrent, Duration::from_secs(60)).await;
    // The old torrent left the session; the new one seeds from the same folder.
    assert!(follower.status(net.f1).is_err());
    assert_eq!(follower.metainfo(status.torrent).unwrap().info_hash_v2, net.v2.info_hash_v2);
    assert_same_files(&net.v2, v2_dir, follower_dir);
    assert!(!follower_dir.join(XET_STAGING_DIR).exists(), "the staging folder is left");

    let sent = net.publisher.status(p2).unwrap().uploaded;
    let dataset = net.dataset;
    println!("version 2: the publisher uploaded {sent} bytes of a {dataset}-byte dataset");
    // The magnet of version 2 learns its manifests from the publisher (MANIFEST_REQ), so the
    // chunk store fills what version 1 shares and little more than the changed bytes move.
    assert!(!follower.metainfo(status.torrent).unwrap().xet_layers.is_empty(), "no manifests learnt");
    assert!(sent < dataset / 4, "{sent} bytes sent for a {dataset}-byte dataset with 2 edited files");
    // The chunks only version 1 had were kept in a pack when its files were replaced.
    let stats = follower.xet_stats().await.expect("the follower's chunk store");
    assert!(stats.packs >= 1 && stats.pack_bytes > 0, "{stats:?}");
    drop(follow);
    net.shutdown().await;
}

/// Dropping the follow (an abort of its task) while the switch's commit is held after its
/// first file move: the commit still moves every file, adds the new torrent and reports the
/// switch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_stopped_during_the_commit_still_switches() {
    let dirs = folders();
    let (v1_dir, v2_dir, follower_dir) = (dirs[0].path(), dirs[1].path(), dirs[2].path());
    let net = set_up(&dirs).await;
    let mut hold = hold_xet_commit(follower_dir);
    let follow = net.follower.xet_follow(net.spec(follower_dir)).unwrap();
    net.publish_v2(v2_dir).await;
    tokio::time::timeout(Duration::from_secs(180), hold.reached()).await.expect("the commit began in time");
    // Mid-commit: one file of version 2 moved, the others still version 1's.
    let moved = |name: &str| std::fs::read(follower_dir.join("dataset").join(name)).unwrap();
    assert_eq!(moved("part-0.bin"), std::fs::read(v2_dir.join("dataset/part-0.bin")).unwrap());
    assert_eq!(moved("part-1.bin"), std::fs::read(v1_dir.join("dataset/part-1.bin")).unwrap());
    let mut watch = follow.watch();
    drop(follow);
    hold.release();

    let status = wait_status(&mut watch, "the switch", |s| s.switches == 1).await;
    assert_eq!((status.seq, status.info_hash), (2, follow_id(&net.v2)));
    assert!(status.last_error.is_none(), "{status:?}");
    wait_complete(&net.follower, status.torrent, Duration::from_secs(60)).await;
    assert!(net.follower.status(net.f1).is_err(), "the old version is still in the session");
    assert_eq!(net.follower.torrents().len(), 1, "{:?}", net.follower.torrents());
    assert_same_files(&net.v2, v2_dir, follower_dir);
    assert!(!follower_dir.join(XET_STAGING_DIR).exists(), "the staging folder (and journal) is left");
    net.shutdown().await;
}

/// The commit stops after its first file move as if the process were killed; a new session
/// on the same state finishes the switch from the journal: every file of version 2 in place,
/// its torrent complete without a byte downloaded, the recorder told version 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_cut_by_a_kill_is_finished_at_the_next_start() {
    let dirs = folders();
    let (v2_dir, follower_dir, fol_state) = (dirs[1].path(), dirs[2].path(), dirs[5].path());
    let net = set_up(&dirs).await;
    let mut hold = hold_xet_commit(follower_dir);
    let follow = net.follower.xet_follow(net.spec(follower_dir)).unwrap();
    net.publish_v2(v2_dir).await;
    tokio::time::timeout(Duration::from_secs(180), hold.reached()).await.expect("the commit began in time");
    let mut watch = follow.watch();
    hold.crash();
    let status = wait_status(&mut watch, "the cut commit", |s| s.last_error.is_some()).await;
    assert_eq!(status.switches, 0, "{status:?}");
    drop(follow);
    let journal = follower_dir.join(XET_STAGING_DIR).join("switch.journal");
    assert!(journal.exists(), "no journal left by the cut commit");
    let v2 = net.v2.clone();
    net.shutdown().await;

    let follower = Session::new(dht_options(fol_state, Vec::new(), true)).await.unwrap();
    assert!(follower.torrents().is_empty());
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let record = recorded.clone();
    let recorder = XetSwitchRecorder(Arc::new(move |ih, seq| {
        record.lock().unwrap().push((ih, seq));
        Box::pin(async {})
    }));
    let switched = follower.xet_finish_switch(follower_dir, Some(recorder)).await.unwrap().expect("a switch");
    assert_eq!((switched.info_hash, switched.seq, &switched.warning), (follow_id(&v2), 2, &None));
    assert_eq!(*recorded.lock().unwrap(), [(follow_id(&v2), 2)]);
    wait_complete(&follower, switched.torrent, Duration::from_secs(60)).await;
    assert_eq!(follower.status(switched.torrent).unwrap().downloaded, 0, "bytes fetched again");
    assert_same_files(&v2, v2_dir, follower_dir);
    assert!(!journal.exists() && !follower_dir.join(XET_STAGING_DIR).exists());
    // Nothing left to finish.
    assert_eq!(follower.xet_finish_switch(follower_dir, None).await.unwrap(), None);
    follower.shutdown().await;
}
