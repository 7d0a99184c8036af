//! The Xet and BEP 38 lines of `ccbt info`: whether the torrent carries Xet metadata, how
//! many chunk lists the file holds, `prev`, the publisher's BEP 46 link, `similar` and
//! `collections`.

use std::fmt::Write as _;

use ccbt_metainfo::Torrent;

/// Appends the lines, labelled like the rest of `ccbt info` (14 columns).
pub fn describe_xet(t: &Torrent, out: &mut String) {
    // Writing to a String cannot fail, hence the ignored results below.
    let mut line = |label: &str, value: &str| {
        let _ = writeln!(out, "{label:<14}{value}");
    };
    match (&t.xet, t.xet_ignored_version) {
        (Some(xet), _) => {
            let roots: std::collections::BTreeSet<_> = xet.roots.values().collect();
            let known = roots.iter().filter(|r| t.xet_layers.contains_key(**r)).count();
            line(
                "xet:",
                &format!(
                    "yes (version {}): {} distinct file contents, chunk lists for {known} of them in the file",
                    xet.version,
                    roots.len()
                ),
            );
            if let Some(prev) = xet.prev {
                line("xet prev:", &prev.to_hex());
            }
            if let Some(p) = &xet.publisher {
                // The BEP 46 link `ccbt xet follow` takes.
                let link = ccbt_engine::bep46::MutableLink { public_key: p.public_key, salt: p.salt.clone() };
                line("xet updates:", &link.to_string());
            }
        }
        (None, Some(v)) => line(
            "xet:",
            &format!(
                "ignored: version {v}, ccbt reads version {}; used as a plain torrent",
                ccbt_metainfo::XET_VERSION
            ),
        ),
        (None, None) => line("xet:", "no"),
    }
    for (i, hash) in t.similar.iter().enumerate() {
        line(if i == 0 { "similar:" } else { "" }, &hash.to_hex());
    }
    if !t.collections.is_empty() {
        line("collections:", &t.collections.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use ccbt_core::merkle::leaf_hash;
    use ccbt_core::InfoHashV2;
    use ccbt_metainfo::{MetaVersion, TorrentBuilder, XetBuild};
    use ccbt_xet::{chunk_id, ChunkRef};

    use super::*;

    /// A v2 Xet torrent of one 5000-byte file (one piece, one chunk).
    fn xet_torrent_bytes() -> Vec<u8> {
        let data = vec![7u8; 5000];
        let chunks = vec![ChunkRef { id: chunk_id(&data), len: 5000 }];
        TorrentBuilder {
            version: MetaVersion::V2,
            name: "f".into(),
            files: vec![(vec![], 5000)],
            piece_length: 16384,
            v2_piece_hashes: vec![vec![leaf_hash(&data)]],
            xet: Some(XetBuild {
                publisher: Some(ccbt_metainfo::XetPublisher { public_key: [5; 32], salt: b"s".to_vec() }),
                ..XetBuild::from_chunks(vec![chunks], Some(InfoHashV2([3; 32])))
            }),
            collections: vec!["a".into(), "b".into()],
            ..TorrentBuilder::default()
        }
        .build()
        .unwrap()
    }

    fn described(bytes: &[u8]) -> String {
        let mut out = String::new();
        describe_xet(&Torrent::from_bytes(bytes).unwrap(), &mut out);
        out
    }

    #[test]
    fn xet_facts_and_an_ignored_later_version() {
        let bytes = xet_torrent_bytes();
        let text = described(&bytes);
        assert!(text
            .contains("xet:          yes (version 1): 1 distinct file contents, chunk lists for 1 of them"));
        assert!(text.contains(&format!("xet prev:     {}\n", "03".repeat(32))), "{text}");
        assert!(text.contains("collections:  a, b\n") && !text.contains("similar"), "{text}");
        let link = format!("xet updates:  magnet:?xs=urn:btpk:{}&s=73\n", "05".repeat(32));
        assert!(text.contains(&link), "{text}");
        // The same torrent with `v` 2: used as a plain torrent, and said so.
        let at = bytes.windows(6).position(|w| w == b"1:vi1e").unwrap();
        let mut later = bytes.clone();
        later[at + 4] = b'2';
        let text = described(&later);
        assert!(text.contains("xet:          ignored: version 2, ccbt reads version 1"), "{text}");
    }
}
