//! The alert service: the rules of `alerts_rules_path` evaluated every second on the live
//! session (`download`, `magnet`, `seed` and the daemon), firing and resolving logged, kept in a
//! bounded history file, offered to the API and its event stream; and the file edits that
//! `ccbt alerts add/remove` and the API share.
//!
//! The rules, conditions, evaluator and history are the pure `ccbt-alerts` crate; the values are
//! `ccbt_metrics::alert_snapshot` of the session's snapshot (the names `/metrics` publishes).

mod control;
pub mod edit;
mod runner;
mod service;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use ccbt_config::Effective;

pub use runner::AlertRunner;
pub use service::AlertService;

/// The history file, under `state_dir`.
pub const HISTORY_FILE: &str = "alerts-history.json";

/// The rules file: `alerts_rules_path`, else `alerts.toml` under `state_dir`.
pub fn rules_path(settings: &Effective) -> PathBuf {
    let config = settings.config();
    match &config.observability.alerts_rules_path {
        Some(path) => path.clone(),
        None => config.disk.state_dir.join("alerts.toml"),
    }
}

/// The history file of `settings`.
pub fn history_path(settings: &Effective) -> PathBuf {
    settings.config().disk.state_dir.join(HISTORY_FILE)
}

/// Seconds since the Unix epoch: the alerts' clock (history records are read across restarts).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `torrent` as logs and tables show a scope.
pub fn scope_name(torrent: Option<&ccbt_core::InfoHash>) -> String {
    torrent.map_or_else(|| "session".to_owned(), |t| t.to_hex())
}
