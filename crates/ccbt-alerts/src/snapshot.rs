//! The metric values of one moment, as the evaluator reads them.

use std::collections::BTreeMap;

use ccbt_core::InfoHash;

/// Values by metric, then by scope (`None`: session-wide; `Some`: one torrent). Ordered maps, so
/// evaluation visits scopes in a fixed order and its events are deterministic.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    values: BTreeMap<String, BTreeMap<Option<InfoHash>, f64>>,
}

impl Snapshot {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a value. A NaN or infinite value is not recorded: the metric counts as missing
    /// (no comparison on it would mean anything).
    pub fn set(&mut self, metric: &str, torrent: Option<InfoHash>, value: f64) {
        if value.is_finite() {
            self.values.entry(metric.to_owned()).or_default().insert(torrent, value);
        }
    }

    pub fn get(&self, metric: &str, torrent: Option<&InfoHash>) -> Option<f64> {
        self.values.get(metric)?.get(&torrent.copied()).copied()
    }

    /// Every scope with a value of `metric`, session-wide first, then torrents by info hash.
    pub fn scopes(&self, metric: &str) -> impl Iterator<Item = (Option<InfoHash>, f64)> + '_ {
        self.values.get(metric).into_iter().flat_map(|m| m.iter().map(|(scope, value)| (*scope, *value)))
    }
}
