//! Rate limits with libtorrent on the other side: ccbt downloading under `--down-limit` from a
//! libtorrent seeder, and seeding under `--up-limit` to a libtorrent leecher, over loopback
//! (which ccbt limits like any other address), and a limit edited into the configuration file
//! while a download runs.
//!
//! The assertions are the limiter's upper bound read as a lower bound on time: a bucket never
//! grants more than `rate × T + burst`, so moving `size` bytes takes at least
//! `(size − burst) / rate`. A slow machine only makes transfers longer, so it cannot fail them.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::{
    assert_same_tree, ccbt, interop, lt_leech_from, lt_make_torrent, lt_seed, run_with_timeout, work_dir,
    write_file, Kind, Peer, Proc, Tool, GRACE, SETUP, TRANSFER,
};

const KIB: u64 = 1024;
/// The payload: 2 MiB and a bit, 8 s at 256 KiB/s.
const SIZE: u64 = 2 * 1024 * 1024 + 777;
const LIMIT_KIB: u64 = 256;

/// The most a bucket of `rate` bytes/s grants at once (ccbt's `burst_for`: a fifth of a
/// second, at least 32 KiB).
fn burst(rate: u64) -> u64 {
    (rate / 5).max(32 * KIB)
}

/// The shortest time `SIZE` bytes can take under `LIMIT_KIB`.
fn fastest_allowed() -> Duration {
    let rate = LIMIT_KIB * KIB;
    Duration::from_secs_f64((SIZE - burst(rate)) as f64 / rate as f64)
}

fn payload(w: &Path) -> std::path::PathBuf {
    let file = w.join("src/limited.bin");
    write_file(&file, 81, SIZE);
    let torrent = w.join("t.torrent");
    lt_make_torrent(&file, &torrent, 32 * 1024, Kind::V1);
    file
}

#[test]
fn download_limit_holds_against_a_libtorrent_seeder() {
    if !interop("download_limit_holds_against_a_libtorrent_seeder", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let file = payload(w);
    let torrent = w.join("t.torrent");
    let mut seed = lt_seed(w, "lt_seed", &torrent, &w.join("src"), &[], &[]);
    let out = w.join("out");
    let mut cmd = ccbt();
    cmd.arg("download").arg(&torrent).arg("-o").arg(&out).args(["--listen-port", "0", "--no-dht"]);
    cmd.args(["--peer", &seed.addr(), "--down-limit", &LIMIT_KIB.to_string()]);
    // The session and its empty buckets start after this instant.
    let started = Instant::now();
    let done = run_with_timeout("ccbt-download", &mut cmd, w, TRANSFER);
    let took = started.elapsed();
    done.assert_success("ccbt download under --down-limit");
    assert_same_tree(&file, &out.join("limited.bin"));
    assert!(took >= fastest_allowed(), "{SIZE} bytes in {took:?}: faster than {LIMIT_KIB} KiB/s allows");
    stop(&mut seed.proc, "lt_seed");
}

#[test]
fn upload_limit_holds_against_a_libtorrent_leecher() {
    if !interop("upload_limit_holds_against_a_libtorrent_leecher", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let file = payload(w);
    let torrent = w.join("t.torrent");
    let mut seed = ccbt_seed_limited(w, &torrent);
    let out = w.join("out");
    let done = lt_leech_from(w, &torrent, &out, &seed.addr());
    done.assert_success("lt_leech from a ccbt seed under --up-limit");
    // "DONE <seconds>": from libtorrent adding the torrent to its completion.
    let secs: f64 = done
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("DONE ")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no DONE line\n{}", done.describe()));
    let took = Duration::from_secs_f64(secs);
    assert_same_tree(&file, &out.join("limited.bin"));
    assert!(took >= fastest_allowed(), "{SIZE} bytes in {took:?}: faster than {LIMIT_KIB} KiB/s allows");
    stop(&mut seed.proc, "ccbt seed");
}

/// A limit edited into the configuration file reaches a download already running: the
/// download starts unlimited, waiting with no peer; the edit sets `torrent_down_kib`; then the
/// libtorrent seeder dials it, and the transfer takes at least as long as the new limit allows.
#[test]
fn a_limit_edited_into_the_config_holds_against_a_libtorrent_seeder() {
    if !interop("a_limit_edited_into_the_config_holds_against_a_libtorrent_seeder", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let file = payload(w);
    let torrent = w.join("t.torrent");
    // Info level: the download logs the address it listens on.
    let config = w.join("ccbt.toml");
    let logging = "[observability]\nlog_level = \"info\"\n";
    save(&config, &format!("{logging}[limits]\ntorrent_down_kib = 0\n"));
    let out = w.join("out");
    let mut cmd = ccbt();
    cmd.arg("--config").arg(&config).arg("download").arg(&torrent).arg("-o").arg(&out);
    cmd.args(["--quiet", "--listen-port", "0", "--no-dht"]);
    let mut download = Proc::spawn("download", &mut cmd, w);
    let port = support::wait_listen_addr(&mut download).port();
    save(&config, &format!("{logging}[limits]\ntorrent_down_kib = {LIMIT_KIB}\n"));
    let applied = format!("config: limits.torrent_down_kib = {LIMIT_KIB} applied");
    download.wait_for(&applied, SETUP, |_, err| err.contains(&applied).then_some(()));

    let started = Instant::now();
    let mut seed = lt_seed(w, "lt_seed", &torrent, &w.join("src"), &[format!("127.0.0.1:{port}")], &[]);
    let status = download.wait_timeout(TRANSFER).unwrap_or_else(|| panic!("no exit\n{}", download.logs()));
    let took = started.elapsed();
    assert!(status.success(), "download failed\n{}", download.logs());
    assert_same_tree(&file, &out.join("limited.bin"));
    assert!(took >= fastest_allowed(), "{SIZE} bytes in {took:?}: faster than {LIMIT_KIB} KiB/s allows");
    stop(&mut seed.proc, "lt_seed");
}

/// Replaces `path` with `text` the way editors save (a new file renamed over the old one).
fn save(path: &Path, text: &str) {
    let temporary = path.with_extension("toml.new");
    std::fs::write(&temporary, text).expect("write config");
    std::fs::rename(&temporary, path).expect("replace config");
}

/// `ccbt seed --up-limit`, ready once it reports seeding.
fn ccbt_seed_limited(w: &Path, torrent: &Path) -> Peer {
    let mut cmd = ccbt();
    cmd.arg("seed").arg(torrent).arg("-d").arg(w.join("src"));
    cmd.args(["--listen-port", "0", "--no-dht", "--up-limit", &LIMIT_KIB.to_string()]);
    let mut proc = Proc::spawn("ccbt-seed", &mut cmd, w);
    let port = proc.wait_for("seeding", SETUP, |_, err| {
        let line = err.lines().find(|l| l.contains("present; seeding on port"))?;
        let tail = line.split("seeding on port ").nth(1)?;
        tail.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    });
    Peer { proc, host: "127.0.0.1", port }
}

fn stop(proc: &mut Proc, what: &str) {
    let (status, clean) = proc.terminate(GRACE);
    assert!(clean && status.success(), "{what} did not stop cleanly: {status}\n{}", proc.logs());
}
