//! Hot reload: the diff of two configurations, split into live and restart-needed keys.

mod support;

use ccbt_config::{diff, reload, Apply, FIELDS};
use support::{load_ok, sources};

#[test]
fn no_change_is_empty() {
    let a = load_ok(None, &[], &[]);
    assert!(diff(a.config(), a.config()).is_empty());
}

#[test]
fn live_and_restart_changes_are_named() {
    let old = load_ok(Some("[limits]\nglobal_down_kib = 100\n"), &[], &[]);
    let new = load_ok(
        Some("[limits]\nglobal_down_kib = 200\n[network]\nlisten_port = 7000\n"),
        &[("CCBT_PIECE_SELECTION", "sequential"), ("CCBT_LOG_LEVEL", "debug"), ("CCBT_HASH_WORKERS", "7")],
        &[("enable_dht", "false")],
    );
    let changes = diff(old.config(), new.config());
    assert_eq!(
        changes.live_names(),
        [
            "strategy.piece_selection",
            "discovery.enable_dht",
            "limits.global_down_kib",
            "observability.log_level"
        ]
    );
    assert_eq!(changes.restart_names(), ["network.listen_port", "disk.hash_workers"]);
}

/// What the issue promises to apply live is classed live: rate limits, peer and slot counts,
/// piece selection, log level, discovery switches.
#[test]
fn the_promised_live_keys_are_live() {
    let live = [
        "global_down_kib",
        "global_up_kib",
        "torrent_down_kib",
        "torrent_up_kib",
        "peer_down_kib",
        "peer_up_kib",
        "max_peers_per_torrent",
        "max_global_peers",
        "max_upload_slots",
        "piece_selection",
        "log_level",
        "enable_dht",
        "enable_pex",
        "enable_http_trackers",
        "enable_udp_trackers",
    ];
    for name in live {
        assert_eq!(ccbt_config::field(name).map(|f| f.apply), Some(Apply::Live), "{name}");
    }
    let restart = ["listen_port", "dht_port", "state_dir", "hash_workers", "preallocate", "config_reload"];
    let log_outputs = ["log_file", "log_format", "log_max_size_mib", "log_max_files"];
    for name in restart.into_iter().chain(log_outputs) {
        assert_eq!(ccbt_config::field(name).map(|f| f.apply), Some(Apply::Restart), "{name}");
    }
}

/// Each key on its own: changing exactly it yields exactly it, in the class it declares.
#[test]
fn each_key_changed_alone_is_reported_alone() {
    let old = load_ok(None, &[], &[]);
    for field in FIELDS {
        let text = match field.name {
            "listen_host" => "127.0.0.1".to_owned(),
            "api_host" => "::1".to_owned(),
            "metrics_host" => "::1".to_owned(),
            "download_dir" | "state_dir" | "checkpoint_dir" | "tls_cert" | "tls_key" | "log_file"
            | "alerts_rules_path" | "xet_store_dir" => "/elsewhere".to_owned(),
            "checkpoint_format" => "json".to_owned(),
            "dht_bootstrap_nodes" => "x.example:1".to_owned(),
            "piece_selection" => "sequential".to_owned(),
            "preallocate" => "full".to_owned(),
            "seed_choking" => "fastest_upload".to_owned(),
            "log_level" => "trace".to_owned(),
            "log_format" => "json".to_owned(),
            "block_size_kib" => continue, // one allowed value: it cannot change
            _ => match field.toml_value(old.config()) {
                v if v.as_bool().is_some() => (!v.as_bool().unwrap()).to_string(),
                // pipeline_depth may rise to max_pipeline_depth (128); every other integer too.
                v => (v.as_integer().unwrap() + 1).to_string(),
            },
        };
        let new = load_ok(None, &[], &[(field.name, &text)]);
        let changes = diff(old.config(), new.config());
        let (expected, other) = match field.apply {
            Apply::Live => (&changes.live, &changes.restart),
            Apply::Restart => (&changes.restart, &changes.live),
        };
        assert_eq!(expected.len(), 1, "{}", field.name);
        assert_eq!(expected[0].name, field.name);
        assert!(other.is_empty(), "{}", field.name);
    }
}

#[test]
fn a_bad_edit_is_refused_and_a_good_one_reports_its_changes() {
    let current = load_ok(Some("[limits]\nglobal_down_kib = 100\n"), &[], &[]);
    let errors = reload(&current, &sources(Some("[limits]\nglobal_down_kib = -5\n"), &[], &[])).unwrap_err();
    assert_eq!(errors.0.len(), 1);
    assert!(errors
        .to_string()
        .starts_with("`limits.global_down_kib` (/etc/test/ccbt.toml:2): -5 is out of range"));
    let (new, changes) =
        reload(&current, &sources(Some("[limits]\nglobal_down_kib = 300\n"), &[], &[])).unwrap();
    assert_eq!(new.config().limits.global_down_kib, 300);
    assert_eq!(changes.live_names(), ["limits.global_down_kib"]);
    assert!(changes.restart.is_empty());
}
