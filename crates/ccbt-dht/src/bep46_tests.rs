use super::*;
use crate::item::{mutable_target, SigningKey};

const KEY: &str = "8543d3e6115f0f98c944077a4493dcd543e49c739fd998550a1f614ab36ed63e";

#[test]
fn info_hash_value_round_trip() {
    let ih = InfoHash([0xab; 20]);
    let v = encode_info_hash_value(&ih);
    assert_eq!(crate::item::check_value(&v), Ok(()), "canonical, puttable as is");
    assert_eq!(decode_info_hash_value(&v), Ok(ih));
    // Extra keys are tolerated.
    let mut extended = b"d2:ih20:".to_vec();
    extended.extend_from_slice(&[1; 20]);
    extended.extend_from_slice(b"1:xi1ee");
    assert_eq!(decode_info_hash_value(&extended), Ok(InfoHash([1; 20])));
    for bad in [&b"d2:ih19:aaaaaaaaaaaaaaaaaaae"[..], b"le", b"12:Hello World!", b"d2:ihi1ee", b"", b"d2:ih"]
    {
        assert_eq!(decode_info_hash_value(bad), Err(Bep46Error::NotAnInfoHashValue));
    }
}

#[test]
fn links_parse_and_format() {
    let link = MutableLink::parse(&format!("magnet:?xs=urn:btpk:{KEY}")).unwrap();
    assert!(link.salt.is_empty());
    // BEP 46 test 1: the link's target.
    assert_eq!(
        encode_hex(&mutable_target(&link.public_key, &link.salt).0),
        "cc3f9d90b572172053626f9980ce261a850d050b"
    );
    assert_eq!(link.to_string(), format!("magnet:?xs=urn:btpk:{KEY}"));
    // BEP 46 test 2: with salt "n".
    let salted = MutableLink::parse(&format!("magnet:?xs=urn:btpk:{KEY}&s=6e")).unwrap();
    assert_eq!(salted.salt, b"n");
    assert_eq!(
        encode_hex(&mutable_target(&salted.public_key, &salted.salt).0),
        "59ee7c2cb9b4f7eb1986ee2d18fd2fdb8a56554f"
    );
    assert_eq!(MutableLink::parse(&salted.to_string()), Ok(salted.clone()));
    // Upper-case hex, escaped colons, other parameters in any order.
    let other = format!("magnet:?dn=x&s=6E&xs=urn%3Abtpk%3A{}&tr=udp://t", KEY.to_uppercase());
    assert_eq!(MutableLink::parse(&other), Ok(salted));
}

#[test]
fn bad_links_name_the_fault() {
    let cases = [
        ("http://x", Bep46Error::NotAMagnet),
        ("magnet:?xt=urn:btih:0000000000000000000000000000000000000000", Bep46Error::NoPublicKey),
        ("magnet:?xs=urn:btpk:abcd", Bep46Error::BadPublicKey),
        (
            "magnet:?xs=urn:btpk:zz43d3e6115f0f98c944077a4493dcd543e49c739fd998550a1f614ab36ed63e",
            Bep46Error::BadPublicKey,
        ),
    ];
    for (link, want) in cases {
        assert_eq!(MutableLink::parse(link), Err(want), "{link}");
    }
    assert_eq!(MutableLink::parse(&format!("magnet:?xs=urn:btpk:{KEY}&s=6")), Err(Bep46Error::BadSalt));
    let long = "00".repeat(65);
    assert_eq!(MutableLink::parse(&format!("magnet:?xs=urn:btpk:{KEY}&s={long}")), Err(Bep46Error::BadSalt));
}

#[test]
fn key_files() {
    let seed = [0x5a; 32];
    let text = format_key_file(&seed);
    assert_eq!(text.len(), 65);
    assert!(text.ends_with('\n'));
    assert_eq!(parse_key_file(text.as_bytes()), Ok(seed));
    assert_eq!(parse_key_file(format!("  {}\r\n", text.trim().to_uppercase()).as_bytes()), Ok(seed));
    for bad in [&b""[..], b"abcd\n", &[0xff; 64], "5a".repeat(33).as_bytes()] {
        assert_eq!(parse_key_file(bad), Err(Bep46Error::BadKeyFile));
    }
    // The seed round-trips to the same key.
    assert_eq!(
        SigningKey::from_seed(&parse_key_file(text.as_bytes()).unwrap()).public_key(),
        SigningKey::from_seed(&seed).public_key()
    );
}
