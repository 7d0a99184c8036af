//! Parallel chunking gives exactly the sequential cuts, whatever the data and wherever the
//! partitions start.

use ccbt_xet::{chunk_boundaries, cuts_from, splice_cuts};
use proptest::prelude::*;

/// Data mixing random stretches with runs of one byte (where chains meet late or never).
fn data() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            (1usize..200_000, any::<u64>()).prop_map(|(len, seed)| {
                let mut x = seed | 1;
                (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect::<Vec<u8>>()
            }),
            (1usize..300_000, any::<u8>()).prop_map(|(len, byte)| vec![byte; len]),
        ],
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn spliced_partitions_give_the_sequential_cuts(
        data in data(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut starts: Vec<usize> = cuts.iter().map(|i| i.index(data.len().max(1))).collect();
        starts.push(0);
        starts.sort_unstable();
        starts.dedup();
        let ends: Vec<usize> = starts.iter().skip(1).copied().chain([data.len()]).collect();
        let parts: Vec<Vec<usize>> =
            starts.iter().zip(&ends).map(|(&s, &e)| cuts_from(&data, s, e)).collect();
        let mut got = splice_cuts(&data, &starts, &parts);
        if got.last().copied().unwrap_or(0) < data.len() {
            got.push(data.len());
        }
        prop_assert_eq!(got, chunk_boundaries(&data));
    }
}
