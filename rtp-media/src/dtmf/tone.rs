//! Tone generation: the dual tone of a DTMF key and the call progress
//! tones (ringback, busy) we play towards the caller.

use super::digit_frequencies;
use std::time::Duration;

/// A dual-frequency tone with an on/off cadence: DTMF keys, ringback, busy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneGenerator {
    freqs: (f32, f32),
    amplitude: f32,
    on: u64,
    off: u64,
    sample_rate: u32,
    position: u64,
}

impl ToneGenerator {
    /// A continuous (no cadence) dual tone; `amplitude` is per tone.
    pub fn continuous(f1: f32, f2: f32, amplitude: i16, sample_rate: u32) -> Self {
        ToneGenerator {
            freqs: (f1, f2),
            amplitude: f32::from(amplitude),
            on: u64::MAX,
            off: 0,
            sample_rate: sample_rate.max(1),
            position: 0,
        }
    }

    /// A dual tone switched on for `on` and off for `off`, repeating.
    pub fn cadenced(
        f1: f32,
        f2: f32,
        amplitude: i16,
        on: Duration,
        off: Duration,
        sample_rate: u32,
    ) -> Self {
        let sr = u64::from(sample_rate.max(1));
        let samples = |d: Duration| (d.as_micros() as u64 * sr / 1_000_000).max(1);
        ToneGenerator {
            on: samples(on),
            off: samples(off),
            ..Self::continuous(f1, f2, amplitude, sample_rate)
        }
    }

    /// The tone of a DTMF key at 8 kHz, `None` for other characters.
    pub fn dtmf(digit: char, amplitude: i16) -> Option<Self> {
        let (r, c) = digit_frequencies(digit)?;
        Some(Self::continuous(r, c, amplitude, 8000))
    }

    /// US ringback: 440 + 480 Hz, 2 s on, 4 s off, at 8 kHz.
    pub fn ringback_us(amplitude: i16) -> Self {
        Self::cadenced(
            440.0,
            480.0,
            amplitude,
            Duration::from_secs(2),
            Duration::from_secs(4),
            8000,
        )
    }

    /// US busy: 480 + 620 Hz, 0.5 s on, 0.5 s off, at 8 kHz.
    pub fn busy_us(amplitude: i16) -> Self {
        Self::cadenced(
            480.0,
            620.0,
            amplitude,
            Duration::from_millis(500),
            Duration::from_millis(500),
            8000,
        )
    }

    /// Writes the next samples of the tone.
    pub fn fill(&mut self, out: &mut [i16]) {
        let sr = f64::from(self.sample_rate);
        let tau = std::f64::consts::TAU;
        for o in out.iter_mut() {
            let in_cycle = if self.off == 0 {
                0
            } else {
                self.position % (self.on + self.off)
            };
            *o = if in_cycle < self.on {
                // Phase from the position modulo one second keeps f64
                // precision over arbitrarily long tones (integer Hz).
                let t = (self.position % u64::from(self.sample_rate)) as f64 / sr;
                let v = (tau * f64::from(self.freqs.0) * t).sin()
                    + (tau * f64::from(self.freqs.1) * t).sin();
                (v * f64::from(self.amplitude))
                    .round()
                    .clamp(-32768.0, 32767.0) as i16
            } else {
                0
            };
            self.position += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goertzel power of `f` over `x`, for checking generated tones.
    fn power_at(x: &[i16], f: f64) -> f64 {
        let coeff = 2.0 * (std::f64::consts::TAU * f / 8000.0).cos();
        let (mut s1, mut s2) = (0.0, 0.0);
        for &v in x {
            let s0 = f64::from(v) + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        s1 * s1 + s2 * s2 - coeff * s1 * s2
    }

    #[test]
    fn call_progress_tone_frequencies_and_cadence() {
        let mut ring = vec![0i16; 8000 * 12];
        ToneGenerator::ringback_us(3000).fill(&mut ring);
        // On for 2 s, off for 4 s, repeating.
        let on = |s: &[i16]| s.iter().any(|&v| v != 0);
        assert!(on(&ring[..16000]));
        assert!(!on(&ring[16000..48000]));
        assert!(on(&ring[48000..64000]));
        assert!(!on(&ring[64000..96000]));
        let seg = &ring[..800];
        let (p440, p480, p620) = (
            power_at(seg, 440.0),
            power_at(seg, 480.0),
            power_at(seg, 620.0),
        );
        assert!(p440 > 100.0 * p620 && p480 > 100.0 * p620);
        let mut busy = vec![0i16; 8000 * 2];
        ToneGenerator::busy_us(3000).fill(&mut busy);
        assert!(on(&busy[..4000]) && !on(&busy[4000..8000]) && on(&busy[8000..12000]));
        let seg = &busy[..800];
        assert!(power_at(seg, 620.0) > 100.0 * power_at(seg, 440.0));
        // Peak stays within twice the per-tone amplitude and continues
        // seamlessly across fill calls.
        let mut g = ToneGenerator::dtmf('1', 10_000).unwrap();
        let mut a = [0i16; 100];
        let mut b = [0i16; 100];
        g.fill(&mut a);
        g.fill(&mut b);
        let mut g2 = ToneGenerator::dtmf('1', 10_000).unwrap();
        let mut ab = [0i16; 200];
        g2.fill(&mut ab);
        assert_eq!(&ab[..100], &a);
        assert_eq!(&ab[100..], &b);
        assert!(ab.iter().all(|&v| i32::from(v).abs() <= 20_000));
    }
}
