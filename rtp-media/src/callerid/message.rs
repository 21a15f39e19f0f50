//! Caller ID messages: the single data message format (SDMF) and the
//! multiple data message format (MDMF) of Telcordia GR-30-CORE and ETSI
//! EN 300 659-3, and what they tell about the caller.
//!
//! On the line a message is a type byte, a length byte, the body and a
//! checksum byte that makes the sum of all bytes zero modulo 256.

use std::fmt;

/// SDMF caller ID (GR-30-CORE): date and time, then the number or an
/// absence code, with no parameter headers.
pub const SDMF_CALLER_ID: u8 = 0x04;
/// MDMF caller ID (GR-30-CORE), the same value as ETSI's call setup message
/// (EN 300 659-3 §5.2): parameters of type, length and value.
pub const MDMF_CALL_SETUP: u8 = 0x80;

/// MDMF parameter: date and time, 8 ASCII digits `MMDDHHMM`.
const PARAM_DATE_TIME: u8 = 0x01;
/// MDMF parameter: the calling line's number.
const PARAM_NUMBER: u8 = 0x02;
/// MDMF parameter: why there is no number (`P` or `O`).
const PARAM_NUMBER_ABSENCE: u8 = 0x04;
/// MDMF parameter: the caller's name.
const PARAM_NAME: u8 = 0x07;
/// MDMF parameter: why there is no name (`P` or `O`).
const PARAM_NAME_ABSENCE: u8 = 0x08;

/// How a caller ID message was carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageFormat {
    /// Single data message format: date, time and number (or why none).
    Sdmf,
    /// Multiple data message format: typed parameters (number, name, ...).
    Mdmf,
    /// DTMF digits (`A<number>C`, `D<number>C`, `B<code>C`, ...), used in
    /// Denmark, the Netherlands, Sweden, Finland, Brazil and elsewhere.
    Dtmf,
}

/// Why the number or the name is missing from a caller ID message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Absence {
    /// The caller withheld it (`P`, private / restricted).
    Private,
    /// The network does not know it (`O`, out of area / unavailable).
    Unavailable,
}

impl Absence {
    fn from_code(code: &[u8]) -> Option<Absence> {
        match code {
            b"P" => Some(Absence::Private),
            b"O" => Some(Absence::Unavailable),
            _ => None,
        }
    }

    fn code(self) -> u8 {
        match self {
            Absence::Private => b'P',
            Absence::Unavailable => b'O',
        }
    }
}

/// The date and time the network stamped on the call (local time, no year).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallTime {
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
    /// 0 to 23.
    pub hour: u8,
    /// 0 to 59.
    pub minute: u8,
}

impl CallTime {
    fn parse(digits: &[u8]) -> Result<CallTime, CallerIdError> {
        let bad = || CallerIdError::BadDateTime {
            value: String::from_utf8_lossy(digits).into_owned(),
        };
        if digits.len() != 8 || !digits.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let two = |i: usize| (digits[i] - b'0') * 10 + (digits[i + 1] - b'0');
        let t = CallTime {
            month: two(0),
            day: two(2),
            hour: two(4),
            minute: two(6),
        };
        if !(1..=12).contains(&t.month)
            || !(1..=31).contains(&t.day)
            || t.hour > 23
            || t.minute > 59
        {
            return Err(bad());
        }
        Ok(t)
    }

    fn digits(self) -> [u8; 8] {
        let mut out = [0u8; 8];
        for (i, v) in [self.month, self.day, self.hour, self.minute]
            .into_iter()
            .enumerate()
        {
            out[2 * i] = b'0' + v / 10 % 10;
            out[2 * i + 1] = b'0' + v % 10;
        }
        out
    }
}

impl fmt::Display for CallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}-{:02} {:02}:{:02}",
            self.month, self.day, self.hour, self.minute
        )
    }
}

/// What a caller ID message said about the caller.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallerIdMessage {
    /// How it was carried (`None` only for a message built by hand that
    /// has not been given one; decoded messages always say).
    pub format: Option<MessageFormat>,
    /// When the network saw the call.
    pub time: Option<CallTime>,
    /// The calling number, as sent (digits, sometimes `+`, `*` or `#`).
    pub number: Option<String>,
    /// Why there is no number.
    pub number_absence: Option<Absence>,
    /// The caller's name (bytes taken as Latin-1).
    pub name: Option<String>,
    /// Why there is no name.
    pub name_absence: Option<Absence>,
}

/// Why a caller ID burst or message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallerIdError {
    /// The message's bytes do not sum to zero: a bit was lost to noise.
    #[error("caller ID message of type 0x{message_type:02x}: bad checksum (bytes sum to 0x{sum:02x}, not 0)")]
    BadChecksum {
        /// The message type byte.
        message_type: u8,
        /// The sum modulo 256 of every byte, checksum included.
        sum: u8,
    },
    /// The message ended (the carrier dropped, the digits stopped, or the
    /// bytes ran out) before its length said it would.
    #[error("caller ID message truncated: {received} of {expected} bytes")]
    Truncated {
        /// Bytes the header announced (type, length, body and checksum).
        expected: usize,
        /// Bytes received.
        received: usize,
    },
    /// A byte of the message had no stop bit: the FSK burst was corrupted.
    #[error("caller ID message: framing error in byte {byte} (no stop bit)")]
    Framing {
        /// Index of the byte in the message.
        byte: usize,
    },
    /// The message type is not caller ID (e.g. message waiting).
    #[error("message type 0x{0:02x} is not caller ID (SDMF 0x04 or MDMF 0x80)")]
    NotCallerId(u8),
    /// An MDMF parameter runs past the end of the message.
    #[error("MDMF parameter 0x{param:02x} at offset {offset} runs past the end of the message")]
    BadParameter {
        /// The parameter type.
        param: u8,
        /// Its offset in the message.
        offset: usize,
    },
    /// The date and time are not 8 digits of a valid `MMDDHHMM`.
    #[error("caller ID date and time {value:?} is not MMDDHHMM")]
    BadDateTime {
        /// The bytes received.
        value: String,
    },
    /// An absence code other than `P` (private) or `O` (unavailable).
    #[error("caller ID absence code {code:?} is neither P (private) nor O (unavailable)")]
    BadAbsence {
        /// The bytes received.
        code: String,
    },
    /// DTMF caller ID digits that follow none of the known forms.
    #[error("DTMF caller ID {digits:?} is not A/D<number>C or #, nor B<code>C")]
    BadDtmf {
        /// The digits received.
        digits: String,
    },
    /// The message cannot be written in the format asked for (SDMF needs
    /// the time and carries no name).
    #[error("caller ID cannot be written as {format:?}: {reason}")]
    NotEncodable {
        /// The format asked for.
        format: MessageFormat,
        /// What is missing or does not fit.
        reason: &'static str,
    },
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn to_latin1(s: &str) -> impl Iterator<Item = u8> + '_ {
    s.chars().map(|c| u8::try_from(c).unwrap_or(b'?'))
}

impl CallerIdMessage {
    /// Parses a whole message as it came off the line: type, length, body
    /// and checksum. Unknown MDMF parameters are skipped.
    pub fn parse(bytes: &[u8]) -> Result<CallerIdMessage, CallerIdError> {
        let [message_type, len, ..] = *bytes else {
            return Err(CallerIdError::Truncated {
                expected: 3,
                received: bytes.len(),
            });
        };
        let expected = usize::from(len) + 3;
        if bytes.len() < expected {
            return Err(CallerIdError::Truncated {
                expected,
                received: bytes.len(),
            });
        }
        let bytes = &bytes[..expected];
        let sum = bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b));
        if sum != 0 {
            return Err(CallerIdError::BadChecksum { message_type, sum });
        }
        let body = &bytes[2..expected - 1];
        match message_type {
            SDMF_CALLER_ID => Self::parse_sdmf(body),
            MDMF_CALL_SETUP => Self::parse_mdmf(body),
            other => Err(CallerIdError::NotCallerId(other)),
        }
    }

    fn parse_sdmf(body: &[u8]) -> Result<CallerIdMessage, CallerIdError> {
        if body.len() < 8 {
            return Err(CallerIdError::BadDateTime {
                value: latin1(body),
            });
        }
        let (time, rest) = body.split_at(8);
        let mut m = CallerIdMessage {
            format: Some(MessageFormat::Sdmf),
            time: Some(CallTime::parse(time)?),
            ..CallerIdMessage::default()
        };
        match Absence::from_code(rest) {
            Some(a) => m.number_absence = Some(a),
            None if !rest.is_empty() => m.number = Some(latin1(rest)),
            None => {}
        }
        Ok(m)
    }

    fn parse_mdmf(body: &[u8]) -> Result<CallerIdMessage, CallerIdError> {
        let mut m = CallerIdMessage {
            format: Some(MessageFormat::Mdmf),
            ..CallerIdMessage::default()
        };
        let mut at = 0;
        while at < body.len() {
            let param = body[at];
            let Some(&len) = body.get(at + 1) else {
                return Err(CallerIdError::BadParameter {
                    param,
                    offset: at + 2,
                });
            };
            let value =
                body.get(at + 2..at + 2 + usize::from(len))
                    .ok_or(CallerIdError::BadParameter {
                        param,
                        offset: at + 2,
                    })?;
            let absence = |v: &[u8]| {
                Absence::from_code(v).ok_or_else(|| CallerIdError::BadAbsence { code: latin1(v) })
            };
            match param {
                PARAM_DATE_TIME => m.time = Some(CallTime::parse(value)?),
                PARAM_NUMBER => m.number = Some(latin1(value)),
                PARAM_NUMBER_ABSENCE => m.number_absence = Some(absence(value)?),
                PARAM_NAME => m.name = Some(latin1(value)),
                PARAM_NAME_ABSENCE => m.name_absence = Some(absence(value)?),
                _ => {}
            }
            at += 2 + usize::from(len);
        }
        Ok(m)
    }

    /// Writes the message as it goes on the line in `format` (SDMF or
    /// MDMF): type, length, body and checksum. Values longer than 255
    /// bytes are cut.
    pub fn to_bytes(&self, format: MessageFormat) -> Result<Vec<u8>, CallerIdError> {
        let mut out = Vec::with_capacity(64);
        match format {
            MessageFormat::Sdmf => {
                let time = self.time.ok_or(CallerIdError::NotEncodable {
                    format,
                    reason: "SDMF starts with the date and time",
                })?;
                if self.name.is_some() || self.name_absence.is_some() {
                    return Err(CallerIdError::NotEncodable {
                        format,
                        reason: "SDMF carries no name",
                    });
                }
                out.extend([SDMF_CALLER_ID, 0]);
                out.extend(time.digits());
                match (&self.number, self.number_absence) {
                    (Some(n), _) => out.extend(to_latin1(n).take(255 - 8)),
                    (None, Some(a)) => out.push(a.code()),
                    (None, None) => {}
                }
            }
            MessageFormat::Mdmf => {
                out.extend([MDMF_CALL_SETUP, 0]);
                let mut param = |kind: u8, value: &mut dyn Iterator<Item = u8>| {
                    let start = out.len();
                    out.extend([kind, 0]);
                    out.extend(value.take(255));
                    out[start + 1] = (out.len() - start - 2) as u8;
                };
                if let Some(t) = self.time {
                    param(PARAM_DATE_TIME, &mut t.digits().into_iter());
                }
                if let Some(n) = &self.number {
                    param(PARAM_NUMBER, &mut to_latin1(n));
                } else if let Some(a) = self.number_absence {
                    param(PARAM_NUMBER_ABSENCE, &mut std::iter::once(a.code()));
                }
                if let Some(n) = &self.name {
                    param(PARAM_NAME, &mut to_latin1(n));
                } else if let Some(a) = self.name_absence {
                    param(PARAM_NAME_ABSENCE, &mut std::iter::once(a.code()));
                }
            }
            MessageFormat::Dtmf => {
                return Err(CallerIdError::NotEncodable {
                    format,
                    reason: "DTMF caller ID is tones, not bytes (see encode_dtmf)",
                })
            }
        }
        if out.len() - 2 > 255 {
            return Err(CallerIdError::NotEncodable {
                format,
                reason: "the message is longer than 255 bytes",
            });
        }
        out[1] = (out.len() - 2) as u8;
        let sum = out.iter().fold(0u8, |a, &b| a.wrapping_add(b));
        out.push(sum.wrapping_neg());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_checksum(mut v: Vec<u8>) -> Vec<u8> {
        let sum = v.iter().fold(0u8, |a, &b| a.wrapping_add(b));
        v.push(sum.wrapping_neg());
        v
    }

    #[test]
    fn parses_the_gr30_sdmf_example() {
        // GR-30-CORE's example: 1 Dec 15:30, number 6095551212.
        let mut v = vec![0x04, 18];
        v.extend(b"12011530");
        v.extend(b"6095551212");
        let m = CallerIdMessage::parse(&with_checksum(v)).unwrap();
        assert_eq!(m.format, Some(MessageFormat::Sdmf));
        assert_eq!(
            m.time,
            Some(CallTime {
                month: 12,
                day: 1,
                hour: 15,
                minute: 30
            })
        );
        assert_eq!(m.number.as_deref(), Some("6095551212"));
        let mut private = vec![0x04, 9];
        private.extend(b"01010000P");
        let m = CallerIdMessage::parse(&with_checksum(private)).unwrap();
        assert_eq!(m.number_absence, Some(Absence::Private));
        assert_eq!(m.number, None);
    }

    #[test]
    fn parses_mdmf_parameters_and_skips_unknown_ones() {
        let mut v = vec![0x80, 0];
        v.extend([0x01, 8]);
        v.extend(b"03141559");
        v.extend([0x11, 1, 0x01]); // ETSI call type: skipped
        v.extend([0x02, 4]);
        v.extend(b"5551");
        v.extend([0x08, 1, b'O']);
        v[1] = (v.len() - 2) as u8;
        let m = CallerIdMessage::parse(&with_checksum(v)).unwrap();
        assert_eq!(m.format, Some(MessageFormat::Mdmf));
        assert_eq!(
            m.time.map(|t| t.to_string()).as_deref(),
            Some("03-14 15:59")
        );
        assert_eq!(m.number.as_deref(), Some("5551"));
        assert_eq!(m.name, None);
        assert_eq!(m.name_absence, Some(Absence::Unavailable));
    }

    #[test]
    fn a_corrupted_or_short_message_is_a_typed_error() {
        let m = CallerIdMessage {
            time: Some(CallTime {
                month: 6,
                day: 30,
                hour: 23,
                minute: 59,
            }),
            number: Some("4055551234".into()),
            name: Some("DOE JOHN".into()),
            ..Default::default()
        };
        let bytes = m.to_bytes(MessageFormat::Mdmf).unwrap();
        let mut bad = bytes.clone();
        bad[7] ^= 0x04;
        assert!(matches!(
            CallerIdMessage::parse(&bad),
            Err(CallerIdError::BadChecksum {
                message_type: 0x80,
                ..
            })
        ));
        assert_eq!(
            CallerIdMessage::parse(&bytes[..10]),
            Err(CallerIdError::Truncated {
                expected: bytes.len(),
                received: 10
            })
        );
        assert!(matches!(
            CallerIdMessage::parse(&[0x80]),
            Err(CallerIdError::Truncated { .. })
        ));
        // A parameter longer than the message.
        let v = with_checksum(vec![0x80, 3, 0x02, 9, b'1']);
        assert!(matches!(
            CallerIdMessage::parse(&v),
            Err(CallerIdError::BadParameter { param: 2, .. })
        ));
        // Message waiting is not caller ID.
        let v = with_checksum(vec![0x82, 3, 0x0b, 1, 0xff]);
        assert_eq!(
            CallerIdMessage::parse(&v),
            Err(CallerIdError::NotCallerId(0x82))
        );
        // Month 13.
        let mut v = vec![0x04, 8];
        v.extend(b"13011530");
        assert!(matches!(
            CallerIdMessage::parse(&with_checksum(v)),
            Err(CallerIdError::BadDateTime { .. })
        ));
    }

    #[test]
    fn a_message_written_reads_back_the_same_in_either_format() {
        let m = CallerIdMessage {
            format: Some(MessageFormat::Mdmf),
            time: Some(CallTime {
                month: 1,
                day: 2,
                hour: 3,
                minute: 4,
            }),
            number: Some("+4531234567".into()),
            name: Some("Søren K".into()),
            ..Default::default()
        };
        let back = CallerIdMessage::parse(&m.to_bytes(MessageFormat::Mdmf).unwrap()).unwrap();
        assert_eq!(back, m);
        let sdmf = CallerIdMessage {
            format: Some(MessageFormat::Sdmf),
            name: None,
            ..m.clone()
        };
        let back = CallerIdMessage::parse(&sdmf.to_bytes(MessageFormat::Sdmf).unwrap()).unwrap();
        assert_eq!(back, sdmf);
        assert!(matches!(
            m.to_bytes(MessageFormat::Sdmf),
            Err(CallerIdError::NotEncodable { .. })
        ));
    }
}
