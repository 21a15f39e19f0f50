//! Any bytes as RFC 4733 telephone-event traffic: the payload parser and a
//! receiver fed an arbitrary sequence of (timestamp, payload) packets never
//! panic, report only real DTMF keys, end only the key that started, start
//! each event once, and never start the event they just ended again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtp_media::dtmf::{DtmfDigit, DtmfEvent, DtmfReceiver, TelephoneEvent};
use std::time::{Duration, Instant};

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
    let mut rx = DtmfReceiver::default();
    let now = Instant::now();
    let mut rest = data;
    let mut ts: u32 = 0;
    let mut down: Option<DtmfDigit> = None;
    let mut last_ended: Option<DtmfDigit> = None;
    let mut short = 0u64;
    let mut check = |e: DtmfEvent| {
        let key = e.key();
        assert!("0123456789*#ABCD".contains(key.digit));
        assert!(key.volume <= 63);
        match e {
            DtmfEvent::Started(key) => {
                assert_eq!(down, None, "a key started while another is down");
                assert_ne!(last_ended, Some(key), "the event just ended started again");
                down = Some(key);
            }
            DtmfEvent::Ended { key, duration } => {
                assert_eq!(down, Some(key), "a key ended that had not started");
                // At most the 16-bit duration field at 8 kHz.
                assert!(duration <= Duration::from_micros(65_535 * 125));
                down = None;
                last_ended = Some(key);
            }
        }
    };
    while let [len, step, tail @ ..] = rest {
        let len = usize::from(*len & 7).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        ts = ts.wrapping_add(u32::from(*step) * 40);
        if payload.len() < 4 {
            short += 1;
        }
        for e in rx.on_packet(ts, payload, now) {
            assert_eq!(e.key().timestamp, ts);
            check(e);
        }
    }
    if let Some(e) = rx.close() {
        check(e);
    }
    assert_eq!(down, None, "close ends the key still down");
    assert_eq!(rx.malformed(), short);
});
