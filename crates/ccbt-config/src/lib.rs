//! The settings model of ccbt: one schema for `ccbt.toml`, the `CCBT_*` environment, command-line
//! overrides and per-torrent overrides, with the origin of every value, validation that names the
//! key and the allowed values, comment-keeping edits for `config set`, the live/restart split for
//! hot reload, and the settings reference of docs/config.md.
//!
//! Layers, lowest first: [`Config::defaults`] < file ([`ConfigFile`]; found by
//! [`fs::candidate_paths`]) < environment ([`Env`]) < command line ([`Sources::cli`]) <
//! per-torrent overrides ([`Effective::with_torrent_overrides`]). [`load`] is pure; [`fs`] reads
//! the real environment and files.
//!
//! ```
//! use ccbt_config::{load, ConfigFile, Origin, Sources};
//!
//! let sources = Sources {
//!     file: Some(ConfigFile { path: "ccbt.toml".into(), text: "[limits]\nglobal_down_kib = 512\n".into() }),
//!     env: [("CCBT_LISTEN_PORT".to_owned(), "7000".to_owned())].into_iter().collect(),
//!     cli: vec![("piece_selection".into(), "sequential".into())],
//! };
//! let effective = load(&sources).unwrap();
//! assert_eq!(effective.config().limits.global_down_kib, 512);
//! assert_eq!(effective.origin("limits.global_down_kib").unwrap().to_string(), "ccbt.toml:2");
//! assert_eq!(effective.origin("listen_port"), Some(&Origin::Env { var: "CCBT_LISTEN_PORT".into() }));
//! assert_eq!(effective.get("piece_selection").as_deref(), Some("sequential"));
//! ```

mod docs;
mod edit;
mod effective;
mod env;
mod error;
mod file;
pub mod fs;
mod load;
mod macros;
mod origin;
mod reload;
mod schema;
mod suggest;
mod value;

pub use docs::{render_markdown, replace_generated, BEGIN_MARKER, END_MARKER};
pub use edit::set;
pub use effective::{lookup, Effective, Entry};
pub use error::{ConfigError, ConfigErrors};
pub use load::{load, split_override, ConfigFile, Sources};
pub use origin::Origin;
pub use reload::{diff, reload, Changes};
pub use schema::{
    field, Apply, Config, Daemon, Discovery, Disk, Env, Field, Limits, Network, Observability, Scope,
    Strategy, Xet, DEFAULT_DHT_BOOTSTRAP, FIELDS, SECTIONS,
};
pub use value::{
    Bounds, CheckpointFormat, LogFormat, LogLevel, PieceSelection, Preallocate, Seconds, SeedChoking,
};
