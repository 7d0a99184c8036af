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

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use ccbt_config::{diff, load, ConfigFile, Effective, Env, Field, Origin, Sources};
use ccbt_engine::{Reconfigured, Session};

use crate::logging;
use crate::options::{session_options, torrent_limits};
use crate::settings::{self, Problems, Settings};

/// How often the file is checked.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// What became of one key an edit changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// `section.key`.
    pub key: String,
    /// Its new value, as the file writes it.
    pub value: String,
    pub status: ChangeStatus,
    /// The report line (`config: ...`).
    pub line: String,
}

/// How a changed key was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeStatus {
    /// In force now (also: back to the value in force since the start).
    Applied,
    /// In force after a restart; the value of the start stays until then.
    RestartRequired,
    /// An environment variable or a flag sets the key, and stays in force.
    Shadowed,
    /// Valid, but it could not be applied (the message says why).
    NotApplied,
}

impl ChangeStatus {
    /// The API's word for it.
    pub fn word(self) -> &'static str {
        match self {
            ChangeStatus::Applied => "applied",
            ChangeStatus::RestartRequired => "restart_required",
            ChangeStatus::Shadowed => "shadowed",
            ChangeStatus::NotApplied => "not_applied",
        }
    }
}

fn change(field: &Field, new: &Effective, status: ChangeStatus, line: String) -> Change {
    Change { key: field.qualified_name(), value: field.render(new.config()), status, line }
}

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

/// The settings of this run, for the daemon (which edits the file through its API even where
/// no reloader watches it).
static SETTINGS: Mutex<Option<Settings>> = Mutex::new(None);

/// Keeps the settings this run loaded for the daemon.
pub fn offer_settings(settings: &Settings) {
    *SETTINGS.lock().unwrap_or_else(|e| e.into_inner()) = Some(settings.clone());
}

/// Takes the settings offered (once).
pub fn claim_settings() -> Option<Settings> {
    SETTINGS.lock().unwrap_or_else(|e| e.into_inner()).take()
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

    /// A reloader of the file at `path` whatever the settings say (the daemon's: its API edits
    /// the file even when nobody watches it, and the file may not exist yet).
    pub fn editable(settings: &Settings, path: PathBuf) -> Reloader {
        let loaded = settings.sources.file.as_ref().filter(|f| f.path == path).map(|f| f.text.clone());
        Reloader {
            path,
            above: Sources { file: None, ..settings.sources.clone() },
            seen: loaded.clone(),
            good: settings.effective.clone(),
            good_text: loaded.unwrap_or_default(),
            start: settings.effective.clone(),
            log_filter: settings.log_filter.is_some(),
            refused: false,
        }
    }

    /// The file this reloader reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration in force.
    pub fn current(&self) -> &Effective {
        &self.good
    }

    /// The environment and command-line layers above the file.
    pub fn above(&self) -> &Sources {
        &self.above
    }

    /// Takes `text`, just written to the file, as its new contents (so the next poll does not
    /// report it again) and applies it like an edit.
    pub fn adopt(&mut self, session: &Session, text: String) -> Result<Vec<Change>, Problems> {
        self.seen = Some(text.clone());
        let changes = self.take(session, text)?;
        self.refused = false;
        Ok(changes)
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
        let mut lines: Vec<String> = match self.take(session, text) {
            Ok(changes) => changes.into_iter().map(|c| c.line).collect(),
            Err(problems) => return self.rejected(&problems),
        };
        if std::mem::take(&mut self.refused) && lines.is_empty() {
            lines.push(format!("config: {} is valid again; nothing changed", self.path.display()));
        }
        lines
    }

    /// Validates `text` as the file's contents and applies what changed; the problems of an
    /// invalid text (nothing applied, the last good configuration stays).
    fn take(&mut self, session: &Session, text: String) -> Result<Vec<Change>, Problems> {
        let file = ConfigFile { path: self.path.clone(), text: text.clone() };
        let new = settings::load_checked(&Sources { file: Some(file), ..self.above.clone() })?;
        let mut changes = self.shadowed(&text, &new);
        changes.extend(self.apply(session, &new).map_err(|problem| vec![problem])?);
        self.good = new;
        self.good_text = text;
        Ok(changes)
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
    fn apply(&self, session: &Session, new: &Effective) -> Result<Vec<Change>, String> {
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
    fn apply_here(&self, field: &Field, session: &Session, new: &Effective) -> Option<Change> {
        let (key, value) = (field.qualified_name(), field.render(new.config()));
        match field.name {
            "log_level" => Some(self.apply_log_level(field, new)),
            // No running session reads it: `ccbt checkpoints clean` reads it each time it runs.
            "checkpoint_retention_days" => Some(change(
                field,
                new,
                ChangeStatus::Applied,
                format!("config: {key} = {value} applied (read by the commands that use it)"),
            )),
            "torrent_down_kib" | "torrent_up_kib" => Some(self.apply_torrent_limit(field, session, new)),
            _ => None,
        }
    }

    /// A per-torrent limit of the file is every torrent's of this command: each running
    /// torrent takes the new rate that way, keeping its other direction.
    fn apply_torrent_limit(&self, field: &Field, session: &Session, new: &Effective) -> Change {
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
        change(
            field,
            new,
            ChangeStatus::Applied,
            format!("config: {key} = {value} applied (to every torrent)"),
        )
    }

    /// What the session did with a live key.
    fn engine_line(&self, field: &Field, new: &Effective, report: &Reconfigured) -> Change {
        let (key, value) = (field.qualified_name(), field.render(new.config()));
        if report.applied.contains(&field.name) {
            let later = matches!(field.name, "download_dir" | "streaming_mode");
            let note = if later { " (to torrents added from now on)" } else { "" };
            change(field, new, ChangeStatus::Applied, format!("config: {key} = {value} applied{note}"))
        } else {
            // The session could not take it now (the DHT turned on in a session started without it).
            self.restart_line(field, new)
        }
    }

    /// A key the running session keeps at its value from the start.
    fn restart_line(&self, field: &Field, new: &Effective) -> Change {
        let (key, value) = (field.qualified_name(), field.render(new.config()));
        if field.same(self.start.config(), new.config()) {
            let line = format!("config: {key} = {value}, the value in force again (no restart needed)");
            change(field, new, ChangeStatus::Applied, line)
        } else {
            let running = field.render(self.start.config());
            let line =
                format!("config: {key} = {value} needs a restart; {running} stays in force until then");
            change(field, new, ChangeStatus::RestartRequired, line)
        }
    }

    fn apply_log_level(&self, field: &Field, new: &Effective) -> Change {
        let (key, value) = (field.qualified_name(), field.render(new.config()));
        if self.log_filter {
            let filter = settings::LOG_ENV;
            let line = format!(
                "config: {key} = {value} not applied: {filter} holds a tracing filter, which stays in force"
            );
            return change(field, new, ChangeStatus::Shadowed, line);
        }
        match logging::set_level(new.config().observability.log_level) {
            Ok(()) => change(field, new, ChangeStatus::Applied, format!("config: {key} = {value} applied")),
            Err(e) => change(
                field,
                new,
                ChangeStatus::NotApplied,
                format!("config: {key} = {value} not applied: {e}"),
            ),
        }
    }

    /// Keys whose value in the file changed while an environment variable or a flag sets them:
    /// they keep the higher layer's value, and the user is told.
    fn shadowed(&self, text: &str, new: &Effective) -> Vec<Change> {
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
                    let line = format!(
                        "config: {} changed in {} but the {origin} sets it; {} stays in force",
                        field.qualified_name(),
                        self.path.display(),
                        field.render(new.config())
                    );
                    let in_file = after.config();
                    Change {
                        key: field.qualified_name(),
                        value: field.render(in_file),
                        status: ChangeStatus::Shadowed,
                        line,
                    }
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
        let shadowed = reloader.shadowed(text, &new);
        assert_eq!(
            shadowed.iter().map(|c| c.line.as_str()).collect::<Vec<_>>(),
            ["config: network.max_peers_per_torrent changed in ccbt.toml but the command line sets it; 4 stays in force"]
        );
        assert_eq!((shadowed[0].status, shadowed[0].value.as_str()), (ChangeStatus::Shadowed, "12"));
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
        let restart = reloader.restart_line(field, &seven);
        assert_eq!(
            restart.line,
            "config: disk.hash_workers = 7 needs a restart; 2 stays in force until then"
        );
        assert_eq!(restart.status, ChangeStatus::RestartRequired);
        reloader.good = seven;
        let again = reloader.restart_line(field, &start.effective);
        assert_eq!(again.line, "config: disk.hash_workers = 2, the value in force again (no restart needed)");
        assert_eq!(again.status, ChangeStatus::Applied);
    }
}
