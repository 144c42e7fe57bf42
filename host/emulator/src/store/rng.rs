//! A tiny seeded generator (SplitMix64) for uids, generated names and fault ratios.
//!
//! Deterministic for a given seed so test runs and simulations are reproducible.

/// SplitMix64 state.
#[derive(Debug, Clone)]
pub struct Rng(u64);

const NAME_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A version-4-shaped UUID string.
    pub fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    /// The 5-character suffix the real server appends to `generateName`.
    pub fn name_suffix(&mut self) -> String {
        (0..5)
            .map(|_| {
                let i = (self.next_u64() % NAME_CHARS.len() as u64) as usize;
                char::from(NAME_CHARS[i])
            })
            .collect()
    }

    /// A number in `0..1000`.
    pub fn per_mille(&mut self) -> u32 {
        (self.next_u64() % 1000) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_well_formed() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let u = a.uuid();
        assert_eq!(u, b.uuid());
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(a.name_suffix().len(), 5);
    }
}
