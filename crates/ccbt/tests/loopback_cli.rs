//! ccbt to ccbt over loopback: `ccbt seed` serves, `ccbt download` (and its short form) fetches.

mod support;

use std::path::Path;

use support::{
    assert_same_tree, ccbt, ccbt_create, ccbt_download, ccbt_seed, run_with_timeout, work_dir, write_file,
    write_tree, GRACE, ODD_LAYOUT, TRANSFER,
};

/// Stops a seeder with SIGTERM and checks it leaves cleanly with exit 0.
fn stop(seed: &mut support::Peer) {
    let (status, clean) = seed.proc.terminate(GRACE);
    assert!(clean && status.success(), "seeder did not stop cleanly: {status}\n{}", seed.proc.logs());
}

fn multi_file(piece: u32) {
    let work = work_dir();
    let w = work.path();
    let content = write_tree(&w.join("src/data"), ODD_LAYOUT, 21);
    let torrent = w.join("data.torrent");
    ccbt_create(&content, &torrent, piece, &[]);
    let mut seed = ccbt_seed(w, "seed", &torrent, &w.join("src"), &[]);

    let out = w.join("out");
    let done = ccbt_download(w, "download", &torrent, &out, &[seed.addr()]);
    done.assert_success("ccbt download from a ccbt seed");
    assert!(done.stdout.contains("verified"), "no summary line:\n{}", done.describe());
    assert_same_tree(&content, &out.join("data"));
    assert!(out.join("data/empty.txt").is_file(), "the zero-length file was not created");
    stop(&mut seed);
}

#[test]
fn multi_file_odd_layout_16k_pieces() {
    multi_file(16 * 1024);
}

#[test]
fn multi_file_odd_layout_64k_pieces() {
    multi_file(64 * 1024);
}

#[test]
fn short_form_downloads_a_single_file() {
    let work = work_dir();
    let w = work.path();
    // 2 MiB and a bit: a short last piece.
    let file = w.join("src/single.bin");
    write_file(&file, 22, 2 * 1024 * 1024 + 12_345);
    let torrent = w.join("single.torrent");
    ccbt_create(&file, &torrent, 32 * 1024, &[]);
    let mut seed = ccbt_seed(w, "seed", &torrent, &w.join("src"), &[]);

    // `ccbt FILE.torrent -o DIR --peer ...`, flags before and after the file.
    let out = w.join("out");
    let done = run_with_timeout(
        "short-form",
        ccbt().arg("--quiet").arg(&torrent).arg("-o").arg(&out).args([
            "--listen-port",
            "0",
            "--no-dht",
            "--peer",
            &seed.addr(),
        ]),
        w,
        TRANSFER,
    );
    done.assert_success("short-form download");
    assert_same_tree(&file, &out.join("single.bin"));
    // Downloading again into the same folder finds everything on disk and exits at once.
    let again = ccbt_download(w, "download-again", &torrent, &out, &[]);
    again.assert_success("second download of complete data");
    assert_same_tree(&file, &out.join("single.bin"));
    stop(&mut seed);
}

/// Two ccbt seeders feed one leecher at the same time.
#[test]
fn download_from_two_seeders() {
    let work = work_dir();
    let w = work.path();
    let content = write_tree(&w.join("src/data"), ODD_LAYOUT, 23);
    let torrent = w.join("data.torrent");
    ccbt_create(&content, &torrent, 32 * 1024, &[]);
    let mut first = ccbt_seed(w, "seed1", &torrent, &w.join("src"), &[]);
    copy_tree(&w.join("src"), &w.join("src2"));
    let mut second = ccbt_seed(w, "seed2", &torrent, &w.join("src2"), &[]);

    let out = w.join("out");
    let done = ccbt_download(w, "download", &torrent, &out, &[first.addr(), second.addr()]);
    done.assert_success("download from two seeders");
    assert_same_tree(&content, &out.join("data"));
    stop(&mut first);
    stop(&mut second);
}

fn copy_tree(from: &Path, to: &Path) {
    for rel in support::list_files(from) {
        let dest = to.join(&rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&rel), dest).unwrap();
    }
}
