//! In-band DTMF detection: Goertzel filters at the eight keypad
//! frequencies (ITU-T Q.23/Q.24), for lines that carry keys as tones in
//! the audio instead of RFC 4733 events.

use super::{DtmfDigit, DtmfEvent, COL_FREQS, KEYPAD, ROW_FREQS};
use crate::g711::ZERO_DBM0_AMPLITUDE;
use crate::goertzel;
use std::time::Duration;

/// Analysis window: 205 samples at 8 kHz (25.6 ms, ~39 Hz resolution).
const WINDOW: usize = 205;
/// Hop between windows: 10 ms.
const HOP: usize = 80;
/// Consecutive windows that must agree: with a 10 ms hop this demands a
/// tone of about 36 ms or more, so 40 ms tones are accepted.
const HITS_TO_REPORT: u32 = 2;
/// Consecutive windows without the digit before the same key can repeat.
const MISSES_TO_REARM: u32 = 2;
/// How far the first window that hears a tone starts, on average, after
/// the tone (a hit needs every quarter of the window loud), and the last
/// one ends before it: measured over every phase of the hop, the edges
/// are then within ±40 samples (5 ms).
const ONSET_LAG: u64 = 10;
const RELEASE_LEAD: u64 = 7;
// A key starts on its second hit at the earliest, so one window never both
// ends a key and starts the next.
const _: () = assert!(HITS_TO_REPORT > 1);

/// Settings of a [`DtmfDetector`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Sample rate of the input (8000).
    pub sample_rate: u32,
    /// Minimum amplitude of each of the two tones (of 32767); about −40 dBm0
    /// at the default.
    pub min_tone_amplitude: f32,
    /// Largest allowed high-group-over-low-group level, dB (normal twist).
    pub max_normal_twist_db: f32,
    /// Largest allowed low-group-over-high-group level, dB (reverse twist).
    pub max_reverse_twist_db: f32,
    /// Share of the window's energy the two tones must carry (speech has
    /// energy spread across the band, a key press does not).
    pub min_tone_share: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            sample_rate: 8000,
            min_tone_amplitude: 250.0,
            max_normal_twist_db: 8.0,
            max_reverse_twist_db: 4.0,
            min_tone_share: 0.6,
        }
    }
}

/// In-band DTMF detector: Goertzel filters at the eight DTMF frequencies
/// over sliding 205-sample windows, with energy, twist, peak-dominance and
/// duration checks, reporting each tone once as a key press (or as its
/// start and its end, [`DtmfDetector::process_events`]).
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    cfg: DetectorConfig,
    coeffs: [f32; 8],
    /// Ring of the last `WINDOW` samples; `head` is the oldest.
    window: [f32; WINDOW],
    head: usize,
    filled: usize,
    since_hop: usize,
    candidate: Option<char>,
    hits: u32,
    misses: u32,
    reported: bool,
    /// Samples fed so far: the clock of the keys' positions.
    position: u64,
    /// Start of the first window, and end of the last window, in which the
    /// candidate was heard: a hit needs the tone to fill its window, so
    /// these are the tone's edges to within half a hop.
    first_hit_start: u64,
    last_hit_end: u64,
    /// Volume of the candidate in −dBm0 (its weaker tone).
    volume: u8,
}

impl DtmfDetector {
    /// A detector with the given settings.
    pub fn new(config: DetectorConfig) -> Self {
        let mut coeffs = [0f32; 8];
        for (c, &f) in coeffs
            .iter_mut()
            .zip(ROW_FREQS.iter().chain(COL_FREQS.iter()))
        {
            *c = goertzel::coefficient(f, config.sample_rate);
        }
        DtmfDetector {
            cfg: config,
            coeffs,
            window: [0.0; WINDOW],
            head: 0,
            filled: 0,
            since_hop: 0,
            candidate: None,
            hits: 0,
            misses: 0,
            reported: false,
            position: 0,
            first_hit_start: 0,
            last_hit_end: 0,
            volume: 0,
        }
    }

    /// Feeds audio; calls `on_digit` once for each key press, when it has
    /// been heard for the minimum duration (the key went down; see
    /// [`DtmfDetector::process_events`] for its release too).
    pub fn process(&mut self, samples: &[i16], mut on_digit: impl FnMut(char)) {
        self.process_events(samples, |event| {
            if let DtmfEvent::Started(key) = event {
                on_digit(key.digit);
            }
        });
    }

    /// Feeds audio; reports each key press twice, as
    /// [`DtmfEvent::Started`] once it has been heard for the minimum
    /// duration, and as [`DtmfEvent::Ended`] once the tone has stopped (a
    /// few tens of ms after). The keys' [`DtmfDigit::timestamp`] is the
    /// position of the tone's start in the samples fed to the detector
    /// (see [`DtmfDetector::position`]), to within about 5 ms, and the
    /// release is as precise.
    pub fn process_events(&mut self, samples: &[i16], mut on_event: impl FnMut(DtmfEvent)) {
        for &s in samples {
            self.window[self.head] = f32::from(s);
            self.head = (self.head + 1) % WINDOW;
            self.filled = (self.filled + 1).min(WINDOW);
            self.since_hop += 1;
            self.position += 1;
            if self.filled == WINDOW && self.since_hop >= HOP {
                self.since_hop = 0;
                let d = self.analyse();
                if let Some(event) = self.track(d) {
                    on_event(event);
                }
            }
        }
    }

    /// Samples fed to the detector so far.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Ends the key still heard, if any, with its duration so far: the
    /// audio is ending (the call is closing) with the tone still on.
    pub fn close(&mut self) -> Option<DtmfEvent> {
        let ended = self.end_key();
        self.candidate = None;
        self.hits = 0;
        self.misses = 0;
        self.reported = false;
        ended
    }

    /// The key of the current candidate.
    fn key(&self) -> Option<DtmfDigit> {
        Some(DtmfDigit {
            digit: self.candidate?,
            timestamp: self.first_hit_start as u32,
            volume: self.volume,
        })
    }

    /// [`DtmfEvent::Ended`] for the reported candidate, if there is one.
    fn end_key(&self) -> Option<DtmfEvent> {
        if !self.reported {
            return None;
        }
        let samples = (self.last_hit_end + RELEASE_LEAD).saturating_sub(self.first_hit_start);
        let rate = u64::from(self.cfg.sample_rate.max(1));
        Some(DtmfEvent::Ended {
            key: self.key()?,
            duration: Duration::from_micros(samples * 1_000_000 / rate),
        })
    }

    /// Classifies the current window as a key (with the amplitude of its
    /// weaker tone) or nothing.
    fn analyse(&self) -> Option<(char, f32)> {
        // Unroll the ring into time order (on the stack, once per hop).
        let mut window = [0f32; WINDOW];
        for (i, w) in window.iter_mut().enumerate() {
            *w = self.window[(self.head + i) % WINDOW];
        }
        let mut p = [0f32; 8];
        for (pi, &c) in p.iter_mut().zip(&self.coeffs) {
            *pi = goertzel::power(&window, c);
        }
        let argmax = |v: &[f32]| {
            let mut best = 0;
            for i in 1..v.len() {
                if v[i] > v[best] {
                    best = i;
                }
            }
            best
        };
        let r = argmax(&p[..4]);
        let c = argmax(&p[4..]);
        let (pr, pc) = (p[r], p[4 + c]);
        // Power of a sine of amplitude A over N samples is (A·N/2)².
        let n = WINDOW as f32;
        let min_power = (self.cfg.min_tone_amplitude * n / 2.0).powi(2);
        if pr < min_power || pc < min_power {
            return None;
        }
        let db = |x: f32| 10f32.powf(x / 10.0);
        if pc > pr * db(self.cfg.max_normal_twist_db) || pr > pc * db(self.cfg.max_reverse_twist_db)
        {
            return None;
        }
        // Each peak must clearly dominate the other frequencies of its group.
        for (i, &q) in p[..4].iter().enumerate() {
            if i != r && q * db(6.0) > pr {
                return None;
            }
        }
        for (i, &q) in p[4..].iter().enumerate() {
            if i != c && q * db(6.0) > pc {
                return None;
            }
        }
        // The two tones must carry most of the energy: a sine's power maps
        // to energy as E = 2P/N.
        let energy: f32 = window.iter().map(|x| x * x).sum();
        if energy <= 0.0 || 2.0 * (pr + pc) / n < self.cfg.min_tone_share * energy {
            return None;
        }
        // The tone must fill the window: every quarter carries a fair share
        // of the energy. This makes "two consecutive windows" a real
        // duration check (about 35 ms and up) rather than two windows that
        // each catch the edge of a short blip.
        let mut quarters = [0f32; 4];
        for (i, x) in window.iter().enumerate() {
            quarters[(i * 4 / WINDOW).min(3)] += x * x;
        }
        let loudest = quarters.iter().fold(0f32, |a, &b| a.max(b));
        if quarters.iter().any(|&q| q < 0.35 * loudest) {
            return None;
        }
        Some((KEYPAD[r][c], 2.0 * pr.min(pc).sqrt() / n))
    }

    /// Duration and one-report-per-tone state machine: the key goes down
    /// on its [`HITS_TO_REPORT`]th window in a row, and up after
    /// [`MISSES_TO_REARM`] windows without it.
    fn track(&mut self, d: Option<(char, f32)>) -> Option<DtmfEvent> {
        let window_end = self.position;
        match d {
            Some((k, _)) if Some(k) == self.candidate => {
                self.hits += 1;
                self.misses = 0;
                self.last_hit_end = window_end;
            }
            Some((k, amplitude)) => {
                if self.candidate.is_some() && self.reported && self.misses < MISSES_TO_REARM {
                    // A different key without a gap: treat as a glitch of
                    // the current tone.
                    self.misses += 1;
                    return None;
                }
                let ended = self.end_key();
                self.candidate = Some(k);
                self.hits = 1;
                self.misses = 0;
                self.reported = false;
                self.first_hit_start = window_end.saturating_sub(WINDOW as u64 + ONSET_LAG);
                self.last_hit_end = window_end;
                let db = -20.0 * (amplitude / ZERO_DBM0_AMPLITUDE).log10();
                self.volume = db.round().clamp(0.0, 63.0) as u8;
                // Not reported yet: a key needs more than one hit.
                return ended;
            }
            None => {
                self.misses += 1;
                if self.misses >= MISSES_TO_REARM {
                    let ended = self.end_key();
                    self.candidate = None;
                    self.hits = 0;
                    self.reported = false;
                    return ended;
                }
                return None;
            }
        }
        if !self.reported && self.hits >= HITS_TO_REPORT {
            self.reported = true;
            return self.key().map(DtmfEvent::Started);
        }
        None
    }
}

impl Default for DtmfDetector {
    fn default() -> Self {
        DtmfDetector::new(DetectorConfig::default())
    }
}

// The caller ID interop test's own copy: one source for both.
#[cfg(test)]
#[path = "../../tests/common/noise.rs"]
mod noise;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::ToneGenerator;

    use super::noise::Noise;

    fn add_noise(samples: &mut [i16], rms: f64, noise: &mut Noise) {
        for s in samples.iter_mut() {
            let v = f64::from(*s) + noise.gaussian() * rms;
            *s = v.round().clamp(-32768.0, 32767.0) as i16;
        }
    }

    fn detect(samples: &[i16]) -> String {
        let mut det = DtmfDetector::default();
        let mut got = String::new();
        // Feed in 20 ms frames as the media path would.
        for chunk in samples.chunks(160) {
            det.process(chunk, |d| got.push(d));
        }
        got
    }

    fn keyed(digits: &str, tone_ms: usize, gap_ms: usize, amplitude: i16) -> Vec<i16> {
        let mut out = vec![0i16; 8 * gap_ms];
        for d in digits.chars() {
            let mut g = ToneGenerator::dtmf(d, amplitude).unwrap();
            let start = out.len();
            out.resize(start + 8 * tone_ms, 0);
            g.fill(&mut out[start..]);
            out.resize(out.len() + 8 * gap_ms, 0);
        }
        out
    }

    /// Every event of `samples` fed in 20 ms frames, with the number of
    /// samples fed when it was reported.
    fn events(det: &mut DtmfDetector, samples: &[i16]) -> Vec<(DtmfEvent, u64)> {
        let mut got = Vec::new();
        for chunk in samples.chunks(160) {
            let at = det.position() + chunk.len() as u64;
            det.process_events(chunk, |e| got.push((e, at)));
        }
        got
    }

    #[test]
    fn a_tone_is_reported_when_it_starts_and_when_it_stops_with_its_start_and_length() {
        let noise_rms = 500.0;
        // Tones of several lengths, starting at several phases of the
        // 10 ms analysis hop.
        for (tone_ms, lead) in [(40, 0), (60, 333), (100, 517), (640, 1000), (2000, 77)] {
            let mut samples = vec![0i16; lead];
            samples.extend(keyed("7", tone_ms, 100, 5000));
            add_noise(&mut samples, noise_rms, &mut Noise(lead as u64 + 1));
            let start = (lead + 800) as i64;
            let end = start + 8 * tone_ms as i64;
            let mut det = DtmfDetector::default();
            let got = events(&mut det, &samples);
            let case = format!("tone {tone_ms} ms after {lead} samples: {got:?}");
            let [(DtmfEvent::Started(key), down_at), (DtmfEvent::Ended { key: up, duration }, up_at)] =
                got[..]
            else {
                panic!("{case}");
            };
            assert_eq!((key.digit, up), ('7', key), "{case}");
            // Where the tone started and stopped, each to about 5 ms.
            assert!((i64::from(key.timestamp) - start).abs() <= 40, "{case}");
            let released = i64::from(key.timestamp) + duration.as_micros() as i64 * 8 / 1000;
            assert!((released - end).abs() <= 45, "{case}");
            // Reported as soon as confirmed (at most 40 ms into the tone,
            // plus the frame it falls in), not at its end; the end soon
            // after the tone stops.
            assert!((down_at as i64) <= start + 320 + 160, "{case}");
            assert!(
                (up_at as i64) > end && (up_at as i64) <= end + 480,
                "{case}"
            );
            // About −10 dBm0 per tone at an amplitude of 5000... of 22786.
            assert!((12..=14).contains(&key.volume), "{case}");
        }
    }

    #[test]
    fn a_tone_still_on_when_the_audio_ends_is_closed_with_its_length_so_far() {
        let mut det = DtmfDetector::default();
        let mut samples = vec![0i16; 800];
        samples.extend(keyed("#", 300, 0, 5000));
        let got = events(&mut det, &samples);
        assert!(
            matches!(got[..], [(DtmfEvent::Started(k), _)] if k.digit == '#'),
            "{got:?}"
        );
        let Some(DtmfEvent::Ended { key, duration }) = det.close() else {
            panic!("no key to close");
        };
        assert_eq!(key.digit, '#');
        assert!(
            (duration.as_secs_f64() * 1000.0 - 300.0).abs() <= 11.0,
            "{duration:?}"
        );
        assert_eq!(det.close(), None);
        // Nothing of it is left over for the next tone.
        let next = events(&mut det, &keyed("1", 100, 100, 5000));
        let keys: Vec<_> = next.iter().map(|(e, _)| e.key().digit).collect();
        assert_eq!(keys, ['1', '1'], "{next:?}");
    }

    #[test]
    fn detects_all_sixteen_keys_in_noise_exactly_once() {
        let digits = "0123456789*#ABCD";
        let amplitude = 5000i16;
        // Two tones of amplitude A carry A² of power; 20 dB SNR → noise
        // power A²/100.
        let noise_rms = f64::from(amplitude) / 10.0;
        for (tone_ms, gap_ms) in [(100, 100), (50, 50), (45, 60), (40, 40), (40, 47)] {
            let mut samples = keyed(digits, tone_ms, gap_ms, amplitude);
            add_noise(&mut samples, noise_rms, &mut Noise(0x1234_5678_9ABC_DEF1));
            assert_eq!(
                detect(&samples),
                digits,
                "tone {tone_ms} ms, gap {gap_ms} ms"
            );
        }
        // A long press is still one digit.
        let mut long = keyed("5", 2000, 100, amplitude);
        add_noise(&mut long, noise_rms, &mut Noise(7));
        assert_eq!(detect(&long), "5");
        // Quiet but legal level (about −30 dBm0) is detected too.
        assert_eq!(detect(&keyed("9#", 80, 80, 700)), "9#");
    }

    #[test]
    fn rejects_short_tones_twist_and_non_dtmf() {
        // 25 ms tones are below the 40 ms minimum.
        assert_eq!(detect(&keyed("123", 25, 60, 5000)), "");
        // Reverse twist of 6 dB (low group louder) exceeds the 4 dB limit,
        // 3 dB is within it.
        let twisted = |row_amp: f32, col_amp: f32| {
            let mut v = vec![0i16; 8000 / 5];
            for (i, s) in v.iter_mut().enumerate() {
                let t = i as f32 / 8000.0;
                let x = row_amp * (std::f32::consts::TAU * 770.0 * t).sin()
                    + col_amp * (std::f32::consts::TAU * 1336.0 * t).sin();
                *s = x as i16;
            }
            detect(&v)
        };
        assert_eq!(twisted(4000.0, 4000.0 / 10f32.powf(6.0 / 20.0)), "");
        assert_eq!(twisted(4000.0, 4000.0 / 10f32.powf(3.0 / 20.0)), "5");
        // Normal twist (high group louder): 10 dB rejected, 6 dB accepted.
        assert_eq!(twisted(4000.0 / 10f32.powf(10.0 / 20.0), 4000.0), "");
        assert_eq!(twisted(4000.0 / 10f32.powf(6.0 / 20.0), 4000.0), "5");
        // Too quiet.
        assert_eq!(detect(&keyed("5", 200, 50, 100)), "");
    }

    #[test]
    fn silence_noise_speechlike_and_call_progress_tones_give_no_digits() {
        assert_eq!(detect(&[0i16; 16000]), "");
        let mut noise = vec![0i16; 8000 * 5];
        add_noise(&mut noise, 3000.0, &mut Noise(42));
        assert_eq!(detect(&noise), "");
        // Speech-like: a harmonic-rich 120 Hz buzz with a slowly moving
        // formant, amplitude-modulated at a syllable rate.
        let speech: Vec<i16> = (0..8000 * 5)
            .map(|i| {
                let t = i as f64 / 8000.0;
                let f0 = 120.0 + 20.0 * (t * 1.3).sin();
                let formant = 700.0 + 500.0 * (t * 0.7).sin();
                let mut v = 0.0;
                for h in 1..30 {
                    let f = f0 * f64::from(h);
                    let gain = 1.0 / (1.0 + ((f - formant) / 300.0).powi(2));
                    v += gain * (std::f64::consts::TAU * f * t).sin();
                }
                let env = 0.5 + 0.5 * (std::f64::consts::TAU * 4.0 * t).sin();
                (v * env * 3000.0).clamp(-32768.0, 32767.0) as i16
            })
            .collect();
        assert_eq!(detect(&speech), "");
        let mut ring = vec![0i16; 8000 * 6];
        ToneGenerator::ringback_us(4000).fill(&mut ring);
        assert_eq!(detect(&ring), "");
        let mut busy = vec![0i16; 8000 * 2];
        ToneGenerator::busy_us(4000).fill(&mut busy);
        assert_eq!(detect(&busy), "");
    }
}
