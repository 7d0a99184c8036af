//! Rate limits between two ccbt sessions over loopback. The assertions are upper bounds that
//! a slow machine cannot break: the bytes moved by time `t` never exceed what the limit
//! allowed since the limiter started (its buckets start empty), plus one burst of slack.

mod common;

use std::time::Duration;

use ccbt_engine::{AddTorrent, RateLimits, Session, SessionOptions, TorrentId, TorrentLimits};
use ccbt_metainfo::Torrent;
use common::*;
use tokio::time::Instant;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// A bucket's depth at `rate` (a fifth of a second, at least 32 KiB), as the limiter has it.
fn burst(rate: u64) -> u64 {
    ccbt_proto::limit::burst_for(rate)
}

struct Pair {
    seeder: Session,
    leecher: Session,
    torrent: Torrent,
    leech_id: TorrentId,
    _src: tempfile::TempDir,
    dst: tempfile::TempDir,
}

/// A seeder with `len` bytes and a leecher dialling it, each session with its options.
async fn pair(
    len: usize,
    seeder_opts: SessionOptions,
    leecher_opts: SessionOptions,
    add: TorrentLimits,
) -> Pair {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let torrent = make_torrent(src.path(), "payload", &[("", data(len, 7))], 64 * 1024);
    let seeder = Session::new(seeder_opts).await.unwrap();
    let seed_id = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
    wait_complete(&seeder, seed_id, Duration::from_secs(30)).await;
    let leecher = Session::new(leecher_opts).await.unwrap();
    let add =
        AddTorrent::new(torrent.clone()).save_path(dst.path()).peers([seeder.listen_addr()]).limits(add);
    let leech_id = leecher.add_torrent(add).await.unwrap();
    Pair { seeder, leecher, torrent, leech_id, _src: src, dst }
}

impl Pair {
    fn downloaded(&self) -> u64 {
        self.leecher.status(self.leech_id).unwrap().downloaded
    }

    fn complete(&self) -> bool {
        self.leecher.status(self.leech_id).unwrap().is_complete()
    }

    /// Samples `moved` every 50 ms until the download completes or `until` passes, checking
    /// `moved ≤ base + rate × (now − since) + slack` at each sample.
    async fn bound(
        &self,
        moved: impl Fn(&Pair) -> u64,
        since: Instant,
        base: u64,
        rate: u64,
        slack: u64,
        until: Duration,
    ) {
        let end = Instant::now() + until;
        while Instant::now() < end && !self.complete() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            // Read the clock after the counter: the bound then only gets looser.
            let bytes = moved(self);
            let allowed = base + (rate as f64 * since.elapsed().as_secs_f64()) as u64 + slack;
            assert!(bytes <= allowed, "{bytes} bytes moved, at most {allowed} allowed");
        }
    }

    async fn finish(self) {
        wait_complete(&self.leecher, self.leech_id, Duration::from_secs(120)).await;
        self.leecher.shutdown().await;
        self.seeder.shutdown().await;
        assert_same_files(&self.torrent, self._src.path(), self.dst.path());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_limit_bounds_what_is_read() {
    let rate = 256 * KIB;
    let start = Instant::now();
    let leecher = SessionOptions { global_down_rate: rate, ..options() };
    let p = pair(1536 * KIB as usize, options(), leecher, TorrentLimits::default()).await;
    p.bound(Pair::downloaded, start, 0, rate, burst(rate), Duration::from_secs(60)).await;
    p.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_limit_bounds_what_is_sent() {
    let rate = 256 * KIB;
    let start = Instant::now();
    let seeder = SessionOptions { global_up_rate: rate, ..options() };
    let p = pair(1536 * KIB as usize, seeder, options(), TorrentLimits::default()).await;
    // Measured where the bytes arrive: the seeder's own counter counts blocks when they are
    // queued, up to a write buffer ahead of the socket.
    p.bound(Pair::downloaded, start, 0, rate, burst(rate), Duration::from_secs(60)).await;
    p.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_peer_limit_bounds_each_connection() {
    let rate = 200 * KIB;
    let start = Instant::now();
    let leecher = SessionOptions { peer_down_rate: rate, ..options() };
    let p = pair(1024 * KIB as usize, options(), leecher, TorrentLimits::default()).await;
    // One connection: its own bucket bounds the whole download.
    p.bound(Pair::downloaded, start, 0, rate, burst(rate), Duration::from_secs(60)).await;
    p.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_limit_raised_while_running_lets_the_download_finish() {
    let tiny = 8 * KIB;
    let start = Instant::now();
    let leecher = SessionOptions { global_down_rate: tiny, ..options() };
    // 8 MiB at 8 KiB/s would take 17 minutes: finishing within the wait proves the raise.
    let p = pair(8 * MIB as usize, options(), leecher, TorrentLimits::default()).await;
    p.bound(Pair::downloaded, start, 0, tiny, burst(tiny), Duration::from_secs(2)).await;
    assert!(!p.complete());
    p.leecher.set_limits(RateLimits::default());
    assert_eq!(p.leecher.limits(), RateLimits::default());
    p.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torrent_limit_lowered_while_running_holds_from_then_on() {
    let (fast, slow) = (MIB, 128 * KIB);
    let p = pair(6 * MIB as usize, options(), options(), TorrentLimits { download: fast, upload: 0 }).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let lowered = Instant::now();
    let base = p.downloaded();
    p.leecher.set_torrent_limits(p.leech_id, TorrentLimits { download: slow, upload: 0 }).unwrap();
    assert_eq!(p.leecher.torrent_limits(p.leech_id).unwrap().download, slow);
    // A grant taken before the change (at most one burst of the old rate) may still be counted
    // after it; the bucket keeps at most one burst of the new rate.
    let slack = burst(fast) + burst(slow);
    p.bound(Pair::downloaded, lowered, base, slow, slack, Duration::from_secs(3)).await;
    p.leecher.set_torrent_limits(p.leech_id, TorrentLimits::default()).unwrap();
    p.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_of_an_unknown_torrent_are_an_error() {
    let session = Session::new(options()).await.unwrap();
    assert!(session.set_torrent_limits(TorrentId(99), TorrentLimits::default()).is_err());
    assert!(session.torrent_limits(TorrentId(99)).is_err());
    let bad = SessionOptions { global_up_rate: 10, ..options() };
    assert!(Session::new(bad).await.is_err());
    session.shutdown().await;
}
