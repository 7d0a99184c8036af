//! `ccbt checkpoints verify HASH`: does the data on disk still hold what the checkpoint claims?
//! Every piece it lists as verified is re-hashed (files opened read-only: nothing is created or
//! written), and each file is compared with the size and modification time the checkpoint saw.
//! Exit 1 when a claimed piece fails, a file is missing or shorter, or the checkpoint itself is
//! unusable (a resume would then recheck everything).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context as _};
use ccbt_checkpoint::{Checkpoint, CheckpointStore, FileEntry, StampCheck};
use ccbt_core::{Bitfield, PieceCheck};
use ccbt_metainfo::Torrent;
use ccbt_storage::{check_listed, FileStorage, StorageOptions};

use super::checkpoints::{timestamp, warn_rejected};
use super::info::read_torrent;
use super::{default_hash_workers, Exit};
use crate::args::CheckpointsVerifyArgs;
use crate::progress::{ProgressConfig, TaskProgress};
use crate::units::human_bytes;

/// Bad piece numbers listed; the rest are only counted.
const PIECES_LISTED: usize = 8;

/// Runs `ccbt checkpoints verify`.
pub fn run(store: &CheckpointStore, args: &CheckpointsVerifyArgs) -> anyhow::Result<Exit> {
    let info_hash = store.resolve(&args.target.info_hash)?;
    let loaded = match store.load(&info_hash) {
        Ok(Some(loaded)) => loaded,
        Ok(None) => bail!("no checkpoint for {info_hash}"),
        Err(e) => {
            println!("checkpoint unusable: {e}");
            println!("a resume would recheck all data of {info_hash}");
            return Ok(Exit::Failure);
        }
    };
    warn_rejected(&loaded);
    let checkpoint = &loaded.checkpoint;
    let torrent = torrent_of(checkpoint)?;
    let claimed = checkpoint.verified_pieces()?;
    println!(
        "checkpoint of {} ({}), saved {}: {} of {} pieces claimed",
        info_hash,
        checkpoint.name.chars().map(|c| if c.is_control() { '?' } else { c }).collect::<String>(),
        timestamp(checkpoint.saved_at),
        claimed.count_ones(),
        claimed.len()
    );

    let layout = torrent.layout();
    let lengths = torrent.lengths();
    let storage = FileStorage::open_existing(&checkpoint.save_path, &layout, StorageOptions::default())
        .with_context(|| format!("cannot open the data in {}", checkpoint.save_path.display()))?;
    let workers = args.hash_workers.map_or_else(default_hash_workers, usize::from);
    let task = TaskProgress::new(
        ProgressConfig::new(&args.progress),
        "checking",
        u64::from(claimed.count_ones()) * u64::from(lengths.piece_length()),
    );
    let piece_length = u64::from(lengths.piece_length());
    let on_progress = |done: u32| task.set(u64::from(done).saturating_mul(piece_length));
    let listed: Vec<u32> = claimed.iter_ones().collect();
    let checks = |i: u32| torrent.piece_hash(i).copied().map(PieceCheck::v1);
    let verified = check_listed(&storage, &lengths, &checks, &listed, workers, &on_progress)
        .context("cannot check the data")?;
    let mut good = Bitfield::new(claimed.len());
    for piece in verified {
        good.set(piece);
    }
    task.finish();

    let files = file_report(checkpoint, (0..layout.files().len()).map(|i| storage.file_path(i)).collect());
    let (pieces_text, pieces_ok) = pieces_report(&claimed, &good);
    print!("{pieces_text}{}", files.text);
    Ok(if pieces_ok && files.ok { Exit::Success } else { Exit::Failure })
}

/// The torrent the checkpoint is for: from its info dictionary, else its `.torrent` file.
fn torrent_of(checkpoint: &Checkpoint) -> anyhow::Result<Torrent> {
    let torrent = if let Some(info) = &checkpoint.info {
        let mut wrapped = b"d4:info".to_vec();
        wrapped.extend_from_slice(info);
        wrapped.push(b'e');
        Torrent::from_bytes(&wrapped).context("the info dictionary in the checkpoint is invalid")?
    } else if let Some(path) = &checkpoint.source.torrent_file {
        read_torrent(path)?
    } else {
        bail!("the checkpoint holds no info dictionary and names no .torrent file: nothing to check against");
    };
    if torrent.info_hash != checkpoint.info_hash {
        bail!("the torrent is {}, not the checkpoint's {}", torrent.info_hash, checkpoint.info_hash);
    }
    if torrent.num_pieces() != checkpoint.piece_count {
        bail!("the torrent has {} pieces, the checkpoint {}", torrent.num_pieces(), checkpoint.piece_count);
    }
    Ok(torrent)
}

/// "N/M claimed pieces OK" and the bad ones; whether all are good.
fn pieces_report(claimed: &Bitfield, good: &Bitfield) -> (String, bool) {
    let bad: Vec<u32> = claimed.iter_ones().filter(|&p| !good.get(p)).collect();
    let mut out =
        format!("{}/{} claimed pieces OK\n", claimed.count_ones() as usize - bad.len(), claimed.count_ones());
    if !bad.is_empty() {
        let listed: Vec<String> = bad.iter().take(PIECES_LISTED).map(u32::to_string).collect();
        let more = if bad.len() > PIECES_LISTED { ", ..." } else { "" };
        let _ =
            writeln!(out, "bad: {} claimed piece(s) fail their hash: {}{more}", bad.len(), listed.join(", "));
    }
    (out, bad.is_empty())
}

/// What the file comparison found.
struct FileReport {
    text: String,
    /// No file missing or shorter than the checkpoint saw.
    ok: bool,
}

/// Compares each file with the size and time the checkpoint recorded. `paths[i]` is where file
/// `i` of the torrent is on disk.
fn file_report(checkpoint: &Checkpoint, paths: Vec<Option<&Path>>) -> FileReport {
    let mut report = FileReport { text: String::new(), ok: true };
    if !checkpoint.files.is_empty() && checkpoint.files.len() != paths.len() {
        let _ = writeln!(
            report.text,
            "the checkpoint lists {} files, the torrent has {}",
            checkpoint.files.len(),
            paths.len()
        );
        report.ok = false;
        return report;
    }
    for (file, path) in checkpoint.files.iter().zip(paths) {
        let (Some(seen), Some(path)) = (file.observed, path) else { continue };
        match seen.check(std::fs::metadata(path).ok().as_ref()) {
            StampCheck::Unchanged => {}
            StampCheck::Missing => {
                let _ = writeln!(report.text, "missing: {}", shown(file));
                report.ok = false;
            }
            StampCheck::Shorter { size } => {
                let _ = writeln!(
                    report.text,
                    "shorter: {} ({}, the checkpoint saw {})",
                    shown(file),
                    human_bytes(size),
                    human_bytes(seen.size)
                );
                report.ok = false;
            }
            StampCheck::Modified => {
                let _ = writeln!(
                    report.text,
                    "changed: {} (modified after the checkpoint; a resume rechecks it)",
                    shown(file)
                );
            }
        }
    }
    report
}

fn shown(file: &FileEntry) -> String {
    file.path.display().to_string().chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}
