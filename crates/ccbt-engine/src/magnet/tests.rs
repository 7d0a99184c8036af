//! A metadata connection on the shared socket pump, against a peer on loopback (127.0.0.2)
//! that floods `ut_metadata` requests and never reads: every request we answer queues a
//! reject, and the pump's bound holds for this kind of connection too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use ccbt_core::{InfoHash, PeerId};
use ccbt_metainfo::Magnet;
use ccbt_proto::metadata::ConnOptions;
use ccbt_proto::PeerKey;
use ccbt_wire::ext::metadata::MetadataMessage;
use ccbt_wire::ext::{ExtHandshake, UT_METADATA};
use ccbt_wire::Message;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;

use super::conn::MetadataMachine;
use super::{new_resolver, ResolveSpec};
use crate::peer::pump::{self, QueueGauge};
use crate::peer::LIMITS;
use crate::{SessionOptions, TorrentId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metadata_request_flood_from_a_peer_that_does_not_read_stays_under_the_pump_cap() {
    let info_hash = InfoHash([9; 20]);
    let spec = ResolveSpec {
        id: TorrentId(1),
        magnet: Magnet::new(info_hash),
        save_path: "unused".into(),
        peer_id: PeerId([1; 20]),
        listen_port: 1,
        options: Arc::new(SessionOptions { enable_dht: false, ..SessionOptions::default() }),
        dht: None,
        limits: crate::limits::SessionLimits::unlimited(),
        paused: false,
        xet_store: false,
    };
    let (shared, _commands) = new_resolver(&spec);

    // Small kernel buffers on our side too, so that what we queue shows in the pump's queue
    // rather than in the socket's (accepted sockets inherit the listener's sizes).
    let listening = TcpSocket::new_v4().unwrap();
    listening.set_send_buffer_size(4096).unwrap();
    listening.set_recv_buffer_size(4096).unwrap();
    listening.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = listening.listen(4).unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut peer = socket.connect(listener.local_addr().unwrap()).await.unwrap();
    let (ours, addr) = listener.accept().await.unwrap();

    let gauge = Arc::new(QueueGauge::default());
    let pump = {
        let gauge = gauge.clone();
        let opts = ConnOptions { listen_port: 1, pex: false, fast: true, client: "test".into() };
        tokio::spawn(async move {
            let mut machine = MetadataMachine::new(shared, PeerKey(1), addr, &opts);
            let rate = crate::limits::SessionLimits::unlimited().register(TorrentId(1), 0);
            pump::run(&ours, &mut machine, LIMITS, &gauge, &rate).await
        })
    };

    // Its extension handshake (so its requests are answered), then 400,000 requests: about
    // 100,000 rejects, 3.6 MB, if every one were answered.
    let mut flood = BytesMut::new();
    let hs =
        ExtHandshake { m: vec![(UT_METADATA.into(), 3)], metadata_size: Some(100_000), ..Default::default() };
    ccbt_wire::encode(&Message::Extended { id: 0, payload: hs.encode() }, &mut flood);
    let request = MetadataMessage::Request { piece: 0 }.encode();
    for _ in 0..400_000 {
        ccbt_wire::encode(
            &Message::Extended { id: ccbt_proto::peer::OUR_UT_METADATA, payload: request.clone() },
            &mut flood,
        );
    }
    let written = Arc::new(AtomicBool::new(false));
    let writer = {
        let written = written.clone();
        tokio::spawn(async move {
            let _ = peer.write_all(&flood).await;
            written.store(true, Ordering::Relaxed);
            peer
        })
    };

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while gauge.peak() < LIMITS.cap / 2 {
        assert!(!pump.is_finished(), "the connection ended: {:?}", pump.await);
        assert!(tokio::time::Instant::now() < deadline, "queued only {} bytes", gauge.peak());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(gauge.peak() <= LIMITS.cap, "queued {} bytes, cap {}", gauge.peak(), LIMITS.cap);
    assert!(!written.load(Ordering::Relaxed), "the whole flood was read although the peer reads nothing");
    pump.abort();
    writer.abort();
}
