//! The receiver of RFC 4733 telephone events: packets in, each key press
//! out twice, when the key goes down and when it comes up (with how long
//! it was held).
//!
//! An event is identified by its RTP timestamp and event code (RFC 4733
//! §2.5.1.3: every packet of one event carries the timestamp of its
//! start), never by the marker bit, which a lost first packet takes with
//! it. So the receiver reports a key as started on the first packet it
//! sees of a new event, whichever that is, and as ended on:
//!
//! - the end packet (E bit), with the final duration; the redundant end
//!   packets that follow it (§2.5.1.4 sends three) are ignored;
//! - the first packet of a newer event, when every end packet was lost;
//! - [`QUIET_END`] without packets for it ([`DtmfReceiver::poll`]), when
//!   no newer event comes either;
//! - [`DtmfReceiver::close`], when the session ends with the key still
//!   down (a caller holding a key during the hang-up).
//!
//! A lost end packet never loses a key, and a menu can act on the key
//! when it goes down instead of waiting as long as the caller holds it.

use super::{event_to_digit, TelephoneEvent};
use std::time::{Duration, Instant};

/// Ended events remembered to ignore their redundant end packets and
/// stragglers that arrive after a newer event started.
const RECENT: usize = 4;

/// A telephone event with no packets for this long is taken as ended
/// without its end packet. RFC 4733 §2.5.1.2 has the sender refresh a
/// long event every 50 ms or so, so a second of silence is loss, not a
/// key still held.
pub const QUIET_END: Duration = Duration::from_secs(1);

/// The key of a telephone event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    /// The key: `0`–`9`, `*`, `#`, `A`–`D`.
    pub digit: char,
    /// The RTP timestamp identifying the event: where the key went down,
    /// on the far end's clock.
    pub timestamp: u32,
    /// Volume in −dBm0 from the first packet seen.
    pub volume: u8,
}

/// What [`DtmfReceiver`] saw happen to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfEvent {
    /// The key went down: the first packet of a new event.
    Started(DtmfDigit),
    /// The key came up, or is taken as up (see the module documentation).
    Ended {
        /// The key, as reported when it started.
        key: DtmfDigit,
        /// How long it was held: the event's final duration, or the
        /// duration so far when its end packets never came.
        duration: Duration,
    },
}

impl DtmfEvent {
    /// The key this event is about.
    pub fn key(&self) -> DtmfDigit {
        match *self {
            DtmfEvent::Started(key) | DtmfEvent::Ended { key, .. } => key,
        }
    }
}

/// The events one packet produced, oldest first: at most an earlier key
/// ended by this packet's newer event, this key started, and this key
/// ended by an end packet.
#[derive(Debug, Clone, Default)]
pub struct DtmfEvents {
    events: [Option<DtmfEvent>; 3],
    next: usize,
}

impl DtmfEvents {
    fn push(&mut self, event: Option<DtmfEvent>) {
        if let Some(slot) = self.events.iter_mut().find(|e| e.is_none()) {
            *slot = event;
        }
    }
}

impl Iterator for DtmfEvents {
    type Item = DtmfEvent;

    fn next(&mut self) -> Option<DtmfEvent> {
        while let Some(slot) = self.events.get_mut(self.next) {
            self.next += 1;
            if let Some(event) = slot.take() {
                return Some(event);
            }
        }
        None
    }
}

/// The event being received.
#[derive(Debug, Clone, Copy)]
struct Pending {
    timestamp: u32,
    event: u8,
    volume: u8,
    /// Longest duration seen, in timestamp units.
    duration: u16,
    last_seen: Instant,
}

/// Turns a stream of RFC 4733 packets into key presses, each started and
/// ended exactly once (see the module documentation).
#[derive(Debug, Clone)]
pub struct DtmfReceiver {
    clock_rate: u32,
    pending: Option<Pending>,
    ended: [Option<(u32, u8)>; RECENT],
    next: usize,
    malformed: u64,
}

impl Default for DtmfReceiver {
    /// A receiver for the usual 8000 Hz telephone-event clock.
    fn default() -> Self {
        DtmfReceiver::new(8000)
    }
}

impl DtmfReceiver {
    /// A receiver with no history, for a telephone-event payload type of
    /// `clock_rate` Hz (the rate of its `a=rtpmap`, 8000 on a G.711 call).
    pub fn new(clock_rate: u32) -> Self {
        DtmfReceiver {
            clock_rate: clock_rate.max(1),
            pending: None,
            ended: [None; RECENT],
            next: 0,
            malformed: 0,
        }
    }

    /// Payloads too short to hold an event block.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// Offers the payload of one telephone-event packet with its RTP
    /// timestamp, received at `now`.
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8], now: Instant) -> DtmfEvents {
        let mut out = DtmfEvents::default();
        let Ok(ev) = TelephoneEvent::parse(payload) else {
            self.malformed += 1;
            return out;
        };
        if self.ended.contains(&Some((timestamp, ev.event))) {
            return out;
        }
        let same =
            matches!(self.pending, Some(p) if p.timestamp == timestamp && p.event == ev.event);
        if !same {
            if let Some(old) = self.pending.take() {
                out.push(self.finish(old));
            }
            let p = Pending {
                timestamp,
                event: ev.event,
                volume: ev.volume,
                duration: 0,
                last_seen: now,
            };
            self.pending = Some(p);
            out.push(Self::key(&p).map(DtmfEvent::Started));
        }
        if let Some(p) = self.pending.as_mut() {
            p.duration = p.duration.max(ev.duration);
            p.last_seen = now;
            if ev.end {
                let p = *p;
                self.pending = None;
                out.push(self.finish(p));
            }
        }
        out
    }

    /// Ends the event being received if it has had no packets for
    /// [`QUIET_END`] (its end packets were lost and no newer event came).
    /// Call it now and then, e.g. on every 20 ms tick.
    pub fn poll(&mut self, now: Instant) -> Option<DtmfEvent> {
        let p = self.pending?;
        if now.saturating_duration_since(p.last_seen) < QUIET_END {
            return None;
        }
        self.pending = None;
        self.finish(p)
    }

    /// Ends the event being received, if any, with its duration so far:
    /// the session is closing with the key still down.
    pub fn close(&mut self) -> Option<DtmfEvent> {
        let p = self.pending.take()?;
        self.finish(p)
    }

    /// The key still down, if any.
    pub fn key_down(&self) -> Option<DtmfDigit> {
        self.pending.as_ref().and_then(Self::key)
    }

    fn key(p: &Pending) -> Option<DtmfDigit> {
        Some(DtmfDigit {
            digit: event_to_digit(p.event)?,
            timestamp: p.timestamp,
            volume: p.volume,
        })
    }

    fn finish(&mut self, p: Pending) -> Option<DtmfEvent> {
        self.ended[self.next] = Some((p.timestamp, p.event));
        self.next = (self.next + 1) % RECENT;
        Some(DtmfEvent::Ended {
            key: Self::key(&p)?,
            duration: Duration::from_micros(
                u64::from(p.duration) * 1_000_000 / u64::from(self.clock_rate),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::DtmfSender;
    use crate::rtp::RtpPacket;

    fn pkt(event: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    fn key(digit: char, timestamp: u32) -> DtmfDigit {
        DtmfDigit {
            digit,
            timestamp,
            volume: 10,
        }
    }

    /// The keys of the `Started` events, in order.
    fn started(events: &[DtmfEvent]) -> String {
        events
            .iter()
            .filter_map(|e| match e {
                DtmfEvent::Started(k) => Some(k.digit),
                DtmfEvent::Ended { .. } => None,
            })
            .collect()
    }

    #[test]
    fn a_key_is_reported_when_it_goes_down_and_again_with_its_duration_when_it_ends() {
        let now = Instant::now();
        let mut d = DtmfReceiver::new(8000);
        let first: Vec<_> = d.on_packet(100, &pkt(5, false, 160), now).collect();
        assert_eq!(first, [DtmfEvent::Started(key('5', 100))]);
        assert_eq!(d.key_down(), Some(key('5', 100)));
        assert_eq!(d.on_packet(100, &pkt(5, false, 320), now).count(), 0);
        let end: Vec<_> = d.on_packet(100, &pkt(5, true, 800), now).collect();
        assert_eq!(
            end,
            [DtmfEvent::Ended {
                key: key('5', 100),
                duration: Duration::from_millis(100)
            }]
        );
        // The two redundant end packets.
        assert_eq!(d.on_packet(100, &pkt(5, true, 800), now).count(), 0);
        assert_eq!(d.on_packet(100, &pkt(5, true, 800), now).count(), 0);
        assert_eq!(d.key_down(), None);
    }

    #[test]
    fn lost_end_reported_when_next_key_starts_or_on_quiet() {
        let now = Instant::now();
        let mut d = DtmfReceiver::new(8000);
        d.on_packet(100, &pkt(1, false, 400), now).for_each(drop);
        let next: Vec<_> = d.on_packet(2000, &pkt(2, false, 160), now).collect();
        assert_eq!(
            next,
            [
                DtmfEvent::Ended {
                    key: key('1', 100),
                    duration: Duration::from_millis(50)
                },
                DtmfEvent::Started(key('2', 2000)),
            ]
        );
        assert_eq!(d.poll(now + QUIET_END / 2), None);
        let quiet = d.poll(now + QUIET_END);
        assert_eq!(quiet.map(|e| e.key().digit), Some('2'));
        assert_eq!(d.poll(now + QUIET_END * 2), None);
        assert_eq!(d.close(), None);
    }

    #[test]
    fn a_key_still_down_at_close_ends_with_its_duration_so_far() {
        let now = Instant::now();
        let mut d = DtmfReceiver::new(8000);
        d.on_packet(7, &pkt(11, false, 400), now).for_each(drop);
        d.on_packet(7, &pkt(11, false, 2400), now).for_each(drop);
        assert_eq!(
            d.close(),
            Some(DtmfEvent::Ended {
                key: key('#', 7),
                duration: Duration::from_millis(300)
            })
        );
        assert_eq!(d.close(), None);
        // A straggler of the closed event does not start it again.
        assert_eq!(d.on_packet(7, &pkt(11, true, 2400), now).count(), 0);
    }

    #[test]
    fn an_event_seen_only_by_its_end_packet_starts_and_ends_at_once() {
        let now = Instant::now();
        let mut d = DtmfReceiver::new(8000);
        let got: Vec<_> = d.on_packet(50, &pkt(0, true, 960), now).collect();
        assert_eq!(
            got,
            [
                DtmfEvent::Started(key('0', 50)),
                DtmfEvent::Ended {
                    key: key('0', 50),
                    duration: Duration::from_millis(120)
                }
            ]
        );
    }

    #[test]
    fn non_dtmf_events_and_malformed_payloads_report_nothing() {
        let now = Instant::now();
        let mut d = DtmfReceiver::new(8000);
        // Event 16 (flash) ends the key before it, but is not a key.
        d.on_packet(1, &pkt(3, false, 160), now).for_each(drop);
        let got: Vec<_> = d.on_packet(900, &pkt(16, false, 160), now).collect();
        assert_eq!(got.len(), 1);
        assert!(matches!(got[0], DtmfEvent::Ended { key, .. } if key.digit == '3'));
        assert_eq!(d.on_packet(900, &pkt(16, true, 800), now).count(), 0);
        assert_eq!(d.on_packet(1, &[1, 2], now).count(), 0);
        assert_eq!(d.malformed(), 1);
    }

    #[test]
    fn receiver_reports_each_event_once() {
        let now = Instant::now();
        let sender = DtmfSender::default();
        let mut rx = DtmfReceiver::default();
        let mut got = Vec::new();
        let mut ts = 10_000u32;
        for d in "0123456789*#ABCD".chars() {
            for p in sender.packets(d, ts, Duration::from_millis(120)).unwrap() {
                got.extend(rx.on_packet(p.timestamp, &p.payload, now));
            }
            ts = ts.wrapping_add(8000);
        }
        assert_eq!(started(&got), "0123456789*#ABCD");
        // Each started key ends right after, held 120 ms.
        for pair in got.chunks(2) {
            let [DtmfEvent::Started(k), DtmfEvent::Ended { key, duration }] = pair else {
                panic!("{pair:?}");
            };
            assert_eq!((k, *duration), (key, Duration::from_millis(120)));
        }
    }

    #[test]
    fn receiver_tolerates_loss_missing_marker_and_stragglers() {
        let now = Instant::now();
        let sender = DtmfSender::default();
        let mut rx = DtmfReceiver::default();
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
            got.extend(rx.on_packet(p.timestamp, &p.payload, now));
        }
        assert_eq!(started(&got), "112");
        let ended: Vec<_> = got
            .iter()
            .filter_map(|e| match e {
                DtmfEvent::Ended { key, duration } => Some((key.digit, key.timestamp, *duration)),
                DtmfEvent::Started(_) => None,
            })
            .collect();
        let held = Duration::from_millis(200);
        assert_eq!(
            ended,
            [('1', 100, held), ('1', 5000, held), ('2', 9000, held)]
        );
        assert_eq!(rx.on_packet(1, &[5, 0], now).count(), 0);
        assert_eq!(rx.malformed(), 1);
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
        let mut all = Vec::new();
        let mut rx_all = DtmfReceiver::default();
        let now = Instant::now();
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
            let mut rx = DtmfReceiver::default();
            let mut got = Vec::new();
            let mut events = 0;
            for udp in &payloads {
                let rtp =
                    RtpPacket::parse(udp).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                if rtp.payload_type() != 101 {
                    continue;
                }
                events += 1;
                got.extend(rx.on_packet(rtp.timestamp(), rtp.payload(), now));
                all.extend(rx_all.on_packet(rtp.timestamp(), rtp.payload(), now));
            }
            assert!(
                events >= 4,
                "{}: {events} telephone-event packets",
                path.display()
            );
            // Started once, ended once (by its end packets).
            assert_eq!(got.len(), 2, "{}: {got:?}", path.display());
            assert_eq!(started(&got), digit.to_string(), "{}", path.display());
            assert!(
                matches!(got[1], DtmfEvent::Ended { key, duration }
                    if key.digit == digit && duration > Duration::ZERO),
                "{}: {got:?}",
                path.display()
            );
        }
        // Fed back to back into one receiver, still one digit per file.
        assert_eq!(started(&all), "0123456789*#");
        assert_eq!(all.len(), 24);
    }
}
