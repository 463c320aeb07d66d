//! A consistent-hash ring with virtual nodes: adding or removing one of N backends moves only
//! about 1/N of the keys.

/// Points each backend takes on the ring (more points, more even shares).
pub const VIRTUAL_NODES: usize = 2048;

/// FNV-1a, then a 64-bit finalizer (splitmix64) so nearby inputs land far apart.
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Backends (by index into the list given to [`Ring::new`]) placed on a hash ring.
#[derive(Debug, Clone)]
pub struct Ring {
    points: Vec<(u64, usize)>,
}

impl Ring {
    /// A ring over `endpoints`; each takes [`VIRTUAL_NODES`] points derived from its name.
    pub fn new(endpoints: &[String]) -> Ring {
        let mut points = Vec::with_capacity(endpoints.len() * VIRTUAL_NODES);
        for (i, e) in endpoints.iter().enumerate() {
            for v in 0..VIRTUAL_NODES {
                points.push((hash(format!("{e}#{v}").as_bytes()), i));
            }
        }
        points.sort_unstable();
        Ring { points }
    }

    /// The backend owning `key`: the first point at or after its hash, wrapping around.
    pub fn get(&self, key: u64) -> usize {
        let i = self.points.partition_point(|(p, _)| *p < key);
        self.points[i % self.points.len()].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{i}:4317")).collect()
    }

    #[test]
    fn shares_are_even_and_removal_moves_about_one_nth() {
        let three = Ring::new(&names(3));
        let mut counts = [0usize; 3];
        let keys: Vec<u64> = (0..30_000u64).map(|k| hash(&k.to_le_bytes())).collect();
        for k in &keys {
            counts[three.get(*k)] += 1;
        }
        for c in counts {
            assert!((8_500..=11_500).contains(&c), "{counts:?}");
        }
        // Adding a fourth backend: only keys that now belong to it move.
        let mut four_names = names(3);
        four_names.push("10.0.0.9:4317".into());
        let four = Ring::new(&four_names);
        let moved = keys
            .iter()
            .filter(|k| three.get(**k) != four.get(**k))
            .count();
        let to_new = keys.iter().filter(|k| four.get(**k) == 3).count();
        assert_eq!(moved, to_new, "keys move only to the new backend");
        assert!(
            (5_500..=9_500).contains(&moved),
            "about a quarter moved: {moved}"
        );
    }
}
