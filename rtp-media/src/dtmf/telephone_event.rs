//! RFC 4733 telephone events: the 4-byte event block, the event codes of
//! the DTMF keys (§3.2), and the packet sequence that sends one key press
//! (§2.5: marker on the first packet, updates with a growing duration,
//! three end packets).

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
