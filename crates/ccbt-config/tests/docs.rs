//! docs/config.md lists every key exactly as the schema declares it. `UPDATE_CONFIG_DOCS=1`
//! rewrites the generated part instead of failing.

use std::path::PathBuf;

use ccbt_config::{render_markdown, replace_generated, BEGIN_MARKER, END_MARKER, FIELDS};

fn docs_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.md")
}

#[test]
fn docs_config_md_matches_the_schema() {
    let path = docs_path();
    let current = std::fs::read_to_string(&path).expect("docs/config.md");
    let expected = replace_generated(&current).expect("docs/config.md has the settings table markers");
    if current == expected {
        return;
    }
    if std::env::var_os("UPDATE_CONFIG_DOCS").is_some_and(|v| v == "1") {
        std::fs::write(&path, expected).expect("write docs/config.md");
        return;
    }
    panic!(
        "docs/config.md differs from the schema; run `UPDATE_CONFIG_DOCS=1 cargo test -p ccbt-config --test docs`"
    );
}

#[test]
fn the_rendered_table_has_one_row_per_key() {
    let rendered = render_markdown();
    for field in FIELDS {
        let row = format!("| `{}` |", field.name);
        assert_eq!(rendered.matches(&row).count(), 1, "{}", field.name);
        assert!(rendered.contains(&format!("`{}`", field.env_var())), "{}", field.name);
    }
}

#[test]
fn replace_generated_keeps_the_prose_around_the_table() {
    let document = format!("intro\n\n{BEGIN_MARKER}\nold table\n{END_MARKER}\n\nafter\n");
    let replaced = replace_generated(&document).unwrap();
    assert!(replaced.starts_with(&format!("intro\n\n{BEGIN_MARKER}\n\n### `[network]`")));
    assert!(replaced.ends_with(&format!("\n{END_MARKER}\n\nafter\n")));
    assert!(!replaced.contains("old table"));
    assert_eq!(replace_generated("no markers"), None);
}
