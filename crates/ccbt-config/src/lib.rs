//! The settings model of ccbt: one schema for `ccbt.toml`, the `CCBT_*` environment, command-line
//! overrides and per-torrent overrides, with the origin of every value, validation that names the
//! key and the allowed values, comment-keeping edits for `config set`, the live/restart split for
//! hot reload, and the settings reference of docs/config.md.
//!
//! Layers, lowest first: [`Config::defaults`] < file ([`ConfigFile`]; found by
//! [`fs::candidate_paths`]) < environment ([`Env`]) < command line ([`Sources::cli`]) <
//! per-torrent overrides ([`Effective::with_torrent_overrides`]). [`load`] is pure; [`fs`] reads
//! the real environment and files.

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
pub use effective::{Effective, Entry};
pub use error::{ConfigError, ConfigErrors};
pub use load::{load, split_override, ConfigFile, Sources};
pub use origin::Origin;
pub use reload::{diff, reload, Changes};
pub use schema::{
    field, Apply, Config, Discovery, Disk, Env, Field, Limits, Network, Observability, Scope, Strategy,
    DEFAULT_DHT_BOOTSTRAP, FIELDS, SECTIONS,
};
pub use value::{Bounds, LogLevel, PieceSelection, Preallocate, Seconds};
