//! Hot reload of the configuration file while `download`, `magnet` or `seed` runs. Every
//! [`INTERVAL`] the file the run loaded is read again; when its text changed it is validated
//! with the same layers as at start (the `CCBT_*` environment and the flags stay as they were
//! and keep their precedence), and the changes are applied to the running session. One line per
//! change goes to stderr: applied, needing a restart (named, with the value that stays in force),
//! or shadowed by an environment variable or a flag. An invalid edit changes nothing: its errors
//! are printed (key, allowed values, file:line) and the last good configuration stays.
//!
//! Polling (the file's text, every 2 s) instead of file-system notifications: cheap, portable,
//! and it sees editors that replace the file by renaming a new one over it.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use ccbt_config::{diff, load, ConfigFile, Effective, Env, Field, Origin, Sources};
use ccbt_engine::{Reconfigured, Session};

use crate::logging;
use crate::options::{session_options, torrent_limits};
use crate::settings::{self, Settings};

/// How often the file is checked.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// The watched file, the layers above it, and the last good configuration.
pub struct Reloader {
    path: PathBuf,
    /// The environment and command-line layers of the start.
    above: Sources,
    /// The file's text when last read (valid or not): only a different text is loaded.
    seen: Option<String>,
    /// The last good configuration and the file text it came from.
    good: Effective,
    good_text: String,
    /// The configuration at start: keys that need a restart keep these values.
    start: Effective,
    /// `CCBT_LOG_LEVEL` holds a tracing filter, which stays in force over `log_level`.
    log_filter: bool,
    /// The last text read was refused (a valid one then says so even when nothing changed).
    refused: bool,
}

/// The reloader of this process's one foreground session, handed from `main` (which loaded the
/// configuration) to the session's watcher.
static OFFERED: Mutex<Option<Reloader>> = Mutex::new(None);

/// Makes the reloader available to the session this run starts.
pub fn offer(reloader: Option<Reloader>) {
    *OFFERED.lock().unwrap_or_else(|e| e.into_inner()) = reloader;
}

/// Takes the reloader (once): the first watcher of the run gets it.
pub fn claim() -> Option<Reloader> {
    OFFERED.lock().unwrap_or_else(|e| e.into_inner()).take()
}

impl Reloader {
    /// A reloader for the file `settings` came from; None without a file or with
    /// `config_reload = false`.
    pub fn new(settings: &Settings) -> Option<Reloader> {
        let file = settings.sources.file.as_ref()?;
        if !settings.effective.config().observability.config_reload {
            return None;
        }
        Some(Reloader {
            path: file.path.clone(),
            above: Sources { file: None, ..settings.sources.clone() },
            seen: Some(file.text.clone()),
            good: settings.effective.clone(),
            good_text: file.text.clone(),
            start: settings.effective.clone(),
            log_filter: settings.log_filter.is_some(),
            refused: false,
        })
    }

    /// Checks the file and applies an edit to `session`; the lines to print.
    pub fn poll(&mut self, session: &Session) -> Vec<String> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            // Reported once; an editor saving by rename makes the file vanish for a moment.
            Err(e) if self.seen.is_some() => {
                self.seen = None;
                return vec![format!(
                    "config: cannot read {} ({e}); the configuration in force stays",
                    self.path.display()
                )];
            }
            Err(_) => return Vec::new(),
        };
        if self.seen.as_deref() == Some(text.as_str()) {
            return Vec::new();
        }
        self.seen = Some(text.clone());
        let file = ConfigFile { path: self.path.clone(), text: text.clone() };
        let new = match settings::load_checked(&Sources { file: Some(file), ..self.above.clone() }) {
            Ok(new) => new,
            Err(problems) => return self.rejected(&problems),
        };
        let mut lines = self.shadowed(&text, &new);
        match self.apply(session, &new) {
            Ok(applied) => lines.extend(applied),
            Err(problem) => return self.rejected(&[problem]),
        }
        if std::mem::take(&mut self.refused) && lines.is_empty() {
            lines.push(format!("config: {} is valid again; nothing changed", self.path.display()));
        }
        self.good = new;
        self.good_text = text;
        lines
    }

    fn rejected(&mut self, problems: &[String]) -> Vec<String> {
        self.refused = true;
        let mut lines = vec![format!(
            "config: {} not applied; the last good configuration stays in force:",
            self.path.display()
        )];
        lines.extend(problems.iter().map(|problem| format!("config:   {problem}")));
        lines
    }

    /// Applies the keys that changed between the configuration in force and `new`.
    fn apply(&self, session: &Session, new: &Effective) -> Result<Vec<String>, String> {
        let changes = diff(self.good.config(), new.config());
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let report = session.reconfigure(session_options(new)).map_err(|e| e.to_string())?;
        let mut lines = Vec::new();
        for field in changes.live {
            let line = self.apply_here(field, session, new);
            lines.push(line.unwrap_or_else(|| self.engine_line(field, new, &report)));
        }
        for field in changes.restart {
            lines.push(self.restart_line(field, new));
        }
        Ok(lines)
    }

    /// Applies a live key that `SessionOptions` does not carry; None for the keys the session
    /// applies.
    fn apply_here(&self, field: &Field, session: &Session, new: &Effective) -> Option<String> {
        let (key, value) = (field.qualified_name(), field.render(new.config()));
        match field.name {
            "log_level" => Some(self.apply_log_level(field, new)),
            // No running session reads it: `ccbt checkpoints clean` reads it each time it runs.
            "checkpoint_retention_days" => {
                Some(format!("config: {key} = {value} applied (read by the commands that use it)"))
            }
            "torrent_down_kib" | "torrent_up_kib" => Some(self.apply_torrent_limit(field, session, new)),
            _ => None,
        }
    }

    /// A per-torrent limit of the file is every torrent's of this command: each running
    /// torrent takes the new rate that way, keeping its other direction.
    fn apply_torrent_limit(&self, field: &Field, session: &Session, new: &Effective) -> String {
        let (key, value) = (field.qualified_name(), field.render(new.config()));
        let wanted = torrent_limits(new);
        for torrent in session.torrents() {
            let Ok(mut limits) = session.torrent_limits(torrent.id) else { continue };
            match field.name {
                "torrent_down_kib" => limits.download = wanted.download,
                _ => limits.upload = wanted.upload,
            }
            // A torrent removed meanwhile has no limits to set.
            let _ = session.set_torrent_limits(torrent.id, limits);
        }
        format!("config: {key} = {value} applied (to every torrent)")
    }

    /// What the session did with a live key.
    fn engine_line(&self, field: &Field, new: &Effective, report: &Reconfigured) -> String {
        let (key, value) = (field.qualified_name(), field.render(new.config()));
        if report.applied.contains(&field.name) {
            let later = matches!(field.name, "download_dir" | "streaming_mode");
            let note = if later { " (to torrents added from now on)" } else { "" };
            format!("config: {key} = {value} applied{note}")
        } else {
            // The session could not take it now (the DHT turned on in a session started without it).
            self.restart_line(field, new)
        }
    }

    /// A key the running session keeps at its value from the start.
    fn restart_line(&self, field: &Field, new: &Effective) -> String {
        let (key, value) = (field.qualified_name(), field.render(new.config()));
        if field.same(self.start.config(), new.config()) {
            format!("config: {key} = {value}, the value in force again (no restart needed)")
        } else {
            let running = field.render(self.start.config());
            format!("config: {key} = {value} needs a restart; {running} stays in force until then")
        }
    }

    fn apply_log_level(&self, field: &Field, new: &Effective) -> String {
        let (key, value) = (field.qualified_name(), field.render(new.config()));
        if self.log_filter {
            let filter = settings::LOG_ENV;
            return format!(
                "config: {key} = {value} not applied: {filter} holds a tracing filter, which stays in force"
            );
        }
        match logging::set_level(new.config().observability.log_level) {
            Ok(()) => format!("config: {key} = {value} applied"),
            Err(e) => format!("config: {key} = {value} not applied: {e}"),
        }
    }

    /// Keys whose value in the file changed while an environment variable or a flag sets them:
    /// they keep the higher layer's value, and the user is told.
    fn shadowed(&self, text: &str, new: &Effective) -> Vec<String> {
        let env: Env =
            self.above.env.iter().filter(|(k, _)| !k.starts_with("CCBT_")).map(clone_pair).collect();
        let file_alone = |text: &str| {
            let file = ConfigFile { path: self.path.clone(), text: text.to_owned() };
            load(&Sources { file: Some(file), env: env.clone(), cli: Vec::new() }).ok()
        };
        let (Some(before), Some(after)) = (file_alone(&self.good_text), file_alone(text)) else {
            return Vec::new();
        };
        let changes = diff(before.config(), after.config());
        changes
            .live
            .into_iter()
            .chain(changes.restart)
            .filter_map(|field| {
                let origin = new.origin(field.name)?;
                matches!(origin, Origin::Env { .. } | Origin::Cli).then(|| {
                    format!(
                        "config: {} changed in {} but the {origin} sets it; {} stays in force",
                        field.qualified_name(),
                        self.path.display(),
                        field.render(new.config())
                    )
                })
            })
            .collect()
    }
}

fn clone_pair((k, v): (&String, &String)) -> (String, String) {
    (k.clone(), v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(file: Option<&str>, cli: &[(&str, &str)]) -> Settings {
        let file = file.map(|text| ConfigFile { path: "ccbt.toml".into(), text: text.into() });
        let cli = cli.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let sources = Sources { file, cli, ..Sources::default() };
        let effective = load(&sources).unwrap();
        Settings { effective, sources, log_filter: None }
    }

    #[test]
    fn only_a_loaded_file_with_reload_on_is_watched() {
        assert!(Reloader::new(&settings(Some("[network]\nmax_peers_per_torrent = 9\n"), &[])).is_some());
        assert!(Reloader::new(&settings(None, &[])).is_none(), "no file, nothing to watch");
        let off = "[observability]\nconfig_reload = false\n";
        assert!(Reloader::new(&settings(Some(off), &[])).is_none());
        assert!(Reloader::new(&settings(Some(""), &[("config_reload", "false")])).is_none());
        use clap::Parser as _;
        let cli =
            crate::args::Cli::try_parse_from(["ccbt", "--no-config-reload", "seed", "x.torrent"]).unwrap();
        assert!(settings::flag_overrides(&cli).contains(&("config_reload".into(), "false".into())));
    }

    #[test]
    fn keys_set_above_the_file_are_reported_as_shadowed() {
        let start =
            settings(Some("[network]\nmax_peers_per_torrent = 9\n"), &[("max_peers_per_torrent", "4")]);
        let reloader = Reloader::new(&start).unwrap();
        let text = "[network]\nmax_peers_per_torrent = 12\n";
        let file = ConfigFile { path: "ccbt.toml".into(), text: text.into() };
        let new = load(&Sources { file: Some(file), ..reloader.above.clone() }).unwrap();
        assert_eq!(new.config().network.max_peers_per_torrent, 4);
        assert_eq!(
            reloader.shadowed(text, &new),
            ["config: network.max_peers_per_torrent changed in ccbt.toml but the command line sets it; 4 stays in force"]
        );
        assert!(reloader.shadowed("[network]\nmax_peers_per_torrent = 9\n", &new).is_empty());
    }

    /// The live keys [`Reloader::apply_here`] applies.
    const APPLIED_HERE: &[&str] =
        &["log_level", "checkpoint_retention_days", "torrent_down_kib", "torrent_up_kib"];

    /// A value different from the default for each key (None: the key has one allowed value).
    fn another_value(field: &Field, defaults: &Effective) -> Option<String> {
        Some(match field.name {
            "listen_host" => "127.0.0.1".to_owned(),
            "download_dir" | "state_dir" => "/elsewhere".to_owned(),
            "dht_bootstrap_nodes" => "x.example:1".to_owned(),
            "piece_selection" => "sequential".to_owned(),
            "preallocate" => "full".to_owned(),
            "log_level" => "trace".to_owned(),
            "block_size_kib" => return None,
            _ => match field.toml_value(defaults.config()) {
                v if v.as_bool().is_some() => (!v.as_bool()?).to_string(),
                v => (v.as_integer()? + 1).to_string(),
            },
        })
    }

    /// The schema's reload class and what the session really does agree for every key: a key
    /// marked live is applied by `Session::reconfigure` (or here: `log_level`, and the keys only
    /// commands read), one marked restart is never applied live (this module names it from the
    /// schema), so none is silently ignored.
    #[test]
    fn every_live_key_is_applied_and_every_restart_key_reported() {
        let defaults = load(&Sources::default()).unwrap();
        let before = session_options(&defaults);
        for field in ccbt_config::FIELDS {
            let Some(value) = another_value(field, &defaults) else { continue };
            let cli = vec![(field.name.to_owned(), value)];
            let changed = load(&Sources { cli, ..Sources::default() }).unwrap();
            let (_, report) = before.merge_live(&session_options(&changed));
            let qualified = field.qualified_name();
            if APPLIED_HERE.contains(&field.name) {
                assert!(report.is_empty(), "{qualified}: {report:?}");
                continue;
            }
            match field.apply {
                ccbt_config::Apply::Live => {
                    assert_eq!(report.applied, [field.name], "{qualified}: {report:?}");
                    assert!(report.needs_restart.is_empty(), "{qualified}: {report:?}");
                }
                // A key the session has no option for (`config_reload`) reports nothing; one that
                // others derive from (`state_dir`: `checkpoint_dir`) reports them too.
                ccbt_config::Apply::Restart => {
                    assert!(report.applied.is_empty(), "{qualified}: {report:?}");
                    let named = report.needs_restart.is_empty() || report.needs_restart.contains(&field.name);
                    assert!(named, "{qualified}: {report:?}");
                }
            }
        }
    }

    #[test]
    fn a_restart_key_names_the_value_in_force_since_the_start() {
        let start = settings(Some("[disk]\nhash_workers = 2\n"), &[]);
        let mut reloader = Reloader::new(&start).unwrap();
        let field = ccbt_config::field("hash_workers").unwrap();
        let seven =
            load(&Sources { cli: vec![("hash_workers".into(), "7".into())], ..Sources::default() }).unwrap();
        assert_eq!(
            reloader.restart_line(field, &seven),
            "config: disk.hash_workers = 7 needs a restart; 2 stays in force until then"
        );
        reloader.good = seven;
        assert_eq!(
            reloader.restart_line(field, &start.effective),
            "config: disk.hash_workers = 2, the value in force again (no restart needed)"
        );
    }
}
