//! Builds a multi-file torrent whose name, file paths and BEP 47 attributes come from the fuzzer
//! (0xff separates files, 0xfe separates path components; a file's first byte picks padding
//! and symlink attributes), then checks what the parser makes of it: refused only for a reason
//! about paths, otherwise every component portable, every stored path distinct even on a
//! case-insensitive file system, no file named like a folder, every symlink inside the torrent.

#![no_main]

use std::collections::HashSet;

use ccbt_bencode::OwnedValue;
use ccbt_metainfo::{is_portable_component, MetainfoError, Torrent};
use libfuzzer_sys::fuzz_target;

fn components(raw: &[u8]) -> OwnedValue {
    OwnedValue::List(raw.split(|&b| b == 0xfe).map(|c| OwnedValue::bytes(c.to_vec())).collect())
}

fn torrent(data: &[u8]) -> Vec<u8> {
    let mut chunks = data.split(|&b| b == 0xff);
    let name = chunks.next().unwrap_or_default();
    let mut files = Vec::new();
    let mut total = 0i64;
    for chunk in chunks.take(2_000) {
        let (flags, path) = chunk.split_first().map_or((0, chunk), |(f, p)| (*f, p));
        let mut file = OwnedValue::dict().with("length", 1i64);
        if flags & 1 == 0 || path.len() % 2 == 0 {
            file.insert("path", components(path));
        }
        match flags & 6 {
            2 => {
                file.insert("attr", "p");
            }
            4 => {
                file.insert("attr", "l");
                file.insert("symlink path", components(path));
            }
            _ => {}
        }
        total += i64::from(flags & 6 != 4);
        files.push(file);
    }
    let piece = 16384i64;
    let info = OwnedValue::dict()
        .with("name", OwnedValue::bytes(name.to_vec()))
        .with("files", files)
        .with("piece length", piece)
        .with("pieces", vec![0u8; 20 * ((total + piece - 1) / piece) as usize]);
    OwnedValue::dict().with("info", info).to_bytes()
}

fuzz_target!(|data: &[u8]| {
    let t = match Torrent::from_bytes(&torrent(data)) {
        Ok(t) => t,
        Err(
            MetainfoError::PathTooDeep { .. }
            | MetainfoError::TooManyDuplicateNames { .. }
            | MetainfoError::UnsafePath { .. }
            | MetainfoError::MissingKey(_)
            | MetainfoError::NoFiles
            | MetainfoError::EmptyTorrent,
        ) => return,
        Err(e) => panic!("refused for a reason that is not about paths: {e}"),
    };
    let mut stored = HashSet::new();
    let mut folders = HashSet::new();
    for file in &t.files {
        assert_eq!(file.path.first(), Some(&t.name));
        assert!(file.path.iter().all(|c| is_portable_component(c)), "{:?}", file.path);
        if let Some(target) = &file.symlink {
            assert_eq!(target.first(), Some(&t.name));
            assert!(target.iter().all(|c| is_portable_component(c)), "{target:?}");
        }
        if file.is_padding {
            continue;
        }
        let folded: Vec<String> = file.path.iter().map(|c| c.to_lowercase()).collect();
        for end in 1..folded.len() {
            folders.insert(folded[..end].join("/"));
        }
        assert!(stored.insert(folded.join("/")), "two files at {:?}", file.path);
    }
    assert!(stored.is_disjoint(&folders), "a file is named like a folder");
});
