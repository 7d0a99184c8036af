//! The daemon's configuration behind `GET/PUT /api/v1/config`, and the watcher that hot-reloads
//! its file like a foreground session (`reload.rs`).
//!
//! A `PUT` is an edit of the configuration file: each key is written into the file's text the
//! way `ccbt config set` writes it (comments and layout kept), the whole text is validated with
//! the layers above it exactly as at start, the file is replaced atomically, and the edit is
//! applied to the session as the watcher would apply it. So a value set through the API
//! survives a restart, and the file stays the one truth. A key that only takes effect at the
//! next start is written and reported `restart_required`; one an environment variable or a flag
//! of the daemon sets is written and reported `shadowed`. Nothing is written when a key or a
//! value is refused.

use std::sync::{Arc, Mutex};

use ccbt_api::{ApiError, ConfigChangeView, ConfigControl, ConfigEntryView, ConfigSetView, ConfigView};
use ccbt_config::{lookup, Apply, ConfigError, Field, FIELDS};
use ccbt_engine::Session;
use serde_json::{Map, Value};

use crate::reload::{Reloader, INTERVAL};

/// The daemon's configuration: its reloader, shared by the API and the file watcher.
pub struct DaemonConfig {
    reloader: Mutex<Reloader>,
}

impl DaemonConfig {
    pub fn new(reloader: Reloader) -> Arc<DaemonConfig> {
        Arc::new(DaemonConfig { reloader: Mutex::new(reloader) })
    }

    fn reloader(&self) -> std::sync::MutexGuard<'_, Reloader> {
        self.reloader.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks the file every [`INTERVAL`] and applies its edits to `session`, printing one line
    /// per change (to daemon.log) until the task is aborted.
    pub fn watch(self: Arc<Self>, session: Arc<Session>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(INTERVAL);
            loop {
                tick.tick().await;
                let (config, session) = (self.clone(), session.clone());
                let lines = tokio::task::spawn_blocking(move || config.reloader().poll(&session)).await;
                for line in lines.unwrap_or_default() {
                    eprintln!("{line}");
                    tracing::info!("{line}");
                }
            }
        })
    }
}

impl ConfigControl for DaemonConfig {
    fn show(&self) -> ConfigView {
        let reloader = self.reloader();
        let effective = reloader.current();
        let settings = FIELDS
            .iter()
            .map(|field| ConfigEntryView {
                key: field.qualified_name(),
                value: json_value(&field.toml_value(effective.config())),
                origin: effective.origin(field.name).map_or_else(String::new, ToString::to_string),
                apply: match field.apply {
                    Apply::Live => "live".to_owned(),
                    Apply::Restart => "restart".to_owned(),
                },
            })
            .collect();
        ConfigView { file: Some(reloader.path().to_path_buf()), settings }
    }

    fn set(&self, session: &Session, settings: &Map<String, Value>) -> Result<ConfigSetView, ApiError> {
        let mut reloader = self.reloader();
        let path = reloader.path().to_path_buf();
        let old = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(ApiError::internal(format!("cannot read {}: {e}", path.display()))),
        };
        let mut text = old.clone();
        let mut asked = Vec::new();
        for (key, value) in settings {
            let field = lookup(key).map_err(|e| refusal("unknown_key", &e))?;
            let value = text_value(field, value)?;
            text = ccbt_config::set(&path, &text, key, &value).map_err(|e| match e {
                ConfigError::Syntax { .. } => ApiError::conflict(
                    "config_file_invalid",
                    format!("the configuration file cannot be edited: {e}"),
                ),
                other => refusal("invalid_value", &other),
            })?;
            asked.push(field);
        }
        // The whole file over the layers above it, as the daemon would load it at start.
        let file = ccbt_config::ConfigFile { path: path.clone(), text: text.clone() };
        let sources = ccbt_config::Sources { file: Some(file), ..reloader.above().clone() };
        crate::settings::load_checked(&sources).map_err(|problems| invalid(&problems))?;
        write(&path, &text)?;
        let changes = match reloader.adopt(session, text) {
            Ok(changes) => changes,
            Err(problems) => {
                // The session refused it: the file goes back to what it held.
                let _ = write(&path, &old);
                return Err(invalid(&problems));
            }
        };
        let mut views: Vec<ConfigChangeView> = changes
            .into_iter()
            .map(|c| ConfigChangeView {
                key: c.key,
                value: c.value,
                status: c.status.word().to_owned(),
                message: c.line.trim_start_matches("config: ").to_owned(),
            })
            .collect();
        for field in asked {
            let key = field.qualified_name();
            if !views.iter().any(|v| v.key == key) {
                let value = field.render(reloader.current().config());
                let message = format!("{key} = {value} was already in force");
                views.push(ConfigChangeView { key, value, status: "unchanged".into(), message });
            }
        }
        Ok(ConfigSetView { file: path, changes: views })
    }

    fn torrent_limits(&self) -> ccbt_engine::TorrentLimits {
        crate::options::torrent_limits(self.reloader().current())
    }
}

fn write(path: &std::path::Path, text: &str) -> Result<(), ApiError> {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .map_err(|e| ApiError::internal(format!("cannot create {}: {e}", folder.display())))?;
    }
    ccbt_config::fs::write_file(path, text).map_err(|e| ApiError::internal(format!("cannot write: {e}")))
}

/// A refused key or value: 400, the configuration's own message (without the "command line"
/// origin it gives a value that did not come from one).
fn refusal(code: &'static str, error: &ConfigError) -> ApiError {
    ApiError::bad_request(code, error.to_string().replace(" (command line)", ""))
}

fn invalid(problems: &[String]) -> ApiError {
    ApiError::bad_request("invalid_config", format!("nothing was changed: {}", problems.join("; ")))
}

/// A JSON value as the text `ccbt config set` takes, if it has the key's type (a number for a
/// number, a list of strings for a list...): a string `"7000"` for a port is refused.
fn text_value(field: &Field, value: &Value) -> Result<String, ApiError> {
    let shape = field.toml_value(&ccbt_config::Config::defaults(&Default::default()));
    let text = match value {
        Value::Bool(b) if shape.as_bool().is_some() => Some(b.to_string()),
        Value::Number(n) if shape.as_integer().is_some() => n.as_i64().map(|n| n.to_string()),
        Value::String(s) if shape.as_str().is_some() => Some(s.clone()),
        Value::Array(items) if shape.as_array().is_some() => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        _ => None,
    };
    text.ok_or_else(|| {
        ApiError::bad_request(
            "invalid_value",
            format!("`{}`: expected {}, found {value}", field.qualified_name(), field.allowed()),
        )
    })
}

/// A TOML value of the configuration (integer, boolean, string, list of strings) as JSON.
fn json_value(value: &toml_edit::Value) -> Value {
    match value {
        toml_edit::Value::Boolean(b) => Value::Bool(*b.value()),
        toml_edit::Value::Integer(i) => Value::from(*i.value()),
        toml_edit::Value::Float(f) => Value::from(*f.value()),
        toml_edit::Value::String(s) => Value::String(s.value().clone()),
        toml_edit::Value::Array(items) => Value::Array(items.iter().map(json_value).collect()),
        other => Value::String(other.to_string().trim().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(key: &str) -> &'static Field {
        lookup(key).unwrap()
    }

    #[test]
    fn json_values_of_the_right_type_become_config_text() {
        assert_eq!(text_value(field("listen_port"), &json!(7000)).unwrap(), "7000");
        assert_eq!(text_value(field("enable_pex"), &json!(false)).unwrap(), "false");
        assert_eq!(text_value(field("piece_selection"), &json!("sequential")).unwrap(), "sequential");
        assert_eq!(text_value(field("dht_bootstrap_nodes"), &json!(["a:1", "b:2"])).unwrap(), "a:1,b:2");
        for (key, value) in [
            ("listen_port", json!("7000")),
            ("listen_port", json!(1.5)),
            ("enable_pex", json!(1)),
            ("piece_selection", json!(null)),
            ("dht_bootstrap_nodes", json!([1])),
            ("dht_bootstrap_nodes", json!({})),
        ] {
            let e = text_value(field(key), &value).unwrap_err();
            assert_eq!(e.code, "invalid_value", "{key} = {value}");
            assert!(e.message.contains(key) && e.message.contains("expected"), "{}", e.message);
        }
    }

    #[test]
    fn config_values_read_as_json() {
        let defaults = ccbt_config::Config::defaults(&Default::default());
        assert!(json_value(&field("listen_port").toml_value(&defaults)).is_u64());
        assert!(json_value(&field("enable_pex").toml_value(&defaults)).is_boolean());
        assert!(json_value(&field("piece_selection").toml_value(&defaults)).is_string());
        assert!(json_value(&field("dht_bootstrap_nodes").toml_value(&defaults)).is_array());
    }
}
