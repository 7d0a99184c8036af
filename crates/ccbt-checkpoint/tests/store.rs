//! The checkpoint folder: atomic saves, loading with a fallback, listings that survive bad files,
//! deletion, retention and export.

use std::fs;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ccbt_checkpoint::{
    decode, file_name, Checkpoint, CheckpointError, CheckpointFormat, CheckpointManager, CheckpointStore,
    Format, RemovedReason,
};
use ccbt_core::InfoHash;

fn checkpoint(byte: u8, saved_at: u64) -> Checkpoint {
    let mut c = Checkpoint::new(InfoHash([byte; 20]), format!("t{byte}"), "/out", 10);
    c.saved_at = saved_at;
    c
}

fn names(store: &CheckpointStore) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(store.dir()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

#[test]
fn save_then_load_in_each_format() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::new(dir.path().join("checkpoints"));
    for (format, expect) in
        [(CheckpointFormat::Json, Format::Json), (CheckpointFormat::Binary, Format::Binary)]
    {
        let c = checkpoint(1, 100);
        store.save(&c, format).unwrap();
        let loaded = store.load(&c.info_hash).unwrap().unwrap();
        assert_eq!((loaded.checkpoint, loaded.format), (c.clone(), expect));
        // Only the format asked for is kept.
        assert_eq!(names(&store), vec![file_name(&c.info_hash, expect)]);
    }
    assert!(store.load(&InfoHash([9; 20])).unwrap().is_none());
}

#[test]
fn with_both_formats_the_newer_valid_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::new(dir.path());
    let c = checkpoint(2, 100);
    store.save(&c, CheckpointFormat::Both).unwrap();
    assert_eq!(names(&store).len(), 2);
    // A newer JSON copy, written by hand.
    let mut newer = c.clone();
    newer.saved_at = 200;
    let json = ccbt_checkpoint::encode(&newer, Format::Json).unwrap();
    fs::write(store.path(&c.info_hash, Format::Json), json).unwrap();
    let loaded = store.load(&c.info_hash).unwrap().unwrap();
    assert_eq!((loaded.format, loaded.checkpoint.saved_at), (Format::Json, 200));
    assert!(loaded.rejected.is_empty());
}

#[test]
fn a_corrupt_file_falls_back_to_the_other_format_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::new(dir.path());
    let c = checkpoint(3, 100);
    store.save(&c, CheckpointFormat::Both).unwrap();
    let bin = store.path(&c.info_hash, Format::Binary);
    let mut bytes = fs::read(&bin).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&bin, bytes).unwrap();
    let loaded = store.load(&c.info_hash).unwrap().unwrap();
    assert_eq!(loaded.format, Format::Json);
    assert_eq!(loaded.rejected.len(), 1);
    assert!(matches!(loaded.rejected[0].kind(), CheckpointError::ChecksumMismatch { .. }));
    assert!(loaded.rejected[0].to_string().contains(&bin.display().to_string()));
    // With both bad, the error is returned for the caller to warn about.
    fs::write(store.path(&c.info_hash, Format::Json), b"{\"version\": 1").unwrap();
    let e = store.load(&c.info_hash).unwrap_err();
    assert!(
        matches!(e.kind(), CheckpointError::ChecksumMismatch { .. } | CheckpointError::Truncated { .. }),
        "{e}"
    );
}

#[test]
fn a_foreign_checkpoint_under_another_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::new(dir.path());
    let c = checkpoint(4, 100);
    store.save(&c, CheckpointFormat::Json).unwrap();
    let other = InfoHash([5; 20]);
    fs::rename(store.path(&c.info_hash, Format::Json), store.path(&other, Format::Json)).unwrap();
    let e = store.load(&other).unwrap_err();
    assert!(matches!(e.kind(), CheckpointError::InfoHashMismatch { .. }), "{e}");
}

#[test]
fn listing_shows_bad_files_with_their_error_and_ignores_others() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::new(dir.path());
    store.save(&checkpoint(1, 100), CheckpointFormat::Binary).unwrap();
    store.save(&checkpoint(2, 100), CheckpointFormat::Json).unwrap();
    fs::write(store.path(&InfoHash([3; 20]), Format::Binary), b"garbage").unwrap();
    fs::write(dir.path().join("notes.txt"), b"not a checkpoint").unwrap();
    fs::write(dir.path().join(".tmp.1.0.x.checkpoint.bin"), b"half").unwrap();
    let entries = store.list().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].summary.as_ref().unwrap().name, "t1");
    assert_eq!(entries[1].format, Format::Json);
    assert!(matches!(entries[2].summary, Err(ref e) if matches!(e.kind(), CheckpointError::BadMagic)));
    assert_eq!(entries[2].size, 7);
    assert!(CheckpointStore::new(dir.path().join("absent")).list().unwrap().is_empty());
}

#[test]
fn prefixes_resolve_only_when_unique() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::new(dir.path());
    let mut a = InfoHash([0xab; 20]);
    let mut b = a;
    a.0[19] = 1;
    b.0[19] = 2;
    for h in [a, b] {
        store.save(&Checkpoint::new(h, "x", "/o", 1), CheckpointFormat::Json).unwrap();
    }
    assert!(
        matches!(store.resolve("abab"), Err(CheckpointError::Ambiguous { ref matches, .. }) if matches.len() == 2)
    );
    assert_eq!(store.resolve(&a.to_hex().to_uppercase()).unwrap(), a);
    assert!(matches!(store.resolve("cd"), Err(CheckpointError::NotFound { .. })));
    assert!(matches!(store.resolve(""), Err(CheckpointError::NotFound { .. })));
}

#[test]
fn delete_removes_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let manager = CheckpointManager::new(dir.path(), CheckpointFormat::Both);
    let c = checkpoint(6, 100);
    manager.save_checkpoint(&c).unwrap();
    assert!(manager.delete_checkpoint(&c.info_hash).unwrap());
    assert!(!manager.delete_checkpoint(&c.info_hash).unwrap());
    assert!(manager.list_checkpoints().unwrap().is_empty());
}

#[test]
fn clean_removes_expired_checkpoints_and_stale_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::new(dir.path());
    let day = 24 * 60 * 60;
    let now = SystemTime::now();
    let now_secs = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    store.save(&checkpoint(1, now_secs - 10 * day), CheckpointFormat::Binary).unwrap();
    store.save(&checkpoint(2, now_secs - day), CheckpointFormat::Binary).unwrap();
    let stale = dir.path().join(".tmp.99.0.x.checkpoint.bin");
    fs::write(&stale, b"half").unwrap();
    fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(now - Duration::from_secs(3600))
        .unwrap();
    let fresh = dir.path().join(".tmp.99.1.y.checkpoint.bin");
    fs::write(&fresh, b"being written").unwrap();

    let seven_days = Duration::from_secs(7 * day);
    let planned = store.clean(seven_days, now, true).unwrap();
    assert_eq!(planned.len(), 2);
    assert_eq!(planned[0].reason, RemovedReason::Expired { saved_at: now_secs - 10 * day });
    assert_eq!(planned[1].reason, RemovedReason::StaleTemporary);
    assert_eq!(names(&store).len(), 4, "a dry run removes nothing");

    assert_eq!(store.clean(seven_days, now, false).unwrap(), planned);
    let mut expect =
        vec![file_name(&InfoHash([2; 20]), Format::Binary), ".tmp.99.1.y.checkpoint.bin".to_owned()];
    expect.sort();
    assert_eq!(names(&store), expect);
}

#[test]
fn a_leftover_temporary_never_hides_or_replaces_the_real_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::new(dir.path());
    let c = checkpoint(7, 100);
    store.save(&c, CheckpointFormat::Binary).unwrap();
    // What a crash between write and rename leaves: a half temporary beside the real file.
    let real = fs::read(store.path(&c.info_hash, Format::Binary)).unwrap();
    fs::write(dir.path().join(format!(".tmp.1.0.{}", file_name(&c.info_hash, Format::Binary))), &real[..10])
        .unwrap();
    assert_eq!(store.load(&c.info_hash).unwrap().unwrap().checkpoint, c);
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn export_writes_the_other_format() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::new(dir.path().join("c"));
    let c = checkpoint(8, 100);
    store.save(&c, CheckpointFormat::Binary).unwrap();
    let out = dir.path().join("out.json");
    store.export(&c.info_hash, Format::Json, &out).unwrap();
    let text = fs::read(&out).unwrap();
    assert!(text.starts_with(b"{"));
    assert_eq!(decode(&text).unwrap(), c);
    assert!(matches!(
        store.export(&InfoHash([1; 20]), Format::Json, &out),
        Err(CheckpointError::NotFound { .. })
    ));
}

#[test]
fn a_socket_or_folder_under_a_checkpoint_name_is_listed_as_unusable() {
    let dir = tempfile::tempdir().unwrap();
    let store = CheckpointStore::new(dir.path());
    // Like a fifo, a socket is not a regular file: opening it must not be tried.
    let _socket =
        std::os::unix::net::UnixListener::bind(store.path(&InfoHash([1; 20]), Format::Binary)).unwrap();
    fs::create_dir(store.path(&InfoHash([2; 20]), Format::Json)).unwrap();
    let entries = store.list().unwrap();
    assert_eq!(entries.len(), 2);
    for entry in &entries {
        assert!(matches!(entry.summary, Err(ref e) if matches!(e.kind(), CheckpointError::Malformed { .. })));
    }
    assert!(store.load(&InfoHash([1; 20])).is_err());
}
