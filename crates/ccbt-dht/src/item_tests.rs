use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn arr<const N: usize>(s: &str) -> [u8; N] {
    hex(s).try_into().unwrap()
}

// BEP 44 test vectors (keys, targets and signatures from the BEP's "test vectors" section).
const PK: &str = "77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548";
const SIG1: &str = "305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff\
                    1260d3f39e4999684aa92eb73ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01";
const SIG2: &str = "6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17d\
                    df9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08";
const V: &[u8] = b"12:Hello World!";

#[test]
fn bep44_vector_1_mutable_without_salt() {
    let k = arr::<32>(PK);
    assert_eq!(signing_buffer(b"", 1, V), b"3:seqi1e1:v12:Hello World!");
    assert_eq!(mutable_target(&k, b"").0.to_vec(), hex("4a533d47ec9c7d95b1ad75f576cffc641853b750"));
    let sig = arr::<64>(SIG1);
    assert!(verify(&k, b"", 1, V, &sig));
    let item = MutableItem { k, salt: Vec::new(), seq: 1, v: V.to_vec(), sig };
    assert_eq!(item.validate(), Ok(()));
    // Any change breaks it: seq, value, salt, key, signature.
    assert!(!verify(&k, b"", 2, V, &sig));
    assert!(!verify(&k, b"", 1, b"12:Hello World?", &sig));
    assert!(!verify(&k, b"foobar", 1, V, &sig));
    let mut bad = sig;
    bad[10] ^= 1;
    assert!(!verify(&k, b"", 1, V, &bad));
    assert_eq!(MutableItem { sig: bad, ..item }.validate(), Err(ItemError::BadSignature));
}

#[test]
fn bep44_vector_2_mutable_with_salt() {
    let k = arr::<32>(PK);
    assert_eq!(signing_buffer(b"foobar", 1, V), b"4:salt6:foobar3:seqi1e1:v12:Hello World!");
    assert_eq!(mutable_target(&k, b"foobar").0.to_vec(), hex("411eba73b6f087ca51a3795d9c8c938d365e32c1"));
    let sig = arr::<64>(SIG2);
    assert!(verify(&k, b"foobar", 1, V, &sig));
    assert!(!verify(&k, b"", 1, V, &sig), "the salt is signed");
    let item = MutableItem { k, salt: b"foobar".to_vec(), seq: 1, v: V.to_vec(), sig };
    assert_eq!(Item::Mutable(item.clone()).target(), mutable_target(&k, b"foobar"));
    assert_eq!(item.validate(), Ok(()));
}

#[test]
fn bep44_vector_3_immutable() {
    assert_eq!(immutable_target(V).0.to_vec(), hex("e5f96f6f38320f0f33959cb4d3d656452117aadb"));
    assert_eq!(Item::Immutable(V.to_vec()).target(), immutable_target(V));
}

#[test]
fn bep46_target_vectors() {
    let k = arr::<32>("8543d3e6115f0f98c944077a4493dcd543e49c739fd998550a1f614ab36ed63e");
    assert_eq!(mutable_target(&k, b"").0.to_vec(), hex("cc3f9d90b572172053626f9980ce261a850d050b"));
    assert_eq!(mutable_target(&k, b"n").0.to_vec(), hex("59ee7c2cb9b4f7eb1986ee2d18fd2fdb8a56554f"));
}

#[test]
fn sign_and_verify_round_trip() {
    let key = SigningKey::from_seed(&[7; 32]);
    assert_eq!(SigningKey::from_seed(&[7; 32]).public_key(), key.public_key(), "deterministic");
    assert_ne!(SigningKey::from_seed(&[8; 32]).public_key(), key.public_key());
    let item = key.sign_item(b"salt", 5, b"d2:ih20:aaaaaaaaaaaaaaaaaaaae".to_vec()).unwrap();
    assert_eq!(item.validate(), Ok(()));
    assert_eq!(item.k, key.public_key());
    assert_eq!(item.sig, key.sign(&signing_buffer(b"salt", 5, &item.v)), "ed25519 is deterministic");
    assert!(!format!("{key:?}").contains("0707"), "the seed is not printed");
    assert_eq!(key.clone().seed(), &[7; 32]);
}

#[test]
fn bad_values_are_refused() {
    let key = SigningKey::from_seed(&[1; 32]);
    let big = format!("{}:{}", 996, "x".repeat(996));
    assert_eq!(big.len(), 1000);
    assert!(key.sign_item(b"", 0, big.clone().into_bytes()).is_ok(), "1000 bytes is the limit");
    let too_big = format!("{}:{}", 997, "x".repeat(997)).into_bytes();
    assert_eq!(key.sign_item(b"", 0, too_big.clone()), Err(ItemError::ValueTooBig { len: 1001 }));
    assert_eq!(check_value(&too_big), Err(ItemError::ValueTooBig { len: 1001 }));
    assert_eq!(key.sign_item(&[0; 65], 0, V.to_vec()), Err(ItemError::SaltTooBig { len: 65 }));
    assert!(key.sign_item(&[0; 64], 0, V.to_vec()).is_ok());
    assert_eq!(key.sign_item(b"", -1, V.to_vec()), Err(ItemError::NegativeSeq { seq: -1 }));
    for bad in [&b""[..], b"12:Hello", b"i1ei2e", b"d1:bi1e1:ai2ee", b"not bencode"] {
        assert_eq!(check_value(bad), Err(ItemError::NotCanonical), "{:?}", String::from_utf8_lossy(bad));
    }
    assert_eq!(check_value(b"d1:ai2e1:bi1ee"), Ok(()));
    assert_eq!(Item::Immutable(b"x".to_vec()).validate(), Err(ItemError::NotCanonical));
}
