use sha1::{Digest, Sha1};

use super::{sha1_pair, sha1_pair_supported, Sha1PairStream};

fn sha1(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

fn bytes(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31) ^ (i / 253) ^ seed) as u8).collect()
}

/// `data` cut into slices of the given sizes, cycled, the last one shorter.
fn cut(data: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    for &size in sizes.iter().cycle() {
        if at >= data.len() {
            break;
        }
        let end = (at + size).min(data.len());
        out.push(data[at..end].to_vec());
        at = end;
    }
    out
}

#[test]
fn pairs_match_the_sha1_crate_for_any_slicing_and_decline_unequal_lengths() {
    if !sha1_pair_supported() {
        assert_eq!(sha1_pair(&[b"a"], &[b"b"]), None);
        return;
    }
    let lengths = [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 16 * 1024, 16 * 1024 + 13, 262_144];
    let cuts: [&[usize]; 5] = [&[usize::MAX], &[1], &[63, 1, 64], &[16 * 1024], &[100, 0, 37]];
    for (i, &len_a) in lengths.iter().enumerate() {
        for &len_b in &lengths[i..] {
            let (a, b) = (bytes(len_a, 1), bytes(len_b, 2));
            for ca in &cuts {
                for cb in &cuts {
                    let (sa, sb) = (cut(&a, ca), cut(&b, cb));
                    let got = sha1_pair(&sa, &sb);
                    if len_a == len_b {
                        assert_eq!(got, Some((sha1(&a), sha1(&b))), "length {len_a}");
                    } else {
                        assert_eq!(got, None, "lengths {len_a}/{len_b} differ: each is hashed alone");
                    }
                }
            }
        }
    }
}

#[test]
fn a_changed_byte_changes_only_its_own_digest() {
    if !sha1_pair_supported() {
        return;
    }
    let a = bytes(1 << 20, 3);
    let mut b = a.clone();
    b[777_777] ^= 1;
    let (da, db) = sha1_pair(&[&a], &[&b]).expect("supported");
    assert_eq!(da, sha1(&a));
    assert_eq!(db, sha1(&b));
    assert_ne!(da, db);
}

#[test]
fn the_stream_matches_the_sha1_crate_for_any_runs() {
    let Some(_) = Sha1PairStream::new() else {
        assert!(!sha1_pair_supported());
        return;
    };
    for len in [0, 1, 55, 56, 63, 64, 65, 1000, 16 * 1024 + 13, 1 << 20] {
        let (a, b) = (bytes(len, 4), bytes(len, 5));
        for step in [1, 7, 63, 64, 65, 4096, 1 << 20] {
            let mut h = Sha1PairStream::new().expect("supported");
            for (x, y) in a.chunks(step).zip(b.chunks(step)) {
                h.update(x, y);
            }
            h.update(&[], &[]);
            assert_eq!(h.finish(), (sha1(&a), sha1(&b)), "length {len} in runs of {step}");
        }
    }
}
