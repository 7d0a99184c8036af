//! `config set`: changes one key in the text of a configuration file, keeping its comments,
//! order and layout (toml_edit), after checking the value against the schema.

use std::path::Path;

use toml_edit::{DocumentMut, Item, Table};

use crate::effective::{resolve, Effective};
use crate::error::ConfigError;
use crate::origin::Origin;
use crate::schema::{Env, FIELDS};

/// Returns `text` (the file at `path`, empty when it does not exist yet) with `key` set to
/// `value` (written as for an environment variable: `7000`, `sequential`, `a:1,b:2`).
pub fn set(path: &Path, text: &str, key: &str, value: &str) -> Result<String, ConfigError> {
    let index = resolve(key, &Origin::Cli)?;
    let field = &FIELDS[index];
    let mut checked = Effective::defaults(&Env::new());
    checked.set_text(index, value, Origin::Cli)?;
    let new_value = field.toml_value(checked.config());

    let mut document: DocumentMut =
        text.parse().map_err(|error: toml_edit::TomlError| ConfigError::Syntax {
            origin: Origin::File { path: path.to_path_buf(), line: None },
            message: error.message().to_owned(),
        })?;
    let section = section_table(&mut document, field.section, path)?;
    match section.get_mut(field.name) {
        // Keep the comment after the old value and the spacing around it.
        Some(Item::Value(old)) => {
            let decor = old.decor().clone();
            *old = new_value;
            *old.decor_mut() = decor;
        }
        _ => {
            section.insert(field.name, Item::Value(new_value));
        }
    }
    Ok(document.to_string())
}

/// The `[section]` table, created at the end of the file when missing.
fn section_table<'d>(
    document: &'d mut DocumentMut,
    name: &str,
    path: &Path,
) -> Result<&'d mut Table, ConfigError> {
    let item = document.entry(name).or_insert_with(|| Item::Table(Table::new()));
    match item {
        Item::Table(table) => Ok(table),
        _ => Err(ConfigError::Syntax {
            origin: Origin::File { path: path.to_path_buf(), line: None },
            message: format!("`{name}` is not a table; `config set` edits `[{name}]` tables only"),
        }),
    }
}
