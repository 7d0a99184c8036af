//! The pump's back-pressure against a peer on loopback (127.0.0.3) that sends requests and
//! does not read: the machine answers each message with a 16 KiB reply.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ccbt_wire::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};

use super::{run, Machine, PumpLimits, QueueGauge};
use crate::peer::ConnEnd;

const REPLY: usize = 16 * 1024;

/// Answers every message with one 16 KiB extended message.
struct Echo {
    handled: Arc<std::sync::atomic::AtomicUsize>,
    out: Vec<Message>,
}

impl Machine for Echo {
    fn handle_message(&mut self, _now: Instant, _msg: Message) -> Result<(), ConnEnd> {
        self.handled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.out.push(Message::Extended { id: 1, payload: Bytes::from(vec![0u8; REPLY]) });
        Ok(())
    }
    fn after_input(&mut self, _now: Instant) -> Result<(), ConnEnd> {
        Ok(())
    }
    fn poll_transmit(&mut self) -> Option<Message> {
        self.out.pop()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: Instant) -> Result<(), ConnEnd> {
        Ok(())
    }
    async fn wake(&mut self) -> Result<(), ConnEnd> {
        std::future::pending().await
    }
}

const LIMITS: PumpLimits =
    PumpLimits { cap: 512 * 1024, max_output_per_message: REPLY + 16, max_frame: 1 << 20 };

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    // Only a hang fails: a debug build on a busy 2-core machine took 22 s here.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_does_not_read_is_not_read_and_resumes_when_it_reads() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind("127.0.0.3:0".parse().unwrap()).unwrap();
    let mut peer = socket.connect(listener.local_addr().unwrap()).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();

    let handled = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let gauge = Arc::new(QueueGauge::default());
    let pump = {
        let (handled, gauge) = (handled.clone(), gauge.clone());
        tokio::spawn(async move {
            let mut echo = Echo { handled, out: Vec::new() };
            let rate = crate::limits::SessionLimits::unlimited().register(crate::TorrentId(1), 0);
            run(&server, &mut echo, LIMITS, &gauge, &rate).await
        })
    };

    // 20,000 keep-alives would ask for 320 MB of replies.
    let sent = 20_000;
    let mut flood = BytesMut::new();
    for _ in 0..sent {
        ccbt_wire::encode(&Message::KeepAlive, &mut flood);
    }
    peer.write_all(&flood).await.unwrap();

    let count = || handled.load(std::sync::atomic::Ordering::Relaxed);
    wait_for("the pump to queue replies", || gauge.peak() >= LIMITS.cap / 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(gauge.peak() <= LIMITS.cap, "queued {} bytes, cap {}", gauge.peak(), LIMITS.cap);
    assert!(count() < sent, "every message was handled although the peer reads nothing");

    // The peer reads: the pump drains its queue and handles the rest of the input.
    let reader = tokio::spawn(async move {
        let mut sink = vec![0u8; 1 << 16];
        while peer.read(&mut sink).await.map(|n| n > 0).unwrap_or(false) {}
    });
    wait_for("every message to be handled", || count() == sent).await;
    assert!(gauge.peak() <= LIMITS.cap, "queued {} bytes, cap {}", gauge.peak(), LIMITS.cap);
    pump.abort();
    reader.abort();
}
