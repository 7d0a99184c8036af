use super::*;
use crate::item::SigningKey;

fn ip(i: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, i])
}

fn mutable(key: &SigningKey, seq: i64, v: &str) -> Item {
    Item::Mutable(key.sign_item(b"s", seq, format!("{}:{v}", v.len()).into_bytes()).unwrap())
}

#[test]
fn seq_and_cas_rules() {
    let t0 = Instant::now();
    let key = SigningKey::from_seed(&[1; 32]);
    let mut s = ItemStore::new(10, 1 << 20, 10, ITEM_TTL);
    let target = mutable(&key, 0, "a").target();
    assert_eq!(s.put(t0, ip(1), mutable(&key, 5, "five"), Some(99)), Ok(()), "cas with nothing stored");
    assert_eq!(s.put(t0, ip(2), mutable(&key, 4, "four"), None), Err(PutRefused::SeqTooLow));
    assert_eq!(
        s.put(t0, ip(2), mutable(&key, 5, "other"), None),
        Err(PutRefused::SeqTooLow),
        "same seq, new value"
    );
    assert_eq!(s.put(t0, ip(2), mutable(&key, 5, "five"), None), Ok(()), "same seq and value: a refresh");
    assert_eq!(s.put(t0, ip(2), mutable(&key, 6, "six"), Some(4)), Err(PutRefused::CasMismatch));
    assert_eq!(s.put(t0, ip(2), mutable(&key, 6, "six"), Some(5)), Ok(()));
    assert_eq!(s.get(t0, &target), Some(&mutable(&key, 6, "six")));
    assert_eq!(s.len(), 1);
    assert_eq!(s.bytes(), 5 + 1 + ITEM_OVERHEAD, "value 3:six is 5 bytes, salt 1");
}

#[test]
fn items_expire_unless_put_again() {
    let t0 = Instant::now();
    let mut s = ItemStore::new(10, 1 << 20, 10, ITEM_TTL);
    let item = Item::Immutable(b"3:abc".to_vec());
    let target = item.target();
    s.put(t0, ip(1), item.clone(), None).unwrap();
    let hour = Duration::from_secs(3600);
    s.put(t0 + hour, ip(2), item.clone(), None).unwrap();
    assert_eq!(s.get(t0 + hour * 2 + Duration::from_secs(1), &target), Some(&item), "refreshed at 1 h");
    assert_eq!(s.get(t0 + hour * 3, &target), None);
    s.expire(t0 + hour * 3);
    assert!(s.is_empty());
    assert_eq!(s.bytes(), 0);
    assert!(s.per_ip.is_empty());
}

#[test]
fn a_flood_is_bounded() {
    let t0 = Instant::now();
    let mut s = ItemStore::new(50, 20_000, 8, ITEM_TTL);
    // One IP: its share.
    let mut accepted = 0;
    for i in 0..100 {
        if s.put(t0, ip(1), Item::Immutable(format!("i{i}e").into_bytes()), None).is_ok() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 8);
    // Many IPs, big values: the byte cap.
    for i in 0..=255u8 {
        let v = format!("900:{}", char::from(b'a' + i % 26).to_string().repeat(900));
        let _ = s.put(t0, IpAddr::from([10, 1, 0, i]), Item::Immutable(v.into_bytes()), None);
    }
    assert!(s.bytes() <= 20_000 && s.bytes() > 20_000 - 1100, "{}", s.bytes());
    let big = format!("900:{}", "z".repeat(900)).into_bytes();
    assert_eq!(s.put(t0, ip(99), Item::Immutable(big), None), Err(PutRefused::Full));
    // Many IPs, small values: the count cap.
    let mut s = ItemStore::new(50, 1 << 20, 8, ITEM_TTL);
    for i in 0..=255u8 {
        let _ = s.put(t0, IpAddr::from([10, 2, 0, i]), Item::Immutable(format!("i{i}e").into_bytes()), None);
    }
    assert_eq!(s.len(), 50);
    assert_eq!(s.put(t0, ip(99), Item::Immutable(b"i-1e".to_vec()), None), Err(PutRefused::Full));
    // Once they expire there is room again.
    assert_eq!(s.put(t0 + ITEM_TTL, ip(99), Item::Immutable(b"i-1e".to_vec()), None), Ok(()));
    assert_eq!(s.len(), 1);
}
