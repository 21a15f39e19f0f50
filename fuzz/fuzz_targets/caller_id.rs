//! Any bytes as a caller ID message, as DTMF caller ID digits and as line
//! audio: the message parser, the DTMF form parser and the receivers never
//! panic; a message that parses is written back to bytes that parse again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtp_media::callerid::{
    parse_dtmf, CallerIdMessage, CallerIdReceiver, DtmfCallerIdReceiver, MessageFormat,
    Modulation,
};
use rtp_media::progress::{ProgressDetector, TonePlan};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = CallerIdMessage::parse(data) {
        let format = m.format.expect("a parsed message says its format");
        assert!(matches!(format, MessageFormat::Sdmf | MessageFormat::Mdmf));
        let bytes = m.to_bytes(format).expect("a parsed message can be written");
        let again = CallerIdMessage::parse(&bytes).expect("a written message parses");
        assert_eq!(again.number.is_some(), m.number.is_some());
        assert_eq!(again.time, m.time);
    }
    if let Ok(m) = parse_dtmf(&String::from_utf8_lossy(data)) {
        assert_eq!(m.format, Some(MessageFormat::Dtmf));
        assert!(m.number.is_some() != m.number_absence.is_some());
    }
    // The bytes as 16-bit line audio, in frames of varying length.
    let samples: Vec<i16> = data
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let mut fsk = CallerIdReceiver::new(Modulation::V23);
    let mut dtmf = DtmfCallerIdReceiver::new();
    let mut progress = ProgressDetector::new(TonePlan::etsi());
    let step = usize::from(data.first().copied().unwrap_or(0)) + 1;
    for frame in samples.chunks(step) {
        let _ = fsk.feed(frame);
        let _ = dtmf.feed(frame);
        let _ = progress.feed(frame);
    }
});
