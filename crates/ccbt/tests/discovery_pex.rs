//! Peer exchange (BEP 11, ut_pex) against libtorrent, both directions:
//!
//! - ccbt learns: ccbt is given only the libtorrent seeder S; S is also connected to a
//!   libtorrent leecher B; S's ut_pex tells ccbt B's listen address and ccbt dials it.
//! - ccbt tells: `ccbt seed` has two libtorrent leechers; L1 learns L2's listen address only
//!   from ccbt's ut_pex and dials it (libtorrent's `--print-peers` marks it `(out,pex)`).
//!
//! Every leecher is rate-limited so it stays a leecher: libtorrent drops seed-to-seed
//! connections, and a finished peer vanishes from PEX.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::discovery::{last_peers_line, logged_outgoing_connection, lt_leech, lt_make_torrent_with};
use support::{
    ccbt, ccbt_seed, free_port, interop, lt_seed, poll_until, work_dir, write_file, Proc, Tool, GRACE,
};

/// libtorrent sends its first ut_pex message on the first one-second tick after the extension
/// handshake at which it has two peers, ccbt five seconds after the connection starts; later
/// changes go out once a minute. Typically a few seconds; long enough for one more round.
const PEX_WAIT: Duration = Duration::from_secs(100);

/// One 8 MiB file: far more than the rate-limited peers move before PEX has happened.
fn content_and_torrent(w: &Path) -> std::path::PathBuf {
    let file = w.join("src/pex.bin");
    write_file(&file, 23, 8 * 1024 * 1024);
    let torrent = w.join("t.torrent");
    lt_make_torrent_with(&file, &torrent, 32 * 1024, &[]);
    torrent
}

/// A libtorrent leecher listening on `port` (0: any) that dials only `peer`, rate-limited so
/// it stays a leecher for the whole test.
fn slow_lt_leech(w: &Path, name: &str, torrent: &Path, port: u16, peer: &str, extra: &[&str]) -> Proc {
    let out = w.join(name);
    let mut args = vec![
        "--torrent",
        torrent.to_str().expect("utf-8 path"),
        "--out",
        out.to_str().expect("utf-8 path"),
        "--peer",
        peer,
        "--download-limit",
        "20000",
        "--timeout",
        "600",
    ];
    let port = port.to_string();
    args.extend_from_slice(&["--port", &port]);
    args.extend_from_slice(extra);
    lt_leech(w, name, &args)
}

#[test]
fn ccbt_learns_a_peer_through_libtorrent_pex() {
    let test = "ccbt_learns_a_peer_through_libtorrent_pex";
    if !interop(test, &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let torrent = content_and_torrent(w);
    // S's upload limit keeps ccbt a leecher until PEX has happened, even if it takes until
    // S's next PEX round a minute later (8 MiB at 100 kB/s, shared with B).
    let extra = ["--print-peers", "0.5", "--upload-limit", "100000"];
    let mut s = lt_seed(w, "lt_seed_s", &torrent, &w.join("src"), &[], &extra);

    // B: a leecher S knows by its listen port (from B's extension handshake). B ignores PEX,
    // so it never dials ccbt itself: the only way to a connection ccbt -> B is S's PEX.
    let b_port = free_port();
    let b_addr = format!("127.0.0.1:{b_port}");
    let mut b = slow_lt_leech(w, "lt_leech_b", &torrent, b_port, &s.addr(), &["--no-pex"]);
    let b_at_s = poll_until(Duration::from_secs(30), || {
        last_peers_line(&s.proc.stdout_text()).is_some_and(|l| !l.contains(" n=0"))
    });
    assert!(b_at_s, "B never connected to S\n{}\n{}", s.proc.logs(), b.logs());

    // A: ccbt, told only about S; stopped once it has dialled B.
    let mut cmd = ccbt();
    cmd.arg("download")
        .arg(&torrent)
        .arg("-o")
        .arg(w.join("out-a"))
        .args(["--listen-port", "0", "--no-dht", "--no-trackers", "--log-level", "debug"])
        .args(["--peer", &s.addr()]);
    let started = Instant::now();
    let mut a = Proc::spawn("ccbt-a", &mut cmd, w);
    let learnt = poll_until(PEX_WAIT, || {
        logged_outgoing_connection(&a.stderr_text(), &b_addr) || a.try_wait().is_some()
    });
    let elapsed = started.elapsed();
    let log = a.stderr_text();
    assert!(
        learnt && logged_outgoing_connection(&log, &b_addr),
        "ccbt did not connect to B {b_addr} (known only through S's PEX) within {elapsed:?}\n{}\n{}",
        a.logs(),
        s.proc.logs()
    );
    eprintln!("{test}: ccbt connected to the PEX-learnt peer {elapsed:?} after starting");
    a.terminate(GRACE);
    b.terminate(GRACE);
    let (status, clean) = s.proc.terminate(GRACE);
    assert!(clean && status.success(), "lt_seed did not stop cleanly\n{}", s.proc.logs());
}

#[test]
fn libtorrent_learns_a_peer_through_ccbt_pex() {
    let test = "libtorrent_learns_a_peer_through_ccbt_pex";
    if !interop(test, &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let torrent = content_and_torrent(w);
    let mut c = ccbt_seed(w, "ccbt-seed", &torrent, &w.join("src"), &[]);

    // L2 ignores PEX itself, so it never dials L1: a connection L1 -> L2 can only come from
    // ccbt telling L1 about L2's listen port (taken from L2's extension handshake, since L2
    // connected to ccbt, not the other way round).
    let l2_port = free_port();
    let mut l2 = slow_lt_leech(w, "lt_leech_l2", &torrent, l2_port, &c.addr(), &["--no-pex"]);
    let started = Instant::now();
    let mut l1 = slow_lt_leech(w, "lt_leech_l1", &torrent, 0, &c.addr(), &["--print-peers", "0.5"]);
    let want = format!("127.0.0.1:{l2_port}(out,pex");
    let learnt = poll_until(PEX_WAIT, || {
        last_peers_line(&l1.stdout_text()).is_some_and(|l| l.contains(&want)) || l1.try_wait().is_some()
    });
    let elapsed = started.elapsed();
    assert!(
        learnt && last_peers_line(&l1.stdout_text()).is_some_and(|l| l.contains(&want)),
        "L1 never dialled L2 {want}...) learnt through ccbt's PEX within {elapsed:?}\n{}\n{}\n{}",
        l1.logs(),
        l2.logs(),
        c.proc.logs()
    );
    eprintln!(
        "{test}: L1 dialled L2 through ccbt's PEX {elapsed:?} after starting: {}",
        last_peers_line(&l1.stdout_text()).unwrap_or_default()
    );
    l1.terminate(GRACE);
    l2.terminate(GRACE);
    c.proc.terminate(GRACE);
}
