//! Following a dataset over BEP 46 (docs/xet.md, "Publishing and following"): three sessions
//! with DHT nodes on loopback. The publisher seeds version 1 and puts its item; the follower
//! holds version 1 and follows the item; the publisher seeds version 2 (about 1 % of the bytes
//! changed) and puts it with a higher seq; the follower fetches it through a staging folder and
//! switches its folder to it.

mod common;

use std::time::Duration;

use ccbt_engine::bep46::encode_info_hash_value;
use ccbt_engine::dht_item::SigningKey;
use ccbt_engine::{follow_id, AddTorrent, Session, SessionOptions, XetFollowSpec, XET_STAGING_DIR};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_switches_to_the_published_version_in_place() {
    let dirs: Vec<tempfile::TempDir> = (0..6).map(|_| tempfile::tempdir().unwrap()).collect();
    let [v1_dir, v2_dir, follower_dir, boot_state, pub_state, fol_state] = &dirs[..] else { unreachable!() };
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
    let spec = XetFollowSpec {
        current_seq: 1,
        poll_interval: Duration::from_secs(1),
        lookup_timeout: Duration::from_secs(10),
        ..XetFollowSpec::new(key.public_key(), salt.clone(), follower_dir.path().to_owned(), f1)
    };
    let follow = follower.xet_follow(spec).unwrap();

    // Version 2, published with seq 2.
    let p2 = publisher.add_torrent(AddTorrent::new(v2.clone()).save_path(v2_dir.path())).await.unwrap();
    wait_complete(&publisher, p2, Duration::from_secs(60)).await;
    publisher
        .dht_put_mutable(&key, &salt, encode_info_hash_value(&follow_id(&v2)), 2, Duration::from_secs(30))
        .await
        .unwrap();

    let mut watch = follow.watch();
    let status = tokio::time::timeout(Duration::from_secs(180), watch.wait_for(|s| s.switches == 1))
        .await
        .unwrap_or_else(|_| panic!("no switch in time: {:?}", follow.status()))
        .unwrap()
        .clone();
    assert_eq!((status.seq, status.info_hash), (2, follow_id(&v2)));
    assert!(status.last_error.is_none(), "{status:?}");
    wait_complete(&follower, status.torrent, Duration::from_secs(60)).await;
    // The old torrent left the session; the new one seeds from the same folder.
    assert!(follower.status(f1).is_err());
    assert_eq!(follower.metainfo(status.torrent).unwrap().info_hash_v2, v2.info_hash_v2);
    assert_same_files(&v2, v2_dir.path(), follower_dir.path());
    assert!(!follower_dir.path().join(XET_STAGING_DIR).exists(), "the staging folder is left");

    let sent = publisher.status(p2).unwrap().uploaded;
    println!("version 2: the publisher uploaded {sent} bytes of a {dataset}-byte dataset");
    // The magnet of version 2 learns its manifests from the publisher (MANIFEST_REQ), so the
    // chunk store fills what version 1 shares and little more than the changed bytes move.
    assert!(!follower.metainfo(status.torrent).unwrap().xet_layers.is_empty(), "no manifests learnt");
    assert!(sent < dataset / 4, "{sent} bytes sent for a {dataset}-byte dataset with 2 edited files");
    // The chunks only version 1 had were kept in a pack when its files were replaced.
    let stats = follower.xet_stats().await.expect("the follower's chunk store");
    assert!(stats.packs >= 1 && stats.pack_bytes > 0, "{stats:?}");
    drop(follow);
    follower.shutdown().await;
    publisher.shutdown().await;
    boot.shutdown().await;
}
