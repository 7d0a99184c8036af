//! The torrent list screen: a table of the visible rows, and the rate graphs when there is room.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Row as TableRow, Table};
use ratatui::Frame;

use super::widgets::{progress_bar, size, state_style};
use crate::view::format::{duration, rate, ratio, truncate};
use crate::view::rows::Row;
use crate::view::App;

/// The columns after the name, with their widths; dropped from the last when space is short.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Column {
    Progress,
    State,
    Down,
    Up,
    Eta,
    Size,
    Peers,
    Ratio,
}

/// The order columns are given up in, least useful first.
const DROP_ORDER: [Column; 8] = [
    Column::Ratio,
    Column::Peers,
    Column::Size,
    Column::Eta,
    Column::Up,
    Column::State,
    Column::Down,
    Column::Progress,
];
const ALL: [Column; 8] = [
    Column::Size,
    Column::Progress,
    Column::State,
    Column::Down,
    Column::Up,
    Column::Peers,
    Column::Ratio,
    Column::Eta,
];
/// The name keeps at least this many cells.
const NAME_MIN: u16 = 20;

impl Column {
    fn width(self) -> u16 {
        match self {
            Column::Size => 9,
            Column::Progress => 14,
            Column::State => 11,
            Column::Down | Column::Up => 11,
            Column::Peers => 7,
            Column::Ratio => 5,
            Column::Eta => 7,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Column::Size => "Size",
            Column::Progress => "Progress",
            Column::State => "State",
            Column::Down => "Down",
            Column::Up => "Up",
            Column::Peers => "Peers",
            Column::Ratio => "Ratio",
            Column::Eta => "ETA",
        }
    }

    fn cell(self, row: &Row) -> Cell<'static> {
        let text = match self {
            Column::Size => size(row.size),
            Column::Progress => progress_bar(row.progress, usize::from(self.width())),
            Column::State => return Cell::from(row.state.label()).style(state_style(row.state)),
            Column::Down => rate(row.down),
            Column::Up => rate(row.up),
            Column::Peers => match row.seeds {
                Some(seeds) => format!("{}/{}", row.peers, seeds),
                None => row.peers.to_string(),
            },
            Column::Ratio => ratio(row.ratio()),
            Column::Eta => match row.state {
                crate::view::rows::State::Downloading => duration(row.eta),
                _ => String::new(),
            },
        };
        let right = !matches!(self, Column::Progress);
        let line = if right { Line::from(text).right_aligned() } else { Line::from(text) };
        Cell::from(line)
    }
}

/// The columns that fit in `width` cells next to the name.
fn columns(width: u16) -> Vec<Column> {
    let mut kept: Vec<Column> = ALL.to_vec();
    let used = |kept: &[Column]| kept.iter().map(|c| c.width() + 1).sum::<u16>();
    for drop in DROP_ORDER {
        if used(&kept) + NAME_MIN <= width {
            break;
        }
        kept.retain(|&c| c != drop);
    }
    kept
}

pub fn draw(frame: &mut Frame, area: Rect, app: &mut App) {
    // The graphs need a few lines; a short terminal gives them to the list.
    let graphs = if area.height >= 20 { 5 } else { 0 };
    let [table_area, graph_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(graphs)]).areas(area);
    table(frame, table_area, app);
    if graphs > 0 {
        super::session::rate_graphs(frame, graph_area, app);
    }
}

fn table(frame: &mut Frame, area: Rect, app: &mut App) {
    let block = Block::new().borders(Borders::TOP).title(title(app));
    let inner = block.inner(area);
    // One line for the column titles.
    let rows_height = inner.height.saturating_sub(1);
    let offset = app.list.scroll(usize::from(rows_height));
    let target = crate::view::Target::ListRow(offset);
    app.hits.push(crate::view::Hit {
        x: inner.x,
        y: inner.y + 1,
        width: inner.width,
        height: rows_height,
        target,
    });
    let selected = app.list.selected_position();
    let columns = columns(area.width);
    let name_width = area.width.saturating_sub(columns.iter().map(|c| c.width() + 1).sum::<u16>());
    let rows: Vec<TableRow> = app
        .list
        .visible()
        .enumerate()
        .skip(offset)
        .take(usize::from(rows_height))
        .map(|(at, row)| {
            // A marker as well as the colour: the selection must show in plain text too (a
            // terminal without colours, a screen capture).
            let marker = if Some(at) == selected { '›' } else { ' ' };
            let name = truncate(&row.name, usize::from(name_width).saturating_sub(1));
            let mut cells = vec![Cell::from(format!("{marker}{name}"))];
            cells.extend(columns.iter().map(|c| c.cell(row)));
            let style = if Some(at) == selected {
                Style::new().bg(Color::Blue).fg(Color::White).add_modifier(Modifier::BOLD)
            } else {
                Style::new()
            };
            TableRow::new(cells).style(style)
        })
        .collect();
    let mut widths = vec![Constraint::Min(name_width.min(NAME_MIN))];
    widths.extend(columns.iter().map(|c| Constraint::Length(c.width())));
    let mut header = vec![Cell::from(" Name")];
    header.extend(columns.iter().map(|c| {
        let line = Line::from(c.title());
        Cell::from(if *c == Column::Progress { line } else { line.right_aligned() })
    }));
    let header =
        TableRow::new(header).style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let table = Table::new(rows, widths).header(header).block(block).column_spacing(1);
    frame.render_widget(table, area);
    if app.list.visible_len() == 0 {
        let text = if app.list.total() == 0 {
            "No torrents yet: press a to add a .torrent file or a magnet link."
        } else {
            "No torrent matches the filter (/ to change it, Esc in it clears it)."
        };
        let at = Rect { y: inner.y + 1, height: 1, ..inner };
        frame.render_widget(Line::from(text).style(Style::new().fg(Color::DarkGray)), at);
    }
}

fn title(app: &App) -> String {
    let list = &app.list;
    let arrow = if list.descending { "↓" } else { "↑" };
    let mut title =
        format!(" Torrents {}/{}  sort: {} {arrow} ", list.visible_len(), list.total(), list.sort.label());
    if !list.filter().is_empty() {
        title.push_str(&format!(" filter: {} ", list.filter()));
    }
    title
}
