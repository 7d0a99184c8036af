//! Hot reload through the `ccbt` binary: `ccbt download --config F` waits for a ccbt seeder
//! while F is edited. A valid edit is applied (one stderr line per key; the new log level shows
//! in the output), a key set by a flag keeps the flag's value, a restart-only key is named; an
//! invalid edit is refused with its error and the download goes on and completes with the
//! last good configuration. No timing assertions: deadlines only turn a hang into a failure.

mod support;

use std::path::Path;

use support::{
    assert_same_tree, ccbt, ccbt_create, ccbt_seed, work_dir, write_tree, Proc, GRACE, ODD_LAYOUT, SETUP,
    TRANSFER,
};

/// Replaces `path` with `text` the way editors save (a new file renamed over the old one), so
/// the watcher never reads half a file.
fn save(path: &Path, text: &str) {
    let temporary = path.with_extension("toml.new");
    std::fs::write(&temporary, text).expect("write config");
    std::fs::rename(&temporary, path).expect("replace config");
}

/// Waits until the download's stderr holds `line`.
fn wait_line(proc: &mut Proc, line: &str) {
    proc.wait_for(line, SETUP, |_, err| err.contains(line).then_some(()));
}

#[test]
fn an_edited_config_is_applied_to_a_running_download_and_a_bad_edit_is_kept_out() {
    let work = work_dir();
    let w = work.path();
    let content = write_tree(&w.join("src/data"), ODD_LAYOUT, 31);
    let torrent = w.join("data.torrent");
    ccbt_create(&content, &torrent, 32 * 1024, &[]);
    let config = w.join("ccbt.toml");
    save(&config, "[network]\nmax_peers_per_torrent = 50\n[observability]\nlog_level = \"info\"\n");

    // No peer yet: the download waits, listening, until the seeder dials it.
    let out = w.join("out");
    let mut cmd = ccbt();
    cmd.arg("--config").arg(&config).arg("download").arg(&torrent).arg("-o").arg(&out);
    cmd.args(["--quiet", "--listen-port", "0", "--no-dht"]);
    let mut download = Proc::spawn("download", &mut cmd, w);
    let listen = support::wait_listen_addr(&mut download);

    save(
        &config,
        "[network]\nmax_peers_per_torrent = 20\nlisten_port = 7000\n\
         [disk]\nhash_workers = 7\n[observability]\nlog_level = \"debug\"\n",
    );
    wait_line(&mut download, "config: network.max_peers_per_torrent = 20 applied");
    wait_line(&mut download, "config: observability.log_level = debug applied");
    let path = config.display();
    wait_line(
        &mut download,
        &format!(
            "config: network.listen_port changed in {path} but the command line sets it; 0 stays in force"
        ),
    );
    wait_line(&mut download, "config: disk.hash_workers = 7 needs a restart;");

    save(&config, "[network]\nmax_peers_per_torrent = \"many\"\n[observability]\nlog_level = \"debug\"\n");
    wait_line(
        &mut download,
        &format!("config: {path} not applied; the last good configuration stays in force:"),
    );
    wait_line(&mut download, &format!("config:   `network.max_peers_per_torrent` ({path}:2)"));
    // Put back as it was before the bad edit: nothing to apply, and it says so.
    save(
        &config,
        "[network]\nmax_peers_per_torrent = 20\nlisten_port = 7000\n\
         [disk]\nhash_workers = 7\n[observability]\nlog_level = \"debug\"\n",
    );
    wait_line(&mut download, &format!("config: {path} is valid again; nothing changed"));

    let mut seed = ccbt_seed(w, "seed", &torrent, &w.join("src"), &[format!("127.0.0.1:{}", listen.port())]);
    let status = download.wait_timeout(TRANSFER).unwrap_or_else(|| panic!("no exit\n{}", download.logs()));
    assert!(status.success(), "download failed\n{}", download.logs());
    assert_same_tree(&content, &out.join("data"));
    // The level applied live: debug records follow the reload line.
    let stderr = download.stderr_text();
    let reloaded = stderr.find("log_level = debug applied").expect("reload line");
    assert!(stderr[reloaded..].contains("DEBUG"), "no debug output after the reload\n{}", download.logs());
    assert!(!stderr[..reloaded].contains("DEBUG"), "debug output before the reload\n{}", download.logs());
    let (status, clean) = seed.proc.terminate(GRACE);
    assert!(clean && status.success(), "seeder did not stop cleanly: {status}");
}
