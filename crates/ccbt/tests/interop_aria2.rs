//! ccbt seeding to aria2 and Transmission. Neither has a "connect to this peer" flag, so the
//! ccbt seeder dials the leecher's listen port (`ccbt seed --peer 127.0.0.1:PORT`). aria2 1.36
//! mishandles hybrid torrents, so these are v1-only.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{
    assert_same_tree, ccbt_create, ccbt_seed, free_port, interop, lt_make_torrent, poll_until, same_tree,
    wait_port_open, work_dir, write_file, write_tree, Kind, Peer, Proc, Tool, GRACE, ODD_LAYOUT, SETUP,
    TRANSFER,
};

fn stop(peer: &mut Peer) {
    let (status, clean) = peer.proc.terminate(GRACE);
    assert!(clean && status.success(), "ccbt seed did not stop cleanly: {status}\n{}", peer.proc.logs());
}

/// Starts aria2c as a leecher of `torrent` into `out`, listening on a free port.
fn spawn_aria2(w: &Path, torrent: &Path, out: &Path) -> (Proc, u16) {
    let port = free_port();
    let mut aria = Proc::spawn(
        "aria2c",
        Command::new("aria2c")
            .args([
                "--no-conf",
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--disable-ipv6=true",
                &format!("--listen-port={port}"),
                "--seed-time=0",
                "--file-allocation=none",
                "--console-log-level=warn",
                "--summary-interval=0",
                "-d",
            ])
            .arg(out)
            .arg(torrent),
        w,
    );
    wait_port_open(port, &mut aria, SETUP);
    (aria, port)
}

fn seed_to_aria2(test: &str, make: impl FnOnce(&Path, &Path) -> PathBuf) {
    if !interop(test, &[Tool::Aria2]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let torrent = w.join("t.torrent");
    let content = make(w, &torrent);
    let out = w.join("out");
    let (mut aria, port) = spawn_aria2(w, &torrent, &out);
    let mut seed = ccbt_seed(w, "ccbt-seed", &torrent, &w.join("src"), &[format!("127.0.0.1:{port}")]);
    let status = aria.wait_timeout(TRANSFER);
    assert!(
        status.is_some_and(|s| s.success()),
        "aria2c did not finish with exit 0: {status:?}\n{}\n{}",
        aria.logs(),
        seed.proc.logs()
    );
    assert_same_tree(&content, &out.join(content.file_name().unwrap()));
    stop(&mut seed);
}

#[test]
fn aria2_downloads_ccbt_created_single_file_from_ccbt() {
    seed_to_aria2("aria2_downloads_ccbt_created_single_file_from_ccbt", |w, torrent| {
        let file = w.join("src/single.bin");
        write_file(&file, 41, 2 * 1024 * 1024 + 777);
        ccbt_create(&file, torrent, 32 * 1024, &[]);
        file
    });
}

#[test]
fn aria2_downloads_ccbt_created_multi_file_from_ccbt() {
    seed_to_aria2("aria2_downloads_ccbt_created_multi_file_from_ccbt", |w, torrent| {
        let content = write_tree(&w.join("src/data"), ODD_LAYOUT, 42);
        ccbt_create(&content, torrent, 16 * 1024, &[]);
        content
    });
}

#[test]
fn aria2_downloads_libtorrent_made_v1_torrent_from_ccbt() {
    if !interop("aria2_downloads_libtorrent_made_v1_torrent_from_ccbt", &[Tool::Libtorrent]) {
        return;
    }
    seed_to_aria2("aria2_downloads_libtorrent_made_v1_torrent_from_ccbt", |w, torrent| {
        let content = write_tree(&w.join("src/data"), ODD_LAYOUT, 43);
        lt_make_torrent(&content, torrent, 64 * 1024, Kind::V1);
        content
    });
}

/// Transmission 3.00 keeps seeding forever, so the test watches the files and then kills it.
/// It never creates zero-length files, so this layout has none; it is also slow to ramp up on
/// loopback (about 1 MiB/s, with libtorrent as the seeder too), so the data is small.
#[test]
fn transmission_downloads_from_ccbt() {
    if !interop("transmission_downloads_from_ccbt", &[Tool::Transmission]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let layout = [("a.bin", 1_000_003), ("sub/b.bin", 16_385), ("sub/deeper/c.bin", 300_007), ("d.bin", 1)];
    let content = write_tree(&w.join("src/data"), &layout, 44);
    let torrent = w.join("t.torrent");
    ccbt_create(&content, &torrent, 32 * 1024, &[]);

    let port = free_port();
    // Loopback only, no discovery, files under their final names from the start.
    let config = w.join("transmission");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("settings.json"),
        format!(
            r#"{{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
"port-forwarding-enabled": false, "peer-port": {port}, "peer-port-random-on-start": false,
"bind-address-ipv4": "127.0.0.1", "rename-partial-files": false, "encryption": 1,
"speed-limit-up-enabled": false, "speed-limit-down-enabled": false, "ratio-limit-enabled": false}}"#
        ),
    )
    .unwrap();
    let out = w.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let mut tr = Proc::spawn(
        "transmission-cli",
        Command::new("transmission-cli")
            .arg("-g")
            .arg(&config)
            .args(["-p", &port.to_string(), "-M", "-w"])
            .arg(&out)
            .arg(&torrent),
        w,
    );
    wait_port_open(port, &mut tr, SETUP);
    let mut seed = ccbt_seed(w, "ccbt-seed", &torrent, &w.join("src"), &[format!("127.0.0.1:{port}")]);
    let target = out.join("data");
    let done = poll_until(TRANSFER, || same_tree(&content, &target) || tr.try_wait().is_some());
    assert!(
        done && tr.try_wait().is_none(),
        "Transmission did not get the data (or exited)\n{}\n{}",
        tr.logs(),
        seed.proc.logs()
    );
    tr.terminate(Duration::from_secs(5));
    assert_same_tree(&content, &target);
    stop(&mut seed);
}
