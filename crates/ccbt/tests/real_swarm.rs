//! A real swarm on loopback (issue 8): one rate-limited libtorrent seeder, three ccbt leechers
//! and two libtorrent leechers, all started together and meeting through opentracker. The
//! seeder alone is too slow to serve everyone, so the leechers must trade. Every leecher must end
//! with the exact bytes, and the ccbt leechers must have uploaded both to libtorrent leechers
//! and to each other.
//!
//! Who sent what: every libtorrent peer has its own loopback address and writes per-connection
//! byte counts (tests/interop/ltstats.py); ccbt's connections all leave from 127.0.0.1 (it binds
//! its listener only, so outgoing connections take the kernel's default source), which makes
//! 127.0.0.1 "a ccbt leecher" for the libtorrent side. Each ccbt leecher prints exact totals
//! (downloaded, uploaded, wasted) when it stops.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::discovery::{lt_leech, lt_make_torrent_with, require_program, Tracker};
use support::swarm::{ccbt_totals, CcbtTotals, LtStats};
use support::{
    assert_same_tree, ccbt, interop, lt_info_hash, lt_seed_at, poll_until, work_dir, write_file, Proc, Tool,
    GRACE, SETUP,
};

/// The seeder's own address, and the libtorrent leechers' (one each: libtorrent counts by IP).
const SEED_HOST: &str = "127.0.0.2";
const LT_HOSTS: [&str; 2] = ["127.0.0.20", "127.0.0.21"];
/// Where every ccbt leecher listens and, as the kernel picks it, where its dials come from.
const CCBT_HOST: &str = "127.0.0.1";
const CCBT_LEECHERS: usize = 3;
/// 24 MiB in 768 pieces of 32 KiB: many pieces to trade, seconds of work.
const SIZE: u64 = 24 * 1024 * 1024;
const PIECE: u32 = 32 * 1024;
/// The seeder's upload limit (bytes/s): one copy takes ~8 s while five are wanted, so most
/// bytes must come from other leechers.
const SEED_LIMIT: u64 = 3_000_000;
/// Time for the whole swarm to complete (a few tens of seconds on a loaded 2-core machine).
const SWARM: Duration = Duration::from_secs(180);

struct Leecher {
    proc: Proc,
    out: PathBuf,
    stats: Option<PathBuf>,
}

impl Leecher {
    fn done(&self) -> bool {
        match self.stats {
            // lt_leech.py prints `DONE <secs>` after flushing; ccbt prints its summary line once
            // every piece is verified and written.
            Some(_) => self.proc.stdout_text().lines().any(|l| l.starts_with("DONE ")),
            None => self.proc.stdout_text().contains(" verified in "),
        }
    }
}

fn start_ccbt(w: &Path, i: usize, torrent: &Path) -> Leecher {
    let out = w.join(format!("ccbt{i}"));
    let mut cmd = ccbt();
    cmd.env("CCBT_LISTEN_HOST", CCBT_HOST).arg("download").arg(torrent).arg("-o").arg(&out).args([
        "--listen-port",
        "0",
        "--no-dht",
        "--seed",
        "--progress-interval",
        "1",
    ]);
    Leecher { proc: Proc::spawn(&format!("ccbt{i}"), &mut cmd, w), out, stats: None }
}

fn start_lt(w: &Path, i: usize, host: &str, torrent: &Path, url: &str) -> Leecher {
    let out = w.join(format!("lt{i}"));
    let stats = w.join(format!("lt{i}.stats"));
    let (t, o, s) = (torrent.to_str().unwrap(), out.to_str().unwrap(), stats.to_str().unwrap());
    let args = [
        "--torrent",
        t,
        "--out",
        o,
        "--port",
        "0",
        "--host",
        host,
        "--tracker",
        url,
        "--keep-seeding",
        "--stats-file",
        s,
        "--timeout",
        "300",
    ];
    Leecher { proc: lt_leech(w, &format!("lt{i}"), &args), out, stats: Some(stats) }
}

/// Stops a helper that keeps seeding with SIGTERM and insists it leaves cleanly.
fn stop(proc: &mut Proc, what: &str) {
    let (status, clean) = proc.terminate(GRACE);
    assert!(clean && status.success(), "{what} did not stop cleanly ({status})\n{}", proc.logs());
}

#[test]
fn real_swarm_ccbt_and_libtorrent_leechers_trade() {
    let test = "real_swarm_ccbt_and_libtorrent_leechers_trade";
    if !interop(test, &[Tool::Libtorrent]) {
        return;
    }
    require_program(test, "opentracker", "opentracker");
    let work = work_dir();
    let w = work.path();
    let content = w.join("src/swarm.bin");
    write_file(&content, 8, SIZE);

    // The announce URL is outside the info dictionary: the bare torrent has the same hash and
    // tells the whitelist-mode tracker what to allow before its URL is known.
    let bare = w.join("bare.torrent");
    lt_make_torrent_with(&content, &bare, PIECE, &[]);
    let mut tracker = Tracker::start(w, "tracker", &[&bare]);
    let url = tracker.http_url();
    let torrent = w.join("swarm.torrent");
    lt_make_torrent_with(&content, &torrent, PIECE, &["--tracker", &url]);
    let hash = lt_info_hash(&torrent);

    let seed_stats = w.join("seed.stats");
    let limit = SEED_LIMIT.to_string();
    let seed_extra =
        ["--tracker", &url, "--upload-limit", &limit, "--stats-file", seed_stats.to_str().unwrap()];
    let mut seed = lt_seed_at(SEED_HOST, w, "lt_seed", &torrent, &w.join("src"), &[], &seed_extra);
    // Seeder first: opentracker's interval is ~30 min, so leechers announcing before it would
    // only meet it when its own announce made it dial them.
    let announced = poll_until(SETUP, || tracker.scrape(&hash).is_some_and(|c| c.seeders >= 1));
    assert!(announced, "lt_seed never showed up at the tracker\n{}", seed.proc.logs());

    // All leechers at once. Each learns from the tracker the peers that announced before it
    // and is dialled by the ones after it, so everyone can reach everyone.
    let mut leechers: Vec<Leecher> = (0..CCBT_LEECHERS).map(|i| start_ccbt(w, i, &torrent)).collect();
    for (i, host) in LT_HOSTS.iter().enumerate() {
        leechers.push(start_lt(w, i, host, &torrent, &url));
    }
    let all_done = poll_until(SWARM, || {
        leechers.iter_mut().all(|l| l.done()) || leechers.iter_mut().any(|l| l.proc.try_wait().is_some())
    });
    for l in &mut leechers {
        assert!(all_done && l.done(), "a leecher did not complete\n{}", l.proc.logs());
    }
    for l in &leechers {
        let got = l.out.join("swarm.bin");
        assert_same_tree(&content, &got);
    }

    // The libtorrent peers first, each writing its counters while its connections are up;
    // then the ccbt leechers, each printing its totals.
    stop(&mut seed.proc, "lt_seed");
    let (ccbt_leechers, lt_leechers) = leechers.split_at_mut(CCBT_LEECHERS);
    for l in lt_leechers.iter_mut() {
        stop(&mut l.proc, "lt_leech");
    }
    let mut ccbt_totals_all: Vec<CcbtTotals> = Vec::new();
    for l in ccbt_leechers.iter_mut() {
        stop(&mut l.proc, "ccbt download --seed");
        let totals = ccbt_totals(&l.proc.stdout_text())
            .unwrap_or_else(|| panic!("no totals line from ccbt\n{}", l.proc.logs()));
        ccbt_totals_all.push(totals);
    }
    stop(&mut tracker.proc, "tracker.py");

    let seed = LtStats::read(&seed_stats);
    let lts: Vec<LtStats> = lt_leechers.iter().map(|l| LtStats::read(l.stats.as_ref().unwrap())).collect();
    check_trade(&ccbt_totals_all, &seed, &lts);
}

/// The accounting: prints who sent what and asserts ccbt uploaded to libtorrent and to ccbt.
fn check_trade(ccbt: &[CcbtTotals], seed: &LtStats, lts: &[LtStats]) {
    let ccbt_up: u64 = ccbt.iter().map(|t| t.uploaded).sum();
    let ccbt_down: u64 = ccbt.iter().map(|t| t.downloaded).sum();
    let ccbt_wasted: u64 = ccbt.iter().map(|t| t.wasted).sum();
    // Lower bounds (sampled per connection on the libtorrent side).
    let ccbt_to_lt: u64 = lts.iter().map(|s| s.down_from(CCBT_HOST)).sum();
    let lt_to_ccbt: u64 = lts.iter().map(|s| s.up_to(CCBT_HOST)).sum();
    let seed_to_ccbt = seed.up_to(CCBT_HOST);
    // The libtorrent leechers' exact totals minus what they counted from anyone else (a lower
    // bound) bound from above what ccbt sent them; the rest of ccbt's exact upload total went
    // to other ccbt leechers (the seeder takes nothing).
    let lt_from_ccbt_at_most: u64 = lts
        .iter()
        .map(|s| {
            let others: u64 = s.peers.iter().filter(|p| p.ip != CCBT_HOST).map(|p| p.down).sum();
            s.total_download.saturating_sub(others)
        })
        .sum();
    let ccbt_to_ccbt_at_least = ccbt_up.saturating_sub(lt_from_ccbt_at_most);
    eprintln!(
        "swarm accounting (bytes): seeder uploaded {} (to ccbt >= {seed_to_ccbt}); ccbt leechers \
         downloaded {ccbt_down}, uploaded {ccbt_up} (per leecher {:?}), wasted {ccbt_wasted}; \
         ccbt -> libtorrent {ccbt_to_lt}..={lt_from_ccbt_at_most}; libtorrent -> ccbt >= {lt_to_ccbt}; \
         ccbt -> ccbt >= {ccbt_to_ccbt_at_least}; libtorrent redundant {:?}",
        seed.total_upload,
        ccbt.iter().map(|t| t.uploaded).collect::<Vec<_>>(),
        lts.iter().map(|s| s.redundant).collect::<Vec<_>>(),
    );
    for t in ccbt {
        assert!(t.downloaded >= SIZE, "a ccbt leecher downloaded less than the torrent: {t:?}");
        assert!(t.uploaded > 0, "a ccbt leecher uploaded nothing to the swarm: {t:?}");
    }
    assert!(ccbt_to_lt > 0, "no libtorrent leecher received anything from a ccbt leecher");
    assert!(
        ccbt_to_ccbt_at_least > 0,
        "the ccbt leechers' uploads ({ccbt_up}) may all have gone to the libtorrent leechers \
         (up to {lt_from_ccbt_at_most}): no evidence ccbt leechers uploaded to each other"
    );
}
