//! Chunk traffic obeys the rate limits (docs/xet.md, "Choking" and "Fetching chunks from
//! peers"): the chunks a Xet update fetches over `xet_cas` draw from the answering seeder's
//! upload limit and from the asker's download limit, like piece data. The assertions are upper
//! bounds a slow machine cannot break (as in limits.rs): the chunk bytes received by time `t`
//! never exceed what the limit allowed since the update was added (nothing moved by chunks
//! before), plus one burst (a full bucket then) and one chunk of slack.

mod common;

use std::time::Duration;

use ccbt_engine::{AddTorrent, Session};
use common::xet::xet_torrent;
use common::*;
use tokio::time::Instant;

const PIECE: u32 = 4 << 20;
const KIB: u64 = 1024;
/// The largest Xet chunk: a chunk is counted when its last byte arrives.
const MAX_CHUNK: u64 = 128 * KIB;

/// Version 1 complete and indexed at the follower, version 2 (384 KiB changed inside its first
/// piece) seeded by another session; `rate` limits the seeder's uploads or the follower's
/// downloads. The follower adds version 2 and the chunk bytes it fetches are bounded by `rate`.
async fn chunks_bounded_by(rate: u64, limit_seeder: bool) {
    let dirs: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let [v1_dir, v2_dir, follower_dir, state, seed_state] = &dirs[..] else { unreachable!() };
    let old = data(8 << 20, 71);
    let mut new = old.clone();
    new[1 << 20..(1 << 20) + (384 << 10)].copy_from_slice(&data(384 << 10, 72));
    let v1 = xet_torrent(v1_dir.path(), "d.bin", &[("", &old)], PIECE);
    let v2 = xet_torrent(v2_dir.path(), "d.bin", &[("", &new)], PIECE);

    let mut follower_opts = xet_session_options(state.path(), true);
    let mut seeder_opts = xet_session_options(seed_state.path(), false);
    if limit_seeder {
        seeder_opts.global_up_rate = rate;
    } else {
        follower_opts.global_down_rate = rate;
    }
    let follower = Session::new(follower_opts).await.unwrap();
    let id1 = follower.add_torrent(AddTorrent::new(v1).save_path(v1_dir.path())).await.unwrap();
    wait_complete(&follower, id1, Duration::from_secs(120)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while follower.xet_stats().await.unwrap().files < 1 {
        assert!(tokio::time::Instant::now() < deadline, "version 1 not indexed in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seeder = Session::new(seeder_opts).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(v2.clone()).save_path(v2_dir.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(120)).await;

    // No chunk moved before this; from here on a limiter's bucket holds at most one burst.
    let start = Instant::now();
    let add = AddTorrent::new(v2.clone()).save_path(follower_dir.path()).peers([seeder.listen_addr()]);
    let id2 = follower.add_torrent(add).await.unwrap();
    let slack = ccbt_proto::limit::burst_for(rate) + MAX_CHUNK;
    let end = Instant::now() + Duration::from_secs(120);
    while !follower.status(id2).unwrap().is_complete() {
        assert!(Instant::now() < end, "version 2 not complete in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Read the clock after the counter: the bound then only gets looser.
        let fill = follower.xet_fill(id2).unwrap();
        let allowed = (rate as f64 * start.elapsed().as_secs_f64()) as u64 + slack;
        assert!(
            fill.swarm_chunk_bytes <= allowed,
            "{} chunk bytes, at most {allowed} allowed",
            fill.swarm_chunk_bytes
        );
    }
    let fill = follower.xet_fill(id2).unwrap();
    // The test means something only if the update went by chunks, more than the slack's worth.
    assert!(fill.swarm_chunk_bytes > slack, "{fill:?}");
    follower.shutdown().await;
    seeder.shutdown().await;
    assert_same_files(&v2, v2_dir.path(), follower_dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answering_seeders_upload_limit_bounds_the_chunks_it_sends() {
    chunks_bounded_by(96 * KIB, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_askers_download_limit_bounds_the_chunks_it_reads() {
    chunks_bounded_by(96 * KIB, false).await;
}
