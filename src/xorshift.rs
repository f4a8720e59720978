//! A seeded xorshift64 generator: cheap, reproducible pseudo-random numbers and bytes for load
//! payloads, test data and fault schedules. Not for anything secret (ids and tokens use the
//! OS generator).

/// xorshift64 (Marsaglia): state never zero.
#[derive(Debug, Clone)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator from `seed` (any value; mixed so nearby seeds give unrelated streams).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(0x6a09_e667_f3bc_c909) | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// `len` bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::XorShift64;

    #[test]
    fn same_seed_same_stream_and_seeds_differ() {
        assert_eq!(XorShift64::new(7).bytes(64), XorShift64::new(7).bytes(64));
        assert_ne!(XorShift64::new(7).bytes(64), XorShift64::new(8).bytes(64));
        assert!(XorShift64::new(0).next_u64() != 0);
        assert!((0..100).all(|_| XorShift64::new(3).below(10) < 10));
    }
}
