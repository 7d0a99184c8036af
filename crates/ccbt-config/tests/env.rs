//! The environment layer: the rule `CCBT_<KEY>` for every key, the seeds' names as written,
//! conflicts between two names of one key, and unknown `CCBT_*` variables.

mod support;

use ccbt_config::{ConfigError, LogLevel, Origin, PieceSelection, FIELDS};
use support::{load_err, load_ok};

#[test]
fn the_seeds_variables_work_as_written() {
    let env = [
        ("CCBT_MAX_PEERS", "100"),
        ("CCBT_LISTEN_PORT", "6881"),
        ("CCBT_PIECE_SELECTION", "rarest_first"),
        ("CCBT_DOWN_LIMIT", "1024"),
        ("CCBT_UP_LIMIT", "512"),
        ("CCBT_LOG_LEVEL", "DEBUG"),
    ];
    let effective = load_ok(None, &env, &[]);
    let config = effective.config();
    assert_eq!(config.network.max_global_peers, 100);
    assert_eq!(config.network.listen_port, 6881);
    assert_eq!(config.strategy.piece_selection, PieceSelection::RarestFirst);
    assert_eq!(config.limits.global_down_kib, 1024);
    assert_eq!(config.limits.global_up_kib, 512);
    assert_eq!(config.observability.log_level, LogLevel::Debug);
    for (var, key) in [
        ("CCBT_MAX_PEERS", "max_global_peers"),
        ("CCBT_LISTEN_PORT", "listen_port"),
        ("CCBT_DOWN_LIMIT", "global_down_kib"),
        ("CCBT_LOG_LEVEL", "log_level"),
    ] {
        assert_eq!(effective.origin(key), Some(&Origin::Env { var: var.into() }));
    }
}

/// Every key is read from `CCBT_` + its name in upper case: set each to its own default written
/// as text, and check the origin names the variable.
#[test]
fn every_key_has_a_variable_by_the_rule() {
    let defaults = load_ok(None, &[], &[]);
    for field in FIELDS {
        let var = field.env_var();
        assert_eq!(var, format!("CCBT_{}", field.name.to_uppercase()));
        let text = field.render(defaults.config());
        let effective = load_ok(None, &[(&var, &text)], &[]);
        assert_eq!(effective.origin(field.name), Some(&Origin::Env { var: var.clone() }), "{var}");
        assert_eq!(effective.get(field.name), Some(text));
    }
}

#[test]
fn env_values_are_parsed_like_flags() {
    let env = [
        ("CCBT_ENABLE_DHT", "0"),
        ("CCBT_USE_MMAP", "off"),
        ("CCBT_DHT_BOOTSTRAP_NODES", "a.example:1, b.example:2"),
        ("CCBT_REQUEST_TIMEOUT", "45"),
        ("CCBT_LISTEN_HOST", "::1"),
    ];
    let config = load_ok(None, &env, &[]).config().clone();
    assert!(!config.discovery.enable_dht);
    assert!(!config.disk.use_mmap);
    assert_eq!(config.discovery.dht_bootstrap_nodes, ["a.example:1", "b.example:2"]);
    assert_eq!(config.network.request_timeout.duration(), std::time::Duration::from_secs(45));
    assert_eq!(config.network.listen_host.to_string(), "::1");
}

#[test]
fn a_seed_name_and_the_rule_name_together_are_an_error() {
    let errors = load_err(None, &[("CCBT_MAX_PEERS", "100"), ("CCBT_MAX_GLOBAL_PEERS", "100")], &[]);
    assert_eq!(
        errors.to_string(),
        "`network.max_global_peers` is set by both environment variable CCBT_MAX_PEERS and \
         environment variable CCBT_MAX_GLOBAL_PEERS; keep one"
    );
}

#[test]
fn near_misses_are_errors_and_other_ccbt_variables_are_left_alone() {
    let errors = load_err(None, &[("CCBT_MAX_PEER", "100")], &[]);
    match &errors.0[..] {
        [ConfigError::UnknownKey { key, suggestion, .. }] => {
            assert_eq!((key.as_str(), suggestion.as_deref()), ("CCBT_MAX_PEER", Some("CCBT_MAX_PEERS")));
        }
        other => panic!("{other:?}"),
    }
    load_ok(None, &[("CCBT_SKIP_INTEROP", "1"), ("PATH", "/bin"), ("MAX_PEERS", "x")], &[]);
}
