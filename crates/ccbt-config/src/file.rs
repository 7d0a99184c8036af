//! The file layer: reads `ccbt.toml` text with spans, so every value and every error knows its line.

use std::path::Path;

use toml_edit::{Item, TableLike};

use crate::effective::{describe, resolve, Effective};
use crate::error::ConfigError;
use crate::origin::{line_of, Origin};
use crate::schema::{field_index, FIELDS, SECTIONS};
use crate::suggest::{suggest_key, suggest_section};
use crate::value::Problem;

/// Applies the settings of one file onto `effective`, collecting every problem into `errors`.
pub(crate) fn apply_file(effective: &mut Effective, path: &Path, text: &str, errors: &mut Vec<ConfigError>) {
    let at = |span: Option<std::ops::Range<usize>>| Origin::File {
        path: path.to_path_buf(),
        line: span.map(|span| line_of(text, span.start)),
    };
    let document = match toml_edit::Document::parse(text) {
        Ok(document) => document,
        Err(error) => {
            let message = error.message().to_owned();
            errors.push(ConfigError::Syntax { origin: at(error.span()), message });
            return;
        }
    };
    let root = document.as_table();
    for (section, item) in root.iter() {
        let origin = at(root.key(section).and_then(|key| key.span()));
        let table = item.as_table_like();
        if table.is_none() && SECTIONS.contains(&section) {
            errors.push(ConfigError::NotATable { section: section.to_owned(), origin });
            continue;
        }
        let Some(table) = table else {
            // A key outside any section: name the section it belongs in.
            let suggestion = suggest_key(section);
            errors.push(ConfigError::UnknownKey { key: section.to_owned(), origin, suggestion });
            continue;
        };
        if !SECTIONS.contains(&section) {
            let suggestion = suggest_section(section);
            errors.push(ConfigError::UnknownKey { key: format!("[{section}]"), origin, suggestion });
            continue;
        }
        apply_section(effective, section, table, &at, errors);
    }
}

fn apply_section(
    effective: &mut Effective,
    section: &str,
    table: &dyn TableLike,
    at: &dyn Fn(Option<std::ops::Range<usize>>) -> Origin,
    errors: &mut Vec<ConfigError>,
) {
    for (name, item) in table.iter() {
        let key_span = table.key(name).and_then(|key| key.span());
        let origin = at(key_span.or_else(|| item.span()));
        let qualified = format!("{section}.{name}");
        let index = match field_index(&qualified) {
            Some(index) => index,
            None => {
                errors.extend(resolve(&qualified, &origin).err());
                continue;
            }
        };
        let result = match item {
            Item::Value(value) => effective.set_toml(index, value, origin),
            _ => Err(describe(&FIELDS[index], &origin, Problem::WrongType { found: "a table".into() })),
        };
        errors.extend(result.err());
    }
}
