//! A magnet's saved .torrent keeps the Xet chunk manifests learned from peers, as it keeps
//! piece layers, so they are not fetched again after a restart.

use ccbt_core::merkle::leaf_hash;
use ccbt_metainfo::{Magnet, MetaVersion, Torrent, TorrentBuilder, XetBuild};
use ccbt_xet::{chunk_id, ChunkRef};

#[test]
fn a_saved_magnet_torrent_keeps_learned_xet_layers() {
    let data = vec![7u8; 5000];
    let chunks = vec![ChunkRef { id: chunk_id(&data), len: 5000 }];
    let bytes = TorrentBuilder {
        version: MetaVersion::V2,
        name: "f".into(),
        files: vec![(vec![], 5000)],
        piece_length: 16384,
        // One piece of one leaf: the piece's node is the leaf's hash.
        v2_piece_hashes: vec![vec![leaf_hash(&data)]],
        xet: Some(XetBuild::from_chunks(vec![chunks.clone()], None)),
        ..TorrentBuilder::default()
    }
    .build()
    .unwrap();
    // As fetched over ut_metadata: the info dictionary only, the manifest still missing.
    let mut t = Torrent::from_parts(&Torrent::from_bytes(&bytes).unwrap().info_bytes, None).unwrap();
    let missing = t.missing_xet_layers();
    assert_eq!(missing.len(), 1);
    t.set_xet_layer(missing[0].1, chunks).unwrap();
    let magnet = Magnet::from_torrent(&t);
    let saved = Torrent::from_bytes(&super::torrent_file_bytes(&t, &magnet)).unwrap();
    assert_eq!(saved.xet_layers, t.xet_layers);
    assert!(saved.missing_xet_layers().is_empty());
    assert_eq!(saved.info_hash, t.info_hash);
}
