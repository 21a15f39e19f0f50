//! G.711 companding (ITU-T G.711): µ-law (PCMU, payload type 0) and A-law
//! (PCMA, payload type 8).
//!
//! Every phone line speaks G.711, so this sits on the hot path of every call:
//! one byte per 8 kHz sample, 160 bytes per 20 ms frame. Decoding uses a
//! 256-entry table per law; encoding uses a table indexed by the top bits of
//! the linear sample that the law actually looks at (14 bits for µ-law, 13
//! bits for A-law), so both directions are a single load per sample. All
//! tables are computed at compile time and are bit-exact with the classic
//! Sun/CCITT `g711.c` reference implementation.

/// A G.711 variant negotiated in SDP.
///
/// The two laws are not interchangeable: a µ-law byte decoded as A-law is
/// loud noise, so the codec travels alongside the payload everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// µ-law, used on North American and Japanese networks. RTP payload type 0.
    Pcmu,
    /// A-law, used on European and most other international networks. RTP
    /// payload type 8.
    Pcma,
}

impl Codec {
    /// The RTP sampling clock of G.711, in Hz (RFC 3551).
    pub const CLOCK_RATE: u32 = 8000;

    /// The static RTP payload type assigned by RFC 3551 (0 for PCMU, 8 for PCMA).
    pub const fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec for a static RTP payload type, or `None` when the payload
    /// type is not G.711 (so the caller can drop and count the packet).
    pub const fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The encoding name used in SDP `a=rtpmap` lines.
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// Decodes one G.711 byte to a linear 16-bit sample.
    #[inline]
    pub fn decode_sample(self, code: u8) -> i16 {
        match self {
            Codec::Pcmu => ulaw_to_linear(code),
            Codec::Pcma => alaw_to_linear(code),
        }
    }

    /// Encodes one linear 16-bit sample to a G.711 byte.
    #[inline]
    pub fn encode_sample(self, sample: i16) -> u8 {
        match self {
            Codec::Pcmu => linear_to_ulaw(sample),
            Codec::Pcma => linear_to_alaw(sample),
        }
    }

    /// Decodes a G.711 payload into `out`; returns the number of samples
    /// written, which is the shorter of the two lengths.
    #[inline]
    pub fn decode(self, payload: &[u8], out: &mut [i16]) -> usize {
        match self {
            Codec::Pcmu => decode_ulaw(payload, out),
            Codec::Pcma => decode_alaw(payload, out),
        }
    }

    /// [`Codec::decode`], also returning the sum of the squared samples
    /// written (the frame energy the VAD gate needs), computed in the same
    /// pass over the samples.
    #[inline]
    pub fn decode_energy(self, payload: &[u8], out: &mut [i16]) -> (usize, u64) {
        match self {
            Codec::Pcmu => decode_ulaw_energy(payload, out),
            Codec::Pcma => decode_alaw_energy(payload, out),
        }
    }

    /// Encodes linear samples into `out`; returns the number of bytes
    /// written, which is the shorter of the two lengths.
    pub fn encode(self, samples: &[i16], out: &mut [u8]) -> usize {
        match self {
            Codec::Pcmu => encode_ulaw(samples, out),
            Codec::Pcma => encode_alaw(samples, out),
        }
    }

    /// The byte that decodes to (near) silence; used to fill frames when
    /// nothing else is available.
    pub const fn silence(self) -> u8 {
        match self {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        }
    }
}

/// µ-law bias added before segment search (G.711 table 2a).
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude (on the 14-bit scale) µ-law can represent before clipping.
const ULAW_CLIP: i32 = 8159;

/// Position of the highest set bit plus one (0 for 0), as a const fn.
const fn bit_length(v: i32) -> i32 {
    32 - (v as u32).leading_zeros() as i32
}

const fn ulaw_decode_const(code: u8) -> i16 {
    let u = !code;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_decode_const(code: u8) -> i16 {
    let a = code ^ 0x55;
    let exponent = ((a >> 4) & 0x07) as i32;
    let mantissa = (a & 0x0F) as i32;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if a & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

/// µ-law encode of a 14-bit two's complement value (the sample shifted right by 2).
const fn ulaw_encode_14(v: i32) -> u8 {
    let (mut mag, mask) = if v < 0 { (-v, 0x7Fu8) } else { (v, 0xFFu8) };
    if mag > ULAW_CLIP {
        mag = ULAW_CLIP;
    }
    mag += ULAW_BIAS >> 2;
    // Segment boundaries are 0x3F, 0x7F, ... 0x1FFF: segment = bit length - 6.
    let mut seg = bit_length(mag) - 6;
    if seg < 0 {
        seg = 0;
    }
    if seg >= 8 {
        // Full scale: the clip plus bias lands just past the last segment.
        return 0x7F ^ mask;
    }
    let code = ((seg << 4) as u8) | (((mag >> (seg + 1)) & 0x0F) as u8);
    code ^ mask
}

/// A-law encode of a 13-bit two's complement value (the sample shifted right by 3).
const fn alaw_encode_13(v: i32) -> u8 {
    let (mag, mask) = if v >= 0 {
        (v, 0xD5u8)
    } else {
        (-v - 1, 0x55u8)
    };
    // Segment boundaries are 0x1F, 0x3F, ... 0xFFF: segment = bit length - 5.
    let mut seg = bit_length(mag) - 5;
    if seg < 0 {
        seg = 0;
    }
    let shift = if seg < 2 { 1 } else { seg };
    let code = ((seg << 4) as u8) | (((mag >> shift) & 0x0F) as u8);
    code ^ mask
}

static ULAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ulaw_decode_const(i as u8);
        i += 1;
    }
    t
};

static ALAW_DECODE: [i16; 256] = {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_decode_const(i as u8);
        i += 1;
    }
    t
};

/// Indexed by the 14-bit two's complement value `(sample >> 2) & 0x3FFF`.
static ULAW_ENCODE: [u8; 1 << 14] = {
    let mut t = [0u8; 1 << 14];
    let mut i = 0;
    while i < (1 << 14) {
        // Sign-extend the 14-bit index.
        let v = ((i as i32) << 18) >> 18;
        t[i] = ulaw_encode_14(v);
        i += 1;
    }
    t
};

/// Indexed by the 13-bit two's complement value `(sample >> 3) & 0x1FFF`.
static ALAW_ENCODE: [u8; 1 << 13] = {
    let mut t = [0u8; 1 << 13];
    let mut i = 0;
    while i < (1 << 13) {
        let v = ((i as i32) << 19) >> 19;
        t[i] = alaw_encode_13(v);
        i += 1;
    }
    t
};

/// Amplitude of a sine at 0 dBm0, of a 16-bit full scale of 32767
/// (ITU-T G.711 Tables 5 and 6: the sine at +3.14 dBm0 is full scale).
/// Tone and modem levels on a line are given in dBm0.
pub const ZERO_DBM0_AMPLITUDE: f32 = 22_786.0;

/// Amplitude of a sine at `level` dBm0 (e.g. −13 dBm0 → about 5100).
pub fn dbm0_amplitude(level: f32) -> f32 {
    ZERO_DBM0_AMPLITUDE * 10f32.powf(level / 20.0)
}

/// Decodes one µ-law byte to a linear sample.
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// Decodes one A-law byte to a linear sample.
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

/// Encodes one linear sample to µ-law.
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    ULAW_ENCODE[((sample >> 2) as u16 & 0x3FFF) as usize]
}

/// Encodes one linear sample to A-law.
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    ALAW_ENCODE[((sample >> 3) as u16 & 0x1FFF) as usize]
}

/// Encodes linear samples to µ-law; returns how many were written
/// (`min(samples.len(), out.len())`).
pub fn encode_ulaw(samples: &[i16], out: &mut [u8]) -> usize {
    let n = samples.len().min(out.len());
    for (o, &s) in out[..n].iter_mut().zip(&samples[..n]) {
        *o = linear_to_ulaw(s);
    }
    n
}

/// Encodes linear samples to A-law; returns how many were written
/// (`min(samples.len(), out.len())`).
pub fn encode_alaw(samples: &[i16], out: &mut [u8]) -> usize {
    let n = samples.len().min(out.len());
    for (o, &s) in out[..n].iter_mut().zip(&samples[..n]) {
        *o = linear_to_alaw(s);
    }
    n
}

/// Decodes µ-law bytes to linear samples; returns how many were written
/// (`min(payload.len(), out.len())`).
///
/// On x86_64 CPUs with AVX2 this expands 16 codes per step arithmetically
/// (bit-exact with the table, see the private `x86` module); elsewhere it is one table load
/// per sample.
#[inline]
pub fn decode_ulaw(payload: &[u8], out: &mut [i16]) -> usize {
    decode::<false, false>(payload, out).0
}

/// [`decode_ulaw`], also returning the sum of the squared samples written
/// ([`crate::energy::sum_of_squares`] of them), computed in the same pass.
#[inline]
pub fn decode_ulaw_energy(payload: &[u8], out: &mut [i16]) -> (usize, u64) {
    decode::<false, true>(payload, out)
}

/// Decodes A-law bytes to linear samples; returns how many were written
/// (`min(payload.len(), out.len())`).
///
/// Vectorised on x86_64 with AVX2 like [`decode_ulaw`].
#[inline]
pub fn decode_alaw(payload: &[u8], out: &mut [i16]) -> usize {
    decode::<true, false>(payload, out).0
}

/// [`decode_alaw`], also returning the sum of the squared samples written,
/// computed in the same pass.
#[inline]
pub fn decode_alaw_energy(payload: &[u8], out: &mut [i16]) -> (usize, u64) {
    decode::<true, true>(payload, out)
}

/// The four decoders above: A-law or µ-law, with or without the energy.
/// The AVX2 kernel takes what it can (nothing without AVX2 or off x86_64),
/// the table the rest. Returns the samples written and, with `ENERGY`,
/// the sum of their squares (else 0).
#[inline(always)]
fn decode<const ALAW: bool, const ENERGY: bool>(payload: &[u8], out: &mut [i16]) -> (usize, u64) {
    let n = payload.len().min(out.len());
    #[cfg(target_arch = "x86_64")]
    let (done, sum) = if ALAW {
        x86::decode_alaw::<ENERGY>(&payload[..n], &mut out[..n])
    } else {
        x86::decode_ulaw::<ENERGY>(&payload[..n], &mut out[..n])
    };
    #[cfg(not(target_arch = "x86_64"))]
    let (done, sum) = (0, 0);
    if done < n {
        let table = if ALAW { &ALAW_DECODE } else { &ULAW_DECODE };
        return (
            n,
            sum + decode_rest::<ENERGY>(table, &payload[done..n], &mut out[done..n]),
        );
    }
    (n, sum)
}

/// The portable decoder, and the vector decoder's tail: one table load per
/// sample. Returns the sum of squares of `out` with `ENERGY`, else 0.
#[inline(never)]
fn decode_rest<const ENERGY: bool>(table: &[i16; 256], payload: &[u8], out: &mut [i16]) -> u64 {
    for (o, &c) in out.iter_mut().zip(payload) {
        *o = table[usize::from(c)];
    }
    if ENERGY {
        crate::energy::sum_of_squares(out)
    } else {
        0
    }
}

/// AVX2 G.711 expansion, 16 samples per step.
///
/// A table lookup is a scalar load per sample (about a third of a
/// nanosecond; 55 ns for a 20 ms frame), which made decoding the largest
/// stage of the receive path after the VAD energy.
///
/// µ-law: with `u = !code`, the magnitude is `(biased << e) − 132` where
/// `biased = 8·mantissa + 132` and `e` is the 3-bit exponent. Half of
/// `biased << e` is `(biased / 2) · 2^e`, a product of two bytes looked up
/// with `pshufb` (`2^e` from the code's top nibble, `biased / 2` from its
/// low nibble), which `pmaddubsw` multiplies into 16-bit lanes; the bias
/// and the sign are an add and a `psignw`. The frame energy is summed from
/// those half magnitudes (`pmaddwd`) in 32-bit lanes, widened to 64 bits
/// every [`GROUP`] blocks. A-law: the same expansion written out, with the
/// power of two of the exponent a multiply by a `pshufb`-looked-up byte.
/// Both are exact for all 256 codes (tested against the reference tables).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm256_add_epi16, _mm256_add_epi32, _mm256_add_epi64, _mm256_and_si256,
        _mm256_andnot_si256, _mm256_cmpeq_epi16, _mm256_cvtepu8_epi16, _mm256_madd_epi16,
        _mm256_maddubs_epi16, _mm256_mullo_epi16, _mm256_or_si256, _mm256_set1_epi16,
        _mm256_set1_epi64x, _mm256_setr_epi8, _mm256_setzero_si256, _mm256_shuffle_epi8,
        _mm256_sign_epi16, _mm256_slli_epi16, _mm256_srai_epi16, _mm256_srli_epi16,
        _mm256_srli_epi64, _mm256_storeu_si256, _mm256_sub_epi16, _mm256_xor_si256,
        _mm_loadu_si128,
    };

    /// Blocks of 16 samples whose energy is summed in 32-bit lanes before
    /// it is widened: each lane takes two squares of at most 2^14 (a
    /// 16062² < 2^28 µ-law half magnitude, or an A-law sample / 8) per
    /// block, so eight blocks stay below 2^32.
    const GROUP: usize = 8;

    /// Decodes the largest multiple of 16 samples it can with AVX2, if the
    /// CPU has it; returns how many samples it wrote (0 without AVX2) and,
    /// with `ENERGY`, the sum of their squares.
    #[inline]
    pub(super) fn decode_ulaw<const ENERGY: bool>(payload: &[u8], out: &mut [i16]) -> (usize, u64) {
        if payload.len() < 16 || !std::arch::is_x86_feature_detected!("avx2") {
            return (0, 0);
        }
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { ulaw_avx2::<ENERGY>(payload, out) }
    }

    /// A-law counterpart of [`decode_ulaw`].
    #[inline]
    pub(super) fn decode_alaw<const ENERGY: bool>(payload: &[u8], out: &mut [i16]) -> (usize, u64) {
        if payload.len() < 16 || !std::arch::is_x86_feature_detected!("avx2") {
            return (0, 0);
        }
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { alaw_avx2::<ENERGY>(payload, out) }
    }

    /// Running sum of squares: at most [`GROUP`] blocks in eight 32-bit
    /// lanes, the rest in four 64-bit lanes.
    #[derive(Clone, Copy)]
    struct Energy {
        narrow: __m256i,
        wide: __m256i,
    }

    impl Energy {
        #[inline]
        #[target_feature(enable = "avx2")]
        fn new() -> Self {
            Energy {
                narrow: _mm256_setzero_si256(),
                wide: _mm256_setzero_si256(),
            }
        }

        /// Adds the squares of 16 values of magnitude at most 2^14; at
        /// most [`GROUP`] times between two [`Energy::widen`]s.
        #[inline]
        #[target_feature(enable = "avx2")]
        fn add(&mut self, v: __m256i) {
            // Eight sums of two squares, each at most 2^29.
            self.narrow = _mm256_add_epi32(self.narrow, _mm256_madd_epi16(v, v));
        }

        /// Moves the 32-bit sums (unsigned, below 2^32) into the 64-bit ones.
        #[inline]
        #[target_feature(enable = "avx2")]
        fn widen(&mut self) {
            let low = _mm256_and_si256(self.narrow, _mm256_set1_epi64x(0xFFFF_FFFF));
            let high = _mm256_srli_epi64(self.narrow, 32);
            self.wide = _mm256_add_epi64(self.wide, _mm256_add_epi64(low, high));
            self.narrow = _mm256_setzero_si256();
        }

        /// The total.
        #[inline]
        #[target_feature(enable = "avx2")]
        fn sum(mut self) -> u64 {
            self.widen();
            let mut lanes = [0u64; 4];
            // SAFETY: `lanes` is 32 writable bytes; unaligned store.
            unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast::<__m256i>(), self.wide) };
            lanes.iter().sum()
        }
    }

    /// Runs `block` on each whole block of 16 codes of `payload` that fits
    /// in `out` (16 codes zero-extended to 16-bit lanes, and where their
    /// samples go), widening `energy` every [`GROUP`] blocks; returns how
    /// many samples were written.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn for_blocks(
        payload: &[u8],
        out: &mut [i16],
        energy: &mut Energy,
        mut block: impl FnMut(__m256i, &mut [i16; 16], &mut Energy),
    ) -> usize {
        const G: usize = 16 * GROUP;
        let n = payload.len().min(out.len()) / 16 * 16;
        let mut codes = payload[..n].chunks_exact(G);
        let mut samples = out[..n].chunks_exact_mut(G);
        // Whole groups: a fixed count of blocks, unrolled.
        for (c, s) in (&mut codes).zip(&mut samples) {
            let (Ok(c), Ok(s)) = (<&[u8; G]>::try_from(c), <&mut [i16; G]>::try_from(s)) else {
                continue;
            };
            for (c, s) in c.chunks_exact(16).zip(s.chunks_exact_mut(16)) {
                step(c, s, energy, &mut block);
            }
            energy.widen();
        }
        // Fewer than GROUP blocks left (widened by `Energy::sum`).
        let rest = codes.remainder().chunks_exact(16);
        for (c, s) in rest.zip(samples.into_remainder().chunks_exact_mut(16)) {
            step(c, s, energy, &mut block);
        }
        n
    }

    /// [`for_blocks`] for one block.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn step(
        c: &[u8],
        s: &mut [i16],
        energy: &mut Energy,
        block: &mut impl FnMut(__m256i, &mut [i16; 16], &mut Energy),
    ) {
        let (Ok(c), Ok(s)) = (<&[u8; 16]>::try_from(c), s.try_into()) else {
            return;
        };
        // SAFETY: `c` is 16 readable bytes; unaligned load.
        let c = unsafe { _mm_loadu_si128(c.as_ptr().cast::<__m128i>()) };
        block(_mm256_cvtepu8_epi16(c), s, energy);
    }

    /// Safety: the CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn ulaw_avx2<const ENERGY: bool>(payload: &[u8], out: &mut [i16]) -> (usize, u64) {
        let mut energy = Energy::new();
        // 2^e for the code's top nibble (sign and inverted exponent), as
        // unsigned bytes: 128 for exponent 7 (nibbles 0 and 8) down to 1.
        #[rustfmt::skip]
        let pow2 = _mm256_setr_epi8(
            -128, 64, 32, 16, 8, 4, 2, 1, -128, 64, 32, 16, 8, 4, 2, 1,
            -128, 64, 32, 16, 8, 4, 2, 1, -128, 64, 32, 16, 8, 4, 2, 1,
        );
        // −biased / 2 = −(126 − 4·m) for the code's low nibble m (the
        // inverted mantissa), as signed bytes.
        #[rustfmt::skip]
        let half_biased = _mm256_setr_epi8(
            -126, -122, -118, -114, -110, -106, -102, -98,
            -94, -90, -86, -82, -78, -74, -70, -66,
            -126, -122, -118, -114, -110, -106, -102, -98,
            -94, -90, -86, -82, -78, -74, -70, -66,
        );
        let done = for_blocks(payload, out, &mut energy, |c, samples, energy| {
            // The high byte of each lane is 0, so the lookups put
            // pow2[0] = 128 and half_biased[0] = −126 there: `pmaddubsw`
            // adds their product, −16128, to −2^e · biased / 2 =
            // −(magnitude / 2 + 66).
            let exponent = _mm256_srli_epi16(c, 4);
            let mantissa = _mm256_and_si256(c, _mm256_set1_epi16(0x0F));
            let product = _mm256_maddubs_epi16(
                _mm256_shuffle_epi8(pow2, exponent),
                _mm256_shuffle_epi8(half_biased, mantissa),
            );
            // −magnitude / 2, in −16062..=0.
            let half = _mm256_add_epi16(product, _mm256_set1_epi16(16128 + 66));
            // Positive where the code's sign bit is set: there c + 0x7F80
            // is negative (and it is never 0), so `psignw` negates.
            let sign = _mm256_add_epi16(c, _mm256_set1_epi16(0x7F80));
            let s = _mm256_sign_epi16(half, sign);
            let s = _mm256_add_epi16(s, s);
            // SAFETY: `samples` is 16 writable i16 (32 bytes); unaligned store.
            unsafe { _mm256_storeu_si256(samples.as_mut_ptr().cast::<__m256i>(), s) };
            if ENERGY {
                energy.add(half);
            }
        });
        // The energy was summed over half magnitudes.
        (done, if ENERGY { energy.sum() * 4 } else { 0 })
    }

    /// Safety: the CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn alaw_avx2<const ENERGY: bool>(payload: &[u8], out: &mut [i16]) -> (usize, u64) {
        let mut energy = Energy::new();
        // 1 << (exponent - 1), and 1 for exponent 0.
        #[rustfmt::skip]
        let pow2 = _mm256_setr_epi8(
            1, 1, 2, 4, 8, 16, 32, 64, 0, 0, 0, 0, 0, 0, 0, 0,
            1, 1, 2, 4, 8, 16, 32, 64, 0, 0, 0, 0, 0, 0, 0, 0,
        );
        let zero = _mm256_setzero_si256();
        let done = for_blocks(payload, out, &mut energy, |c, samples, energy| {
            let a = _mm256_xor_si256(c, _mm256_set1_epi16(0x55));
            let exponent = _mm256_and_si256(_mm256_srli_epi16(a, 4), _mm256_set1_epi16(7));
            let mantissa = _mm256_and_si256(a, _mm256_set1_epi16(0x0F));
            // (mantissa << 4) + 8, plus 0x100 (the implicit leading one)
            // when the exponent is not 0.
            let segment_zero = _mm256_cmpeq_epi16(exponent, zero);
            let lead = _mm256_andnot_si256(segment_zero, _mm256_set1_epi16(0x100));
            let biased = _mm256_add_epi16(
                _mm256_add_epi16(_mm256_slli_epi16(mantissa, 4), _mm256_set1_epi16(8)),
                lead,
            );
            // `1 << index` from the byte table; the index's high byte is
            // 0x80, which makes `pshufb` write 0 there.
            let power =
                _mm256_shuffle_epi8(pow2, _mm256_or_si256(exponent, _mm256_set1_epi16(-0x8000)));
            // At most 504 << 6 = 32256: no overflow.
            let magnitude = _mm256_mullo_epi16(biased, power);
            // A-law's sign bit set means positive: negate where it is clear.
            let negative = _mm256_cmpeq_epi16(_mm256_and_si256(a, _mm256_set1_epi16(0x80)), zero);
            let s = _mm256_sub_epi16(_mm256_xor_si256(magnitude, negative), negative);
            // SAFETY: `samples` is 16 writable i16 (32 bytes); unaligned store.
            unsafe { _mm256_storeu_si256(samples.as_mut_ptr().cast::<__m256i>(), s) };
            if ENERGY {
                // Every A-law sample is a multiple of 8.
                energy.add(_mm256_srai_epi16(s, 3));
            }
        });
        (done, if ENERGY { energy.sum() * 64 } else { 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- Reference: a direct port of the Sun/CCITT g711.c ----
    const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];

    fn search(val: i32, table: &[i32; 8]) -> i32 {
        for (i, &end) in table.iter().enumerate() {
            if val <= end {
                return i as i32;
            }
        }
        8
    }

    fn ref_linear2alaw(pcm: i16) -> u8 {
        let mut pcm_val = (pcm as i32) >> 3;
        let mask: u8;
        if pcm_val >= 0 {
            mask = 0xD5;
        } else {
            mask = 0x55;
            pcm_val = -pcm_val - 1;
        }
        let seg = search(pcm_val, &SEG_AEND);
        if seg >= 8 {
            return 0x7F ^ mask;
        }
        let mut aval = (seg << 4) as u8;
        if seg < 2 {
            aval |= ((pcm_val >> 1) & 0xF) as u8;
        } else {
            aval |= ((pcm_val >> seg) & 0xF) as u8;
        }
        aval ^ mask
    }

    fn ref_alaw2linear(a_val: u8) -> i16 {
        let a_val = a_val ^ 0x55;
        let mut t = ((a_val & 0xF) as i32) << 4;
        let seg = ((a_val & 0x70) >> 4) as i32;
        match seg {
            0 => t += 8,
            1 => t += 0x108,
            _ => {
                t += 0x108;
                t <<= seg - 1;
            }
        }
        (if a_val & 0x80 != 0 { t } else { -t }) as i16
    }

    fn ref_linear2ulaw(pcm: i16) -> u8 {
        let mut pcm_val = (pcm as i32) >> 2;
        let mask: u8;
        if pcm_val < 0 {
            pcm_val = -pcm_val;
            mask = 0x7F;
        } else {
            mask = 0xFF;
        }
        if pcm_val > 8159 {
            pcm_val = 8159;
        }
        pcm_val += 0x84 >> 2;
        let seg = search(pcm_val, &SEG_UEND);
        if seg >= 8 {
            return 0x7F ^ mask;
        }
        let uval = ((seg << 4) as u8) | ((pcm_val >> (seg + 1)) & 0xF) as u8;
        uval ^ mask
    }

    fn ref_ulaw2linear(u_val: u8) -> i16 {
        let u_val = !u_val;
        let mut t = (((u_val & 0xF) as i32) << 3) + 0x84;
        t <<= (u_val & 0x70) >> 4;
        (if u_val & 0x80 != 0 {
            0x84 - t
        } else {
            t - 0x84
        }) as i16
    }

    #[test]
    fn all_256_codes_decode_like_reference() {
        for c in 0..=255u8 {
            assert_eq!(ulaw_to_linear(c), ref_ulaw2linear(c), "ulaw code {c:#04x}");
            assert_eq!(alaw_to_linear(c), ref_alaw2linear(c), "alaw code {c:#04x}");
        }
    }

    #[test]
    fn slice_decoders_match_reference_for_all_codes_lengths_and_offsets() {
        // Every code at every position of a 16-sample block, for lengths
        // that exercise the vector body and the scalar tail.
        let codes: Vec<u8> = (0..=255u8).chain(0..=255u8).rev().collect();
        let mut out = [0i16; 512];
        for len in [0, 1, 15, 16, 17, 31, 160, 161, 255, 256, 500, 512] {
            for start in 0..16 {
                let src = &codes[start..(start + len).min(codes.len())];
                let n = src.len();
                out.fill(0x5A5A);
                assert_eq!(decode_ulaw(src, &mut out), n);
                for (i, (&c, &s)) in src.iter().zip(&out).enumerate() {
                    assert_eq!(s, ref_ulaw2linear(c), "ulaw {c:#04x} at {i}, len {len}");
                }
                assert!(out[n..].iter().all(|&s| s == 0x5A5A), "ulaw wrote past {n}");
                out.fill(0x5A5A);
                assert_eq!(decode_alaw(src, &mut out), n);
                for (i, (&c, &s)) in src.iter().zip(&out).enumerate() {
                    assert_eq!(s, ref_alaw2linear(c), "alaw {c:#04x} at {i}, len {len}");
                }
                assert!(out[n..].iter().all(|&s| s == 0x5A5A), "alaw wrote past {n}");
            }
        }
        // A short output bounds the vector body too.
        let mut short = [0x5A5Ai16; 40];
        assert_eq!(decode_ulaw(&codes[..100], &mut short[..33]), 33);
        assert_eq!(short[33..], [0x5A5A; 7]);
        assert_eq!(short[32], ref_ulaw2linear(codes[32]));
    }

    #[test]
    fn decoding_with_energy_gives_the_same_samples_and_their_sum_of_squares() {
        let codes: Vec<u8> = (0..=255u8).chain(0..=255u8).rev().collect();
        // The loudest codes in every lane: the largest pair sums.
        let loud = [0x00u8, 0x80, 0x2A, 0xAA];
        let mut out = [0i16; 512];
        let mut plain = [0i16; 512];
        for codec in [Codec::Pcmu, Codec::Pcma] {
            for len in [0, 1, 15, 16, 17, 31, 160, 161, 255, 256, 500, 512] {
                for start in 0..16 {
                    let src = &codes[start..(start + len).min(codes.len())];
                    let n = codec.decode(src, &mut plain);
                    let (m, sum) = codec.decode_energy(src, &mut out);
                    assert_eq!((m, &out[..m]), (n, &plain[..n]), "{codec:?} len {len}");
                    let want: u64 = plain[..n]
                        .iter()
                        .map(|&s| (i64::from(s).pow(2)) as u64)
                        .sum();
                    assert_eq!(sum, want, "{codec:?} len {len} start {start}");
                }
            }
            let src: Vec<u8> = loud.iter().copied().cycle().take(480).collect();
            let n = codec.decode(&src, &mut plain);
            let want: u64 = plain[..n]
                .iter()
                .map(|&s| (i64::from(s).pow(2)) as u64)
                .sum();
            assert_eq!(
                codec.decode_energy(&src, &mut out).1,
                want,
                "{codec:?} loud"
            );
        }
    }

    /// The AVX2 kernels on their own (when the CPU has AVX2): every code
    /// in every lane of a block against the table, and the energy of the
    /// loudest frames, which fill the 32-bit partial sums the most.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_kernels_match_the_tables_and_sum_energy_exactly() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        type Kernel = fn(&[u8], &mut [i16]) -> (usize, u64);
        type Law = (Kernel, Kernel, fn(u8) -> i16, &'static str);
        let kernels: [Law; 2] = [
            (
                x86::decode_ulaw::<false>,
                x86::decode_ulaw::<true>,
                ulaw_to_linear,
                "ulaw",
            ),
            (
                x86::decode_alaw::<false>,
                x86::decode_alaw::<true>,
                alaw_to_linear,
                "alaw",
            ),
        ];
        let square_sum =
            |s: &[i16]| -> u64 { s.iter().map(|&v| (i64::from(v).pow(2)) as u64).sum() };
        for (plain, with_energy, table, law) in kernels {
            // Code `c + lane` in `lane`: all 256 codes in all 16 lanes.
            let codes: Vec<u8> = (0..256 * 16)
                .map(|i| ((i / 16 + i % 16) % 256) as u8)
                .collect();
            let mut out = vec![0i16; codes.len()];
            assert_eq!(plain(&codes, &mut out).0, codes.len(), "{law}");
            for (i, (&c, &s)) in codes.iter().zip(&out).enumerate() {
                assert_eq!(s, table(c), "{law} code {c:#04x} in lane {}", i % 16);
            }
            out.fill(0);
            let (n, sum) = with_energy(&codes, &mut out);
            assert_eq!(n, codes.len());
            assert!(
                codes.iter().zip(&out).all(|(&c, &s)| s == table(c)),
                "{law}"
            );
            assert_eq!(sum, square_sum(&out), "{law}");
            // Full scale, both signs, for one to many 8-block groups.
            let loudest = (0..=255u8)
                .max_by_key(|&c| table(c).unsigned_abs())
                .unwrap();
            let loud: Vec<u8> = [loudest, loudest ^ 0x80].repeat(512);
            for len in [16, 112, 128, 144, 160, 256, 1024] {
                let (n, sum) = with_energy(&loud[..len], &mut out);
                assert_eq!(n, len);
                assert_eq!(sum, square_sum(&out[..len]), "{law} full scale, len {len}");
                assert_eq!(
                    sum,
                    len as u64 * u64::from(table(loudest).unsigned_abs()).pow(2)
                );
            }
        }
    }

    #[test]
    fn all_65536_samples_encode_like_reference() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(linear_to_ulaw(s), ref_linear2ulaw(s), "ulaw sample {s}");
            assert_eq!(linear_to_alaw(s), ref_linear2alaw(s), "alaw sample {s}");
        }
    }

    #[test]
    fn known_values() {
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    }

    #[test]
    fn decode_then_encode_is_identity_on_codes() {
        // Every code decodes to a value that encodes back to the same code,
        // except µ-law's negative zero (0x7F) which re-encodes as +0 (0xFF).
        for c in 0..=255u8 {
            let u = linear_to_ulaw(ulaw_to_linear(c));
            if c == 0x7F {
                assert_eq!(u, 0xFF);
            } else {
                assert_eq!(u, c, "ulaw {c:#04x}");
            }
            assert_eq!(linear_to_alaw(alaw_to_linear(c)), c, "alaw {c:#04x}");
        }
    }

    #[test]
    fn codec_payload_types_and_slices() {
        assert_eq!(Codec::Pcmu.payload_type(), 0);
        assert_eq!(Codec::Pcma.payload_type(), 8);
        assert_eq!(Codec::from_payload_type(0), Some(Codec::Pcmu));
        assert_eq!(Codec::from_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_payload_type(18), None);
        assert_eq!(Codec::Pcmu.decode_sample(Codec::Pcmu.silence()), 0);
        assert_eq!(Codec::Pcma.decode_sample(Codec::Pcma.silence()), 8);

        let samples: Vec<i16> = (0..160)
            .map(|i| ((i * 409) % 65536 - 32768) as i16)
            .collect();
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut enc = [0u8; 160];
            assert_eq!(codec.encode(&samples, &mut enc), 160);
            let mut dec = [0i16; 160];
            assert_eq!(codec.decode(&enc, &mut dec), 160);
            for (i, (&s, &d)) in samples.iter().zip(&dec).enumerate() {
                assert_eq!(enc[i], codec.encode_sample(s));
                // Companding error is bounded by half the largest step (1024 for A-law top segment).
                assert!((s as i32 - d as i32).abs() <= 1024, "{codec:?} {s} -> {d}");
            }
        }
        // Short output: only min(len) samples are touched.
        let mut short = [0u8; 4];
        assert_eq!(encode_ulaw(&samples, &mut short), 4);
        let mut short_dec = [0i16; 10];
        assert_eq!(decode_alaw(&[0xD5; 3], &mut short_dec), 3);
        assert_eq!(&short_dec[..4], &[8, 8, 8, 0]);
    }
}
