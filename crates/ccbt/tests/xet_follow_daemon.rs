//! `ccbt xet follow` handed to a daemon (`POST /api/v1/xet/follows`), `ccbt xet follows` and
//! `ccbt xet unfollow`: the follow survives a daemon restart (xet_follows.json) and the daemon
//! switches the folder to the version published after it; a damaged follows file is reported
//! and moved aside, the daemon starts all the same. DHT nodes on loopback, as in xet_publish.rs.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use ccbt_engine::{Session, SessionOptions};
use support::daemon_state::StateDir;
use support::{ccbt, run_with_timeout, work_dir, write_tree, Proc};

const LIMIT: Duration = Duration::from_secs(120);
const SALT: &str = "org/dataset";

async fn dht_node(state: &Path) -> (Session, String) {
    let options = SessionOptions {
        listen_port: 0,
        listen_host: "127.0.0.1".parse().unwrap(),
        enable_dht: true,
        dht_port: 0,
        dht_bootstrap_nodes: Vec::new(),
        state_dir: state.to_owned(),
        ..SessionOptions::default()
    };
    let session = Session::new(options).await.unwrap();
    let addr = session.dht_status().await.expect("dht running").local_addr.to_string();
    (session, addr)
}

/// Every file under `a` equals the file of the same path under `b`.
fn same_files(a: &Path, b: &Path) -> bool {
    support::list_files(a) == support::list_files(b)
        && support::list_files(a)
            .iter()
            .all(|f| std::fs::read(a.join(f)).ok() == std::fs::read(b.join(f)).ok())
}

/// `ccbt daemon start` with Xet on and a DHT node that knows `boot`; it must answer.
fn start_daemon(state: &StateDir, work: &Path, boot: &str) {
    let mut cmd = ccbt();
    cmd.args(["daemon", "start", "--api-port", "0", "--listen-port", "0", "--no-trackers"])
        .args(["--dht-bootstrap", boot, "--log-level", "info", "--state-dir"])
        .arg(&state.path)
        .env("CCBT_DHT_PORT", "0")
        .env("CCBT_XET_ENABLED", "1");
    let done = run_with_timeout("daemon-start", &mut cmd, work, LIMIT);
    assert!(done.success(), "{}\n{}", done.describe(), state.log());
}

/// Runs `ccbt xet follows` until `done` holds for its output (the follow's block).
fn wait_follows(state: &StateDir, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + LIMIT;
    loop {
        let out = state.ccbt("xet-follows", &["xet", "follows"]);
        out.assert_success("ccbt xet follows");
        if done(&out.stdout) {
            return out.stdout;
        }
        assert!(Instant::now() < deadline, "{what}: not in time\n{}\n{}", out.stdout, state.log());
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_follow_survives_a_restart_and_switches_to_the_published_version() {
    let work = work_dir();
    let (boot, boot_addr) = dht_node(&work.path().join("boot")).await;
    let key = work.path().join("publisher.key");
    let v1_data = write_tree(&work.path().join("v1/dataset"), &[("a.bin", 400_000), ("b/c.bin", 200_000)], 7);
    let v1_path = work.path().join("v1.torrent");
    let mut create = ccbt();
    create.arg("create").arg(&v1_data).arg("-o").arg(&v1_path).args(["--xet", "--xet-key"]).arg(&key);
    create.args(["--xet-salt", SALT, "-q"]);
    tokio::task::block_in_place(|| run_with_timeout("create", &mut create, work.path(), LIMIT))
        .assert_success("ccbt create --xet --xet-key");
    let net = |state: &str| -> Vec<String> {
        let state = work.path().join(state).display().to_string();
        ["--dht-bootstrap", &boot_addr, "--dht-port", "0", "--listen-port", "0", "--state-dir", &state]
            .map(String::from)
            .to_vec()
    };
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

    // The daemon takes the follow and gets version 1 into the folder.
    let state = StateDir::new(work.path(), "state-daemon");
    let fol = work.path().join("fol");
    let id = tokio::task::block_in_place(|| {
        start_daemon(&state, work.path(), &boot_addr);
        let v1 = v1_path.display().to_string();
        let dir = fol.display().to_string();
        let args = ["xet", "follow", &v1, "-o", &dir, "--poll-secs", "1", "--peer", &seed_addr];
        let out = state.ccbt("xet-follow", &args);
        out.assert_success("ccbt xet follow (through the daemon)");
        assert!(out.stdout.contains("the daemon (http://"), "{}", out.stdout);
        let id = out.stdout.lines().find_map(|l| l.strip_prefix("id:")).expect("an id").trim().to_owned();
        // A second follow of the same item into the same folder is refused.
        let again = state.ccbt("xet-follow-again", &args);
        assert!(!again.success() && again.stderr.contains("already keeps"), "{}", again.describe());
        wait_follows(&state, "version 1 complete", |out| out.contains(&id) && out.contains("following"));
        id
    });
    assert!(same_files(&work.path().join("v1"), &fol));
    seed1.terminate(Duration::from_secs(10));

    // A restart: the follow is read back and runs again on the restored torrent.
    tokio::task::block_in_place(|| {
        state.stop("daemon-stop");
        let saved = std::fs::read_to_string(state.path.join("xet_follows.json")).unwrap();
        assert!(saved.contains(&id), "{saved}");
        start_daemon(&state, work.path(), &boot_addr);
        assert!(state.log().contains("1 xet follow(s) resumed"), "{}", state.log());
        wait_follows(&state, "the follow resumed", |out| out.contains(&id) && out.contains("following"));
    });

    // Version 2: one file edited, published and seeded; the daemon switches the folder.
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
        let out = wait_follows(&state, "the switch", |out| out.contains("1 switches"));
        let line: Vec<&str> =
            out.lines().find(|l| l.starts_with(&id)).expect("its line").split_whitespace().collect();
        assert_eq!(line, [id.as_str(), "following", "1", &fol.display().to_string()], "{out}");
        // The version in use is version 2's: its id is what the daemon recorded.
        let v2 = ccbt_metainfo::Torrent::from_bytes(&std::fs::read(&v2_path).unwrap()).unwrap();
        let v2_id = ccbt_engine::follow_id(&v2).to_hex();
        let saved = std::fs::read_to_string(state.path.join("xet_follows.json")).unwrap();
        assert!(saved.contains(&v2_id) && saved.contains("\"seq\": 1"), "{saved}");
    });
    assert!(same_files(&work.path().join("v2"), &fol), "{}", state.log());
    assert!(!fol.join(ccbt_engine::XET_STAGING_DIR).exists());

    tokio::task::block_in_place(|| {
        let out = state.ccbt("xet-unfollow", &["xet", "unfollow", &id]);
        out.assert_success("ccbt xet unfollow");
        let out = state.ccbt("xet-follows", &["xet", "follows"]);
        assert!(out.stdout.contains("the daemon follows no dataset"), "{}", out.stdout);
        let out = state.ccbt("xet-unfollow-again", &["xet", "unfollow", &id]);
        assert!(!out.success() && out.stderr.contains(&format!("no follow {id}")), "{}", out.describe());
        state.stop("daemon-stop-2");
    });
    assert!(same_files(&work.path().join("v2"), &fol), "unfollowing changed the folder");
    publish.terminate(Duration::from_secs(20));
    boot.shutdown().await;
}

#[test]
fn a_damaged_follows_file_is_reported_and_the_daemon_starts() {
    let work = work_dir();
    let state = StateDir::new(work.path(), "state");
    std::fs::create_dir_all(&state.path).unwrap();
    std::fs::write(state.path.join("xet_follows.json"), b"{\"format\": 1, \"follows\": [").unwrap();
    // Without a daemon there is nothing to list.
    let out = state.ccbt("xet-follows", &["xet", "follows"]);
    assert!(!out.success() && out.stderr.contains("no ccbt daemon is running"), "{}", out.describe());

    let mut start = state.start_command(false);
    start.env("CCBT_XET_ENABLED", "1");
    let started = run_with_timeout("daemon-start", &mut start, work.path(), LIMIT);
    assert!(started.success(), "{}\n{}", started.describe(), state.log());
    let log = state.log();
    assert!(log.contains("error: xet follows:") && log.contains("is damaged"), "{log}");
    assert!(log.contains("xet_follows.json.damaged"), "{log}");
    assert!(state.path.join("xet_follows.json.damaged").exists());
    let out = state.ccbt("xet-follows", &["xet", "follows"]);
    out.assert_success("ccbt xet follows");
    assert!(out.stdout.contains("the daemon follows no dataset"), "{}", out.stdout);
    // This daemon runs without the DHT: a follow is refused, saying why.
    let link = format!("magnet:?xs=urn:btpk:{}", "ab".repeat(32));
    let dir = work.path().join("set").display().to_string();
    let out = state.ccbt("xet-follow", &["xet", "follow", &link, "-o", &dir]);
    assert!(!out.success() && out.stderr.contains("the daemon runs without"), "{}", out.describe());
    state.stop("daemon-stop");
}
