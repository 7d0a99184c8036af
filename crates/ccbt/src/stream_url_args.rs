//! Arguments of `ccbt stream-url`.

use clap::Args;

use crate::daemon_args::StateDirArg;

pub const STREAM_URL_HELP: &str = "\
A signed URL streams one file of a torrent of the running daemon, with byte ranges, while it
downloads, to any player: no Authorization header is needed. It opens that one file only, and
stops working when the daemon restarts (the daemon's API token changes at every start).

Examples:
  ccbt stream-url 3f2a                      every file: INDEX, URL and path, tab-separated
  mpv \"$(ccbt stream-url 3f2a 0)\"           play file 0 while it downloads";

/// `ccbt stream-url`.
#[derive(Debug, Args)]
pub struct StreamUrlArgs {
    /// The torrent's info hash (or a unique prefix).
    #[arg(value_name = "INFO_HASH")]
    pub info_hash: String,
    /// The file's index (from 0, as `ccbt info` lists them); without it, every file's URL.
    #[arg(value_name = "INDEX")]
    pub index: Option<u32>,
    #[command(flatten)]
    pub daemon: StateDirArg,
}

#[cfg(test)]
mod tests {
    use crate::args::{Cli, Command};
    use clap::Parser as _;

    #[test]
    fn stream_url_takes_a_hash_and_maybe_an_index() {
        let cli = Cli::try_parse_from(["ccbt", "stream-url", "3f2a", "2"]).unwrap();
        let Command::StreamUrl(args) = cli.command else { panic!("not stream-url") };
        assert_eq!((args.info_hash.as_str(), args.index), ("3f2a", Some(2)));
        let cli = Cli::try_parse_from(["ccbt", "stream-url", "3f2a", "--state-dir", "/s"]).unwrap();
        let Command::StreamUrl(args) = cli.command else { panic!("not stream-url") };
        assert_eq!(args.index, None);
        assert_eq!(args.daemon.state_dir.as_deref(), Some(std::path::Path::new("/s")));
        assert_eq!(Cli::try_parse_from(["ccbt", "stream-url"]).unwrap_err().exit_code(), 2);
        assert_eq!(Cli::try_parse_from(["ccbt", "stream-url", "3f2a", "-1"]).unwrap_err().exit_code(), 2);
    }
}
