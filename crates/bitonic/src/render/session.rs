//! The session screen: rate graphs over time, connections, DHT, queues, totals, the alerts
//! firing with their history, and the events the daemon sent.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};
use ratatui::Frame;

use super::widgets::rate_or_zero;
use crate::view::format::bytes;
use crate::view::App;

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App) {
    let graphs = (area.height / 3).clamp(4, 12);
    let [graph_area, rest] = Layout::vertical([Constraint::Length(graphs), Constraint::Min(0)]).areas(area);
    rate_graphs(frame, graph_area, app);
    let figures_width = if area.width >= 100 { 48 } else { area.width / 2 };
    let [figures_area, right] =
        Layout::horizontal([Constraint::Length(figures_width), Constraint::Min(0)]).areas(rest);
    frame.render_widget(figures(app), figures_area);
    let [alerts_area, events_area] =
        Layout::vertical([Constraint::Fill(2), Constraint::Fill(1)]).areas(right);
    super::alerts::draw(frame, alerts_area, app);
    events(frame, events_area, app);
}

/// Download and upload sparklines side by side, newest samples on the right.
pub fn rate_graphs(frame: &mut Frame, area: Rect, app: &App) {
    let [down_area, up_area] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(area);
    let samples = usize::from(down_area.width.saturating_sub(2));
    let (down_peak, up_peak) = app.history.peaks(samples);
    let (down_now, up_now) = app.snapshot.as_ref().map_or((0, 0), |s| (s.download_rate, s.upload_rate));
    let graph = |title: String, data: Vec<u64>, peak: u64, color: Color| {
        Sparkline::default()
            .block(Block::new().borders(Borders::TOP).title(title))
            .data(pad(data, samples))
            .max(peak.max(1))
            .style(Style::new().fg(color))
    };
    let down_title = format!(" ↓ {}  peak {} ", rate_or_zero(down_now), rate_or_zero(down_peak));
    let up_title = format!(" ↑ {}  peak {} ", rate_or_zero(up_now), rate_or_zero(up_peak));
    frame.render_widget(graph(down_title, app.history.down(samples), down_peak, Color::Cyan), down_area);
    frame.render_widget(graph(up_title, app.history.up(samples), up_peak, Color::Green), up_area);
}

/// `data` right-aligned in `width` samples (the graph fills from the right as time passes).
fn pad(data: Vec<u64>, width: usize) -> Vec<u64> {
    let mut out = vec![0; width.saturating_sub(data.len())];
    out.extend(data);
    out
}

fn figures(app: &App) -> Paragraph<'static> {
    let block = Block::new().borders(Borders::TOP | Borders::RIGHT).title(" Session ");
    let Some(s) = &app.snapshot else {
        return Paragraph::new("waiting for the daemon…").block(block);
    };
    let mut lines = vec![
        Line::from(format!("Connections  {} up, {} handshaking", s.connected_peers, s.handshaking_peers)),
        Line::from(format!("Banned IPs   {}", s.banned_peers)),
        Line::from(format!("Queues       hash {}, disk {}", s.hash_queue_depth, s.disk_queue_depth)),
        Line::from(format!("Limits       {}", limits(app))),
    ];
    match &s.dht {
        Some(d) => {
            lines.push(Line::from(format!(
                "DHT nodes    {} good, {} questionable",
                d.good_nodes, d.questionable_nodes
            )));
            lines.push(Line::from(format!(
                "DHT          {} lookups, {} queries in, {} out",
                d.active_lookups, d.queries_in, d.queries_out
            )));
        }
        None => lines.push(Line::from("DHT          off")),
    }
    let t = &s.totals;
    lines.extend([
        Line::from(format!("Downloaded   {}", bytes(t.downloaded))),
        Line::from(format!("Uploaded     {}", bytes(t.uploaded))),
        Line::from(format!("Wasted       {} ({} hash failures)", bytes(t.wasted), t.hash_failures)),
        Line::from(format!("Peers dialed {} ok, {} failed", t.connections_succeeded, t.connections_failed)),
        Line::from(format!("Announces    {} ok, {} failed", t.announces_ok, t.announces_failed)),
    ]);
    Paragraph::new(lines).block(block)
}

/// The session's rate limits, `L` to change them.
fn limits(app: &App) -> String {
    let limit = |rate: u64| if rate == 0 { "unlimited".to_owned() } else { rate_or_zero(rate) };
    match &app.session_limits {
        Some(l) => format!("↓ {}  ↑ {}  (L)", limit(l.download), limit(l.upload)),
        None => "…".to_owned(),
    }
}

fn events(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::new().borders(Borders::TOP).title(" Events ");
    let height = usize::from(block.inner(area).height);
    let lines: Vec<Line> = if app.events.is_empty() {
        vec![Line::from("none since bitonic started").style(Style::new().fg(Color::DarkGray))]
    } else {
        // Newest first.
        app.events.iter().rev().take(height).map(|e| Line::from(e.clone())).collect()
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
