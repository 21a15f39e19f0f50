//! 1200 baud FSK as caller ID uses it: Bell 202 (GR-30-CORE) and ITU-T
//! V.23 (ETSI EN 300 659-1), demodulated with two sliding one-bit
//! correlators, framed as asynchronous bytes (a start bit, eight data bits
//! least significant first, a stop bit), and modulated back for tests and
//! the simulated line.

use super::message::{CallerIdError, CallerIdMessage, MDMF_CALL_SETUP, SDMF_CALLER_ID};
use crate::g711::dbm0_amplitude;
use std::collections::VecDeque;

const SAMPLE_RATE: f64 = 8000.0;
const BAUD: f64 = 1200.0;
/// Samples per bit: 6⅔ at 8 kHz.
const BIT: f64 = SAMPLE_RATE / BAUD;
/// Correlator length: one bit, rounded.
const WINDOW: usize = 7;
/// Mark bits a message type byte must follow: the mark signal after the
/// channel seizure is 80 to 180 bits, and the seizure's own alternating
/// bits never give this many.
const MARK_BEFORE_MESSAGE: f64 = 10.0;
/// Carrier hysteresis, in samples: up after about one bit of FSK, down
/// after about three bits without it.
const CARRIER_UP: u32 = 8;
const CARRIER_DOWN: u32 = 20;
/// Samples the carrier detector averages over (about four bits).
const AVERAGE: f64 = 24.0;
/// Channel seizure and mark signal the encoder sends (GR-30-CORE §3.2,
/// EN 300 659-1 §6.1.2): 300 alternating bits, then 180 mark bits.
const SEIZURE_BITS: usize = 300;
const MARK_BITS: usize = 180;
const POSTAMBLE_BITS: usize = 10;

/// The FSK modem a caller ID burst uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modulation {
    /// Bell 202: mark 1200 Hz, space 2200 Hz (North America, Telcordia
    /// GR-30-CORE).
    Bell202,
    /// ITU-T V.23: mark 1300 Hz, space 2100 Hz (ETSI EN 300 659, UK BT
    /// SIN 227, most of Europe).
    V23,
}

impl Modulation {
    /// The mark (binary 1) frequency in Hz.
    pub const fn mark_hz(self) -> f32 {
        match self {
            Modulation::Bell202 => 1200.0,
            Modulation::V23 => 1300.0,
        }
    }

    /// The space (binary 0) frequency in Hz.
    pub const fn space_hz(self) -> f32 {
        match self {
            Modulation::Bell202 => 2200.0,
            Modulation::V23 => 2100.0,
        }
    }
}

/// One sliding correlator: the complex sum of the last [`WINDOW`] samples
/// against a tone.
#[derive(Debug, Clone)]
struct Correlator {
    phase: f64,
    step: f64,
    i: [f64; WINDOW],
    q: [f64; WINDOW],
    sum_i: f64,
    sum_q: f64,
}

impl Correlator {
    fn new(freq: f32) -> Self {
        Correlator {
            phase: 0.0,
            step: std::f64::consts::TAU * f64::from(freq) / SAMPLE_RATE,
            i: [0.0; WINDOW],
            q: [0.0; WINDOW],
            sum_i: 0.0,
            sum_q: 0.0,
        }
    }

    /// Adds `x` at ring slot `slot` and returns the window's power.
    fn push(&mut self, x: f64, slot: usize) -> f64 {
        let (i, q) = (x * self.phase.cos(), x * self.phase.sin());
        self.phase = (self.phase + self.step) % std::f64::consts::TAU;
        self.sum_i += i - self.i[slot];
        self.sum_q += q - self.q[slot];
        self.i[slot] = i;
        self.q[slot] = q;
        self.sum_i * self.sum_i + self.sum_q * self.sum_q
    }
}

/// What the bit framer hands the message layer.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Framed {
    /// A byte, whether its stop bit was there, and how many mark bits came
    /// before its start bit.
    Byte {
        value: u8,
        stop_bit: bool,
        idle_bits: f64,
    },
    /// The carrier went away.
    CarrierLost,
}

/// Demodulator and asynchronous framer.
#[derive(Debug, Clone)]
struct FskDemodulator {
    mark: Correlator,
    space: Correlator,
    energy: [f64; WINDOW],
    energy_sum: f64,
    slot: usize,
    /// Energy a window of the tones must reach for the carrier to count.
    min_energy: f64,
    /// Moving averages of the window energy the two tones carry and of
    /// the window's whole energy.
    tone_energy: f64,
    line_energy: f64,
    carrier: bool,
    carrier_run: u32,
    /// Samples since the start.
    n: u64,
    /// Consecutive mark samples while idle.
    mark_run: u32,
    /// Consecutive space samples while idle.
    space_run: u32,
    /// The discriminator's last three values.
    recent: [f64; 3],
    /// The discriminator's last value.
    previous: f64,
    /// Where the start bit being confirmed began.
    start: f64,
    /// The byte being received: the sample at which to take its next bit,
    /// that bit's index (0 start, 1..=8 data, 9 stop) and the bits so far.
    byte: Option<(f64, u8, u8, f64)>,
}

impl FskDemodulator {
    fn new(modulation: Modulation, min_level_dbm0: f32) -> Self {
        let a = f64::from(dbm0_amplitude(min_level_dbm0));
        FskDemodulator {
            mark: Correlator::new(modulation.mark_hz()),
            space: Correlator::new(modulation.space_hz()),
            energy: [0.0; WINDOW],
            energy_sum: 0.0,
            slot: 0,
            min_energy: a * a * WINDOW as f64 / 2.0,
            tone_energy: 0.0,
            line_energy: 0.0,
            carrier: false,
            carrier_run: 0,
            n: 0,
            mark_run: 0,
            space_run: 0,
            recent: [0.0; 3],
            previous: 0.0,
            start: 0.0,
            byte: None,
        }
    }

    fn process(&mut self, samples: &[i16], mut out: impl FnMut(Framed)) {
        for &s in samples {
            let x = f64::from(s);
            let slot = self.slot;
            self.slot = (slot + 1) % WINDOW;
            self.energy_sum += x * x - self.energy[slot];
            self.energy[slot] = x * x;
            let pm = self.mark.push(x, slot);
            let ps = self.space.push(x, slot);
            self.n += 1;
            // A sine's window power maps to its energy as E = 2P/N; the
            // two tones, averaged over a few bits, must carry most of the
            // energy and be loud enough. (White noise puts about 2/N of its
            // energy in each correlator, 57 % in the two together.)
            self.tone_energy += (2.0 * (pm + ps) / WINDOW as f64 - self.tone_energy) / AVERAGE;
            self.line_energy += (self.energy_sum - self.line_energy) / AVERAGE;
            let present = self.tone_energy >= self.min_energy
                && self.tone_energy >= 0.8 * self.line_energy.max(1.0);
            if present == self.carrier {
                self.carrier_run = 0;
            } else {
                self.carrier_run += 1;
                let needed = if present { CARRIER_UP } else { CARRIER_DOWN };
                if self.carrier_run >= needed {
                    self.carrier = present;
                    self.carrier_run = 0;
                    self.mark_run = 0;
                    self.space_run = 0;
                    self.byte = None;
                    if !present {
                        out(Framed::CarrierLost);
                    }
                }
            }
            if !self.carrier {
                continue;
            }
            // The normalised discriminator, smoothed over three samples
            // for the bit decisions: +1 all mark, −1 all space.
            let d = (pm - ps) / (pm + ps).max(1e-9);
            self.recent[self.n as usize % 3] = d;
            let now = self.n as f64;
            // Where the discriminator crossed zero, between the last sample
            // and this one: the window is then half into a new bit.
            let crossed = (d > 0.0) != (self.previous > 0.0);
            let crossing = if crossed {
                now - 1.0 + self.previous / (self.previous - d)
            } else {
                now
            };
            self.previous = d;
            // Every transition inside a byte re-times the bits still to come
            // (half way, as noise moves a crossing too), so the sampling
            // instants follow the sender's clock, not the start bit alone.
            if let Some((at, k, value, idle_bits)) = self.byte {
                let expected = at - BIT + WINDOW as f64 / 2.0;
                if crossed && k > 0 && (crossing - expected).abs() < 2.0 {
                    let at = at + (crossing - expected) / 2.0;
                    self.byte = Some((at, k, value, idle_bits));
                }
            }
            match self.byte {
                None if d > 0.0 => {
                    self.mark_run += 1;
                    self.space_run = 0;
                }
                None => {
                    // A start bit once two samples in a row lean to space
                    // (one is a noise glitch). The window was half into the
                    // start bit at the crossing: it lines up with bit k
                    // (k = 0 the start bit) one bit length, less half a
                    // window, after that, k bits on.
                    if self.space_run == 0 {
                        self.start = crossing;
                    }
                    self.space_run += 1;
                    if self.space_run >= 2 {
                        let first = self.start + BIT - WINDOW as f64 / 2.0;
                        self.byte = Some((first, 0, 0, f64::from(self.mark_run) / BIT));
                        self.space_run = 0;
                    }
                }
                // Decided a sample late, on the three samples around the
                // instant the window lines up with the bit.
                Some((at, k, value, idle_bits)) if now >= at + 1.0 => {
                    let bit = self.recent.iter().sum::<f64>() > 0.0;
                    match k {
                        0 if bit => {
                            // Not a start bit after all: a glitch in the mark.
                            self.byte = None;
                            self.mark_run += (BIT as u32).max(1);
                            continue;
                        }
                        0 => {}
                        1..=8 => {
                            let value = value | (u8::from(bit) << (k - 1));
                            self.byte = Some((at + BIT, k + 1, value, idle_bits));
                            continue;
                        }
                        _ => {
                            out(Framed::Byte {
                                value,
                                stop_bit: bit,
                                idle_bits,
                            });
                            self.byte = None;
                            self.mark_run = 0;
                            continue;
                        }
                    }
                    self.byte = Some((at + BIT, k + 1, value, idle_bits));
                }
                Some(_) => {}
            }
        }
    }
}

/// Streaming FSK caller ID receiver: feed it the line's audio (8 kHz, in
/// frames of any length, 20 ms as it comes off the line) and it hands back
/// each SDMF or MDMF caller ID message once its checksum byte has arrived.
///
/// A burst is the channel seizure (alternating bits), the mark signal, and
/// the message's bytes; the receiver takes a message type byte only after
/// at least ten mark bits, so the seizure never starts a message, and a
/// message cut off by the end of the carrier is reported as
/// [`CallerIdError::Truncated`].
///
/// ```
/// use rtp_media::callerid::{encode, CallerIdMessage, CallerIdReceiver, MessageFormat, Modulation};
///
/// let sent = CallerIdMessage {
///     number: Some("5551234".into()),
///     name: Some("SMITH JOE".into()),
///     ..Default::default()
/// };
/// let audio = encode(&sent, MessageFormat::Mdmf, Modulation::Bell202, -13.0).unwrap();
/// let mut rx = CallerIdReceiver::new(Modulation::Bell202);
/// let got = audio.chunks(160).find_map(|frame| rx.feed(frame)).unwrap().unwrap();
/// assert_eq!(got.number.as_deref(), Some("5551234"));
/// ```
#[derive(Debug, Clone)]
pub struct CallerIdReceiver {
    modulation: Modulation,
    min_level_dbm0: f32,
    demod: FskDemodulator,
    /// The message being received (type byte first), if any.
    message: Option<Vec<u8>>,
    results: VecDeque<Result<CallerIdMessage, CallerIdError>>,
}

/// The quietest burst the receiver takes by default: −48 dBm0, below the
/// −40 dBm0 a line may deliver (EN 300 659-1 allows −40 dBm0 at the
/// terminal).
pub const DEFAULT_MIN_LEVEL_DBM0: f32 = -48.0;

impl CallerIdReceiver {
    /// A receiver for bursts in `modulation`, taking signals down to
    /// [`DEFAULT_MIN_LEVEL_DBM0`].
    pub fn new(modulation: Modulation) -> Self {
        Self::with_min_level(modulation, DEFAULT_MIN_LEVEL_DBM0)
    }

    /// A receiver that ignores FSK quieter than `min_level_dbm0`.
    pub fn with_min_level(modulation: Modulation, min_level_dbm0: f32) -> Self {
        CallerIdReceiver {
            modulation,
            min_level_dbm0,
            demod: FskDemodulator::new(modulation, min_level_dbm0),
            message: None,
            results: VecDeque::new(),
        }
    }

    /// The modem this receiver listens for.
    pub fn modulation(&self) -> Modulation {
        self.modulation
    }

    /// Feeds audio; returns a message (or why the one being received was
    /// lost) once it is complete. Should one frame complete two, the second
    /// comes with the next call.
    pub fn feed(&mut self, samples: &[i16]) -> Option<Result<CallerIdMessage, CallerIdError>> {
        let (message, results) = (&mut self.message, &mut self.results);
        self.demod.process(samples, |framed| match framed {
            Framed::CarrierLost => {
                if let Some(bytes) = message.take() {
                    let expected = bytes.get(1).map_or(3, |&len| usize::from(len) + 3);
                    results.push_back(Err(CallerIdError::Truncated {
                        expected,
                        received: bytes.len(),
                    }));
                }
            }
            Framed::Byte {
                value,
                stop_bit,
                idle_bits,
            } => match message {
                None => {
                    if stop_bit
                        && idle_bits >= MARK_BEFORE_MESSAGE
                        && (value == SDMF_CALLER_ID || value == MDMF_CALL_SETUP)
                    {
                        *message = Some(vec![value]);
                    }
                }
                Some(bytes) => {
                    if !stop_bit {
                        results.push_back(Err(CallerIdError::Framing { byte: bytes.len() }));
                        *message = None;
                        return;
                    }
                    bytes.push(value);
                    if bytes.len() >= 3 && bytes.len() == usize::from(bytes[1]) + 3 {
                        results.push_back(CallerIdMessage::parse(bytes));
                        *message = None;
                    }
                }
            },
        });
        self.results.pop_front()
    }

    /// Forgets the burst in progress (e.g. when the line is answered).
    pub fn reset(&mut self) {
        *self = Self::with_min_level(self.modulation, self.min_level_dbm0);
    }
}

/// Modulates whole caller ID message bytes (type, length, body, checksum)
/// as a burst at `level_dbm0`: channel seizure, mark signal, the bytes as
/// asynchronous characters and a short mark postamble. Continuous phase,
/// as a modem sends it.
pub fn encode_bytes(bytes: &[u8], modulation: Modulation, level_dbm0: f32) -> Vec<i16> {
    let mut bits = Vec::with_capacity(SEIZURE_BITS + MARK_BITS + bytes.len() * 10 + 16);
    bits.extend((0..SEIZURE_BITS).map(|i| i % 2 == 1));
    bits.extend(std::iter::repeat_n(true, MARK_BITS));
    for &b in bytes {
        bits.push(false);
        bits.extend((0..8).map(|i| b >> i & 1 == 1));
        bits.push(true);
    }
    bits.extend(std::iter::repeat_n(true, POSTAMBLE_BITS));
    let amplitude = f64::from(dbm0_amplitude(level_dbm0));
    let samples = (bits.len() as f64 * BIT).floor() as usize;
    let mut phase = 0f64;
    (0..samples)
        .map(|n| {
            let bit = bits[((n as f64 / BIT) as usize).min(bits.len() - 1)];
            let f = if bit {
                modulation.mark_hz()
            } else {
                modulation.space_hz()
            };
            let v = amplitude * phase.sin();
            phase = (phase + std::f64::consts::TAU * f64::from(f) / SAMPLE_RATE)
                % std::f64::consts::TAU;
            v.round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callerid::{encode, Absence, CallTime, MessageFormat};

    fn decode_all(
        rx: &mut CallerIdReceiver,
        audio: &[i16],
    ) -> Vec<Result<CallerIdMessage, CallerIdError>> {
        let mut out = Vec::new();
        for frame in audio.chunks(160) {
            out.extend(rx.feed(frame));
        }
        out.extend(rx.feed(&[0; 160 * 3]));
        out.extend(rx.feed(&[]));
        out
    }

    fn sample() -> CallerIdMessage {
        CallerIdMessage {
            format: Some(MessageFormat::Mdmf),
            time: Some(CallTime {
                month: 12,
                day: 4,
                hour: 15,
                minute: 42,
            }),
            number: Some("0123456789".into()),
            name: Some("ANNA VAN DIJK".into()),
            ..Default::default()
        }
    }

    #[test]
    fn bursts_the_encoder_makes_decode_in_both_modems_at_several_levels() {
        for modulation in [Modulation::Bell202, Modulation::V23] {
            for level in [-5.0, -13.0, -30.0, -45.0] {
                let mut audio = vec![0i16; 1234];
                audio.extend(encode(&sample(), MessageFormat::Mdmf, modulation, level).unwrap());
                let got = decode_all(&mut CallerIdReceiver::new(modulation), &audio);
                assert_eq!(got, [Ok(sample())], "{modulation:?} at {level} dBm0");
            }
        }
    }

    #[test]
    fn an_sdmf_burst_with_a_private_number_decodes() {
        let m = CallerIdMessage {
            format: Some(MessageFormat::Sdmf),
            time: Some(CallTime {
                month: 2,
                day: 29,
                hour: 0,
                minute: 1,
            }),
            number_absence: Some(Absence::Private),
            ..Default::default()
        };
        let audio = encode(&m, MessageFormat::Sdmf, Modulation::Bell202, -20.0).unwrap();
        let got = decode_all(&mut CallerIdReceiver::new(Modulation::Bell202), &audio);
        assert_eq!(got, [Ok(m)]);
    }

    #[test]
    fn silence_and_a_burst_below_the_minimum_level_give_nothing() {
        // (The one-bit correlators are ~1.1 kHz wide: a Bell 202 receiver
        // also reads V.23, 100 Hz off each tone, and the other way round.)
        assert_eq!(
            decode_all(&mut CallerIdReceiver::new(Modulation::V23), &[0; 16000]),
            []
        );
        let quiet = encode(&sample(), MessageFormat::Mdmf, Modulation::V23, -55.0).unwrap();
        assert_eq!(
            decode_all(&mut CallerIdReceiver::new(Modulation::V23), &quiet),
            []
        );
    }

    #[test]
    fn a_burst_cut_short_or_with_a_flipped_bit_is_reported_as_such() {
        let bytes = sample().to_bytes(MessageFormat::Mdmf).unwrap();
        let audio = encode_bytes(&bytes, Modulation::V23, -13.0);
        // Cut in the middle of the message: carrier lost.
        let cut = &audio[..audio.len() - 20 * 60];
        let got = decode_all(&mut CallerIdReceiver::new(Modulation::V23), cut);
        assert!(
            matches!(got[..], [Err(CallerIdError::Truncated { expected, received })] if expected == bytes.len() && received < expected),
            "{got:?}"
        );
        let mut corrupt = bytes.clone();
        corrupt[10] ^= 0x20;
        let audio = encode_bytes(&corrupt, Modulation::V23, -13.0);
        let got = decode_all(&mut CallerIdReceiver::new(Modulation::V23), &audio);
        assert!(
            matches!(got[..], [Err(CallerIdError::BadChecksum { .. })]),
            "{got:?}"
        );
    }

    #[test]
    fn two_bursts_in_a_row_give_two_messages_and_reset_forgets_a_partial_one() {
        let audio = encode(&sample(), MessageFormat::Mdmf, Modulation::Bell202, -13.0).unwrap();
        let mut rx = CallerIdReceiver::new(Modulation::Bell202);
        let mut twice = audio.clone();
        twice.extend(vec![0; 800]);
        twice.extend(&audio);
        assert_eq!(decode_all(&mut rx, &twice), [Ok(sample()), Ok(sample())]);
        rx.feed(&audio[..audio.len() - 800]);
        rx.reset();
        assert_eq!(decode_all(&mut rx, &audio[audio.len() - 800..]), []);
    }
}
