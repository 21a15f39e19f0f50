//! Sample-rate conversion between the 8 kHz phone line and the rates AI
//! voice engines and prompt files use (16 kHz, 24 kHz, 44.1 kHz, ...).
//!
//! Interpolation is done by `dasp` (a Hann-windowed sinc, or linear when CPU
//! matters more than fidelity). `dasp`'s sinc keeps the source band, so when
//! converting *down* an anti-aliasing low-pass FIR (Blackman-windowed sinc)
//! runs first; otherwise a 16 kHz voice's 4–8 kHz band would fold back into
//! the telephone band as hiss.
//!
//! Two entry points:
//!
//! - [`Resampler`]: streaming, for 20 ms frames of a live call. All buffers
//!   are allocated at construction; positions are tracked with exact integer
//!   arithmetic so every 20 ms frame yields exactly the same number of
//!   samples over a call of any length (8 kHz → 24 kHz is always 480).
//! - [`resample`]: one-shot, for prompts decoded from files.

use dasp::interpolate::linear::Linear;
use dasp::interpolate::sinc::Sinc;
use dasp::interpolate::Interpolator as _;
use dasp::ring_buffer;

/// Half-width (in source samples) of the sinc interpolation kernel.
const SINC_DEPTH: usize = 8;

/// Errors of a [`Resampler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResampleError {
    /// A sample rate outside [`MIN_RATE`]..=[`MAX_RATE`] was given.
    #[error("unsupported sample rate {0} Hz")]
    BadRate(u32),
    /// More input than the resampler was sized for in [`Resampler::new`].
    #[error("input of {len} samples exceeds the configured frame of {max} samples")]
    FrameTooLong {
        /// Samples offered.
        len: usize,
        /// Largest input the resampler accepts per call.
        max: usize,
    },
}

/// Interpolation quality of a [`Resampler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quality {
    /// Straight-line interpolation: cheapest, slight high-frequency roll-off
    /// and some imaging. Good enough for feeding a VAD or ASR.
    Linear,
    /// Hann-windowed sinc over ±8 source samples: clean, costs more CPU.
    #[default]
    Sinc,
}

/// Highest rate accepted; anything above is certainly a corrupt header.
pub const MAX_RATE: u32 = 384_000;
/// Lowest rate accepted. Bounds the decimation ratio (and with it the
/// anti-aliasing filter's length) for a corrupt or hostile file header.
pub const MIN_RATE: u32 = 1_000;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Windowed-sinc low-pass FIR with a preallocated history ring.
#[derive(Debug, Clone)]
struct LowPass {
    taps: Vec<f64>,
    history: Vec<f64>,
    pos: usize,
}

impl LowPass {
    /// A low-pass for decimating `from` → `to` (`to < from`).
    fn new(from: u32, to: u32) -> Self {
        let ratio = f64::from(from) / f64::from(to);
        // Cutoff a little under the new Nyquist, in cycles per input sample.
        let cutoff = 0.46 / ratio;
        let n = 32 * (ratio.ceil() as usize) + 1;
        let mid = (n / 2) as f64;
        let mut taps: Vec<f64> = (0..n)
            .map(|i| {
                let x = i as f64 - mid;
                let sinc = if x == 0.0 {
                    2.0 * cutoff
                } else {
                    (2.0 * std::f64::consts::PI * cutoff * x).sin() / (std::f64::consts::PI * x)
                };
                let w = 2.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64;
                let blackman = 0.42 - 0.5 * w.cos() + 0.08 * (2.0 * w).cos();
                sinc * blackman
            })
            .collect();
        let sum: f64 = taps.iter().sum();
        if sum != 0.0 {
            taps.iter_mut().for_each(|t| *t /= sum);
        }
        LowPass {
            history: vec![0.0; n],
            taps,
            pos: 0,
        }
    }

    #[inline]
    fn filter(&mut self, x: f64) -> f64 {
        let n = self.history.len();
        self.history[self.pos] = x;
        self.pos = (self.pos + 1) % n;
        // history[pos..] is oldest..; taps are symmetric so order is moot
        // as long as it is consistent.
        let (old, new) = self.history.split_at(self.pos);
        let (t_new, t_old) = self.taps.split_at(new.len());
        new.iter().zip(t_new).map(|(h, t)| h * t).sum::<f64>()
            + old.iter().zip(t_old).map(|(h, t)| h * t).sum::<f64>()
    }
}

enum Interp {
    Linear(Linear<f64>),
    Sinc(Box<Sinc<[f64; 2 * SINC_DEPTH]>>),
}

impl Interp {
    fn new(quality: Quality) -> Self {
        match quality {
            Quality::Linear => Interp::Linear(Linear::new(0.0, 0.0)),
            Quality::Sinc => Interp::Sinc(Box::new(Sinc::new(ring_buffer::Fixed::from(
                [0.0f64; 2 * SINC_DEPTH],
            )))),
        }
    }

    #[inline]
    fn push(&mut self, x: f64) {
        match self {
            Interp::Linear(l) => l.next_source_frame(x),
            Interp::Sinc(s) => s.next_source_frame(x),
        }
    }

    #[inline]
    fn at(&self, frac: f64) -> f64 {
        match self {
            Interp::Linear(l) => l.interpolate(frac),
            // dasp 0.11's `Sinc` measures the phase backwards from the
            // newer sample (0.0 yields the newer one, 1.0 the older), the
            // mirror of `Linear`; flip it so both advance with time.
            Interp::Sinc(s) => s.interpolate(1.0 - frac),
        }
    }
}

impl std::fmt::Debug for Interp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Interp::Linear(_) => f.write_str("Linear"),
            Interp::Sinc(_) => f.write_str("Sinc"),
        }
    }
}

#[inline]
fn to_i16(x: f64) -> i16 {
    x.round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
}

/// Streaming sample-rate converter for one direction of one call.
///
/// Sized at construction for a maximum input frame (20 ms at the source
/// rate for the usual case); [`Resampler::process`] then never allocates.
/// State carries across calls, so consecutive frames join seamlessly.
#[derive(Debug)]
pub struct Resampler {
    from: u32,
    to: u32,
    /// One input sample in position units (reduced `to`).
    unit_in: u64,
    /// One output sample in position units (reduced `from`).
    unit_out: u64,
    /// Position of the next output, in units, relative to the newest input.
    pos: u64,
    interp: Interp,
    lowpass: Option<LowPass>,
    max_input: usize,
    out: Vec<i16>,
}

impl Resampler {
    /// A converter from `from` Hz to `to` Hz accepting up to `max_input`
    /// samples per [`Resampler::process`] call.
    pub fn new(
        from: u32,
        to: u32,
        max_input: usize,
        quality: Quality,
    ) -> Result<Self, ResampleError> {
        for rate in [from, to] {
            if !(MIN_RATE..=MAX_RATE).contains(&rate) {
                return Err(ResampleError::BadRate(rate));
            }
        }
        let g = gcd(u64::from(from), u64::from(to));
        let (unit_in, unit_out) = (u64::from(to) / g, u64::from(from) / g);
        let max_out = (max_input as u64 * unit_in).div_ceil(unit_out) as usize + 1;
        Ok(Resampler {
            from,
            to,
            unit_in,
            unit_out,
            pos: unit_in,
            interp: Interp::new(quality),
            lowpass: (to < from).then(|| LowPass::new(from, to)),
            max_input,
            out: vec![0; max_out],
        })
    }

    /// A converter for 20 ms frames at `from` Hz (the media engine's unit).
    pub fn for_20ms(from: u32, to: u32, quality: Quality) -> Result<Self, ResampleError> {
        Self::new(from, to, (from as usize).div_ceil(50), quality)
    }

    /// Input rate in Hz.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// Output rate in Hz.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// Delay the converter adds, in output samples (the sinc kernel's
    /// look-ahead plus the anti-aliasing filter's group delay).
    pub fn latency(&self) -> usize {
        let mut input_delay = match self.interp {
            Interp::Linear(_) => 1.0,
            Interp::Sinc(_) => (SINC_DEPTH - 1) as f64,
        };
        if let Some(lp) = &self.lowpass {
            input_delay += (lp.taps.len() / 2) as f64;
        }
        (input_delay * self.unit_in as f64 / self.unit_out as f64).round() as usize
    }

    /// Converts one frame; returns the output samples (valid until the next
    /// call). Errors when `input` is longer than the configured maximum.
    pub fn process(&mut self, input: &[i16]) -> Result<&[i16], ResampleError> {
        if input.len() > self.max_input {
            return Err(ResampleError::FrameTooLong {
                len: input.len(),
                max: self.max_input,
            });
        }
        let mut n = 0;
        for &s in input {
            let mut x = f64::from(s);
            if let Some(lp) = &mut self.lowpass {
                x = lp.filter(x);
            }
            self.interp.push(x);
            self.pos -= self.unit_in;
            while self.pos < self.unit_in {
                let frac = self.pos as f64 / self.unit_in as f64;
                // The buffer is sized for the worst case; `get_mut` keeps
                // this panic-free regardless.
                if let Some(slot) = self.out.get_mut(n) {
                    *slot = to_i16(self.interp.at(frac));
                    n += 1;
                }
                self.pos += self.unit_out;
            }
        }
        Ok(&self.out[..n])
    }
}

/// Converts a whole clip from `from` Hz to `to` Hz with sinc quality,
/// compensating the converter's delay so the output lines up with the input
/// and has `len * to / from` samples. Used for prompts, not the hot path.
/// Returns the input unchanged when the rates are equal, and an empty
/// vector for a rate outside [`MIN_RATE`]..=[`MAX_RATE`].
pub fn resample(samples: &[i16], from: u32, to: u32) -> Vec<i16> {
    if from == to {
        return samples.to_vec();
    }
    let chunk = 4096;
    let Ok(mut r) = Resampler::new(from, to, chunk, Quality::Sinc) else {
        return Vec::new();
    };
    let want = (samples.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    let skip = r.latency();
    let mut out = Vec::with_capacity(want + skip + 16);
    let zeros = [0i16; 4096];
    for block in samples.chunks(chunk) {
        if let Ok(o) = r.process(block) {
            out.extend_from_slice(o);
        }
    }
    // Flush the filter tails with silence until the delayed end comes out.
    while out.len() < want + skip {
        match r.process(&zeros) {
            Ok(o) if !o.is_empty() => out.extend_from_slice(o),
            _ => break,
        }
    }
    out.drain(..skip.min(out.len()));
    out.truncate(want);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, secs: f64, amp: f64) -> Vec<i16> {
        let n = (f64::from(rate) * secs) as usize;
        (0..n)
            .map(|i| {
                (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin())
                    as i16
            })
            .collect()
    }

    /// Positive-going zero crossings per second, skipping the edges.
    fn frequency(x: &[i16], rate: u32) -> f64 {
        let core = &x[x.len() / 10..x.len() * 9 / 10];
        let crossings = core.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
        crossings as f64 * f64::from(rate) / core.len() as f64
    }

    fn rms(x: &[i16]) -> f64 {
        let core = &x[x.len() / 10..x.len() * 9 / 10];
        (core.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / core.len() as f64).sqrt()
    }

    fn db(a: f64, b: f64) -> f64 {
        20.0 * (a / b).log10()
    }

    #[test]
    fn sine_round_trip_8k_16k_8k_streaming() {
        for quality in [Quality::Sinc, Quality::Linear] {
            let input = sine(1000.0, 8000, 2.0, 10000.0);
            let mut up = Resampler::for_20ms(8000, 16000, quality).unwrap();
            let mut down = Resampler::for_20ms(16000, 8000, quality).unwrap();
            let mut mid = Vec::new();
            let mut back = Vec::new();
            for frame in input.chunks(160) {
                let o = up.process(frame).unwrap();
                assert_eq!(o.len(), 320, "8k→16k frame size");
                mid.extend_from_slice(o);
                let b = down.process(o).unwrap();
                assert_eq!(b.len(), 160, "16k→8k frame size");
                back.extend_from_slice(b);
            }
            let f_mid = frequency(&mid, 16000);
            let f_back = frequency(&back, 8000);
            assert!((f_mid - 1000.0).abs() < 5.0, "{quality:?} mid freq {f_mid}");
            assert!(
                (f_back - 1000.0).abs() < 5.0,
                "{quality:?} back freq {f_back}"
            );
            let loss = db(rms(&back), rms(&input)).abs();
            assert!(loss < 1.0, "{quality:?} amplitude changed by {loss} dB");
            assert!(db(rms(&mid), rms(&input)).abs() < 1.0);
        }
    }

    #[test]
    fn downsampling_rejects_out_of_band_tone() {
        // 6 kHz at 16 kHz cannot be represented at 8 kHz: without the
        // anti-alias filter it would fold to 2 kHz at full level.
        let input = sine(6000.0, 16000, 1.0, 10000.0);
        let out = resample(&input, 16000, 8000);
        let att = db(rms(&out).max(1e-3), rms(&input));
        assert!(att < -30.0, "alias only {att} dB down");
    }

    #[test]
    fn one_shot_arbitrary_rates_keep_length_and_pitch() {
        for (from, to) in [
            (22050, 8000),
            (44100, 8000),
            (8000, 24000),
            (48000, 16000),
            (11025, 8000),
        ] {
            let input = sine(440.0, from, 1.5, 8000.0);
            let out = resample(&input, from, to);
            let want = input.len() as u64 * u64::from(to) / u64::from(from);
            assert_eq!(out.len() as u64, want, "{from}->{to} length");
            let f = frequency(&out, to);
            assert!((f - 440.0).abs() < 3.0, "{from}->{to}: {f} Hz");
            assert!(db(rms(&out), rms(&input)).abs() < 1.0, "{from}->{to} level");
            // Delay compensation: the first peak of the sine stays put.
            let ratio = f64::from(to) / f64::from(from);
            let peak_in = input
                .iter()
                .take(from as usize / 440)
                .enumerate()
                .max_by_key(|p| p.1)
                .map(|p| p.0)
                .unwrap();
            let peak_out = out
                .iter()
                .take(to as usize / 440)
                .enumerate()
                .max_by_key(|p| p.1)
                .map(|p| p.0)
                .unwrap();
            assert!(
                (peak_in as f64 * ratio - peak_out as f64).abs() <= 2.0 + ratio,
                "{from}->{to}: {peak_in} vs {peak_out}"
            );
        }
    }

    #[test]
    fn exact_frame_sizes_over_a_long_call() {
        let mut r = Resampler::for_20ms(8000, 24000, Quality::Linear).unwrap();
        let frame = [100i16; 160];
        for _ in 0..50 * 60 * 10 {
            assert_eq!(r.process(&frame).unwrap().len(), 480);
        }
        let mut r = Resampler::for_20ms(44100, 8000, Quality::Sinc).unwrap();
        let frame = vec![0i16; 882];
        let total: usize = (0..500).map(|_| r.process(&frame).unwrap().len()).sum();
        assert_eq!(total, 500 * 160);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            Resampler::new(0, 8000, 160, Quality::Sinc).unwrap_err(),
            ResampleError::BadRate(0)
        );
        assert!(Resampler::new(8000, u32::MAX, 160, Quality::Sinc).is_err());
        assert_eq!(
            Resampler::new(384_000, 1, 160, Quality::Sinc).unwrap_err(),
            ResampleError::BadRate(1)
        );
        assert!(Resampler::new(MAX_RATE, MIN_RATE, 160, Quality::Sinc).is_ok());
        let mut r = Resampler::for_20ms(8000, 16000, Quality::Sinc).unwrap();
        assert!(matches!(
            r.process(&[0; 161]),
            Err(ResampleError::FrameTooLong { len: 161, max: 160 })
        ));
        assert!(resample(&[1, 2, 3], 0, 8000).is_empty());
        assert_eq!(resample(&[1, 2, 3], 8000, 8000), vec![1, 2, 3]);
        // Full-scale square waves overshoot in the sinc; output saturates.
        let square: Vec<i16> = (0..1600)
            .map(|i| if (i / 4) % 2 == 0 { i16::MAX } else { i16::MIN })
            .collect();
        let out = resample(&square, 8000, 16000);
        assert_eq!(out.len(), 3200);
    }
}
