//! BEP 12 announce-list tiers: the order in which trackers are tried.

use rand::seq::SliceRandom;
use rand::Rng;

use crate::tracker_url::parse_tracker_url;

/// The trackers of a torrent grouped in tiers. Within a tier the order starts random (so
/// clients spread over equivalent trackers) and a tracker that answers moves to the front, so
/// it is tried first next time. Tiers keep their order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackerTiers {
    tiers: Vec<Vec<String>>,
}

impl TrackerTiers {
    /// Builds the tiers: URLs with a scheme we do not speak (only http, https and udp are kept)
    /// and repeats of an earlier URL (compared normalised: `HTTP://T:80/a` is `http://t/a`) are
    /// dropped, as are tiers left empty; each tier is shuffled.
    pub fn new(tiers: Vec<Vec<String>>, rng: &mut impl Rng) -> TrackerTiers {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(tiers.len());
        for tier in tiers {
            let mut kept: Vec<String> = tier
                .into_iter()
                .map(|url| url.trim().to_owned())
                .filter(|url| parse_tracker_url(url).is_ok_and(|(_, normal)| seen.insert(normal)))
                .collect();
            if !kept.is_empty() {
                kept.shuffle(rng);
                out.push(kept);
            }
        }
        TrackerTiers { tiers: out }
    }

    /// The tiers, in order.
    pub fn tiers(&self) -> &[Vec<String>] {
        &self.tiers
    }

    /// Every tracker with its tier index, tier by tier, each tier in its current order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &str)> + '_ {
        self.tiers.iter().enumerate().flat_map(|(i, tier)| tier.iter().map(move |url| (i, url.as_str())))
    }

    /// Number of trackers over all tiers.
    pub fn len(&self) -> usize {
        self.tiers.iter().map(Vec::len).sum()
    }

    /// Whether there is no usable tracker at all.
    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }

    /// Moves `url` to the front of its tier (it answered). Returns whether it was found.
    pub fn promote(&mut self, url: &str) -> bool {
        for tier in &mut self.tiers {
            if let Some(pos) = tier.iter().position(|u| u == url) {
                // Rotating keeps the relative order of the others, as BEP 12 describes.
                if let Some(head) = tier.get_mut(..=pos) {
                    head.rotate_right(1);
                }
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn strings(v: &[&[&str]]) -> Vec<Vec<String>> {
        v.iter().map(|t| t.iter().map(|s| (*s).to_owned()).collect()).collect()
    }

    #[test]
    fn filters_schemes_duplicates_and_empty_tiers() {
        let t = TrackerTiers::new(
            strings(&[
                &["wss://a/", "dht://x"],
                &["http://a/announce", " udp://b:1 ", "http://a/announce"],
                &[],
                &["https://c/announce", "ftp://d/"],
                &["udp://b:1", "HTTP://A:80/announce"],
            ]),
            &mut StdRng::seed_from_u64(0),
        );
        assert_eq!(t.tiers().len(), 2);
        let mut first = t.tiers()[0].clone();
        first.sort();
        assert_eq!(first, vec!["http://a/announce".to_owned(), "udp://b:1".to_owned()]);
        assert_eq!(t.tiers()[1], vec!["https://c/announce".to_owned()]);
        assert_eq!(t.len(), 3);
        assert!(!t.is_empty());
        assert!(TrackerTiers::new(strings(&[&["wss://x"]]), &mut StdRng::seed_from_u64(0)).is_empty());
    }

    #[test]
    fn shuffles_within_tiers_only() {
        let input: Vec<Vec<String>> =
            (0..3).map(|tier| (0..8).map(|i| format!("http://t{tier}-{i}/announce")).collect()).collect();
        let mut orders = std::collections::HashSet::new();
        for seed in 0..20 {
            let t = TrackerTiers::new(input.clone(), &mut StdRng::seed_from_u64(seed));
            let flat: Vec<(usize, &str)> = t.iter().collect();
            assert_eq!(flat.len(), 24);
            for (i, (tier, url)) in flat.iter().enumerate() {
                assert_eq!(*tier, i / 8, "tier by tier");
                assert!(url.starts_with(&format!("http://t{tier}-")), "{url} stayed in its tier");
            }
            for (tier, urls) in t.tiers().iter().enumerate() {
                let mut sorted = urls.clone();
                sorted.sort();
                assert_eq!(sorted, input[tier]);
            }
            orders.insert(t.tiers()[0].clone());
        }
        assert!(orders.len() > 1, "the order within a tier is random");
    }

    #[test]
    fn promote_moves_to_front_of_its_tier() {
        let mut t = TrackerTiers { tiers: strings(&[&["a://1", "a://2", "a://3"], &["b://1", "b://2"]]) };
        assert!(t.promote("a://3"));
        assert_eq!(t.tiers()[0], strings(&[&["a://3", "a://1", "a://2"]])[0]);
        assert!(t.promote("b://2"));
        assert_eq!(t.tiers()[1], strings(&[&["b://2", "b://1"]])[0]);
        assert!(t.promote("a://3"));
        assert_eq!(t.tiers()[0][0], "a://3");
        assert!(!t.promote("c://1"));
        assert_eq!(t.len(), 5);
    }
}
