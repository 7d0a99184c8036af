//! The tracker driver against tiny fake trackers that misbehave on purpose: every bad answer
//! becomes a named error or an ignored packet, never a panic, and the loop retries later.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ccbt_core::{InfoHash, PeerId};
use ccbt_tracker::{AnnounceEvent, AnnounceRequest, TrackerError, UdpTrackerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use super::transport::{http_agent, http_announce, UdpSession};
use super::*;

const GOOD: &[u8] = b"d8:intervali1800e10:tracker id3:abc5:peers6:\x0a\x00\x00\x01\x1a\xe1e";

/// An HTTP tracker answering the `n`-th request with `answers[n]` (the last one repeats) and
/// recording each request line.
async fn http_fake(answers: Vec<Vec<u8>>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/announce", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for n in 0.. {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(k) => head.extend_from_slice(&buf[..k]),
                }
            }
            let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_owned();
            log.lock().unwrap().push(line);
            let answer = answers.get(n).or(answers.last()).cloned().unwrap_or_default();
            let _ = stream.write_all(&answer).await;
            let _ = stream.shutdown().await;
        }
    });
    (url, seen)
}

fn ok(body: &[u8]) -> Vec<u8> {
    response(200, body)
}

fn response(status: u16, body: &[u8]) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
        .into_bytes();
    r.extend_from_slice(body);
    r
}

fn request(event: AnnounceEvent) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([7; 20]),
        peer_id: PeerId([8; 20]),
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left: 1,
        event,
        numwant: None,
        key: 1,
        tracker_id: None,
        compact: true,
    }
}

async fn http_once(answer: Vec<u8>, max_body: u64) -> Result<ccbt_tracker::AnnounceResponse, TrackerError> {
    let (url, _) = http_fake(vec![answer]).await;
    let agent = http_agent(&TransportOptions::default());
    http_announce(&agent, &url, &request(AnnounceEvent::Started), max_body).await
}

#[tokio::test]
async fn http_bad_answers_are_named_errors() {
    let r = http_once(ok(GOOD), 1 << 20).await.unwrap();
    assert_eq!(r.peers, vec!["10.0.0.1:6881".parse::<SocketAddr>().unwrap()]);

    let garbage = http_once(ok(b"<html>hello</html>"), 1 << 20).await;
    assert!(
        matches!(garbage, Err(TrackerError::InvalidResponse(ref w)) if w.contains("not bencode")),
        "{garbage:?}"
    );

    let failure = http_once(response(400, b"d14:failure reason9:forbiddene"), 1 << 20).await;
    assert_eq!(failure.unwrap_err(), TrackerError::Failure("forbidden".into()));

    let status = http_once(response(503, b"busy"), 1 << 20).await;
    assert_eq!(status.unwrap_err(), TrackerError::HttpStatus { status: 503 });

    let mut truncated = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n".to_vec();
    truncated.extend_from_slice(&GOOD[..20]);
    let truncated = http_once(truncated, 1 << 20).await;
    assert!(
        matches!(truncated, Err(TrackerError::Transport(_) | TrackerError::InvalidResponse(_))),
        "{truncated:?}"
    );

    let huge = http_once(ok(&vec![b'x'; 4096]), 1024).await;
    assert!(
        matches!(huge, Err(TrackerError::InvalidResponse(ref w)) if w.contains("larger than")),
        "{huge:?}"
    );

    let not_http = http_once(b"SSH-2.0-OpenSSH\r\n".to_vec(), 1 << 20).await;
    assert!(matches!(not_http, Err(TrackerError::Transport(_))), "{not_http:?}");
}

fn fast_options() -> AnnouncerOptions {
    AnnouncerOptions {
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        stop_timeout: Duration::from_secs(2),
        transport: TransportOptions {
            udp: UdpTrackerOptions { base_timeout: Duration::from_millis(100), max_retries: 1, ipv6: false },
            ..TransportOptions::default()
        },
        ..AnnouncerOptions::default()
    }
}

fn spawn(tiers: Vec<Vec<String>>) -> (AnnouncerHandle, mpsc::Receiver<Vec<SocketAddr>>) {
    let (tx, rx) = mpsc::channel(4);
    let target = AnnounceTarget { tiers, info_hash: InfoHash([7; 20]), peer_id: PeerId([8; 20]), port: 6881 };
    (spawn_announcer(target, fast_options(), || TrackerStats { uploaded: 5, downloaded: 6, left: 7 }, tx), rx)
}

async fn recv(rx: &mut mpsc::Receiver<Vec<SocketAddr>>) -> Vec<SocketAddr> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("no peers in time").unwrap()
}

#[tokio::test]
async fn announcer_retries_after_garbage_then_echoes_tracker_id_and_stops() {
    let (url, seen) = http_fake(vec![ok(b"garbage"), ok(b"d8:intervali5ee"[..9].as_ref()), ok(GOOD)]).await;
    let (handle, mut rx) = spawn(vec![vec![url.clone()]]);
    assert_eq!(recv(&mut rx).await, vec!["10.0.0.1:6881".parse::<SocketAddr>().unwrap()]);

    handle.completed().await;
    for _ in 0..200 {
        if seen.lock().unwrap().len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle.stop().await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 5, "{seen:#?}");
    for line in &seen[..3] {
        assert!(line.contains("event=started"), "retries of the first announce stay `started`: {line}");
        assert!(line.contains("uploaded=5&downloaded=6&left=7"), "{line}");
    }
    assert!(seen[3].contains("event=completed") && seen[3].contains("trackerid=abc"), "{}", seen[3]);
    assert!(seen[4].contains("event=stopped") && seen[4].contains("trackerid=abc"), "{}", seen[4]);
}

#[tokio::test]
async fn dead_tracker_falls_through_to_the_next_in_its_tier() {
    // A port nobody listens on: connection refused.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/announce", l.local_addr().unwrap())
    };
    let (good, _) = http_fake(vec![ok(GOOD)]).await;
    let (handle, mut rx) = spawn(vec![vec![dead.clone(), good.clone()], vec!["wss://ignored/".into()]]);
    assert_eq!(recv(&mut rx).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let status = handle.status();
    assert_eq!(status.len(), 2, "unsupported schemes are dropped: {status:?}");
    let good_status = status.iter().find(|s| s.url == good).unwrap();
    assert_eq!(good_status.last_error, None);
    assert_eq!(good_status.peers_received, 1);
    handle.stop().await;
}

#[tokio::test]
async fn every_tracker_failing_backs_off_and_keeps_trying() {
    let (url, seen) = http_fake(vec![response(500, b"oops")]).await;
    let (handle, _rx) = spawn(vec![vec![url]]);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let status = handle.status();
    assert_eq!(status[0].last_error.as_deref(), Some("tracker answered http status 500"));
    let attempts = seen.lock().unwrap().len();
    // 100 ms, 200 ms, then 400 ms between rounds: about 4 rounds in 1.2 s, certainly not 12.
    assert!((3..=6).contains(&attempts), "{attempts} attempts");
    handle.stop().await;
}

/// How a fake UDP tracker misbehaves before answering properly.
#[derive(Clone, Copy)]
enum UdpMode {
    /// Answer connects first with a wrong transaction id, then correctly.
    WrongTransactionFirst,
    /// Answer with a truncated packet first, then correctly.
    TruncatedFirst,
    /// Answer announces with an error packet.
    ErrorAction,
    /// Never answer.
    Silent,
}

async fn udp_fake(mode: UdpMode) -> (String, Arc<Mutex<usize>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let url = format!("udp://{}/announce", socket.local_addr().unwrap());
    let received = Arc::new(Mutex::new(0usize));
    let count = received.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        let mut replies = 0usize;
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else { return };
            *count.lock().unwrap() += 1;
            let packet = &buf[..n];
            let tx: [u8; 4] = packet[12..16].try_into().unwrap();
            let is_connect = n == 16;
            let mut reply = Vec::new();
            if is_connect {
                reply.extend_from_slice(&[0, 0, 0, 0]);
                reply.extend_from_slice(&tx);
                reply.extend_from_slice(&99u64.to_be_bytes());
            } else if matches!(mode, UdpMode::ErrorAction) {
                reply.extend_from_slice(&[0, 0, 0, 3]);
                reply.extend_from_slice(&tx);
                reply.extend_from_slice(b"info hash not allowed");
            } else {
                reply.extend_from_slice(&[0, 0, 0, 1]);
                reply.extend_from_slice(&tx);
                reply.extend_from_slice(&[0, 0, 7, 8, 0, 0, 0, 1, 0, 0, 0, 2, 10, 0, 0, 2, 0x1a, 0xe1]);
            }
            replies += 1;
            match mode {
                UdpMode::Silent => continue,
                UdpMode::WrongTransactionFirst if replies == 1 => {
                    let mut wrong = reply.clone();
                    wrong[4] ^= 0xff;
                    let _ = socket.send_to(&wrong, from).await;
                }
                UdpMode::TruncatedFirst if replies == 1 => {
                    let _ = socket.send_to(&reply[..reply.len() - 3], from).await;
                    let _ = socket.send_to(&reply[..5], from).await;
                }
                _ => {}
            }
            let _ = socket.send_to(&reply, from).await;
        }
    });
    (url, received)
}

fn udp_options() -> UdpTrackerOptions {
    UdpTrackerOptions { base_timeout: Duration::from_millis(100), max_retries: 2, ipv6: false }
}

#[tokio::test]
async fn udp_wrong_ids_and_truncated_packets_are_ignored() {
    for mode in [UdpMode::WrongTransactionFirst, UdpMode::TruncatedFirst] {
        let (url, _) = udp_fake(mode).await;
        let mut session = UdpSession::open(&url, udp_options()).await.unwrap();
        let r = session.announce(request(AnnounceEvent::Started)).await.unwrap();
        assert_eq!(r.peers, vec!["10.0.0.2:6881".parse::<SocketAddr>().unwrap()]);
        // The connection id is reused for the next announce.
        let r = session.announce(request(AnnounceEvent::None)).await.unwrap();
        assert_eq!(r.complete, Some(2));
    }
}

#[tokio::test]
async fn udp_error_action_and_silence_are_named_errors() {
    let (url, _) = udp_fake(UdpMode::ErrorAction).await;
    let mut session = UdpSession::open(&url, udp_options()).await.unwrap();
    let err = session.announce(request(AnnounceEvent::Started)).await.unwrap_err();
    assert_eq!(err, TrackerError::TrackerErrorAction("info hash not allowed".into()));

    let (url, received) = udp_fake(UdpMode::Silent).await;
    let mut session = UdpSession::open(&url, udp_options()).await.unwrap();
    let started = tokio::time::Instant::now();
    let err = session.announce(request(AnnounceEvent::Started)).await.unwrap_err();
    assert_eq!(err, TrackerError::Timeout);
    // 100 + 200 + 400 ms: the first send and two retransmissions.
    assert!(started.elapsed() >= Duration::from_millis(700));
    assert_eq!(*received.lock().unwrap(), 3);

    assert!(matches!(
        UdpSession::open("udp://127.0.0.1/x", udp_options()).await,
        Err(TrackerError::InvalidUrl(_))
    ));
}

#[tokio::test]
async fn udp_announcer_retries_after_errors() {
    let (url, received) = udp_fake(UdpMode::ErrorAction).await;
    let (handle, _rx) = spawn(vec![vec![url]]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(handle.status()[0].last_error.as_deref(), Some("tracker error: info hash not allowed"),);
    // Several rounds of connect + announce.
    assert!(*received.lock().unwrap() >= 4);
    handle.stop().await;
}
