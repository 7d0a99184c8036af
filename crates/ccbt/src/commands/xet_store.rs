//! `ccbt xet status | stats | cache-info | cleanup`: the local chunk store, read directly.

use std::path::Path;

use anyhow::Context as _;
use ccbt_config::Effective;
use ccbt_xetstore::{StoreOptions, XetStore};

use super::Exit;
use crate::units::human_bytes;
use crate::xet_args::XetCommand;

/// Runs a store subcommand on the store of the effective configuration.
pub fn run(command: &XetCommand, settings: &Effective) -> anyhow::Result<Exit> {
    let dir = settings.xet_store_dir();
    let cap = settings.config().xet.xet_cache_size_mib.saturating_mul(1024 * 1024);
    match command {
        XetCommand::Hash(args) => super::xet_hash::run(args),
        XetCommand::Status => status(settings, &dir),
        XetCommand::Stats => stats(&dir),
        XetCommand::CacheInfo => cache_info(&dir, cap),
        XetCommand::Cleanup(args) => cleanup(&dir, cap, args.dry_run),
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

fn status(settings: &Effective, dir: &Path) -> anyhow::Result<Exit> {
    let enabled = settings.config().xet.xet_enabled;
    println!("xet: {}", if enabled { "enabled" } else { "disabled (xet_enabled = false)" });
    println!("store: {}", dir.display());
    match existing(dir)? {
        None => println!("index: none yet"),
        Some(store) => {
            let s = store.stats()?;
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
    let s = store.stats()?;
    println!(
        "unique bytes:     {} in {} chunks ({} locations)",
        human_bytes(s.unique_bytes),
        s.chunks,
        s.locations
    );
    println!("referenced bytes: {} in {} files", human_bytes(s.referenced_bytes), s.files);
    println!("shared:           {}", shared_line(s.unique_bytes, s.referenced_bytes));
    println!("retired chunks:   {} in {} packs", human_bytes(s.pack_bytes), s.packs);
    let roots = store.root_stats()?;
    if !roots.is_empty() {
        println!();
        println!("{:<64}  {:>5}  {:>7}  {:>10}  {:>10}", "XET ROOT", "FILES", "CHUNKS", "SIZE", "SHARED");
        for r in roots {
            println!(
                "{:<64}  {:>5}  {:>7}  {:>10}  {:>10}",
                ccbt_xet::xethex(&r.root),
                r.files,
                r.chunks,
                human_bytes(r.bytes),
                human_bytes(r.shared_bytes)
            );
        }
    }
    Ok(Exit::Success)
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
    let report = store.cleanup(cap, dry_run)?;
    let verb = if dry_run { "would drop" } else { "dropped" };
    for stale in &report.stale {
        println!("{verb} {} ({})", stale.path.display(), stale.reason);
    }
    for path in &report.evicted_packs {
        let verb = if dry_run { "would delete" } else { "deleted" };
        println!("{verb} {} (packs go first over the {} cap)", path.display(), human_bytes(cap));
    }
    for path in &report.evicted {
        println!("{verb} {} (over the {} cap)", path.display(), human_bytes(cap));
    }
    let files = report.stale.len() + report.evicted.len();
    if dry_run {
        println!("{files} files would be forgotten; index {}", human_bytes(report.index_bytes_before));
    } else {
        println!(
            "{files} files forgotten; index {} -> {}",
            human_bytes(report.index_bytes_before),
            human_bytes(report.index_bytes_after)
        );
    }
    Ok(Exit::Success)
}
