//! Checkpoints through the CLI: a finished or interrupted download resumes from its checkpoint;
//! damaged checkpoints (corrupt, truncated, of a newer version, of another torrent) give a
//! warning and a check of every piece; data files deleted or truncated behind ccbt's back are
//! rechecked alone; a magnet link resumes with no peer to give it the metadata; `ccbt resume`
//! needs only the info hash.

mod support;

use std::path::{Path, PathBuf};

use support::bencode::info_hash_hex;
use support::{
    assert_same_tree, ccbt, ccbt_create, ccbt_seed, run_with_timeout, work_dir, write_tree, Finished, Proc,
    TRANSFER,
};

const PIECE: u32 = 16 * 1024;
/// Three files; b and c do not line up with pieces.
const LAYOUT: &[(&str, u64)] = &[("a.bin", 200_000), ("b.bin", 150_001), ("c.bin", 300_007)];

/// A test's folders: content, torrent, output, checkpoints.
struct Setup {
    _work: tempfile::TempDir,
    w: PathBuf,
    content: PathBuf,
    torrent: PathBuf,
    info_hash: String,
}

impl Setup {
    fn new() -> Setup {
        let work = work_dir();
        let w = work.path().to_owned();
        let content = write_tree(&w.join("src/data"), LAYOUT, 5);
        let torrent = w.join("t.torrent");
        ccbt_create(&content, &torrent, PIECE, &[]);
        let info_hash = info_hash_hex(&std::fs::read(&torrent).unwrap());
        Setup { _work: work, w, content, torrent, info_hash }
    }

    fn out(&self) -> PathBuf {
        self.w.join("out")
    }

    fn checkpoints(&self) -> PathBuf {
        self.w.join("checkpoints")
    }

    /// The checkpoint file in `format` (`json` or `bin`).
    fn checkpoint(&self, format: &str) -> PathBuf {
        self.checkpoints().join(format!("{}.checkpoint.{format}", self.info_hash))
    }

    /// `ccbt <command> <args> ... --checkpoint-dir ... --peer ...` with `format` checkpoints.
    fn run(&self, name: &str, command: &str, args: &[&str], format: &str, peers: &[String]) -> Finished {
        let config = self.w.join(format!("{name}.toml"));
        std::fs::write(&config, format!("[disk]\ncheckpoint_format = \"{format}\"\n")).unwrap();
        let mut cmd = ccbt();
        cmd.arg("--config").arg(&config).arg(command).args(args);
        if command != "resume" {
            cmd.arg("-o").arg(self.out());
        }
        cmd.args(["--listen-port", "0", "--no-dht", "--no-trackers", "--log-level", "info"])
            .arg("--checkpoint-dir")
            .arg(self.checkpoints())
            .arg("--state-dir")
            .arg(self.w.join("state"));
        for p in peers {
            cmd.args(["--peer", p]);
        }
        run_with_timeout(name, &mut cmd, &self.w, TRANSFER)
    }

    /// `ccbt download t.torrent` with `format` checkpoints.
    fn download(&self, name: &str, format: &str, peers: &[String]) -> Finished {
        let torrent = self.torrent.to_str().unwrap().to_owned();
        self.run(name, "download", &[&torrent], format, peers)
    }

    /// Downloads everything from a ccbt seeder (which then stops).
    fn complete(&self, format: &str) {
        let mut seed = ccbt_seed(&self.w, "seed", &self.torrent, &self.w.join("src"), &[]);
        self.download("first", format, &[seed.addr()]).assert_success("the first download");
        seed.proc.kill();
        assert_same_tree(&self.content, &self.out().join("data"));
        assert!(self.checkpoint(if format == "json" { "json" } else { "bin" }).exists());
    }
}

/// The `key=value` of the engine's "resumed from the checkpoint" log line.
fn resumed_field(stderr: &str, key: &str) -> Option<u64> {
    let line = stderr.lines().find(|l| l.contains("resumed from the checkpoint"))?;
    let tail = line.split(&format!("{key}=")).nth(1)?;
    tail.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

fn pieces_of(len: u64) -> u64 {
    len.div_ceil(u64::from(PIECE))
}

#[test]
fn a_finished_download_resumes_without_hashing_everything() {
    let s = Setup::new();
    s.complete("binary");
    let again = s.download("again", "binary", &[]);
    again.assert_success("the second run");
    let total: u64 = LAYOUT.iter().map(|(_, l)| l).sum();
    let pieces = pieces_of(total);
    assert!(
        again
            .stderr
            .contains(&format!("resuming data from its checkpoint ({pieces}/{pieces} pieces verified)")),
        "{}",
        again.describe()
    );
    // Only the sample (16 by default) is hashed; no file changed.
    assert_eq!(resumed_field(&again.stderr, "rechecked"), Some(0), "{}", again.describe());
    assert_eq!(resumed_field(&again.stderr, "sampled"), Some(16), "{}", again.describe());
    assert!(again.stdout.contains("already complete on disk"), "{}", again.describe());
    // Seeding the folder starts from its checkpoint too.
    let mut cmd = ccbt();
    cmd.arg("seed").arg(&s.torrent).arg("-d").arg(s.out()).args(["--listen-port", "0", "--no-dht"]);
    cmd.arg("--checkpoint-dir").arg(s.checkpoints()).arg("--state-dir").arg(s.w.join("state"));
    let mut seed = Proc::spawn("seed-resumed", &mut cmd, &s.w);
    seed.wait_for("seeding", TRANSFER, |_, err| err.contains("present; seeding on port").then_some(()));
    let err = seed.stderr_text();
    assert!(
        err.contains(&format!("resuming data from its checkpoint ({pieces}/{pieces}")),
        "{}",
        seed.logs()
    );
    seed.kill();
}

/// Damages the checkpoint with `damage`, then a run without peers must warn with `expect` and
/// still find every piece by checking them all.
fn damaged(format: &str, file: &str, expect: &str, damage: impl Fn(&Setup, &Path)) {
    let s = Setup::new();
    s.complete(format);
    damage(&s, &s.checkpoint(file));
    let run = s.download("damaged", format, &[]);
    run.assert_success("the run with a damaged checkpoint");
    assert!(run.stderr.contains("cannot be used"), "{}", run.describe());
    assert!(run.stderr.contains(expect), "expected {expect:?}\n{}", run.describe());
    assert!(!run.stderr.contains("resuming data"), "{}", run.describe());
    assert!(run.stdout.contains("already complete on disk"), "{}", run.describe());
}

#[test]
fn a_corrupt_checkpoint_warns_and_checks_everything() {
    damaged("binary", "bin", "checksum mismatch", |_, path| {
        let mut bytes = std::fs::read(path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        std::fs::write(path, bytes).unwrap();
    });
}

#[test]
fn a_truncated_checkpoint_warns_and_checks_everything() {
    damaged("binary", "bin", "truncated", |_, path| {
        let bytes = std::fs::read(path).unwrap();
        std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
    });
}

#[test]
fn a_checkpoint_of_a_newer_version_warns_and_checks_everything() {
    damaged("json", "json", "version 99 is not supported", |_, path| {
        let text = std::fs::read_to_string(path).unwrap();
        let current = format!("\"version\": {}", ccbt_checkpoint::FORMAT_VERSION);
        assert!(text.contains(&current), "{text}");
        std::fs::write(path, text.replacen(&current, "\"version\": 99", 1)).unwrap();
    });
}

#[test]
fn a_foreign_checkpoint_warns_and_checks_everything() {
    damaged("json", "json", "is for torrent", |s, path| {
        let text = std::fs::read_to_string(path).unwrap();
        let other = "ab".repeat(20);
        std::fs::write(path, text.replace(&s.info_hash, &other)).unwrap();
    });
}

#[test]
fn deleted_and_truncated_files_are_rechecked_alone() {
    let s = Setup::new();
    s.complete("binary");
    let mut seed = ccbt_seed(&s.w, "seed2", &s.torrent, &s.w.join("src"), &[]);
    let data = s.out().join("data");
    // b deleted: its pieces are dropped without hashing and downloaded again.
    std::fs::remove_file(data.join("b.bin")).unwrap();
    let run = s.download("deleted", "binary", &[seed.addr()]);
    run.assert_success("the run after deleting b.bin");
    let warnings: Vec<&str> =
        run.stderr.lines().filter(|l| l.contains("changed since the checkpoint")).collect();
    assert_eq!(warnings.len(), 1, "{}", run.describe());
    assert!(warnings[0].contains("b.bin") && warnings[0].contains("missing"), "{}", run.describe());
    assert_eq!(resumed_field(&run.stderr, "rechecked"), Some(0), "{}", run.describe());
    assert_same_tree(&s.content, &data);
    // c truncated: only its pieces are hashed again (those still there verify).
    let c = data.join("c.bin");
    let file = std::fs::OpenOptions::new().write(true).open(&c).unwrap();
    file.set_len(100_000).unwrap();
    drop(file);
    let run = s.download("truncated", "binary", &[seed.addr()]);
    run.assert_success("the run after truncating c.bin");
    let warnings: Vec<&str> =
        run.stderr.lines().filter(|l| l.contains("changed since the checkpoint")).collect();
    assert_eq!(warnings.len(), 1, "{}", run.describe());
    assert!(warnings[0].contains("c.bin") && warnings[0].contains("shorter"), "{}", run.describe());
    let c_offset = 200_000 + 150_001u64;
    let c_pieces = (c_offset + 300_007 - 1) / u64::from(PIECE) - c_offset / u64::from(PIECE) + 1;
    assert_eq!(resumed_field(&run.stderr, "rechecked"), Some(c_pieces), "{}", run.describe());
    assert_same_tree(&s.content, &data);
    seed.proc.kill();
}

#[test]
fn a_magnet_resumes_with_no_peer_to_give_the_metadata() {
    let s = Setup::new();
    let uri = format!("magnet:?xt=urn:btih:{}&dn=data", s.info_hash);
    let mut seed = ccbt_seed(&s.w, "seed", &s.torrent, &s.w.join("src"), &[]);
    s.run("first", "magnet", &[&uri], "binary", &[seed.addr()]).assert_success("the magnet download");
    seed.proc.kill();
    assert_same_tree(&s.content, &s.out().join("data"));
    // No peer at all: without the info dictionary of the checkpoint it would wait forever.
    let again = s.run("again", "magnet", &[&uri, "--resume"], "binary", &[]);
    again.assert_success("the magnet run without peers");
    assert!(again.stderr.contains("resuming data from its checkpoint"), "{}", again.describe());
    assert!(again.stdout.contains("already complete on disk"), "{}", again.describe());
}

#[test]
fn resume_needs_only_the_info_hash() {
    let s = Setup::new();
    s.complete("json");
    std::fs::remove_file(s.out().join("data/a.bin")).unwrap();
    let mut seed = ccbt_seed(&s.w, "seed2", &s.torrent, &s.w.join("src"), &[]);
    // A prefix names the checkpoint; torrent and folder come from it.
    let run = s.run("resume", "resume", &[&s.info_hash[..12]], "json", &[seed.addr()]);
    run.assert_success("ccbt resume");
    assert!(run.stderr.contains("resuming data from its checkpoint"), "{}", run.describe());
    assert_same_tree(&s.content, &s.out().join("data"));
    seed.proc.kill();
    let unknown = s.run("unknown", "resume", &["ffff"], "json", &[]);
    assert_eq!(unknown.code(), Some(1), "{}", unknown.describe());
}

/// `--interactive` on a terminal (a pty from util-linux's `script`): the answer decides.
#[test]
fn interactive_asks_on_a_terminal() {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        eprintln!("note: interactive_asks_on_a_terminal skipped: no `script` (util-linux)");
        return;
    }
    let s = Setup::new();
    s.complete("binary");
    let config = s.w.join("interactive.toml");
    std::fs::write(&config, "").unwrap();
    let line = format!(
        "{} --config {} download {} -o {} --listen-port 0 --no-dht --no-trackers --checkpoint-dir {} --state-dir {} --interactive",
        env!("CARGO_BIN_EXE_ccbt"),
        config.display(),
        s.torrent.display(),
        s.out().display(),
        s.checkpoints().display(),
        s.w.join("state").display(),
    );
    let ask = |answer: &str| {
        use std::io::Write as _;
        let mut child = std::process::Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env_remove("CCBT_LOG_LEVEL")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The question is asked before the session starts; the answer waits in the pty.
        child.stdin.take().unwrap().write_all(answer.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let no = ask("n\n");
    assert!(no.contains("Resume data from its checkpoint ("), "{no}");
    assert!(no.contains("not resuming data"), "{no}");
    let yes = ask("\n");
    assert!(yes.contains("resuming data from its checkpoint"), "{yes}");
}

/// A magnet link stopped while it still waits for its metadata can be resumed by info hash: its
/// checkpoint names the link and the folder.
#[test]
fn a_magnet_stopped_before_its_metadata_resumes_by_info_hash() {
    let s = Setup::new();
    let uri = format!("magnet:?xt=urn:btih:{}&dn=data", s.info_hash);
    let mut cmd = ccbt();
    cmd.arg("magnet").arg(&uri).arg("-o").arg(s.out()).args([
        "--listen-port",
        "0",
        "--no-dht",
        "--no-trackers",
    ]);
    cmd.arg("--checkpoint-dir").arg(s.checkpoints()).arg("--state-dir").arg(s.w.join("state"));
    // No peer: it waits for the metadata until stopped.
    let mut waiting = Proc::spawn("waiting", &mut cmd, &s.w);
    let found = support::poll_until(TRANSFER, || s.checkpoint("bin").exists());
    assert!(found, "no checkpoint while fetching the metadata\n{}", waiting.logs());
    let (status, clean) = waiting.terminate(support::GRACE);
    assert!(clean, "{status}\n{}", waiting.logs());
    let mut seed = ccbt_seed(&s.w, "seed", &s.torrent, &s.w.join("src"), &[]);
    let run = s.run("resume", "resume", &[&s.info_hash], "binary", &[seed.addr()]);
    run.assert_success("ccbt resume of the magnet link");
    assert_same_tree(&s.content, &s.out().join("data"));
    seed.proc.kill();
    // Now the checkpoint holds the info dictionary and every piece.
    let again = s.run("again", "resume", &[&s.info_hash], "binary", &[]);
    again.assert_success("ccbt resume without peers");
    assert!(again.stdout.contains("already complete on disk"), "{}", again.describe());
}

/// The file choice of the first run is in the checkpoint: run again without `--skip`, with no
/// peer, the download is complete at once (it would otherwise wait for the skipped file).
#[test]
fn a_resumed_download_keeps_the_files_it_skipped() {
    let s = Setup::new();
    let torrent = s.torrent.to_str().unwrap().to_owned();
    let mut seed = ccbt_seed(&s.w, "seed", &s.torrent, &s.w.join("src"), &[]);
    s.run("first", "download", &[&torrent, "--skip", "2"], "json", &[seed.addr()])
        .assert_success("the download skipping c.bin");
    seed.proc.kill();
    for name in ["a.bin", "b.bin"] {
        let (want, got) = (s.content.join(name), s.out().join("data").join(name));
        assert_eq!(std::fs::read(&want).unwrap(), std::fs::read(&got).unwrap(), "{name}");
    }
    let again = s.download("again", "json", &[]);
    again.assert_success("the second run, without --skip and without peers");
    assert!(again.stderr.contains("resuming data from its checkpoint"), "{}", again.describe());
    let c = s.out().join("data/c.bin");
    let kept_out = std::fs::metadata(&c).map_or(true, |m| m.len() < LAYOUT[2].1);
    assert!(kept_out, "c.bin was downloaded\n{}", again.describe());
}
