//! A connection task applies endgame cancels itself, without the torrent task.

use ccbt_core::{BlockRef, PeerId};
use ccbt_proto::swarm::SwarmAction;
use ccbt_proto::PeerKey;
use ccbt_wire::Handshake;
use tokio::sync::mpsc;

use super::{PeerCommand, TorrentConn};
use crate::sync::lock;
use crate::torrent::tests::{start, torrent};
use crate::torrent::PeerSlot;

#[tokio::test]
async fn an_endgame_cancel_goes_straight_to_the_other_connection() {
    let (torrent, _) = torrent();
    let info_hash = torrent.info_hash;
    let (shared, _events) = start(torrent);
    let (named_tx, mut named) = mpsc::channel(4);
    let slot = PeerSlot::new("127.0.0.7:1".parse().unwrap(), PeerId([7; 20]), named_tx);
    lock(&shared.inner).peers.insert(PeerKey(7), slot);
    let (_commands_tx, commands) = mpsc::channel(4);
    let theirs = Handshake::new(info_hash, PeerId([8; 20]));
    let remote = "127.0.0.8:1".parse().unwrap();
    let mut conn =
        TorrentConn::start(shared.clone(), PeerKey(8), remote, &theirs, true, commands, Default::default());

    let block = BlockRef { piece: 2, offset: 0, len: 16384 };
    conn.actions.push(SwarmAction::Cancel { peer: PeerKey(7), block });
    let for_torrent = conn.apply_actions(&mut lock(&shared.inner));
    // Sent during the call that received the block: nothing waits for the torrent task.
    assert!(!for_torrent);
    assert!(lock(&shared.inner).torrent_actions.is_empty());
    assert!(matches!(named.try_recv(), Ok(PeerCommand::Cancel(b)) if b == block));
}
