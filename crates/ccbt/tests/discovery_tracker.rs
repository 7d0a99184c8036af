//! Peer discovery through a real tracker: Debian's opentracker (tests/interop/tracker.py) on
//! 127.0.0.1, a libtorrent seeder announcing to it, and `ccbt download --no-dht` given no peer
//! at all: the only way the two meet is the tracker. Over HTTP and over UDP (BEP 15), for a
//! public and a private (BEP 27) torrent; `ccbt scrape` afterwards must report what the tracker
//! itself reports, including ccbt's own `completed` event.

mod support;

use std::path::Path;
use std::time::Duration;

use support::discovery::{
    logged_peer_connected, lt_make_torrent_with, parse_ccbt_scrape, require_program, ScrapeCounts, Tracker,
};
use support::{
    assert_same_tree, ccbt, interop, lt_info_hash, lt_seed, poll_until, run_with_timeout, work_dir,
    write_tree, Tool, GRACE, ODD_LAYOUT, SETUP, TRANSFER,
};

#[derive(Clone, Copy)]
enum Proto {
    Http,
    Udp,
}

/// libtorrent seeds a torrent whose only tracker is a fresh opentracker; ccbt finds the seeder
/// through that tracker alone and downloads it; then `ccbt scrape` agrees with the tracker.
fn download_via_tracker(test: &str, proto: Proto, private: bool) {
    if !interop(test, &[Tool::Libtorrent]) {
        return;
    }
    require_program(test, "opentracker", "opentracker");
    let work = work_dir();
    let w = work.path();
    let content = write_tree(&w.join("src/data"), ODD_LAYOUT, 71);
    let flags: &[&str] = if private { &["--private"] } else { &[] };

    // The announce URL is outside the info dictionary, so a torrent without it has the same
    // info hash: it tells the whitelist-mode tracker what to allow before the URL is known.
    let bare = w.join("bare.torrent");
    lt_make_torrent_with(&content, &bare, 32 * 1024, flags);
    let mut tracker = Tracker::start(w, "tracker", &[&bare]);
    let url = match proto {
        Proto::Http => tracker.http_url(),
        Proto::Udp => tracker.udp_url(),
    };
    let torrent = w.join("t.torrent");
    let mut args = vec!["--tracker", url.as_str()];
    args.extend_from_slice(flags);
    lt_make_torrent_with(&content, &torrent, 32 * 1024, &args);
    let hash = lt_info_hash(&torrent);
    assert_eq!(hash, lt_info_hash(&bare), "the announce URL changed the info hash");

    let mut seed = lt_seed(w, "lt_seed", &torrent, &w.join("src"), &[], &["--tracker", &url]);
    // Seeder first: opentracker's interval is ~30 min, so a leecher announcing before the
    // seeder would see nobody until the seeder's own announce made it dial the leecher.
    let announced = poll_until(SETUP, || tracker.scrape(&hash).is_some_and(|c| c.seeders >= 1));
    assert!(announced, "lt_seed never showed up at the tracker\n{}", seed.proc.logs());

    let out = w.join("out");
    let mut cmd = ccbt();
    cmd.arg("download").arg(&torrent).arg("-o").arg(&out).args([
        "--listen-port",
        "0",
        "--no-dht",
        "--log-level",
        "debug",
    ]);
    let done = run_with_timeout("ccbt-download", &mut cmd, w, TRANSFER);
    done.assert_success("ccbt download with the tracker as the only peer source");
    assert_same_tree(&content, &out.join("data"));
    assert!(
        logged_peer_connected(&done.stderr, &seed.addr()),
        "ccbt never logged a connection to the seeder {} it could only learn from the tracker\n{}",
        seed.addr(),
        done.describe()
    );
    assert!(!done.stderr.contains("tracker announce failed"), "an announce failed\n{}", done.describe());

    let scraped = scrape_with_ccbt(w, &torrent, &url);
    let direct = tracker.scrape(&hash).expect("the tracker answers a scrape for the torrent");
    eprintln!("{test}: ccbt scrape {url}: {scraped:?}");
    assert_eq!(scraped, direct, "ccbt scrape over {url} disagrees with the tracker's own HTTP scrape");
    assert!(scraped.seeders >= 1, "the libtorrent seeder is not counted: {scraped:?}");
    // Only ccbt completed a download (the seeder started complete), and it said so once.
    assert_eq!(scraped.completed, 1, "ccbt's completed event is not counted exactly once: {scraped:?}");

    let (status, clean) = seed.proc.terminate(GRACE);
    assert!(clean && status.success(), "lt_seed did not stop cleanly\n{}", seed.proc.logs());
    let (status, clean) = tracker.proc.terminate(GRACE);
    assert!(clean && status.success(), "tracker.py did not stop cleanly\n{}", tracker.proc.logs());
}

/// `ccbt scrape TORRENT` (asks the torrent's own tracker) parsed for `url`.
fn scrape_with_ccbt(w: &Path, torrent: &Path, url: &str) -> ScrapeCounts {
    let done = run_with_timeout("ccbt-scrape", ccbt().arg("scrape").arg(torrent), w, Duration::from_secs(30));
    done.assert_success("ccbt scrape");
    parse_ccbt_scrape(&done.stdout, url)
        .unwrap_or_else(|| panic!("no `{url}: N seeders, M leechers, K completed` line\n{}", done.describe()))
}

#[test]
fn tracker_http_finds_libtorrent_seeder() {
    download_via_tracker("tracker_http_finds_libtorrent_seeder", Proto::Http, false);
}

#[test]
fn tracker_udp_finds_libtorrent_seeder() {
    download_via_tracker("tracker_udp_finds_libtorrent_seeder", Proto::Udp, false);
}

#[test]
fn tracker_private_torrent_downloads() {
    download_via_tracker("tracker_private_torrent_downloads", Proto::Http, true);
}
