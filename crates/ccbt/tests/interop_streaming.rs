//! Streaming against a rate-limited libtorrent seeder: `ccbt download --streaming` verifies a
//! prefix of the file plus a bounded window at every moment, and `ccbt stream` writes the file
//! to stdout (and ends normally when the player closes the pipe), serving `/metrics` meanwhile.

mod support;

use std::io::Read as _;
use std::path::Path;
use std::process::Stdio;

use support::{
    ccbt, free_port, interop, lt_info_hash, lt_make_torrent, lt_seed, run_with_timeout, work_dir, write_file,
    Kind, Peer, Tool, GRACE, TRANSFER,
};

/// 32 MiB in 64 KiB pieces: 512 pieces, four times the streaming window (8 MiB = 128 pieces).
const FILE_LEN: u64 = 32 * 1024 * 1024 + 4321;
const PIECE: u32 = 64 * 1024;
const WINDOW_PIECES: u32 = 128;
/// The seeder's upload limit: the download takes seconds, so the order of pieces shows.
const UPLOAD_LIMIT: u32 = 8 * 1024 * 1024;

fn stop(peer: &mut Peer) {
    let (status, clean) = peer.proc.terminate(GRACE);
    assert!(clean && status.success(), "lt_seed did not stop cleanly: {status}\n{}", peer.proc.logs());
}

/// A rate-limited libtorrent seeder of `files` (relative path, length) under `W/src/media`;
/// returns it and the torrent's path.
fn seeder(w: &Path, files: &[(&str, u64)]) -> (Peer, std::path::PathBuf) {
    for (i, (rel, len)) in files.iter().enumerate() {
        write_file(&w.join("src/media").join(rel), 70 + i as u64, *len);
    }
    let torrent = w.join("t.torrent");
    lt_make_torrent(&w.join("src/media"), &torrent, PIECE, Kind::V1);
    let limit = UPLOAD_LIMIT.to_string();
    let seed = lt_seed(w, "lt_seed", &torrent, &w.join("src"), &[], &["--upload-limit", &limit]);
    (seed, torrent)
}

/// The pieces in the order ccbt verified them, from its debug log.
fn verified_order(log: &str) -> Vec<u32> {
    log.lines()
        .filter(|l| l.contains("piece verified"))
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("piece=")?.parse().ok()))
        .collect()
}

/// At every moment the verified pieces are a prefix of the file plus pieces less than two
/// windows past it (the window holds `WINDOW_PIECES` pieces still needed; pieces verified
/// inside it stretch it by as many), besides the file's first and last pieces.
fn assert_prefix_plus_window(order: &[u32], pieces: u32) {
    let last = pieces - 1;
    let mut verified = vec![false; pieces as usize];
    for (i, &piece) in order.iter().enumerate() {
        verified[piece as usize] = true;
        let prefix = verified.iter().position(|v| !v).unwrap_or(pieces as usize) as u32;
        let far = (prefix..pieces).filter(|&p| verified[p as usize] && p != last);
        for p in far {
            assert!(
                p < prefix + 2 * WINDOW_PIECES,
                "after {} pieces: piece {p} verified while the prefix ends at {prefix}",
                i + 1
            );
        }
    }
    let at = order.iter().position(|&p| p == last).expect("last piece verified");
    assert!(at < WINDOW_PIECES as usize, "the last piece came only {at}th");
}

#[test]
fn streaming_download_from_libtorrent_verifies_a_prefix_plus_a_window() {
    if !interop("streaming_download_from_libtorrent_verifies_a_prefix_plus_a_window", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let (mut seed, torrent) = seeder(w, &[("video.bin", FILE_LEN)]);
    let out = w.join("out");
    let mut cmd = ccbt();
    cmd.arg("download")
        .arg(&torrent)
        .arg("-o")
        .arg(&out)
        .args(["--listen-port", "0", "--no-dht", "--streaming", "-q", "--peer", &seed.addr()])
        .env("CCBT_LOG_LEVEL", "warn,ccbt_engine::torrent::task=debug");
    let done = run_with_timeout("ccbt-download", &mut cmd, w, TRANSFER);
    done.assert_success("ccbt download --streaming");
    let pieces = FILE_LEN.div_ceil(u64::from(PIECE)) as u32;
    let order = verified_order(&done.stderr);
    assert_eq!(order.len(), pieces as usize, "every piece verified once\n{}", done.describe());
    assert_prefix_plus_window(&order, pieces);
    let expected = std::fs::read(w.join("src/media/video.bin")).unwrap();
    assert!(std::fs::read(out.join("media/video.bin")).unwrap() == expected, "downloaded file differs");
    stop(&mut seed);
}

#[test]
fn stream_from_libtorrent_writes_the_largest_file_to_stdout() {
    if !interop("stream_from_libtorrent_writes_the_largest_file_to_stdout", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let (mut seed, torrent) = seeder(w, &[("a.txt", 100_001), ("video.bin", FILE_LEN / 2), ("z.srt", 5000)]);
    let mut cmd = ccbt();
    cmd.arg("stream").arg(&torrent).arg("-o").arg(w.join("out")).args([
        "--listen-port",
        "0",
        "--no-dht",
        "--peer",
        &seed.addr(),
    ]);
    // stdout goes to W/ccbt-stream.out.
    let done = run_with_timeout("ccbt-stream", &mut cmd, w, TRANSFER);
    done.assert_success("ccbt stream");
    let streamed = std::fs::read(w.join("ccbt-stream.out")).unwrap();
    let expected = std::fs::read(w.join("src/media/video.bin")).unwrap();
    assert_eq!(streamed.len(), expected.len(), "{}", done.stderr);
    assert!(streamed == expected, "the streamed bytes differ from the file");
    assert!(done.stderr.contains("video.bin streamed"), "{}", done.describe());
    stop(&mut seed);
}

/// A magnet link: the metadata comes from libtorrent first, then `--file 0` is streamed.
#[test]
fn stream_of_a_magnet_link_from_libtorrent_writes_the_named_file() {
    if !interop("stream_of_a_magnet_link_from_libtorrent_writes_the_named_file", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let (mut seed, torrent) = seeder(w, &[("a.bin", 3 * 1024 * 1024 + 5), ("b.bin", 7 * 1024 * 1024)]);
    let magnet = format!("magnet:?xt=urn:btih:{}", lt_info_hash(&torrent));
    let mut cmd = ccbt();
    cmd.arg("stream").arg(&magnet).args(["--file", "0", "-o"]).arg(w.join("out")).args([
        "--listen-port",
        "0",
        "--no-dht",
        "--peer",
        &seed.addr(),
    ]);
    let done = run_with_timeout("ccbt-stream", &mut cmd, w, TRANSFER);
    done.assert_success("ccbt stream of a magnet link");
    let streamed = std::fs::read(w.join("ccbt-stream.out")).unwrap();
    let expected = std::fs::read(w.join("src/media/a.bin")).unwrap();
    assert!(
        streamed == expected,
        "the streamed bytes differ from the file
{}",
        done.describe()
    );
    stop(&mut seed);
}

#[test]
fn a_player_closing_the_pipe_ends_the_stream_normally() {
    if !interop("a_player_closing_the_pipe_ends_the_stream_normally", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let (mut seed, torrent) = seeder(w, &[("video.bin", FILE_LEN)]);
    let stderr = std::fs::File::create(w.join("ccbt-stream.err")).unwrap();
    let metrics_port = free_port();
    let mut child = ccbt()
        .arg("stream")
        .arg(&torrent)
        .arg("-o")
        .arg(w.join("out"))
        .args(["--listen-port", "0", "--no-dht", "--peer", &seed.addr()])
        .env("CCBT_ENABLE_METRICS", "true")
        .env("CCBT_METRICS_PORT", metrics_port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    // The player reads the first MiB, checks it, and quits.
    let mut head = vec![0; 1024 * 1024];
    let mut pipe = child.stdout.take().unwrap();
    pipe.read_exact(&mut head).unwrap();
    let expected = std::fs::read(w.join("src/media/video.bin")).unwrap();
    assert!(head[..] == expected[..head.len()], "the first MiB differs");
    // Meanwhile the stream's session serves /metrics, its first byte measured.
    let metrics = scrape_metrics(metrics_port);
    assert!(metrics.contains("\nccbt_torrent_time_to_first_byte_seconds{info_hash="), "{metrics}");
    drop(pipe);
    let status = wait(&mut child);
    let log = std::fs::read_to_string(w.join("ccbt-stream.err")).unwrap();
    assert!(status.success(), "ccbt stream after the pipe closed: {status}\n{log}");
    assert!(log.contains("player closed the pipe"), "{log}");
    stop(&mut seed);
}

/// GET `/metrics` of a session on `port` (up by the time the stream writes data).
fn scrape_metrics(port: u16) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .proxy(None)
        .build()
        .into();
    let mut answer = agent.get(&format!("http://127.0.0.1:{port}/metrics")).call().expect("GET /metrics");
    answer.body_mut().read_to_string().expect("a text body")
}

/// Waits for `child`, killing it after the transfer time.
fn wait(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + TRANSFER;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            return child.wait().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
