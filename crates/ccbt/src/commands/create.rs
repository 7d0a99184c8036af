//! `ccbt create PATH -o X.torrent`: scan a file or folder, hash its pieces in parallel, build
//! the .torrent and write it atomically. `--v2` and `--hybrid` make BEP 52 torrents (hashing in
//! `create_v2`); `--xet` adds Xet chunk metadata (chunking in `create_xet`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use ccbt_core::{FileLayout, Lengths};
use ccbt_metainfo::{auto_piece_length, MetaVersion, Torrent, TorrentBuilder, XetBuild, XetPublisher};
use ccbt_storage::{hash_pieces, scan_path, FileStorage, ScannedContent, StorageError, StorageOptions};

use super::create_v2::{hash_aligned, ContentHashes};
use super::create_xet::chunk_files;
use super::{default_hash_workers, Exit};
use crate::args::CreateArgs;
use crate::progress::{ProgressConfig, TaskProgress};
use crate::units::{average_rate, human_bytes, human_elapsed, human_rate};

/// Largest piece size: what the metainfo parser (and libtorrent) accept.
const MAX_PIECE_SIZE: u64 = 256 * 1024 * 1024;
/// Smallest piece size: one 16 KiB block.
const MIN_PIECE_SIZE: u64 = 16 * 1024;

/// Runs `ccbt create`.
pub fn run(args: &CreateArgs, progress: ProgressConfig) -> anyhow::Result<Exit> {
    let publisher = args.xet.publisher()?;
    make(args, progress, publisher)?;
    Ok(Exit::Success)
}

/// Makes and writes the torrent `args` describe, with `publisher` as its `info.xet.pk` and
/// `salt` (`--xet` only); prints what was made and returns the torrent.
pub fn make(
    args: &CreateArgs,
    progress: ProgressConfig,
    publisher: Option<XetPublisher>,
) -> anyhow::Result<Torrent> {
    let trackers = tracker_tiers(&args.trackers)?;
    // Fail before hashing (which may take minutes), not after.
    let out_dir = output_dir(&args.output);
    anyhow::ensure!(out_dir.is_dir(), "output folder {} does not exist", out_dir.display());
    anyhow::ensure!(args.force || !exists(&args.output), "{}", already_exists(&args.output));
    let version = match (args.v2, args.hybrid, args.xet.xet) {
        (true, _, _) => MetaVersion::V2,
        (false, true, _) => MetaVersion::Hybrid,
        // Xet roots are keyed by BEP 52 pieces roots: --xet alone makes a v2 torrent.
        (false, false, true) => MetaVersion::V2,
        (false, false, false) => MetaVersion::V1,
    };
    let content = scan_path(&args.path).with_context(|| format!("cannot read {}", args.path.display()))?;
    let piece_length = match args.piece_size {
        Some(size) => check_piece_size(size, version)?,
        None => auto_piece_length(content.total_length),
    };
    let lengths = Lengths::new(content.total_length, piece_length)
        .map_err(|e| anyhow::anyhow!("cannot make a torrent of {}: {e}", args.path.display()))?;

    // The files as found on disk, relative to the folder the scan started from.
    let canonical = std::fs::canonicalize(&args.path)
        .with_context(|| format!("cannot resolve {}", args.path.display()))?;
    let root = if content.single_file {
        canonical.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"))
    } else {
        canonical
    };
    let layout = FileLayout::new(content.files.iter().map(|(path, len)| (path.clone(), *len, false)));
    let storage = FileStorage::open_existing(&root, &layout, StorageOptions::default())
        .with_context(|| format!("cannot open the files under {}", root.display()))?;

    let (single_file, default_name) = torrent_shape(version, &content);
    let workers = args.hash_workers.map_or_else(default_hash_workers, usize::from);
    let started = Instant::now();
    let hashes = hash_content(&storage, &content, &lengths, version, workers, progress)
        .context("cannot hash the files")?;
    let xet = match args.xet.xet {
        true => Some(chunk_content(&storage, &content, workers, progress).context("cannot chunk the files")?),
        false => None,
    };
    let elapsed = started.elapsed();

    let builder = TorrentBuilder {
        version,
        name: args.name.clone().unwrap_or(default_name),
        // A single-file torrent is one entry with an empty path (the file is called `name`).
        files: if single_file { vec![(Vec::new(), content.total_length)] } else { content.files.clone() },
        piece_length,
        piece_hashes: hashes.piece_hashes,
        v2_piece_hashes: hashes.v2_piece_hashes,
        executable: content.files.iter().map(|(path, _)| is_executable(&root.join(path.join("/")))).collect(),
        trackers,
        private: args.private,
        comment: args.comment.clone(),
        created_by: Some(format!("ccbt/{}", env!("CARGO_PKG_VERSION"))),
        creation_date: now_epoch(),
        url_list: Vec::new(),
        xet: xet.map(|chunks| XetBuild { publisher, ..XetBuild::from_chunks(chunks, args.xet.xet_prev) }),
        similar: args.xet.similar.clone(),
        collections: args.xet.collections.clone(),
    };
    let bytes = builder.build().context("cannot build the torrent")?;
    let torrent = Torrent::from_bytes(&bytes).context("the built torrent does not parse")?;
    write_atomically(&args.output, &bytes, args.force)?;

    println!(
        "created {}: {}, {} pieces of {}, hashed in {} ({})",
        args.output.display(),
        human_bytes(content.total_length),
        torrent.num_pieces(),
        human_bytes(u64::from(piece_length)),
        human_elapsed(elapsed),
        human_rate(average_rate(content.total_length, elapsed))
    );
    print_info_hashes(&torrent);
    if let Some(xet) = &torrent.xet {
        let chunks: usize = torrent.xet_layers.values().map(Vec::len).sum();
        println!("xet: {} file roots, {chunks} chunks in the xet layers", xet.roots.len());
    }
    Ok(torrent)
}

/// Whether the torrent is single-file, and its default name.
fn torrent_shape(version: MetaVersion, content: &ScannedContent) -> (bool, String) {
    match content.files.as_slice() {
        // BEP 52 has no folder of one file: a v2 file tree with a single file at its root is a
        // single-file torrent, which readers name after the file (libtorrent) or the torrent
        // (ccbt). Making a torrent of the file itself is the one reading they agree on.
        [(path, _)] if version == MetaVersion::V2 && !content.single_file && path.len() == 1 => {
            let file = path.join("/");
            eprintln!(
                "note: a v2-only torrent of a folder holding one file describes that file alone; \
                 making a torrent of {file}"
            );
            (true, file)
        }
        _ => (content.single_file, content.name.clone()),
    }
}

/// The v1 piece hashes and the v2 merkle nodes of each file's pieces, as `version` needs them,
/// with a progress bar.
fn hash_content(
    storage: &FileStorage,
    content: &ScannedContent,
    lengths: &Lengths,
    version: MetaVersion,
    workers: usize,
    progress: ProgressConfig,
) -> Result<ContentHashes, StorageError> {
    let piece_length = lengths.piece_length();
    let task = TaskProgress::new(progress, "hashing", lengths.total_length());
    let hashes = if version.has_v2() {
        let file_lengths: Vec<u64> = content.files.iter().map(|(_, len)| *len).collect();
        let hybrid = version.has_v1();
        hash_aligned(storage, &file_lengths, piece_length, hybrid, workers, &|done| task.set(done))
    } else {
        let piece_bytes = u64::from(piece_length);
        let on_progress = |done: u32| task.set(u64::from(done).saturating_mul(piece_bytes));
        hash_pieces(storage, lengths, workers, &on_progress)
            .map(|piece_hashes| ContentHashes { piece_hashes, v2_piece_hashes: Vec::new() })
    };
    task.finish();
    hashes
}

/// The Xet chunks of every file of `content`, with a progress bar.
fn chunk_content(
    storage: &FileStorage,
    content: &ScannedContent,
    workers: usize,
    progress: ProgressConfig,
) -> Result<Vec<Vec<ccbt_xet::ChunkRef>>, StorageError> {
    let task = TaskProgress::new(progress, "chunking", content.total_length);
    let lengths: Vec<u64> = content.files.iter().map(|(_, len)| *len).collect();
    let chunks = chunk_files(storage, &lengths, workers, &|done| task.set(done));
    task.finish();
    chunks
}

/// The info hashes a user needs to find the torrent: the v1 one as before for a v1 torrent,
/// both (labelled) for a hybrid, the full SHA-256 for a v2-only one.
fn print_info_hashes(torrent: &Torrent) {
    match (torrent.version, torrent.info_hash_v2) {
        (MetaVersion::V1, _) | (_, None) => println!("info hash: {}", torrent.info_hash.to_hex()),
        (MetaVersion::Hybrid, Some(v2)) => {
            println!("info hash v1: {}", torrent.info_hash.to_hex());
            println!("info hash v2: {}", v2.to_hex());
        }
        (MetaVersion::V2, Some(v2)) => println!("info hash v2: {}", v2.to_hex()),
    }
}

/// One tier per `--tracker`; commas separate the URLs of one tier.
fn tracker_tiers(flags: &[String]) -> anyhow::Result<Vec<Vec<String>>> {
    let mut tiers = Vec::with_capacity(flags.len());
    for flag in flags {
        let tier: Vec<String> =
            flag.split(',').map(str::trim).filter(|url| !url.is_empty()).map(str::to_owned).collect();
        for url in &tier {
            let scheme_ok = ["http://", "https://", "udp://", "ws://", "wss://"]
                .iter()
                .any(|scheme| url.to_ascii_lowercase().starts_with(scheme));
            anyhow::ensure!(
                scheme_ok,
                "tracker `{url}` is not a tracker URL (expected http://, https:// or udp://)"
            );
        }
        if !tier.is_empty() {
            tiers.push(tier);
        }
    }
    Ok(tiers)
}

/// A `--piece-size` must be a power of two between 16 KiB and 256 MiB (BEP 3 asks for a power
/// of two and some clients reject anything else; BEP 52's merkle trees need one).
fn check_piece_size(size: u64, version: MetaVersion) -> anyhow::Result<u32> {
    let why = if version.has_v2() { " (v2 and hybrid torrents need one: BEP 52)" } else { "" };
    anyhow::ensure!(
        size.is_power_of_two() && (MIN_PIECE_SIZE..=MAX_PIECE_SIZE).contains(&size),
        "piece size {size} is not a power of two between 16 KiB and 256 MiB{why}"
    );
    u32::try_from(size).context("piece size too large")
}

/// Whether the owner may execute the file: libtorrent marks such files (BEP 47 `attr` `x`),
/// and the info hash depends on it.
#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o100 != 0)
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> bool {
    false
}

fn now_epoch() -> Option<i64> {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

/// The folder a file path is in (`.` for a bare file name).
fn output_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Whether something (even a dangling link) is at `path`.
fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn already_exists(path: &Path) -> String {
    format!("{} already exists; pass --force to replace it", path.display())
}

/// Writes `bytes` to `path` through a temporary file in the same folder, synced and renamed,
/// so `path` is never seen half-written. Without `replace`, an existing `path` is left alone
/// (the file is linked into place, which fails when the name is taken, even by a racing writer).
fn write_atomically(path: &Path, bytes: &[u8], replace: bool) -> anyhow::Result<()> {
    let file_name =
        path.file_name().with_context(|| format!("output {} is not a file name", path.display()))?;
    let dir = output_dir(path);
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        if replace {
            std::fs::rename(&tmp, path)
        } else {
            std::fs::hard_link(&tmp, path)
        }
    })();
    // Best effort: the temporary file is ours and useless now (after a link or a failure).
    let _ = std::fs::remove_file(&tmp);
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => anyhow::bail!("{}", already_exists(path)),
        Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
        Ok(()) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers() {
        let flags = vec!["http://a/announce, udp://b:1".to_owned(), "https://c/x".to_owned(), ",".to_owned()];
        assert_eq!(
            tracker_tiers(&flags).unwrap(),
            vec![
                vec!["http://a/announce".to_owned(), "udp://b:1".to_owned()],
                vec!["https://c/x".to_owned()]
            ]
        );
        assert!(tracker_tiers(&["tracker.example:80".to_owned()]).is_err());
        assert!(tracker_tiers(&[]).unwrap().is_empty());
    }

    #[test]
    fn piece_sizes() {
        use MetaVersion::{Hybrid, V1, V2};
        assert_eq!(check_piece_size(256 * 1024, V1).unwrap(), 262_144);
        assert_eq!(check_piece_size(16 * 1024, V2).unwrap(), 16_384);
        assert!(check_piece_size(8 * 1024, V1).is_err());
        assert!(check_piece_size(48 * 1024, V1).is_err());
        assert!(check_piece_size(512 * 1024 * 1024, Hybrid).is_err());
        let err = check_piece_size(48 * 1024, V2).unwrap_err().to_string();
        assert!(err.contains("49152 is not a power of two") && err.contains("BEP 52"), "{err}");
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.torrent");
        write_atomically(&out, b"one", false).unwrap();
        let err = write_atomically(&out, b"two", false).unwrap_err().to_string();
        assert!(err.contains("already exists; pass --force"), "{err}");
        assert_eq!(std::fs::read(&out).unwrap(), b"one");
        write_atomically(&out, b"two", true).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "temporary file left behind");
        assert!(write_atomically(&dir.path().join("no/such/dir/x.torrent"), b"x", true).is_err());
    }
}
