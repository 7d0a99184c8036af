//! The precedence of every layer and the origin each value reports.

mod support;

use std::path::PathBuf;

use ccbt_config::{Origin, PieceSelection};
use support::{load_ok, FILE};

fn file_line(line: usize) -> Origin {
    Origin::File { path: PathBuf::from(FILE), line: Some(line) }
}

const FILE_TEXT: &str = "\
# ports
[network]
listen_port = 7001
max_global_peers = 300

[strategy]
piece_selection = \"sequential\"

[limits]
global_down_kib = 100
global_up_kib = 50
";

#[test]
fn defaults_alone() {
    let effective = load_ok(None, &[], &[]);
    assert_eq!(effective.config().network.listen_port, 6881);
    assert_eq!(effective.origin("listen_port"), Some(&Origin::Default));
    assert_eq!(effective.config().strategy.piece_selection, PieceSelection::RarestFirst);
}

#[test]
fn file_beats_defaults_and_names_its_lines() {
    let effective = load_ok(Some(FILE_TEXT), &[], &[]);
    let config = effective.config();
    assert_eq!(config.network.listen_port, 7001);
    assert_eq!(config.network.max_global_peers, 300);
    assert_eq!(config.strategy.piece_selection, PieceSelection::Sequential);
    assert_eq!(effective.origin("network.listen_port"), Some(&file_line(3)));
    assert_eq!(effective.origin("max_global_peers"), Some(&file_line(4)));
    assert_eq!(effective.origin("piece_selection"), Some(&file_line(7)));
    assert_eq!(effective.origin("global_up_kib"), Some(&file_line(11)));
    assert_eq!(effective.origin("dht_port"), Some(&Origin::Default));
    assert_eq!(file_line(3).to_string(), "/etc/test/ccbt.toml:3");
}

#[test]
fn env_beats_file() {
    let env = [("CCBT_LISTEN_PORT", "7002"), ("CCBT_DOWN_LIMIT", "200")];
    let effective = load_ok(Some(FILE_TEXT), &env, &[]);
    assert_eq!(effective.config().network.listen_port, 7002);
    assert_eq!(effective.config().limits.global_down_kib, 200);
    assert_eq!(effective.origin("listen_port"), Some(&Origin::Env { var: "CCBT_LISTEN_PORT".into() }));
    assert_eq!(effective.origin("global_down_kib"), Some(&Origin::Env { var: "CCBT_DOWN_LIMIT".into() }));
    // Keys the environment does not name keep the file's value.
    assert_eq!(effective.config().limits.global_up_kib, 50);
}

#[test]
fn cli_beats_env_and_a_later_override_wins() {
    let env = [("CCBT_LISTEN_PORT", "7002")];
    let cli = [("listen_port", "7003"), ("network.listen_port", "7004"), ("global_up_kib", "0")];
    let effective = load_ok(Some(FILE_TEXT), &env, &cli);
    assert_eq!(effective.config().network.listen_port, 7004);
    assert_eq!(effective.config().limits.global_up_kib, 0);
    assert_eq!(effective.origin("listen_port"), Some(&Origin::Cli));
    assert_eq!(effective.get("listen_port").as_deref(), Some("7004"));
}

#[test]
fn torrent_overrides_beat_everything_and_leave_the_session_alone() {
    let env = [("CCBT_PIECE_SELECTION", "rarest_first")];
    let cli = [("max_upload_slots", "8")];
    let session = load_ok(Some(FILE_TEXT), &env, &cli);
    let overrides = [
        ("piece_selection".to_owned(), "sequential".to_owned()),
        ("max_upload_slots".to_owned(), "2".to_owned()),
        ("limits.torrent_down_kib".to_owned(), "64".to_owned()),
    ];
    let torrent = session.with_torrent_overrides(&overrides).expect("valid overrides");
    assert_eq!(torrent.config().strategy.piece_selection, PieceSelection::Sequential);
    assert_eq!(torrent.config().network.max_upload_slots, 2);
    assert_eq!(torrent.config().limits.torrent_down_kib, 64);
    assert_eq!(torrent.origin("piece_selection"), Some(&Origin::Torrent));
    assert_eq!(torrent.origin("listen_port"), Some(&file_line(3)));
    assert_eq!(session.config().strategy.piece_selection, PieceSelection::RarestFirst);
    assert_eq!(session.config().network.max_upload_slots, 8);
}

#[test]
fn session_wide_keys_are_refused_per_torrent() {
    let session = load_ok(None, &[], &[]);
    let errors = session
        .with_torrent_overrides(&[("listen_port".into(), "7000".into()), ("bogus".into(), "1".into())])
        .unwrap_err();
    assert_eq!(errors.0.len(), 2);
    assert_eq!(
        errors.0[0].to_string(),
        "`network.listen_port` (per-torrent override) is session-wide and cannot be set per torrent"
    );
    assert!(errors.0[1].to_string().starts_with("unknown key `bogus`"));
}

#[test]
fn entries_list_every_key_with_value_and_origin() {
    let effective = load_ok(Some(FILE_TEXT), &[("CCBT_LOG_LEVEL", "DEBUG")], &[]);
    let entries = effective.entries();
    assert_eq!(entries.len(), ccbt_config::FIELDS.len());
    let find = |key: &str| entries.iter().find(|e| e.key == key).unwrap().clone();
    assert_eq!(find("network.listen_port").value, "7001");
    assert_eq!(find("strategy.piece_selection").value, "\"sequential\"");
    let log = find("observability.log_level");
    assert_eq!(
        (log.value.as_str(), log.origin.to_string()),
        ("\"debug\"", "environment variable CCBT_LOG_LEVEL".into())
    );
}

#[test]
fn dotted_and_inline_tables_are_read_too() {
    let text = "network.listen_port = 7005\ndisk = { use_mmap = false }\n";
    let effective = load_ok(Some(text), &[], &[]);
    assert_eq!(effective.config().network.listen_port, 7005);
    assert!(!effective.config().disk.use_mmap);
    assert_eq!(effective.origin("use_mmap"), Some(&file_line(2)));
}

/// The seeds' example `ccbt.toml`, without the observability keys that have no implementation yet
/// (`enable_metrics`, `metrics_port`).
#[test]
fn the_seed_example_loads() {
    let text = r#"
[network]
max_global_peers = 200
max_peers_per_torrent = 50
pipeline_depth = 16
block_size_kib = 16
listen_port = 6881

[disk]
preallocate = "full"
write_batch_kib = 64
use_mmap = true
hash_workers = 4

[strategy]
piece_selection = "rarest_first"
endgame_duplicates = 2
streaming_mode = false

[discovery]
enable_dht = true
enable_pex = true
enable_udp_trackers = true

[limits]
global_down_kib = 0  # 0 = unlimited
global_up_kib = 0     # 0 = unlimited

[observability]
log_level = "INFO"
"#;
    let effective = load_ok(Some(text), &[], &[]);
    assert_eq!(effective.config().disk.preallocate, ccbt_config::Preallocate::Full);
    assert_eq!(effective.config().observability.log_level, ccbt_config::LogLevel::Info);
    assert_eq!(effective.config().disk.write_batch_kib, 64);
}

#[test]
fn the_checkpoint_folder_follows_state_dir_unless_set() {
    let effective = load_ok(None, &[], &[("state_dir", "/s")]);
    assert_eq!(effective.checkpoint_dir(), PathBuf::from("/s/checkpoints"));
    let effective = load_ok(None, &[("CCBT_CHECKPOINT_DIR", "/c")], &[("state_dir", "/s")]);
    assert_eq!(effective.checkpoint_dir(), PathBuf::from("/c"));
}

#[test]
fn the_xet_store_follows_state_dir_unless_set() {
    let effective = load_ok(None, &[], &[("state_dir", "/s")]);
    assert_eq!(effective.xet_store_dir(), PathBuf::from("/s/xet"));
    let effective = load_ok(None, &[("CCBT_XET_STORE_DIR", "chunks")], &[("state_dir", "/s")]);
    assert_eq!(effective.xet_store_dir(), PathBuf::from("/s/chunks"));
    let effective = load_ok(Some("[xet]\nxet_store_dir = \"/x\"\nxet_enabled = true\n"), &[], &[]);
    assert_eq!(effective.xet_store_dir(), PathBuf::from("/x"));
    assert!(effective.config().xet.xet_enabled);
    assert_eq!(effective.config().xet.xet_cache_size_mib, 1024);
}
