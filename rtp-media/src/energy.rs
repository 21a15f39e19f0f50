//! Frame energy: the sum of squared samples, exact, with an x86_64 SIMD
//! kernel.
//!
//! Three stages of the receive path need a frame's energy: the G.711
//! decoder computes it while decoding ([`crate::g711`]), the loss concealer
//! for the frames it fills ([`crate::jitter`]), and the VAD's energy gate
//! consumes it ([`crate::vad`]). One kernel serves them all, so the number
//! the gate sees is the same whichever stage produced it.

/// Sum of the squared samples, exact (no rounding, no overflow: each square
/// is at most 2^30, and a frame would need 2^34 samples to overflow).
///
/// This is the per-frame cost of the energy gate, so it is integer
/// arithmetic that vectorises: on x86_64 SSE2's multiply-add of 16-bit
/// pairs (`pmaddwd`) squares eight samples per instruction into 32-bit sums
/// that are widened before they are accumulated.
pub fn sum_of_squares(frame: &[i16]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        sse2::sum_of_squares(frame)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        sum_of_squares_scalar(frame)
    }
}

/// The portable definition of [`sum_of_squares`].
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn sum_of_squares_scalar(frame: &[i16]) -> u64 {
    frame
        .iter()
        .map(|&s| u64::from(i32::from(s).unsigned_abs().pow(2)))
        .sum()
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi64, _mm_loadu_si128, _mm_madd_epi16, _mm_setzero_si128,
        _mm_storeu_si128, _mm_unpackhi_epi32, _mm_unpacklo_epi32,
    };

    /// [`super::sum_of_squares`] eight samples at a time.
    pub(super) fn sum_of_squares(frame: &[i16]) -> u64 {
        let chunks = frame.chunks_exact(8);
        let tail = super::sum_of_squares_scalar(chunks.remainder());
        // SAFETY: SSE2 is part of the x86_64 baseline, so every x86_64 CPU
        // has these instructions. Each unaligned load reads exactly one
        // 8-sample (16-byte) chunk of `frame`, and the store writes the
        // 16-byte array `lanes`.
        let body = unsafe {
            let zero = _mm_setzero_si128();
            let (mut lo, mut hi) = (zero, zero);
            for c in chunks {
                let v = _mm_loadu_si128(c.as_ptr().cast::<__m128i>());
                // Four sums of two squares. Each is at most 2 * 32768^2 =
                // 2^31, which is exact read as unsigned (only two
                // i16::MIN samples reach it), so widen with zeros.
                let pairs = _mm_madd_epi16(v, v);
                lo = _mm_add_epi64(lo, _mm_unpacklo_epi32(pairs, zero));
                hi = _mm_add_epi64(hi, _mm_unpackhi_epi32(pairs, zero));
            }
            let mut lanes = [0u64; 2];
            _mm_storeu_si128(lanes.as_mut_ptr().cast::<__m128i>(), _mm_add_epi64(lo, hi));
            lanes[0] + lanes[1]
        };
        body + tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_and_extreme_sample_matches_the_portable_sum() {
        let samples: Vec<i16> = (0..67)
            .map(|i| match i % 5 {
                0 => i16::MIN,
                1 => i16::MAX,
                2 => -1,
                3 => 0,
                _ => (i * 977 % 65_536 - 32_768) as i16,
            })
            .collect();
        for len in 0..samples.len() {
            let frame = &samples[..len];
            assert_eq!(sum_of_squares(frame), sum_of_squares_scalar(frame), "{len}");
        }
        // The largest sum: a whole frame of i16::MIN, 2^30 per sample.
        assert_eq!(sum_of_squares(&[i16::MIN; 160]), 160 << 30);
    }
}
