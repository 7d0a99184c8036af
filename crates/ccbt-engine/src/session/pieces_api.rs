//! [`Session::piece_map`]: a torrent's verified pieces and their availability among the
//! connected peers, summarized for a map (the dashboard's pieces tab).

use super::Session;
use crate::piece_map::{summarize, PieceMap};
use crate::sync::lock;
use crate::{SessionError, TorrentId};

impl Session {
    /// The pieces of a running torrent in at most `cells` cells (see [`PieceMap`]), copied under
    /// its lock. `MetadataPending` while a magnet link resolves.
    pub fn piece_map(&self, id: TorrentId, cells: usize) -> Result<PieceMap, SessionError> {
        let shared = self.shared(id)?;
        let inner = lock(&shared.inner);
        Ok(summarize(inner.swarm.have(), |piece| inner.swarm.availability(piece), cells))
    }
}
