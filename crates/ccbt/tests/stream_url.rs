//! `ccbt stream-url` against a real daemon: the URLs it prints stream a file over a plain HTTP
//! connection with no Authorization header (what a player without header support sends), and
//! stop working when the daemon restarts with a new token.

mod support;

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use support::{ccbt, ccbt_create, poll_until, run_with_timeout, work_dir, write_file, Finished, SETUP};

/// `ccbt ARGS --state-dir STATE` to completion.
fn run(state: &Path, name: &str, args: &[&str]) -> Finished {
    let mut cmd = ccbt();
    cmd.args(args).arg("--state-dir").arg(state);
    run_with_timeout(name, &mut cmd, state.parent().unwrap(), SETUP)
}

fn start(state: &Path, name: &str) {
    let args = ["daemon", "start", "--api-port", "0", "--listen-port", "0", "--no-dht", "--no-trackers"];
    let done = run(state, name, &args);
    assert!(done.success(), "daemon start failed\n{}", done.describe());
}

/// Kills whatever daemon still runs for the folder when the test ends.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let text = std::fs::read_to_string(self.0.join("daemon.lock")).unwrap_or_default();
        if let Some(pid) = text.lines().find_map(|l| l.strip_prefix("pid ")) {
            let _ = std::process::Command::new("kill").args(["-KILL", pid.trim()]).output();
        }
    }
}

/// `method` of `url` (`http://ADDR/PATH?QUERY`) with `extra` header lines, as a player would
/// send it: the status line and headers, and the body.
fn fetch(method: &str, url: &str, extra: &str) -> (String, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (addr, path) = rest.split_at(rest.find('/').expect("a path"));
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(SETUP)).unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("no end of headers");
    (String::from_utf8_lossy(&answer[..split]).into_owned(), answer[split + 4..].to_vec())
}

#[test]
fn printed_urls_stream_without_a_token_until_the_daemon_restarts() {
    let work = work_dir();
    let w = work.path();
    let state = w.join("state");
    let _cleanup = Cleanup(state.clone());
    let data_dir = w.join("data/album");
    write_file(&data_dir.join("one.flac"), 1, 300_000);
    write_file(&data_dir.join("two.flac"), 2, 50_000);
    let torrent = w.join("album.torrent");
    let created = ccbt_create(&data_dir, &torrent, 16 * 1024, &[]);
    let info_hash = created.lines().find_map(|l| l.strip_prefix("info hash: ")).unwrap().trim().to_owned();
    start(&state, "start-1");
    // Added over its complete data: it checks, then seeds.
    let add = run(&state, "add", &["add", torrent.to_str().unwrap(), "-o", w.join("data").to_str().unwrap()]);
    assert!(add.success(), "{}", add.describe());
    let seeding = || run(&state, "status", &["status", &info_hash]).stdout.contains("seeding");
    assert!(poll_until(SETUP, seeding), "the torrent never seeded");

    let all = run(&state, "urls", &["stream-url", &info_hash[..8]]);
    assert!(all.success(), "{}", all.describe());
    let lines: Vec<Vec<&str>> = all.stdout.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 2, "{}", all.stdout);
    assert_eq!((lines[0][0], lines[0][2]), ("0", "album/one.flac"), "{}", all.stdout);
    assert_eq!((lines[1][0], lines[1][2]), ("1", "album/two.flac"), "{}", all.stdout);
    let one = run(&state, "url", &["stream-url", &info_hash, "1"]);
    assert!(one.success(), "{}", one.describe());
    let url = one.stdout.trim().to_owned();
    assert_eq!(url, lines[1][1]);
    assert!(url.contains(&format!("/api/v1/torrents/{info_hash}/files/1/stream?sig=")), "{url}");

    let want = std::fs::read(data_dir.join("two.flac")).unwrap();
    let (head, body) = fetch("GET", &url, "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body == want, "the file streamed differs");
    let (head, body) = fetch("GET", &url, "Range: bytes=-100\r\n");
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert!(body == want[want.len() - 100..], "the range streamed differs");
    let (head, body) = fetch("HEAD", &url, "");
    assert!(head.to_ascii_lowercase().contains("content-length: 50000"), "{head}");
    assert!(body.is_empty());
    // File 0's URL does not open file 1, nor the rest of the API.
    let (head, _) = fetch("GET", &lines[0][1].replace("/files/0/", "/files/1/"), "");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let base = url.split("/api/").next().unwrap();
    let sig = url.rsplit_once("sig=").unwrap().1;
    let (head, _) = fetch("GET", &format!("{base}/api/v1/torrents?sig={sig}"), "");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");

    let bad = run(&state, "bad-index", &["stream-url", &info_hash, "7"]);
    assert_eq!(bad.code(), Some(1), "{}", bad.describe());
    assert!(bad.stderr.contains("no file 7"), "{}", bad.describe());

    // A restart makes a new token: the old URL is refused, the new one (same path, new
    // signature) works.
    let stop = run(&state, "stop", &["daemon", "stop"]);
    assert!(stop.success(), "{}", stop.describe());
    start(&state, "start-2");
    assert!(poll_until(SETUP, seeding), "not seeding after the restart");
    let again = run(&state, "url-2", &["stream-url", &info_hash, "1"]);
    let new_url = again.stdout.trim().to_owned();
    assert!(again.success() && new_url != url, "{}", again.describe());
    let old = url.replace(base, new_url.split("/api/").next().unwrap());
    let (head, _) = fetch("GET", &old, "");
    assert!(head.starts_with("HTTP/1.1 401"), "the old signature still works: {head}");
    let (head, body) = fetch("GET", &new_url, "");
    assert!(head.starts_with("HTTP/1.1 200") && body == want, "{head}");
    let stop = run(&state, "stop-2", &["daemon", "stop"]);
    assert!(stop.success(), "{}", stop.describe());
}

#[test]
fn stream_url_without_a_daemon_says_how_to_start_one() {
    let work = work_dir();
    let state = work.path().join("state");
    let done = run(&state, "no-daemon", &["stream-url", "abcd"]);
    assert_eq!(done.code(), Some(1), "{}", done.describe());
    assert!(done.stderr.contains("no ccbt daemon is running"), "{}", done.describe());
}
