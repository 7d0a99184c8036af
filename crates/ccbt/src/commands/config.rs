//! `ccbt config show | get | set | validate`: the effective configuration, one key, an edit of
//! the file that keeps its comments, and a check that lists every problem.

use std::fmt::Write as _;

use anyhow::Context as _;
use ccbt_config::{fs, lookup, Effective, FIELDS, SECTIONS};

use super::Exit;
use crate::args::{ConfigCommand, GlobalArgs};
use crate::settings;

/// `show` and `get`, on the configuration already loaded (a bad one stopped before).
pub fn run(command: &ConfigCommand, global: &GlobalArgs, settings: &Effective) -> anyhow::Result<Exit> {
    match command {
        ConfigCommand::Show(args) => print!("{}", show(settings, args.origin)),
        ConfigCommand::Get(args) => {
            let field = lookup(&args.key)?;
            let value = settings.get(field.name).context("every schema key has a value")?;
            println!("{value}");
        }
        ConfigCommand::Set(_) | ConfigCommand::Validate(_) => return run_on_file(command, global),
    }
    Ok(Exit::Success)
}

/// `set` and `validate`, which work on a file that may be invalid and so load nothing first.
pub fn run_on_file(command: &ConfigCommand, global: &GlobalArgs) -> anyhow::Result<Exit> {
    match command {
        ConfigCommand::Set(args) => set(&args.key, &args.value, global),
        ConfigCommand::Validate(args) => Ok(validate(args.file.as_deref(), global)),
        ConfigCommand::Show(_) | ConfigCommand::Get(_) => {
            anyhow::bail!("`config show` and `config get` need the loaded configuration")
        }
    }
}

/// The effective configuration as TOML, by section; with `origin`, each value's layer as a
/// comment, so the output is still a valid `ccbt.toml`.
fn show(settings: &Effective, origin: bool) -> String {
    let entries = settings.entries();
    let mut out = String::new();
    for section in SECTIONS {
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "[{section}]");
        for (field, entry) in FIELDS.iter().zip(&entries).filter(|(f, _)| f.section == *section) {
            let _ = write!(out, "{} = {}", field.name, entry.value);
            if origin {
                let _ = write!(out, "  # {}", entry.origin);
            }
            out.push('\n');
        }
    }
    out
}

fn set(key: &str, value: &str, global: &GlobalArgs) -> anyhow::Result<Exit> {
    let field = lookup(key)?;
    let path = settings::file_to_edit(global.config.as_deref());
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))?;
    }
    fs::set_in_file(&path, key, value)?;
    println!("{} = {} written to {}", field.qualified_name(), value.trim(), path.display());
    Ok(Exit::Success)
}

/// Prints every problem (exit 1) or what was checked (exit 0).
fn validate(file: Option<&std::path::Path>, global: &GlobalArgs) -> Exit {
    let (checked, result) = match file {
        Some(path) => (path.display().to_string(), settings::validate_file(path)),
        None => {
            let explicit = global.config.as_deref();
            let checked = match settings::file_in_use(explicit) {
                Some(path) => format!("{} and the CCBT_* variables", path.display()),
                None => "the CCBT_* variables (no configuration file found)".to_owned(),
            };
            (checked, settings::validate_system(explicit))
        }
    };
    match result {
        Ok(_) => {
            println!("ok: {checked}");
            Exit::Success
        }
        Err(problems) => {
            for problem in &problems {
                eprintln!("error: {problem}");
            }
            eprintln!("error: {checked}: {} problem(s)", problems.len());
            Exit::Failure
        }
    }
}

#[cfg(test)]
mod tests {
    use ccbt_config::{load, ConfigFile, Sources};

    use super::*;

    #[test]
    fn show_is_toml_that_loads_back_to_the_same_values() {
        let file =
            Some(ConfigFile { path: "ccbt.toml".into(), text: "[network]\nlisten_port = 7000\n".into() });
        let effective = load(&Sources { file, ..Sources::default() }).unwrap();
        let text = show(&effective, true);
        assert!(text.contains("[network]\nlisten_port = 7000  # ccbt.toml:2\n"), "{text}");
        assert!(text.contains("use_mmap = true  # default\n"), "{text}");
        let again = Some(ConfigFile { path: "shown.toml".into(), text });
        let reloaded = load(&Sources { file: again, ..Sources::default() }).unwrap();
        assert_eq!(reloaded.config(), effective.config());
    }
}
