//! Shared helpers: build [`Sources`] from literals.

#![allow(dead_code)]

use std::path::PathBuf;

use ccbt_config::{load, ConfigErrors, ConfigFile, Effective, Env, Sources};

pub const FILE: &str = "/etc/test/ccbt.toml";

pub fn sources(file: Option<&str>, env: &[(&str, &str)], cli: &[(&str, &str)]) -> Sources {
    Sources {
        file: file.map(|text| ConfigFile { path: PathBuf::from(FILE), text: text.to_owned() }),
        env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Env>(),
        cli: cli.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

pub fn load_ok(file: Option<&str>, env: &[(&str, &str)], cli: &[(&str, &str)]) -> Effective {
    match load(&sources(file, env, cli)) {
        Ok(effective) => effective,
        Err(errors) => panic!("unexpected errors:\n{errors}"),
    }
}

pub fn load_err(file: Option<&str>, env: &[(&str, &str)], cli: &[(&str, &str)]) -> ConfigErrors {
    match load(&sources(file, env, cli)) {
        Ok(effective) => panic!("expected an error, got {:?}", effective.entries()),
        Err(errors) => errors,
    }
}
