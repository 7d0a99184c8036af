//! Issue 7 item 1: a download onto a full disk. The first run must stop with one clear error
//! (not one per piece in flight), and running it again must check the sparse file without the
//! `Bus error` that memory-mapped reads of its holes caused on tmpfs. Runs on a real 10 MiB
//! tmpfs; it needs root (CI runs as root) and skips otherwise.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ccbt_engine::{AddTorrent, Event, Session, SessionOptions, TorrentId, TorrentState};
use common::*;
use tokio::sync::broadcast::Receiver;

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        // The effective user from `id -u` keeps libc out of the engine's test dependencies.
        let uid = Command::new("id").arg("-u").output().map_err(|e| format!("cannot run id: {e}"))?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not root, cannot mount a tmpfs".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !status.success() {
            return Err(format!("mount -t tmpfs failed ({status})"));
        }
        Ok(Tmpfs(dir))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

fn options_in(state: &Path) -> SessionOptions {
    SessionOptions { state_dir: state.to_path_buf(), ..options() }
}

/// Waits for the torrent's error (panics after `limit`).
async fn wait_error(session: &Session, id: TorrentId, limit: Duration) -> String {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let status = session.status(id).unwrap();
        if let TorrentState::Error(reason) = status.state {
            return reason.to_string();
        }
        assert!(!status.is_complete(), "16 MiB cannot fit on a 10 MiB tmpfs: {status:?}");
        assert!(tokio::time::Instant::now() < deadline, "no error in time: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The error states announced so far.
fn errors(events: &mut Receiver<Event>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::StateChanged { state: TorrentState::Error(reason), .. } = event {
            out.push(reason.to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_download_with_one_error_and_a_rerun_checks_without_crashing() {
    let fs = match Tmpfs::mount("10m") {
        Ok(fs) => fs,
        Err(reason) => {
            println!("skipped: {reason}");
            return;
        }
    };
    let src = tempfile::tempdir().unwrap();
    let seed_state = tempfile::tempdir().unwrap();
    let torrent = make_torrent(src.path(), "big.bin", &[("", data(16 << 20, 71))], 256 * 1024);
    let seeder = Session::new(options_in(seed_state.path())).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(60)).await;

    let dst: PathBuf = fs.path().join("downloads");
    let state = tempfile::tempdir().unwrap();
    for run in 0..2 {
        let leecher = Session::new(options_in(state.path())).await.unwrap();
        let mut events = leecher.subscribe();
        let add = AddTorrent::new(torrent.clone()).save_path(&dst).peers([seeder.listen_addr()]);
        let id = leecher.add_torrent(add).await.unwrap();
        let reason = wait_error(&leecher, id, Duration::from_secs(60)).await;
        assert!(reason.contains("No space left on device"), "run {run}: {reason}");
        // Shutting down lets the pieces still in the hash pool finish; they fail the same way.
        leecher.shutdown().await;
        assert_eq!(errors(&mut events), vec![reason], "run {run}: one error, not one per piece");
    }
    seeder.shutdown().await;
}
