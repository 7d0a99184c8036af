//! bitonic, ccbt's terminal dashboard: a live view of a ccbt daemon over its HTTP API and event
//! stream (docs/ARCHITECTURE.md, "Dashboard (bitonic)").
//!
//! - [`view`]: the pure state (list, sort, filter, selection, screens, keys, dialogs, histories).
//! - [`render`]: ratatui widgets drawing that state into any backend.
//! - [`worker`]: the threads that poll the daemon, follow its events and run commands.
//! - [`run`]: the terminal loop tying them together.

pub mod render;
mod terminal;
pub mod view;
pub mod worker;

pub use terminal::run;
