//! Draws the [`App`] with ratatui widgets into any backend (the terminal, or `TestBackend` in
//! the snapshot tests). Each screen keeps to a readable layout down to 80x24: columns that do
//! not fit are dropped from the least useful, graphs are left out on short terminals.

mod alerts;
mod list;
mod pieces;
mod popup;
mod session;
mod torrent;
mod widgets;

use ratatui::layout::{Constraint, Layout};
use ratatui::Frame;

use crate::view::{App, Screen};

/// Draws the whole screen. Takes the app mutably: the list's scroll position follows the
/// selection, and the list's place on screen is kept for mouse clicks.
pub fn draw(frame: &mut Frame, app: &mut App) {
    let area = frame.area();
    let banner = widgets::banner(app);
    let [header, banner_area, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(u16::from(banner.is_some())),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(widgets::header(app, area.width), header);
    if let Some(banner) = banner {
        frame.render_widget(banner, banner_area);
    }
    app.hits.clear();
    match app.screen {
        Screen::List => list::draw(frame, body, app),
        Screen::Torrent => torrent::draw(frame, body, app),
        Screen::Session => session::draw(frame, body, app),
    }
    frame.render_widget(widgets::status(app, area.width), status);
    if app.help.is_some() {
        popup::help(frame, area, app);
    } else if app.dialog.is_some() {
        popup::dialog(frame, area, app);
    }
}
