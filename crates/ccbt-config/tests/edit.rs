//! `config set` keeps comments and layout and refuses bad keys and values.

use std::path::Path;

use ccbt_config::{set, ConfigError};

const PATH: &str = "ccbt.toml";

const TEXT: &str = "\
# My ccbt settings.
[network]
# The port in the router's forward.
listen_port   = 6881 # forwarded
max_global_peers = 200

[limits]
global_down_kib = 0  # 0 = unlimited
";

#[test]
fn set_replaces_a_value_keeping_comments_and_spacing() {
    let edited = set(Path::new(PATH), TEXT, "listen_port", "7000").unwrap();
    assert_eq!(edited, TEXT.replace("listen_port   = 6881 # forwarded", "listen_port   = 7000 # forwarded"));
    let edited = set(Path::new(PATH), &edited, "limits.global_down_kib", "512").unwrap();
    assert!(edited.contains("global_down_kib = 512  # 0 = unlimited\n"), "{edited}");
    assert!(edited.starts_with("# My ccbt settings.\n[network]\n# The port in the router's forward.\n"));
}

#[test]
fn set_adds_missing_keys_and_sections() {
    let edited = set(Path::new(PATH), TEXT, "max_peers_per_torrent", "80").unwrap();
    assert!(edited.contains("max_global_peers = 200\nmax_peers_per_torrent = 80\n"), "{edited}");
    let edited = set(Path::new(PATH), &edited, "piece_selection", "Sequential").unwrap();
    assert!(edited.ends_with("[strategy]\npiece_selection = \"sequential\"\n"), "{edited}");
    let edited = set(Path::new(PATH), "", "dht_bootstrap_nodes", "a.example:1,b.example:2").unwrap();
    assert_eq!(edited, "[discovery]\ndht_bootstrap_nodes = [\"a.example:1\", \"b.example:2\"]\n");
}

#[test]
fn set_refuses_unknown_keys_and_bad_values_without_editing() {
    let error = set(Path::new(PATH), TEXT, "listen_prot", "7000").unwrap_err();
    assert!(
        matches!(&error, ConfigError::UnknownKey { suggestion: Some(s), .. } if s == "network.listen_port")
    );
    let error = set(Path::new(PATH), TEXT, "listen_port", "70000").unwrap_err();
    assert!(matches!(error, ConfigError::OutOfRange { .. }), "{error:?}");
    let error = set(Path::new(PATH), "[network\n", "listen_port", "7000").unwrap_err();
    assert!(matches!(error, ConfigError::Syntax { .. }), "{error:?}");
}

#[test]
fn an_edited_file_loads_with_the_new_value() {
    let edited = set(Path::new(PATH), TEXT, "network.max_global_peers", "321").unwrap();
    let sources = ccbt_config::Sources {
        file: Some(ccbt_config::ConfigFile { path: PATH.into(), text: edited }),
        ..Default::default()
    };
    let effective = ccbt_config::load(&sources).unwrap();
    assert_eq!(effective.config().network.max_global_peers, 321);
    assert_eq!(effective.origin("max_global_peers").unwrap().to_string(), "ccbt.toml:5");
}
