//! Arguments of `ccbt recheck` and `ccbt reannounce`: operations on one torrent of the running
//! daemon.

use clap::Args;

use crate::daemon_args::StateDirArg;

/// `ccbt recheck` and `ccbt reannounce`: one torrent.
#[derive(Debug, Args)]
pub struct TorrentOpArgs {
    /// The torrent's info hash (or a unique prefix).
    #[arg(value_name = "INFO_HASH")]
    pub info_hash: String,
    #[command(flatten)]
    pub daemon: StateDirArg,
}

#[cfg(test)]
mod tests {
    use crate::args::{Cli, Command};
    use clap::Parser as _;

    #[test]
    fn recheck_reannounce_and_remove_with_data_parse() {
        let cli = Cli::try_parse_from(["ccbt", "recheck", "abcd", "--state-dir", "/s"]).unwrap();
        assert!(
            matches!(cli.command, Command::Recheck(a) if a.info_hash == "abcd" && a.daemon.state_dir.is_some())
        );
        let cli = Cli::try_parse_from(["ccbt", "reannounce", "abcd"]).unwrap();
        assert!(matches!(cli.command, Command::Reannounce(a) if a.info_hash == "abcd"));
        let cli = Cli::try_parse_from(["ccbt", "remove", "abcd", "--delete-data"]).unwrap();
        assert!(matches!(cli.command, Command::Remove(a) if a.delete_data));
        assert!(Cli::try_parse_from(["ccbt", "recheck"]).is_err(), "the info hash is required");
    }
}
