//! The `ccbt` command line without any real client: help, info, create, verify, hostile and
//! broken .torrent files, and listen-port handling.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::bencode::{info_hash_hex, piece_hashes, B};
use support::{
    ccbt, ccbt_create, ccbt_info, info_field, run_with_timeout, work_dir, write_tree, Finished, Proc,
};

/// A small multi-file layout for the command tests.
const SMALL: &[(&str, u64)] = &[
    ("a.bin", 40_001),
    ("empty.txt", 0),
    ("sub/b.bin", 16_385),
    ("sub/deeper/c.bin", 70_000),
    ("z.bin", 999),
];
const PIECE: u32 = 16 * 1024;
const SHORT: Duration = Duration::from_secs(20);

/// Content `W/src/data/...` and `W/data.torrent` made by `ccbt create`; returns the torrent.
fn small_torrent(work: &Path, extra: &[&str]) -> PathBuf {
    write_tree(&work.join("src/data"), SMALL, 11);
    let torrent = work.join("data.torrent");
    ccbt_create(&work.join("src/data"), &torrent, PIECE, extra);
    torrent
}

fn run(work: &Path, name: &str, args: &[&str]) -> Finished {
    run_with_timeout(name, ccbt().args(args), work, SHORT)
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

#[test]
fn help_lists_the_commands() {
    let out = ccbt().arg("--help").output().expect("run ccbt --help");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for command in ["download", "seed", "info", "create", "verify"] {
        assert!(text.contains(command), "--help does not mention {command}:\n{text}");
    }
    // No arguments at all: usage on stderr and the usage-error exit code, not a panic.
    let out = ccbt().output().expect("run ccbt");
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn create_then_info_round_trip() {
    let work = work_dir();
    let w = work.path();
    let torrent = small_torrent(
        w,
        &["--comment", "round trip", "--tracker", "http://tracker.example/announce", "--private"],
    );
    let bytes = std::fs::read(&torrent).unwrap();
    let expected_hash = info_hash_hex(&bytes);

    let info = ccbt_info(&torrent);
    assert_eq!(info_field(&info, "name:"), "data");
    assert_eq!(
        info_field(&info, "info hash:"),
        expected_hash,
        "info hash is not the SHA-1 of the info bytes"
    );
    let total: u64 = SMALL.iter().map(|(_, len)| len).sum();
    assert!(info_field(&info, "total size:").contains(&format!("({total} bytes)")), "{info}");
    let pieces = total.div_ceil(u64::from(PIECE));
    assert_eq!(info_field(&info, "pieces:"), format!("{pieces} x 16.00 KiB"));
    assert_eq!(info_field(&info, "private:"), "yes");
    assert_eq!(info_field(&info, "version:"), "v1");
    assert_eq!(info_field(&info, "comment:"), "round trip");
    assert!(info.contains("http://tracker.example/announce"), "{info}");
    assert!(info.contains(&format!("files ({}; the number is the index", SMALL.len())), "{info}");
    for (rel, _) in SMALL {
        assert!(info.contains(&format!("data/{rel}")), "{rel} not listed:\n{info}");
    }

    // A single file, made without the optional fields.
    support::write_file(&w.join("one/single.bin"), 5, 100_000);
    let single = w.join("single.torrent");
    let created = ccbt_create(&w.join("one/single.bin"), &single, 32 * 1024, &[]);
    let info = ccbt_info(&single);
    assert_eq!(info_field(&info, "name:"), "single.bin");
    let hash = info_hash_hex(&std::fs::read(&single).unwrap());
    assert_eq!(info_field(&info, "info hash:"), hash);
    assert!(created.contains(&hash), "create does not print the info hash:\n{created}");
    assert_eq!(info_field(&info, "pieces:"), "4 x 32.00 KiB");
    assert_eq!(info_field(&info, "private:"), "no");
    assert!(info.contains("trackers:     none"), "{info}");
}

#[test]
fn verify_reports_good_damaged_and_missing_data() {
    let work = work_dir();
    let w = work.path();
    let torrent = small_torrent(w, &[]);
    let total: u64 = SMALL.iter().map(|(_, len)| len).sum();
    let pieces = total.div_ceil(u64::from(PIECE));
    let verify = |name: &str| run(w, name, &["verify", s(&torrent), "-d", s(&w.join("src"))]);

    let good = verify("verify-good");
    good.assert_success("verify of intact data");
    assert!(good.stdout.contains(&format!("{pieces}/{pieces} pieces OK")), "{}", good.describe());

    // One flipped byte in the middle of a nested file.
    let c = w.join("src/data/sub/deeper/c.bin");
    let mut bytes = std::fs::read(&c).unwrap();
    bytes[35_000] ^= 0x01;
    std::fs::write(&c, &bytes).unwrap();
    let bad = verify("verify-flipped");
    assert_eq!(bad.code(), Some(1), "{}", bad.describe());
    let report = format!("{}{}", bad.stdout, bad.stderr);
    assert!(
        report.lines().any(|l| l.contains("damaged") && l.contains("sub/deeper/c.bin")),
        "the damaged file is not named:\n{report}"
    );
    assert!(report.contains(&format!("{}/{pieces} pieces OK", pieces - 1)), "{report}");
    assert!(!report.lines().any(|l| l.contains("damaged") && l.contains("z.bin")), "{report}");
    bytes[35_000] ^= 0x01;
    std::fs::write(&c, &bytes).unwrap();

    // A deleted file is reported missing, not as damage in its neighbours.
    std::fs::remove_file(w.join("src/data/z.bin")).unwrap();
    let missing = verify("verify-missing");
    assert_eq!(missing.code(), Some(1), "{}", missing.describe());
    let report = format!("{}{}", missing.stdout, missing.stderr);
    assert!(report.lines().any(|l| l.contains("missing") && l.contains("z.bin")), "{report}");
    assert!(!report.contains("panicked"), "{report}");
}

/// A torrent whose file path tries to leave the download folder.
fn hostile_torrent(name: &str, files: Option<Vec<Vec<&str>>>) -> Vec<u8> {
    let content = b"owned";
    let mut info = vec![
        ("name", B::s(name)),
        ("piece length", B::Int(i64::from(PIECE))),
        ("pieces", B::Str(piece_hashes(content, PIECE as usize))),
    ];
    match files {
        Some(paths) => {
            let list = paths
                .into_iter()
                .map(|path| {
                    B::Dict(vec![
                        ("length", B::Int(content.len() as i64)),
                        ("path", B::List(path.into_iter().map(B::s).collect())),
                    ])
                })
                .collect();
            info.push(("files", B::List(list)));
        }
        None => info.push(("length", B::Int(content.len() as i64))),
    }
    B::Dict(vec![("announce", B::s("http://127.0.0.1:1/announce")), ("info", B::Dict(info))]).encode()
}

/// Hostile names are sanitised as libtorrent does (see ccbt-metainfo's `path.rs`), never
/// refused and never followed: the data lands under the output folder, at the sanitised path.
#[test]
fn path_traversal_torrents_stay_inside_the_output_folder() {
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("dotdot-component", hostile_torrent("box", Some(vec![vec!["..", "evil.txt"]])), "box/_/evil.txt"),
        (
            "deep-dotdot",
            hostile_torrent("box", Some(vec![vec!["ok", "..", "..", "evil.txt"]])),
            "box/ok/_/_/evil.txt",
        ),
        ("slash-in-name", hostile_torrent("../evil.txt", None), "..evil.txt"),
    ];
    for (case, bytes, sanitised) in cases {
        let work = work_dir();
        let w = work.path();
        let torrent = w.join(format!("{case}.torrent"));
        std::fs::write(&torrent, bytes).unwrap();
        let info = run(w, &format!("{case}-info"), &["info", s(&torrent)]);
        assert_eq!(info.code(), Some(0), "{case}\n{}", info.describe());
        let file_name = sanitised.rsplit('/').next().unwrap_or(sanitised);
        assert!(info.stdout.contains(file_name), "{case}: {sanitised:?} not listed\n{}", info.describe());

        // The data is already in place at the sanitised path: the download verifies it, exits,
        // and touches nothing outside the output folder.
        let out = w.join("jail/out");
        let target = out.join(sanitised);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, b"owned").unwrap();
        let done = run(w, case, &["download", s(&torrent), "-o", s(&out), "--listen-port", "0", "--no-dht"]);
        assert_eq!(done.code(), Some(0), "{case}\n{}", done.describe());
        assert!(!done.stderr.contains("panicked"), "{case}\n{}", done.describe());
        let outside: Vec<_> = support::list_files(w)
            .into_iter()
            .filter(|p| !p.starts_with("jail/out") && !p.to_string_lossy().starts_with(case))
            .collect();
        assert!(outside.is_empty(), "{case}: files written outside the output folder: {outside:?}");
        assert!(!w.join("jail/evil.txt").exists() && !w.join("evil.txt").exists());
    }
}

#[test]
fn broken_torrent_files_fail_cleanly() {
    let work = work_dir();
    let w = work.path();
    let valid = hostile_torrent("fine.bin", None);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", support::gen_bytes(3, 4096)),
        ("empty", Vec::new()),
        ("truncated", valid[..valid.len() / 2].to_vec()),
        ("not-a-dict", b"li1ei2ee".to_vec()),
        (
            "huge-length",
            b"d4:infod6:lengthi99999999999999999999999e4:name1:x12:piece lengthi16384e6:pieces0:ee".to_vec(),
        ),
    ];
    for (case, bytes) in cases {
        let torrent = w.join(format!("{case}.torrent"));
        std::fs::write(&torrent, bytes).unwrap();
        for (command, extra) in [
            ("info", vec![]),
            ("verify", vec!["-d", s(w)]),
            ("download", vec!["-o", s(&w.join("out")), "--listen-port", "0", "--no-dht"]),
        ] {
            let mut args = vec![command, s(&torrent)];
            args.extend(extra);
            let done = run(w, &format!("{case}-{command}"), &args);
            let what = format!("{command} on {case}.torrent");
            assert_eq!(done.code(), Some(1), "{what}\n{}", done.describe());
            assert!(
                done.stderr.contains(&format!("{case}.torrent")),
                "{what}: file not named\n{}",
                done.describe()
            );
            assert!(!done.stderr.contains("panicked"), "{what}\n{}", done.describe());
        }
    }
    // A file that does not exist.
    let done = run(w, "absent-info", &["info", s(&w.join("absent.torrent"))]);
    assert_eq!(done.code(), Some(1), "{}", done.describe());
    assert!(done.stderr.contains("absent.torrent"), "{}", done.describe());
}

#[test]
fn default_port_taken_falls_back_with_a_warning() {
    const DEFAULT_PORT: u16 = 6881;
    let work = work_dir();
    let w = work.path();
    let torrent = small_torrent(w, &[]);
    // Hold the default port ourselves; if something else already has it the fallback still
    // happens, but then we cannot be sure the warning names 6881 because of us.
    let held = TcpListener::bind(("0.0.0.0", DEFAULT_PORT));
    if held.is_err() {
        eprintln!(
            "note: port {DEFAULT_PORT} is already in use by another program; checking the fallback anyway"
        );
    }
    // The DHT's UDP port too, as another BitTorrent client would: still one warning, not two.
    // The DHT bootstraps from a loopback address nobody answers on.
    let held_udp = std::net::UdpSocket::bind(("0.0.0.0", DEFAULT_PORT));
    let state = w.join("state");
    let mut seed = Proc::spawn(
        "seed-default-port",
        ccbt().arg("seed").arg(&torrent).arg("-d").arg(w.join("src")).args([
            "--dht-bootstrap",
            "127.0.0.1:9",
            "--state-dir",
            s(&state),
        ]),
        w,
    );
    let port = seed.wait_for("the fallback warning", SHORT, |_, err| {
        let line = err.lines().find(|l| l.contains(&format!("listen port {DEFAULT_PORT} is in use")))?;
        let tail = line.split("listening on port ").nth(1)?;
        tail.split(|c: char| !c.is_ascii_digit()).next()?.parse::<u16>().ok()
    });
    assert_ne!(port, DEFAULT_PORT);
    // It really listens there: the seeding note names the same port.
    seed.wait_for("seeding", SHORT, |_, err| err.contains(&format!("seeding on port {port}")).then_some(()));
    let (status, clean) = seed.terminate(support::GRACE);
    assert!(clean && status.success(), "seed did not stop cleanly on SIGTERM: {status}\n{}", seed.logs());
    if held_udp.is_ok() {
        let warnings = seed.stderr_text().lines().filter(|l| l.contains("WARN")).count();
        assert_eq!(warnings, 1, "one busy port, one warning\n{}", seed.logs());
    }
    drop(held);
    drop(held_udp);
}

#[test]
fn explicit_taken_port_is_an_error() {
    let work = work_dir();
    let w = work.path();
    let torrent = small_torrent(w, &[]);
    let held = TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = held.local_addr().unwrap().port().to_string();
    for (name, args) in [
        (
            "seed-taken",
            vec!["seed", s(&torrent), "-d", s(&w.join("src")), "--listen-port", &port, "--no-dht"],
        ),
        (
            "download-taken",
            vec!["download", s(&torrent), "-o", s(&w.join("out")), "--listen-port", &port, "--no-dht"],
        ),
    ] {
        let done = run(w, name, &args);
        assert!(done.status.is_some(), "{name} hung instead of failing\n{}", done.describe());
        assert_ne!(done.code(), Some(0), "{name} ignored the taken port\n{}", done.describe());
        assert!(done.stderr.contains(&port), "{name}: the port is not named\n{}", done.describe());
        assert!(!done.stderr.contains("panicked"), "{}", done.describe());
    }
    drop(held);
}

fn help(args: &[&str]) -> String {
    let out = ccbt().args(args).output().expect("run ccbt --help");
    assert!(out.status.success(), "{args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn help_is_grouped_and_fits_a_screen() {
    let download = help(&["download", "--help"]);
    for heading in ["Output:", "Network:", "Peer discovery:", "Tuning:"] {
        assert!(download.contains(heading), "download --help lacks {heading}:\n{download}");
    }
    // One line per flag: clap's long format (a blank line between flags) ran to twice this.
    assert!(download.lines().count() <= 64, "download --help is too long:\n{download}");
    // A magnet is labelled as one, not as `<FILE.torrent|MAGNET>`.
    let magnet = help(&["magnet", "--help"]);
    assert!(magnet.contains("Usage: ccbt magnet [OPTIONS] <MAGNET>..."), "{magnet}");
    // The data folder is spelled the same way wherever it exists.
    for command in ["download", "magnet", "seed", "verify"] {
        let text = help(&[command, "--help"]);
        assert!(
            text.contains("-o, --output <DIR>") && text.contains("[aliases: -d, --dir]"),
            "{command}:\n{text}"
        );
    }
    // Progress flags only where progress is shown.
    for command in ["info", "scrape"] {
        let text = help(&[command, "--help"]);
        assert!(!text.contains("--quiet") && !text.contains("--progress-interval"), "{command}:\n{text}");
    }
    let dht = help(&["dht", "status", "--help"]);
    assert!(!dht.contains("--quiet"), "{dht}");
}

#[test]
fn seed_refuses_a_folder_without_the_data() {
    let work = work_dir();
    let w = work.path();
    let torrent = small_torrent(w, &[]);
    let empty = w.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let args = ["seed", s(&torrent), "-d", s(&empty), "--listen-port", "0", "--no-dht", "-q"];
    let done = run(w, "seed-empty", &args);
    assert_eq!(done.code(), Some(1), "{}", done.describe());
    // It says where it looked, and nothing was created there.
    assert!(done.stderr.contains(s(&empty.join("data/a.bin"))), "{}", done.describe());
    assert!(done.stderr.contains("--fetch-missing"), "{}", done.describe());
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0, "seed created files in the wrong folder");
    // Files that exist but hold other data: the check finds no piece and seed stops too (the
    // engine stops first: files ccbt did not create and that hold none of the data are not
    // written into, issue 6 hole 3).
    write_tree(&empty.join("data"), SMALL, 99);
    let done = run(w, "seed-wrong-data", &args);
    assert_eq!(done.code(), Some(1), "{}", done.describe());
    let named = done.stderr.contains(s(&empty.join("data/a.bin")));
    assert!(named && done.stderr.contains("holds none of this torrent's data"), "{}", done.describe());
    assert!(done.stderr.contains("--overwrite"), "{}", done.describe());
}

#[test]
fn create_refuses_to_overwrite_without_force() {
    let work = work_dir();
    let w = work.path();
    let torrent = small_torrent(w, &[]);
    let before = std::fs::read(&torrent).unwrap();
    let src = w.join("src/data");
    let args = ["create", s(&src), "-o", s(&torrent), "--comment", "second", "-q"];
    let done = run(w, "create-again", &args);
    assert_eq!(done.code(), Some(1), "{}", done.describe());
    assert!(done.stderr.contains("already exists; pass --force"), "{}", done.describe());
    assert_eq!(std::fs::read(&torrent).unwrap(), before, "the existing torrent was replaced");
    let mut forced = args.to_vec();
    forced.push("--force");
    run(w, "create-force", &forced).assert_success("create --force");
    assert_ne!(std::fs::read(&torrent).unwrap(), before);
}

#[test]
fn stalled_download_says_why() {
    let work = work_dir();
    let w = work.path();
    let torrent = small_torrent(w, &[]);
    // No trackers in the torrent, the DHT off, no peers: nothing can happen, and it says so.
    let mut proc = Proc::spawn(
        "stalled",
        ccbt().arg("download").arg(&torrent).arg("-o").arg(w.join("out")).args([
            "--listen-port",
            "0",
            "--no-dht",
            "--progress-interval",
            "1",
        ]),
        w,
    );
    let line = proc.wait_for("the stall hint", SHORT, |_, err| {
        err.lines().find(|l| l.contains("no peers for")).map(str::to_owned)
    });
    assert!(line.contains("no trackers; DHT off"), "{line}");
    let (status, clean) = proc.terminate(support::GRACE);
    assert!(clean && status.code() == Some(130), "{status}\n{}", proc.logs());
}

#[test]
fn explicit_taken_dht_port_is_an_error() {
    let work = work_dir();
    let w = work.path();
    let torrent = small_torrent(w, &[]);
    let held = std::net::UdpSocket::bind("0.0.0.0:0").expect("bind udp");
    let port = held.local_addr().unwrap().port().to_string();
    let state = w.join("state");
    // The DHT bootstraps from a loopback address nobody answers on: nothing leaves the machine.
    let dht = ["--dht-port", &port, "--dht-bootstrap", "127.0.0.1:9", "--state-dir", s(&state)];
    let out = w.join("out");
    let mut args = vec!["download", s(&torrent), "-o", s(&out), "--listen-port", "0"];
    args.extend(dht);
    let done = run(w, "download-dht-taken", &args);
    assert_eq!(done.code(), Some(1), "the taken dht port was replaced silently\n{}", done.describe());
    assert!(done.stderr.contains(&format!("dht port {port} is in use")), "{}", done.describe());
    drop(held);
}
