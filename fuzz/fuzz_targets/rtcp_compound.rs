//! Any bytes as a received RTCP compound datagram: every packet, report
//! block, SDES chunk and item, and BYE list is walked; nothing panics and
//! every slice stays inside the datagram.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtp_media::rtcp::{parse_compound, validate_compound, RtcpPacket};

fuzz_target!(|data: &[u8]| {
    let valid = validate_compound(data);
    let mut packets = 0usize;
    let mut failed = false;
    for p in parse_compound(data) {
        let p = match p {
            Ok(p) => p,
            Err(_) => {
                failed = true;
                continue;
            }
        };
        packets += 1;
        match &p {
            RtcpPacket::SenderReport { reports, info, .. } => {
                let _ = info.ntp_timestamp;
                for b in reports.clone() {
                    let pct = b.loss_percent();
                    assert!((0.0..100.0).contains(&pct));
                    assert!((-0x80_0000..=0x7F_FFFF).contains(&b.cumulative_lost));
                }
            }
            RtcpPacket::ReceiverReport { reports, .. } => {
                for b in reports.clone() {
                    assert!((-0x80_0000..=0x7F_FFFF).contains(&b.cumulative_lost));
                }
            }
            RtcpPacket::SourceDescription(chunks) => {
                for c in chunks.clone() {
                    let _ = c.cname();
                    for item in c.items() {
                        assert!(item.text.len() <= 255);
                    }
                }
            }
            RtcpPacket::Goodbye { reason, .. } => {
                let n = p.bye_ssrcs().count();
                assert!(n * 4 <= data.len());
                if let Some(r) = reason {
                    assert!(r.len() <= 255);
                }
            }
            RtcpPacket::Other { body, .. } => assert!(body.len() <= data.len()),
        }
        assert_eq!(
            p.bye_ssrcs().count() > 0,
            matches!(p, RtcpPacket::Goodbye { ssrcs, .. } if ssrcs.len() >= 4)
        );
    }
    if let Ok(n) = valid {
        assert!(!failed);
        assert_eq!(n, packets);
    }
});
