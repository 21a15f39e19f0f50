//! Identifiers we generate: Via branches, tags, Call-IDs.
//!
//! They must be unique and hard to guess (a guessable branch or tag lets an
//! off-path attacker inject a CANCEL or BYE), but we make several per call at
//! thousands of calls per second, so a per-thread generator seeded once from
//! the operating system's CSPRNG (`ring::rand`) produces them.

use std::cell::Cell;
use std::sync::{Mutex, MutexGuard};

use ring::rand::{SecureRandom, SystemRandom};

thread_local! {
    static STATE: Cell<[u64; 2]> = Cell::new(seed());
}

fn seed() -> [u64; 2] {
    let mut b = [0u8; 16];
    if SystemRandom::new().fill(&mut b).is_err() {
        // No OS randomness: fall back to time and address entropy. Still
        // unique; weaker against guessing, which we log once.
        tracing::warn!("operating system randomness unavailable; identifiers are less random");
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b[..16].copy_from_slice(&t.to_le_bytes());
    }
    let a = u64::from_le_bytes(b[..8].try_into().unwrap_or([1; 8]));
    let c = u64::from_le_bytes(b[8..].try_into().unwrap_or([2; 8]));
    [a | 1, c]
}

/// Locks a mutex, taking the data even if a panicking thread poisoned it:
/// the state behind our locks stays consistent between statements, and a
/// call must not become unusable because another one panicked.
pub(crate) trait LockExt<T> {
    /// The guard, poisoned or not.
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> LockExt<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A 64-bit random value from the per-thread xorshift128+ generator.
pub fn random_u64() -> u64 {
    STATE.with(|s| {
        let [mut a, b] = s.get();
        let result = a.wrapping_add(b);
        a ^= a << 23;
        let na = b;
        let nb = a ^ b ^ (a >> 17) ^ (b >> 26);
        s.set([na, nb]);
        result
    })
}

const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// `n` random characters from a URL- and token-safe alphabet.
pub fn random_token(n: usize) -> String {
    let mut s = String::with_capacity(n);
    let mut bits = 0u64;
    let mut left = 0;
    for _ in 0..n {
        if left == 0 {
            bits = random_u64();
            left = 12;
        }
        s.push(ALPHABET[(bits & 31) as usize] as char);
        bits >>= 5;
        left -= 1;
    }
    s
}

/// `n` characters (at most 12) of the token alphabet spelling `bits`: a
/// tag derived from a hash rather than drawn at random.
pub(crate) fn token_from_bits(mut bits: u64, n: usize) -> String {
    let mut s = String::with_capacity(n);
    for _ in 0..n.min(12) {
        s.push(ALPHABET[(bits & 31) as usize] as char);
        bits >>= 5;
    }
    s
}

/// A new RFC 3261 branch: the magic cookie and 16 random characters.
pub fn new_branch() -> String {
    let mut s = String::with_capacity(23);
    s.push_str("z9hG4bK");
    s.push_str(&random_token(16));
    s
}

/// A new From/To tag.
pub fn new_tag() -> String {
    random_token(12)
}

/// A new Call-ID, optionally qualified with our host.
pub fn new_call_id(host: Option<&str>) -> String {
    match host {
        Some(h) => format!("{}@{h}", random_token(20)),
        None => random_token(24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn identifiers_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let b = new_branch();
            assert!(b.starts_with("z9hG4bK") && b.len() == 23);
            assert!(seen.insert(b));
        }
        let t = new_tag();
        assert!(t.bytes().all(|c| ALPHABET.contains(&c)));
        assert!(new_call_id(Some("h.example")).ends_with("@h.example"));
    }
}
