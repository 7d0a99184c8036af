//! Changing the options of a running swarm (hot reload of the configuration).

use std::time::Instant;

use super::{Swarm, SwarmOptions};

impl Swarm {
    /// The options in force.
    pub fn options(&self) -> &SwarmOptions {
        &self.options
    }

    /// Applies `options` to the running swarm at `now`:
    /// - the picker's (piece selection, endgame): from the next pick (see
    ///   [`crate::picker::Picker::set_options`]);
    /// - the choker's (upload slots, intervals, snub timeout, seeding mode): its next round is
    ///   due at once, so the engine's next [`Swarm::handle_timeout`] chokes the peers beyond a
    ///   lowered slot count or fills new slots, and the rounds after follow the new interval;
    /// - `max_hash_failures`: from the next hash failure;
    /// - `pex` off: no PEX message is sent or read from then on; on: PEX messages go to the
    ///   connected peers that support it, and new connections are told we support it (the
    ///   engine advertises `ut_pex` to them; peers connected before never learn it);
    /// - `max_buffered_bytes`: from the next piece started (idle piece buffers beyond a lowered
    ///   budget are freed at once).
    pub fn set_options(&mut self, now: Instant, options: SwarmOptions) {
        self.picker.set_options(options.picker);
        if options.choker != *self.choker.options() {
            self.choker.set_options(options.choker);
            // Before the first round (timers not started) there is nothing to bring forward.
            self.next_rechoke = self.next_rechoke.map(|due| due.min(now));
        }
        if options.pex && !self.options.pex {
            for peer in self.peers.values_mut() {
                peer.ext.enable_pex(now);
            }
        }
        if options.max_buffered_bytes != self.options.max_buffered_bytes {
            self.buffers.set_keep(super::idle_buffers(&self.lengths, &options));
        }
        self.options = options;
    }
}
