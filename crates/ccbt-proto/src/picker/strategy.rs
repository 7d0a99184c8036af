//! Which never-started piece to begin next: rarest first, sequential or round robin.

use std::fmt;
use std::str::FromStr;

use ccbt_core::Bitfield;

use super::availability::Availability;
use super::set::PieceSet;
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

/// A selection plus the little state it needs (the round-robin cursor).
#[derive(Clone, Debug)]
pub(crate) struct Strategy {
    selection: PieceSelection,
    /// The last piece started, for round robin.
    last_started: Option<u32>,
}

impl Strategy {
    pub(crate) fn new(selection: PieceSelection) -> Strategy {
        Strategy { selection, last_started: None }
    }

    /// Chooses a startable piece that `peer_has`, or `None` if there is none. `startable` and
    /// the rarity index in `avail` hold the same pieces (the picker keeps them in step).
    pub(crate) fn choose(
        &mut self,
        startable: &PieceSet,
        avail: &Availability,
        peer_has: &Bitfield,
        rng: &mut impl rand::Rng,
    ) -> Option<u32> {
        let piece = match self.selection {
            PieceSelection::RarestFirst => avail.rarest(peer_has, rng),
            PieceSelection::Sequential => startable.next_common(0, peer_has),
            PieceSelection::RoundRobin => {
                let from = self.last_started.map_or(0, |p| p.saturating_add(1));
                startable.next_common(from, peer_has).or_else(|| startable.next_common(0, peer_has))
            }
        }?;
        self.last_started = Some(piece);
        Some(piece)
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
        assert_eq!(s.choose(&set, &avail, &all, &mut rng), Some(0));
        assert_eq!(s.choose(&set, &avail, &all, &mut rng), Some(1));
        set.remove(2);
        assert_eq!(s.choose(&set, &avail, &all, &mut rng), Some(3));
        assert_eq!(s.choose(&set, &avail, &all, &mut rng), Some(0));
    }

    #[test]
    fn sequential_takes_lowest_the_peer_has() {
        let mut rng = SmallRng::seed_from_u64(0);
        let (set, avail) = setup(100);
        let mut peer = Bitfield::new(100);
        peer.set(70);
        peer.set(90);
        let mut s = Strategy::new(PieceSelection::Sequential);
        assert_eq!(s.choose(&set, &avail, &peer, &mut rng), Some(70));
        assert_eq!(s.choose(&set, &avail, &Bitfield::new(100), &mut rng), None);
    }
}
