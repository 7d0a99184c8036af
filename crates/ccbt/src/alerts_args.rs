//! Arguments of `ccbt alerts list | add | remove | test | history`.

use clap::{Args, Subcommand};

use crate::daemon_args::StateDirArg;

pub const ALERTS_HELP: &str = "\
Rules live in a TOML file of [[rule]] tables: `alerts_rules_path` of the configuration, else
alerts.toml under `state_dir` (~/.local/state/ccbt/alerts.toml). With a daemon running, these
commands act through its API and the daemon applies a change at once; without one they read and
edit the file (and the history, alerts-history.json under `state_dir`), so rules can be prepared
before a session starts. `download`, `magnet` and `seed` evaluate the rules too, and pick up an
edit of the file within a second.

A condition compares `value` with a number, optionally with a unit (B, kB, MB, GB, KiB, MiB,
GiB, optionally /s): `value < 10 KiB`, `value >= 3 and value != 7`, `not (value > 1.5)`.
Metrics are the names /metrics publishes: ccbt_download_rate_bytes_per_second,
ccbt_connected_peers, ccbt_disk_queue_depth, ... (session-wide) and ccbt_torrent_* (per torrent;
--torrent IH watches one, otherwise each torrent is watched on its own).

Examples:
  ccbt alerts add --name slow --metric ccbt_download_rate_bytes_per_second \\
      --condition 'value < 10 KiB' --for 60 --cooldown 300
  ccbt alerts list                      rules and their state: ok, pending, firing
  ccbt alerts test --name slow --value '5 KiB'
  ccbt alerts history                   fired and resolved alerts, oldest first
  ccbt alerts remove slow";

/// `ccbt alerts ...`.
#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// List the rules (with a daemon running: each one's state, and the alerts firing).
    List(AlertsListArgs),
    /// Add a rule, checked exactly as the rules file is.
    Add(AlertsAddArgs),
    /// Remove a rule by name (its firing alerts resolve).
    Remove(AlertsRemoveArgs),
    /// Say whether a rule's condition holds for a value.
    Test(AlertsTestArgs),
    /// Show the fired and resolved alerts, oldest first.
    History(AlertsHistoryArgs),
}

impl AlertsCommand {
    pub fn daemon(&self) -> &StateDirArg {
        match self {
            AlertsCommand::List(a) => &a.daemon,
            AlertsCommand::Add(a) => &a.daemon,
            AlertsCommand::Remove(a) => &a.daemon,
            AlertsCommand::Test(a) => &a.daemon,
            AlertsCommand::History(a) => &a.daemon,
        }
    }
}

#[derive(Debug, Args)]
pub struct AlertsListArgs {
    /// Print JSON (`GET /api/v1/alerts`) instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub daemon: StateDirArg,
}

#[derive(Debug, Args)]
pub struct AlertsAddArgs {
    /// Unique name: letters, digits, `_`, `-`, `.` (at most 64).
    #[arg(long)]
    pub name: String,
    /// The metric, as /metrics names it (e.g. ccbt_download_rate_bytes_per_second).
    #[arg(long)]
    pub metric: String,
    /// When the alert fires, e.g. 'value < 10 KiB' (quote it in the shell).
    #[arg(long)]
    pub condition: String,
    /// info, warning or critical [default: warning].
    #[arg(long)]
    pub severity: Option<String>,
    /// After the alert resolves, it does not fire again for this long [default: 300].
    #[arg(long, value_name = "SECS")]
    pub cooldown: Option<u64>,
    /// The condition must hold this long before the alert fires [default: 0].
    #[arg(long = "for", value_name = "SECS")]
    pub for_secs: Option<u64>,
    /// Watch only this torrent (info hash; per-torrent metrics only).
    #[arg(long, value_name = "INFO_HASH")]
    pub torrent: Option<String>,
    #[command(flatten)]
    pub daemon: StateDirArg,
}

#[derive(Debug, Args)]
pub struct AlertsRemoveArgs {
    /// The rule's name.
    pub name: String,
    #[command(flatten)]
    pub daemon: StateDirArg,
}

#[derive(Debug, Args)]
pub struct AlertsTestArgs {
    /// The rule's name.
    #[arg(long)]
    pub name: String,
    /// A number, optionally with a unit: 5000, '5 KiB', 1.5MB.
    #[arg(long)]
    pub value: String,
    #[command(flatten)]
    pub daemon: StateDirArg,
}

#[derive(Debug, Args)]
pub struct AlertsHistoryArgs {
    /// Print JSON (`GET /api/v1/alerts/history`) instead of lines.
    #[arg(long)]
    pub json: bool,
    /// Only the newest N records.
    #[arg(long, value_name = "N")]
    pub last: Option<usize>,
    #[command(flatten)]
    pub daemon: StateDirArg,
}
