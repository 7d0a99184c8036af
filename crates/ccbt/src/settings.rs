//! The configuration of one run, through ccbt-config: defaults < file (`--config F`, else
//! `./ccbt.toml`, else `$XDG_CONFIG_HOME/ccbt/ccbt.toml`) < `CCBT_*` environment < flags. Each
//! flag the user gave becomes a `(key, value)` override of the command-line layer, so a value has
//! one name and one origin whichever way it was set.

use std::path::{Path, PathBuf};

use ccbt_config::{fs, load, Effective, Env, Origin, Sources};
use clap::ValueEnum;

use crate::args::{
    CheckpointArgs, Cli, Command, DaemonCommand, DhtCommand, DirArg, DiscoveryArgs, EngineArgs, GlobalArgs,
    StateDirArg,
};
use crate::xet_args::XetCommand;

/// The variable that, besides a level, may hold a tracing filter (`warn,ccbt_engine=debug`).
pub const LOG_ENV: &str = "CCBT_LOG_LEVEL";

/// The effective configuration of this run.
#[derive(Clone)]
pub struct Settings {
    pub effective: Effective,
    /// The layers it was loaded from (hot reload re-reads the file and keeps the others).
    pub sources: Sources,
    /// A tracing filter from `CCBT_LOG_LEVEL` when it holds one instead of a level (then it is not
    /// part of the configuration, and `log_level` keeps its other layers).
    pub log_filter: Option<String>,
}

/// Every problem, one message each (key, allowed values, origin).
pub type Problems = Vec<String>;

/// Loads the configuration for `cli`: its file, the environment and the flags it was given.
pub fn load_for(cli: &Cli) -> Result<Settings, Problems> {
    let mut env = fs::process_env();
    let log_filter = take_log_filter(&mut env, cli.global.log_level.is_some());
    let file = fs::read_config_file(cli.global.config.as_deref(), &env).map_err(|e| vec![e.to_string()])?;
    let mut cli_layer = flag_overrides(cli);
    let below_flags = Sources { file: file.clone(), env: env.clone(), cli: Vec::new() };
    if let Ok(below_flags) = load(&below_flags) {
        raise_max_pipeline(&mut cli_layer, &below_flags);
    }
    let sources = Sources { file, env, cli: cli_layer };
    let effective = load_checked(&sources)?;
    Ok(Settings { effective, sources, log_filter })
}

/// The layers, with every problem of them as a line.
pub fn load_checked(sources: &Sources) -> Result<Effective, Problems> {
    load(sources).map_err(|errors| errors.0.iter().map(ToString::to_string).collect::<Problems>())
}

/// `config validate FILE`: that file alone over the defaults (no `CCBT_*` variables, no flags).
pub fn validate_file(path: &Path) -> Result<Effective, Problems> {
    let env: Env = fs::process_env().into_iter().filter(|(name, _)| !name.starts_with("CCBT_")).collect();
    let file = fs::read_config_file(Some(path), &env).map_err(|e| vec![e.to_string()])?;
    load_checked(&Sources { file, env, cli: Vec::new() })
}

/// `config validate` without a file: what ccbt would read (the file found or named, and the
/// `CCBT_*` variables), without flags.
pub fn validate_system(explicit: Option<&Path>) -> Result<Effective, Problems> {
    let mut env = fs::process_env();
    take_log_filter(&mut env, false);
    let file = fs::read_config_file(explicit, &env).map_err(|e| vec![e.to_string()])?;
    load_checked(&Sources { file, env, cli: Vec::new() })
}

/// The file `config set` writes: `--config F`, else the file ccbt reads now, else the user's
/// file (`$XDG_CONFIG_HOME/ccbt/ccbt.toml`), else `./ccbt.toml` when there is no home folder.
pub fn file_to_edit(explicit: Option<&Path>) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_path_buf();
    }
    let candidates = fs::candidate_paths(&fs::process_env());
    match candidates.iter().find(|path| path.is_file()) {
        Some(path) => path.clone(),
        None => candidates.last().cloned().unwrap_or_else(|| PathBuf::from(fs::FILE_NAME)),
    }
}

/// The file ccbt reads now, if any (for `config validate` without a file).
pub fn file_in_use(explicit: Option<&Path>) -> Option<PathBuf> {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| fs::candidate_paths(&fs::process_env()).into_iter().find(|path| path.is_file()))
}

/// `CCBT_LOG_LEVEL` holding a tracing filter rather than a level is taken out of the
/// configuration's environment and returned (unless `--log-level` wins anyway).
fn take_log_filter(env: &mut Env, flag_given: bool) -> Option<String> {
    let value = env.get(LOG_ENV)?.trim().to_owned();
    let is_level = ccbt_config::LogLevel::WORDS.contains(&value.to_ascii_lowercase().as_str())
        || value.eq_ignore_ascii_case("warning");
    if is_level {
        if value.eq_ignore_ascii_case("warning") {
            env.insert(LOG_ENV.to_owned(), "warn".to_owned());
        }
        return None;
    }
    env.remove(LOG_ENV);
    (!flag_given && !value.is_empty()).then_some(value)
}

/// `--pipeline-depth N` above the maximum of the lower layers raises the maximum with it when
/// nobody set the maximum (the adaptive pipeline starts at N and may only grow).
fn raise_max_pipeline(cli: &mut Vec<(String, String)>, below: &Effective) {
    let depth = cli.iter().rev().find(|(key, _)| key == "pipeline_depth");
    let Some(depth) = depth.and_then(|(_, value)| value.parse::<u32>().ok()) else { return };
    let untouched = below.origin("max_pipeline_depth") == Some(&Origin::Default);
    if untouched && depth > below.config().network.max_pipeline_depth {
        cli.push(("max_pipeline_depth".into(), depth.to_string()));
    }
}

/// The flags of `cli` that the user gave, as `(key, value)` overrides.
pub fn flag_overrides(cli: &Cli) -> Vec<(String, String)> {
    let mut out = global_overrides(&cli.global);
    match &cli.command {
        Command::Download(args) => {
            dir_override(&mut out, &args.common.dir);
            checkpoint_overrides(&mut out, &args.common.checkpoints);
            engine_overrides(&mut out, &args.common.engine);
            push(&mut out, "streaming_mode", args.common.streaming.then_some(true));
        }
        Command::Magnet(args) => {
            dir_override(&mut out, &args.common.dir);
            checkpoint_overrides(&mut out, &args.common.checkpoints);
            engine_overrides(&mut out, &args.common.engine);
        }
        Command::Resume(args) => {
            dir_override(&mut out, &args.common.dir);
            checkpoint_overrides(&mut out, &args.common.checkpoints);
            engine_overrides(&mut out, &args.common.engine);
            push(&mut out, "streaming_mode", args.common.streaming.then_some(true));
        }
        Command::Stream(args) => {
            dir_override(&mut out, &args.dir);
            engine_overrides(&mut out, &args.engine);
        }
        Command::Seed(args) => {
            dir_override(&mut out, &args.dir);
            checkpoint_overrides(&mut out, &args.checkpoints);
            engine_overrides(&mut out, &args.engine);
        }
        Command::Verify(args) => dir_override(&mut out, &args.dir),
        Command::Dht(DhtCommand::Status(args)) => {
            push(&mut out, "dht_port", args.dht_port);
            push_list(&mut out, "dht_bootstrap_nodes", &args.dht_bootstrap);
            push(&mut out, "state_dir", args.state_dir.as_ref().map(|d| d.display()));
        }
        Command::Checkpoints(args) => {
            push(&mut out, "checkpoint_dir", args.checkpoint_dir.as_ref().map(|d| d.display()));
        }
        Command::Daemon(DaemonCommand::Start(args)) => {
            dir_override(&mut out, &args.dir);
            checkpoint_overrides(&mut out, &args.checkpoints);
            discovery_overrides(&mut out, &args.discovery);
            push(&mut out, "listen_port", args.listen_port);
            push(&mut out, "api_port", args.api_port);
            push(&mut out, "global_down_kib", args.limits.down_limit);
            push(&mut out, "global_up_kib", args.limits.up_limit);
        }
        Command::Daemon(DaemonCommand::Status(at) | DaemonCommand::Stop(at)) => {
            state_dir_override(&mut out, at);
        }
        Command::List(args) => state_dir_override(&mut out, &args.daemon),
        Command::Files(args) => state_dir_override(&mut out, &args.daemon),
        Command::Peers(args) => state_dir_override(&mut out, args.daemon()),
        Command::Trackers(args) => state_dir_override(&mut out, &args.daemon),
        Command::Limits(args) => state_dir_override(&mut out, &args.daemon),
        Command::Add(args) => state_dir_override(&mut out, &args.daemon),
        Command::Status(args) => state_dir_override(&mut out, &args.daemon),
        Command::Pause(args) => state_dir_override(&mut out, &args.daemon),
        Command::Remove(args) => state_dir_override(&mut out, &args.daemon),
        Command::StreamUrl(args) => state_dir_override(&mut out, &args.daemon),
        Command::Recheck(args) | Command::Reannounce(args) => state_dir_override(&mut out, &args.daemon),
        Command::Dashboard(at) => state_dir_override(&mut out, at),
        Command::Alerts(command) => state_dir_override(&mut out, command.daemon()),
        Command::Xet(XetCommand::Publish(args)) => engine_overrides(&mut out, &args.engine),
        Command::Xet(XetCommand::Follow(args)) => engine_overrides(&mut out, &args.engine),
        Command::Xet(XetCommand::Follows(args)) => state_dir_override(&mut out, &args.daemon),
        Command::Xet(XetCommand::Unfollow(args)) => state_dir_override(&mut out, &args.daemon),
        Command::Info(_) | Command::Create(_) | Command::Scrape(_) | Command::Config(_) | Command::Xet(_) => {
        }
    }
    out
}

fn global_overrides(global: &GlobalArgs) -> Vec<(String, String)> {
    let mut out = Vec::new();
    push(&mut out, "log_level", global.log_level.map(word));
    push(&mut out, "config_reload", global.no_config_reload.then_some(false));
    out
}

fn dir_override(out: &mut Vec<(String, String)>, dir: &DirArg) {
    push(out, "download_dir", dir.path.as_ref().map(|d| d.display()));
}

fn checkpoint_overrides(out: &mut Vec<(String, String)>, flags: &CheckpointArgs) {
    push(out, "checkpoint_enabled", flags.no_checkpoint.then_some(false));
    push(out, "checkpoint_dir", flags.checkpoint_dir.as_ref().map(|d| d.display()));
}

fn state_dir_override(out: &mut Vec<(String, String)>, at: &StateDirArg) {
    push(out, "state_dir", at.state_dir.as_ref().map(|d| d.display()));
}

fn discovery_overrides(out: &mut Vec<(String, String)>, discovery: &DiscoveryArgs) {
    if discovery.no_trackers {
        push(out, "enable_http_trackers", Some(false));
        push(out, "enable_udp_trackers", Some(false));
    }
    push(out, "enable_dht", discovery.no_dht.then_some(false));
    push_list(out, "dht_bootstrap_nodes", &discovery.dht_bootstrap);
    push(out, "enable_pex", discovery.no_pex.then_some(false));
    push(out, "state_dir", discovery.state_dir.as_ref().map(|d| d.display()));
}

fn engine_overrides(out: &mut Vec<(String, String)>, flags: &EngineArgs) {
    let (network, tuning) = (&flags.network, &flags.tuning);
    push(out, "listen_port", network.listen_port);
    push(out, "dht_port", network.dht_port);
    discovery_overrides(out, &flags.discovery);
    push(out, "pipeline_depth", tuning.pipeline_depth);
    push(out, "piece_selection", tuning.piece_selection.map(word));
    push(out, "hash_workers", tuning.hash_workers);
    push(out, "preallocate", tuning.preallocate.map(word));
    push(out, "use_mmap", tuning.no_mmap.then_some(false));
    push(out, "max_upload_slots", tuning.max_upload_slots);
    push(out, "global_down_kib", flags.limits.down_limit);
    push(out, "global_up_kib", flags.limits.up_limit);
}

fn push(out: &mut Vec<(String, String)>, key: &str, value: Option<impl std::fmt::Display>) {
    if let Some(value) = value {
        out.push((key.to_owned(), value.to_string()));
    }
}

fn push_list(out: &mut Vec<(String, String)>, key: &str, items: &[String]) {
    if !items.is_empty() {
        out.push((key.to_owned(), items.join(",")));
    }
}

/// The config file's word for a flag value (`rarest_first`): the value's clap name.
fn word(value: impl ValueEnum) -> String {
    value.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn overrides(args: &[&str]) -> Vec<(String, String)> {
        flag_overrides(&Cli::try_parse_from(args).unwrap())
    }

    #[test]
    fn only_given_flags_become_overrides() {
        assert_eq!(overrides(&["ccbt", "download", "x.torrent"]), Vec::<(String, String)>::new());
        let pairs = overrides(&[
            "ccbt",
            "--log-level",
            "DEBUG",
            "download",
            "x.torrent",
            "-o",
            "out",
            "--no-dht",
            "--no-trackers",
            "--listen-port",
            "0",
            "--piece-selection",
            "rarest-first",
            "--dht-bootstrap",
            "a:1",
            "--dht-bootstrap",
            "b:2",
            "--no-mmap",
            "--streaming",
            "--down-limit",
            "256",
            "--up-limit",
            "0",
        ]);
        let expect = [
            ("log_level", "debug"),
            ("download_dir", "out"),
            ("listen_port", "0"),
            ("enable_http_trackers", "false"),
            ("enable_udp_trackers", "false"),
            ("enable_dht", "false"),
            ("dht_bootstrap_nodes", "a:1,b:2"),
            ("piece_selection", "rarest_first"),
            ("use_mmap", "false"),
            ("global_down_kib", "256"),
            ("global_up_kib", "0"),
            ("streaming_mode", "true"),
        ];
        let expect: Vec<(String, String)> =
            expect.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(pairs, expect);
    }

    #[test]
    fn every_override_is_a_valid_setting() {
        let cli = overrides(&[
            "ccbt",
            "seed",
            "x.torrent",
            "-d",
            "d",
            "--dht-port",
            "7001",
            "--state-dir",
            "/s",
            "--pipeline-depth",
            "20",
            "--hash-workers",
            "2",
            "--preallocate",
            "full",
            "--no-pex",
            "--max-upload-slots",
            "0",
            "--no-checkpoint",
            "--checkpoint-dir",
            "/c",
        ]);
        let effective = load(&Sources { cli, ..Sources::default() }).unwrap();
        assert_eq!(effective.origin("dht_port"), Some(&Origin::Cli));
        assert_eq!(effective.config().disk.preallocate, ccbt_config::Preallocate::Full);
        assert!(!effective.config().disk.checkpoint_enabled);
        assert_eq!(effective.checkpoint_dir(), std::path::Path::new("/c"));
    }

    #[test]
    fn daemon_flags_become_overrides() {
        let pairs = overrides(&[
            "ccbt",
            "daemon",
            "start",
            "--api-port",
            "0",
            "--listen-port",
            "7000",
            "--state-dir",
            "/s",
            "-o",
            "/d",
            "--no-dht",
        ]);
        for pair in [("api_port", "0"), ("listen_port", "7000"), ("state_dir", "/s"), ("download_dir", "/d")]
        {
            assert!(pairs.contains(&(pair.0.to_owned(), pair.1.to_owned())), "{pair:?} in {pairs:?}");
        }
        let effective = load(&Sources { cli: pairs, ..Sources::default() }).unwrap();
        assert_eq!(effective.config().daemon.api_port, 0);
        assert!(!effective.config().discovery.enable_dht);
        for args in
            [&["ccbt", "list", "--state-dir", "/s"][..], &["ccbt", "daemon", "stop", "--state-dir", "/s"]]
        {
            assert_eq!(overrides(args), [("state_dir".to_owned(), "/s".to_owned())], "{args:?}");
        }
    }

    #[test]
    fn a_deep_pipeline_flag_raises_an_untouched_maximum() {
        let below = load(&Sources::default()).unwrap();
        let mut cli = vec![("pipeline_depth".to_owned(), "500".to_owned())];
        raise_max_pipeline(&mut cli, &below);
        let effective = load(&Sources { cli, ..Sources::default() }).unwrap();
        assert_eq!(effective.config().network.max_pipeline_depth, 500);
    }

    #[test]
    fn log_filters_stay_out_of_the_configuration() {
        let mut env: Env = [(LOG_ENV.to_owned(), "warn,ccbt_engine=trace".to_owned())].into();
        assert_eq!(take_log_filter(&mut env, false).as_deref(), Some("warn,ccbt_engine=trace"));
        assert!(env.is_empty());
        let mut env: Env = [(LOG_ENV.to_owned(), "DEBUG".to_owned())].into();
        assert_eq!(take_log_filter(&mut env, false), None);
        assert_eq!(env.len(), 1);
    }
}
