//! Boxes over the screen: the help listing every key, the remove confirmation, the prompts.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::view::dialog::Dialog;
use crate::view::keys::{Context, BINDINGS};
use crate::view::App;

/// A box of at most `width` x `height` in the middle of `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] =
        Layout::vertical([Constraint::Length(height.min(area.height))]).flex(Flex::Center).areas(area);
    let [cell] =
        Layout::horizontal([Constraint::Length(width.min(area.width))]).flex(Flex::Center).areas(row);
    cell
}

/// Every key, grouped by where it applies (from the one key table, so none is missing).
pub fn help(frame: &mut Frame, area: Rect, app: &mut App) {
    let mut lines = Vec::new();
    for context in [Context::Anywhere, Context::List, Context::Torrent, Context::Files] {
        lines.push(Line::from(Span::styled(context.title(), Style::new().add_modifier(Modifier::BOLD))));
        for binding in BINDINGS.iter().filter(|b| b.context == context) {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<8}", binding.label), Style::new().fg(Color::Cyan)),
                Span::raw(binding.help),
            ]));
        }
    }
    lines.push(Line::from(Span::styled("Dialogs", Style::new().add_modifier(Modifier::BOLD))));
    lines.push(Line::from("  remove: y keeps the data, D deletes it, n or Esc cancels"));
    lines.push(Line::from("  prompts: Enter accepts, Esc cancels, Tab completes a path"));
    lines.push(Line::from("  mouse: a click selects a torrent, a tab or a file; the wheel scrolls"));
    let popup = centered(area, 86, area.height.saturating_sub(2));
    let inner_height = usize::from(popup.height.saturating_sub(2));
    // Scrolling stops when the last line is in view.
    let first = app.help.unwrap_or(0).min(lines.len().saturating_sub(inner_height));
    app.help = Some(first);
    let block = Block::bordered().title(" Keys (↑↓ scroll, any other key closes) ");
    let text: Vec<Line> = lines.into_iter().skip(first).collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(text).block(block), popup);
}

pub fn dialog(frame: &mut Frame, area: Rect, app: &App) {
    match &app.dialog {
        Some(Dialog::Remove { name, .. }) => {
            let lines = vec![
                Line::from(format!("Remove {name}?")),
                Line::from(""),
                Line::from(vec![
                    Span::styled("y", Style::new().fg(Color::Cyan)),
                    Span::raw(" remove, keep the data   "),
                    Span::styled("D", Style::new().fg(Color::Red)),
                    Span::raw(" remove and delete the data   "),
                    Span::styled("n", Style::new().fg(Color::Cyan)),
                    Span::raw(" cancel"),
                ]),
            ];
            let popup = centered(area, 76, 6);
            frame.render_widget(Clear, popup);
            let block = Block::bordered().title(" Remove torrent ");
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block), popup);
        }
        Some(Dialog::Prompt(prompt)) => {
            let mut lines = vec![Line::from(vec![
                Span::raw("> "),
                Span::raw(prompt.text.clone()),
                Span::styled("█", Style::new().fg(Color::Cyan)),
            ])];
            if let Some(error) = &prompt.error {
                lines.push(Line::from(error.clone()).style(Style::new().fg(Color::Red)));
            }
            if !prompt.candidates.is_empty() {
                lines.push(Line::from(prompt.candidates.join("  ")).style(Style::new().fg(Color::DarkGray)));
            }
            let popup = centered(area, area.width.saturating_sub(4).min(100), 6);
            frame.render_widget(Clear, popup);
            let block = Block::bordered().title(format!(" {} ", prompt.title()));
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block), popup);
        }
        None => {}
    }
}
