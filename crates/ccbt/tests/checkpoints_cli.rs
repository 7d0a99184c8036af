//! `ccbt checkpoints list | clean | delete | verify | export`, on checkpoints written with the
//! checkpoint crate's own API (so these tests do not depend on a download writing them).

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ccbt_checkpoint::{
    decode, Checkpoint, CheckpointFormat, CheckpointStore, FileEntry, FilePriority, FileStamp, Format,
    TorrentState,
};
use ccbt_core::{Bitfield, InfoHash};
use ccbt_metainfo::Torrent;
use support::{ccbt, ccbt_create, run_with_timeout, work_dir, write_tree, Finished};

const LAYOUT: &[(&str, u64)] = &[("a.bin", 40_001), ("sub/b.bin", 70_000)];
const PIECE: u32 = 16 * 1024;
const SHORT: Duration = Duration::from_secs(30);
const DAY: u64 = 24 * 60 * 60;

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Data in `W/src/data`, its torrent, and a checkpoint claiming every piece, as a download
/// that finished would leave it.
fn complete_download(work: &Path) -> Checkpoint {
    write_tree(&work.join("src/data"), LAYOUT, 5);
    let torrent_path = work.join("data.torrent");
    ccbt_create(&work.join("src/data"), &torrent_path, PIECE, &[]);
    let torrent = Torrent::from_file_bytes(&std::fs::read(&torrent_path).unwrap()).unwrap();
    let mut c = Checkpoint::new(torrent.info_hash, "data", work.join("src"), torrent.num_pieces());
    c.info = Some(torrent.info_bytes.clone());
    c.source.torrent_file = Some(torrent_path);
    c.set_verified_pieces(&Bitfield::full(torrent.num_pieces()));
    for (rel, len) in LAYOUT {
        let meta = std::fs::metadata(work.join("src/data").join(rel)).unwrap();
        c.files.push(FileEntry {
            path: Path::new("data").join(rel),
            length: *len,
            observed: Some(FileStamp::of(&meta)),
            created_by_ccbt: true,
            priority: FilePriority::Normal,
        });
    }
    c.state = TorrentState::Seeding;
    c.saved_at = now_secs();
    c
}

fn small(byte: u8, name: &str, saved_at: u64) -> Checkpoint {
    let mut c = Checkpoint::new(InfoHash([byte; 20]), name, "/nowhere", 8);
    let mut half = Bitfield::new(8);
    (0..4).for_each(|p| {
        half.set(p);
    });
    c.set_verified_pieces(&half);
    c.state = TorrentState::Paused;
    c.saved_at = saved_at;
    c
}

fn checkpoints(work: &Path, dir: &Path, args: &[&str]) -> Finished {
    let mut cmd = ccbt();
    cmd.arg("checkpoints").args(args).arg("--checkpoint-dir").arg(dir);
    run_with_timeout("ccbt-checkpoints", &mut cmd, work, SHORT)
}

fn exists(store: &CheckpointStore, hash: &InfoHash, format: Format) -> bool {
    store.path(hash, format).exists()
}

#[test]
fn list_shows_each_checkpoint_and_unreadable_files() {
    let work = work_dir();
    let dir = work.path().join("cp");
    let store = CheckpointStore::new(&dir);
    store.save(&small(0xaa, "first\x1b[2J", now_secs()), CheckpointFormat::Binary).unwrap();
    store.save(&small(0xbb, "second", now_secs()), CheckpointFormat::Json).unwrap();
    std::fs::write(store.path(&InfoHash([0xcc; 20]), Format::Binary), b"CCBTCKPT\x01").unwrap();

    let out = checkpoints(work.path(), &dir, &["list"]);
    out.assert_success("checkpoints list");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    assert!(lines[0].starts_with("INFO HASH"), "{}", out.stdout);
    assert!(lines[1].starts_with(&"aa".repeat(20)), "{}", out.stdout);
    // The name's escape sequence is not printed as is.
    assert!(lines[1].contains("first?[2J") && !out.stdout.contains('\x1b'), "{}", out.stdout);
    for word in ["50.0%", "paused", "binary"] {
        assert!(lines[1].contains(word), "{word}: {}", lines[1]);
    }
    assert!(lines[2].contains("second") && lines[2].contains("json"), "{}", lines[2]);
    assert!(lines[3].starts_with(&"cc".repeat(20)) && lines[3].contains("unreadable"), "{}", lines[3]);
    assert!(lines[3].contains("truncated"), "{}", lines[3]);

    let empty = checkpoints(work.path(), &work.path().join("none"), &["list"]);
    empty.assert_success("checkpoints list (empty)");
    assert!(empty.stdout.starts_with("no checkpoints in"), "{}", empty.stdout);
}

#[test]
fn clean_removes_old_checkpoints_with_a_dry_run_first() {
    let work = work_dir();
    let dir = work.path().join("cp");
    let store = CheckpointStore::new(&dir);
    let (old, recent) = (small(1, "old", now_secs() - 10 * DAY), small(2, "recent", now_secs() - 2 * DAY));
    store.save(&old, CheckpointFormat::Both).unwrap();
    store.save(&recent, CheckpointFormat::Binary).unwrap();

    let dry = checkpoints(work.path(), &dir, &["clean", "--days", "7", "--dry-run"]);
    dry.assert_success("clean --dry-run");
    assert!(dry.stdout.contains("would remove 2 files"), "{}", dry.stdout);
    assert!(exists(&store, &old.info_hash, Format::Json) && exists(&store, &old.info_hash, Format::Binary));

    let done = checkpoints(work.path(), &dir, &["clean", "--days", "7"]);
    done.assert_success("clean");
    assert!(done.stdout.contains("removed 2 files"), "{}", done.stdout);
    assert!(!exists(&store, &old.info_hash, Format::Json) && !exists(&store, &old.info_hash, Format::Binary));
    assert!(exists(&store, &recent.info_hash, Format::Binary));

    // Without --days: `checkpoint_retention_days` of the configuration.
    let mut cmd = ccbt();
    cmd.args(["checkpoints", "clean"])
        .arg("--checkpoint-dir")
        .arg(&dir)
        .env("CCBT_CHECKPOINT_RETENTION_DAYS", "1");
    let by_config = run_with_timeout("ccbt-clean-config", &mut cmd, work.path(), SHORT);
    by_config.assert_success("clean by configuration");
    assert!(by_config.stdout.contains("older than 1 day"), "{}", by_config.stdout);
    assert!(!exists(&store, &recent.info_hash, Format::Binary));
}

#[test]
fn delete_takes_a_unique_prefix_and_refuses_an_ambiguous_one() {
    let work = work_dir();
    let dir = work.path().join("cp");
    let store = CheckpointStore::new(&dir);
    let mut a = small(0xab, "a", now_secs());
    let mut b = small(0xab, "b", now_secs());
    a.info_hash.0[19] = 0x10;
    b.info_hash.0[19] = 0x20;
    store.save(&a, CheckpointFormat::Both).unwrap();
    store.save(&b, CheckpointFormat::Json).unwrap();

    let ambiguous = checkpoints(work.path(), &dir, &["delete", "abab"]);
    assert_eq!(ambiguous.status.and_then(|s| s.code()), Some(1), "{}", ambiguous.stderr);
    assert!(ambiguous.stderr.contains("matches several checkpoints"), "{}", ambiguous.stderr);
    assert!(exists(&store, &a.info_hash, Format::Json) && exists(&store, &b.info_hash, Format::Json));

    let prefix = &a.info_hash.to_hex()[..39];
    let done = checkpoints(work.path(), &dir, &["delete", prefix]);
    done.assert_success("delete");
    assert_eq!(done.stdout.lines().count(), 2, "both formats: {}", done.stdout);
    assert!(!exists(&store, &a.info_hash, Format::Json) && !exists(&store, &a.info_hash, Format::Binary));
    assert!(exists(&store, &b.info_hash, Format::Json));

    let unknown = checkpoints(work.path(), &dir, &["delete", "ffff"]);
    assert_eq!(unknown.status.and_then(|s| s.code()), Some(1));
    assert!(unknown.stderr.contains("no checkpoint matches ffff"), "{}", unknown.stderr);
}

#[test]
fn verify_rehashes_claimed_pieces_and_reports_damage() {
    let work = work_dir();
    let w = work.path();
    let dir = w.join("cp");
    let store = CheckpointStore::new(&dir);
    let c = complete_download(w);
    store.save(&c, CheckpointFormat::Binary).unwrap();
    let hash = c.info_hash.to_hex();

    let good = checkpoints(w, &dir, &["verify", &hash, "-q"]);
    good.assert_success("verify intact data");
    let n = c.piece_count;
    assert!(good.stdout.contains(&format!("{n}/{n} claimed pieces OK")), "{}", good.stdout);

    // One flipped byte in the first file: its piece is claimed but bad.
    let a = w.join("src/data/a.bin");
    let mut bytes = std::fs::read(&a).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&a, &bytes).unwrap();
    let bad = checkpoints(w, &dir, &["verify", &hash, "-q"]);
    assert_eq!(bad.status.and_then(|s| s.code()), Some(1), "{}", bad.stdout);
    assert!(bad.stdout.contains(&format!("{}/{n} claimed pieces OK", n - 1)), "{}", bad.stdout);
    assert!(bad.stdout.contains("bad: 1 claimed piece(s) fail their hash: 0"), "{}", bad.stdout);
    assert!(bad.stdout.contains("changed: data/a.bin"), "{}", bad.stdout);

    // A truncated file is reported shorter.
    let b = w.join("src/data/sub/b.bin");
    std::fs::File::options().write(true).open(&b).unwrap().set_len(10).unwrap();
    let short = checkpoints(w, &dir, &["verify", &hash, "-q"]);
    assert_eq!(short.status.and_then(|s| s.code()), Some(1));
    assert!(short.stdout.contains("shorter: data/sub/b.bin (10 B, the checkpoint saw"), "{}", short.stdout);

    // A deleted file is reported missing, and verify (read-only) does not create it again.
    std::fs::remove_file(&b).unwrap();
    let missing = checkpoints(w, &dir, &["verify", &hash, "-q"]);
    assert_eq!(missing.status.and_then(|s| s.code()), Some(1));
    assert!(missing.stdout.contains("missing: data/sub/b.bin"), "{}", missing.stdout);
    assert!(!b.exists(), "verify created a file");
}

#[test]
fn verify_of_a_damaged_checkpoint_says_so() {
    let work = work_dir();
    let w = work.path();
    let dir = w.join("cp");
    let store = CheckpointStore::new(&dir);
    let c = small(0x42, "x", now_secs());
    store.save(&c, CheckpointFormat::Binary).unwrap();
    let path = store.path(&c.info_hash, Format::Binary);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&path, bytes).unwrap();
    let out = checkpoints(w, &dir, &["verify", "4242"]);
    assert_eq!(out.status.and_then(|s| s.code()), Some(1));
    assert!(
        out.stdout.contains("checkpoint unusable") && out.stdout.contains("checksum mismatch"),
        "{}",
        out.stdout
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn export_writes_either_format() {
    let work = work_dir();
    let w = work.path();
    let dir = w.join("cp");
    let store = CheckpointStore::new(&dir);
    let c = small(0x17, "exported", now_secs());
    store.save(&c, CheckpointFormat::Binary).unwrap();
    for (format, magic) in [("json", &b"{"[..]), ("binary", &b"CCBTCKPT"[..])] {
        let out: PathBuf = w.join(format!("out.{format}"));
        let done = checkpoints(w, &dir, &["export", "1717", "--format", format, "-o", out.to_str().unwrap()]);
        done.assert_success("export");
        let bytes = std::fs::read(&out).unwrap();
        assert!(bytes.starts_with(magic), "{format}");
        assert_eq!(decode(&bytes).unwrap(), c);
    }
    let missing = checkpoints(w, &dir, &["export", "99", "--format", "json", "-o", "x.json"]);
    assert_eq!(missing.status.and_then(|s| s.code()), Some(1));
}

#[test]
fn the_folder_comes_from_the_configuration() {
    let work = work_dir();
    let dir = work.path().join("configured");
    CheckpointStore::new(&dir).save(&small(0x33, "configured", now_secs()), CheckpointFormat::Json).unwrap();
    let mut cmd = ccbt();
    cmd.args(["checkpoints", "list"]).env("CCBT_CHECKPOINT_DIR", &dir);
    let out = run_with_timeout("ccbt-list-config", &mut cmd, work.path(), SHORT);
    out.assert_success("list from CCBT_CHECKPOINT_DIR");
    assert!(out.stdout.contains("configured"), "{}", out.stdout);
    // The default: `checkpoints` under `state_dir`.
    let state = work.path().join("state");
    CheckpointStore::new(state.join("checkpoints"))
        .save(&small(0x44, "under-state", now_secs()), CheckpointFormat::Json)
        .unwrap();
    let mut cmd = ccbt();
    cmd.args(["checkpoints", "list"]).env("CCBT_STATE_DIR", &state);
    let out = run_with_timeout("ccbt-list-state", &mut cmd, work.path(), SHORT);
    out.assert_success("list under state_dir");
    assert!(out.stdout.contains("under-state"), "{}", out.stdout);
}
