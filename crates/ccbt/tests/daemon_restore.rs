//! The daemon over many torrents: 300 complete torrents added through the API are checked once
//! (their files are the user's); after `daemon stop` and `start` every one is restored from its
//! checkpoint and listed, seeding, without hashing a piece, except those of the one file
//! modified while the daemon was stopped.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ccbt_api::{AddRequest, TorrentList, TorrentView};
use ccbt_metainfo::TorrentBuilder;
use sha1::{Digest, Sha1};
use support::{ccbt, gen_bytes, poll_until, run_with_timeout, work_dir, SETUP};

const TORRENTS: usize = 300;
const PIECE: u32 = 16 * 1024;

/// A single-file torrent of `len` bytes of `data`, written to `dir`; its info hash in hex.
fn make_torrent(data_dir: &Path, torrent_dir: &Path, i: usize) -> (PathBuf, String) {
    let name = format!("t{i:03}.bin");
    let len = u64::from(PIECE) + 1 + (i as u64 * 97) % u64::from(PIECE);
    let bytes = gen_bytes(i as u64, len);
    std::fs::write(data_dir.join(&name), &bytes).unwrap();
    let piece_hashes = bytes.chunks(PIECE as usize).map(|c| Sha1::digest(c).into()).collect();
    let builder = TorrentBuilder {
        name: name.clone(),
        files: vec![(Vec::new(), len)],
        piece_length: PIECE,
        piece_hashes,
        ..Default::default()
    };
    let encoded = builder.build().unwrap();
    let info_hash = ccbt_metainfo::Torrent::from_bytes(&encoded).unwrap().info_hash.to_hex();
    let path = torrent_dir.join(format!("t{i:03}.torrent"));
    std::fs::write(&path, encoded).unwrap();
    (path, info_hash)
}

/// The API of the daemon of `state`: base URL and token.
struct Api {
    url: String,
    token: String,
    agent: ureq::Agent,
}

impl Api {
    fn open(state: &Path) -> Api {
        let lock = std::fs::read_to_string(state.join("daemon.lock")).unwrap();
        let url = lock.lines().find_map(|l| l.strip_prefix("url ")).expect("url in the lock file");
        let token = ccbt_api::read_token_file(&state.join("api_token")).unwrap();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .proxy(None)
            .build()
            .into();
        Api { url: format!("{}{}", url.trim(), ccbt_api::PREFIX), token: token.as_str().to_owned(), agent }
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    fn add(&self, request: &AddRequest) {
        let body = serde_json::to_string(request).unwrap();
        let url = format!("{}/torrents", self.url);
        let post =
            self.agent.post(&url).header("Authorization", &self.auth()).content_type("application/json");
        post.send(body.as_bytes()).unwrap_or_else(|e| panic!("adding {}: {e}", request.source));
    }

    fn torrents(&self) -> Vec<TorrentView> {
        let url = format!("{}/torrents", self.url);
        let mut response = self.agent.get(&url).header("Authorization", &self.auth()).call().unwrap();
        let text = response.body_mut().with_config().limit(64 << 20).read_to_string().unwrap();
        serde_json::from_str::<TorrentList>(&text).unwrap().torrents
    }

    /// The torrents once all `count` are listed and seeding.
    fn all_seeding(&self, count: usize) -> Vec<TorrentView> {
        let mut last = Vec::new();
        let done = poll_until(Duration::from_secs(120), || {
            last = self.torrents();
            last.len() == count && last.iter().all(|t| t.state == "seeding")
        });
        let states: BTreeSet<&str> = last.iter().map(|t| t.state.as_str()).collect();
        assert!(done, "{} torrents listed, states {states:?}", last.len());
        last
    }
}

/// Kills whatever daemon still runs in the state folder when the test ends (a failed assert).
struct KillOnDrop(PathBuf);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let text = std::fs::read_to_string(self.0.join("daemon.lock")).unwrap_or_default();
        if let Some(pid) = text.lines().find_map(|l| l.strip_prefix("pid ")) {
            let _ = std::process::Command::new("kill").args(["-KILL", pid.trim()]).output();
        }
    }
}

fn daemon(state: &Path, log_dir: &Path, args: &[&str]) {
    let mut cmd = ccbt();
    cmd.arg("daemon").args(args).arg("--state-dir").arg(state);
    let done = run_with_timeout(args[0], &mut cmd, log_dir, SETUP * 4);
    let log = std::fs::read_to_string(state.join("daemon.log")).unwrap_or_default();
    assert!(done.success(), "daemon {args:?} failed\n{}\n--- daemon.log ---\n{log}", done.describe());
}

#[test]
fn restart_restores_hundreds_of_torrents_without_hashing() {
    let work = work_dir();
    let w = work.path();
    let (data, torrents, state) = (w.join("data"), w.join("torrents"), w.join("state"));
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&torrents).unwrap();
    let made: Vec<(PathBuf, String)> = (0..TORRENTS).map(|i| make_torrent(&data, &torrents, i)).collect();
    let _kill = KillOnDrop(state.clone());
    let start = ["start", "--api-port", "0", "--listen-port", "0", "--no-dht", "--no-trackers"];
    daemon(&state, w, &start);
    let api = Api::open(&state);
    for (path, _) in &made {
        let source = path.to_str().unwrap().to_owned();
        api.add(&AddRequest { source, save_path: Some(data.clone()), ..Default::default() });
    }
    // The files were there before ccbt: every piece is checked once.
    for t in api.all_seeding(TORRENTS) {
        assert_eq!(t.hashed_pieces, u64::from(t.pieces_total), "{}", t.name);
    }
    daemon(&state, w, &["stop"]);

    // A file modified while the daemon was stopped: its pieces are hashed again.
    let changed = data.join("t007.bin");
    let later = SystemTime::now() + Duration::from_secs(60);
    std::fs::File::options().write(true).open(&changed).unwrap().set_modified(later).unwrap();
    daemon(&state, w, &start);
    let api = Api::open(&state);
    let restored = api.all_seeding(TORRENTS);
    let expected: BTreeSet<&str> = made.iter().map(|(_, h)| h.as_str()).collect();
    let listed: BTreeSet<&str> = restored.iter().map(|t| t.info_hash.as_str()).collect();
    assert_eq!(listed, expected);
    for t in &restored {
        let hashed = if t.name == "t007.bin" { u64::from(t.pieces_total) } else { 0 };
        assert_eq!(t.hashed_pieces, hashed, "{} after the restart", t.name);
        assert_eq!(t.pieces_have, t.pieces_total, "{}", t.name);
    }
    daemon(&state, w, &["stop"]);
}
