//! The torrent list: every row, the ones the filter lets through in sort order, the selected
//! torrent and the scroll position. The selection is an info hash, so it stays on the same
//! torrent when the list is re-sorted or refreshed.

use std::cmp::Ordering;

use super::rows::Row;

/// What the list is sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    /// The daemon's order (when the torrents were added).
    Added,
    Name,
    Size,
    Progress,
    State,
    Down,
    Up,
    Peers,
    Ratio,
    Eta,
}

impl SortKey {
    /// Every key, in the order `s` steps through them.
    pub const ALL: [SortKey; 10] = [
        SortKey::Added,
        SortKey::Name,
        SortKey::Size,
        SortKey::Progress,
        SortKey::State,
        SortKey::Down,
        SortKey::Up,
        SortKey::Peers,
        SortKey::Ratio,
        SortKey::Eta,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Added => "added",
            SortKey::Name => "name",
            SortKey::Size => "size",
            SortKey::Progress => "progress",
            SortKey::State => "state",
            SortKey::Down => "down",
            SortKey::Up => "up",
            SortKey::Peers => "peers",
            SortKey::Ratio => "ratio",
            SortKey::Eta => "eta",
        }
    }

    pub fn next(self) -> SortKey {
        let at = SortKey::ALL.iter().position(|&k| k == self).unwrap_or(0);
        SortKey::ALL[(at + 1) % SortKey::ALL.len()]
    }

    /// `a` against `b` ascending by this key (ties are broken by the caller).
    fn compare(self, a: &Row, b: &Row) -> Ordering {
        match self {
            SortKey::Added => a.position.cmp(&b.position),
            SortKey::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
            SortKey::Size => a.size.cmp(&b.size),
            SortKey::Progress => a.progress.total_cmp(&b.progress),
            SortKey::State => a.state.cmp(&b.state),
            SortKey::Down => a.down.cmp(&b.down),
            SortKey::Up => a.up.cmp(&b.up),
            SortKey::Peers => a.peers.cmp(&b.peers),
            SortKey::Ratio => a.ratio().unwrap_or(-1.0).total_cmp(&b.ratio().unwrap_or(-1.0)),
            // Unknown ETAs last when ascending: the torrents closest to done come first.
            SortKey::Eta => a.eta.unwrap_or(u64::MAX).cmp(&b.eta.unwrap_or(u64::MAX)),
        }
    }
}

/// The list's state.
#[derive(Clone, Debug)]
pub struct TorrentList {
    rows: Vec<Row>,
    /// Indices into `rows` of the rows shown, in display order.
    visible: Vec<usize>,
    pub sort: SortKey,
    pub descending: bool,
    filter: String,
    selected: Option<String>,
    /// Index in `visible` of the first row drawn.
    offset: usize,
}

impl Default for TorrentList {
    fn default() -> TorrentList {
        TorrentList {
            rows: Vec::new(),
            visible: Vec::new(),
            sort: SortKey::Added,
            descending: false,
            filter: String::new(),
            selected: None,
            offset: 0,
        }
    }
}

impl TorrentList {
    /// Replaces the rows (a new snapshot); the selection stays on its torrent while it is shown,
    /// else moves to the row now at its place.
    pub fn set_rows(&mut self, rows: Vec<Row>) {
        let old_position = self.selected_position();
        self.rows = rows;
        self.refresh(old_position);
    }

    pub fn set_sort(&mut self, key: SortKey, descending: bool) {
        self.sort = key;
        self.descending = descending;
        self.refresh(self.selected_position());
    }

    pub fn filter(&self) -> &str {
        &self.filter
    }

    pub fn set_filter(&mut self, filter: &str) {
        self.filter = filter.to_owned();
        self.refresh(self.selected_position());
    }

    /// Every row the daemon reported, filtered out or not.
    pub fn total(&self) -> usize {
        self.rows.len()
    }

    /// The rows shown, in order.
    pub fn visible(&self) -> impl ExactSizeIterator<Item = &Row> + '_ {
        self.visible.iter().map(|&i| &self.rows[i])
    }

    pub fn visible_len(&self) -> usize {
        self.visible.len()
    }

    pub fn selected(&self) -> Option<&Row> {
        let at = self.selected_position()?;
        Some(&self.rows[self.visible[at]])
    }

    /// The selected row's index among the rows shown.
    pub fn selected_position(&self) -> Option<usize> {
        let hash = self.selected.as_deref()?;
        self.visible.iter().position(|&i| self.rows[i].info_hash == hash)
    }

    /// Moves the selection by `delta` rows (clamped to the list).
    pub fn move_by(&mut self, delta: isize) {
        if self.visible.is_empty() {
            return;
        }
        let at = self.selected_position().unwrap_or(0) as isize;
        let last = self.visible.len() as isize - 1;
        self.select_position((at + delta).clamp(0, last) as usize);
    }

    pub fn select_first(&mut self) {
        self.select_position(0);
    }

    pub fn select_last(&mut self) {
        self.select_position(self.visible.len().saturating_sub(1));
    }

    /// Selects the row at `position` among those shown (a mouse click); nothing when there is
    /// none.
    pub fn select_position(&mut self, position: usize) {
        if let Some(&i) = self.visible.get(position) {
            self.selected = Some(self.rows[i].info_hash.clone());
        }
    }

    /// The first row to draw in a window of `height` rows so that the selection is in view
    /// (the window only scrolls when the selection would leave it).
    pub fn scroll(&mut self, height: usize) -> usize {
        let max_offset = self.visible.len().saturating_sub(height.max(1));
        self.offset = self.offset.min(max_offset);
        if let Some(at) = self.selected_position() {
            if at < self.offset {
                self.offset = at;
            } else if height > 0 && at >= self.offset + height {
                self.offset = at + 1 - height;
            }
        }
        self.offset
    }

    /// Recomputes the shown rows; `old_position` is where the selection was.
    fn refresh(&mut self, old_position: Option<usize>) {
        let needle = self.filter.to_lowercase();
        let mut visible: Vec<usize> =
            (0..self.rows.len()).filter(|&i| matches(&self.rows[i], &needle)).collect();
        let (key, descending) = (self.sort, self.descending);
        visible.sort_by(|&a, &b| {
            let (a, b) = (&self.rows[a], &self.rows[b]);
            let order = key.compare(a, b);
            let order = if descending { order.reverse() } else { order };
            // Equal keys keep the daemon's order, so rows do not swap places between refreshes.
            order.then(a.position.cmp(&b.position))
        });
        self.visible = visible;
        if self.selected_position().is_none() {
            self.selected = None;
            if !self.visible.is_empty() {
                let at = old_position.unwrap_or(0).min(self.visible.len() - 1);
                self.select_position(at);
            }
        }
    }
}

/// Whether `row` passes the filter `needle` (lower case): part of its name, or the start of its
/// info hash.
fn matches(row: &Row, needle: &str) -> bool {
    needle.is_empty() || row.name.to_lowercase().contains(needle) || row.info_hash.starts_with(needle)
}

#[cfg(test)]
mod tests {
    use super::super::rows::State;
    use super::*;

    fn row(position: usize, name: &str, size: u64, down: u64) -> Row {
        Row {
            info_hash: format!("{:02x}", position % 256).repeat(20),
            name: name.to_owned(),
            state: State::Downloading,
            error: None,
            size,
            progress: 0.0,
            down,
            up: 0,
            peers: 0,
            seeds: None,
            uploaded: 0,
            downloaded: 0,
            eta: None,
            position,
        }
    }

    fn names(list: &TorrentList) -> Vec<&str> {
        list.visible().map(|r| r.name.as_str()).collect()
    }

    fn sample() -> TorrentList {
        let mut list = TorrentList::default();
        list.set_rows(vec![row(0, "debian", 300, 5), row(1, "Arch", 100, 9), row(2, "ubuntu", 200, 5)]);
        list
    }

    #[test]
    fn sorts_by_each_key_with_stable_ties() {
        let mut list = sample();
        assert_eq!(names(&list), ["debian", "Arch", "ubuntu"]);
        list.set_sort(SortKey::Name, false);
        assert_eq!(names(&list), ["Arch", "debian", "ubuntu"], "case-insensitive");
        list.set_sort(SortKey::Size, true);
        assert_eq!(names(&list), ["debian", "ubuntu", "Arch"]);
        // debian and ubuntu tie on rate: the daemon's order decides, in both directions.
        list.set_sort(SortKey::Down, true);
        assert_eq!(names(&list), ["Arch", "debian", "ubuntu"]);
        list.set_sort(SortKey::Down, false);
        assert_eq!(names(&list), ["debian", "ubuntu", "Arch"]);
        let mut key = SortKey::Added;
        for _ in 0..SortKey::ALL.len() {
            key = key.next();
        }
        assert_eq!(key, SortKey::Added, "s cycles through every key");
    }

    #[test]
    fn filter_matches_name_or_hash_prefix() {
        let mut list = sample();
        list.set_filter("DEB");
        assert_eq!(names(&list), ["debian"]);
        list.set_filter("0202");
        assert_eq!(names(&list), ["ubuntu"]);
        list.set_filter("nothing");
        assert_eq!(list.visible_len(), 0);
        assert!(list.selected().is_none());
        list.move_by(1);
        assert!(list.selected().is_none(), "moving in an empty list does nothing");
        list.set_filter("");
        assert_eq!(list.visible_len(), 3);
        assert_eq!(list.total(), 3);
    }

    #[test]
    fn selection_follows_its_torrent_and_clamps() {
        let mut list = sample();
        assert_eq!(list.selected().unwrap().name, "debian", "the first row is selected at start");
        list.move_by(1);
        assert_eq!(list.selected().unwrap().name, "Arch");
        list.set_sort(SortKey::Name, false);
        assert_eq!(list.selected().unwrap().name, "Arch", "re-sorting keeps the torrent");
        assert_eq!(list.selected_position(), Some(0));
        list.move_by(-5);
        assert_eq!(list.selected_position(), Some(0));
        list.move_by(50);
        assert_eq!(list.selected().unwrap().name, "ubuntu");
        // The selected torrent is removed: the row now at its place is selected.
        list.set_rows(vec![row(0, "debian", 300, 5), row(1, "Arch", 100, 9)]);
        assert_eq!(list.selected().unwrap().name, "debian");
        list.select_first();
        assert_eq!(list.selected().unwrap().name, "Arch");
        list.select_position(7);
        assert_eq!(list.selected().unwrap().name, "Arch", "a click below the rows changes nothing");
    }

    #[test]
    fn scrolls_only_to_keep_the_selection_in_view() {
        let mut list = TorrentList::default();
        list.set_rows((0..100).map(|i| row(i, &format!("t{i:03}"), i as u64, 0)).collect());
        assert_eq!(list.scroll(10), 0);
        list.move_by(9);
        assert_eq!(list.scroll(10), 0);
        list.move_by(1);
        assert_eq!(list.scroll(10), 1);
        list.move_by(-3);
        assert_eq!(list.scroll(10), 1, "moving inside the window does not scroll");
        list.select_last();
        assert_eq!(list.scroll(10), 90);
        // A taller window shows more rows: the offset shrinks so the window stays full.
        assert_eq!(list.scroll(30), 70);
        list.set_filter("t00");
        assert_eq!(list.scroll(30), 0);
    }

    #[test]
    fn thousands_of_rows_sort_and_filter() {
        let mut list = TorrentList::default();
        let rows: Vec<Row> =
            (0..20_000).map(|i| row(i, &format!("torrent {i}"), (i * 7919 % 20_000) as u64, 0)).collect();
        list.set_rows(rows);
        list.set_sort(SortKey::Size, false);
        let sizes: Vec<u64> = list.visible().map(|r| r.size).collect();
        assert!(sizes.windows(2).all(|w| w[0] <= w[1]));
        list.set_filter("torrent 1999");
        assert_eq!(list.visible_len(), 11, "1999 and 19990..=19999");
    }
}
