//! File selection against a libtorrent seeder: `--select`/`--skip` download exactly the chosen
//! files (skipped files absent, or holding only the bytes of pieces they share with a chosen
//! one), a magnet link's selection is checked once its metadata arrives, and the library API
//! changes priorities while the torrent runs.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::discovery::magnet;
use support::{
    ccbt, ccbt_info, interop, lt_info_hash, lt_make_torrent, lt_seed, run_with_timeout, work_dir, write_tree,
    Kind, Peer, Tool, GRACE, ODD_LAYOUT, TRANSFER,
};

const PIECE: u64 = 16 * 1024;

/// One file of the torrent as `ccbt info` lists it: index, path below the content folder, and
/// its place in the byte stream (no padding: v1 torrents from libtorrent have none).
#[derive(Debug)]
struct Listed {
    index: u32,
    path: PathBuf,
    offset: u64,
    length: u64,
}

/// The files of `torrent`, in torrent order, from `ccbt info` (which must number them).
fn listed(torrent: &Path) -> Vec<Listed> {
    let info = ccbt_info(torrent);
    assert!(!info.contains("padding"), "expected a torrent without padding files:\n{info}");
    let mut offset = 0;
    let mut out = Vec::new();
    for line in info.lines().skip_while(|l| !l.starts_with("files (")).skip(1) {
        let mut words = line.split_whitespace();
        let index: u32 =
            words.next().and_then(|w| w.parse().ok()).unwrap_or_else(|| panic!("no index in {line:?}"));
        let path = words.last().expect("a path");
        // The listed path starts with the torrent's folder name.
        let rel: PathBuf = path.split('/').skip(1).collect();
        let (_, length) = ODD_LAYOUT
            .iter()
            .find(|(p, _)| Path::new(p) == rel)
            .unwrap_or_else(|| panic!("{rel:?} not in the layout"));
        out.push(Listed { index, path: rel, offset, length: *length });
        offset += length;
    }
    assert_eq!(out.len(), ODD_LAYOUT.len(), "{info}");
    out
}

/// The pieces a file's bytes lie in (none for an empty file).
fn pieces_of(f: &Listed) -> Vec<u64> {
    if f.length == 0 {
        return Vec::new();
    }
    (f.offset / PIECE..=(f.offset + f.length - 1) / PIECE).collect()
}

/// Asserts the download: chosen files byte-identical; every other file absent or holding the
/// source's bytes exactly where a piece it shares with a chosen file lies, and nothing (a hole,
/// or past its end) elsewhere. Returns how many skipped files exist.
fn assert_selection(files: &[Listed], chosen: &[u32], src: &Path, out: &Path) -> usize {
    let wanted: std::collections::BTreeSet<u64> =
        files.iter().filter(|f| chosen.contains(&f.index)).flat_map(pieces_of).collect();
    let mut present = 0;
    for f in files {
        let want = std::fs::read(src.join(&f.path)).unwrap();
        let got = std::fs::read(out.join(&f.path));
        if chosen.contains(&f.index) {
            assert!(
                got.as_deref().ok() == Some(&want[..]),
                "chosen file {} differs or is missing",
                f.path.display()
            );
            continue;
        }
        let Ok(got) = got else { continue };
        present += 1;
        assert!(got.len() as u64 <= f.length, "{} grew", f.path.display());
        for (i, &byte) in got.iter().enumerate() {
            let piece = (f.offset + i as u64) / PIECE;
            let expected = if wanted.contains(&piece) { want[i] } else { 0 };
            assert_eq!(
                byte,
                expected,
                "skipped {} at {i} (piece {piece}, shared: {})",
                f.path.display(),
                wanted.contains(&piece)
            );
        }
        let last_shared = pieces_of(f).into_iter().rev().find(|p| wanted.contains(p));
        let end = last_shared.map_or(0, |p| ((p + 1) * PIECE).min(f.offset + f.length) - f.offset);
        assert_eq!(got.len() as u64, end, "{} ends where its last shared piece ends", f.path.display());
    }
    present
}

fn index_of(files: &[Listed], path: &str) -> u32 {
    files.iter().find(|f| f.path == Path::new(path)).expect("listed").index
}

fn stop(peer: &mut Peer) {
    let (status, clean) = peer.proc.terminate(GRACE);
    assert!(clean && status.success(), "lt_seed did not stop cleanly: {status}\n{}", peer.proc.logs());
}

/// libtorrent makes a v1 torrent of ODD_LAYOUT and seeds it: (work dir guard, content, torrent, seeder).
fn lt_setup(seed: u64) -> (tempfile::TempDir, PathBuf, PathBuf, Peer) {
    let work = work_dir();
    let w = work.path().to_path_buf();
    let content = write_tree(&w.join("src/data"), ODD_LAYOUT, seed);
    let torrent = w.join("t.torrent");
    lt_make_torrent(&content, &torrent, PIECE as u32, Kind::V1);
    let seeder = lt_seed(&w, "lt_seed", &torrent, &w.join("src"), &[], &[]);
    (work, content, torrent, seeder)
}

#[test]
fn select_and_skip_from_a_libtorrent_seeder() {
    if !interop("select_and_skip_from_a_libtorrent_seeder", &[Tool::Libtorrent]) {
        return;
    }
    let (work, content, torrent, mut seeder) = lt_setup(41);
    let w = work.path();
    let files = listed(&torrent);
    let (b, c, d) =
        (index_of(&files, "sub/b.bin"), index_of(&files, "sub/deeper/c.bin"), index_of(&files, "d.bin"));
    // Select b, c and d, then skip c: b.bin and d.bin only (each shares pieces with neighbours).
    let select = format!("{b},{c},{d}");
    let out = w.join("out");
    let done = run_with_timeout(
        "ccbt-select",
        ccbt()
            .arg("download")
            .arg(&torrent)
            .arg("-o")
            .arg(&out)
            .args(["--listen-port", "0", "--no-dht", "--peer", &seeder.addr(), "--select", &select])
            .args(["--skip", &c.to_string(), "--first-last-pieces"]),
        w,
        TRANSFER,
    );
    done.assert_success("ccbt download --select --skip");
    let present = assert_selection(&files, &[b, d], &content, &out.join("data"));
    assert!(present < files.len() - 2, "some skipped file shares no piece and must be absent");

    // A bad index is refused before anything starts, naming the token.
    let bad = run_with_timeout(
        "ccbt-bad-select",
        ccbt().arg("download").arg(&torrent).arg("-o").arg(&out).args(["--no-dht", "--select", "1,x"]),
        w,
        TRANSFER,
    );
    assert_eq!(bad.status.and_then(|s| s.code()), Some(2), "{}", bad.describe());
    assert!(bad.stderr.contains("\"x\": not a file index"), "{}", bad.stderr);
    stop(&mut seeder);
}

#[test]
fn magnet_selection_applies_once_metadata_arrives() {
    if !interop("magnet_selection_applies_once_metadata_arrives", &[Tool::Libtorrent]) {
        return;
    }
    let (work, content, torrent, mut seeder) = lt_setup(43);
    let w = work.path();
    let files = listed(&torrent);
    let uri = magnet(&lt_info_hash(&torrent), &[seeder.addr()]);
    let run = |name: &str, out: &Path, flags: &[&str]| {
        let state = w.join(format!("{name}.state"));
        run_with_timeout(
            name,
            ccbt()
                .arg("magnet")
                .arg(&uri)
                .arg("-o")
                .arg(out)
                .args(["--listen-port", "0", "--no-dht", "--state-dir"])
                .arg(&state)
                .args(flags),
            w,
            TRANSFER,
        )
    };
    // An index past the file list: known only with the metadata, then named with the count.
    let bad = run("ccbt-magnet-bad", &w.join("bad"), &["--skip", "99"]);
    assert_eq!(bad.status.and_then(|s| s.code()), Some(1), "{}", bad.describe());
    let expected = format!("skipped file 99 does not exist (the torrent has {} files", files.len());
    assert!(bad.stderr.contains(&expected), "{}", bad.stderr);

    let z = index_of(&files, "z.bin");
    let out = w.join("out");
    let done = run("ccbt-magnet-select", &out, &["--select", &z.to_string()]);
    done.assert_success("ccbt magnet --select");
    assert_selection(&files, &[z], &content, &out.join("data"));
    stop(&mut seeder);
}

/// Waits until the torrent has every wanted piece and seeds.
async fn wait_seeding(session: &ccbt_engine::Session, id: ccbt_engine::TorrentId) {
    use ccbt_engine::TorrentState;
    let deadline = std::time::Instant::now() + TRANSFER;
    loop {
        let status = session.status(id).unwrap();
        assert!(!matches!(status.state, TorrentState::Error(_)), "{status:?}");
        if status.is_complete() && status.state == TorrentState::Seeding {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "not complete: {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Through the library API: a torrent downloading only b.bin from libtorrent, then z.bin set to
/// high while it runs, then everything.
#[test]
fn priorities_changed_while_running_against_libtorrent() {
    use ccbt_engine::{AddTorrent, FilePriority, Session, SessionOptions};
    if !interop("priorities_changed_while_running_against_libtorrent", &[Tool::Libtorrent]) {
        return;
    }
    let (work, content, torrent, mut seeder) = lt_setup(47);
    let w = work.path().to_path_buf();
    let files = listed(&torrent);
    let (b, z) = (index_of(&files, "sub/b.bin"), index_of(&files, "z.bin"));
    let out = w.join("out");
    let seeder_addr: std::net::SocketAddr = seeder.addr().parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let options = SessionOptions {
            listen_port: 0,
            listen_host: "127.0.0.1".parse().unwrap(),
            enable_dht: false,
            dht_bootstrap_nodes: Vec::new(),
            state_dir: w.join("state"),
            ..SessionOptions::default()
        };
        let session = Session::new(options).await.unwrap();
        let add =
            AddTorrent::from_file(&torrent).unwrap().save_path(&out).peers([seeder_addr]).select_files([b]);
        let id = session.add_torrent(add).await.unwrap();
        wait_seeding(&session, id).await;
        assert_selection(&files, &[b], &content, &out.join("data"));

        session.set_file_priorities(id, &[(z, FilePriority::High)]).await.unwrap();
        wait_seeding(&session, id).await;
        assert_selection(&files, &[b, z], &content, &out.join("data"));
        let info = session.files(id).unwrap();
        assert_eq!(info[z as usize].priority, FilePriority::High);
        assert_eq!(info[z as usize].bytes_verified, info[z as usize].length);

        let all: Vec<(u32, FilePriority)> = files.iter().map(|f| (f.index, FilePriority::Normal)).collect();
        session.set_file_priorities(id, &all).await.unwrap();
        wait_seeding(&session, id).await;
        assert!(session.verified_pieces(id).unwrap().all());
        session.shutdown().await;
    });
    support::assert_same_tree(&content, &out.join("data"));
    stop(&mut seeder);
}
