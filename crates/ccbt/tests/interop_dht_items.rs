//! BEP 44 mutable items between ccbt's DHT and libtorrent's, on loopback (each node on its own
//! 127.0.0.x address; nothing leaves the machine):
//!
//! 1. two libtorrent nodes alone: one puts an item (with salt), the other stores it;
//! 2. two ccbt sessions join them; one gets that item, which only libtorrent holds: libtorrent
//!    answered ccbt's `get` and ccbt checked libtorrent's signature;
//! 3. ccbt puts a BEP 46 item `{"ih": ...}` (with salt): libtorrent nodes store it (they check
//!    the signature) and a libtorrent `get` returns it, value and seq intact;
//! 4. ccbt puts a newer seq (libtorrent finds it) and then an older one, which libtorrent
//!    nodes refuse with error 302.

mod support;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use ccbt_core::InfoHash;
use ccbt_engine::bep46;
use ccbt_engine::dht_item::SigningKey;
use ccbt_engine::{Session, SessionOptions};
use support::{interop, interop_dir, Tool, LT_PYTHON, SETUP};

/// How long one DHT get or put may take (a few round trips on loopback; the deadline only
/// turns a hang into a failure).
const LOOKUP: Duration = Duration::from_secs(30);

/// A libtorrent node run by tests/interop/lt_dht_item.py, driven through its stdin.
struct LtNode {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    addr: SocketAddr,
    seen: Vec<String>,
}

impl LtNode {
    fn start(ip: &str, nodes: &[SocketAddr]) -> LtNode {
        let port = free_udp_port(ip);
        let mut cmd = Command::new(LT_PYTHON);
        cmd.arg(interop_dir().join("lt_dht_item.py")).args(["--listen", &format!("{ip}:{port}")]);
        for n in nodes {
            cmd.args(["--node", &n.to_string()]);
        }
        let mut child =
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("start lt_dht_item.py");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut node =
            LtNode { child, stdin, lines, addr: format!("{ip}:{port}").parse().unwrap(), seen: Vec::new() };
        node.wait_line("READY", SETUP);
        node
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").and_then(|()| self.stdin.flush()).expect("lt_dht_item.py stdin");
    }

    /// The next line starting with `prefix`, failing the test after `limit`.
    fn wait_line(&mut self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(line) => self.seen.push(line),
                Err(_) => {
                    panic!("lt_dht_item.py at {}: no {prefix} line; output: {:?}", self.addr, self.seen)
                }
            }
        }
    }

    /// Waits until libtorrent's routing table holds at least `n` nodes.
    fn wait_nodes(&mut self, n: usize) {
        let deadline = Instant::now() + SETUP;
        loop {
            let line = self.wait_line("NODES", deadline.saturating_duration_since(Instant::now()));
            if line["NODES ".len()..].parse::<usize>().unwrap() >= n {
                return;
            }
        }
    }

    /// `GET`: the answer line (`ITEM ...`, `ITEM_TEXT ...` or `ITEM_NONE`).
    fn get(&mut self, pk: &[u8; 32], salt: &str) -> String {
        self.send(&format!("GET {} {salt}", bep46::encode_hex(pk)));
        self.wait_line("ITEM", LOOKUP)
    }
}

/// Whether libtorrent's answer is the BEP 46 item of `seq` naming `ih` (libtorrent renders the
/// value `{"ih": <20 bytes>}` as `{ 'ih': '<hex>' }`).
fn lt_found(line: &str, seq: i64, ih: &InfoHash) -> bool {
    line.starts_with(&format!("ITEM_TEXT {seq} "))
        && line.contains(&format!("'ih': '{}'", bep46::encode_hex(&ih.0)))
}

impl Drop for LtNode {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "QUIT").and_then(|()| self.stdin.flush());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port(ip: &str) -> u16 {
    UdpSocket::bind((ip, 0)).unwrap().local_addr().unwrap().port()
}

async fn ccbt_node(ip: &str, state: &std::path::Path, bootstrap: &[SocketAddr]) -> Session {
    let options = SessionOptions {
        listen_port: 0,
        listen_host: ip.parse().unwrap(),
        enable_dht: true,
        dht_port: 0,
        dht_bootstrap_nodes: bootstrap.iter().map(ToString::to_string).collect(),
        state_dir: state.to_owned(),
        ..SessionOptions::default()
    };
    Session::new(options).await.unwrap()
}

async fn wait_good_nodes(session: &Session, n: usize) {
    let deadline = Instant::now() + SETUP;
    loop {
        let status = session.dht_status().await.expect("dht running");
        if status.good_nodes >= n {
            return;
        }
        assert!(Instant::now() < deadline, "the ccbt node knows too few nodes: {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutable_items_travel_between_ccbt_and_libtorrent() {
    let test = "mutable_items_travel_between_ccbt_and_libtorrent";
    if !interop(test, &[Tool::Libtorrent]) {
        return;
    }
    // 1. libtorrent alone: lt1 puts, lt2 stores.
    let mut lt1 = LtNode::start("127.0.0.11", &[]);
    let mut lt2 = LtNode::start("127.0.0.12", &[lt1.addr]);
    lt1.send(&format!("NODE {}", lt2.addr));
    lt1.wait_nodes(1);
    lt2.wait_nodes(1);
    let lt_key = SigningKey::from_seed(&[0x11; 32]);
    let lt_pk = lt_key.public_key();
    lt1.send(&format!(
        "PUT {} {} ltsalt hello from libtorrent",
        bep46::encode_hex(lt_key.seed()),
        bep46::encode_hex(&lt_pk)
    ));
    let done = lt1.wait_line("PUT_DONE", LOOKUP);
    let (stored, seq) = done["PUT_DONE ".len()..].split_once(' ').unwrap();
    assert!(stored.parse::<u32>().unwrap() >= 1 && seq == "1", "stored by libtorrent, seq 1: {done}");

    // 2. Two ccbt nodes join; one gets the item only libtorrent holds.
    let states: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = ccbt_node("127.0.0.13", states[0].path(), &[lt1.addr, lt2.addr]).await;
    let a_addr = a.dht_status().await.unwrap().local_addr;
    let b = ccbt_node("127.0.0.14", states[1].path(), &[lt1.addr, lt2.addr, a_addr]).await;
    let b_addr = b.dht_status().await.unwrap().local_addr;
    for lt in [&mut lt1, &mut lt2] {
        lt.send(&format!("NODE {a_addr}"));
        lt.send(&format!("NODE {b_addr}"));
        lt.wait_nodes(3);
    }
    wait_good_nodes(&a, 3).await;
    wait_good_nodes(&b, 3).await;
    assert_eq!(b.dht_status().await.unwrap().stored_items, 0, "the item is on lt2 only");
    let got =
        b.dht_get_mutable(lt_pk, b"ltsalt", LOOKUP).await.unwrap().expect("ccbt finds libtorrent's item");
    assert_eq!(
        (got.seq, got.v.as_slice(), got.salt.as_slice()),
        (1, &b"21:hello from libtorrent"[..], &b"ltsalt"[..])
    );
    assert_eq!(got.validate(), Ok(()));
    // Not under another salt.
    assert_eq!(b.dht_get_mutable(lt_pk, b"other", LOOKUP).await.unwrap(), None);

    // 3. ccbt puts a BEP 46 item; libtorrent stores it and finds it.
    let key = SigningKey::from_seed(&[0x22; 32]);
    let v7 = bep46::encode_info_hash_value(&InfoHash([7; 20]));
    let put = a.dht_put_mutable(&key, b"dataset", v7, 7, LOOKUP).await.unwrap();
    assert!(put.refused.is_empty(), "{put:?}");
    assert!(put.stored >= 2, "stored on at least one libtorrent node besides b: {put:?}");
    let line = lt1.get(&key.public_key(), "dataset");
    assert!(lt_found(&line, 7, &InfoHash([7; 20])), "{line}");

    // 4. A newer version replaces it; an older one is refused (302) by libtorrent.
    let v8 = bep46::encode_info_hash_value(&InfoHash([8; 20]));
    let put = a.dht_put_mutable(&key, b"dataset", v8, 8, LOOKUP).await.unwrap();
    assert!(put.refused.is_empty() && put.stored >= 2, "{put:?}");
    let line = lt2.get(&key.public_key(), "dataset");
    assert!(lt_found(&line, 8, &InfoHash([8; 20])), "{line}");
    let old = bep46::encode_info_hash_value(&InfoHash([5; 20]));
    let put = a.dht_put_mutable(&key, b"dataset", old, 5, LOOKUP).await.unwrap();
    let lt_refusals =
        put.refused.iter().filter(|(addr, code)| *code == 302 && [lt1.addr, lt2.addr].contains(addr)).count();
    assert_eq!((put.stored, lt_refusals), (0, 2), "{put:?}");
    let got = b.dht_get_mutable(key.public_key(), b"dataset", LOOKUP).await.unwrap().unwrap();
    assert_eq!((got.seq, bep46::decode_info_hash_value(&got.v)), (8, Ok(InfoHash([8; 20]))));

    a.shutdown().await;
    b.shutdown().await;
}
