//! `ccbt stream-url INFO_HASH [INDEX]`: the signed streaming URLs of a torrent of the running
//! daemon, for players that cannot send the API token (see docs/api.md).

use std::path::Path;

use super::{remote, Exit};
use crate::stream_url_args::StreamUrlArgs;

pub fn run(args: &StreamUrlArgs, state_dir: &Path) -> anyhow::Result<Exit> {
    let daemon = remote::connect(state_dir)?;
    match args.index {
        // The URL alone, so `mpv "$(ccbt stream-url 3f2a 0)"` works.
        Some(index) => println!("{}", daemon.stream_url(&args.info_hash, index)?.url),
        None => {
            let list = daemon.stream_urls(&args.info_hash)?;
            if list.files.is_empty() {
                println!("torrent {} has no files to stream", list.info_hash);
            }
            for file in list.files {
                println!("{}\t{}\t{}", file.index, file.url, printable(&file.path));
            }
        }
    }
    Ok(Exit::Success)
}

/// A file path for one output line: control characters (a tab or newline in a torrent's
/// file name would break the columns) become `?`, as in `ccbt list`.
fn printable(path: &Path) -> String {
    path.to_string_lossy().chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_on_one_line() {
        assert_eq!(printable(Path::new("a/b c.mkv")), "a/b c.mkv");
        assert_eq!(printable(Path::new("a\tb\nc")), "a?b?c");
    }
}
