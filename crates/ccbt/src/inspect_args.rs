//! Arguments of the commands that inspect and tune the running daemon: `files`, `peers`,
//! `trackers`, `limits`, and `list`'s filters.

use clap::Args;

use crate::daemon_args::StateDirArg;

/// The largest rate `limits` takes, in KiB/s (16 GiB/s, the configuration's bound).
const MAX_KIB: u64 = 16 * 1024 * 1024;

/// `ccbt list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only torrents in this state: fetching_metadata, checking, downloading, seeding, paused or
    /// error (repeat or separate with commas for several).
    #[arg(long, value_name = "STATE", value_delimiter = ',')]
    pub state: Vec<String>,
    /// Only torrents whose name contains this text (any case).
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    #[command(flatten)]
    pub daemon: StateDirArg,
}

/// `ccbt files`.
#[derive(Debug, Args)]
pub struct FilesArgs {
    /// The torrent's info hash (or a unique prefix).
    #[arg(value_name = "INFO_HASH")]
    pub info_hash: String,
    /// Set the priority of file INDEX (or of files A-B) to skip, low, normal or high, live;
    /// repeat for more files. The torrent's checkpoint keeps it.
    #[arg(long = "priority", value_name = "INDEX=PRIORITY")]
    pub priorities: Vec<String>,
    #[command(flatten)]
    pub daemon: StateDirArg,
}

/// `ccbt peers` and `ccbt trackers`.
#[derive(Debug, Args)]
pub struct TorrentArg {
    /// The torrent's info hash (or a unique prefix).
    #[arg(value_name = "INFO_HASH")]
    pub info_hash: String,
    #[command(flatten)]
    pub daemon: StateDirArg,
}

/// `ccbt limits`.
#[derive(Debug, Args)]
pub struct LimitsCommandArgs {
    /// A torrent's info hash (or a unique prefix): its own limits; without it, the session's.
    #[arg(value_name = "INFO_HASH")]
    pub info_hash: Option<String>,
    /// Set the download limit in KiB/s (0 = unlimited).
    #[arg(long, value_name = "KIB", value_parser = clap::value_parser!(u64).range(0..=MAX_KIB))]
    pub down: Option<u64>,
    /// Set the upload limit in KiB/s (0 = unlimited).
    #[arg(long, value_name = "KIB", value_parser = clap::value_parser!(u64).range(0..=MAX_KIB))]
    pub up: Option<u64>,
    #[command(flatten)]
    pub daemon: StateDirArg,
}

#[cfg(test)]
mod tests {
    use crate::args::{Cli, Command};
    use clap::Parser as _;

    #[test]
    fn limits_take_kib_and_refuse_garbage() {
        let cli = Cli::try_parse_from(["ccbt", "limits", "abcd", "--down", "512", "--up", "0"]).unwrap();
        let Command::Limits(l) = cli.command else { panic!("not limits") };
        assert_eq!((l.info_hash.as_deref(), l.down, l.up), (Some("abcd"), Some(512), Some(0)));
        for bad in ["-1", "x", "17179869185"] {
            let e = Cli::try_parse_from(["ccbt", "limits", "--down", bad]).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn files_take_repeated_priorities_and_list_takes_states() {
        let cli =
            Cli::try_parse_from(["ccbt", "files", "ab", "--priority", "0=skip", "--priority", "2-5=high"])
                .unwrap();
        let Command::Files(f) = cli.command else { panic!("not files") };
        assert_eq!(f.priorities, ["0=skip", "2-5=high"]);
        let cli =
            Cli::try_parse_from(["ccbt", "list", "--state", "seeding,paused", "--state-dir", "/s"]).unwrap();
        let Command::List(l) = cli.command else { panic!("not list") };
        assert_eq!(l.state, ["seeding", "paused"]);
    }
}
