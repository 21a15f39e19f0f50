//! Per-call voice activity detection: when did the caller start and stop
//! talking, in RTP time.
//!
//! An AI voice agent needs to know when to listen, when the caller barges in
//! over a prompt, and when a turn has ended. Two stages:
//!
//! 1. An energy gate with an adaptive noise floor. The floor follows the
//!    quietest frames: it drops quickly to a quieter frame and creeps up
//!    slowly (a few dB per second), so it settles on the line's background
//!    noise and does not chase speech. Frames not `gate_margin_db` above the
//!    floor are silence without further work; on a typical call that is most
//!    frames, so the neural stage runs on a fraction of the audio.
//! 2. [`earshot`], a small recurrent network that tells speech from noise
//!    that is merely loud (fans, line hum, white noise). It wants 256-sample
//!    frames at 16 kHz, so each 8 kHz frame that passes the gate (and the
//!    one before it, when a new utterance starts) is upsampled 2× by linear
//!    interpolation into a preallocated buffer and staged in 256-sample
//!    chunks.
//!
//! A frame is *voiced* when it passes the gate and earshot scores it as
//! speech. Voiced audio must last `start_hangover` before
//! [`VadEvent::SpeechStarted`] (a cough or a click does not interrupt the
//! agent), and silence must last `stop_hangover` before
//! [`VadEvent::SpeechStopped`] (pauses between words do not end the turn).
//! Both events carry the RTP timestamp where speech *actually* started or
//! stopped: the onset is backdated to where the gate opened and the end to
//! where the last voiced stretch fell below the gate, so the agent can cut
//! its audio, or an ASR can trim, at the right sample.
//!
//! Processing a frame does not allocate.

use crate::energy::sum_of_squares;
use std::time::Duration;

/// Sample rate of the line (G.711).
const LINE_RATE: u32 = 8000;
/// Largest frame accepted: 60 ms at 8 kHz (ptime up to 60).
pub const MAX_FRAME_SAMPLES: usize = 480;
/// earshot's frame: 16 ms at 16 kHz.
const EARSHOT_FRAME: usize = 256;
/// Energy reported for digital silence, in dBFS.
const SILENCE_DB: f32 = -100.0;
/// Time constant of the floor's fall towards a quieter frame.
const FLOOR_FALL_TAU_S: f32 = 0.04;
/// The gate must have been closed this long before earshot's state is
/// reset (a new utterance after silence, not a pause inside a word).
const EARSHOT_RESET_AFTER_S: u32 = 1;
/// The onset is backdated to the gate opening at most this far before the
/// first voiced frame.
const MAX_BACKDATE_MS: u32 = 200;

/// Settings of a [`Vad`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadConfig {
    /// Voiced audio must last this long before [`VadEvent::SpeechStarted`]
    /// is reported (default 60 ms): shorter bursts are clicks and coughs.
    pub start_hangover: Duration,
    /// Silence must last this long before [`VadEvent::SpeechStopped`] is
    /// reported (default 400 ms): shorter gaps are pauses between words.
    pub stop_hangover: Duration,
    /// How far above the noise floor a frame must be to be considered at
    /// all, in dB (default 9 dB).
    pub gate_margin_db: f32,
    /// Lowest noise floor, in dBFS (default −70): on a digitally silent line
    /// the gate still needs some signal before waking earshot.
    pub min_floor_db: f32,
    /// How fast the noise floor rises when every frame is louder than it, in
    /// dB per second (default 3): slow enough not to follow speech, fast
    /// enough to settle on new background noise within seconds.
    pub floor_rise_db_per_s: f32,
    /// earshot score at or above which a gated frame is speech (default 0.5).
    pub speech_threshold: f32,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            start_hangover: Duration::from_millis(60),
            stop_hangover: Duration::from_millis(400),
            gate_margin_db: 9.0,
            min_floor_db: -70.0,
            floor_rise_db_per_s: 3.0,
            speech_threshold: 0.5,
        }
    }
}

/// A change of talk state, stamped with the RTP timestamp where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// The far end started talking at `media_ts` (reported `start_hangover`
    /// or more later).
    SpeechStarted {
        /// RTP timestamp of the first sample of the frame where speech began.
        media_ts: u32,
    },
    /// The far end stopped talking at `media_ts` (reported `stop_hangover`
    /// later).
    SpeechStopped {
        /// RTP timestamp just past the last frame of speech.
        media_ts: u32,
    },
}

/// Counters of a [`Vad`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VadStats {
    /// Frames processed.
    pub frames: u64,
    /// Frames that passed the energy gate.
    pub gated: u64,
    /// earshot predictions run (256 samples at 16 kHz each).
    pub predictions: u64,
    /// Frames judged speech (gate and earshot agree).
    pub voiced: u64,
    /// Frames ignored because they were empty or longer than
    /// [`MAX_FRAME_SAMPLES`].
    pub bad_frames: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Silent {
        /// Consecutive voiced samples so far.
        voiced: u32,
        /// Where the current candidate onset is.
        onset: u32,
    },
    Speaking {
        /// Samples since the last voiced frame.
        silence: u32,
        /// End of the last voiced stretch, extended through the frames that
        /// stay above the gate right after it (the decaying tail of a word).
        tail_end: u32,
        /// Still extending `tail_end` (gate has not closed since the last
        /// voiced frame).
        tail_open: bool,
    },
}

/// 10/ln(10): dB per natural-log unit of power.
const DB_PER_NEPER_POWER: f32 = 10.0 / std::f32::consts::LN_10;

/// Energy in dBFS of `len` samples whose squares sum to `sum`.
fn energy_db(sum: u64, len: usize) -> f32 {
    if len == 0 || sum == 0 {
        return SILENCE_DB;
    }
    // Mean square relative to full scale (32768^2 = 2^30). The result is
    // an f32 anyway, and the f32 logarithm of the f32-rounded mean is within
    // about 1e-6 dB of the f64 one, at a fraction of its cost.
    let mean = (sum as f64 / (len as f64 * (1u64 << 30) as f64)) as f32;
    (DB_PER_NEPER_POWER * mean.ln()).max(SILENCE_DB)
}

/// Frame energy in dBFS (mean square relative to full scale).
pub fn frame_energy_db(frame: &[i16]) -> f32 {
    energy_db(sum_of_squares(frame), frame.len())
}

/// Square of full scale (32768^2).
const FULL_SCALE_POWER: f64 = (1u64 << 30) as f64;
/// [`SILENCE_DB`] as a power ratio.
const SILENCE_POWER: f64 = 1e-10;

/// dB to a power ratio.
fn db_to_power(db: f32) -> f64 {
    10f64.powf(f64::from(db) / 10.0)
}

/// A power ratio to dB.
fn power_to_db(power: f64) -> f32 {
    (10.0 * power.log10()) as f32
}

/// The energy gate alone: an adaptive noise floor and a margin above it.
///
/// The rules are in dB (the floor falls a fixed fraction of the way
/// towards a quieter frame, rises a few dB per second, the gate opens
/// `margin` dB above it), but the floor is kept as a linear power: a dB
/// comparison is a power comparison and a dB step is a power factor, so a
/// frame at or above the floor (most frames, and every frame of a steady
/// noise the floor has settled on) costs no logarithm. Only a frame below
/// the floor, which pulls it down by a fraction of the dB distance, takes
/// a logarithm and an exponential.
///
/// Public so that cheap paths (and the receive-path benchmark) can use the
/// first stage without the neural network.
#[derive(Debug, Clone)]
pub struct EnergyGate {
    /// Noise floor as a power ratio (`None` before the first frame).
    floor: Option<f64>,
    /// The gate margin as a power factor.
    margin: f64,
    min_floor_db: f32,
    /// The lowest floor as a power ratio.
    min_floor: f64,
    rise_db_per_s: f32,
    /// Floor steps for frames of `step_len` samples (recomputed when the
    /// frame length changes, so the usual fixed ptime costs no `exp`).
    step_len: usize,
    /// Fraction of the (dB) way the floor falls towards a quieter frame.
    fall_k: f64,
    /// Power factor the floor rises by under a louder frame.
    rise: f64,
    /// 1 / (`step_len` · 32768²): sum of squares to mean power.
    inv_scale: f64,
}

impl EnergyGate {
    /// A gate with the floor settings of `config`.
    pub fn new(config: &VadConfig) -> Self {
        let finite_or = |v: f32, d: f32| if v.is_finite() { v } else { d };
        let d = VadConfig::default();
        // Bounded so that the powers stay finite.
        let min_floor_db = finite_or(config.min_floor_db, d.min_floor_db).clamp(-300.0, 300.0);
        let margin_db = finite_or(config.gate_margin_db, d.gate_margin_db).clamp(0.0, 300.0);
        EnergyGate {
            floor: None,
            margin: db_to_power(margin_db),
            min_floor_db,
            min_floor: db_to_power(min_floor_db),
            rise_db_per_s: finite_or(config.floor_rise_db_per_s, d.floor_rise_db_per_s)
                .clamp(0.0, 1e6),
            step_len: 0,
            fall_k: 0.0,
            rise: 1.0,
            inv_scale: 0.0,
        }
    }

    /// Current noise floor in dBFS (`None` before the first frame).
    pub fn floor_db(&self) -> Option<f32> {
        self.floor.map(|f| {
            if f <= self.min_floor {
                self.min_floor_db
            } else {
                power_to_db(f)
            }
        })
    }

    /// Judges one frame of 8 kHz audio: true when its energy is more than
    /// the margin above the noise floor. Updates the floor afterwards.
    pub fn process(&mut self, frame: &[i16]) -> bool {
        self.process_sum_of_squares(sum_of_squares(frame), frame.len())
    }

    /// [`EnergyGate::process`] for a frame of `len` samples whose
    /// [`sum_of_squares`] is already known (computed while decoding, say).
    #[inline]
    pub fn process_sum_of_squares(&mut self, sum: u64, len: usize) -> bool {
        self.set_step(len);
        // A multiplication by the cached 1 / (len · 32768²) rather than a
        // division, which was the gate's largest cost (within an ulp).
        let power = if len == 0 {
            SILENCE_POWER
        } else {
            (sum as f64 * self.inv_scale).max(SILENCE_POWER)
        };
        self.process_power(power, len)
    }

    /// [`EnergyGate::process`] for a frame of `len` samples whose energy
    /// ([`frame_energy_db`]) is already known.
    pub fn process_energy(&mut self, energy: f32, len: usize) -> bool {
        let energy = if energy.is_nan() { SILENCE_DB } else { energy };
        self.process_power(db_to_power(energy.max(SILENCE_DB)), len)
    }

    /// Recomputes the per-frame constants when the frame length changes.
    #[inline]
    fn set_step(&mut self, len: usize) {
        if len != self.step_len {
            self.new_step(len);
        }
    }

    #[cold]
    fn new_step(&mut self, len: usize) {
        let secs = len as f64 / f64::from(LINE_RATE);
        self.fall_k = 1.0 - (-secs / f64::from(FLOOR_FALL_TAU_S)).exp();
        self.rise = 10f64.powf(f64::from(self.rise_db_per_s) * secs / 10.0);
        self.inv_scale = 1.0 / (len as f64 * FULL_SCALE_POWER);
        self.step_len = len;
    }

    /// A floor falling towards a quieter frame: `floor_dB + (energy_dB −
    /// floor_dB) · k`, as powers.
    #[cold]
    fn fall(&self, floor: f64, power: f64) -> f64 {
        floor * (power / floor).powf(self.fall_k)
    }

    #[inline]
    fn process_power(&mut self, power: f64, len: usize) -> bool {
        self.set_step(len);
        let floor = *self.floor.get_or_insert(power.max(self.min_floor));
        let open = power > floor * self.margin;
        let next = if power < floor {
            self.fall(floor, power)
        } else {
            lesser(floor * self.rise, power)
        };
        self.floor = Some(greater(next, self.min_floor));
        open
    }
}

/// `a.min(b)` for a `b` that is not NaN, as one comparison (`minsd`)
/// rather than `f64::min`'s NaN handling.
#[inline]
fn lesser(a: f64, b: f64) -> f64 {
    if a < b {
        a
    } else {
        b
    }
}

/// `a.max(b)` for a `b` that is not NaN, as one comparison (`maxsd`).
#[inline]
fn greater(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}

/// Voice activity detector for one direction of one call.
///
/// Feed it every decoded 8 kHz frame in order with the frame's RTP
/// timestamp; it returns an event when the talk state changes.
pub struct Vad {
    gate: EnergyGate,
    detector: Box<earshot::Detector>,
    threshold: f32,
    start_samples: u32,
    stop_samples: u32,
    /// Previous frame at 8 kHz, to prime earshot after a reset, and the
    /// sample before it (upsampling interpolates across frames).
    prev: [i16; MAX_FRAME_SAMPLES],
    prev_len: usize,
    prev_before: i16,
    /// A frame upsampled to 16 kHz, only when earshot is to see it.
    up: [i16; 2 * MAX_FRAME_SAMPLES],
    /// Samples waiting for a full earshot frame.
    stage: [i16; EARSHOT_FRAME + 4 * MAX_FRAME_SAMPLES],
    staged: usize,
    last_sample: i16,
    last_score: f32,
    gate_was_open: bool,
    gate_start: u32,
    closed_samples: u32,
    state: State,
    stats: VadStats,
}

impl std::fmt::Debug for Vad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vad")
            .field("gate", &self.gate)
            .field("state", &self.state)
            .field("last_score", &self.last_score)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Upsamples `frame` 2× into `out` by linear interpolation (half a sample
/// of delay; `before` is the sample preceding the frame, so frames join
/// continuously). Returns `2 * frame.len()`.
fn upsample_2x(frame: &[i16], before: i16, out: &mut [i16]) -> usize {
    let mut prev = i32::from(before);
    for (pair, &s) in out.chunks_exact_mut(2).zip(frame) {
        let s32 = i32::from(s);
        pair[0] = ((prev + s32) / 2) as i16;
        pair[1] = s;
        prev = s32;
    }
    2 * frame.len()
}

fn ms_to_samples(d: Duration) -> u32 {
    (d.as_millis().min(u128::from(u32::MAX / LINE_RATE)) as u32) * (LINE_RATE / 1000)
}

/// Signed distance `a - b` between two RTP timestamps.
fn ts_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

impl Vad {
    /// A detector with `config`. Allocates earshot's state (about 8 KiB)
    /// once, here.
    pub fn new(config: VadConfig) -> Self {
        let threshold = if config.speech_threshold.is_finite() {
            config.speech_threshold.clamp(0.0, 1.0)
        } else {
            VadConfig::default().speech_threshold
        };
        Vad {
            gate: EnergyGate::new(&config),
            detector: earshot::Detector::default_boxed(),
            threshold,
            start_samples: ms_to_samples(config.start_hangover),
            stop_samples: ms_to_samples(config.stop_hangover),
            prev: [0; MAX_FRAME_SAMPLES],
            prev_len: 0,
            prev_before: 0,
            up: [0; 2 * MAX_FRAME_SAMPLES],
            stage: [0; EARSHOT_FRAME + 4 * MAX_FRAME_SAMPLES],
            staged: 0,
            last_sample: 0,
            last_score: 0.0,
            gate_was_open: false,
            gate_start: 0,
            closed_samples: u32::MAX / 2,
            state: State::Silent {
                voiced: 0,
                onset: 0,
            },
            stats: VadStats::default(),
        }
    }

    /// Counters since construction.
    pub fn stats(&self) -> VadStats {
        self.stats
    }

    /// Current noise floor estimate in dBFS.
    pub fn noise_floor_db(&self) -> Option<f32> {
        self.gate.floor_db()
    }

    /// True while the far end is considered to be talking (between a
    /// `SpeechStarted` and the following `SpeechStopped`).
    pub fn is_speaking(&self) -> bool {
        matches!(self.state, State::Speaking { .. })
    }

    /// The last earshot score (0 = no voice, 1 = voice).
    pub fn last_score(&self) -> f32 {
        self.last_score
    }

    /// Stages 16 kHz samples and runs earshot on every full 256-sample
    /// chunk; returns the highest score seen, if any chunk completed.
    fn feed_earshot(&mut self, len: usize) -> Option<f32> {
        let mut best: Option<f32> = None;
        let mut offset = 0;
        while offset < len {
            let take = (EARSHOT_FRAME - self.staged).min(len - offset);
            self.stage[self.staged..self.staged + take]
                .copy_from_slice(&self.up[offset..offset + take]);
            self.staged += take;
            offset += take;
            if self.staged == EARSHOT_FRAME {
                let score = self.detector.predict_i16(&self.stage[..EARSHOT_FRAME]);
                self.stats.predictions += 1;
                self.staged = 0;
                best = Some(best.map_or(score, |b| b.max(score)));
            }
        }
        best
    }

    /// Processes one frame of 8 kHz audio (normally 160 samples, 20 ms;
    /// anything from 1 to [`MAX_FRAME_SAMPLES`] works) whose first sample has
    /// RTP timestamp `media_ts`. Returns an event when speech starts or
    /// stops. Empty or oversized frames are counted and ignored.
    pub fn process(&mut self, frame: &[i16], media_ts: u32) -> Option<VadEvent> {
        self.process_energy(frame, sum_of_squares(frame), media_ts)
    }

    /// [`Vad::process`] for a frame whose [`sum_of_squares`] is already
    /// known (computed while decoding it, as
    /// [`crate::jitter::Concealer::render_energy`] does), so the gate does
    /// not read the frame again. A wrong sum only misleads the gate.
    // Always inlined: a frame the gate keeps shut is the gate's few float
    // operations and the copy of the frame, less than the call (earshot is
    // out of line).
    #[inline(always)]
    pub fn process_energy(
        &mut self,
        frame: &[i16],
        sum_of_squares: u64,
        media_ts: u32,
    ) -> Option<VadEvent> {
        if frame.is_empty() || frame.len() > MAX_FRAME_SAMPLES {
            self.stats.bad_frames += 1;
            return None;
        }
        self.stats.frames += 1;
        let len = frame.len() as u32;
        let open = self
            .gate
            .process_sum_of_squares(sum_of_squares, frame.len());

        // Upsampling is for earshot only, so a frame the gate keeps shut
        // (most of a call) costs the gate and a copy of the frame.
        let voiced = if open {
            self.gated(frame, media_ts)
        } else {
            self.closed_samples = self.closed_samples.saturating_add(len);
            false
        };
        self.gate_was_open = open;
        self.prev_before = self.last_sample;
        self.prev[..frame.len()].copy_from_slice(frame);
        self.prev_len = frame.len();
        self.last_sample = frame[frame.len() - 1];
        if voiced {
            self.stats.voiced += 1;
        } else if let State::Silent { voiced: run, .. } = &mut self.state {
            // Silence goes on.
            *run = 0;
            return None;
        }
        self.advance(voiced, open, media_ts, len)
    }

    /// The earshot stage for a frame the gate let through: whether it is
    /// voiced.
    #[inline(never)]
    fn gated(&mut self, frame: &[i16], media_ts: u32) -> bool {
        self.stats.gated += 1;
        if !self.gate_was_open {
            self.gate_start = media_ts;
            if self.closed_samples >= EARSHOT_RESET_AFTER_S * LINE_RATE {
                // A new utterance: start earshot from a clean state,
                // primed with the frame before the gate opened.
                self.detector.reset();
                self.staged = 0;
                let prev = &self.prev[..self.prev_len];
                let up_len = upsample_2x(prev, self.prev_before, &mut self.up);
                self.feed_earshot(up_len);
            }
        }
        let up_len = upsample_2x(frame, self.last_sample, &mut self.up);
        if let Some(score) = self.feed_earshot(up_len) {
            self.last_score = score;
        }
        self.closed_samples = 0;
        self.last_score >= self.threshold
    }

    fn advance(&mut self, voiced: bool, open: bool, ts: u32, len: u32) -> Option<VadEvent> {
        let end = ts.wrapping_add(len);
        match &mut self.state {
            State::Silent { voiced: run, onset } => {
                if !voiced {
                    *run = 0;
                    return None;
                }
                if *run == 0 {
                    let backdate = ts_diff(ts, self.gate_start);
                    let max = (MAX_BACKDATE_MS * (LINE_RATE / 1000)) as i32;
                    *onset = if (0..=max).contains(&backdate) {
                        self.gate_start
                    } else {
                        ts
                    };
                }
                *run = run.saturating_add(len);
                if *run >= self.start_samples {
                    let media_ts = *onset;
                    self.state = State::Speaking {
                        silence: 0,
                        tail_end: end,
                        tail_open: true,
                    };
                    return Some(VadEvent::SpeechStarted { media_ts });
                }
                None
            }
            State::Speaking {
                silence,
                tail_end,
                tail_open,
            } => {
                if voiced {
                    *silence = 0;
                    *tail_end = end;
                    *tail_open = true;
                    return None;
                }
                *silence = silence.saturating_add(len);
                if open && *tail_open {
                    *tail_end = end;
                } else {
                    *tail_open = false;
                }
                if *silence >= self.stop_samples {
                    let media_ts = *tail_end;
                    self.state = State::Silent {
                        voiced: 0,
                        onset: 0,
                    };
                    return Some(VadEvent::SpeechStopped { media_ts });
                }
                None
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::resample::resample;
    use std::path::PathBuf;
    use std::process::Command;

    /// Deterministic white noise (xorshift), uniform in ±`amp`.
    pub(crate) struct Noise(u64);
    impl Noise {
        pub(crate) fn new(seed: u64) -> Self {
            Noise(seed | 1)
        }
        pub(crate) fn sample(&mut self, amp: f64) -> i16 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let u = (self.0 >> 11) as f64 / (1u64 << 53) as f64;
            ((u * 2.0 - 1.0) * amp) as i16
        }
    }

    /// Minimal RIFF/WAVE reader for espeak-ng's output (16-bit PCM mono).
    fn read_wav_pcm16(bytes: &[u8]) -> (u32, Vec<i16>) {
        assert!(
            bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
            "not a WAV file"
        );
        let mut pos = 12;
        let mut rate = 0;
        while pos + 8 <= bytes.len() {
            let id = &bytes[pos..pos + 4];
            let size = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
            let body = &bytes[pos + 8..(pos + 8).saturating_add(size).min(bytes.len())];
            if id == b"fmt " {
                assert_eq!(u16::from_le_bytes([body[0], body[1]]), 1, "PCM");
                assert_eq!(u16::from_le_bytes([body[2], body[3]]), 1, "mono");
                rate = u32::from_le_bytes(body[4..8].try_into().unwrap());
                assert_eq!(u16::from_le_bytes([body[14], body[15]]), 16, "16-bit");
            } else if id == b"data" {
                let samples = body
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect();
                return (rate, samples);
            }
            pos += 8 + size + (size & 1);
        }
        panic!("no data chunk");
    }

    /// Speaks `text` with espeak-ng and returns it at 8 kHz.
    pub(crate) fn espeak_8k(text: &str) -> Vec<i16> {
        let dir = std::env::temp_dir().join(format!("rtp-media-vad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path: PathBuf = dir.join(format!(
            "{:x}.wav",
            text.len() * 31 + text.as_bytes()[0] as usize
        ));
        let status = Command::new("espeak-ng")
            .arg("-w")
            .arg(&path)
            .arg(text)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("espeak-ng failed ({s}); run ./scripts/test, which installs it"),
            Err(e) => {
                panic!("espeak-ng is not installed ({e}); run ./scripts/test, which installs it")
            }
        }
        let bytes = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let (rate, samples) = read_wav_pcm16(&bytes);
        resample(&samples, rate, 8000)
    }

    /// Index of the first and one past the last sample above `threshold`.
    fn trimmed(x: &[i16], threshold: i16) -> (usize, usize) {
        let first = x.iter().position(|s| s.abs() > threshold).unwrap();
        let last = x.iter().rposition(|s| s.abs() > threshold).unwrap();
        (first, last + 1)
    }

    fn run(vad: &mut Vad, audio: &[i16], ts0: u32) -> Vec<VadEvent> {
        audio
            .chunks_exact(160)
            .enumerate()
            .filter_map(|(i, f)| vad.process(f, ts0.wrapping_add(i as u32 * 160)))
            .collect()
    }

    #[test]
    fn two_utterances_give_two_pairs_with_accurate_edges() {
        let a = espeak_8k("hello this is a test of the voice activity detector");
        let b = espeak_8k("please transfer me to the billing department");
        let mut noise = Noise::new(7);
        let mut audio: Vec<i16> = Vec::new();
        let mut quiet =
            |n: usize, audio: &mut Vec<i16>| audio.extend((0..n).map(|_| noise.sample(40.0)));
        quiet(8000, &mut audio);
        let a_at = audio.len();
        audio.extend_from_slice(&a);
        quiet(12000, &mut audio);
        let b_at = audio.len();
        audio.extend_from_slice(&b);
        quiet(8000, &mut audio);
        // Light background noise over the speech too.
        let mut n2 = Noise::new(99);
        for s in &mut audio[a_at..] {
            *s = s.saturating_add(n2.sample(40.0));
        }

        let (a0, a1) = trimmed(&a, 300);
        let (b0, b1) = trimmed(&b, 300);
        let truth = [a_at + a0, a_at + a1, b_at + b0, b_at + b1];

        // Start near the RTP wrap to exercise timestamp arithmetic.
        let ts0 = u32::MAX - 20_000;
        let mut vad = Vad::new(VadConfig::default());
        let events = run(&mut vad, &audio, ts0);
        assert_eq!(
            events.len(),
            4,
            "events: {events:?}, truth (samples) {truth:?}"
        );
        for (i, (ev, &want)) in events.iter().zip(&truth).enumerate() {
            let (ts, started) = match *ev {
                VadEvent::SpeechStarted { media_ts } => (media_ts, true),
                VadEvent::SpeechStopped { media_ts } => (media_ts, false),
            };
            assert_eq!(started, i % 2 == 0, "alternating start/stop: {events:?}");
            let got = ts.wrapping_sub(ts0) as i64;
            let err_ms = (got - want as i64).abs() as f64 / 8.0;
            assert!(
                err_ms <= 100.0,
                "edge {i}: got {got}, truth {want} ({err_ms} ms off); {events:?}"
            );
        }
        let st = vad.stats();
        assert!(
            st.gated < st.frames,
            "the gate should skip the quiet frames: {st:?}"
        );
    }

    #[test]
    fn speech_in_white_noise_at_about_10_db_snr() {
        // Speech rms ≈ 3100, noise uniform ±1500 (rms ≈ 870): one utterance,
        // one pair. Onsets in noise are found later (the gate needs the
        // speech to climb 9 dB over loud noise), so the bound is wider.
        let a = espeak_8k("hello this is a test of the voice activity detector");
        let (a0, a1) = trimmed(&a, 300);
        let mut n = Noise::new(3);
        let mut audio: Vec<i16> = (0..16000).map(|_| n.sample(1500.0)).collect();
        let at = audio.len();
        audio.extend_from_slice(&a);
        audio.extend(std::iter::repeat_n(0, 16000));
        for s in &mut audio[at..] {
            *s = s.saturating_add(n.sample(1500.0));
        }
        let mut vad = Vad::new(VadConfig::default());
        let events = run(&mut vad, &audio, 0);
        let [VadEvent::SpeechStarted { media_ts: start }, VadEvent::SpeechStopped { media_ts: stop }] =
            events[..]
        else {
            panic!("want one start/stop pair: {events:?}");
        };
        let off_ms = |got: u32, want: usize| (i64::from(got) - want as i64).abs() as f64 / 8.0;
        assert!(
            off_ms(start, at + a0) <= 200.0,
            "start {start} vs {}",
            at + a0
        );
        assert!(off_ms(stop, at + a1) <= 200.0, "stop {stop} vs {}", at + a1);
    }

    #[test]
    fn white_noise_alone_is_not_speech() {
        // Moderate white noise from the first frame.
        let mut noise = Noise::new(3);
        let audio: Vec<i16> = (0..8000 * 10).map(|_| noise.sample(1500.0)).collect();
        let mut vad = Vad::new(VadConfig::default());
        let events = run(&mut vad, &audio, 0);
        assert!(events.is_empty(), "{events:?}");
        let floor = vad.noise_floor_db().unwrap();
        let level = frame_energy_db(&audio[..160]);
        assert!(
            (floor - level).abs() < 3.0,
            "floor {floor} vs noise {level}"
        );
    }

    #[test]
    fn noise_floor_adapts_to_noise_that_starts_mid_call() {
        // A quiet line, then a fan switches on: after the floor has risen to
        // it, the gate stays shut and nothing is speech.
        let mut noise = Noise::new(5);
        let mut audio: Vec<i16> = (0..8000).map(|_| noise.sample(20.0)).collect();
        audio.extend((0..8000 * 20).map(|_| noise.sample(1000.0)));
        let mut vad = Vad::new(VadConfig::default());
        let events = run(&mut vad, &audio, 0);
        assert!(events.is_empty(), "{events:?}");
        // The gate closed again once the floor caught up.
        let mut tail = Vad::new(VadConfig::default());
        let n = audio.len();
        let _ = run(&mut tail, &audio[..n - 8000], 0);
        let before = tail.stats().gated;
        let _ = run(&mut tail, &audio[n - 8000..], 0);
        assert_eq!(
            tail.stats().gated,
            before,
            "gate still opening on steady noise"
        );
    }

    #[test]
    fn frame_energy_matches_definition() {
        assert_eq!(frame_energy_db(&[]), SILENCE_DB);
        assert_eq!(frame_energy_db(&[0; 160]), SILENCE_DB);
        // Full-scale negative square: exactly 0 dBFS.
        assert!(frame_energy_db(&[i16::MIN; 480]).abs() < 1e-6);
        // Odd lengths use the tail path: −6.02 dB for half amplitude.
        let e = frame_energy_db(&[16384; 13]);
        assert!((e + 6.0206).abs() < 1e-3, "{e}");
        let mut noise = Noise::new(1);
        let x: Vec<i16> = (0..163).map(|_| noise.sample(20000.0)).collect();
        let exact: i64 = x.iter().map(|&s| i64::from(s).pow(2)).sum();
        let want = 10.0 * (exact as f64 / 163.0 / 32768f64.powi(2)).log10();
        assert!((f64::from(frame_energy_db(&x)) - want).abs() < 1e-4);
    }

    #[test]
    fn energy_gate_alone_opens_on_loud_frames_and_tracks_floor() {
        let cfg = VadConfig::default();
        let mut gate = EnergyGate::new(&cfg);
        let mut noise = Noise::new(11);
        let quiet: Vec<i16> = (0..160).map(|_| noise.sample(30.0)).collect();
        for _ in 0..50 {
            assert!(!gate.process(&quiet));
        }
        let loud: Vec<i16> = (0..160)
            .map(|i| if i % 2 == 0 { 3000 } else { -3000 })
            .collect();
        assert!(gate.process(&loud));
        // Floor rises only slowly during one loud frame.
        let floor = gate.floor_db().unwrap();
        assert!(floor < frame_energy_db(&quiet) + 1.0, "{floor}");
        // Digital silence keeps the floor at its minimum.
        let mut g2 = EnergyGate::new(&cfg);
        for _ in 0..10 {
            assert!(!g2.process(&[0; 160]));
        }
        assert_eq!(g2.floor_db(), Some(cfg.min_floor_db));
    }

    /// The gate's rules written in dB, as they are specified.
    struct DbGate {
        floor: Option<f64>,
        cfg: VadConfig,
    }

    impl DbGate {
        fn process(&mut self, frame: &[i16]) -> bool {
            let energy = f64::from(frame_energy_db(frame));
            let min = f64::from(self.cfg.min_floor_db);
            let floor = *self.floor.get_or_insert(energy.max(min));
            let open = energy > floor + f64::from(self.cfg.gate_margin_db);
            let secs = frame.len() as f64 / 8000.0;
            let next = if energy < floor {
                floor + (energy - floor) * (1.0 - (-secs / 0.04).exp())
            } else {
                (floor + f64::from(self.cfg.floor_rise_db_per_s) * secs).min(energy)
            };
            self.floor = Some(next.max(min));
            open
        }
    }

    #[test]
    fn energy_gate_follows_its_db_rules() {
        let cfg = VadConfig::default();
        let mut gate = EnergyGate::new(&cfg);
        let mut reference = DbGate { floor: None, cfg };
        let mut noise = Noise::new(5);
        let (mut opened, mut fell) = (0, 0);
        // Noise whose level wanders up and down by tens of dB, with bursts
        // and digital silence, in frames of different lengths.
        for i in 0..3000u32 {
            let amp = match i % 400 {
                0..=99 => 20.0,
                100..=109 => 8000.0,
                110..=199 => 300.0,
                200..=219 => 0.0,
                _ => 20.0 + f64::from(i % 37) * 40.0,
            };
            let len = [160, 80, 240, 161][(i / 700) as usize % 4];
            let frame: Vec<i16> = (0..len).map(|_| noise.sample(amp)).collect();
            let before = gate.floor_db();
            let energy = f64::from(frame_energy_db(&frame));
            let min = f64::from(cfg.min_floor_db);
            let edge = reference.floor.unwrap_or(energy.max(min)) + f64::from(cfg.gate_margin_db);
            let (open, want) = (gate.process(&frame), reference.process(&frame));
            let floor = f64::from(gate.floor_db().unwrap());
            let want_floor = reference.floor.unwrap();
            assert!(
                (floor - want_floor).abs() < 1e-3,
                "frame {i}: floor {floor} dB, rules give {want_floor} dB"
            );
            if (energy - edge).abs() > 1e-3 {
                assert_eq!(open, want, "frame {i}");
            }
            opened += usize::from(open);
            fell += usize::from(before.is_some_and(|b| f64::from(b) > floor + 0.1));
        }
        assert!(opened > 50 && fell > 50, "opened {opened}, fell {fell}");
    }

    #[test]
    fn short_bursts_and_bad_frames_do_not_start_speech() {
        let mut vad = Vad::new(VadConfig::default());
        let speech = espeak_8k("hello");
        // Only the first 40 ms of a word, then silence: below the 60 ms
        // start hangover even if voiced.
        let (s0, _) = trimmed(&speech, 300);
        let mut audio = vec![0i16; 8000];
        audio.extend_from_slice(&speech[s0..s0 + 320]);
        audio.extend(std::iter::repeat_n(0, 8000));
        assert!(run(&mut vad, &audio, 0).is_empty());
        assert_eq!(vad.process(&[], 0), None);
        assert_eq!(vad.process(&[1000; MAX_FRAME_SAMPLES + 1], 0), None);
        assert_eq!(vad.stats().bad_frames, 2);
        // Odd frame sizes are fine.
        assert_eq!(vad.process(&[i16::MIN; 7], 5), None);
        assert_eq!(vad.process(&[i16::MAX; MAX_FRAME_SAMPLES], 12), None);
    }

    #[test]
    fn nan_config_falls_back_to_defaults() {
        let cfg = VadConfig {
            gate_margin_db: f32::NAN,
            floor_rise_db_per_s: f32::INFINITY,
            speech_threshold: f32::NAN,
            ..VadConfig::default()
        };
        let mut vad = Vad::new(cfg);
        assert_eq!(vad.process(&[100; 160], 0), None);
        assert!(vad.noise_floor_db().unwrap().is_finite());
    }
}
