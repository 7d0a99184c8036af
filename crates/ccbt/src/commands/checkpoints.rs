//! `ccbt checkpoints list | clean | delete | verify | export`: the saved resume state of each
//! torrent, managed through the checkpoint store (the `verify` subcommand is in
//! `checkpoint_verify`).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use ccbt_checkpoint::{CheckpointEntry, CheckpointError, CheckpointStore, Format, Loaded, RemovedReason};
use ccbt_config::Effective;

use super::{checkpoint_verify, Exit};
use crate::args::{
    CheckpointsArgs, CheckpointsCleanArgs, CheckpointsCommand, CheckpointsExportArgs, ExportFormat,
};
use crate::units::human_bytes;

/// Names longer than this are cut in the listing, so one torrent cannot push the columns away.
const NAME_WIDTH: usize = 40;

/// Runs `ccbt checkpoints ...` on the folder of the effective configuration.
pub fn run(args: &CheckpointsArgs, settings: &Effective) -> anyhow::Result<Exit> {
    let store = CheckpointStore::new(settings.checkpoint_dir());
    match &args.command {
        CheckpointsCommand::List => list(&store),
        CheckpointsCommand::Clean(clean_args) => {
            let days = clean_args.days.unwrap_or(settings.config().disk.checkpoint_retention_days);
            clean(&store, clean_args, days)
        }
        CheckpointsCommand::Delete(target) => delete(&store, &target.info_hash),
        CheckpointsCommand::Verify(verify_args) => checkpoint_verify::run(&store, verify_args),
        CheckpointsCommand::Export(export_args) => export(&store, export_args),
    }
}

fn list(store: &CheckpointStore) -> anyhow::Result<Exit> {
    let entries = store.list()?;
    if entries.is_empty() {
        println!("no checkpoints in {}", store.dir().display());
    } else {
        print!("{}", table(&entries));
    }
    Ok(Exit::Success)
}

/// The listing: one line per file, unreadable ones with their error instead of the columns.
fn table(entries: &[CheckpointEntry]) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail, hence the ignored results.
    let _ = writeln!(
        out,
        "{:<40}  {:<NAME_WIDTH$}  {:>8}  {:<11}  {:<20}  {:<6}  {:>9}",
        "INFO HASH", "NAME", "PROGRESS", "STATE", "SAVED", "FORMAT", "SIZE"
    );
    for entry in entries {
        let hash = entry.info_hash.to_hex();
        let format = entry.format.word();
        let size = human_bytes(entry.size);
        match &entry.summary {
            Ok(s) => {
                let _ = writeln!(
                    out,
                    "{hash}  {:<NAME_WIDTH$}  {:>7.1}%  {:<11}  {:<20}  {format:<6}  {size:>9}",
                    printable(&s.name, NAME_WIDTH),
                    s.progress() * 100.0,
                    s.state.word(),
                    timestamp(s.saved_at),
                );
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "{hash}  unreadable ({format}, {size}): {}",
                    printable(&e.kind().to_string(), 200)
                );
            }
        }
    }
    out
}

/// `text` safe to print: control characters (a torrent's name could hold terminal escapes)
/// replaced, and cut to `width` characters.
fn printable(text: &str, width: usize) -> String {
    let cleaned: String = text.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    if cleaned.chars().count() <= width {
        cleaned
    } else {
        let mut cut: String = cleaned.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// Unix seconds as `2026-12-03T07:00:00Z`.
pub(super) fn timestamp(unix_secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix_secs)).to_string()
}

fn clean(store: &CheckpointStore, args: &CheckpointsCleanArgs, days: u32) -> anyhow::Result<Exit> {
    let age = Duration::from_secs(u64::from(days) * 24 * 60 * 60);
    let removed = store.clean(age, SystemTime::now(), args.dry_run)?;
    let verb = if args.dry_run { "would remove" } else { "removed" };
    for r in &removed {
        let why = match r.reason {
            RemovedReason::Expired { saved_at } => format!("saved {}", timestamp(saved_at)),
            RemovedReason::UnreadableAndOld => "unreadable, not modified for longer".to_owned(),
            RemovedReason::StaleTemporary => "left by an interrupted write".to_owned(),
        };
        println!("{verb} {} ({why})", r.path.display());
    }
    let plural = if removed.len() == 1 { "" } else { "s" };
    println!(
        "{verb} {} file{plural} (older than {days} day{})",
        removed.len(),
        if days == 1 { "" } else { "s" }
    );
    Ok(Exit::Success)
}

fn delete(store: &CheckpointStore, query: &str) -> anyhow::Result<Exit> {
    let info_hash = store.resolve(query)?;
    let removed = store.delete(&info_hash)?;
    if removed.is_empty() {
        return Err(CheckpointError::NotFound { query: query.to_owned() }.into());
    }
    for path in &removed {
        println!("deleted {}", path.display());
    }
    Ok(Exit::Success)
}

fn export(store: &CheckpointStore, args: &CheckpointsExportArgs) -> anyhow::Result<Exit> {
    let info_hash = store.resolve(&args.target.info_hash)?;
    let format = match args.format {
        ExportFormat::Json => Format::Json,
        ExportFormat::Binary => Format::Binary,
    };
    let loaded = store
        .export(&info_hash, format, &args.output)
        .with_context(|| format!("cannot export the checkpoint of {info_hash}"))?;
    warn_rejected(&loaded);
    println!(
        "exported {info_hash} ({}) to {} as {}",
        loaded.path.display(),
        args.output.display(),
        format.word()
    );
    Ok(Exit::Success)
}

/// Warns about a checkpoint file that was skipped in favour of the other format.
pub(super) fn warn_rejected(loaded: &Loaded) {
    for e in &loaded.rejected {
        eprintln!("warning: ignored an unusable checkpoint file: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_printable_and_cut() {
        assert_eq!(printable("a\x1b[31mb", 40), "a?[31mb");
        assert_eq!(printable("abcdef", 4), "abc…");
        assert_eq!(printable("abcd", 4), "abcd");
    }

    #[test]
    fn timestamps_are_utc() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
    }
}
