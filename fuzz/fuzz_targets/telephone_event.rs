//! Any bytes as RFC 4733 telephone-event traffic: the payload parser and a
//! receiver fed an arbitrary sequence of (timestamp, payload) packets never
//! panic, report only real DTMF keys, and never report the same event twice
//! in a row.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtp_media::dtmf::{DtmfReceiver, TelephoneEvent};

fuzz_target!(|data: &[u8]| {
    if let Ok(ev) = TelephoneEvent::parse(data) {
        // Encoding the parsed block gives back the input (R bit cleared).
        let b = ev.to_bytes();
        assert_eq!(b[0], data[0]);
        assert_eq!(b[1], data[1] & 0xBF);
        assert_eq!(&b[2..], &data[2..4]);
        assert_eq!(TelephoneEvent::parse(&b).ok(), Some(ev));
    }
    // Packets: 1 byte length (0..=7), 1 byte timestamp step, payload.
    let mut rx = DtmfReceiver::new();
    let mut rest = data;
    let mut ts: u32 = 0;
    let mut last: Option<(u32, char)> = None;
    let mut short = 0u64;
    while let [len, step, tail @ ..] = rest {
        let len = usize::from(*len & 7).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        ts = ts.wrapping_add(u32::from(*step) * 40);
        if payload.len() < 4 {
            short += 1;
        }
        if let Some(d) = rx.on_packet(ts, payload) {
            assert!("0123456789*#ABCD".contains(d.digit));
            assert_eq!(d.timestamp, ts);
            assert!(d.volume <= 63);
            assert_ne!(
                last,
                Some((d.timestamp, d.digit)),
                "same event reported twice"
            );
            last = Some((d.timestamp, d.digit));
        }
    }
    assert_eq!(rx.malformed(), short);
});
