//! The chunk store against real files: indexing, lookups, dedup fills, stale sources, damaged
//! and busy index files.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use ccbt_xet::{chunk_id, ChunkRef, FileHasher};
use ccbt_xetstore::{StoreOptions, XetStore, XetStoreError};
use rand::{RngCore, SeedableRng};

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut out);
    out
}

fn chunks_of(data: &[u8]) -> (ccbt_xet::ChunkId, Vec<ChunkRef>) {
    let mut hasher = FileHasher::new();
    hasher.update(data);
    hasher.finish()
}

fn open(dir: &Path) -> XetStore {
    XetStore::open(&dir.join("xet"), StoreOptions::default()).unwrap()
}

/// The expected missing ranges: chunks of `manifest` whose ids are not in `have`, merged.
fn expected_missing(manifest: &[ChunkRef], have: &[ChunkRef]) -> Vec<(u64, u64)> {
    let have: std::collections::HashSet<_> = have.iter().map(|c| c.id).collect();
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut offset = 0u64;
    for c in manifest {
        if !have.contains(&c.id) {
            match out.last_mut() {
                Some((s, n)) if *s + *n == offset => *n += u64::from(c.len),
                _ => out.push((offset, u64::from(c.len))),
            }
        }
        offset += u64::from(c.len);
    }
    out
}

#[test]
fn index_then_lookup_and_read() {
    let tmp = tempfile::tempdir().unwrap();
    let data = random(1 << 20, 1);
    let path = tmp.path().join("a.bin");
    std::fs::write(&path, &data).unwrap();
    let store = open(tmp.path());
    let indexed = store.index_path(&path).unwrap();
    let (root, chunks) = chunks_of(&data);
    assert_eq!((indexed.root, indexed.chunks, indexed.size), (root, chunks.len(), data.len() as u64));
    assert!(chunks.len() > 4);
    let mut offset = 0;
    for c in &chunks {
        let locations = store.lookup(&c.id).unwrap();
        assert_eq!(locations.len(), 1);
        assert_eq!((locations[0].offset, locations[0].len), (offset, c.len));
        assert_eq!(locations[0].path, std::fs::canonicalize(&path).unwrap());
        let bytes = store.read_chunk(&c.id).unwrap().unwrap();
        assert_eq!(bytes, &data[offset as usize..][..c.len as usize]);
        // The same chunk with where it was read: its own descriptor on the indexed file.
        let local = store.local_chunk(&c.id).unwrap().unwrap();
        assert_eq!((local.offset, &local.bytes), (offset, &bytes));
        let mut again = vec![0; bytes.len()];
        std::os::unix::fs::FileExt::read_exact_at(&local.file, &mut again, local.offset).unwrap();
        assert_eq!(again, bytes);
        offset += u64::from(c.len);
    }
    assert!(store.lookup(&[9; 32]).unwrap().is_empty());
    assert_eq!(store.read_chunk(&[9; 32]).unwrap(), None);
    assert!(store.local_chunk(&[9; 32]).unwrap().is_none());
    assert_eq!(store.manifest(&root).unwrap(), Some(chunks.clone()));
    let stats = store.stats().unwrap();
    assert_eq!((stats.files, stats.roots, stats.chunks), (1, 1, chunks.len() as u64));
    assert_eq!((stats.unique_bytes, stats.referenced_bytes), (1 << 20, 1 << 20));
    assert!(stats.index_bytes > 0);
    // Indexing the same path again replaces it; forgetting empties the index.
    store.index_path(&path).unwrap();
    assert_eq!(store.stats().unwrap().files, 1);
    assert!(store.forget_file(&path).unwrap());
    assert!(!store.forget_file(&path).unwrap());
    let stats = store.stats().unwrap();
    assert_eq!((stats.files, stats.roots, stats.chunks, stats.locations), (0, 0, 0, 0));
}

#[test]
fn index_file_refuses_chunks_that_do_not_describe_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = random(300_000, 2);
    let path = tmp.path().join("a.bin");
    std::fs::write(&path, &data).unwrap();
    let store = open(tmp.path());
    let (root, chunks) = chunks_of(&data);
    let err = store.index_file(&path, &chunks[1..], &root).unwrap_err();
    assert!(err.to_string().contains("the chunks cover"), "{err}");
    let err = store.index_file(&path, &chunks, &[0; 32]).unwrap_err();
    assert!(err.to_string().contains("do not hash to the given xet root"), "{err}");
    let mut zero = chunks.clone();
    zero.push(ChunkRef { id: [1; 32], len: 0 });
    let err = store.index_file(&path, &zero, &root).unwrap_err();
    assert!(err.to_string().contains("has length 0"), "{err}");
    assert_eq!(store.index_file(&path, &chunks, &root).unwrap().chunks, chunks.len());
}

#[test]
fn dedup_across_two_torrents_fills_the_shared_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    // "Torrent 1" has v1 of a file; "torrent 2" has v2: the same bytes with 5000 inserted.
    let v1 = random(3 << 20, 3);
    let mut v2 = v1[..700_000].to_vec();
    v2.extend_from_slice(&random(5000, 4));
    v2.extend_from_slice(&v1[700_000..]);
    let src = tmp.path().join("t1-file.bin");
    std::fs::write(&src, &v1).unwrap();
    let store = open(tmp.path());
    store.index_path(&src).unwrap();
    let (_, have) = chunks_of(&v1);
    let (_, manifest) = chunks_of(&v2);

    // The destination sits at offset 1000 of a larger file; bytes around it must stay untouched.
    let dst_path = tmp.path().join("t2-file.bin");
    let base = 1000u64;
    std::fs::write(&dst_path, vec![0xEE; v2.len() + 2000]).unwrap();
    let dst = OpenOptions::new().read(true).write(true).open(&dst_path).unwrap();
    dst.write_all_at(&vec![0; v2.len()], base).unwrap();
    let report = store.fill(&manifest, &dst, base).unwrap();
    let missing = expected_missing(&manifest, &have);
    assert!(!missing.is_empty() && missing.len() <= 2, "{missing:?}");
    let shifted: Vec<(u64, u64)> = missing.iter().map(|&(o, n)| (o + base, n)).collect();
    assert_eq!(report.missing, shifted);
    let missing_bytes: u64 = missing.iter().map(|m| m.1).sum();
    assert_eq!(report.filled_bytes + missing_bytes, v2.len() as u64);
    // Nearly everything was shared.
    assert!(missing_bytes < 300_000, "{missing_bytes}");

    let got = std::fs::read(&dst_path).unwrap();
    assert!(got[..base as usize].iter().all(|&b| b == 0xEE));
    assert!(got[base as usize + v2.len()..].iter().all(|&b| b == 0xEE));
    let got = &got[base as usize..][..v2.len()];
    let mut offset = 0usize;
    for c in &manifest {
        let range = offset..offset + c.len as usize;
        let is_missing = missing.iter().any(|&(o, n)| (o..o + n).contains(&(offset as u64)));
        if is_missing {
            assert!(got[range].iter().all(|&b| b == 0), "a missing chunk was written");
        } else {
            assert_eq!(&got[range.clone()], &v2[range]);
        }
        offset += c.len as usize;
    }
    // Once the new chunks are in, the whole file is recoverable from the store.
    for &(o, n) in &missing {
        dst.write_all_at(&v2[o as usize..][..n as usize], o + base).unwrap();
    }
    drop(dst);
    std::fs::write(&dst_path, &v2).unwrap();
    store.index_path(&dst_path).unwrap();
    let roots = store.root_stats().unwrap();
    assert_eq!(roots.len(), 2);
    assert!(roots.iter().all(|r| r.files == 1 && r.shared_bytes > 0 && r.shared_bytes < r.bytes));
    let held = store.held_roots().unwrap();
    assert_eq!(
        held.iter().map(|(root, _)| *root).collect::<Vec<_>>(),
        roots.iter().map(|r| r.root).collect::<Vec<_>>()
    );
    assert!(held.iter().all(|(_, files)| files.len() == 1));
    assert_ne!(held[0].1, held[1].1);
    let stats = store.stats().unwrap();
    assert_eq!(stats.referenced_bytes, (v1.len() + v2.len()) as u64);
    assert_eq!(stats.unique_bytes, v1.len() as u64 + missing_bytes);
}

#[test]
fn a_file_modified_after_indexing_is_not_used() {
    let tmp = tempfile::tempdir().unwrap();
    let data = random(1 << 20, 5);
    let src = tmp.path().join("src.bin");
    std::fs::write(&src, &data).unwrap();
    let store = open(tmp.path());
    store.index_path(&src).unwrap();
    let (_, manifest) = chunks_of(&data);

    // Same size, other bytes, and the old mtime put back: only the hash check can tell.
    let mtime = std::fs::metadata(&src).unwrap().modified().unwrap();
    let file = OpenOptions::new().write(true).open(&src).unwrap();
    let middle = manifest[0].len as u64 + manifest[1].len as u64 + 10;
    file.write_all_at(&[!data[middle as usize]], middle).unwrap();
    file.set_modified(mtime).unwrap();
    drop(file);
    let dst_path = tmp.path().join("dst.bin");
    let dst = File::create(&dst_path).unwrap();
    let report = store.fill(&manifest, &dst, 0).unwrap();
    let got = std::fs::read(&dst_path).unwrap();
    // Whatever was written is right; the changed chunk (and, the file now being distrusted,
    // the ones after it) are missing.
    assert!(report.filled_bytes < data.len() as u64);
    let first_missing = report.missing[0].0 as usize;
    assert!(first_missing <= middle as usize);
    assert_eq!(&got[..first_missing], &data[..first_missing]);
    assert!(got[first_missing..].iter().all(|&b| b == 0));
    assert!(store.lookup(&manifest[0].id).unwrap().is_empty(), "the stale file was not dropped");

    // A size change is seen without reading anything.
    std::fs::write(&src, &data).unwrap();
    store.index_path(&src).unwrap();
    std::fs::OpenOptions::new().append(true).open(&src).unwrap().write_all_at(b"x", 0).unwrap();
    let dst2 = File::create(tmp.path().join("dst2.bin")).unwrap();
    let report = store.fill(&manifest, &dst2, 0).unwrap();
    assert_eq!(report.filled_bytes, 0);
    assert_eq!(report.missing, vec![(0, data.len() as u64)]);
    assert_eq!(dst2.metadata().unwrap().len(), 0, "nothing may be written");
    assert_eq!(store.stats().unwrap().files, 0);
    assert_eq!(store.read_chunk(&manifest[0].id).unwrap(), None);
}

#[test]
fn a_bad_manifest_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let dst = File::create(tmp.path().join("d")).unwrap();
    let bad = [ChunkRef { id: chunk_id(b"x"), len: 200_000 }];
    let err = store.fill(&bad, &dst, 0).unwrap_err();
    assert!(matches!(err, XetStoreError::BadManifest(_)), "{err}");
    let err = store.fill(&[ChunkRef { id: [0; 32], len: 10 }], &dst, u64::MAX - 5).unwrap_err();
    assert!(err.to_string().contains("beyond the largest file offset"), "{err}");
    // A destination opened read-only: the error says so, the index is unharmed.
    let data = random(100_000, 11);
    std::fs::write(tmp.path().join("s"), &data).unwrap();
    store.index_path(&tmp.path().join("s")).unwrap();
    let read_only = File::open(tmp.path().join("d")).unwrap();
    let err = store.fill(&chunks_of(&data).1, &read_only, 0).unwrap_err();
    assert!(matches!(err, XetStoreError::Destination(_)), "{err}");
    assert_eq!(store.stats().unwrap().files, 1);
    let err = store.fill(&[ChunkRef { id: [0; 32], len: 10 }], &dst, u64::MAX - 5).unwrap_err();
    assert!(err.to_string().contains("beyond the largest file offset"), "{err}");
}

#[test]
fn a_second_handle_on_the_same_store_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let _store = open(tmp.path());
    let err = XetStore::open(&tmp.path().join("xet"), StoreOptions::default()).err().unwrap();
    assert!(matches!(err, XetStoreError::InUse { .. }), "{err}");
    assert!(err.to_string().contains("in use by another ccbt process"), "{err}");
}

fn damaged(tmp: &Path, damage: impl FnOnce(&mut Vec<u8>)) -> Result<(), XetStoreError> {
    let data = random(600_000, 6);
    let src = tmp.join("src.bin");
    std::fs::write(&src, &data).unwrap();
    let dir = tmp.join("xet");
    let _ = std::fs::remove_dir_all(&dir);
    let store = XetStore::open(&dir, StoreOptions::default()).unwrap();
    for i in 0..40 {
        let copy = tmp.join(format!("copy{i}.bin"));
        std::fs::write(&copy, random(100_000, 100 + i)).unwrap();
        store.index_path(&copy).unwrap();
    }
    drop(store);
    let index = dir.join("index.redb");
    let mut bytes = std::fs::read(&index).unwrap();
    damage(&mut bytes);
    std::fs::write(&index, &bytes).unwrap();
    let store = XetStore::open(&dir, StoreOptions::default())?;
    store.stats()?;
    store.root_stats()?;
    Ok(())
}

#[test]
fn a_damaged_index_is_an_error_never_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    type Damage = Box<dyn FnOnce(&mut Vec<u8>)>;
    let cases: [(&str, Damage); 4] = [
        ("garbage", Box::new(|b: &mut Vec<u8>| b.iter_mut().for_each(|x| *x = 7))),
        ("truncated to a page", Box::new(|b: &mut Vec<u8>| b.truncate(4096))),
        ("truncated to half", Box::new(|b: &mut Vec<u8>| b.truncate(b.len() / 2))),
        ("tiny", Box::new(|b: &mut Vec<u8>| b.truncate(5))),
    ];
    for (name, damage) in cases {
        let err = damaged(tmp.path(), damage).expect_err(name);
        assert!(matches!(err, XetStoreError::Corrupt { .. }), "{name}: {err}");
        assert!(err.to_string().contains("delete it to start an empty index"), "{name}: {err}");
    }
    // Deleting the file gives a working, empty store.
    std::fs::remove_file(tmp.path().join("xet/index.redb")).unwrap();
    assert_eq!(open(tmp.path()).stats().unwrap().files, 0);
}

#[test]
fn cleanup_drops_stale_files_and_enforces_the_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = open(tmp.path());
    let mut paths = Vec::new();
    for i in 0..6 {
        let path = tmp.path().join(format!("f{i}.bin"));
        std::fs::write(&path, random(400_000, 20 + i)).unwrap();
        store.index_path(&path).unwrap();
        paths.push(std::fs::canonicalize(&path).unwrap());
    }
    std::fs::remove_file(&paths[2]).unwrap();
    let dry = store.cleanup(u64::MAX, true).unwrap();
    assert!(dry.dry_run && dry.evicted.is_empty());
    assert_eq!(dry.stale, vec![ccbt_xetstore::StaleFile { path: paths[2].clone(), reason: "gone" }]);
    assert_eq!(store.stats().unwrap().files, 6, "a dry run changed the index");
    let done = store.cleanup(u64::MAX, false).unwrap();
    assert_eq!(done.stale, dry.stale);
    assert_eq!(store.stats().unwrap().files, 5);
    // A cap below the index's size forgets the oldest files first.
    let size = store.stats().unwrap().index_bytes;
    let report = store.cleanup(size - 1, false).unwrap();
    assert_eq!(report.evicted.first(), Some(&paths[0]));
    assert!(store.lookup(&chunks_of(&std::fs::read(&paths[5]).unwrap()).1[0].id).unwrap().len() == 1);
    let report = store.cleanup(0, false).unwrap();
    assert_eq!(report.evicted.last(), Some(&paths[5]));
    assert_eq!(store.stats().unwrap().files, 0);
}

#[test]
fn a_shared_cleanup_measures_live_data_and_does_not_run_away() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let mut paths = Vec::new();
    for i in 0..4 {
        let path = tmp.path().join(format!("s{i}.bin"));
        std::fs::write(&path, random(400_000, 60 + i)).unwrap();
        store.index_path(&path).unwrap();
        paths.push(std::fs::canonicalize(&path).unwrap());
    }
    std::fs::remove_file(&paths[1]).unwrap();
    let dry = store.cleanup_shared(u64::MAX, true).unwrap();
    assert_eq!(dry.stale, vec![ccbt_xetstore::StaleFile { path: paths[1].clone(), reason: "gone" }]);
    assert!(dry.index_bytes_before > 0 && !dry.compacted);
    assert_eq!(store.stats().unwrap().files, 4, "a dry run changed the index");
    let used = store.cleanup_shared(u64::MAX, false).unwrap().index_bytes_after;
    assert_eq!(store.stats().unwrap().files, 3);
    // A cap just below the live data forgets the oldest file only; the same cap again then
    // finds the index under it (the file itself did not shrink, the live data did).
    let report = store.cleanup_shared(used - 1, false).unwrap();
    assert_eq!(report.evicted, vec![paths[0].clone()]);
    assert!(report.index_bytes_after < used);
    let again = store.cleanup_shared(used - 1, false).unwrap();
    assert!(again.evicted.is_empty() && again.stale.is_empty(), "{again:?}");
    assert_eq!(store.stats().unwrap().files, 2);
}

#[test]
fn the_store_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<XetStore>();
    let tmp = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(tmp.path()));
    let handles: Vec<_> = (0..4u64)
        .map(|i| {
            let (store, dir) = (store.clone(), tmp.path().to_owned());
            std::thread::spawn(move || {
                let path = dir.join(format!("t{i}.bin"));
                std::fs::write(&path, random(200_000, 40 + i)).unwrap();
                store.index_path(&path).unwrap();
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(store.stats().unwrap().files, 4);
}
