//! `ccbt xet status | stats | cache-info | cleanup`: the local chunk store. Its index is one
//! process's (redb locks it), so while a daemon runs on the state folder, `status`, `stats` and
//! `cleanup` ask the daemon (`GET /api/v1/xet/stats`, `POST /api/v1/xet/cleanup`); otherwise
//! they open the store directly. `cache-info` only reads file sizes, so it never needs either.

use std::path::Path;

use anyhow::Context as _;
use ccbt_api::{XetCleanupView, XetStatsView};
use ccbt_config::Effective;
use ccbt_xetstore::{StoreOptions, XetStore};

use super::daemon::lock;
use super::remote::{self, Daemon};
use super::Exit;
use crate::units::human_bytes;
use crate::xet_args::XetCommand;

/// Runs a store subcommand on the store of the effective configuration, or of the daemon.
pub fn run(command: &XetCommand, settings: &Effective) -> anyhow::Result<Exit> {
    let dir = settings.xet_store_dir();
    let cap = settings.config().xet.xet_cache_size_mib.saturating_mul(1024 * 1024);
    match command {
        XetCommand::Hash(args) => super::xet_hash::run(args),
        XetCommand::CacheInfo => cache_info(&dir, cap),
        XetCommand::Status => status(settings, &dir, daemon(settings)?.as_ref()),
        XetCommand::Stats => match daemon(settings)? {
            Some(daemon) => {
                print_stats(&daemon.get::<XetStatsView>("/xet/stats")?);
                Ok(Exit::Success)
            }
            None => stats(&dir),
        },
        XetCommand::Cleanup(args) => match daemon(settings)? {
            Some(daemon) => {
                let body = serde_json::json!({ "dry_run": args.dry_run });
                print_cleanup(&daemon.post::<XetCleanupView>("/xet/cleanup", &body)?, "live data");
                Ok(Exit::Success)
            }
            None => cleanup(&dir, cap, args.dry_run),
        },
        // Sessions: run by `commands::run` on the async runtime.
        XetCommand::Publish(_) | XetCommand::Follow(_) | XetCommand::Follows(_) | XetCommand::Unfollow(_) => {
            anyhow::bail!("not a chunk store command")
        }
    }
}

/// The daemon running on the state folder, if one does.
fn daemon(settings: &Effective) -> anyhow::Result<Option<Daemon>> {
    let state_dir = &settings.config().disk.state_dir;
    match lock::read_daemon(state_dir) {
        Some(_) => Ok(Some(remote::connect(state_dir)?)),
        None => Ok(None),
    }
}

/// The store when its index exists (reading commands never create one).
fn existing(dir: &Path) -> anyhow::Result<Option<XetStore>> {
    if !XetStore::index_file_path(dir).exists() {
        return Ok(None);
    }
    let store = XetStore::open(dir, StoreOptions::default())
        .with_context(|| format!("cannot open the chunk store in {}", dir.display()))?;
    Ok(Some(store))
}

fn status(settings: &Effective, dir: &Path, daemon: Option<&Daemon>) -> anyhow::Result<Exit> {
    let enabled = settings.config().xet.xet_enabled;
    println!("xet: {}", if enabled { "enabled" } else { "disabled (xet_enabled = false)" });
    let view = match daemon {
        Some(daemon) => {
            println!("daemon: {} (the store is read through it)", daemon.url());
            match daemon.get::<XetStatsView>("/xet/stats") {
                Ok(view) => Some(view),
                Err(e) => {
                    println!("store: {}", dir.display());
                    println!("index: not available from the daemon: {e:#}");
                    return Ok(Exit::Success);
                }
            }
        }
        None => match existing(dir)? {
            None => None,
            Some(store) => Some(XetStatsView::new(dir.to_path_buf(), &store.stats()?, &[])),
        },
    };
    match view {
        None => {
            println!("store: {}", dir.display());
            println!("index: none yet");
        }
        Some(s) => {
            println!("store: {}", s.dir.display());
            println!(
                "index: {} ({} chunks, {} files, {} xet roots)",
                human_bytes(s.index_bytes),
                s.chunks,
                s.files,
                s.roots
            );
        }
    }
    Ok(Exit::Success)
}

fn stats(dir: &Path) -> anyhow::Result<Exit> {
    let Some(store) = existing(dir)? else {
        println!("no chunk store in {}", dir.display());
        return Ok(Exit::Success);
    };
    print_stats(&XetStatsView::new(dir.to_path_buf(), &store.stats()?, &store.root_stats()?));
    Ok(Exit::Success)
}

fn print_stats(s: &XetStatsView) {
    println!(
        "unique bytes:     {} in {} chunks ({} locations)",
        human_bytes(s.unique_bytes),
        s.chunks,
        s.locations
    );
    println!("referenced bytes: {} in {} files", human_bytes(s.referenced_bytes), s.files);
    println!("shared:           {}", shared_line(s.unique_bytes, s.referenced_bytes));
    println!("retired chunks:   {} in {} packs", human_bytes(s.pack_bytes), s.packs);
    if s.by_root.is_empty() {
        return;
    }
    println!();
    println!("{:<64}  {:>5}  {:>7}  {:>10}  {:>10}", "XET ROOT", "FILES", "CHUNKS", "SIZE", "SHARED");
    for r in &s.by_root {
        println!(
            "{:<64}  {:>5}  {:>7}  {:>10}  {:>10}",
            r.root,
            r.files,
            r.chunks,
            human_bytes(r.bytes),
            human_bytes(r.shared_bytes)
        );
    }
}

/// Bytes the files reference beyond the ones held once: what dedup saves.
fn shared_line(unique: u64, referenced: u64) -> String {
    let saved = referenced.saturating_sub(unique);
    if referenced == 0 {
        return "nothing indexed".into();
    }
    format!(
        "{} ({:.1}% of the referenced bytes)",
        human_bytes(saved),
        saved as f64 * 100.0 / referenced as f64
    )
}

fn cache_info(dir: &Path, cap: u64) -> anyhow::Result<Exit> {
    println!("store: {}", dir.display());
    let used = folder_bytes(dir);
    println!("folder: {}", human_bytes(used));
    let index = std::fs::metadata(XetStore::index_file_path(dir)).map_or(0, |m| m.len());
    let packs = folder_bytes(&dir.join("packs"));
    let counted = index + packs;
    let percent = if cap == 0 { 0.0 } else { counted as f64 * 100.0 / cap as f64 };
    println!(
        "index + packs: {} + {} of a {} cap ({percent:.1}%)",
        human_bytes(index),
        human_bytes(packs),
        human_bytes(cap)
    );
    Ok(Exit::Success)
}

/// Bytes of the regular files directly or indirectly under `dir` (0 when it is absent).
fn folder_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => folder_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

fn cleanup(dir: &Path, cap: u64, dry_run: bool) -> anyhow::Result<Exit> {
    let Some(mut store) = existing(dir)? else {
        println!("no chunk store in {}: nothing to clean", dir.display());
        return Ok(Exit::Success);
    };
    print_cleanup(&XetCleanupView::new(cap, store.cleanup(cap, dry_run)?), "index");
    Ok(Exit::Success)
}

/// What a cleanup did; `size` names the size reported (the file, or the daemon's live data).
fn print_cleanup(report: &XetCleanupView, size: &str) {
    let verb = if report.dry_run { "would drop" } else { "dropped" };
    for stale in &report.stale {
        println!("{verb} {} ({})", stale.path.display(), stale.reason);
    }
    for path in &report.evicted_packs {
        let verb = if report.dry_run { "would delete" } else { "deleted" };
        println!("{verb} {} (packs go first over the {} cap)", path.display(), human_bytes(report.cap_bytes));
    }
    for path in &report.evicted {
        println!("{verb} {} (over the {} cap)", path.display(), human_bytes(report.cap_bytes));
    }
    let files = report.stale.len() + report.evicted.len();
    if report.dry_run {
        println!("{files} files would be forgotten; {size} {}", human_bytes(report.index_bytes_before));
    } else {
        println!(
            "{files} files forgotten; {size} {} -> {}",
            human_bytes(report.index_bytes_before),
            human_bytes(report.index_bytes_after)
        );
    }
}
