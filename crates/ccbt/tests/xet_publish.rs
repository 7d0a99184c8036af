//! `ccbt create --xet --xet-key` and `ccbt xet publish` against a ccbt DHT node on loopback:
//! the new torrent is linked to the old one, the item is put with the next seq, and a key other
//! than the one the old torrent names is refused before anything is written.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ccbt_engine::bep46::decode_info_hash_value;
use ccbt_engine::{follow_id, read_key, Session, SessionOptions};
use ccbt_metainfo::{SimilarHash, Torrent};
use support::{ccbt, run_with_timeout, work_dir, write_tree, Finished, Proc};

const LIMIT: Duration = Duration::from_secs(120);
const SALT: &str = "org/dataset";

async fn dht_node(state: &Path, bootstrap: Vec<String>) -> (Session, String) {
    let options = SessionOptions {
        listen_port: 0,
        listen_host: "127.0.0.1".parse().unwrap(),
        enable_dht: true,
        dht_port: 0,
        dht_bootstrap_nodes: bootstrap,
        state_dir: state.to_owned(),
        ..SessionOptions::default()
    };
    let session = Session::new(options).await.unwrap();
    let addr = session.dht_status().await.expect("dht running").local_addr.to_string();
    (session, addr)
}

/// Runs ccbt off the async runtime (the DHT node answers meanwhile).
async fn run_ccbt(work: &Path, args: Vec<String>) -> Finished {
    let work = work.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut cmd = ccbt();
        cmd.args(&args);
        run_with_timeout("ccbt-xet-publish", &mut cmd, &work, LIMIT)
    })
    .await
    .unwrap()
}

fn publish_args(work: &Path, old: &Path, data: &Path, out: &str, key: &Path, boot: &str) -> Vec<String> {
    let state = work.join(format!("state-{out}"));
    let parts = ["xet", "publish"].map(String::from).into_iter();
    parts
        .chain([old, data].map(|p| p.display().to_string()))
        .chain(["-o".into(), work.join(out).display().to_string(), "--key".into(), key.display().to_string()])
        .chain(["--dht-bootstrap".into(), boot.to_owned(), "--dht-port".into(), "0".into()])
        .chain(["--state-dir".into(), state.display().to_string(), "-q".into()])
        .collect()
}

fn torrent(path: &Path) -> Torrent {
    Torrent::from_bytes(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_links_the_new_version_and_puts_the_next_seq() {
    let work = work_dir();
    let (boot, boot_addr) = dht_node(&work.path().join("boot"), Vec::new()).await;
    // A lookup asks other nodes, not the node's own store: a second node reads what boot holds.
    let (reader, _) = dht_node(&work.path().join("reader"), vec![boot_addr.clone()]).await;
    let data: PathBuf = write_tree(&work.path().join("v1"), &[("a.bin", 300_000), ("b/c.bin", 70_000)], 5);
    let key = work.path().join("publisher.key");
    let old_path = work.path().join("v1.torrent");
    let create: Vec<String> =
        ["create".into(), data.display().to_string(), "-o".into(), old_path.display().to_string()]
            .into_iter()
            .chain(["--xet", "--hybrid", "--xet-key"].map(String::from))
            .chain([
                key.display().to_string(),
                "--xet-salt".into(),
                SALT.into(),
                "--collection".into(),
                "org/set".into(),
            ])
            .collect();
    run_ccbt(work.path(), create).await.assert_success("ccbt create --xet --xet-key");
    let old = torrent(&old_path);
    let publisher = old.xet.as_ref().unwrap().publisher.clone().expect("pk and salt embedded");
    let signing = read_key(&key).unwrap();
    assert_eq!((publisher.public_key, publisher.salt.as_slice()), (signing.public_key(), SALT.as_bytes()));

    // Version 2: one file changed.
    std::fs::write(data.join("a.bin"), support::gen_bytes(99, 310_000)).unwrap();
    let out =
        run_ccbt(work.path(), publish_args(work.path(), &old_path, &data, "v2.torrent", &key, &boot_addr))
            .await;
    out.assert_success("ccbt xet publish");
    let new = torrent(&work.path().join("v2.torrent"));
    assert_eq!(new.version, old.version);
    assert_eq!(new.piece_length, old.piece_length);
    assert_eq!(new.name, old.name);
    let xet = new.xet.as_ref().unwrap();
    assert_eq!(xet.prev, old.info_hash_v2);
    assert_eq!(xet.publisher.as_ref(), Some(&publisher));
    assert_eq!(new.similar, vec![SimilarHash::V2(old.info_hash_v2.unwrap())]);
    assert_eq!(new.collections, vec!["org/set".to_owned()]);
    assert!(out.stdout.contains("published version 1: magnet:?xs=urn:btpk:"), "{}", out.describe());
    let item = reader.dht_get_mutable(publisher.public_key, SALT.as_bytes(), LIMIT).await.unwrap().unwrap();
    assert_eq!(item.seq, 1);
    assert_eq!(decode_info_hash_value(&item.v).unwrap(), follow_id(&new));

    // Version 3 from version 2: the next seq.
    std::fs::write(data.join("b/c.bin"), support::gen_bytes(98, 70_000)).unwrap();
    let new_path = work.path().join("v2.torrent");
    let out =
        run_ccbt(work.path(), publish_args(work.path(), &new_path, &data, "v3.torrent", &key, &boot_addr))
            .await;
    out.assert_success("ccbt xet publish (2)");
    assert!(out.stdout.contains("published version 2:"), "{}", out.describe());
    let v3 = torrent(&work.path().join("v3.torrent"));
    assert_eq!(v3.xet.as_ref().unwrap().prev, new.info_hash_v2);
    let item = reader.dht_get_mutable(publisher.public_key, SALT.as_bytes(), LIMIT).await.unwrap().unwrap();
    assert_eq!((item.seq, decode_info_hash_value(&item.v).unwrap()), (2, follow_id(&v3)));

    // Another key: refused, nothing written.
    let other = work.path().join("other.key");
    let out =
        run_ccbt(work.path(), publish_args(work.path(), &old_path, &data, "bad.torrent", &other, &boot_addr))
            .await;
    assert!(!out.success(), "{}", out.describe());
    assert!(out.stderr.contains("names the publisher key"), "{}", out.describe());
    assert!(!work.path().join("bad.torrent").exists());
    reader.shutdown().await;
    boot.shutdown().await;
}

/// Every file under `a` equals the file of the same path under `b`.
fn same_files(a: &Path, b: &Path) -> bool {
    support::list_files(a) == support::list_files(b)
        && support::list_files(a)
            .iter()
            .all(|f| std::fs::read(a.join(f)).ok() == std::fs::read(b.join(f)).ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_switches_the_folder_to_the_published_version() {
    let work = work_dir();
    let (boot, boot_addr) = dht_node(&work.path().join("boot"), Vec::new()).await;
    let key = work.path().join("publisher.key");
    let v1_data = write_tree(&work.path().join("v1/dataset"), &[("a.bin", 400_000), ("b/c.bin", 200_000)], 7);
    let v1_path = work.path().join("v1.torrent");
    let create: Vec<String> =
        ["create".into(), v1_data.display().to_string(), "-o".into(), v1_path.display().to_string()]
            .into_iter()
            .chain(["--xet", "--xet-key"].map(String::from))
            .chain([key.display().to_string(), "--xet-salt".into(), SALT.into(), "-q".into()])
            .collect();
    run_ccbt(work.path(), create).await.assert_success("ccbt create --xet --xet-key");
    let net = |state: &str| -> Vec<String> {
        let state = work.path().join(state).display().to_string();
        ["--dht-bootstrap", &boot_addr, "--dht-port", "0", "--listen-port", "0", "--state-dir", &state]
            .map(String::from)
            .to_vec()
    };

    // The publisher seeds version 1; the follower gets it, then follows.
    let mut seed1 = Proc::spawn(
        "ccbt-seed-v1",
        ccbt().arg("seed").arg(&v1_path).arg("-d").arg(work.path().join("v1")).args(net("state-seed")),
        work.path(),
    );
    let port: u16 = tokio::task::block_in_place(|| {
        seed1.wait_for("seeding", LIMIT, |_, err| {
            let line = err.lines().find(|l| l.contains("present; seeding on port"))?;
            line.split("seeding on port ").nth(1)?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        })
    });
    let seed_addr = format!("127.0.0.1:{port}");
    let fol = work.path().join("fol");
    let mut follow = Proc::spawn(
        "ccbt-xet-follow",
        ccbt()
            .args(["xet", "follow"])
            .arg(&v1_path)
            .arg("-o")
            .arg(&fol)
            .args(["--poll-secs", "1", "--peer", &seed_addr])
            .args(net("state-follow"))
            .env("CCBT_XET_ENABLED", "1"),
        work.path(),
    );
    tokio::task::block_in_place(|| {
        follow.wait_for("version 1 complete", LIMIT, |out, _| {
            out.contains("current version complete").then_some(())
        })
    });
    assert!(same_files(&work.path().join("v1"), &fol));
    seed1.terminate(Duration::from_secs(10));

    // Version 2: one file edited, published and seeded.
    let v2_data = work.path().join("v2/dataset");
    std::fs::create_dir_all(v2_data.join("b")).unwrap();
    std::fs::copy(v1_data.join("b/c.bin"), v2_data.join("b/c.bin")).unwrap();
    let mut edited = std::fs::read(v1_data.join("a.bin")).unwrap();
    edited[100_000..100_100].copy_from_slice(&[0xee; 100]);
    std::fs::write(v2_data.join("a.bin"), &edited).unwrap();
    let v2_path = work.path().join("v2.torrent");
    let mut publish = Proc::spawn(
        "ccbt-xet-publish",
        ccbt()
            .args(["xet", "publish"])
            .arg(&v1_path)
            .arg(&v2_data)
            .arg("-o")
            .arg(&v2_path)
            .arg("--key")
            .arg(&key)
            .args(["--seed", "-q"])
            .args(net("state-publish")),
        work.path(),
    );
    tokio::task::block_in_place(|| {
        publish.wait_for("seeding", LIMIT, |out, _| out.contains("seeding from").then_some(()));
        follow.wait_for("the switch", LIMIT, |out, _| out.contains("switched to version 1").then_some(()));
    });
    assert!(same_files(&work.path().join("v2"), &fol), "{}", follow.logs());
    assert!(!fol.join(ccbt_engine::XET_STAGING_DIR).exists());
    let (status, clean) = follow.terminate(Duration::from_secs(20));
    assert!(clean && status.success(), "{status}\n{}", follow.logs());
    publish.terminate(Duration::from_secs(20));
    boot.shutdown().await;
}
