//! Operations on a torrent over a real session: a recheck finds a corrupted piece (and keeps a
//! paused torrent paused), reannounce is refused while paused, remove with `delete_data` deletes
//! only the files ccbt created (a user's files survive), a magnet link added paused waits.

mod support;

use std::io::{Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use ccbt_api::Verb;
use ccbt_engine::checkpoints::TorrentState;
use ccbt_engine::{find_checkpoint, FoundCheckpoint};
use serde_json::{json, Value};
use support::{code, complete_torrent, eventually, Api};

const PIECE: usize = 16384;

/// The torrent's view, fetched synchronously from the session (for `eventually`).
fn view(api: &Api) -> (String, u32) {
    let s = &api.session.torrents()[0];
    (s.state.to_string(), s.pieces_have)
}

fn overwrite(path: &Path, offset: u64, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(bytes).unwrap();
    f.sync_all().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recheck_drops_a_corrupted_piece_and_keeps_a_paused_torrent_paused() {
    let api = Api::new().await;
    let torrent = complete_torrent(api.path(), "r.bin", 7 * PIECE - 100);
    let data = api.path().join("data");
    let body = json!({ "source": torrent, "save_path": data }).to_string();
    let (status, added) = api.call(Verb::Post, "/api/v1/torrents", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let one = format!("/api/v1/torrents/{}", added["info_hash"].as_str().unwrap());
    assert!(eventually(|| view(&api) == ("seeding".into(), 7)).await, "{:?}", view(&api));
    let (status, _) = api.call(Verb::Post, &format!("{one}/reannounce"), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // Bytes of piece 2 change on disk: the recheck drops it, and with no peer it stays missing.
    let file = data.join("r.bin");
    let original = std::fs::read(&file).unwrap();
    let offset = 2 * PIECE as u64 + 10;
    overwrite(&file, offset, b"corrupt");
    let (status, body) = api.call(Verb::Post, &format!("{one}/recheck"), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(eventually(|| view(&api) == ("downloading".into(), 6)).await, "{:?}", view(&api));

    // Paused, with the bytes put back: the recheck finds all 7 pieces and the torrent stays paused.
    let (status, _) = api.call(Verb::Post, &format!("{one}/pause"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(eventually(|| view(&api).0 == "paused").await);
    let (status, busy) = api.call(Verb::Post, &format!("{one}/reannounce"), None).await;
    assert_eq!((status, code(&busy)), (StatusCode::CONFLICT, "torrent_busy"), "{busy}");
    overwrite(&file, offset, &original[offset as usize..offset as usize + 7]);
    let (status, _) = api.call(Verb::Post, &format!("{one}/recheck"), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(eventually(|| view(&api) == ("paused".into(), 7)).await, "{:?}", view(&api));
    let (status, _) = api.call(Verb::Post, &format!("{one}/resume"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(eventually(|| view(&api) == ("seeding".into(), 7)).await, "{:?}", view(&api));

    let (status, gone) = api.call(Verb::Post, "/api/v1/torrents/abcdef/recheck", None).await;
    assert_eq!((status, code(&gone)), (StatusCode::NOT_FOUND, "torrent_not_found"));
}

/// A multi-file torrent `name` of `files` (nothing of it on disk); its path.
fn multi_file_torrent(dir: &Path, name: &str, files: &[(&str, u64)]) -> PathBuf {
    let total: u64 = files.iter().map(|f| f.1).sum();
    let pieces = total.div_ceil(PIECE as u64) as usize;
    let builder = ccbt_metainfo::TorrentBuilder {
        name: name.into(),
        files: files.iter().map(|(p, len)| (p.split('/').map(String::from).collect(), *len)).collect(),
        piece_length: PIECE as u32,
        piece_hashes: (0..pieces).map(|i| [i as u8 + 1; 20]).collect(),
        ..ccbt_metainfo::TorrentBuilder::default()
    };
    let path = dir.join(format!("{name}.torrent"));
    std::fs::write(&path, builder.build().unwrap()).unwrap();
    path
}

/// Adds `torrent` into `folder`, waits for its check, removes it with its data: the answer.
async fn add_then_delete(api: &Api, torrent: &Path, folder: &Path) -> Value {
    let body = json!({ "source": torrent, "save_path": folder }).to_string();
    let (status, added) = api.call(Verb::Post, "/api/v1/torrents", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let info_hash = added["info_hash"].as_str().unwrap().to_owned();
    let session = api.session.clone();
    // Checked (a file of the user's that the torrent names fails the check: the torrent stops
    // with an error, which does not keep its data from being deleted).
    let checked = || {
        let s = session.torrents().into_iter().find(|s| s.info_hash.to_hex() == info_hash);
        s.is_some_and(|s| s.state != ccbt_engine::TorrentState::Checking)
    };
    assert!(eventually(checked).await);
    let (status, report) =
        api.call(Verb::Delete, &format!("/api/v1/torrents/{info_hash}?delete_data=true"), None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["info_hash"], info_hash.as_str());
    let checkpoint = find_checkpoint(&api.path().join("checkpoints"), &info_hash.parse().unwrap());
    assert!(matches!(checkpoint, FoundCheckpoint::None), "the checkpoint must go too");
    assert!(!api.path().join("state/created").join(&info_hash).exists(), "nor the record of created files");
    report
}

fn paths(report: &Value, key: &str) -> Vec<PathBuf> {
    let list = report[key].as_array().unwrap_or_else(|| panic!("no {key} in {report}"));
    list.iter().map(|p| PathBuf::from(p.as_str().unwrap())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_with_data_deletes_only_what_ccbt_created() {
    let api = Api::new().await;
    let dl = api.path().join("dl");
    std::fs::create_dir_all(dl.join("album")).unwrap();
    let dl = std::fs::canonicalize(&dl).unwrap();
    // The user's: a file beside the torrent's folder, one in it, and one the torrent names.
    std::fs::write(dl.join("notes.txt"), b"mine").unwrap();
    std::fs::write(dl.join("album/user.txt"), b"also mine").unwrap();
    std::fs::write(dl.join("album/a.bin"), b"my own a.bin").unwrap();
    let album =
        multi_file_torrent(api.path(), "album", &[("a.bin", 30_000), ("sub/b.bin", 20_000), ("c.bin", 5)]);
    let report = add_then_delete(&api, &album, &dl).await;
    assert_eq!(paths(&report, "deleted_files"), vec![dl.join("album/sub/b.bin"), dl.join("album/c.bin")]);
    assert_eq!(paths(&report, "deleted_folders"), vec![dl.join("album/sub")]);
    assert_eq!(paths(&report, "kept_files"), vec![dl.join("album/a.bin")]);
    assert_eq!(report["failed"], json!([]));
    assert_eq!(std::fs::read(dl.join("notes.txt")).unwrap(), b"mine");
    assert_eq!(std::fs::read(dl.join("album/user.txt")).unwrap(), b"also mine");
    assert_eq!(std::fs::read(dl.join("album/a.bin")).unwrap(), b"my own a.bin");
    assert!(!dl.join("album/sub").exists() && !dl.join("album/c.bin").exists());

    // Nothing of the user's in the way: the torrent's whole folder goes, the download folder stays.
    let solo = multi_file_torrent(api.path(), "solo", &[("x/y.bin", 40_000), ("z.bin", 1)]);
    let report = add_then_delete(&api, &solo, &dl).await;
    assert_eq!(paths(&report, "deleted_files"), vec![dl.join("solo/x/y.bin"), dl.join("solo/z.bin")]);
    assert_eq!(paths(&report, "deleted_folders"), vec![dl.join("solo/x"), dl.join("solo")]);
    assert!(paths(&report, "kept_files").is_empty(), "{report}");
    assert!(!dl.join("solo").exists() && dl.join("notes.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_magnet_added_paused_waits_for_resume() {
    let api = Api::new().await;
    let info_hash = "ab".repeat(20);
    let body = json!({ "source": format!("magnet:?xt=urn:btih:{info_hash}"), "paused": true }).to_string();
    let (status, added) = api.call(Verb::Post, "/api/v1/torrents", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["state"], "paused", "{added}");
    let dir = api.path().join("checkpoints");
    let saved = |state: TorrentState| match find_checkpoint(&dir, &info_hash.parse().unwrap()) {
        FoundCheckpoint::Usable { checkpoint, .. } => checkpoint.state == state,
        _ => false,
    };
    assert!(eventually(|| saved(TorrentState::Paused)).await, "the checkpoint must say paused");
    let one = format!("/api/v1/torrents/{info_hash}");
    let (status, _) = api.call(Verb::Post, &format!("{one}/pause"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "pausing a paused magnet link changes nothing");
    assert_eq!(view(&api).0, "paused");
    let (status, _) = api.call(Verb::Post, &format!("{one}/resume"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(eventually(|| view(&api).0 == "fetching metadata").await, "{:?}", view(&api));
    assert!(eventually(|| saved(TorrentState::Downloading)).await, "the checkpoint must say it runs");
    let (status, busy) = api.call(Verb::Post, &format!("{one}/pause"), None).await;
    assert_eq!((status, code(&busy)), (StatusCode::CONFLICT, "metadata_pending"), "{busy}");
}
