//! kill -9 at random moments while downloading from a rate-limited libtorrent seeder: every
//! restart (`ccbt download --resume`) continues from the checkpoint and what is on disk, the
//! final file tree is byte-identical, and across all runs libtorrent uploads no more than the
//! torrent plus, per kill, what can be in flight (the buffer budget: pieces requested or
//! waiting for their hash check).
//!
//! The moments come from a seeded generator; the seed is printed, and `KILL9_SEED=N` repeats a
//! run.

mod support;

use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use support::{
    assert_same_tree, ccbt, interop, lt_make_torrent, lt_seed, run_with_timeout, work_dir, write_tree, Kind,
    Proc, GRACE, TRANSFER,
};

const KILLS: usize = 20;
const PIECE: u32 = 16 * 1024;
/// Eight files of 3 MiB, downloaded in order: files finished before a kill keep their
/// modification time and are trusted from the checkpoint, the one in progress is rechecked.
const LAYOUT: &[(&str, u64)] = &[
    ("f0.bin", 3 << 20),
    ("f1.bin", 3 << 20),
    ("f2.bin", 3 << 20),
    ("f3.bin", 3 << 20),
    ("f4.bin", 3 << 20),
    ("f5.bin", 3 << 20),
    ("f6.bin", 3 << 20),
    ("f7.bin", (3 << 20) + 4321),
];
/// libtorrent's upload limit: 24 MiB take 24 s, longer than the 20 runs that are killed.
const RATE: u64 = 1 << 20;
/// ccbt's buffer budget for this test (`max_buffered_kib`, its minimum).
const BUFFERED_KIB: u64 = 1024;

/// splitmix64: a seeded, printable source of kill moments (no dependency).
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, low: u64, high: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        low + (z ^ (z >> 31)) % (high - low)
    }
}

fn seed_from_env_or_clock() -> u64 {
    std::env::var("KILL9_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    })
}

/// `ccbt download` of `torrent` into `out` from `peer`, resuming without asking.
fn download(w: &Path, torrent: &Path, out: &Path, peer: &str) -> std::process::Command {
    let mut cmd = ccbt();
    cmd.arg("--config")
        .arg(w.join("ccbt.toml"))
        .arg("download")
        .arg(torrent)
        .arg("-o")
        .arg(out)
        .args(["--resume", "--listen-port", "0", "--no-dht", "--no-trackers", "--peer", peer])
        .arg("--checkpoint-dir")
        .arg(w.join("checkpoints"))
        .arg("--state-dir")
        .arg(w.join("state"))
        .args(["--piece-selection", "sequential", "--log-level", "info"]);
    cmd
}

/// The verified count of the "resuming data from its checkpoint (N/M pieces verified)" note.
fn resumed_from(stderr: &str) -> Option<u32> {
    let tail = stderr.split("from its checkpoint (").nth(1)?;
    tail.split('/').next()?.parse().ok()
}

/// The payload bytes lt_seed reports having uploaded when it exits.
fn uploaded(stderr: &str) -> u64 {
    let line = stderr.lines().find(|l| l.contains("exiting, uploaded")).expect("lt_seed's upload total");
    let tail = line.split("uploaded ").nth(1).expect("a number");
    tail.split_whitespace().next().and_then(|n| n.parse().ok()).expect("a number")
}

#[test]
fn kill_9_at_random_moments_loses_nothing_verified() {
    if !interop("kill_9_at_random_moments_loses_nothing_verified", &[support::Tool::Libtorrent]) {
        return;
    }
    let seed = seed_from_env_or_clock();
    eprintln!("kill moments from KILL9_SEED={seed}");
    let mut moments = Moments(seed);
    let work = work_dir();
    let w = work.path();
    let content = write_tree(&w.join("src/data"), LAYOUT, 9);
    let torrent = w.join("t.torrent");
    lt_make_torrent(&content, &torrent, PIECE, Kind::V1);
    std::fs::write(w.join("ccbt.toml"), format!("[disk]\nmax_buffered_kib = {BUFFERED_KIB}\n"))
        .expect("write ccbt.toml");
    let mut seeder =
        lt_seed(w, "lt_seed", &torrent, &w.join("src"), &[], &["--upload-limit", &RATE.to_string()]);
    let out = w.join("out");
    let mut resumed_runs = 0;
    let mut progress = Vec::new();
    for run in 0..KILLS {
        let mut proc =
            Proc::spawn(&format!("ccbt-{run}"), &mut download(w, &torrent, &out, &seeder.addr()), w);
        let moment = moments.next_ms(150, 900);
        sleep(Duration::from_millis(moment));
        assert!(
            proc.try_wait().is_none(),
            "run {run} ended before its kill at {moment} ms (KILL9_SEED={seed})\n{}",
            proc.logs()
        );
        proc.kill();
        if let Some(verified) = resumed_from(&proc.stderr_text()) {
            resumed_runs += 1;
            progress.push(verified);
        }
    }
    eprintln!("pieces in the checkpoint each run resumed from: {progress:?}");
    // Never a restart from zero: each checkpoint holds at least what the one before held.
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?} (KILL9_SEED={seed})");
    let done =
        run_with_timeout("ccbt-final", &mut download(w, &torrent, &out, &seeder.addr()), w, TRANSFER * 2);
    done.assert_success(&format!("the final run (KILL9_SEED={seed})"));
    assert!(done.stderr.contains("from its checkpoint"), "the final run did not resume\n{}", done.describe());
    assert_same_tree(&content, &out.join("data"));
    let (status, clean) = seeder.proc.terminate(GRACE);
    assert!(clean && status.success(), "lt_seed did not stop cleanly\n{}", seeder.proc.logs());
    let total: u64 = LAYOUT.iter().map(|(_, len)| len).sum();
    let sent = uploaded(&seeder.proc.stderr_text());
    // Per kill, at most the buffer budget plus the piece that may start just under it was
    // requested and not yet verified on disk; every verified piece survives.
    let in_flight = BUFFERED_KIB * 1024 + u64::from(PIECE);
    let bound = total + KILLS as u64 * in_flight;
    eprintln!(
        "uploaded {sent} bytes for a {total}-byte torrent, {resumed_runs} runs resumed before their kill"
    );
    assert!(
        sent <= bound,
        "libtorrent uploaded {sent} bytes: more than the torrent ({total}) plus {KILLS} kills × {in_flight} in flight (KILL9_SEED={seed})"
    );
    // Most runs live long enough to find the previous run's checkpoint (the first has none).
    assert!(resumed_runs >= KILLS / 2, "only {resumed_runs} of {KILLS} runs resumed (KILL9_SEED={seed})");
}

/// The `key=value` of the engine's "resumed from the checkpoint" log line.
fn resumed_field(stderr: &str, key: &str) -> Option<u64> {
    let line = stderr.lines().find(|l| l.contains("resumed from the checkpoint"))?;
    let tail = line.split(&format!("{key}=")).nth(1)?;
    tail.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// SIGTERM (like Ctrl-C) in the middle of a download saves a checkpoint after the last write:
/// the restart hashes no file again (only the sample) and completes.
#[test]
fn sigterm_saves_a_checkpoint_that_needs_no_recheck() {
    if !interop("sigterm_saves_a_checkpoint_that_needs_no_recheck", &[support::Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = write_tree(&w.join("src/data"), &LAYOUT[..2], 11);
    let torrent = w.join("t.torrent");
    lt_make_torrent(&content, &torrent, PIECE, Kind::V1);
    std::fs::write(w.join("ccbt.toml"), format!("[disk]\nmax_buffered_kib = {BUFFERED_KIB}\n")).unwrap();
    let mut seeder =
        lt_seed(w, "lt_seed", &torrent, &w.join("src"), &[], &["--upload-limit", &RATE.to_string()]);
    let out = w.join("out");
    let mut first = Proc::spawn("ccbt-first", &mut download(w, &torrent, &out, &seeder.addr()), w);
    // Some pieces arrive (6 MiB at 1 MiB/s take 6 s), then the signal.
    first.wait_for("a first batch of pieces", TRANSFER, |_, err| {
        err.contains("download started").then_some(())
    });
    sleep(Duration::from_millis(2500));
    let (status, clean) = first.terminate(GRACE);
    assert!(clean && status.code() == Some(130), "{status}\n{}", first.logs());
    let again = run_with_timeout("ccbt-again", &mut download(w, &torrent, &out, &seeder.addr()), w, TRANSFER);
    again.assert_success("the run after SIGTERM");
    let verified = resumed_from(&again.stderr).expect("resumed from the checkpoint");
    assert!(verified > 0, "{}", again.describe());
    assert_eq!(resumed_field(&again.stderr, "rechecked"), Some(0), "{}", again.describe());
    assert!(!again.stderr.contains("changed since the checkpoint"), "{}", again.describe());
    assert_same_tree(&content, &out.join("data"));
    seeder.proc.terminate(GRACE);
}
