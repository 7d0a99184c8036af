//! Which never-started piece to begin next: the streaming window, then piece priorities, then
//! rarest first, sequential or round robin.

use std::fmt;
use std::str::FromStr;

use ccbt_core::Bitfield;

use super::availability::Availability;
use super::priority::{intersect, PiecePriorities};
use super::set::PieceSet;
use super::streaming::Streaming;
use super::PickerError;

/// How the picker chooses a new piece to start (config key `piece_selection`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PieceSelection {
    /// Lowest availability first, random among equals (`"rarest_first"`): spreads rare pieces
    /// through the swarm and is the BitTorrent default.
    #[default]
    RarestFirst,
    /// Lowest index first (`"sequential"`): for streaming or previewing.
    Sequential,
    /// The next index after the last started piece, wrapping (`"round_robin"`).
    RoundRobin,
}

impl PieceSelection {
    /// The config spelling of this selection.
    pub fn as_str(self) -> &'static str {
        match self {
            PieceSelection::RarestFirst => "rarest_first",
            PieceSelection::Sequential => "sequential",
            PieceSelection::RoundRobin => "round_robin",
        }
    }
}

impl fmt::Display for PieceSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PieceSelection {
    type Err = PickerError;

    fn from_str(s: &str) -> Result<PieceSelection, PickerError> {
        match s {
            "rarest_first" => Ok(PieceSelection::RarestFirst),
            "sequential" => Ok(PieceSelection::Sequential),
            "round_robin" => Ok(PieceSelection::RoundRobin),
            other => Err(PickerError::UnknownSelection { value: other.to_owned() }),
        }
    }
}

/// How new pieces are chosen: the streaming window first (if on), then piece priorities
/// highest first, then the selection within one priority; plus the little state these need.
#[derive(Clone, Debug)]
pub(crate) struct Strategy {
    selection: PieceSelection,
    /// The last piece started, for round robin.
    last_started: Option<u32>,
    /// `None`: every wanted piece is normal.
    priorities: Option<PiecePriorities>,
    /// Pieces of each wanted priority level present, highest first (empty when there is only
    /// one level: the plain selection over the wanted pieces is then exact).
    level_masks: Vec<Bitfield>,
    streaming: Option<Streaming>,
}

impl Strategy {
    pub(crate) fn new(selection: PieceSelection) -> Strategy {
        Strategy { selection, last_started: None, priorities: None, level_masks: Vec::new(), streaming: None }
    }

    /// Changes how new pieces are chosen; pieces already started are unaffected.
    pub(crate) fn set_selection(&mut self, selection: PieceSelection) {
        self.selection = selection;
    }

    pub(crate) fn set_priorities(&mut self, priorities: PiecePriorities) {
        let levels = priorities.levels_present();
        self.level_masks = if levels.len() > 1 {
            levels.into_iter().map(|l| priorities.mask_of(l)).collect()
        } else {
            Vec::new()
        };
        self.priorities = Some(priorities);
    }

    pub(crate) fn priorities(&self) -> Option<&PiecePriorities> {
        self.priorities.as_ref()
    }

    pub(crate) fn set_streaming(&mut self, streaming: Option<Streaming>) {
        self.streaming = streaming;
    }

    pub(crate) fn set_read_piece(&mut self, piece: u32) {
        if let Some(s) = &mut self.streaming {
            s.set_read_piece(piece);
        }
    }

    pub(crate) fn streaming(&self) -> Option<&Streaming> {
        self.streaming.as_ref()
    }

    /// Chooses a startable piece that `peer_has`, or `None` if there is none. `startable` and
    /// the rarity index in `avail` hold the same pieces (the picker keeps them in step);
    /// `need` holds the wanted pieces not yet verified (started ones included).
    pub(crate) fn choose(
        &mut self,
        startable: &PieceSet,
        need: &PieceSet,
        avail: &Availability,
        peer_has: &Bitfield,
        rng: &mut impl rand::Rng,
    ) -> Option<u32> {
        let ends = self.priorities.as_ref().map_or(&[][..], |p| p.file_ends());
        let streamed = self.streaming.as_ref().and_then(|s| s.choose(startable, need, avail, peer_has, ends));
        let piece = match streamed {
            Some(p) => p,
            None if self.level_masks.is_empty() => self.select(startable, avail, peer_has, rng)?,
            None => self
                .level_masks
                .iter()
                .find_map(|mask| self.select(startable, avail, &intersect(peer_has, mask), rng))?,
        };
        self.last_started = Some(piece);
        Some(piece)
    }

    /// The configured selection among the startable pieces in `peer_has`. While streaming,
    /// rarest first breaks ties by nearness to the reader rather than at random (see
    /// `streaming.rs`), so the verified pieces stay close to the window.
    fn select(
        &self,
        startable: &PieceSet,
        avail: &Availability,
        peer_has: &Bitfield,
        rng: &mut impl rand::Rng,
    ) -> Option<u32> {
        match self.selection {
            PieceSelection::RarestFirst => match &self.streaming {
                Some(streaming) => avail.rarest_nearest(peer_has, streaming.read_piece()),
                None => avail.rarest(peer_has, rng),
            },
            PieceSelection::Sequential => startable.next_common(0, peer_has),
            PieceSelection::RoundRobin => {
                let from = self.last_started.map_or(0, |p| p.saturating_add(1));
                startable.next_common(from, peer_has).or_else(|| startable.next_common(0, peer_has))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn selection_strings_round_trip() {
        for s in [PieceSelection::RarestFirst, PieceSelection::Sequential, PieceSelection::RoundRobin] {
            assert_eq!(s.to_string().parse::<PieceSelection>(), Ok(s));
        }
        assert_eq!(
            "fastest".parse::<PieceSelection>(),
            Err(PickerError::UnknownSelection { value: "fastest".into() })
        );
        assert_eq!(PieceSelection::default(), PieceSelection::RarestFirst);
    }

    fn setup(n: u32) -> (PieceSet, Availability) {
        let mut set = PieceSet::new(n);
        let mut avail = Availability::new(n);
        for p in 0..n {
            set.insert(p);
            avail.index(p);
        }
        (set, avail)
    }

    #[test]
    fn round_robin_wraps_after_last_started() {
        let mut rng = SmallRng::seed_from_u64(0);
        let (mut set, avail) = setup(4);
        let all = Bitfield::full(4);
        let mut s = Strategy::new(PieceSelection::RoundRobin);
        assert_eq!(s.choose(&set, &set, &avail, &all, &mut rng), Some(0));
        assert_eq!(s.choose(&set, &set, &avail, &all, &mut rng), Some(1));
        set.remove(2);
        assert_eq!(s.choose(&set, &set, &avail, &all, &mut rng), Some(3));
        assert_eq!(s.choose(&set, &set, &avail, &all, &mut rng), Some(0));
    }

    #[test]
    fn sequential_takes_lowest_the_peer_has() {
        let mut rng = SmallRng::seed_from_u64(0);
        let (set, avail) = setup(100);
        let mut peer = Bitfield::new(100);
        peer.set(70);
        peer.set(90);
        let mut s = Strategy::new(PieceSelection::Sequential);
        assert_eq!(s.choose(&set, &set, &avail, &peer, &mut rng), Some(70));
        assert_eq!(s.choose(&set, &set, &avail, &Bitfield::new(100), &mut rng), None);
    }
}
