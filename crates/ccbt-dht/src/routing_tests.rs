use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::*;

const MIN: Duration = Duration::from_secs(60);

fn addr(i: u32) -> SocketAddr {
    SocketAddr::from((std::net::Ipv4Addr::from(0x0a00_0000 + i), 6881))
}

fn setup() -> (RoutingTable, SmallRng, Instant) {
    let now = Instant::now();
    (RoutingTable::new(NodeId([0; 20]), 8, now), SmallRng::seed_from_u64(3), now)
}

#[test]
fn far_bucket_fills_then_caches_and_asks_for_a_ping() {
    let (mut t, mut rng, now) = setup();
    let own = t.own_id();
    // Bucket 0 (first bit differs) fills; the bucket holding our id splits off as needed.
    let far: Vec<NodeId> = (0..8).map(|_| own.random_in_bucket(0, true, &mut rng)).collect();
    for (i, id) in far.iter().enumerate() {
        assert_eq!(t.heard_from(now, *id, addr(i as u32), Contact::Responded), None);
    }
    let close: Vec<NodeId> = (0..8).map(|_| own.random_in_bucket(1, true, &mut rng)).collect();
    for (i, id) in close.iter().enumerate() {
        t.heard_from(now, *id, addr(100 + i as u32), Contact::Responded);
    }
    assert_eq!(t.len(), 16);
    assert_eq!(t.bucket_sizes()[..2], [8, 8]);

    // All good: a ninth far node is cached, nobody to ping.
    let extra = own.random_in_bucket(0, true, &mut rng);
    assert_eq!(t.heard_from(now, extra, addr(50), Contact::Responded), None);
    assert!(t.get(&extra).is_none());

    // 16 minutes later the far nodes are questionable: the least recently seen gets pinged.
    let later = now + 16 * MIN;
    let newcomer = own.random_in_bucket(0, true, &mut rng);
    let (pinged, _) = t.heard_from(later, newcomer, addr(51), Contact::Responded).unwrap();
    assert!(far.contains(&pinged));
    // It does not answer: it is bad, removed, and the freshest replacement takes its place.
    t.failed(later + Duration::from_secs(2), &pinged);
    assert!(t.get(&pinged).is_none());
    assert!(t.get(&newcomer).is_some());
    assert_eq!(t.bucket_sizes()[0], 8);
}

#[test]
fn splits_only_the_bucket_of_our_own_id() {
    let (mut t, mut rng, now) = setup();
    let own = t.own_id();
    for i in 0..200u32 {
        let id = NodeId::random(&mut rng);
        t.heard_from(now, id, addr(i), Contact::Responded);
    }
    let sizes = t.bucket_sizes();
    assert!(sizes.len() >= 4, "{sizes:?}");
    assert!(sizes.iter().all(|&s| s <= 8));
    // Every node sits in the bucket of its prefix length (the last one takes all closer).
    let last = sizes.len() - 1;
    for n in t.nodes() {
        let lz = own.distance(&n.id).leading_zeros();
        assert!(lz >= last || t.bucket_index(&n.id) == lz);
    }
    // Buckets far from us are full of the first comers; 200 nodes cannot fill the close ones.
    assert_eq!(sizes[0], 8);
    assert!(t.heard_from(now, own, addr(999), Contact::Responded).is_none());
    assert!(t.get(&own).is_none(), "never insert ourselves");
}

#[test]
fn states_follow_the_fifteen_minute_rules() {
    let (mut t, _, now) = setup();
    let id = NodeId([0x80; 20]);
    t.import(now, &[(id, addr(1))]);
    assert_eq!(t.get(&id).unwrap().state(now), NodeState::Questionable, "never answered");
    t.heard_from(now, id, addr(1), Contact::Responded);
    assert_eq!(t.get(&id).unwrap().state(now + 14 * MIN), NodeState::Good);
    assert_eq!(t.get(&id).unwrap().state(now + 15 * MIN), NodeState::Questionable);
    // A query from a node that answered before keeps it good.
    t.heard_from(now + 20 * MIN, id, addr(1), Contact::Queried);
    assert_eq!(t.get(&id).unwrap().state(now + 21 * MIN), NodeState::Good);
    // One failure of a good node is tolerated, two are not.
    t.failed(now + 21 * MIN, &id);
    assert_eq!(t.get(&id).unwrap().state(now + 21 * MIN), NodeState::Good);
    t.failed(now + 21 * MIN, &id);
    assert!(t.get(&id).is_none(), "bad node removed");
}

#[test]
fn questionable_nodes_are_pinged_once_per_interval() {
    let (mut t, _, now) = setup();
    t.heard_from(now, NodeId([0x80; 20]), addr(1), Contact::Responded);
    t.import(now, &[(NodeId([0x40; 20]), addr(2))]);
    assert_eq!(t.to_ping(now, 10).len(), 1, "only the never-answered one");
    assert!(t.to_ping(now + Duration::from_secs(10), 10).is_empty());
    assert_eq!(t.to_ping(now + 16 * MIN, 10).len(), 2);
    assert_eq!(t.counts(now), (1, 1));
}

#[test]
fn address_changes_and_duplicates_are_refused() {
    let (mut t, _, now) = setup();
    let a = NodeId([0x80; 20]);
    t.heard_from(now, a, addr(1), Contact::Responded);
    t.heard_from(now, a, addr(2), Contact::Responded);
    assert_eq!(t.get(&a).unwrap().addr, addr(1));
    t.heard_from(now, NodeId([0x81; 20]), addr(1), Contact::Responded);
    assert_eq!(t.len(), 1, "second id at the same address refused");
    t.heard_from(now, NodeId([0x82; 20]), "[::1]:6881".parse().unwrap(), Contact::Responded);
    t.heard_from(now, NodeId([0x83; 20]), "0.0.0.0:6881".parse().unwrap(), Contact::Responded);
    t.heard_from(now, NodeId([0x84; 20]), "1.2.3.4:0".parse().unwrap(), Contact::Responded);
    assert_eq!(t.len(), 1);
}

#[test]
fn refresh_targets_fall_in_stale_buckets() {
    let (mut t, mut rng, now) = setup();
    let own = t.own_id();
    for i in 0..50u32 {
        t.heard_from(now, NodeId::random(&mut rng), addr(i), Contact::Responded);
    }
    assert!(t.refresh_targets(now + MIN, false, &mut rng).is_empty());
    let targets = t.refresh_targets(now + 16 * MIN, false, &mut rng);
    let n = t.bucket_sizes().len();
    assert_eq!(targets.len(), n);
    for (i, target) in targets.iter().enumerate() {
        let lz = own.distance(target).leading_zeros();
        assert!(if i + 1 == n { lz >= i } else { lz == i });
    }
    assert!(t.refresh_targets(now + 17 * MIN, false, &mut rng).is_empty(), "refreshed ones wait again");
    assert_eq!(t.refresh_targets(now + 17 * MIN, true, &mut rng).len(), n);
}

#[test]
fn export_import_round_trip() {
    let (mut t, mut rng, now) = setup();
    for i in 0..100u32 {
        t.heard_from(now, NodeId::random(&mut rng), addr(i), Contact::Responded);
    }
    let mut saved = t.export(now);
    let mut fresh = RoutingTable::new(t.own_id(), 8, now);
    fresh.import(now, &saved);
    let mut back = fresh.export(now);
    saved.sort();
    back.sort();
    assert_eq!(saved, back);
    assert_eq!(fresh.counts(now), (0, saved.len()), "imported nodes start questionable");
    assert_eq!(
        t.closest(now, &NodeId([0x55; 20]), 8),
        fresh.closest(now, &NodeId([0x55; 20]), 8),
        "same lookups from the restored table"
    );
}

#[test]
fn a_node_that_only_queried_us_is_not_stored() {
    let (mut t, _, now) = setup();
    let spoofed = NodeId([0x80; 20]);
    assert!(t.would_admit(now, &spoofed, &addr(1)), "worth a verification ping");
    assert_eq!(t.heard_from(now, spoofed, addr(1), Contact::Queried), None);
    assert!(t.is_empty(), "a query alone (spoofable) does not enter the table");
    t.heard_from(now, spoofed, addr(1), Contact::Responded);
    assert_eq!(t.len(), 1, "an answer to our ping does");
    assert!(!t.would_admit(now, &spoofed, &addr(1)), "known already");
    // Queries refresh a known node at its known address only.
    t.heard_from(now + MIN, spoofed, addr(2), Contact::Queried);
    assert_eq!(t.get(&spoofed).unwrap().addr, addr(1));
}

#[test]
fn only_nodes_that_answered_are_handed_to_others() {
    let (mut t, _, now) = setup();
    t.heard_from(now, NodeId([0x80; 20]), addr(1), Contact::Responded);
    t.import(now, &[(NodeId([0x40; 20]), addr(2))]);
    assert_eq!(t.closest(now, &NodeId([0; 20]), 8).len(), 2, "our own lookups may use both");
    assert_eq!(t.closest_verified(now, &NodeId([0; 20]), 8), vec![(NodeId([0x80; 20]), addr(1))]);
}

#[test]
fn bep42_conforming_nodes_displace_nonconforming_ones() {
    let (mut t, mut rng, now) = setup();
    let own = t.own_id();
    let public = |i: u32| SocketAddr::from((std::net::Ipv4Addr::from(0x0b00_0000 + i), 6881));
    // Fill bucket 0 (and bucket 1, so that bucket 0 can no longer split) with random ids.
    for i in 0..8u32 {
        t.heard_from(now, own.random_in_bucket(0, true, &mut rng), public(i), Contact::Responded);
        t.heard_from(now, own.random_in_bucket(1, true, &mut rng), public(100 + i), Contact::Responded);
    }
    assert_eq!(t.bucket_sizes()[0], 8);
    // A random id for a public address almost surely does not conform: cached, not inserted.
    let plain = own.random_in_bucket(0, true, &mut rng);
    assert!(!crate::bep42::id_matches_ip(&plain, public(50).ip()));
    assert!(!t.would_admit(now, &plain, &public(50)));
    t.heard_from(now, plain, public(50), Contact::Responded);
    assert!(t.get(&plain).is_none());
    // A conforming id in the same bucket takes the place of a non-conforming node.
    let ip = std::net::Ipv4Addr::new(11, 0, 0, 60);
    let conforming = (0..10_000)
        .map(|_| crate::bep42::id_for_ip(ip, &mut rng))
        .find(|id| own.distance(id).leading_zeros() == 0)
        .unwrap();
    let at = SocketAddr::from((ip, 6881));
    assert!(t.would_admit(now, &conforming, &at));
    assert_eq!(t.heard_from(now, conforming, at, Contact::Responded), None);
    assert!(t.get(&conforming).is_some(), "preferred over a non-conforming node");
    assert_eq!(t.bucket_sizes()[0], 8);
}
