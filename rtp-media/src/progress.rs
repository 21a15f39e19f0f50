//! Call progress tone detection: dial tone, busy, reorder (congestion) and
//! ringback, each with its country's frequencies and cadence (ITU-T E.180
//! and its supplement, which lists every country's tones).
//!
//! An analog line needs it twice: before dialling out (is there dial
//! tone?) and during a call, where a line that gives neither battery loss
//! nor a polarity reversal tells that the far end hung up only by playing
//! busy or reorder tone into the call.
//!
//! Every 10 ms the detector measures, over the last 20 ms, the power at
//! each tone's frequencies (Goertzel, shared with the DTMF detector). A
//! tone is *on* when its frequencies are loud enough, within 10 dB of each
//! other, and carry most of the window's energy; the lengths of the on and
//! off segments are then matched against the cadence. Busy and reorder
//! often share frequencies and differ only in cadence.
//!
//! ```
//! use rtp_media::dtmf::ToneGenerator;
//! use rtp_media::progress::{ProgressDetector, ProgressTone, TonePlan};
//!
//! let mut busy = vec![0i16; 8000 * 3];
//! ToneGenerator::busy_us(3000).fill(&mut busy);
//! let mut detector = ProgressDetector::new(TonePlan::nanp());
//! let heard: Vec<_> = busy.chunks(160).filter_map(|f| detector.feed(f)).collect();
//! assert_eq!(heard, [ProgressTone::Busy]);
//! ```

use crate::g711::dbm0_amplitude;
use crate::goertzel;
use std::collections::VecDeque;
use std::time::Duration;

const SAMPLE_RATE: u32 = 8000;
/// Analysis window: 20 ms (50 Hz resolution, enough to tell 440 from 480).
const WINDOW: usize = 160;
/// Hop between windows: 10 ms, the resolution of the measured cadence.
const HOP: usize = 80;
const HOP_DURATION: Duration = Duration::from_millis(10);
/// Segments kept per tone: enough for the longest cadence matched.
const SEGMENTS_KEPT: usize = 16;
/// Hops a change of on/off must last to count: 30 ms.
const DEBOUNCE: u32 = 3;

/// A call progress tone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgressTone {
    /// The exchange is ready for digits.
    Dial,
    /// The called line is busy; after a call, the far end hung up.
    Busy,
    /// Reorder or congestion: no route, or the far end hung up.
    Reorder,
    /// The called line is ringing.
    Ringback,
}

/// How a tone is switched on and off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cadence {
    /// Steady; heard once it has been on for `confirm` (longer than any
    /// cadenced tone on the same frequencies stays on).
    Continuous {
        /// How long the tone must be on before it is reported.
        confirm: Duration,
    },
    /// On, off, on, off, ... repeating; an even number of segments, the
    /// first one on. Reported once a whole cycle and one more on segment
    /// have matched.
    Pattern(Vec<Duration>),
}

/// One tone of a country: what it is, its frequencies and its cadence.
#[derive(Debug, Clone, PartialEq)]
pub struct ToneSpec {
    /// The tone.
    pub tone: ProgressTone,
    /// One or two frequencies in Hz, mixed.
    pub freqs: Vec<f32>,
    /// How it is switched on and off.
    pub cadence: Cadence,
}

/// The progress tones of one country, and the quietest tone to hear.
#[derive(Debug, Clone, PartialEq)]
pub struct TonePlan {
    /// The tones to listen for.
    pub tones: Vec<ToneSpec>,
    /// The quietest level, per frequency, a tone is heard at (dBm0).
    pub min_level_dbm0: f32,
}

fn ms(v: &[u64]) -> Cadence {
    Cadence::Pattern(v.iter().map(|&m| Duration::from_millis(m)).collect())
}

fn spec(tone: ProgressTone, freqs: &[f32], cadence: Cadence) -> ToneSpec {
    ToneSpec {
        tone,
        freqs: freqs.to_vec(),
        cadence,
    }
}

fn continuous(confirm_ms: u64) -> Cadence {
    Cadence::Continuous {
        confirm: Duration::from_millis(confirm_ms),
    }
}

impl TonePlan {
    const DEFAULT_MIN_LEVEL_DBM0: f32 = -45.0;

    fn of(tones: Vec<ToneSpec>) -> Self {
        TonePlan {
            tones,
            min_level_dbm0: Self::DEFAULT_MIN_LEVEL_DBM0,
        }
    }

    /// North America (ANSI T1.401, the precise tone plan): dial 350 + 440
    /// Hz steady, busy 480 + 620 Hz 0.5 s on / 0.5 s off, reorder the same
    /// at 0.25 / 0.25 s, ringback 440 + 480 Hz 2 s on / 4 s off.
    pub fn nanp() -> Self {
        use ProgressTone::*;
        Self::of(vec![
            spec(Dial, &[350.0, 440.0], continuous(500)),
            spec(Busy, &[480.0, 620.0], ms(&[500, 500])),
            spec(Reorder, &[480.0, 620.0], ms(&[250, 250])),
            spec(Ringback, &[440.0, 480.0], ms(&[2000, 4000])),
        ])
    }

    /// The European recommendation (ETSI ES 201 970, CEPT): 425 Hz for
    /// every tone; dial steady, busy 0.5 / 0.5 s, congestion 0.25 / 0.25 s,
    /// ringback 1 s on / 4 s off.
    pub fn etsi() -> Self {
        use ProgressTone::*;
        Self::of(vec![
            spec(Dial, &[425.0], continuous(1500)),
            spec(Busy, &[425.0], ms(&[500, 500])),
            spec(Reorder, &[425.0], ms(&[250, 250])),
            spec(Ringback, &[425.0], ms(&[1000, 4000])),
        ])
    }

    /// Germany: 425 Hz; dial steady, busy 0.48 / 0.48 s, congestion
    /// 0.24 / 0.24 s, ringback 1 s on / 4 s off.
    pub fn germany() -> Self {
        use ProgressTone::*;
        Self::of(vec![
            spec(Dial, &[425.0], continuous(1500)),
            spec(Busy, &[425.0], ms(&[480, 480])),
            spec(Reorder, &[425.0], ms(&[240, 240])),
            spec(Ringback, &[425.0], ms(&[1000, 4000])),
        ])
    }

    /// Italy: 425 Hz; dial tone cadenced 0.2 on, 0.2 off, 0.6 on, 1 s off;
    /// busy 0.5 / 0.5 s, congestion 0.2 / 0.2 s, ringback 1 s on / 4 s off.
    pub fn italy() -> Self {
        use ProgressTone::*;
        Self::of(vec![
            spec(Dial, &[425.0], ms(&[200, 200, 600, 1000])),
            spec(Busy, &[425.0], ms(&[500, 500])),
            spec(Reorder, &[425.0], ms(&[200, 200])),
            spec(Ringback, &[425.0], ms(&[1000, 4000])),
        ])
    }

    /// United Kingdom (BT SIN 350): dial 350 + 440 Hz steady, busy 400 Hz
    /// 0.375 / 0.375 s, congestion (number unobtainable's cousin) 400 Hz
    /// 0.4 on, 0.35 off, 0.225 on, 0.525 off, ringback 400 + 450 Hz 0.4 on,
    /// 0.2 off, 0.4 on, 2 s off.
    pub fn uk() -> Self {
        use ProgressTone::*;
        Self::of(vec![
            spec(Dial, &[350.0, 440.0], continuous(500)),
            spec(Busy, &[400.0], ms(&[375, 375])),
            spec(Reorder, &[400.0], ms(&[400, 350, 225, 525])),
            spec(Ringback, &[400.0, 450.0], ms(&[400, 200, 400, 2000])),
        ])
    }
}

/// The on/off history of one tone.
#[derive(Debug, Clone)]
struct Tracker {
    coeffs: Vec<f32>,
    on: bool,
    /// Hops in the current state.
    run: u32,
    /// Hops in a row that disagree with the current state.
    changing: u32,
    /// Completed segments, oldest first: (on, hops).
    segments: VecDeque<(bool, u32)>,
    reported: bool,
}

/// Detects call progress tones in a line's audio, reporting each tone
/// once when its cadence is confirmed, and again only after it stopped or
/// changed.
#[derive(Debug, Clone)]
pub struct ProgressDetector {
    plan: TonePlan,
    trackers: Vec<Tracker>,
    min_power: f32,
    window: [f32; WINDOW],
    head: usize,
    filled: usize,
    since_hop: usize,
    heard: VecDeque<ProgressTone>,
}

impl ProgressDetector {
    /// A detector for the tones of `plan`.
    pub fn new(plan: TonePlan) -> Self {
        let trackers = plan
            .tones
            .iter()
            .map(|t| Tracker {
                coeffs: t
                    .freqs
                    .iter()
                    .map(|&f| goertzel::coefficient(f, SAMPLE_RATE))
                    .collect(),
                on: false,
                run: 0,
                changing: 0,
                segments: VecDeque::with_capacity(SEGMENTS_KEPT),
                reported: false,
            })
            .collect();
        let min_power = (dbm0_amplitude(plan.min_level_dbm0) * WINDOW as f32 / 2.0).powi(2);
        ProgressDetector {
            plan,
            trackers,
            min_power,
            window: [0.0; WINDOW],
            head: 0,
            filled: 0,
            since_hop: 0,
            heard: VecDeque::new(),
        }
    }

    /// The plan the detector listens with.
    pub fn plan(&self) -> &TonePlan {
        &self.plan
    }

    /// Feeds audio (8 kHz, any frame length); returns a tone once its
    /// cadence has been confirmed. Should one frame confirm two, the
    /// second comes with the next call.
    pub fn feed(&mut self, samples: &[i16]) -> Option<ProgressTone> {
        for &s in samples {
            self.window[self.head] = f32::from(s);
            self.head = (self.head + 1) % WINDOW;
            self.filled = (self.filled + 1).min(WINDOW);
            self.since_hop += 1;
            if self.filled == WINDOW && self.since_hop >= HOP {
                self.since_hop = 0;
                self.analyse();
            }
        }
        self.heard.pop_front()
    }

    fn analyse(&mut self) {
        let mut window = [0f32; WINDOW];
        for (i, w) in window.iter_mut().enumerate() {
            *w = self.window[(self.head + i) % WINDOW];
        }
        let energy: f32 = window.iter().map(|x| x * x).sum();
        for (tracker, spec) in self.trackers.iter_mut().zip(&self.plan.tones) {
            let powers: Vec<f32> = tracker
                .coeffs
                .iter()
                .map(|&c| goertzel::power(&window, c))
                .collect();
            let strongest = powers.iter().fold(0f32, |a, &b| a.max(b));
            let total: f32 = powers.iter().sum();
            // A sine's power maps to its energy as E = 2P/N.
            let on = !powers.is_empty()
                && powers
                    .iter()
                    .all(|&p| p >= self.min_power && p * 10.0 >= strongest)
                && 2.0 * total / WINDOW as f32 >= 0.6 * energy;
            if tracker.step(on, &spec.cadence) {
                self.heard.push_back(spec.tone);
            }
        }
    }
}

fn hops(d: Duration) -> f64 {
    d.as_secs_f64() / HOP_DURATION.as_secs_f64()
}

/// Whether a measured segment of `got` hops is a segment of `want`: within
/// 15 % and 40 ms (the window blurs each edge by up to a hop).
fn matches(got: u32, want: Duration) -> bool {
    let want = hops(want);
    (f64::from(got) - want).abs() <= want * 0.15 + 4.0
}

impl Tracker {
    /// Takes one hop's on/off decision; true when the tone is confirmed.
    fn step(&mut self, on: bool, cadence: &Cadence) -> bool {
        // A change counts once it has lasted DEBOUNCE hops, so a blip (an
        // echo's tail, a click) does not split a segment; the hops it took
        // to confirm go to the new segment, so lengths stay unbiased.
        if on == self.on {
            self.run = self.run.saturating_add(1 + self.changing);
            self.changing = 0;
        } else {
            self.changing += 1;
            if self.changing < DEBOUNCE {
                return false;
            }
            if self.segments.len() == SEGMENTS_KEPT {
                self.segments.pop_front();
            }
            self.segments.push_back((self.on, self.run));
            self.on = on;
            self.run = self.changing;
            self.changing = 0;
        }
        match cadence {
            Cadence::Continuous { confirm } => {
                if !self.on {
                    // Any gap longer than a hiccup ends the steady tone.
                    if self.run > 20 {
                        self.reported = false;
                    }
                    return false;
                }
                if !self.reported && f64::from(self.run) >= hops(*confirm) {
                    self.reported = true;
                    return true;
                }
                false
            }
            Cadence::Pattern(pattern) => {
                let longest_off = pattern.iter().skip(1).step_by(2).max().copied();
                if !self.on {
                    let limit = longest_off.map_or(0.0, |d| hops(d) * 1.5 + 10.0);
                    if f64::from(self.run) > limit {
                        self.reported = false;
                    }
                }
                // Check when an on segment has just completed.
                if self.on || self.run != DEBOUNCE || pattern.len() < 2 || pattern.len() % 2 != 0 {
                    return false;
                }
                let needed = pattern.len() + 1;
                if self.segments.len() < needed {
                    return false;
                }
                let recent: Vec<u32> = self
                    .segments
                    .iter()
                    .skip(self.segments.len() - needed)
                    .map(|&(_, h)| h)
                    .collect();
                let fits = (0..pattern.len()).step_by(2).any(|start| {
                    recent
                        .iter()
                        .enumerate()
                        .all(|(i, &h)| matches(h, pattern[(start + i) % pattern.len()]))
                });
                if !fits {
                    self.reported = false;
                    return false;
                }
                if self.reported {
                    return false;
                }
                self.reported = true;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::ToneGenerator;

    /// A tone of `freqs` (one or two) at `amplitude` each, switched by the
    /// on/off `cadence` in ms, for `total` ms, after `lead` ms of silence.
    fn tone(freqs: &[f32], amplitude: i16, cadence: &[u64], lead: u64, total: u64) -> Vec<i16> {
        let mut out = vec![0i16; (lead * 8) as usize];
        let (f1, f2, a) = match *freqs {
            [f] => (f, f, amplitude / 2),
            [f1, f2] => (f1, f2, amplitude),
            _ => unreachable!(),
        };
        let mut generator = ToneGenerator::continuous(f1, f2, a, 8000);
        let mut t = 0;
        'outer: loop {
            for (i, &d) in cadence.iter().enumerate() {
                let mut seg = vec![0i16; (d * 8) as usize];
                if i % 2 == 0 {
                    generator.fill(&mut seg);
                }
                out.extend(seg);
                t += d;
                if t >= total {
                    break 'outer;
                }
            }
            if cadence.len() == 1 {
                break;
            }
        }
        out
    }

    fn heard(plan: TonePlan, audio: &[i16]) -> Vec<ProgressTone> {
        let mut d = ProgressDetector::new(plan);
        audio.chunks(160).filter_map(|f| d.feed(f)).collect()
    }

    #[test]
    fn north_american_tones_are_told_apart_by_frequency_and_cadence() {
        use ProgressTone::*;
        let mut dial = vec![0i16; 8000 * 2];
        ToneGenerator::continuous(350.0, 440.0, 2000, 8000).fill(&mut dial);
        assert_eq!(heard(TonePlan::nanp(), &dial), [Dial]);
        let mut busy = vec![0i16; 8000 * 4];
        ToneGenerator::busy_us(2000).fill(&mut busy);
        assert_eq!(heard(TonePlan::nanp(), &busy), [Busy]);
        let reorder = tone(&[480.0, 620.0], 2000, &[250, 250], 300, 3000);
        assert_eq!(heard(TonePlan::nanp(), &reorder), [Reorder]);
        let mut ring = vec![0i16; 8000 * 12];
        ToneGenerator::ringback_us(2000).fill(&mut ring);
        assert_eq!(heard(TonePlan::nanp(), &ring), [Ringback]);
    }

    #[test]
    fn european_tones_at_425_hz_are_told_apart_by_cadence_in_each_country() {
        use ProgressTone::*;
        let cases: [(TonePlan, &[u64], ProgressTone); 9] = [
            (TonePlan::etsi(), &[500, 500], Busy),
            (TonePlan::etsi(), &[250, 250], Reorder),
            (TonePlan::etsi(), &[3000], Dial),
            (TonePlan::germany(), &[480, 480], Busy),
            (TonePlan::germany(), &[240, 240], Reorder),
            (TonePlan::italy(), &[200, 200, 600, 1000], Dial),
            (TonePlan::italy(), &[500, 500], Busy),
            (TonePlan::italy(), &[200, 200], Reorder),
            (TonePlan::germany(), &[1000, 4000], Ringback),
        ];
        for (plan, cadence, want) in cases {
            let audio = tone(&[425.0], 3000, cadence, 170, 11_000);
            assert_eq!(heard(plan, &audio), [want], "{cadence:?}");
        }
        // The UK's tones are at 400 Hz (and 350 + 440 for dial).
        let busy = tone(&[400.0], 3000, &[375, 375], 0, 3000);
        assert_eq!(heard(TonePlan::uk(), &busy), [Busy]);
        let congestion = tone(&[400.0], 3000, &[400, 350, 225, 525], 90, 4000);
        assert_eq!(heard(TonePlan::uk(), &congestion), [Reorder]);
        let ring = tone(&[400.0, 450.0], 3000, &[400, 200, 400, 2000], 0, 7000);
        assert_eq!(heard(TonePlan::uk(), &ring), [Ringback]);
    }

    #[test]
    fn a_quiet_tone_in_noise_is_heard_and_speech_silence_and_other_tones_are_not() {
        // Busy at about −35 dBm0 per tone with noise 20 dB below.
        let mut busy = vec![0i16; 8000 * 3];
        ToneGenerator::busy_us(400).fill(&mut busy);
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for s in busy.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let u = (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            // Uniform noise of rms 0.29·2·69 ≈ 40 (the tones' rms is 400).
            *s = s.saturating_add((u * 2.0 * 69.0) as i16);
        }
        assert_eq!(heard(TonePlan::nanp(), &busy), [ProgressTone::Busy]);
        assert_eq!(heard(TonePlan::nanp(), &[0i16; 8000 * 5]), []);
        // DTMF keys and a 1 kHz test tone are no progress tone.
        let mut key = vec![0i16; 8000 * 3];
        ToneGenerator::dtmf('5', 3000).unwrap().fill(&mut key);
        assert_eq!(heard(TonePlan::nanp(), &key), []);
        assert_eq!(heard(TonePlan::etsi(), &key), []);
        let khz = tone(&[1000.0], 3000, &[500, 500], 0, 4000);
        assert_eq!(heard(TonePlan::etsi(), &khz), []);
        // Busy at the European cadence but US frequencies is not US busy.
        let odd = tone(&[425.0], 3000, &[500, 500], 0, 4000);
        assert_eq!(heard(TonePlan::nanp(), &odd), []);
    }

    #[test]
    fn a_tone_is_reported_once_while_it_lasts_and_again_after_it_stops() {
        let mut busy = vec![0i16; 8000 * 6];
        ToneGenerator::busy_us(2000).fill(&mut busy);
        let mut audio = busy.clone();
        audio.extend(vec![0i16; 8000 * 2]);
        audio.extend(&busy);
        assert_eq!(
            heard(TonePlan::nanp(), &audio),
            [ProgressTone::Busy, ProgressTone::Busy]
        );
    }
}
