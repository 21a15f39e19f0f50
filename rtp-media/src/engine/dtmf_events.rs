//! Turns RFC 4733 packets into one key press each, with its duration.
//!
//! [`crate::dtmf::DtmfReceiver`] reports a key on its first packet, before
//! the duration is known. The engine reports on the end packet instead (the
//! duration is then final), and falls back to reporting when a new event
//! starts or the event goes quiet, so a lost end packet never loses a key.

use crate::dtmf::TelephoneEvent;
use std::time::{Duration, Instant};

/// Reported keys remembered to ignore the redundant end packets.
const RECENT: usize = 4;

/// A key press ready to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyPress {
    pub(crate) digit: char,
    pub(crate) duration: Duration,
    pub(crate) timestamp: u32,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    timestamp: u32,
    event: u8,
    duration: u16,
    last_seen: Instant,
}

/// Per-call telephone-event state.
#[derive(Debug, Clone)]
pub(crate) struct DtmfEvents {
    clock_rate: u32,
    pending: Option<Pending>,
    reported: [Option<(u32, u8)>; RECENT],
    next: usize,
    malformed: u64,
}

impl DtmfEvents {
    pub(crate) fn new(clock_rate: u32) -> Self {
        DtmfEvents {
            clock_rate: clock_rate.max(1),
            pending: None,
            reported: [None; RECENT],
            next: 0,
            malformed: 0,
        }
    }

    /// Payloads that were not a telephone event.
    pub(crate) fn malformed(&self) -> u64 {
        self.malformed
    }

    fn finish(&mut self, p: Pending) -> Option<KeyPress> {
        self.reported[self.next] = Some((p.timestamp, p.event));
        self.next = (self.next + 1) % RECENT;
        let digit = crate::dtmf::event_to_digit(p.event)?;
        Some(KeyPress {
            digit,
            duration: Duration::from_micros(
                u64::from(p.duration) * 1_000_000 / u64::from(self.clock_rate),
            ),
            timestamp: p.timestamp,
        })
    }

    /// Offers one telephone-event packet. Returns up to two key presses: an
    /// unfinished earlier event superseded by this packet, and this event
    /// when the packet ends it.
    pub(crate) fn on_packet(
        &mut self,
        timestamp: u32,
        payload: &[u8],
        now: Instant,
    ) -> [Option<KeyPress>; 2] {
        let mut out = [None, None];
        let Ok(ev) = TelephoneEvent::parse(payload) else {
            self.malformed += 1;
            return out;
        };
        if self.reported.contains(&Some((timestamp, ev.event))) {
            return out;
        }
        let same =
            matches!(self.pending, Some(p) if p.timestamp == timestamp && p.event == ev.event);
        if !same {
            if let Some(old) = self.pending.take() {
                out[0] = self.finish(old);
            }
        }
        let p = self.pending.get_or_insert(Pending {
            timestamp,
            event: ev.event,
            duration: 0,
            last_seen: now,
        });
        p.duration = p.duration.max(ev.duration);
        p.last_seen = now;
        if ev.end {
            let p = *p;
            self.pending = None;
            out[1] = self.finish(p);
        }
        out
    }

    /// Reports an event whose end packets never came, after `quiet` without
    /// packets for it.
    pub(crate) fn poll(&mut self, now: Instant, quiet: Duration) -> Option<KeyPress> {
        let p = self.pending?;
        if now.saturating_duration_since(p.last_seen) < quiet {
            return None;
        }
        self.pending = None;
        self.finish(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(event: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    #[test]
    fn one_key_with_duration_despite_redundant_ends() {
        let now = Instant::now();
        let mut d = DtmfEvents::new(8000);
        assert_eq!(d.on_packet(100, &pkt(5, false, 160), now), [None, None]);
        assert_eq!(d.on_packet(100, &pkt(5, false, 320), now), [None, None]);
        let [a, b] = d.on_packet(100, &pkt(5, true, 800), now);
        assert_eq!(a, None);
        assert_eq!(
            b,
            Some(KeyPress {
                digit: '5',
                duration: Duration::from_millis(100),
                timestamp: 100
            })
        );
        assert_eq!(d.on_packet(100, &pkt(5, true, 800), now), [None, None]);
        assert_eq!(d.on_packet(100, &pkt(5, true, 800), now), [None, None]);
    }

    #[test]
    fn lost_end_reported_when_next_key_starts_or_on_quiet() {
        let now = Instant::now();
        let mut d = DtmfEvents::new(8000);
        d.on_packet(100, &pkt(1, false, 400), now);
        let [a, b] = d.on_packet(2000, &pkt(2, false, 160), now);
        assert_eq!(a.map(|k| k.digit), Some('1'));
        assert_eq!(b, None);
        assert_eq!(d.poll(now, Duration::from_millis(500)), None);
        let k = d.poll(now + Duration::from_secs(1), Duration::from_millis(500));
        assert_eq!(k.map(|k| k.digit), Some('2'));
        assert_eq!(d.poll(now + Duration::from_secs(2), Duration::ZERO), None);
    }

    #[test]
    fn malformed_counted() {
        let mut d = DtmfEvents::new(8000);
        assert_eq!(d.on_packet(1, &[1, 2], Instant::now()), [None, None]);
        assert_eq!(d.malformed(), 1);
    }
}
