//! Integer mixing shared by the hash table, the sample store and k-means seeding: the splitmix64
//! finaliser (Steele, Lea & Flood, "Fast splittable pseudorandom number generators", 2014), a
//! bijection of u64 whose output bits each depend on every input bit. Ours because it is four
//! lines whose exact values are pinned: the sample store and k-means models are reproducible
//! from their seeds across releases, and a crate's next version could change its constants.

/// 2^64 / φ: the splitmix64 increment.
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The splitmix64 finaliser.
#[inline]
pub fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// One splitmix64 step from state `x`.
#[inline]
pub fn splitmix64(x: u64) -> u64 {
    mix64(x.wrapping_add(GOLDEN))
}

/// Deterministic xorshift64 numbers for randomized tests (no dependency, same sequence on every
/// machine).
#[cfg(test)]
pub fn test_rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // the first outputs of splitmix64 seeded with 0 (the reference implementation's)
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(GOLDEN), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(mix64(0), 0);
        let mut next = test_rng(12345);
        assert_eq!(next(), 12345 ^ 12345 << 13 ^ (12345 ^ 12345 << 13) >> 7 ^ ((12345 ^ 12345 << 13) ^ (12345 ^ 12345 << 13) >> 7) << 17);
    }
}
