use std::time::Duration;

use bytes::Bytes;

use super::*;

fn piece(i: u32) -> Message {
    Message::Piece { piece: i, offset: 0, data: Bytes::from_static(&[0u8; 64]) }
}

/// Waits (with a deadline that only turns a hang into a failure) until `done` holds on the file.
async fn wait_for(path: &Path, done: impl Fn(&str) -> bool) -> String {
    for _ in 0..500 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if done(&text) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the trace never got there: {:?}", std::fs::read_to_string(path));
}

#[test]
fn paths_name_the_torrent_and_the_address() {
    let ih = InfoHash([0xab; 20]);
    let v4 = trace_path(Path::new("/s"), &ih, "127.0.0.2:6881".parse().unwrap());
    assert_eq!(v4, Path::new("/s/traces").join("ab".repeat(20)).join("127.0.0.2_6881.log"));
    let v6 = trace_path(Path::new("/s"), &ih, "[::1]:51413".parse().unwrap());
    assert_eq!(v6.file_name().unwrap(), "--1_51413.log");
}

#[tokio::test]
async fn lines_reach_the_file_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("peer.log");
    let mut tracer = PeerTracer::start(path.clone(), 1024 * 1024);
    assert!(tracer.note("connection established"));
    assert!(tracer.message(Direction::Send, &Message::Interested));
    assert!(tracer.message(Direction::Recv, &piece(3)));
    let text = wait_for(&path, |t| t.lines().count() == 3).await;
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].ends_with("Z note connection established"), "{}", lines[0]);
    assert!(lines[1].ends_with("Z send interested"), "{}", lines[1]);
    assert!(lines[2].ends_with("Z recv piece index=3 begin=0 length=64"), "{}", lines[2]);
}

#[tokio::test]
async fn the_cap_ends_the_trace_with_a_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peer.log");
    let cap = 4096;
    let mut tracer = PeerTracer::start(path.clone(), cap);
    let mut accepted = 0;
    // Each line is about 60 bytes: the writer stops after some 65 of them and closes its
    // channel, which the tracer reports.
    for i in 0..100_000 {
        if !tracer.message(Direction::Recv, &piece(i)) {
            break;
        }
        accepted += 1;
        tokio::task::yield_now().await;
    }
    assert!(accepted < 100_000, "the tracer never noticed the end of its trace");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.len() as u64 <= cap, "{} bytes over a cap of {cap}", text.len());
    let last = text.lines().last().unwrap();
    assert!(last.ends_with("note trace stopped: the file reached peer_trace_max_mib (0 MiB)"), "{last}");
    // A trace started on a full file adds nothing.
    let mut again = PeerTracer::start(path.clone(), cap);
    let mut ended = false;
    for _ in 0..500 {
        if !again.note("another connection") {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ended, "the writer of a full file did not end");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}
