//! Any bytes as a received SIP datagram and as a stream: parsing, screening
//! and every typed view must return errors, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_core::message::validate::{
    screen_datagram, Capabilities, StatelessReply, StatelessTags, Verdict,
};
use sip_core::message::{HeaderName, Message, NameAddr, ParseLimits, Uri, Via};

fuzz_target!(|data: &[u8]| {
    let limits = ParseLimits::default();
    let caps = Capabilities::default();
    let tags = StatelessTags::new();
    let reply = StatelessReply {
        agent: "fuzz",
        source: std::net::SocketAddr::from(([192, 0, 2, 1], 5060)),
        tags: &tags,
    };
    if let Verdict::Reject { response, .. } = screen_datagram(data, &limits, &caps, &reply) {
        // What we send back must itself parse.
        assert!(Message::parse(&response).is_ok());
    }
    let _ = Message::parse_stream(data, &limits);
    if let Ok(m) = Message::parse(data) {
        let h = m.headers();
        let _ = h.from();
        let _ = h.to();
        let _ = h.cseq();
        let _ = h.max_forwards();
        let _ = h.expires();
        for v in h.list(HeaderName::Via) {
            let _ = Via::parse(v);
        }
        for c in h.list(HeaderName::Contact) {
            if let Ok(na) = NameAddr::parse(c) {
                let _ = na.display_name();
                let _ = na.uri.user_decoded();
            }
        }
        if let Some(r) = m.as_request() {
            let _ = Uri::parse(r.uri);
        }
    }
});
