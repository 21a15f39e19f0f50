//! The Goertzel algorithm: the power of one frequency in a block of
//! samples, cheaper than an FFT when only a few frequencies matter. The
//! in-band DTMF detector and the call progress tone detector both use it.

/// The recurrence coefficient `2·cos(2πf/fs)` for frequency `freq` at
/// `sample_rate`.
pub(crate) fn coefficient(freq: f32, sample_rate: u32) -> f32 {
    2.0 * (2.0 * std::f32::consts::PI * freq / sample_rate.max(1) as f32).cos()
}

/// Power of the frequency whose [`coefficient`] is `coeff` over `block`:
/// a sine of amplitude `A` at that frequency filling the `N` samples gives
/// about `(A·N/2)²`.
pub(crate) fn power(block: &[f32], coeff: f32) -> f32 {
    let (mut s1, mut s2) = (0f32, 0f32);
    for &x in block {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sine_filling_the_block_has_the_power_of_its_amplitude() {
        let n = 160;
        let block: Vec<f32> = (0..n)
            .map(|i| 1000.0 * (std::f32::consts::TAU * 500.0 * i as f32 / 8000.0).sin())
            .collect();
        let p = power(&block, coefficient(500.0, 8000));
        let expected = (1000.0 * n as f32 / 2.0).powi(2);
        assert!((p / expected - 1.0).abs() < 0.01, "{p} vs {expected}");
        // 1000 Hz is a whole number of bins away: nothing of the 500 Hz sine.
        assert!(power(&block, coefficient(1000.0, 8000)) < expected * 1e-4);
    }
}
