//! The pieces tab: one character per group of pieces, its shade the verified share, its colour
//! how many connected peers have the group's rarest piece.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::view::pieces::{fold, MapCell};
use crate::view::App;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let Some(map) = &app.detail.pieces else {
        let text = match app.open_row().map(|r| r.state) {
            Some(crate::view::rows::State::FetchingMetadata) => "no pieces before the metadata arrives",
            _ => "loading…",
        };
        return frame.render_widget(Paragraph::new(text).style(Style::new().fg(Color::DarkGray)), area);
    };
    let [legend_area, grid] = Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(area);
    let width = usize::from(grid.width);
    let cells = fold(map, width * usize::from(grid.height));
    let have: u64 = map.cells.iter().map(|c| u64::from(c.have)).sum();
    let per_cell = u64::from(map.pieces).div_ceil(cells.len().max(1) as u64);
    let legend = vec![
        Line::from(match per_cell {
            1 => format!("{} pieces, {have} verified; a cell is one piece", map.pieces),
            n => format!("{} pieces, {have} verified; a cell is up to {n} pieces", map.pieces),
        }),
        Line::from(vec![
            Span::raw("█ all verified  ▓ most  ▒ some  ░ few  · none   rarest piece on: "),
            Span::styled("0", availability_style(0)),
            Span::raw(" "),
            Span::styled("1", availability_style(1)),
            Span::raw(" "),
            Span::styled("2-3", availability_style(2)),
            Span::raw(" "),
            Span::styled("4+", availability_style(4)),
            Span::raw(" peers"),
        ]),
    ];
    frame.render_widget(Paragraph::new(legend), legend_area);
    let lines: Vec<Line> = cells
        .chunks(width.max(1))
        .map(|row| Line::from(row.iter().map(|&c| span(c)).collect::<Vec<_>>()))
        .collect();
    frame.render_widget(Paragraph::new(lines), grid);
}

fn span(cell: MapCell) -> Span<'static> {
    Span::styled(cell.glyph().to_string(), availability_style(cell.min_availability))
}

fn availability_style(peers: u32) -> Style {
    Style::new().fg(match peers {
        0 => Color::Red,
        1 => Color::Yellow,
        2 | 3 => Color::Cyan,
        _ => Color::Green,
    })
}
