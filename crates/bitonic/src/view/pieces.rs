//! The pieces map: the daemon's runs of pieces folded into as many character cells as the screen
//! has, each with the share of its pieces verified and the availability of its rarest piece.

use ccbt_api::PieceMapView;

/// One character of the map.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MapCell {
    /// Verified share of its pieces, 0 to 1.
    pub done: f64,
    /// Connected peers having its rarest piece.
    pub min_availability: u32,
}

impl MapCell {
    /// `█` all verified, `▓` most, `▒` some, `░` a few, `·` none.
    pub fn glyph(self) -> char {
        match self.done {
            d if d >= 1.0 => '█',
            d if d >= 2.0 / 3.0 => '▓',
            d if d >= 1.0 / 3.0 => '▒',
            d if d > 0.0 => '░',
            _ => '·',
        }
    }
}

/// `map`'s runs in at most `slots` cells of nearly equal piece counts (each run goes whole into
/// the cell where it starts).
pub fn fold(map: &PieceMapView, slots: usize) -> Vec<MapCell> {
    let runs = &map.cells;
    let slots = slots.min(runs.len());
    if slots == 0 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(slots);
    for slot in 0..slots {
        let (first, end) = (slot * runs.len() / slots, (slot + 1) * runs.len() / slots);
        let group = &runs[first..end];
        let count: u64 = group.iter().map(|c| u64::from(c.count)).sum();
        let have: u64 = group.iter().map(|c| u64::from(c.have)).sum();
        out.push(MapCell {
            done: if count == 0 { 0.0 } else { have as f64 / count as f64 },
            min_availability: group.iter().map(|c| c.min_availability).min().unwrap_or(0),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccbt_api::PieceCellView;

    #[test]
    fn folds_runs_into_the_cells_that_fit() {
        let cell = |first, have, min_availability| PieceCellView { first, count: 4, have, min_availability };
        let map = PieceMapView {
            info_hash: String::new(),
            pieces: 16,
            cells: vec![cell(0, 4, 2), cell(4, 2, 1), cell(8, 0, 3), cell(12, 1, 0)],
        };
        let two = fold(&map, 2);
        assert_eq!(
            two,
            [MapCell { done: 0.75, min_availability: 1 }, MapCell { done: 0.125, min_availability: 0 }]
        );
        assert_eq!(two.iter().map(|c| c.glyph()).collect::<String>(), "▓░");
        let all: String = fold(&map, 100).iter().map(|c| c.glyph()).collect();
        assert_eq!(all, "█▒·░", "never more cells than runs");
        assert!(fold(&map, 0).is_empty());
        assert!(fold(&PieceMapView { info_hash: String::new(), pieces: 0, cells: vec![] }, 10).is_empty());
    }
}
