//! Deterministic white Gaussian noise (xorshift + Box–Muller), seeded, so
//! a test that adds noise to a signal fails or passes the same way on
//! every run.
//!
//! Shared, as this one file, by the caller ID interop test and by the DTMF
//! detector's unit tests inside the crate, which include it by path: one
//! copy, and no test helper in the library's API.

/// A noise source; the value is the generator's state (any non-zero seed).
pub struct Noise(pub u64);

#[allow(dead_code)] // each includer uses its own part
impl Noise {
    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (mean 0, variance 1).
    pub fn gaussian(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize % n
    }
}
