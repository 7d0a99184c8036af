//! Conformance with Hugging Face's xet-core beyond the two golden vectors: real content cuts,
//! forced cuts, the minimum-size rule at 8191/8192/8193 bytes, low-entropy inputs and trees of
//! many levels (an 80 MiB file has over 1,200 chunks: 5 levels of nodes). The expected values in
//! `fixtures/xet_core_1_8.txt` were printed by a scratch program linking xet-core's published
//! crates `xet-data` / `xet-core-structures` 1.8.0 (see that file's header); the inputs are
//! regenerated here by `gen`, the same generator.

mod gen;

use ccbt_xet::{range_hash, ChunkId, FileHasher, Manifest};

const FIXTURE: &str = include_str!("fixtures/xet_core_1_8.txt");

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One line of the fixture.
struct Case<'a> {
    kind: &'a str,
    param: u64,
    seed: u64,
    size: usize,
    chunks: usize,
    /// Unkeyed BLAKE3 of the lines `"{offset} {len} {id hex}\n"`, one per chunk.
    lines_digest: &'a str,
    first: &'a str,
    last: &'a str,
    file_hash: &'a str,
    /// Range verification hash over all the file's chunk ids.
    range_hash: &'a str,
}

fn cases() -> Vec<Case<'static>> {
    let cases: Vec<Case> = FIXTURE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 10, "fixture line: {line}");
            Case {
                kind: f[0],
                param: f[1].parse().unwrap(),
                seed: f[2].parse().unwrap(),
                size: f[3].parse().unwrap(),
                chunks: f[4].parse().unwrap(),
                lines_digest: f[5],
                first: f[6],
                last: f[7],
                file_hash: f[8],
                range_hash: f[9],
            }
        })
        .collect();
    assert!(cases.len() >= 15, "the fixture lost cases");
    cases
}

/// `"a,b"` of the first (or last) two ids, `-` for none.
fn two(ids: &[ChunkId]) -> String {
    if ids.is_empty() {
        return "-".into();
    }
    ids.iter().map(|id| hex(id)).collect::<Vec<_>>().join(",")
}

#[test]
fn chunks_and_hashes_equal_xet_cores() {
    for case in cases() {
        let name = format!("{} {} seed {} size {}", case.kind, case.param, case.seed, case.size);
        let data = gen::generate(case.kind, case.param, case.seed, case.size);
        let mut hasher = FileHasher::new();
        // Odd-sized buffers, so cuts also fall across buffer ends.
        data.chunks(1_000_003).for_each(|buf| hasher.update(buf));
        let (hash, chunks) = hasher.finish();
        let mut lines = String::new();
        let mut offset = 0u64;
        for chunk in &chunks {
            lines.push_str(&format!("{offset} {} {}\n", chunk.len, hex(&chunk.id)));
            offset += u64::from(chunk.len);
        }
        let ids: Vec<ChunkId> = chunks.iter().map(|c| c.id).collect();
        assert_eq!(chunks.len(), case.chunks, "{name}: number of chunks");
        assert_eq!(two(&ids[..ids.len().min(2)]), case.first, "{name}: first ids");
        assert_eq!(two(&ids[ids.len().saturating_sub(2)..]), case.last, "{name}: last ids");
        assert_eq!(hex(blake3::hash(lines.as_bytes()).as_bytes()), case.lines_digest, "{name}: chunk list");
        assert_eq!(hex(&hash), case.file_hash, "{name}: file hash");
        assert_eq!(hex(&range_hash(&ids)), case.range_hash, "{name}: range hash");
        let manifest = Manifest::new(chunks).unwrap();
        assert_eq!(manifest.root(), hash, "{name}: manifest root");
        assert_eq!(manifest.file_size(), case.size as u64, "{name}: manifest size");
    }
}
