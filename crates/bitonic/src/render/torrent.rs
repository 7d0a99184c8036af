//! The torrent screen: its name and state, then the tabs (details, files, peers, trackers).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Tabs, Wrap};
use ratatui::Frame;

use super::widgets::{progress_bar, rate_or_zero, size, state_style};
use crate::view::format::{bytes, duration, rate, ratio, truncate};
use crate::view::{App, Hit, Tab, Target};

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App) {
    let [title_area, tabs_area, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let Some(row) = app.open_row() else {
        frame.render_widget(Paragraph::new("this torrent is gone"), area);
        return;
    };
    let title = Line::from(vec![
        Span::styled(format!(" {} ", row.name), Style::new().add_modifier(Modifier::BOLD)),
        Span::styled(row.state.label(), state_style(row.state)),
        Span::raw(format!("  {}", crate::view::format::percent(row.progress))),
    ]);
    frame.render_widget(title, title_area);
    let selected = Tab::ALL.iter().position(|&t| t == app.tab).unwrap_or(0);
    let tabs = Tabs::new(Tab::ALL.iter().map(|t| t.title()))
        .select(selected)
        .highlight_style(Style::new().fg(Color::Black).bg(Color::Cyan));
    frame.render_widget(tabs, tabs_area);
    // The tabs widget pads each title with a space on both sides and puts `│` between them.
    let mut x = tabs_area.x;
    for tab in Tab::ALL {
        let width = tab.title().chars().count() as u16 + 2;
        app.hits.push(Hit { x, y: tabs_area.y, width, height: 1, target: Target::Tab(tab) });
        x = x.saturating_add(width + 1);
    }
    let block = Block::new().borders(Borders::TOP);
    let inner = block.inner(body);
    frame.render_widget(block, body);
    match app.tab {
        Tab::Details => details(frame, inner, app),
        Tab::Files => files(frame, inner, app),
        Tab::Peers => peers(frame, inner, app),
        Tab::Trackers => trackers(frame, inner, app),
        Tab::Pieces => super::pieces::draw(frame, inner, app),
    }
}

fn details(frame: &mut Frame, area: Rect, app: &App) {
    let (Some(t), Some(row)) = (app.open_snapshot(), app.open_row()) else { return };
    let v = &t.torrent;
    let mut lines = vec![
        pair("Info hash", v.info_hash.clone()),
        pair("Save path", v.save_path.display().to_string()),
        pair(
            "Size",
            format!("{} ({} pieces, {} verified)", size(v.total_bytes), v.pieces_total, v.pieces_have),
        ),
        pair("Have", format!("{} of {}", bytes(v.bytes_have), bytes(v.total_bytes))),
        pair("Rates", format!("↓ {}  ↑ {}", rate_or_zero(v.download_rate), rate_or_zero(v.upload_rate))),
        pair(
            "ETA",
            if row.state == crate::view::rows::State::Downloading {
                duration(v.eta_secs)
            } else {
                "-".to_owned()
            },
        ),
        pair(
            "Transferred",
            format!("↓ {}  ↑ {}  wasted {}", bytes(v.downloaded), bytes(v.uploaded), bytes(v.wasted)),
        ),
        pair("Ratio", ratio(row.ratio())),
        pair(
            "Peers",
            format!(
                "{} connected; dialed {} ok, {} failed",
                v.connected_peers, t.connections_succeeded, t.connections_failed
            ),
        ),
        pair(
            "Requests",
            format!(
                "{} in flight to peers, {} from peers queued",
                t.outstanding_requests, t.queued_peer_requests
            ),
        ),
        pair("First data", first_data(t.time_to_first_byte_ms, t.time_to_first_piece_ms)),
        pair("Hashing", format!("{} pieces hashed, {} failed", v.hashed_pieces, bytes(t.hash_failed_bytes))),
        pair("Checkpoints", format!("{} written since start", t.checkpoint_writes)),
        pair("Limits", limits(app)),
    ];
    if let Some(error) = &v.error {
        lines.insert(0, pair("Error", error.clone()).style(Style::new().fg(Color::Red)));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

/// Time to the first payload byte and the first verified piece since downloading started.
fn first_data(byte_ms: Option<u64>, piece_ms: Option<u64>) -> String {
    let ms = |m: Option<u64>| match m {
        None => "-".to_owned(),
        Some(m) if m < 10_000 => format!("{m} ms"),
        Some(m) => duration(Some(m / 1000)),
    };
    format!("byte after {}, piece after {}", ms(byte_ms), ms(piece_ms))
}

/// The open torrent's rate limits, `t` to change them.
fn limits(app: &App) -> String {
    let limit = |rate: u64| if rate == 0 { "unlimited".to_owned() } else { rate_or_zero(rate) };
    match &app.detail.limits {
        Some(l) => format!("↓ {}  ↑ {}  (t to change)", limit(l.download), limit(l.upload)),
        None => "…".to_owned(),
    }
}

fn pair(name: &str, value: String) -> Line<'static> {
    Line::from(vec![Span::styled(format!("{name:<12} "), Style::new().fg(Color::DarkGray)), Span::raw(value)])
}

/// Title row style of the tab tables.
fn header<'a>(cells: impl IntoIterator<Item = &'a str>) -> Row<'a> {
    Row::new(cells).style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED))
}

fn loading(frame: &mut Frame, area: Rect) {
    frame.render_widget(Paragraph::new("loading…").style(Style::new().fg(Color::DarkGray)), area);
}

/// The window of `len` lines of `height` that shows line `at`.
fn window(at: usize, len: usize, height: usize) -> usize {
    if at < height {
        0
    } else {
        (at + 1 - height).min(len.saturating_sub(height))
    }
}

fn files(frame: &mut Frame, area: Rect, app: &mut App) {
    let Some(list) = &app.detail.files else { return loading(frame, area) };
    let height = usize::from(area.height.saturating_sub(1));
    let first = window(app.tab_line, list.files.len(), height);
    let hit = Hit {
        x: area.x,
        y: area.y + 1,
        width: area.width,
        height: height as u16,
        target: Target::TabLine(first),
    };
    let path_width = usize::from(area.width.saturating_sub(9 + 16 + 10 + 3));
    let rows = list.files.iter().enumerate().skip(first).take(height).map(|(at, f)| {
        let style = if at == app.tab_line {
            Style::new().bg(Color::Blue).fg(Color::White)
        } else if f.priority == "skip" {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        };
        let marker = if at == app.tab_line { '›' } else { ' ' };
        Row::new([
            Cell::from(format!("{marker}{}", f.priority)),
            Cell::from(progress_bar(f.progress, 16)),
            Cell::from(Line::from(bytes(f.length)).right_aligned()),
            Cell::from(truncate(&f.path, path_width)),
        ])
        .style(style)
    });
    let widths = [Constraint::Length(9), Constraint::Length(16), Constraint::Length(10), Constraint::Min(10)];
    let table = Table::new(rows, widths).header(header([" Priority", "Progress", "Size", "Path"]));
    frame.render_widget(table, area);
    app.hits.push(hit);
}

fn peers(frame: &mut Frame, area: Rect, app: &App) {
    let Some(list) = &app.detail.peers else { return loading(frame, area) };
    if list.peers.is_empty() {
        return frame.render_widget(Paragraph::new("no peer connected"), area);
    }
    let height = usize::from(area.height.saturating_sub(1));
    let first = app.tab_line.min(list.peers.len().saturating_sub(height));
    let wide = area.width >= 110;
    // The request queues only where the flags still fit beside them.
    let wider = area.width >= 120;
    let rows = list.peers.iter().skip(first).take(height).map(|p| {
        let mut cells = vec![
            Cell::from(p.addr.clone()),
            Cell::from(truncate(&crate::view::client::client_name(&p.client), 20)),
            Cell::from(Line::from(rate(p.download_rate)).right_aligned()),
            Cell::from(Line::from(rate(p.upload_rate)).right_aligned()),
            Cell::from(Line::from(crate::view::format::percent(p.progress)).right_aligned()),
            Cell::from(Line::from(p.health.map_or("-".to_owned(), |h| h.to_string())).right_aligned()),
        ];
        if wide {
            cells.push(Cell::from(
                Line::from(p.request_latency_ms.map_or("-".to_owned(), |l| format!("{l} ms")))
                    .right_aligned(),
            ));
        }
        if wider {
            // Our requests it has not answered, its requests we have not served.
            let queues = format!("{}/{}", p.outstanding_requests, p.queued_peer_requests);
            cells.push(Cell::from(Line::from(queues).right_aligned()));
        }
        cells.push(Cell::from(p.flags.join(" ")));
        Row::new(cells)
    });
    let mut widths = vec![
        Constraint::Length(21),
        Constraint::Length(20),
        Constraint::Length(11),
        Constraint::Length(11),
        Constraint::Length(6),
        Constraint::Length(6),
    ];
    let mut titles = vec!["Address", "Client", "Down", "Up", "Have", "Health"];
    if wide {
        widths.push(Constraint::Length(8));
        titles.push("Latency");
    }
    if wider {
        widths.push(Constraint::Length(8));
        titles.push("Req/Que");
    }
    widths.push(Constraint::Min(5));
    titles.push("Flags");
    frame.render_widget(Table::new(rows, widths).header(header(titles)), area);
}

fn trackers(frame: &mut Frame, area: Rect, app: &App) {
    let Some(list) = &app.detail.trackers else { return loading(frame, area) };
    if list.trackers.is_empty() {
        return frame.render_widget(Paragraph::new("no tracker (DHT and peer exchange only)"), area);
    }
    let height = usize::from(area.height.saturating_sub(1));
    let first = app.tab_line.min(list.trackers.len().saturating_sub(height));
    let rows = list.trackers.iter().skip(first).take(height).map(|t| {
        let counts = match (t.seeders, t.leechers) {
            (Some(s), Some(l)) => format!("{s}/{l}"),
            _ => "-".to_owned(),
        };
        let note = t.last_error.clone().or_else(|| t.last_warning.clone()).unwrap_or_default();
        let style = if t.status == "error" { Style::new().fg(Color::Red) } else { Style::new() };
        Row::new([
            Cell::from(t.tier.to_string()),
            Cell::from(t.status.clone()).style(style),
            Cell::from(Line::from(counts).right_aligned()),
            Cell::from(Line::from(duration(t.next_announce_secs)).right_aligned()),
            Cell::from(t.url.clone()),
            Cell::from(note).style(style),
        ])
    });
    let widths = [
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(7),
        Constraint::Fill(2),
        Constraint::Fill(1),
    ];
    let titles = ["Tier", "Status", "Seed/Lch", "Next", "URL", "Last error"];
    frame.render_widget(Table::new(rows, widths).header(header(titles)), area);
}
