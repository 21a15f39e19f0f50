//! DTMF caller ID: the number sent as keypad tones (ITU-T Q.23) before the
//! first ring, framed by letters. Denmark, the Netherlands, Sweden,
//! Finland, Iceland, Brazil, India and others use it:
//!
//! - `A<number>C` or `D<number>C` (or `#` for `C`): the caller's number;
//! - `B00C` number unavailable, `B10C` number withheld (private);
//! - `D1#` withheld, `D2#` / `D3#` unavailable (Denmark's short codes).
//!
//! Built on the in-band [`DtmfDetector`], set to hear quieter keys than a
//! caller's keypad sends, since the burst comes from the exchange at line
//! level.

use super::message::{Absence, CallerIdError, CallerIdMessage, MessageFormat};
use crate::dtmf::{DetectorConfig, DtmfDetector, ToneGenerator};
use crate::g711::dbm0_amplitude;

/// Silence after a digit that ends an unterminated message: 1 s.
const DIGIT_TIMEOUT: u64 = 8000;

/// Reads DTMF caller ID digits into a [`CallerIdMessage`].
pub fn parse_dtmf(digits: &str) -> Result<CallerIdMessage, CallerIdError> {
    let bad = || CallerIdError::BadDtmf {
        digits: digits.to_owned(),
    };
    let body = digits
        .strip_suffix(['C', '#'])
        .filter(|b| b.len() >= 2)
        .ok_or_else(bad)?;
    let (start, rest) = body.split_at(1);
    let code: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let mut m = CallerIdMessage {
        format: Some(MessageFormat::Dtmf),
        ..CallerIdMessage::default()
    };
    match (start, code.as_str(), digits.ends_with('#')) {
        ("B", "00", _) => m.number_absence = Some(Absence::Unavailable),
        ("B", "10", _) => m.number_absence = Some(Absence::Private),
        ("D", "1", true) => m.number_absence = Some(Absence::Private),
        ("D", "2" | "3", true) => m.number_absence = Some(Absence::Unavailable),
        ("A" | "D", n, _) if n.len() >= 2 => m.number = Some(n.to_owned()),
        _ => return Err(bad()),
    }
    Ok(m)
}

/// Streaming DTMF caller ID receiver: feed it the line's audio, get a
/// message when the terminating `C` or `#` is heard.
#[derive(Debug, Clone)]
pub struct DtmfCallerIdReceiver {
    detector: DtmfDetector,
    digits: String,
    /// Detector position of the last digit heard.
    last_digit: u64,
}

impl Default for DtmfCallerIdReceiver {
    fn default() -> Self {
        Self::new()
    }
}

impl DtmfCallerIdReceiver {
    /// A receiver hearing keys down to about −48 dBm0 per tone.
    pub fn new() -> Self {
        DtmfCallerIdReceiver {
            detector: DtmfDetector::new(DetectorConfig {
                min_tone_amplitude: dbm0_amplitude(-48.0),
                ..DetectorConfig::default()
            }),
            digits: String::new(),
            last_digit: 0,
        }
    }

    /// Feeds audio; returns the message once its terminator is heard, or
    /// [`CallerIdError::BadDtmf`] when the digits stop for a second
    /// without one or follow no known form.
    pub fn feed(&mut self, samples: &[i16]) -> Option<Result<CallerIdMessage, CallerIdError>> {
        let mut heard = String::new();
        self.detector.process(samples, |d| heard.push(d));
        let mut result = None;
        for d in heard.chars() {
            self.last_digit = self.detector.position();
            if self.digits.is_empty() && !matches!(d, 'A' | 'B' | 'D') {
                continue;
            }
            self.digits.push(d);
            if matches!(d, 'C' | '#') || self.digits.len() > 64 {
                result = Some(parse_dtmf(&std::mem::take(&mut self.digits)));
            }
        }
        if result.is_none()
            && !self.digits.is_empty()
            && self.detector.position() - self.last_digit > DIGIT_TIMEOUT
        {
            result = Some(Err(CallerIdError::BadDtmf {
                digits: std::mem::take(&mut self.digits),
            }));
        }
        result
    }
}

/// DTMF caller ID tones for `message`'s number (`A<number>C`) or absence
/// (`B10C` / `B00C`), 70 ms on and 70 ms off per key, each tone at
/// `level_dbm0`.
pub fn encode_dtmf(message: &CallerIdMessage, level_dbm0: f32) -> Result<Vec<i16>, CallerIdError> {
    let digits = match (&message.number, message.number_absence) {
        (Some(n), _) if n.len() >= 2 && n.chars().all(|c| c.is_ascii_digit()) => {
            format!("A{n}C")
        }
        (None, Some(Absence::Private)) => "B10C".to_owned(),
        (None, Some(Absence::Unavailable)) => "B00C".to_owned(),
        _ => {
            return Err(CallerIdError::NotEncodable {
                format: MessageFormat::Dtmf,
                reason: "DTMF caller ID carries a number of two or more digits, or an absence",
            })
        }
    };
    let amplitude = dbm0_amplitude(level_dbm0).round() as i16;
    let key = 8000 * 70 / 1000;
    let mut out = vec![0i16; digits.len() * 2 * key];
    for (d, chunk) in digits.chars().zip(out.chunks_mut(2 * key)) {
        if let Some(mut tone) = ToneGenerator::dtmf(d, amplitude) {
            tone.fill(&mut chunk[..key]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_number_and_absence_forms() {
        let n = |s: &str| parse_dtmf(s).map(|m| (m.number, m.number_absence));
        assert_eq!(n("A0123456789C"), Ok((Some("0123456789".into()), None)));
        assert_eq!(n("D31415926C"), Ok((Some("31415926".into()), None)));
        assert_eq!(n("A5551234#"), Ok((Some("5551234".into()), None)));
        assert_eq!(n("B10C"), Ok((None, Some(Absence::Private))));
        assert_eq!(n("B00C"), Ok((None, Some(Absence::Unavailable))));
        assert_eq!(n("D1#"), Ok((None, Some(Absence::Private))));
        assert_eq!(n("D3#"), Ok((None, Some(Absence::Unavailable))));
        for bad in ["", "C", "AC", "A1C", "B7C", "B10", "X123C"] {
            assert!(
                matches!(parse_dtmf(bad), Err(CallerIdError::BadDtmf { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn tones_from_the_encoder_decode_and_a_cut_message_times_out() {
        let m = CallerIdMessage {
            format: Some(MessageFormat::Dtmf),
            number: Some("4570707070".into()),
            ..Default::default()
        };
        for level in [-10.0, -25.0, -40.0] {
            let mut audio = vec![0i16; 3000];
            audio.extend(encode_dtmf(&m, level).unwrap());
            audio.extend(vec![0i16; 3000]);
            let mut rx = DtmfCallerIdReceiver::new();
            let got: Vec<_> = audio.chunks(160).filter_map(|f| rx.feed(f)).collect();
            assert_eq!(got, [Ok(m.clone())], "{level} dBm0");
        }
        let audio = encode_dtmf(&m, -10.0).unwrap();
        let mut cut = audio[..audio.len() - 2 * 560].to_vec();
        cut.extend(vec![0i16; 8000 * 2]);
        let mut rx = DtmfCallerIdReceiver::new();
        let got: Vec<_> = cut.chunks(160).filter_map(|f| rx.feed(f)).collect();
        assert_eq!(
            got,
            [Err(CallerIdError::BadDtmf {
                digits: "A4570707070".into()
            })]
        );
    }
}
