//! Which settings a running session can take (hot reload), and the merge of new options into
//! the ones in force. Every field of [`SessionOptions`] is named exactly once below, as live or
//! as restart-only: a new field does not compile until it is classified (one line), so no
//! setting is silently ignored by [`crate::Session::reconfigure`].

use super::SessionOptions;

/// What [`crate::Session::reconfigure`] did, by option name (the config keys of `ccbt.toml`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconfigured {
    /// Changed and now in force.
    pub applied: Vec<&'static str>,
    /// Changed, but only taken at the next start: the old value stays in force.
    pub needs_restart: Vec<&'static str>,
}

impl Reconfigured {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.applied.is_empty() && self.needs_restart.is_empty()
    }

    /// Moves `key` from applied to restart-needed (the engine found it cannot apply it now).
    pub(crate) fn defer(&mut self, key: &'static str) {
        self.applied.retain(|k| *k != key);
        if !self.needs_restart.contains(&key) {
            self.needs_restart.push(key);
        }
    }
}

/// Compares `$current` and `$new` field by field: a changed live field is copied into `$merged`
/// and listed as applied; a changed restart field keeps its current value and is listed as
/// needing a restart. `field => key` reports a field under the config key it comes from when
/// the names differ (`global_down_rate => global_down_kib`). The destructuring makes the lists
/// exhaustive.
macro_rules! split_fields {
    (
        $current:ident, $new:ident, $merged:ident, $report:ident;
        live: [$($live:ident $(=> $live_as:ident)?),* $(,)?];
        restart: [$($restart:ident $(=> $as:ident)?),* $(,)?];
    ) => {{
        // "pattern requires `..`" here: a field of `SessionOptions` is in neither list below.
        let SessionOptions { $($live: _,)* $($restart: _,)* } = $new;
        $(
            if $current.$live != $new.$live {
                $merged.$live = $new.$live.clone();
                let key = split_fields!(@name $live $(=> $live_as)?);
                if !$report.applied.contains(&key) {
                    $report.applied.push(key);
                }
            }
        )*
        $(
            if $current.$restart != $new.$restart {
                let key = split_fields!(@name $restart $(=> $as)?);
                if !$report.needs_restart.contains(&key) {
                    $report.needs_restart.push(key);
                }
            }
        )*
    }};
    (@name $field:ident) => { stringify!($field) };
    (@name $field:ident => $as:ident) => { stringify!($as) };
}

impl SessionOptions {
    /// The options to run with after a change to `new`: `new`'s value of every live field,
    /// the current value of every restart-only one; and the names of both kinds that changed.
    /// Pure: [`crate::Session::reconfigure`] validates, merges with this, then applies.
    pub fn merge_live(&self, new: &SessionOptions) -> (SessionOptions, Reconfigured) {
        let mut merged = self.clone();
        let mut report = Reconfigured::default();
        split_fields! {
            self, new, merged, report;
            live: [
                // Connection budget of the session (lowered: established connections beyond
                // `max_global_peers` are closed; the others apply to new connections).
                max_global_peers, max_handshakes, max_connections_per_ip, max_connects_per_sec,
                // Each running torrent (lowered: its connections beyond the count are closed).
                max_peers_per_torrent,
                // Each running torrent's swarm: choker, picker, bans, peer exchange.
                max_upload_slots, unchoke_interval, optimistic_unchoke_interval, snub_timeout,
                seed_choking, piece_selection, endgame_duplicates, endgame_threshold,
                max_hash_failures, enable_pex,
                // Each running torrent's discovery: trackers restarted, DHT lookups on or off.
                enable_http_trackers, enable_udp_trackers, enable_dht,
                // Torrents added afterwards (a running torrent keeps its folder and its
                // streaming, which its readers also switch on).
                download_dir, streaming_mode,
                // The session's and every connection's rate limiters, at once.
                global_down_rate => global_down_kib, global_up_rate => global_up_kib,
                peer_down_rate => peer_down_kib, peer_up_rate => peer_up_kib,
                // Connections made, and traces started, afterwards.
                peer_tracing => enable_peer_tracing, peer_trace_max_bytes => peer_trace_max_mib,
                // The Xet announcer plans its trackers again at once.
                xet_tracker_announce,
            ];
            restart: [
                listen_port, listen_port_explicit => listen_port, listen_host, pipeline_depth,
                max_pipeline_depth, block_size_kib, connection_timeout, request_timeout,
                preallocate, write_batch_kib, use_mmap, direct_io, hash_workers, max_buffered_kib,
                max_peer_candidates, handshake_timeout, useless_peer_timeout, ssrf_mitigation,
                dht_port, dht_bootstrap_nodes, max_metadata_kib, state_dir,
                checkpoint_enabled, checkpoint_dir, checkpoint_format, checkpoint_interval,
                checkpoint_delete_on_completion, resume_verify_sample,
                xet_store_dir => xet_enabled, xet_cache_bytes => xet_cache_size_mib,
            ];
        }
        (merged, report)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::PieceSelection;

    #[test]
    fn live_fields_are_taken_and_restart_fields_kept() {
        let current = SessionOptions::default();
        let new = SessionOptions {
            max_peers_per_torrent: 7,
            piece_selection: PieceSelection::Sequential,
            listen_port: 7000,
            listen_port_explicit: true,
            request_timeout: Duration::from_secs(3),
            ..current.clone()
        };
        let (merged, report) = current.merge_live(&new);
        assert_eq!(report.applied, ["max_peers_per_torrent", "piece_selection"]);
        assert_eq!(report.needs_restart, ["listen_port", "request_timeout"]);
        assert_eq!((merged.max_peers_per_torrent, merged.piece_selection), (7, PieceSelection::Sequential));
        assert_eq!((merged.listen_port, merged.listen_port_explicit), (6881, false));
        assert_eq!(merged.request_timeout, current.request_timeout);
    }

    #[test]
    fn no_change_reports_nothing() {
        let current = SessionOptions::default();
        let (merged, report) = current.merge_live(&current.clone());
        assert!(report.is_empty());
        assert_eq!(merged.max_global_peers, current.max_global_peers);
    }

    #[test]
    fn a_deferred_key_moves_to_restart() {
        let mut report = Reconfigured { applied: vec!["enable_dht", "enable_pex"], needs_restart: vec![] };
        report.defer("enable_dht");
        assert_eq!(report, Reconfigured { applied: vec!["enable_pex"], needs_restart: vec!["enable_dht"] });
    }
}
