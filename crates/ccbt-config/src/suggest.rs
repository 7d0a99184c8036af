//! "Did you mean" for unknown keys, sections and environment variables (edit distance).

use crate::schema::{FIELDS, SECTIONS};

/// The closest candidate to `input`, if it is close enough to be a likely typo.
fn closest<'a>(input: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (input.len() / 3).max(2);
    candidates
        .map(|c| (strsim::levenshtein(input, c), c))
        .filter(|&(distance, _)| distance <= limit)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, c)| c)
}

/// A key written `section.key` or `key`: the qualified name it most likely meant. A known key in
/// the wrong section is suggested in its own section.
pub(crate) fn suggest_key(input: &str) -> Option<String> {
    let key = input.split_once('.').map_or(input, |(_, key)| key);
    if let Some(field) = FIELDS.iter().find(|f| f.name == key) {
        return Some(field.qualified_name());
    }
    let name = closest(key, FIELDS.iter().map(|f| f.name))?;
    FIELDS.iter().find(|f| f.name == name).map(|f| f.qualified_name())
}

/// A section name it most likely meant.
pub(crate) fn suggest_section(input: &str) -> Option<String> {
    closest(input, SECTIONS.iter().copied()).map(str::to_owned)
}

/// Whether an unknown `CCBT_*` variable is a near miss of a known one (then it is an error; other
/// `CCBT_*` variables belong to other tools, such as `CCBT_SKIP_INTEROP` of the test suite).
pub(crate) fn suggest_env(var: &str) -> Option<String> {
    let names: Vec<String> = FIELDS
        .iter()
        .flat_map(|f| [f.env_var(), f.env_alias.to_owned()])
        .filter(|name| !name.is_empty())
        .collect();
    let limit = 2;
    names
        .iter()
        .map(|name| (strsim::levenshtein(var, name), name))
        .filter(|&(distance, _)| distance <= limit)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, name)| name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_and_wrong_sections() {
        assert_eq!(suggest_key("network.listen_prot").as_deref(), Some("network.listen_port"));
        assert_eq!(suggest_key("disk.listen_port").as_deref(), Some("network.listen_port"));
        assert_eq!(suggest_key("global_down_kb").as_deref(), Some("limits.global_down_kib"));
        assert_eq!(suggest_key("zzzzzzzz"), None);
        assert_eq!(suggest_section("netwrok").as_deref(), Some("network"));
    }

    #[test]
    fn env_near_misses_only() {
        assert_eq!(suggest_env("CCBT_MAX_PEER").as_deref(), Some("CCBT_MAX_PEERS"));
        assert_eq!(suggest_env("CCBT_LISTEN_POTR").as_deref(), Some("CCBT_LISTEN_PORT"));
        assert_eq!(suggest_env("CCBT_SKIP_INTEROP"), None);
    }
}
