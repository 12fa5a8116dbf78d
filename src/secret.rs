//! Comparing secrets: the one constant-time comparison that the API's token check and the
//! webhooks' credential checks share.
//!
//! Both sides are SHA-256 digests (a configured secret is kept only as its digest), so neither the
//! position of the first differing byte nor the length of the expected secret shows in the time a
//! comparison takes.

use sha2::{Digest, Sha256};

/// The SHA-256 digest of a secret or of a value to compare with one.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Compares every byte whatever the first difference, so the time taken says nothing about where
/// the values differ.
pub fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let difference = a
        .iter()
        .zip(b)
        .fold(0u8, |difference, (x, y)| difference | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_digests_match_and_any_one_bit_of_difference_does_not() {
        let expected = digest(b"token");
        assert!(ct_eq(&expected, &digest(b"token")));
        for index in 0..32 {
            for bit in 0..8 {
                let mut other = expected;
                other[index] ^= 1 << bit;
                assert!(!ct_eq(&expected, &other), "byte {index} bit {bit}");
            }
        }
    }
}
