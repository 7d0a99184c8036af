//! The settings reference of docs/config.md, rendered from the schema so it cannot drift. A test
//! compares it with the file; `UPDATE_CONFIG_DOCS=1 cargo test -p ccbt-config` rewrites it.

use std::fmt::Write;

use crate::schema::{Apply, Config, Env, Field, Scope, FIELDS, SECTIONS};

/// The line before the generated part of docs/config.md.
pub const BEGIN_MARKER: &str =
    "<!-- BEGIN settings table: generated from crates/ccbt-config/src/schema.rs by ccbt_config::render_markdown; edit the schema, not this table -->";
/// The line after it.
pub const END_MARKER: &str = "<!-- END settings table -->";

/// One table per section: key, default, allowed values, environment variables, CLI flag, how a
/// change applies, and meaning.
pub fn render_markdown() -> String {
    let defaults = Config::defaults(&Env::new());
    let mut out = String::new();
    for section in SECTIONS {
        let _ = writeln!(out, "### `[{section}]`\n");
        out.push_str("| Key | Default | Allowed | Environment | CLI flag | Change applies | Meaning |\n");
        out.push_str("|---|---|---|---|---|---|---|\n");
        for field in FIELDS.iter().filter(|f| f.section == *section) {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} | {} |",
                field.name,
                cell(&shown_default(field, &defaults)),
                cell(&field.allowed()),
                env_names(field),
                if field.flag.is_empty() { String::new() } else { format!("`{}`", field.flag) },
                applies(field),
                cell(field.doc),
            );
        }
        out.push('\n');
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// `document` with the text between the markers replaced by [`render_markdown`], or `None` when
/// the markers are missing.
pub fn replace_generated(document: &str) -> Option<String> {
    let begin = document.find(BEGIN_MARKER)? + BEGIN_MARKER.len();
    let end = document[begin..].find(END_MARKER)? + begin;
    Some(format!("{}\n\n{}\n{}", &document[..begin], render_markdown(), &document[end..]))
}

fn shown_default(field: &Field, defaults: &Config) -> String {
    if field.shown_default.is_empty() {
        format!("`{}`", field.toml_value(defaults).to_string().trim())
    } else {
        field.shown_default.to_owned()
    }
}

fn env_names(field: &Field) -> String {
    match field.env_alias {
        "" => format!("`{}`", field.env_var()),
        alias => format!("`{alias}`, `{}`", field.env_var()),
    }
}

fn applies(field: &Field) -> &'static str {
    match (field.apply, field.scope) {
        (Apply::Live, Scope::Torrent) => "live; per torrent",
        (Apply::Live, Scope::Session) => "live",
        (Apply::Restart, Scope::Torrent) => "restart; per torrent",
        (Apply::Restart, Scope::Session) => "restart",
    }
}

/// Table cells cannot hold a bare `|`.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}
