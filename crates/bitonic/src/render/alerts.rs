//! The session screen's alerts: the alerts firing now (the most severe first) and the history of
//! fired and resolved alerts, newest first, with their values in the metric's unit.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::view::alerts::{metric_value, Status};
use crate::view::format::duration;
use crate::view::App;

/// The alerts firing above, the history below, in `area`.
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let active = active_lines(app);
    // The firing alerts take what they need, up to half the room; the history the rest.
    let wanted = u16::try_from(active.len()).unwrap_or(u16::MAX).saturating_add(1);
    let height = wanted.clamp(2, (area.height / 2).max(2));
    let [active_area, history_area] =
        Layout::vertical([Constraint::Length(height), Constraint::Min(0)]).areas(area);
    let block = Block::new().borders(Borders::TOP).title(active_title(app));
    frame.render_widget(Paragraph::new(active).block(block), active_area);
    history(frame, history_area, app);
}

fn active_title(app: &App) -> String {
    match &app.alerts.status {
        Status::Loaded(view) => {
            let rules = view.rules.len();
            let plural = if rules == 1 { "" } else { "s" };
            format!(
                " Alerts: {} firing, {} pending, {rules} rule{plural} ",
                view.firing.len(),
                view.pending.len()
            )
        }
        _ => " Alerts ".to_owned(),
    }
}

fn dim(text: impl Into<String>) -> Line<'static> {
    Line::from(text.into()).style(Style::new().fg(Color::DarkGray))
}

fn active_lines(app: &App) -> Vec<Line<'static>> {
    let view = match &app.alerts.status {
        Status::Unknown => return vec![dim("…")],
        Status::Unavailable(why) => return vec![dim(format!("not offered by this daemon: {why}"))],
        Status::Loaded(view) => view,
    };
    let mut lines = Vec::new();
    if let Some(error) = &view.rules_error {
        let first = error.lines().next().unwrap_or_default();
        lines.push(Line::from(format!("rules file refused: {first}")).style(Style::new().fg(Color::Red)));
    }
    let firing = app.alerts.firing();
    if firing.is_empty() {
        lines.push(dim(format!("none firing ({})", view.rules_file.display())));
    }
    for alert in firing {
        let age = duration(Some(app.wall_clock.saturating_sub(alert.since)));
        lines.push(Line::from(vec![
            severity(&alert.severity),
            Span::raw(format!(
                " {}  {}  {}  for {age}",
                alert.rule,
                scope(app, alert.torrent.as_deref()),
                metric_value(&alert.metric, alert.value)
            )),
        ]));
    }
    lines
}

fn history(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::new().borders(Borders::TOP).title(" Alert history ");
    let height = usize::from(block.inner(area).height);
    let lines: Vec<Line> = if app.alerts.history.is_empty() {
        vec![dim("no alert fired or resolved")]
    } else {
        app.alerts.history.iter().rev().take(height).map(|r| history_line(app, r)).collect()
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn history_line(app: &App, r: &ccbt_api::AlertEventView) -> Line<'static> {
    let ago = format!("{:>6} ago ", duration(Some(app.wall_clock.saturating_sub(r.at))));
    let value = r.value.map(|v| format!("  {}", metric_value(&r.metric, v))).unwrap_or_default();
    let reason = r.reason.as_deref().map(|why| format!("  ({why})")).unwrap_or_default();
    let kind = if r.kind == "fired" {
        Span::styled("fired    ", Style::new().fg(Color::Yellow))
    } else {
        Span::styled("resolved ", Style::new().fg(Color::Green))
    };
    Line::from(vec![
        Span::raw(ago),
        kind,
        severity(&r.severity),
        Span::raw(format!(" {}  {}{value}{reason}", r.rule, scope(app, r.torrent.as_deref()))),
    ])
}

/// The severity, fixed width, coloured.
fn severity(severity: &str) -> Span<'static> {
    let style = match severity {
        "critical" => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        "warning" => Style::new().fg(Color::Yellow),
        _ => Style::new().fg(Color::Cyan),
    };
    let short = match severity {
        "critical" => "CRIT",
        "warning" => "WARN",
        "info" => "INFO",
        other => other,
    };
    Span::styled(format!("{short:<4}"), style)
}

/// What an alert is about: a torrent by name (its hash's start when the snapshot lacks it), or
/// the session.
fn scope(app: &App, torrent: Option<&str>) -> String {
    let Some(hash) = torrent else { return "session".to_owned() };
    app.snapshot
        .iter()
        .flat_map(|s| &s.torrents)
        .find(|t| t.torrent.info_hash == hash)
        .map(|t| t.torrent.name.clone())
        .unwrap_or_else(|| hash.chars().take(8).collect())
}
