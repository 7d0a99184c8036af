//! Choosing which interested peers we upload to (BEP 3 choking).
//!
//! The engine calls [`Choker::decide`] every [`ChokerOptions::unchoke_interval`] (see
//! [`Choker::poll_timeout`]) with a snapshot of its peers; it returns the peers to unchoke.
//! Only interested peers are ever unchoked: a slot given to a peer that wants nothing (a seed,
//! typically) is wasted.
//!
//! # Regular slots
//!
//! `max_upload_slots - 1` regular slots (all of them if there is only one):
//! - **While downloading, tit-for-tat:** the peers that gave us the most payload since the
//!   previous round win. Upload is our currency for download: peers that reciprocate get
//!   more, and fast uploaders end up trading with each other. A peer that is *snubbing* us
//!   (we are interested, yet it sent nothing for [`ChokerOptions::snub_timeout`]) ranks after
//!   every peer that does not, and a snubbing peer holding a slot ranks after snubbing peers
//!   that do not: a peer that stopped giving loses its slot instead of keeping it on past merit
//!   or by winning ties, while slots nobody better wants still rotate rather than idle.
//! - **While seeding:** nobody gives us anything, so ranking by download is meaningless.
//!   [`SeedChoking::RoundRobin`] (the default, like libtorrent's `round_robin`) keeps a peer
//!   unchoked until it received [`ROUND_ROBIN_QUOTA`] or held the slot for
//!   [`ROUND_ROBIN_ROUNDS`] rounds, then hands the slot to the peer we gave the fewest bytes
//!   so far: upload is spread evenly over every peer that wants it.
//!   [`SeedChoking::FastestUpload`] (libtorrent's `fastest_upload`) keeps the peers that take
//!   the most, which finishes a few peers quickly.
//!
//! Ties go to the peers already unchoked (so slots do not flap), then to chance.
//!
//! # Optimistic slot
//!
//! With more than one slot, one slot is optimistic (except while seeding round robin, whose
//! rotation already reaches every peer, newcomers first since they got the fewest bytes): every
//! [`ChokerOptions::optimistic_unchoke_interval`] it goes to a random interested peer outside
//! the regular slots. Peers we never unchoked weigh [`NEW_PEER_WEIGHT`] times as much in the
//! draw (as in libtorrent and the original client), so a peer that just connected with
//! nothing to trade gets its first pieces quickly; without them it could never enter
//! tit-for-tat. The previous optimistic peer is drawn again only if nobody else is eligible.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;

use crate::PeerKey;

/// Default of [`ChokerOptions::unchoke_interval`].
pub const CHOKE_INTERVAL: Duration = Duration::from_secs(10);

/// Default of [`ChokerOptions::optimistic_unchoke_interval`].
pub const OPTIMISTIC_ROTATION: Duration = Duration::from_secs(30);

/// Default of [`ChokerOptions::snub_timeout`] (BEP 3 practice: a minute).
pub const SNUB_TIMEOUT: Duration = Duration::from_secs(60);

/// How much likelier a never-unchoked peer is to win the optimistic draw.
pub const NEW_PEER_WEIGHT: u32 = 3;

/// Round-robin seeding: bytes a peer receives before its slot may rotate (a few pieces).
pub const ROUND_ROBIN_QUOTA: u64 = 1024 * 1024;

/// Round-robin seeding: rounds a peer may hold a slot before it rotates even below quota.
pub const ROUND_ROBIN_ROUNDS: u32 = 3;

/// How the regular slots are filled while seeding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SeedChoking {
    /// Rotate slots so every interested peer gets an equal share of bytes (`"round_robin"`).
    #[default]
    RoundRobin,
    /// Keep the peers that take the most (`"fastest_upload"`).
    FastestUpload,
}

/// Tuning of a [`Choker`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChokerOptions {
    /// Unchoked peers at most (0: unlimited, every interested peer is unchoked).
    pub max_upload_slots: usize,
    /// How often the engine runs [`Choker::decide`].
    pub unchoke_interval: Duration,
    /// How long the optimistic slot stays with one peer.
    pub optimistic_unchoke_interval: Duration,
    /// Nothing received for this long while we are interested: the peer is snubbing us.
    pub snub_timeout: Duration,
    /// The seeding choker.
    pub seeding: SeedChoking,
}

impl ChokerOptions {
    /// The defaults (10 s, 30 s, 60 s, round robin) with `max_upload_slots` slots.
    pub fn new(max_upload_slots: usize) -> ChokerOptions {
        ChokerOptions {
            max_upload_slots,
            unchoke_interval: CHOKE_INTERVAL,
            optimistic_unchoke_interval: OPTIMISTIC_ROTATION,
            snub_timeout: SNUB_TIMEOUT,
            seeding: SeedChoking::RoundRobin,
        }
    }
}

/// What the choker needs to know about one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChokerPeer {
    /// The connection.
    pub key: PeerKey,
    /// The peer wants data from us.
    pub interested: bool,
    /// We currently unchoke it.
    pub unchoked: bool,
    /// Bytes per second from them to us.
    pub download_rate: u64,
    /// Bytes per second from us to them.
    pub upload_rate: u64,
    /// The peer has every piece.
    pub is_seed: bool,
    /// We want data from the peer (a peer is only snubbing us if we do).
    pub am_interested: bool,
    /// Payload received from the peer over the connection's life.
    pub downloaded: u64,
    /// Payload sent to the peer over the connection's life.
    pub uploaded: u64,
}

/// What the choker remembers of a peer between rounds.
#[derive(Clone, Copy, Debug)]
struct Memory {
    /// `downloaded` at the previous round, to measure what the peer gave since.
    downloaded: u64,
    /// The last time the peer sent us payload, or we became interested in it.
    last_progress: Instant,
    /// Whether we were interested at the previous round.
    am_interested: bool,
    /// `uploaded` when the current regular or optimistic unchoke began.
    uploaded_at_unchoke: u64,
    /// Rounds the current unchoke has lasted.
    rounds_unchoked: u32,
    ever_unchoked: bool,
}

/// One interested peer, as ranked in one round.
struct Candidate {
    key: PeerKey,
    unchoked: bool,
    /// Higher is better.
    score: u64,
    /// Breaks ties of `score`: the peer's current download rate.
    rate: u64,
    snubbed: bool,
    never_unchoked: bool,
}

/// The upload slot allocator of one torrent.
#[derive(Clone, Debug)]
pub struct Choker {
    options: ChokerOptions,
    /// The current optimistic unchoke and when it was chosen.
    optimistic: Option<(PeerKey, Instant)>,
    memory: HashMap<PeerKey, Memory>,
    next_round: Option<Instant>,
}

impl Choker {
    /// A choker with the default intervals and `max_upload_slots` unchoked peers at most
    /// (0: unlimited). With more than one slot, one of them is the optimistic slot.
    pub fn new(max_upload_slots: usize) -> Choker {
        Choker::with_options(ChokerOptions::new(max_upload_slots))
    }

    /// A choker with explicit options.
    pub fn with_options(options: ChokerOptions) -> Choker {
        Choker { options, optimistic: None, memory: HashMap::new(), next_round: None }
    }

    /// The options in force.
    pub fn options(&self) -> &ChokerOptions {
        &self.options
    }

    /// Changes the options from the next round on.
    pub fn set_options(&mut self, options: ChokerOptions) {
        self.options = options;
    }

    /// The peer holding the optimistic slot, if any.
    pub fn optimistic(&self) -> Option<PeerKey> {
        self.optimistic.map(|(k, _)| k)
    }

    /// When [`Choker::decide`] is next due (`None` before the first round: run it now).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_round
    }

    /// Whether the peer was snubbing us at the last round.
    pub fn is_snubbed(&self, key: PeerKey, now: Instant) -> bool {
        self.memory.get(&key).is_some_and(|m| self.snubbing(m, now))
    }

    fn snubbing(&self, m: &Memory, now: Instant) -> bool {
        m.am_interested && now.saturating_duration_since(m.last_progress) >= self.options.snub_timeout
    }

    /// Returns the peers to unchoke, regular slots first; every other peer is to be choked.
    /// `seeding` selects the seeding choker.
    pub fn decide(
        &mut self,
        now: Instant,
        peers: &[ChokerPeer],
        seeding: bool,
        rng: &mut impl rand::Rng,
    ) -> Vec<PeerKey> {
        self.next_round = Some(now + self.options.unchoke_interval);
        let mut candidates = self.observe(now, peers, seeding);
        let slots = self.options.max_upload_slots;
        let unchoke: Vec<PeerKey> = if slots == 0 {
            self.optimistic = None;
            candidates.iter().map(|c| c.key).collect()
        } else {
            // Round-robin seeding already turns every slot over to the peers that got least,
            // newcomers first: an optimistic slot would only add an unfair random one.
            let optimistic_slot = slots > 1 && !(seeding && self.options.seeding == SeedChoking::RoundRobin);
            let regular_slots = if optimistic_slot { slots - 1 } else { slots };
            candidates.shuffle(rng);
            // Stable sort: the shuffled order stays among exact ties.
            candidates.sort_by(|a, b| {
                a.snubbed.cmp(&b.snubbed).then(b.score.cmp(&a.score)).then(b.rate.cmp(&a.rate)).then(
                    // Keep the slots of peers that give; rotate those of peers that snub us.
                    if a.snubbed { a.unchoked.cmp(&b.unchoked) } else { b.unchoked.cmp(&a.unchoked) },
                )
            });
            let (regular, rest) = candidates.split_at(regular_slots.min(candidates.len()));
            let mut unchoke: Vec<PeerKey> = regular.iter().map(|c| c.key).collect();
            if optimistic_slot {
                unchoke.extend(self.choose_optimistic(now, rest, rng));
            } else {
                self.optimistic = None;
            }
            unchoke
        };
        self.record_unchokes(peers, &unchoke);
        unchoke
    }

    /// Updates the memory from the snapshot and ranks the interested peers.
    fn observe(&mut self, now: Instant, peers: &[ChokerPeer], seeding: bool) -> Vec<Candidate> {
        self.memory.retain(|k, _| peers.iter().any(|p| p.key == *k));
        let mut candidates = Vec::new();
        for p in peers {
            let m = self.memory.entry(p.key).or_insert(Memory {
                downloaded: 0,
                last_progress: now,
                am_interested: p.am_interested,
                uploaded_at_unchoke: p.uploaded,
                rounds_unchoked: 0,
                ever_unchoked: false,
            });
            let given = p.downloaded.saturating_sub(m.downloaded);
            if given > 0 || (p.am_interested && !m.am_interested) {
                m.last_progress = now;
            }
            m.downloaded = p.downloaded;
            m.am_interested = p.am_interested;
            let m = *m;
            if !p.interested {
                continue;
            }
            // Tit-for-tat: what the peer gave us since the previous round.
            let (score, rate) =
                if seeding { (self.seeding_score(p, &m), 0) } else { (given, p.download_rate) };
            candidates.push(Candidate {
                key: p.key,
                unchoked: p.unchoked,
                score,
                rate,
                snubbed: !seeding && self.snubbing(&m, now),
                never_unchoked: !m.ever_unchoked && !p.unchoked,
            });
        }
        candidates
    }

    /// Seeding rank: with round robin, a peer still within its turn outranks everyone, then
    /// the fewer bytes a peer got from us the better; with fastest upload, its upload rate.
    fn seeding_score(&self, p: &ChokerPeer, m: &Memory) -> u64 {
        match self.options.seeding {
            SeedChoking::FastestUpload => p.upload_rate,
            SeedChoking::RoundRobin => {
                let this_turn = p.uploaded.saturating_sub(m.uploaded_at_unchoke);
                let in_turn =
                    p.unchoked && this_turn < ROUND_ROBIN_QUOTA && m.rounds_unchoked < ROUND_ROBIN_ROUNDS;
                if in_turn {
                    u64::MAX
                } else {
                    u64::MAX - 1 - p.uploaded.min(u64::MAX - 1)
                }
            }
        }
    }

    /// Starts or continues the unchoke counters of the chosen peers.
    fn record_unchokes(&mut self, peers: &[ChokerPeer], unchoke: &[PeerKey]) {
        for p in peers {
            let Some(m) = self.memory.get_mut(&p.key) else { continue };
            if !unchoke.contains(&p.key) {
                m.rounds_unchoked = 0;
            } else if p.unchoked && m.ever_unchoked {
                m.rounds_unchoked += 1;
            } else {
                m.uploaded_at_unchoke = p.uploaded;
                m.rounds_unchoked = 1;
                m.ever_unchoked = true;
            }
        }
    }

    /// Keeps the optimistic peer while its period lasts and it is still an eligible (interested,
    /// not regular) peer; otherwise draws a new one, never-unchoked peers weighted
    /// [`NEW_PEER_WEIGHT`] times, the previous holder only if nobody else is eligible.
    fn choose_optimistic(
        &mut self,
        now: Instant,
        rest: &[Candidate],
        rng: &mut impl rand::Rng,
    ) -> Option<PeerKey> {
        let previous = self.optimistic.map(|(k, _)| k);
        if let Some((key, since)) = self.optimistic {
            let fresh = now.saturating_duration_since(since) < self.options.optimistic_unchoke_interval;
            if fresh && rest.iter().any(|c| c.key == key) {
                return Some(key);
            }
        }
        let others: Vec<&Candidate> = rest.iter().filter(|c| Some(c.key) != previous).collect();
        let weight = |c: &&Candidate| if c.never_unchoked { NEW_PEER_WEIGHT } else { 1 };
        let pick = others
            .choose_weighted(rng, weight)
            .ok()
            .map(|c| c.key)
            .or_else(|| previous.filter(|k| rest.iter().any(|c| c.key == *k)));
        self.optimistic = pick.map(|k| (k, now));
        pick
    }
}
