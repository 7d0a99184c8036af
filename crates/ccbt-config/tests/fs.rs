//! The thin file-system layer: where the file is looked for, reading it, and `config set` on disk.

use std::path::PathBuf;

use ccbt_config::fs::{candidate_paths, read_config_file, set_in_file};
use ccbt_config::{ConfigError, Env};

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn the_current_folder_first_then_xdg_then_home() {
    let paths = candidate_paths(&env(&[("HOME", "/home/u"), ("XDG_CONFIG_HOME", "/xdg")]));
    assert_eq!(paths, [PathBuf::from("ccbt.toml"), PathBuf::from("/xdg/ccbt/ccbt.toml")]);
    let paths = candidate_paths(&env(&[("HOME", "/home/u"), ("XDG_CONFIG_HOME", "")]));
    assert_eq!(paths, [PathBuf::from("ccbt.toml"), PathBuf::from("/home/u/.config/ccbt/ccbt.toml")]);
    assert_eq!(candidate_paths(&Env::new()), [PathBuf::from("ccbt.toml")]);
}

#[test]
fn the_user_file_is_found_and_a_named_file_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("ccbt")).unwrap();
    let path = dir.path().join("ccbt/ccbt.toml");
    std::fs::write(&path, "[network]\nlisten_port = 7010\n").unwrap();
    let env = env(&[("XDG_CONFIG_HOME", dir.path().to_str().unwrap())]);
    // The tests run in the crate folder, which has no ccbt.toml.
    let file = read_config_file(None, &env).unwrap().expect("found under XDG_CONFIG_HOME");
    assert_eq!(file.path, path);
    assert!(file.text.contains("7010"));

    let missing = dir.path().join("missing.toml");
    let error = read_config_file(Some(&missing), &env).unwrap_err();
    assert!(matches!(&error, ConfigError::Io { path, .. } if path == &missing), "{error:?}");
}

#[test]
fn set_in_file_creates_then_edits_keeping_comments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ccbt.toml");
    set_in_file(&path, "listen_port", "7020").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "[network]\nlisten_port = 7020\n");
    std::fs::write(&path, "# mine\n[network]\nlisten_port = 7020 # router\n").unwrap();
    set_in_file(&path, "network.listen_port", "7021").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n[network]\nlisten_port = 7021 # router\n");
    let error = set_in_file(&path, "listen_port", "99999").unwrap_err();
    assert!(matches!(error, ConfigError::OutOfRange { .. }));
    assert!(
        std::fs::read_to_string(&path).unwrap().contains("7021"),
        "a refused value leaves the file alone"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left behind");
}
