//! `ccbt info FILE.torrent`: what a torrent contains.

use std::fmt::Write as _;
use std::io::Read as _;

use anyhow::Context as _;
use ccbt_metainfo::{Torrent, MAX_TORRENT_FILE_SIZE};

use super::Exit;
use crate::args::InfoArgs;
use crate::units::{format_utc, human_bytes};

/// Files listed before "... and N more" unless `--all-files`.
const FILES_SHOWN: usize = 50;

/// Runs `ccbt info`.
pub fn run(args: &InfoArgs) -> anyhow::Result<Exit> {
    let torrent = read_torrent(&args.torrent)?;
    print!("{}", describe(&torrent, args.all_files, args.pieces_roots));
    Ok(Exit::Success)
}

/// Reads and parses a .torrent file, naming the file in errors. Reads at most one byte more
/// than [`MAX_TORRENT_FILE_SIZE`]; the parser refuses a file over the limit, naming it.
pub fn read_torrent(path: &std::path::Path) -> anyhow::Result<Torrent> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_TORRENT_FILE_SIZE as u64 + 1).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read {}", path.display()))?;
    Torrent::from_file_bytes(&bytes).with_context(|| format!("invalid torrent {}", path.display()))
}

/// The full description printed by `ccbt info`; `roots` adds each file's v2 pieces root (and
/// xet root).
fn describe(t: &Torrent, all_files: bool, roots: bool) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail, hence the ignored results below.
    let mut line = |label: &str, value: &str| {
        let _ = writeln!(out, "{label:<14}{value}");
    };
    line("name:", &t.name);
    line("version:", t.version.as_str());
    // The id ccbt goes by everywhere (the daemon, checkpoints): the SHA-1 of a v1 or hybrid
    // torrent, the truncated SHA-256 of a v2-only one.
    line("info hash:", &t.info_hash.to_hex());
    if let Some(v2) = t.info_hash_v2 {
        line("info hash v2:", &v2.to_hex());
    }
    let (data, padding) = t.files.iter().fold((0u64, 0u64), |(data, pad), f| {
        if f.is_padding {
            (data, pad + f.length)
        } else {
            (data + f.length, pad)
        }
    });
    line("total size:", &format!("{} ({data} bytes)", human_bytes(data)));
    if padding > 0 {
        line("padding:", &format!("{} ({padding} bytes) aligning files to pieces", human_bytes(padding)));
    }
    line("pieces:", &format!("{} x {}", t.num_pieces(), human_bytes(u64::from(t.piece_length))));
    line("private:", yes_no(t.private));
    if let Some(comment) = &t.comment {
        line("comment:", comment);
    }
    if let Some(created_by) = &t.created_by {
        line("created by:", created_by);
    }
    if let Some(date) = t.creation_date {
        match format_utc(date) {
            Some(text) => line("created:", &format!("{text} ({date})")),
            None => line("created:", &format!("{date} (seconds since 1970, not a valid date)")),
        }
    }

    let tiers: Vec<&Vec<String>> = t.trackers.iter().filter(|tier| !tier.is_empty()).collect();
    if tiers.is_empty() {
        let _ = writeln!(out, "trackers:     none");
    } else {
        let _ = writeln!(out, "trackers:");
        for (i, tier) in tiers.iter().enumerate() {
            let _ = writeln!(out, "  tier {}: {}", i + 1, tier.join(", "));
        }
    }
    if !t.url_list.is_empty() {
        let _ = writeln!(out, "web seeds:");
        for url in &t.url_list {
            let _ = writeln!(out, "  {url}");
        }
    }

    super::info_xet::describe_xet(t, &mut out);

    // Indices count padding files too (as libtorrent and BEP 53 do), so they are the numbers
    // `--select` and `--skip` take.
    let files: Vec<_> = t.files.iter().enumerate().filter(|(_, f)| !f.is_padding).collect();
    let padding = t.files.len() - files.len();
    let _ = write!(out, "files ({}", files.len());
    if padding > 0 {
        let _ = write!(out, ", plus {padding} padding");
    }
    let _ = writeln!(out, "; the number is the index for --select/--skip):");
    let shown = if all_files { files.len() } else { files.len().min(FILES_SHOWN) };
    let width = t.files.len().saturating_sub(1).to_string().len();
    for (index, file) in files.iter().take(shown) {
        let _ = writeln!(out, "  {index:>width$}  {:>10}  {}", human_bytes(file.length), file.path.join("/"));
        if let (true, Some(root)) = (roots, file.pieces_root) {
            let _ = writeln!(out, "  {:width$}  {:>10}  pieces root {}", "", "", hex(&root));
        }
        if let (true, Some(root)) = (roots, t.xet_root_of(*index)) {
            let _ = writeln!(out, "  {:width$}  {:>10}  xet root    {}", "", "", hex(&root));
        }
    }
    if shown < files.len() {
        let _ = writeln!(out, "  ... and {} more (--all-files lists them all)", files.len() - shown);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn yes_no(flag: bool) -> &'static str {
    if flag {
        "yes"
    } else {
        "no"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccbt_metainfo::TorrentBuilder;

    #[test]
    fn oversize_torrent_file_is_refused_naming_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.torrent");
        // Sparse: costs no disk, but a reader without a limit would allocate all of it.
        std::fs::File::create(&path).unwrap().set_len(64 * MAX_TORRENT_FILE_SIZE as u64).unwrap();
        let err = format!("{:#}", read_torrent(&path).unwrap_err());
        assert!(err.contains("larger than 10000000 bytes"), "{err}");
    }

    fn torrent(files: usize) -> Torrent {
        let piece_length = 16 * 1024;
        let files: Vec<(Vec<String>, u64)> =
            (0..files).map(|i| (vec![format!("f{i:03}.bin")], 1000)).collect();
        let total: u64 = files.iter().map(|(_, len)| len).sum();
        let pieces = total.div_ceil(piece_length) as usize;
        let bytes = TorrentBuilder {
            name: "set".into(),
            files,
            piece_length: piece_length as u32,
            piece_hashes: vec![[7; 20]; pieces],
            trackers: vec![
                vec!["http://a/announce".into(), "http://b/announce".into()],
                vec!["udp://c:6969".into()],
            ],
            private: true,
            comment: Some("hello".into()),
            created_by: Some("ccbt/test".into()),
            creation_date: Some(1_714_566_896),
            ..TorrentBuilder::default()
        }
        .build()
        .unwrap();
        Torrent::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn describes_everything() {
        let text = describe(&torrent(3), false, false);
        for expected in [
            "name:         set\n",
            "total size:   2.93 KiB (3000 bytes)\n",
            "pieces:       1 x 16.00 KiB\n",
            "private:      yes\n",
            "version:      v1\n",
            "comment:      hello\n",
            "created by:   ccbt/test\n",
            "created:      2024-05-01 12:34:56 UTC (1714566896)\n",
            "  tier 1: http://a/announce, http://b/announce\n",
            "  tier 2: udp://c:6969\n",
            "files (3; the number is the index for --select/--skip):\n",
            "  2      1000 B  set/f002.bin\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert!(!text.contains("more"));
    }

    #[test]
    fn long_file_lists_are_cut() {
        let t = torrent(60);
        let text = describe(&t, false, false);
        assert!(text.contains("  49      1000 B  set/f049.bin"));
        assert!(!text.contains("set/f050.bin"));
        assert!(text.contains("... and 10 more"));
        let all = describe(&t, true, false);
        assert!(all.contains("set/f059.bin") && !all.contains("more"));
    }

    /// A hybrid of `a.bin` (40000 bytes, two 32 KiB pieces) and `b` (5 bytes); the hashes are
    /// made up, the builder does not check them against data.
    fn hybrid() -> Torrent {
        let bytes = TorrentBuilder {
            version: ccbt_metainfo::MetaVersion::Hybrid,
            name: "pair".into(),
            files: vec![(vec!["a.bin".into()], 40_000), (vec!["b".into()], 5)],
            piece_length: 32_768,
            piece_hashes: vec![[1; 20]; 3],
            v2_piece_hashes: vec![vec![[2; 32], [3; 32]], vec![[4; 32]]],
            ..TorrentBuilder::default()
        }
        .build()
        .unwrap();
        Torrent::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn describes_v2_facts() {
        let t = hybrid();
        let v2 = t.info_hash_v2.unwrap().to_hex();
        let text = describe(&t, false, false);
        for expected in [
            "version:      hybrid\n".to_owned(),
            format!("info hash:    {}\n", t.info_hash.to_hex()),
            format!("info hash v2: {v2}\n"),
            "total size:   39.07 KiB (40005 bytes)\n".to_owned(),
            "padding:      56.93 KiB (58299 bytes) aligning files to pieces\n".to_owned(),
            "files (2, plus 2 padding; the number is the index for --select/--skip):\n".to_owned(),
            "  2         5 B  pair/b\n".to_owned(),
        ] {
            assert!(text.contains(&expected), "missing {expected:?} in\n{text}");
        }
        assert!(!text.contains("pieces root"));
        let roots = describe(&t, false, true);
        let root_b = hex(&[4; 32]);
        assert!(
            roots.contains(&format!("  2         5 B  pair/b\n                 pieces root {root_b}\n")),
            "{roots}"
        );
        assert_eq!(roots.matches("pieces root").count(), 2, "{roots}");
    }
}
