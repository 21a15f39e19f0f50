//! DTMF and call-progress tones.
//!
//! Callers talking to an AI agent still press keys. Keys arrive either as
//! RFC 4733 telephone-event packets ([`TelephoneEvent`], [`DtmfReceiver`],
//! [`DtmfSender`]) or, on lines without it, as in-band tones in the audio
//! ([`DtmfDetector`]). [`ToneGenerator`] produces DTMF digits and the US
//! ringback and busy tones we play towards the caller.

use std::time::Duration;
use thiserror::Error;

/// Why a telephone-event payload was rejected.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum DtmfError {
    /// The payload is shorter than the 4-byte event block.
    #[error("telephone-event payload of {0} bytes, need 4")]
    TooShort(usize),
}

/// The DTMF key for an RFC 4733 event code (0–15), or `None` for other
/// events (flash, modem tones ...).
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// The RFC 4733 event code for a DTMF key (case-insensitive A–D).
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        'a'..='d' => Some(digit as u8 - b'a' + 12),
        _ => None,
    }
}

/// One RFC 4733 event block: event code, end bit, volume and duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0–9, 10 `*`, 11 `#`, 12–15 A–D for DTMF).
    pub event: u8,
    /// E bit: this packet reports the end of the event.
    pub end: bool,
    /// Power level in −dBm0 (0–63; larger is quieter).
    pub volume: u8,
    /// Duration so far, in timestamp units from the event's RTP timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first event block of a telephone-event payload.
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let b = payload.get(..4).ok_or(DtmfError::TooShort(payload.len()))?;
        Ok(TelephoneEvent {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// Encodes the event block (R bit zero).
    pub fn to_bytes(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }

    /// The DTMF key of this event, if it is one.
    pub fn digit(&self) -> Option<char> {
        event_to_digit(self.event)
    }
}

/// A key press reported by [`DtmfReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    /// The key: `0`–`9`, `*`, `#`, `A`–`D`.
    pub digit: char,
    /// The RTP timestamp identifying the event.
    pub timestamp: u32,
    /// Volume in −dBm0 from the first packet seen.
    pub volume: u8,
}

/// How many recent events the receiver remembers to drop retransmissions.
const RECENT_EVENTS: usize = 4;

/// Turns a stream of RFC 4733 packets into key presses, each exactly once.
///
/// An event is identified by its RTP timestamp and event code, so the
/// receiver reports a key on the first packet it sees of a new event. That
/// makes it indifferent to a missing marker bit, to the three redundant end
/// packets, to lost end packets, and to a lost first packet. A small memory
/// of recent events drops stragglers from an earlier event that arrive
/// after a newer one has started.
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    recent: [Option<(u32, u8)>; RECENT_EVENTS],
    next: usize,
    malformed: u64,
}

impl DtmfReceiver {
    /// A receiver with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Offers the payload of one telephone-event packet with its RTP
    /// timestamp; returns the key when this packet starts a new event.
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Option<DtmfDigit> {
        let ev = match TelephoneEvent::parse(payload) {
            Ok(ev) => ev,
            Err(_) => {
                self.malformed += 1;
                return None;
            }
        };
        let key = (timestamp, ev.event);
        if self.recent.contains(&Some(key)) {
            return None;
        }
        self.recent[self.next] = Some(key);
        self.next = (self.next + 1) % RECENT_EVENTS;
        let digit = ev.digit()?;
        Some(DtmfDigit {
            digit,
            timestamp,
            volume: ev.volume,
        })
    }

    /// Payloads too short to hold an event block.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }
}

/// One packet of an outgoing telephone event, ready for an RTP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    /// Marker bit: set on the first packet of the event only.
    pub marker: bool,
    /// RTP timestamp: the event start, identical for all its packets.
    pub timestamp: u32,
    /// When to send it, relative to the first packet.
    pub send_after: Duration,
    /// The 4-byte payload.
    pub payload: [u8; 4],
}

/// Generates the RFC 4733 packet sequence for a key press: a first packet
/// with the marker bit, an update every `interval` with the growing
/// duration, and three end packets with the final duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfSender {
    /// RTP clock rate of the telephone-event payload type (8000 typically).
    pub clock_rate: u32,
    /// Interval between update packets (50 ms).
    pub interval: Duration,
    /// Volume in −dBm0 (10 is typical).
    pub volume: u8,
}

impl Default for DtmfSender {
    fn default() -> Self {
        DtmfSender {
            clock_rate: 8000,
            interval: Duration::from_millis(50),
            volume: 10,
        }
    }
}

impl DtmfSender {
    /// The packets for `digit` lasting `length`, starting at `timestamp`.
    /// `None` for a character that is not a DTMF key.
    pub fn packets(
        &self,
        digit: char,
        timestamp: u32,
        length: Duration,
    ) -> Option<impl Iterator<Item = EventPacket>> {
        let event = digit_to_event(digit)?;
        let units =
            |d: Duration| -> u64 { d.as_micros() as u64 * u64::from(self.clock_rate) / 1_000_000 };
        // Duration is 16 bits; a longer press would need segments, which
        // nobody sends for a key press, so clamp.
        let total = units(length).clamp(1, u64::from(u16::MAX));
        let step = units(self.interval).max(1);
        let updates = total.div_ceil(step);
        let interval = self.interval;
        let volume = self.volume;
        Some((0..updates + 3).map(move |i| {
            let (end, duration, after) = if i < updates {
                (false, ((i + 1) * step).min(total), interval * i as u32)
            } else {
                // End packets go out when the key is released, 20 ms apart.
                let released = length.max(interval * (updates as u32 - 1));
                let k = (i - updates) as u32;
                (true, total, released + Duration::from_millis(20) * k)
            };
            EventPacket {
                marker: i == 0,
                timestamp,
                send_after: after,
                payload: TelephoneEvent {
                    event,
                    end,
                    volume,
                    duration: duration as u16,
                }
                .to_bytes(),
            }
        }))
    }
}

/// DTMF row (low group) frequencies in Hz.
pub const ROW_FREQS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// DTMF column (high group) frequencies in Hz.
pub const COL_FREQS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// The (row, column) frequencies of a DTMF key.
pub fn digit_frequencies(digit: char) -> Option<(f32, f32)> {
    let d = digit.to_ascii_uppercase();
    for (r, row) in KEYPAD.iter().enumerate() {
        for (c, &k) in row.iter().enumerate() {
            if k == d {
                return Some((ROW_FREQS[r], COL_FREQS[c]));
            }
        }
    }
    None
}

/// Analysis window: 205 samples at 8 kHz (25.6 ms, ~39 Hz resolution).
const WINDOW: usize = 205;
/// Hop between windows: 10 ms.
const HOP: usize = 80;
/// Consecutive windows that must agree: with a 10 ms hop this demands a
/// tone of about 36 ms or more, so 40 ms tones are accepted.
const HITS_TO_REPORT: u32 = 2;
/// Consecutive windows without the digit before the same key can repeat.
const MISSES_TO_REARM: u32 = 2;

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
/// duration checks, reporting one digit per tone.
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
}

impl DtmfDetector {
    /// A detector with the given settings.
    pub fn new(config: DetectorConfig) -> Self {
        let mut coeffs = [0f32; 8];
        let sr = config.sample_rate.max(1) as f32;
        for (c, f) in coeffs
            .iter_mut()
            .zip(ROW_FREQS.iter().chain(COL_FREQS.iter()))
        {
            *c = 2.0 * (2.0 * std::f32::consts::PI * f / sr).cos();
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
        }
    }

    /// Feeds audio; calls `on_digit` once for each key press completed
    /// (i.e. confirmed for the minimum duration) within these samples.
    pub fn process(&mut self, samples: &[i16], mut on_digit: impl FnMut(char)) {
        for &s in samples {
            self.window[self.head] = f32::from(s);
            self.head = (self.head + 1) % WINDOW;
            self.filled = (self.filled + 1).min(WINDOW);
            self.since_hop += 1;
            if self.filled == WINDOW && self.since_hop >= HOP {
                self.since_hop = 0;
                let d = self.analyse();
                if let Some(digit) = self.track(d) {
                    on_digit(digit);
                }
            }
        }
    }

    fn goertzel(window: &[f32; WINDOW], coeff: f32) -> f32 {
        let (mut s1, mut s2) = (0f32, 0f32);
        for &x in window {
            let s0 = x + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        s1 * s1 + s2 * s2 - coeff * s1 * s2
    }

    /// Classifies the current window as a key or nothing.
    fn analyse(&self) -> Option<char> {
        // Unroll the ring into time order (on the stack, once per hop).
        let mut window = [0f32; WINDOW];
        for (i, w) in window.iter_mut().enumerate() {
            *w = self.window[(self.head + i) % WINDOW];
        }
        let mut p = [0f32; 8];
        for (pi, &c) in p.iter_mut().zip(&self.coeffs) {
            *pi = Self::goertzel(&window, c);
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
        Some(KEYPAD[r][c])
    }

    /// Duration and one-report-per-tone state machine.
    fn track(&mut self, d: Option<char>) -> Option<char> {
        match d {
            Some(k) if Some(k) == self.candidate => {
                self.hits += 1;
                self.misses = 0;
            }
            Some(k) => {
                if self.candidate.is_some() && self.reported && self.misses < MISSES_TO_REARM {
                    // A different key without a gap: treat as a glitch of
                    // the current tone.
                    self.misses += 1;
                    return None;
                }
                self.candidate = Some(k);
                self.hits = 1;
                self.misses = 0;
                self.reported = false;
            }
            None => {
                self.misses += 1;
                if self.misses >= MISSES_TO_REARM {
                    self.candidate = None;
                    self.hits = 0;
                    self.reported = false;
                }
                return None;
            }
        }
        if !self.reported && self.hits >= HITS_TO_REPORT {
            self.reported = true;
            return self.candidate;
        }
        None
    }
}

impl Default for DtmfDetector {
    fn default() -> Self {
        DtmfDetector::new(DetectorConfig::default())
    }
}

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
    use crate::rtp::RtpPacket;

    #[test]
    fn event_payload_round_trip_and_digits() {
        let ev = TelephoneEvent::parse(&[0x0B, 0x8A, 0x08, 0xC0]).unwrap();
        assert_eq!(
            ev,
            TelephoneEvent {
                event: 11,
                end: true,
                volume: 10,
                duration: 2240
            }
        );
        assert_eq!(ev.digit(), Some('#'));
        assert_eq!(ev.to_bytes(), [0x0B, 0x8A, 0x08, 0xC0]);
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(DtmfError::TooShort(3))
        );
        for (i, d) in "0123456789*#ABCD".chars().enumerate() {
            assert_eq!(event_to_digit(i as u8), Some(d));
            assert_eq!(digit_to_event(d), Some(i as u8));
        }
        assert_eq!(digit_to_event('b'), Some(13));
        assert_eq!(event_to_digit(16), None);
        assert_eq!(digit_to_event('x'), None);
    }

    #[test]
    fn sender_sequence_shape() {
        let s = DtmfSender::default();
        let pkts: Vec<_> = s
            .packets('5', 1234, Duration::from_millis(160))
            .unwrap()
            .collect();
        // 160 ms at 50 ms updates: 4 updates (400, 800, 1200, 1280) + 3 ends.
        assert_eq!(pkts.len(), 7);
        assert!(pkts[0].marker);
        assert!(pkts[1..].iter().all(|p| !p.marker));
        assert!(pkts.iter().all(|p| p.timestamp == 1234));
        let evs: Vec<_> = pkts
            .iter()
            .map(|p| TelephoneEvent::parse(&p.payload).unwrap())
            .collect();
        let durs: Vec<u16> = evs.iter().map(|e| e.duration).collect();
        assert_eq!(durs, vec![400, 800, 1200, 1280, 1280, 1280, 1280]);
        assert_eq!(evs.iter().filter(|e| e.end).count(), 3);
        assert!(evs[..4]
            .iter()
            .all(|e| !e.end && e.event == 5 && e.volume == 10));
        let times: Vec<u128> = pkts.iter().map(|p| p.send_after.as_millis()).collect();
        assert_eq!(times[..4], [0, 50, 100, 150]);
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(s.packets('x', 0, Duration::from_millis(100)).is_none());
    }

    #[test]
    fn receiver_reports_each_event_once() {
        let sender = DtmfSender::default();
        let mut rx = DtmfReceiver::new();
        let mut got = String::new();
        let mut ts = 10_000u32;
        for d in "0123456789*#ABCD".chars() {
            for p in sender.packets(d, ts, Duration::from_millis(120)).unwrap() {
                if let Some(k) = rx.on_packet(p.timestamp, &p.payload) {
                    got.push(k.digit);
                }
            }
            ts = ts.wrapping_add(8000);
        }
        assert_eq!(got, "0123456789*#ABCD");
    }

    #[test]
    fn receiver_tolerates_loss_missing_marker_and_stragglers() {
        let sender = DtmfSender::default();
        let mut rx = DtmfReceiver::new();
        let mut got = Vec::new();
        // "1": first packet (with marker) lost; "1" again: all end packets
        // lost; "2": only end packets arrive; then a straggling end packet of
        // the first "1" shows up late.
        let one_a: Vec<_> = sender
            .packets('1', 100, Duration::from_millis(200))
            .unwrap()
            .collect();
        let one_b: Vec<_> = sender
            .packets('1', 5000, Duration::from_millis(200))
            .unwrap()
            .collect();
        let two: Vec<_> = sender
            .packets('2', 9000, Duration::from_millis(200))
            .unwrap()
            .collect();
        let mut feed = Vec::new();
        feed.extend(one_a[1..].iter().copied());
        feed.extend(
            one_b
                .iter()
                .copied()
                .filter(|p| TelephoneEvent::parse(&p.payload).is_ok_and(|e| !e.end)),
        );
        feed.extend(
            two.iter()
                .copied()
                .filter(|p| TelephoneEvent::parse(&p.payload).is_ok_and(|e| e.end)),
        );
        feed.push(one_a[one_a.len() - 1]);
        for p in feed {
            if let Some(k) = rx.on_packet(p.timestamp, &p.payload) {
                got.push(k);
            }
        }
        let digits: String = got.iter().map(|d| d.digit).collect();
        assert_eq!(digits, "112");
        assert_eq!(got[1].timestamp, 5000);
        assert_eq!(rx.on_packet(1, &[5, 0]), None);
        assert_eq!(rx.malformed(), 1);
    }

    /// Deterministic white Gaussian noise (xorshift + Box–Muller).
    struct Noise(u64);
    impl Noise {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn gaussian(&mut self) -> f64 {
            let (u1, u2) = (self.uniform(), self.uniform());
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        }
    }

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

    /// Minimal pcap reader: classic pcap (either byte order, µs or ns),
    /// Ethernet (with optional 802.1Q tag) / IPv4 / UDP. Returns UDP payloads.
    fn pcap_udp_payloads(data: &[u8]) -> Vec<Vec<u8>> {
        assert!(data.len() >= 24, "pcap too short");
        let magic = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        let le = match magic {
            0xA1B2_C3D4 | 0xA1B2_3C4D => true,
            0xD4C3_B2A1 | 0x4D3C_B2A1 => false,
            m => panic!("not a pcap file (magic {m:#x})"),
        };
        let u32_at = |at: usize| {
            let b = [data[at], data[at + 1], data[at + 2], data[at + 3]];
            if le {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            }
        };
        assert_eq!(u32_at(20), 1, "only Ethernet link type is supported");
        let mut out = Vec::new();
        let mut at = 24;
        while at + 16 <= data.len() {
            let incl = u32_at(at + 8) as usize;
            let frame = &data[at + 16..(at + 16 + incl).min(data.len())];
            at += 16 + incl;
            let mut eth = 14;
            if frame.len() < eth {
                continue;
            }
            let mut ethertype = u16::from_be_bytes([frame[12], frame[13]]);
            if ethertype == 0x8100 && frame.len() >= 18 {
                ethertype = u16::from_be_bytes([frame[16], frame[17]]);
                eth = 18;
            }
            if ethertype != 0x0800 || frame.len() < eth + 20 {
                continue;
            }
            let ip = &frame[eth..];
            let ihl = usize::from(ip[0] & 0x0F) * 4;
            if ip[0] >> 4 != 4 || ip[9] != 17 || ip.len() < ihl + 8 {
                continue;
            }
            let udp = &ip[ihl..];
            let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
            let end = udp_len.clamp(8, udp.len());
            out.push(udp[8..end].to_vec());
        }
        out
    }

    #[test]
    fn sipp_rfc2833_pcaps_yield_each_digit_once() {
        let dirs = [
            "/usr/share/sip-tester",
            "/usr/share/sip-tester/pcap",
            "/usr/share/doc/sip-tester/pcap",
        ];
        let files = [
            ("0", '0'),
            ("1", '1'),
            ("2", '2'),
            ("3", '3'),
            ("4", '4'),
            ("5", '5'),
            ("6", '6'),
            ("7", '7'),
            ("8", '8'),
            ("9", '9'),
            ("star", '*'),
            ("pound", '#'),
        ];
        let dir = dirs
            .iter()
            .find(|d| std::path::Path::new(d).join("dtmf_2833_0.pcap").is_file())
            .unwrap_or_else(|| {
                panic!(
                    "SIPp's RFC 2833 pcaps (dtmf_2833_*.pcap) were not found in {dirs:?}; \
                     install the Debian package sip-tester (`apt-get install sip-tester`, \
                     which scripts/test does) and rerun"
                )
            });
        let mut all = String::new();
        let mut rx_all = DtmfReceiver::new();
        for (name, digit) in files {
            let path = std::path::Path::new(dir).join(format!("dtmf_2833_{name}.pcap"));
            let data =
                std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            let payloads = pcap_udp_payloads(&data);
            assert!(
                payloads.len() >= 4,
                "{}: only {} UDP packets",
                path.display(),
                payloads.len()
            );
            let mut rx = DtmfReceiver::new();
            let mut got = String::new();
            let mut events = 0;
            for udp in &payloads {
                let rtp =
                    RtpPacket::parse(udp).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                if rtp.payload_type() != 101 {
                    continue;
                }
                events += 1;
                if let Some(d) = rx.on_packet(rtp.timestamp(), rtp.payload()) {
                    got.push(d.digit);
                }
                if let Some(d) = rx_all.on_packet(rtp.timestamp(), rtp.payload()) {
                    all.push(d.digit);
                }
            }
            assert!(
                events >= 4,
                "{}: {events} telephone-event packets",
                path.display()
            );
            assert_eq!(got, digit.to_string(), "{}", path.display());
        }
        // Fed back to back into one receiver, still one digit per file.
        assert_eq!(all, "0123456789*#");
    }
}
