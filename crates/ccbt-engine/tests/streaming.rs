//! Reading a file of a torrent while it downloads (`Session::open_file`), ccbt to ccbt over
//! loopback.

mod common;

use std::io::SeekFrom;
use std::time::Duration;

use ccbt_engine::{AddTorrent, Session, SessionError, TorrentId};
use ccbt_metainfo::Torrent;
use common::*;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Three files that do not line up with the 16 KiB pieces.
fn files() -> [(&'static str, Vec<u8>); 3] {
    [("a.bin", data(40_001, 51)), ("video.bin", data(700_003, 52)), ("z.bin", data(30_000, 53))]
}

/// A seeding session of `torrent` from `dir`.
async fn seeder(torrent: &Torrent, dir: &std::path::Path) -> Session {
    let seeder = Session::new(options()).await.unwrap();
    let id = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(dir)).await.unwrap();
    wait_complete(&seeder, id, Duration::from_secs(30)).await;
    seeder
}

/// A leeching session of `torrent` into `dir`, connected to `peer` if given.
async fn leecher(torrent: &Torrent, dir: &std::path::Path, peer: Option<&Session>) -> (Session, TorrentId) {
    let leecher = Session::new(options()).await.unwrap();
    let add = AddTorrent::new(torrent.clone()).save_path(dir).peers(peer.map(|s| s.listen_addr()));
    let id = leecher.add_torrent(add).await.unwrap();
    (leecher, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_read_while_it_downloads_equals_the_file() {
    let (src, dst) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let files = files();
    let torrent = make_torrent(src.path(), "media", &files, 16384);
    let seeder = seeder(&torrent, src.path()).await;
    let (leecher, id) = leecher(&torrent, dst.path(), Some(&seeder)).await;
    // Opened at once: the first reads wait for pieces still downloading.
    let mut reader = leecher.open_file(id, 1).unwrap();
    assert_eq!(reader.len(), files[1].1.len() as u64);
    let mut read = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), reader.read_to_end(&mut read)).await.unwrap().unwrap();
    assert!(read == files[1].1, "the bytes read differ from the file");
    // At the end, reads return nothing.
    assert_eq!(reader.read(&mut [0; 10]).await.unwrap(), 0);
    leecher.shutdown().await;
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seek_to_the_middle_reads_from_there() {
    let (src, dst) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let files = files();
    let torrent = make_torrent(src.path(), "media", &files, 16384);
    let seeder = seeder(&torrent, src.path()).await;
    let (leecher, id) = leecher(&torrent, dst.path(), Some(&seeder)).await;
    let expected = &files[1].1;
    let mut reader = leecher.open_file(id, 1).unwrap();
    let middle = expected.len() as u64 / 2 + 7;
    assert_eq!(reader.seek(SeekFrom::Start(middle)).await.unwrap(), middle);
    let mut head = vec![0; 50_000];
    let limit = Duration::from_secs(60);
    tokio::time::timeout(limit, reader.read_exact(&mut head)).await.unwrap().unwrap();
    assert!(head[..] == expected[middle as usize..middle as usize + 50_000]);
    // Relative and from-the-end seeks, then the tail of the file.
    let back = reader.seek(SeekFrom::Current(-100_000)).await.unwrap();
    assert_eq!(back, middle + 50_000 - 100_000);
    assert_eq!(reader.seek(SeekFrom::End(-1000)).await.unwrap(), expected.len() as u64 - 1000);
    let mut tail = Vec::new();
    tokio::time::timeout(limit, reader.read_to_end(&mut tail)).await.unwrap().unwrap();
    assert!(tail[..] == expected[expected.len() - 1000..]);
    assert!(reader.seek(SeekFrom::Current(-(expected.len() as i64) - 1)).await.is_err());
    leecher.shutdown().await;
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_opened_while_the_data_is_checked_reads_it_once_checked() {
    let src = tempfile::tempdir().unwrap();
    let files = files();
    let torrent = make_torrent(src.path(), "media", &files, 16384);
    // The data is on disk: the torrent checks it, and no piece is ever downloaded.
    let session = Session::new(options()).await.unwrap();
    let id = session.add_torrent(AddTorrent::new(torrent).save_path(src.path())).await.unwrap();
    let mut reader = session.open_file(id, 2).unwrap();
    let mut read = Vec::new();
    let limit = Duration::from_secs(30);
    tokio::time::timeout(limit, reader.read_to_end(&mut read)).await.expect("read waited forever").unwrap();
    assert!(read == files[2].1);
    session.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_read_fails_when_the_torrent_is_removed() {
    let (src, dst) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let torrent = make_torrent(src.path(), "media", &files(), 16384);
    // No peer: nothing ever arrives, so the read waits until the removal.
    let (leecher, id) = leecher(&torrent, dst.path(), None).await;
    let mut reader = leecher.open_file(id, 1).unwrap();
    let read = tokio::spawn(async move { reader.read(&mut [0; 100]).await });
    leecher.remove(id).await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(30), read).await.unwrap().unwrap();
    assert!(result.is_err(), "{result:?}");
    leecher.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_that_cannot_be_read_are_named_errors() {
    let (src, dst) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let torrent = make_torrent(src.path(), "media", &files(), 16384);
    let leecher = Session::new(options()).await.unwrap();
    let add = AddTorrent::new(torrent.clone()).save_path(dst.path()).select_files([0]);
    let id = leecher.add_torrent(add).await.unwrap();
    let err = leecher.open_file(id, 3).unwrap_err();
    assert!(matches!(err, SessionError::FileUnavailable { index: 3, .. }), "{err}");
    let err = leecher.open_file(id, 1).unwrap_err();
    assert!(err.to_string().contains("not selected"), "{err}");
    assert!(matches!(leecher.open_file(TorrentId(99), 0), Err(SessionError::UnknownTorrent(99))));
    leecher.shutdown().await;
}
