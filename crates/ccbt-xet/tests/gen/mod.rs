//! The deterministic test inputs, defined exactly as in the scratch program that produced
//! `fixtures/xet_core_1_8.txt` with xet-core (see that file's header): SplitMix64 output words
//! written little-endian.

/// SplitMix64 (Steele, Lea, Flood 2014), the usual constants.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `size` bytes: the generator's words, little-endian, the last one cut short.
pub fn random(seed: u64, size: usize) -> Vec<u8> {
    let mut rng = SplitMix64(seed);
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(size);
    out
}

/// One input of the fixture: `random` (param unused), `period` (the first `param` random bytes
/// repeated) or `sparse` (zeros, but byte i is `(x >> 32) as u8` where the i-th word x is a
/// multiple of `param`).
pub fn generate(kind: &str, param: u64, seed: u64, size: usize) -> Vec<u8> {
    match kind {
        "random" => random(seed, size),
        "period" => {
            let unit = random(seed, param as usize);
            (0..size).map(|i| unit[i % unit.len()]).collect()
        }
        "sparse" => {
            let mut rng = SplitMix64(seed);
            (0..size)
                .map(|_| {
                    let x = rng.next();
                    if x % param == 0 {
                        (x >> 32) as u8
                    } else {
                        0
                    }
                })
                .collect()
        }
        other => panic!("unknown input kind {other}"),
    }
}
