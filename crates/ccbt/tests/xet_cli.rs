//! `ccbt xet status | stats | cache-info | cleanup` on a chunk store written with the store
//! crate's own API (the engine does not index files yet in these tests).

mod support;

use std::path::Path;
use std::time::Duration;

use ccbt_xetstore::{StoreOptions, XetStore};
use support::{ccbt, gen_bytes, run_with_timeout, work_dir, Finished};

const SHORT: Duration = Duration::from_secs(60);

fn xet(work: &Path, state: &Path, args: &[&str]) -> Finished {
    let mut cmd = ccbt();
    cmd.arg("xet").args(args).env("CCBT_STATE_DIR", state);
    run_with_timeout("ccbt-xet", &mut cmd, work, SHORT)
}

/// Two files sharing most of their bytes (v2 = v1 with 10 kB inserted), both indexed.
fn two_versions(work: &Path, store_dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let v1 = gen_bytes(7, 2 << 20);
    let mut v2 = v1[..500_000].to_vec();
    v2.extend_from_slice(&gen_bytes(8, 10_000));
    v2.extend_from_slice(&v1[500_000..]);
    let (a, b) = (work.join("v1.bin"), work.join("v2.bin"));
    std::fs::write(&a, &v1).unwrap();
    std::fs::write(&b, &v2).unwrap();
    let store = XetStore::open(store_dir, StoreOptions::default()).unwrap();
    store.index_path(&a).unwrap();
    store.index_path(&b).unwrap();
    (std::fs::canonicalize(a).unwrap(), std::fs::canonicalize(b).unwrap())
}

#[test]
fn status_without_a_store_creates_nothing() {
    let work = work_dir();
    let state = work.path().join("state");
    let out = xet(work.path(), &state, &["status"]);
    out.assert_success("xet status");
    assert!(out.stdout.contains("xet: disabled (xet_enabled = false)"), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("store: {}", state.join("xet").display())), "{}", out.stdout);
    assert!(out.stdout.contains("index: none yet"), "{}", out.stdout);
    assert!(!state.join("xet").exists());
    let mut cmd = ccbt();
    cmd.args(["xet", "status"]).env("CCBT_STATE_DIR", &state).env("CCBT_XET_ENABLED", "1");
    let out = run_with_timeout("ccbt-xet", &mut cmd, work.path(), SHORT);
    assert!(out.stdout.contains("xet: enabled"), "{}", out.stdout);
}

#[test]
fn status_and_stats_show_the_shared_bytes() {
    let work = work_dir();
    let state = work.path().join("state");
    two_versions(work.path(), &state.join("xet"));
    let out = xet(work.path(), &state, &["status"]);
    out.assert_success("xet status");
    assert!(out.stdout.contains("files, 2 xet roots)"), "{}", out.stdout);
    assert!(out.stdout.contains(" 2 files"), "{}", out.stdout);
    let out = xet(work.path(), &state, &["stats"]);
    out.assert_success("xet stats");
    // 2 MiB + 2 MiB + 10 kB referenced, about 2 MiB held once.
    assert!(out.stdout.contains("referenced bytes: 4.01 MiB in 2 files"), "{}", out.stdout);
    let shared = out.stdout.lines().find(|l| l.starts_with("shared:")).unwrap();
    let percent: f64 = shared.rsplit_once('(').unwrap().1.split('%').next().unwrap().parse().unwrap();
    assert!(percent > 40.0 && percent < 50.0, "{shared}");
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.len() > 64 && l.as_bytes()[..64].iter().all(u8::is_ascii_hexdigit))
            .count(),
        2
    );
}

#[test]
fn cache_info_shows_the_index_against_the_cap() {
    let work = work_dir();
    let state = work.path().join("state");
    two_versions(work.path(), &state.join("xet"));
    let mut cmd = ccbt();
    cmd.args(["xet", "cache-info"]).env("CCBT_STATE_DIR", &state).env("CCBT_XET_CACHE_SIZE_MIB", "64");
    let out = run_with_timeout("ccbt-xet", &mut cmd, work.path(), SHORT);
    out.assert_success("xet cache-info");
    assert!(out.stdout.contains("of a 64.00 MiB cap"), "{}", out.stdout);
    let mut cmd = ccbt();
    cmd.args(["xet", "cache-info"]).env("CCBT_STATE_DIR", &state).env("CCBT_XET_CACHE_SIZE_MIB", "1");
    let out = run_with_timeout("ccbt-xet", &mut cmd, work.path(), SHORT);
    assert!(!out.success());
    assert!(out.stderr.contains("xet_cache_size_mib"), "{}", out.stderr);
}

#[test]
fn cleanup_drops_changed_files_and_a_dry_run_changes_nothing() {
    let work = work_dir();
    let state = work.path().join("state");
    let (a, b) = two_versions(work.path(), &state.join("xet"));
    std::fs::OpenOptions::new().append(true).open(&a).unwrap();
    std::fs::write(&a, b"rewritten").unwrap();
    let out = xet(work.path(), &state, &["cleanup", "--dry-run"]);
    out.assert_success("xet cleanup --dry-run");
    assert!(out.stdout.contains(&format!("would drop {} (size changed)", a.display())), "{}", out.stdout);
    assert!(out.stdout.contains("1 files would be forgotten"), "{}", out.stdout);
    let out = xet(work.path(), &state, &["cleanup"]);
    out.assert_success("xet cleanup");
    assert!(out.stdout.contains(&format!("dropped {} (size changed)", a.display())), "{}", out.stdout);
    let out = xet(work.path(), &state, &["status"]);
    assert!(out.stdout.contains("1 files, 1 xet roots"), "{}", out.stdout);
    // The payload files are never deleted.
    assert!(a.exists() && b.exists());
}

#[test]
fn a_store_in_use_or_damaged_is_a_clear_error() {
    let work = work_dir();
    let state = work.path().join("state");
    let store = XetStore::open(&state.join("xet"), StoreOptions::default()).unwrap();
    let out = xet(work.path(), &state, &["status"]);
    assert!(!out.success());
    assert!(out.stderr.contains("in use by another ccbt process"), "{}", out.stderr);
    drop(store);
    std::fs::write(state.join("xet/index.redb"), b"not an index at all").unwrap();
    let out = xet(work.path(), &state, &["stats"]);
    assert!(!out.success());
    assert!(out.stderr.contains("is damaged (not a redb database)"), "{}", out.stderr);
    // redb's magic number over garbage: redb asserts, ccbt reports the damage without a panic.
    let mut bytes = b"redb\x1a\x0a\xa9\x0d\x0a".to_vec();
    bytes.extend_from_slice(&gen_bytes(3, 50_000));
    std::fs::write(state.join("xet/index.redb"), &bytes).unwrap();
    let out = xet(work.path(), &state, &["cleanup"]);
    assert!(!out.success());
    assert!(out.stderr.contains("is damaged (the database library failed"), "{}", out.stderr);
    assert!(out.stderr.contains("delete it to start an empty index"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn while_a_daemon_holds_the_store_the_commands_go_through_its_api() {
    let work = work_dir();
    let state = support::daemon_state::StateDir::new(work.path(), "state");
    let (v1, v2) = two_versions(work.path(), &state.path.join("xet"));
    let mut start = state.start_command(false);
    start.env("CCBT_XET_ENABLED", "1");
    let started = run_with_timeout("daemon-start", &mut start, work.path(), SHORT);
    assert!(started.success(), "{}\n{}", started.describe(), state.log());
    let (_, url) = state.lock();

    let out = xet(work.path(), &state.path, &["status"]);
    out.assert_success("xet status");
    assert!(out.stdout.contains(&format!("daemon: {url}")), "{}", out.stdout);
    assert!(out.stdout.contains("files, 2 xet roots)"), "{}", out.stdout);
    let out = xet(work.path(), &state.path, &["stats"]);
    out.assert_success("xet stats");
    assert!(out.stdout.contains("referenced bytes: 4.01 MiB in 2 files"), "{}", out.stdout);

    std::fs::remove_file(&v1).unwrap();
    let out = xet(work.path(), &state.path, &["cleanup", "--dry-run"]);
    out.assert_success("xet cleanup --dry-run");
    assert!(out.stdout.contains(&format!("would drop {} (gone)", v1.display())), "{}", out.stdout);
    assert!(out.stdout.contains("1 files would be forgotten; live data"), "{}", out.stdout);
    let out = xet(work.path(), &state.path, &["cleanup"]);
    out.assert_success("xet cleanup");
    assert!(out.stdout.contains(&format!("dropped {} (gone)", v1.display())), "{}", out.stdout);
    let out = xet(work.path(), &state.path, &["stats"]);
    assert!(out.stdout.contains("in 1 files"), "{}", out.stdout);
    state.stop("daemon-stop");

    // Without the daemon the store opens directly again, with the daemon's changes.
    let out = xet(work.path(), &state.path, &["stats"]);
    out.assert_success("xet stats");
    assert!(out.stdout.contains("in 1 files"), "{}", out.stdout);
    assert!(v2.exists());
}

#[test]
fn stats_and_cleanup_show_packs_of_retired_chunks() {
    let work = work_dir();
    let state = work.path().join("state");
    let (a, _) = two_versions(work.path(), &state.join("xet"));
    {
        let store = XetStore::open(&state.join("xet"), StoreOptions::default()).unwrap();
        let report = store.retire_file(&a).unwrap();
        // v1's chunks around the insertion point are its own: one or two chunks.
        assert!(report.chunks >= 1 && report.chunks <= 3, "{report:?}");
    }
    std::fs::remove_file(&a).unwrap();
    let out = xet(work.path(), &state, &["stats"]);
    out.assert_success("xet stats");
    assert!(out.stdout.contains(" in 1 packs"), "{}", out.stdout);
    assert!(out.stdout.contains("in 1 files"), "{}", out.stdout);
    let mut cmd = ccbt();
    cmd.args(["xet", "cleanup"]).env("CCBT_STATE_DIR", &state).env("CCBT_XET_CACHE_SIZE_MIB", "16");
    let out = run_with_timeout("ccbt-xet", &mut cmd, work.path(), SHORT);
    out.assert_success("xet cleanup");
    assert!(!out.stdout.contains("deleted"), "under the cap nothing goes: {}", out.stdout);
    assert!(state.join("xet/packs").read_dir().unwrap().count() == 1);
}
