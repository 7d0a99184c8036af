//! The one mapping from [`SessionOptions`] to the option types of the layers below the engine
//! (peer machine, swarm, storage). Every layer's settings are derived here and nowhere else.

use ccbt_core::Lengths;
use ccbt_metainfo::Torrent;
use ccbt_proto::choker::ChokerOptions;
use ccbt_proto::peer::PeerConnOptions;
use ccbt_proto::picker::PickerOptions;
use ccbt_proto::swarm::SwarmOptions;
use ccbt_storage::StorageOptions;

use super::SessionOptions;

/// The options of one torrent's layers.
#[derive(Clone, Debug)]
pub(crate) struct TorrentLayerOptions {
    /// For each connection; the handshake fills in `fast_extension` and `extension_protocol`.
    pub peer_conn: PeerConnOptions,
    pub swarm: SwarmOptions,
}

impl TorrentLayerOptions {
    pub(crate) fn new(options: &SessionOptions, torrent: &Torrent) -> TorrentLayerOptions {
        TorrentLayerOptions {
            peer_conn: peer_conn(options, torrent.lengths()),
            swarm: swarm(options, torrent),
        }
    }
}

/// PEX runs only when enabled and never for private torrents (BEP 27).
pub(crate) fn pex_enabled(options: &SessionOptions, torrent: &Torrent) -> bool {
    options.enable_pex && !torrent.private
}

fn peer_conn(options: &SessionOptions, lengths: Lengths) -> PeerConnOptions {
    PeerConnOptions {
        min_pipeline_depth: options.pipeline_depth,
        max_pipeline_depth: options.max_pipeline_depth,
        request_timeout: options.request_timeout,
        ..PeerConnOptions::new(lengths)
    }
}

fn swarm(options: &SessionOptions, torrent: &Torrent) -> SwarmOptions {
    SwarmOptions {
        pex: pex_enabled(options, torrent),
        picker: PickerOptions {
            selection: options.piece_selection,
            endgame_duplicates: options.endgame_duplicates,
            endgame_threshold: options.endgame_threshold,
        },
        choker: ChokerOptions {
            max_upload_slots: options.max_upload_slots,
            unchoke_interval: options.unchoke_interval,
            optimistic_unchoke_interval: options.optimistic_unchoke_interval,
            snub_timeout: options.snub_timeout,
            seeding: options.seed_choking,
        },
        max_buffered_bytes: options.max_buffered_kib as u64 * 1024,
        max_hash_failures: options.max_hash_failures,
    }
}

/// The file backend's options.
pub(crate) fn storage(options: &SessionOptions) -> StorageOptions {
    StorageOptions {
        preallocate: options.preallocate,
        use_mmap: options.use_mmap,
        direct_io: options.direct_io,
        write_batch_kib: options.write_batch_kib,
    }
}
