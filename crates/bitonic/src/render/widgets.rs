//! Pieces every screen uses: the header, the reconnecting banner, the status line, progress bars.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::view::format::{bytes, rate};
use crate::view::rows::State;
use crate::view::{App, Connection, Screen};

/// The top line: the program, the daemon, the session's rates and counts, the alerts firing.
pub fn header(app: &App, width: u16) -> Paragraph<'static> {
    let mut spans = vec![Span::styled(
        " bitonic ",
        Style::new().fg(Color::Black).bg(Color::Cyan).add_modifier(Modifier::BOLD),
    )];
    // Firing alerts show on every screen, first so a narrow terminal keeps them; their details
    // are on the session screen.
    let firing = app.alerts.firing().len();
    if firing > 0 {
        let text = format!(" {firing} alert{} firing ", if firing == 1 { "" } else { "s" });
        spans.push(Span::styled(
            text,
            Style::new().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(s) = &app.snapshot {
        spans.push(Span::raw(format!(
            " ↓ {}  ↑ {}  {} torrents  {} peers",
            rate_or_zero(s.download_rate),
            rate_or_zero(s.upload_rate),
            s.torrents.len(),
            s.connected_peers
        )));
        if let Some(dht) = &s.dht {
            spans.push(Span::raw(format!("  DHT {}", dht.good_nodes)));
        }
    }
    // The address only when there is room for it.
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    if let Connection::Connected { url } = &app.connection {
        if used + 2 + url.chars().count() <= usize::from(width) {
            spans.push(Span::styled(format!("  {url}"), Style::new().fg(Color::DarkGray)));
        }
    }
    Paragraph::new(Line::from(spans))
}

/// The "reconnecting" line while the daemon does not answer.
pub fn banner(app: &App) -> Option<Paragraph<'static>> {
    let text = match &app.connection {
        Connection::Connected { .. } => return None,
        Connection::Connecting => " connecting to the ccbt daemon…".to_owned(),
        Connection::Reconnecting { error, since } => {
            let stale = match app.last_update {
                Some(at) => format!("; figures from {}s ago", app.now.saturating_sub(at)),
                None => String::new(),
            };
            format!(" reconnecting to the daemon ({}s): {error}{stale}", app.now.saturating_sub(*since))
        }
    };
    Some(
        Paragraph::new(text).style(Style::new().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD)),
    )
}

/// The bottom line: the last message, else the main keys of the screen.
pub fn status(app: &App, width: u16) -> Paragraph<'static> {
    if let Some(message) = &app.message {
        let style = if message.error { Style::new().fg(Color::Red) } else { Style::new().fg(Color::Green) };
        return Paragraph::new(format!(" {}", message.text)).style(style);
    }
    let hints = match (app.screen, width >= 90) {
        (Screen::List, true) => {
            "q quit  ? help  / filter  s sort  Enter open  a add  p pause  d remove  S session"
        }
        (Screen::List, false) => "q quit ? help / filter s sort Enter open a add p pause d remove",
        (Screen::Torrent, _) => "Esc back  Tab next tab  p pause  d remove  c recheck  R announce  ? help",
        (Screen::Session, _) => "Esc back  Tab list  a add  L limits  ? help  q quit",
    };
    Paragraph::new(format!(" {hints}")).style(Style::new().fg(Color::DarkGray))
}

/// A rate, `0 B/s` when idle (in sentences, where `-` reads oddly).
pub fn rate_or_zero(value: u64) -> String {
    if value == 0 {
        "0 B/s".to_owned()
    } else {
        rate(value)
    }
}

/// `██████░░░░ 42.3%` in `width` cells.
pub fn progress_bar(fraction: f64, width: usize) -> String {
    let label = crate::view::format::percent(fraction);
    // The label takes 7 cells (` 100.0%`), the bar the rest.
    let bar_width = width.saturating_sub(7);
    let full = ((fraction.clamp(0.0, 1.0) * bar_width as f64).floor() as usize).min(bar_width);
    format!("{}{} {label:>6}", "█".repeat(full), "░".repeat(bar_width - full)).chars().take(width).collect()
}

/// The colour of a state.
pub fn state_style(state: State) -> Style {
    match state {
        State::Downloading => Style::new().fg(Color::Cyan),
        State::Seeding => Style::new().fg(Color::Green),
        State::Paused => Style::new().fg(Color::DarkGray),
        State::Error => Style::new().fg(Color::Red),
        State::Checking | State::FetchingMetadata => Style::new().fg(Color::Yellow),
        State::Other => Style::new(),
    }
}

/// `1.2 GiB` or `-` for an unknown size (a magnet link before its metadata).
pub fn size(value: u64) -> String {
    if value == 0 {
        "-".to_owned()
    } else {
        bytes(value)
    }
}
