//! The dashboard's state, free of terminal, network, file and clock access, so every rule of
//! it (sorting, filtering, selection, keys, dialogs) is tested without a terminal.

pub mod alerts;
pub mod app;
pub mod client;
pub mod dialog;
pub mod event_line;
pub mod format;
pub mod history;
pub mod keys;
pub mod list;
pub mod messages;
pub mod pieces;
pub mod rows;

pub use app::{App, Connection, Folders, Hit, Screen, Tab, TabData, Target, Wants};
pub use messages::{Command, Update};
