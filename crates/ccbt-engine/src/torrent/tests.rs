//! Torrent-wide swarm actions are applied by the torrent task: connection tasks only leave them
//! in `TorrentInner::torrent_actions` and wake the task.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ccbt_core::{BlockRef, PeerId};
use ccbt_metainfo::{Torrent, TorrentBuilder};
use ccbt_proto::swarm::SwarmAction;
use ccbt_proto::PeerKey;
use ccbt_storage::{HashPool, MemoryStorage};
use sha1::{Digest, Sha1};
use tokio::sync::{broadcast, mpsc};

use super::{spawn_torrent, PeerSlot, Selection, TorrentShared, TorrentSpec};
use crate::peer::PeerCommand;
use crate::sync::lock;
use crate::{Event, SessionOptions, TorrentId};

const PIECE: usize = 16384;

/// Four pieces of data and their torrent.
pub(crate) fn torrent() -> (Torrent, Vec<u8>) {
    let data: Vec<u8> = (0..4 * PIECE as u32).map(|i| (i % 253) as u8).collect();
    let builder = TorrentBuilder {
        name: "actions.bin".into(),
        files: vec![(vec![], data.len() as u64)],
        piece_length: PIECE as u32,
        piece_hashes: data.chunks(PIECE).map(|c| Sha1::digest(c).into()).collect(),
        ..TorrentBuilder::default()
    };
    (Torrent::from_bytes(&builder.build().unwrap()).unwrap(), data)
}

pub(crate) fn start(torrent: Torrent) -> (Arc<TorrentShared>, broadcast::Receiver<Event>) {
    let torrent = Arc::new(torrent);
    let (events, rx) = broadcast::channel(64);
    let options = SessionOptions { enable_dht: false, ..SessionOptions::default() };
    let (shared, _task) = spawn_torrent(TorrentSpec {
        id: TorrentId(1),
        storage: Arc::new(MemoryStorage::new(torrent.lengths().total_length())),
        selection: Selection::all(&torrent),
        torrent,
        save_path: "unused".into(),
        options: tokio::sync::watch::channel(Arc::new(options)).1,
        listen_port: 1,
        peer_id: PeerId([1; 20]),
        pool: Arc::new(HashPool::new(1, 16).unwrap()),
        events,
        peers: Vec::new(),
        initial_banned_ips: Vec::new(),
        check: super::DataCheck::Nothing,
        checkpoint: None,
        paused: false,
        budget: crate::budget::ConnectionBudget::new(crate::budget::BudgetLimits {
            established: 8,
            handshakes_per_direction: 8,
            per_ip: 8,
            connects_per_sec: 100,
        }),
        dht: None,
        xet: None,
        xet_keys: crate::xet_discovery::XetKeys::new(),
        xet_session: std::sync::Weak::new(),
        streaming: false,
        limits: crate::limits::SessionLimits::unlimited(),
    });
    (shared, rx)
}

/// Leaves `action` for the torrent task, as a connection task does.
fn leave(shared: &TorrentShared, action: SwarmAction) {
    lock(&shared.inner).torrent_actions.push(action);
    shared.actions_ready.notify_one();
}

async fn next_event(rx: &mut broadcast::Receiver<Event>, wanted: impl Fn(&Event) -> bool) -> Event {
    let deadline = Duration::from_secs(30);
    tokio::time::timeout(deadline, async {
        loop {
            let event = rx.recv().await.unwrap();
            if wanted(&event) {
                return event;
            }
        }
    })
    .await
    .expect("event did not come")
}

#[tokio::test]
async fn verify_goes_through_the_torrent_task_to_the_hash_pool() {
    let (torrent, data) = torrent();
    let (shared, mut events) = start(torrent);
    let blocks = vec![Bytes::copy_from_slice(&data[PIECE..2 * PIECE])];
    leave(&shared, SwarmAction::Verify { piece: 1, blocks, block_hashes: false });
    let verified = next_event(&mut events, |e| matches!(e, Event::PieceVerified { .. })).await;
    assert!(matches!(verified, Event::PieceVerified { piece: 1, .. }));
    assert!(lock(&shared.inner).swarm.have().get(1));
    assert!(lock(&shared.inner).torrent_actions.is_empty());
}

#[tokio::test]
async fn cancel_reaches_the_connection_it_names_and_no_other() {
    let (torrent, _) = torrent();
    let (shared, _events) = start(torrent);
    let (named_tx, mut named) = mpsc::channel(4);
    let (other_tx, mut other) = mpsc::channel(4);
    {
        let mut inner = lock(&shared.inner);
        inner
            .peers
            .insert(PeerKey(7), PeerSlot::new("127.0.0.7:1".parse().unwrap(), PeerId([7; 20]), named_tx));
        inner
            .peers
            .insert(PeerKey(8), PeerSlot::new("127.0.0.8:1".parse().unwrap(), PeerId([8; 20]), other_tx));
    }
    let block = BlockRef { piece: 2, offset: 0, len: PIECE as u32 };
    leave(&shared, SwarmAction::Cancel { peer: PeerKey(7), block });
    let cmd = tokio::time::timeout(Duration::from_secs(30), named.recv()).await.unwrap();
    assert!(matches!(cmd, Some(PeerCommand::Cancel(b)) if b == block));
    assert!(other.try_recv().is_err());
}

#[tokio::test]
async fn new_peers_from_pex_are_dialled_by_the_torrent() {
    let (torrent, _) = torrent();
    let (shared, _events) = start(torrent);
    let listener = tokio::net::TcpListener::bind("127.0.0.6:0").await.unwrap();
    leave(&shared, SwarmAction::NewPeers(vec![listener.local_addr().unwrap()]));
    let accepted = tokio::time::timeout(Duration::from_secs(30), listener.accept()).await;
    assert!(accepted.expect("the torrent did not dial the new peer").is_ok());
}
