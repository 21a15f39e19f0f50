//! Any text as a WWW-Authenticate/Proxy-Authenticate challenge from a
//! registrar, and as an Authorization header sent to us: parsing and
//! answering must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_core::auth::{Authorization, Challenge, Credentials, DigestSession};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Challenge::parse(text);
    let mut session = DigestSession::new(Credentials::new("alice", "secret"));
    let _ = session.respond(&[text], "REGISTER", "sip:example.com", None);
    // A second challenge (stale nonce, nonce count) on the same session.
    let _ = session.respond(&[text, text], "INVITE", "sip:bob@example.com", Some(b"v=0"));
    if let Ok(a) = Authorization::parse(text) {
        let _ = a.verify("REGISTER", "secret", b"");
    }
});
