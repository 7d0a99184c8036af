//! Announce tokens (BEP 5): a `get_peers` response carries a token that the querier must echo
//! in `announce_peer`, proving it owns the address it announces from. The token is
//! SHA-1(secret || ip) truncated to [`TOKEN_LEN`] bytes; the secret is rotated every
//! [`ROTATE_EVERY`] and the previous one is still accepted, so a token stays valid for 5 to 10
//! minutes without any per-querier state.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use rand::Rng;
use sha1::{Digest, Sha1};

/// How often the secret changes.
pub const ROTATE_EVERY: Duration = Duration::from_secs(5 * 60);
/// Length of the tokens we hand out. 8 bytes of SHA-1 are far beyond guessing range within the
/// token lifetime and keep responses short.
pub const TOKEN_LEN: usize = 8;

/// Issues and checks announce tokens.
#[derive(Debug, Clone)]
pub struct TokenSecrets {
    current: [u8; 16],
    previous: [u8; 16],
    rotated_at: Instant,
}

impl TokenSecrets {
    /// Fresh secrets (the "previous" one is random too, so it validates nothing real).
    pub fn new(now: Instant, rng: &mut impl Rng) -> TokenSecrets {
        TokenSecrets { current: rng.gen(), previous: rng.gen(), rotated_at: now }
    }

    /// Rotates the secret if [`ROTATE_EVERY`] has passed. After a long pause (two periods or
    /// more) both secrets are replaced, since tokens that old must not validate.
    pub fn maybe_rotate(&mut self, now: Instant, rng: &mut impl Rng) {
        let elapsed = now.saturating_duration_since(self.rotated_at);
        if elapsed < ROTATE_EVERY {
            return;
        }
        self.previous = if elapsed >= ROTATE_EVERY * 2 { rng.gen() } else { self.current };
        self.current = rng.gen();
        self.rotated_at = now;
    }

    /// When the next rotation is due.
    pub fn next_rotation(&self) -> Instant {
        self.rotated_at + ROTATE_EVERY
    }

    /// The token for a querier at `ip`.
    pub fn token_for(&self, ip: IpAddr) -> [u8; TOKEN_LEN] {
        make(&self.current, ip)
    }

    /// Whether `token` was issued to `ip` under the current or the previous secret.
    pub fn verify(&self, ip: IpAddr, token: &[u8]) -> bool {
        token == make(&self.current, ip) || token == make(&self.previous, ip)
    }
}

fn make(secret: &[u8; 16], ip: IpAddr) -> [u8; TOKEN_LEN] {
    let mut h = Sha1::new();
    h.update(secret);
    match ip {
        IpAddr::V4(v4) => h.update(v4.octets()),
        IpAddr::V6(v6) => h.update(v6.octets()),
    }
    let digest = h.finalize();
    let mut out = [0u8; TOKEN_LEN];
    for (o, d) in out.iter_mut().zip(digest) {
        *o = d;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn token_is_bound_to_ip_and_survives_one_rotation() {
        let mut rng = SmallRng::seed_from_u64(1);
        let t0 = Instant::now();
        let mut s = TokenSecrets::new(t0, &mut rng);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let tok = s.token_for(a);
        assert!(s.verify(a, &tok));
        assert!(!s.verify(b, &tok));
        assert!(!s.verify(a, &tok[..4]));

        s.maybe_rotate(t0 + Duration::from_secs(60), &mut rng);
        assert_eq!(s.token_for(a), tok, "no rotation before 5 minutes");

        s.maybe_rotate(t0 + ROTATE_EVERY, &mut rng);
        assert_ne!(s.token_for(a), tok);
        assert!(s.verify(a, &tok), "previous secret still accepted");

        s.maybe_rotate(t0 + ROTATE_EVERY * 2, &mut rng);
        assert!(!s.verify(a, &tok), "two rotations later the token is dead");
    }

    #[test]
    fn long_pause_invalidates_both_secrets() {
        let mut rng = SmallRng::seed_from_u64(2);
        let t0 = Instant::now();
        let mut s = TokenSecrets::new(t0, &mut rng);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let tok = s.token_for(a);
        s.maybe_rotate(t0 + ROTATE_EVERY * 3, &mut rng);
        assert!(!s.verify(a, &tok));
        assert_eq!(s.next_rotation(), t0 + ROTATE_EVERY * 4);
    }
}
