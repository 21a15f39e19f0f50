//! Any bytes as an SDP offer (or answer) from the far end: negotiation must
//! answer or refuse with a typed error, never panic, and every answer we
//! produce must itself be SDP we can read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_core::sdp::{parse, LocalMedia, SdpSession};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let local =
        LocalMedia::new([192, 0, 2, 1].into(), 16384).expect("192.0.2.1 is a media address");
    let mut session = SdpSession::new(local.clone());
    if let Ok((answer, _media)) = session.answer(text) {
        assert!(parse(&answer).is_ok(), "our answer must parse: {answer}");
    }
    let mut caller = SdpSession::new(local);
    let _ = caller.offer();
    let _ = caller.accept_answer(text);
});
