//! The receiver of RFC 4733 telephone events: packets in, key presses out.

use super::TelephoneEvent;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::DtmfSender;
    use crate::rtp::RtpPacket;
    use std::time::Duration;

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
