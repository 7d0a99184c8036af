//! The environment layer. Rule: every key `k` is read from `CCBT_` + `k` in upper case
//! (`listen_port` from `CCBT_LISTEN_PORT`); the seeds' names that differ from the rule
//! (`CCBT_MAX_PEERS`, `CCBT_DOWN_LIMIT`, `CCBT_UP_LIMIT`) work as well. Setting both names of one
//! key is an error. An unknown `CCBT_*` variable is an error only when it is a near miss of a
//! known name; others belong to other tools (`CCBT_SKIP_INTEROP`) and are left alone.

use crate::effective::Effective;
use crate::error::ConfigError;
use crate::origin::Origin;
use crate::schema::{Env, FIELDS};
use crate::suggest::suggest_env;

const PREFIX: &str = "CCBT_";

/// Applies the `CCBT_*` variables of `env` onto `effective`, collecting problems into `errors`.
pub(crate) fn apply_env(effective: &mut Effective, env: &Env, errors: &mut Vec<ConfigError>) {
    for (index, field) in FIELDS.iter().enumerate() {
        let names = [field.env_alias.to_owned(), field.env_var()];
        let set: Vec<(&String, &String)> = names
            .iter()
            .filter(|name| !name.is_empty())
            .filter_map(|name| Some(name).zip(env.get(name)))
            .collect();
        match set.as_slice() {
            [] => {}
            [(var, value)] => {
                errors.extend(effective.set_text(index, value, Origin::Env { var: var.to_string() }).err())
            }
            [(first, _), (second, _), ..] => errors.push(ConfigError::SetTwice {
                key: field.qualified_name(),
                first: Origin::Env { var: first.to_string() },
                second: Origin::Env { var: second.to_string() },
            }),
        }
    }
    for var in env.keys().filter(|var| var.starts_with(PREFIX) && !is_known(var)) {
        if let Some(suggestion) = suggest_env(var) {
            let origin = Origin::Env { var: var.clone() };
            errors.push(ConfigError::UnknownKey { key: var.clone(), origin, suggestion: Some(suggestion) });
        }
    }
}

fn is_known(var: &str) -> bool {
    FIELDS.iter().any(|f| f.env_var() == var || f.env_alias == var)
}
