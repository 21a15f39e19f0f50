//! RFC 4475 torture messages: every valid one parses with the right fields,
//! every invalid one is refused with a reason, and each gets the answer an
//! endpoint should give when it arrives over the network.

use std::path::PathBuf;

use sip_core::message::validate::{
    screen_datagram, Capabilities, StatelessReply, StatelessTags, Verdict,
};
use sip_core::message::{HeaderName, Message, Method, ParseLimits};

fn data(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/rfc4475")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// What the endpoint answers: Some(code) for a response we send, None when
/// the message is accepted, "drop" encoded as Some(0).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Answer {
    Accept,
    Respond(u16),
    Drop,
}
use Answer::*;

const EXPECTED: &[(&str, &str, Answer)] = &[
    ("wsinv.dat", "valid", Accept),
    ("intmeth.dat", "valid", Respond(501)),
    ("esc01.dat", "valid", Accept),
    ("escnull.dat", "valid", Respond(405)),
    ("esc02.dat", "valid", Respond(501)),
    ("lwsdisp.dat", "valid", Accept),
    ("longreq.dat", "valid", Accept),
    ("dblreq.dat", "valid", Respond(405)),
    ("semiuri.dat", "valid", Accept),
    ("transports.dat", "valid", Accept),
    ("mpart01.dat", "valid", Respond(405)), // MESSAGE: we do not take instant messages
    ("unreason.dat", "valid", Accept),
    ("noreason.dat", "valid", Accept),
    ("badinv01.dat", "invalid", Respond(400)),
    ("clerr.dat", "invalid", Respond(400)),
    ("ncl.dat", "invalid", Respond(400)),
    ("scalar02.dat", "invalid", Respond(400)),
    ("scalarlg.dat", "invalid", Drop),
    ("quotbal.dat", "invalid", Respond(400)),
    ("ltgtruri.dat", "invalid", Respond(400)),
    ("lwsruri.dat", "invalid", Respond(400)),
    ("lwsstart.dat", "invalid", Respond(400)),
    ("trws.dat", "invalid", Respond(400)),
    ("escruri.dat", "invalid", Respond(400)),
    ("baddate.dat", "invalid", Respond(400)),
    ("regbadct.dat", "invalid", Respond(400)),
    ("badaspec.dat", "invalid", Respond(400)),
    ("baddn.dat", "invalid", Respond(400)),
    ("badvers.dat", "invalid", Respond(505)),
    ("mismatch01.dat", "invalid", Respond(400)),
    ("mismatch02.dat", "invalid", Respond(400)),
    ("bigcode.dat", "invalid", Drop),
    ("badbranch.dat", "semantic", Accept),
    ("insuf.dat", "semantic", Respond(400)),
    ("unkscm.dat", "semantic", Respond(416)),
    ("novelsc.dat", "semantic", Respond(416)),
    ("unksm2.dat", "semantic", Respond(405)),
    ("bext01.dat", "semantic", Respond(420)),
    ("invut.dat", "semantic", Respond(415)),
    ("regaut01.dat", "semantic", Respond(405)),
    ("multi01.dat", "semantic", Respond(400)),
    ("mcl01.dat", "semantic", Respond(400)),
    ("bcast.dat", "semantic", Accept),
    ("zeromf.dat", "semantic", Accept),
    ("cparam01.dat", "semantic", Respond(405)),
    ("cparam02.dat", "semantic", Respond(405)),
    ("regescrt.dat", "semantic", Respond(405)),
    ("sdp01.dat", "semantic", Respond(406)),
    ("inv2543.dat", "valid", Accept),
    // No Via: nothing to address a 400 to.
    ("test.dat", "invalid", Drop),
];

#[test]
fn expectation_table_covers_every_message_in_expect_tsv() {
    let tsv = String::from_utf8(data("EXPECT.tsv")).unwrap();
    let mut n = 0;
    for line in tsv.lines().filter(|l| !l.trim().is_empty()) {
        let mut cols = line.split('\t');
        let file = cols.next().unwrap();
        let verdict = cols.next().unwrap();
        let row = EXPECTED
            .iter()
            .find(|(f, _, _)| *f == file)
            .unwrap_or_else(|| panic!("{file} missing from the table"));
        assert_eq!(row.1, verdict, "{file}");
        n += 1;
    }
    assert_eq!(n, 50);
    assert_eq!(EXPECTED.len(), 50);
}

fn answer(raw: &[u8]) -> (Answer, Option<Vec<u8>>) {
    let caps = Capabilities::default();
    let tags = StatelessTags::new();
    let reply = StatelessReply {
        agent: "test.invalid",
        source: "192.0.2.1:5060".parse().unwrap(),
        tags: &tags,
    };
    match screen_datagram(raw, &ParseLimits::default(), &caps, &reply) {
        Verdict::Accept(_) => (Accept, None),
        Verdict::Reject {
            rejection,
            response,
        } => (Respond(rejection.code), Some(response)),
        Verdict::Discard(_) => (Drop, None),
    }
}

#[test]
fn every_message_gets_the_endpoint_answer_rfc4475_describes() {
    let mut failures = Vec::new();
    for (file, _, want) in EXPECTED {
        let (got, response) = answer(&data(file));
        if got != *want {
            failures.push(format!("{file}: want {want:?}, got {got:?}"));
            continue;
        }
        if let Some(resp) = response {
            // Every response we send parses, echoes the Call-ID, and a 4xx
            // says why in a Warning.
            let m = Message::parse(&resp).unwrap_or_else(|e| panic!("{file}: our response: {e}"));
            let r = m.as_response().unwrap();
            assert_eq!(Answer::Respond(r.code), got, "{file}");
            // (insuf has no Call-ID to echo: that is why it is refused.)
            assert_eq!(
                m.headers().call_id().is_some(),
                *file != "insuf.dat",
                "{file}"
            );
            assert!(
                m.headers().get(HeaderName::Warning).is_some(),
                "{file}: no Warning in {}",
                String::from_utf8_lossy(&resp)
            );
            // A To we could read gets our tag; a malformed one is echoed as is.
            if let Ok(to) = m.headers().to() {
                assert!(to.tag().is_some(), "{file}");
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn valid_messages_parse_and_invalid_ones_fail_parse_or_validation() {
    for (file, verdict, _) in EXPECTED {
        let raw = data(file);
        let parsed = Message::parse(&raw);
        if *verdict == "valid" {
            let m = parsed.unwrap_or_else(|e| panic!("{file}: {e}"));
            // Every valid message's mandatory headers read as typed values.
            m.headers()
                .to()
                .unwrap_or_else(|e| panic!("{file}: To: {e}"));
            m.headers()
                .from()
                .unwrap_or_else(|e| panic!("{file}: From: {e}"));
            m.headers()
                .cseq()
                .unwrap_or_else(|e| panic!("{file}: CSeq: {e}"));
            m.headers()
                .top_via()
                .unwrap_or_else(|e| panic!("{file}: Via: {e}"));
            assert!(m.headers().call_id().is_some(), "{file}");
        }
    }
}

#[test]
fn wsinv_fields() {
    let raw = data("wsinv.dat");
    let m = Message::parse(&raw).unwrap();
    let r = m.as_request().unwrap();
    assert_eq!(r.method, Method::Invite);
    assert_eq!(r.uri, "sip:vivekg@chair-dnrc.example.com;unknownparam");
    let h = &r.headers;
    let to = h.to().unwrap();
    assert_eq!(to.uri.raw, "sip:vivekg@chair-dnrc.example.com");
    assert_eq!(to.tag(), Some("1918181833n"));
    let from = h.from().unwrap();
    assert_eq!(from.display_name().unwrap(), "J Rosenberg \\\"");
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(h.max_forwards().unwrap(), Some(68));
    assert_eq!(h.call_id(), Some("wsinv.ndaksdj@192.0.2.1"));
    let cseq = h.cseq().unwrap();
    assert_eq!((cseq.seq, cseq.method), (9, Method::Invite));
    let vias: Vec<_> = h.vias().map(|v| v.unwrap()).collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].branch(), Some("390skdjuw"));
    assert_eq!(vias[1].host_str, "spindle.example.com");
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    assert_eq!(h.get(HeaderName::Subject), Some(""));
    assert_eq!(
        h.get_named("NewFangledHeader"),
        Some("newfangled value\r\n continued newfangled value")
    );
    assert_eq!(
        h.get_named("UnknownHeaderWithUnusualValue"),
        Some(";;,,;;,;")
    );
    let route = sip_core::message::NameAddr::parse(h.get(HeaderName::Route).unwrap()).unwrap();
    assert_eq!(route.uri.param("lr"), Some(""));
    let contact = h.contacts().next().unwrap().unwrap();
    assert_eq!(contact.display_name().unwrap(), "Quoted string \"\"");
    assert_eq!(contact.params.get("newparam"), Some("newvalue"));
    assert_eq!(contact.params.get("q"), Some("0.33"));
    assert_eq!(r.body.len(), 150);
}

#[test]
fn intmeth_fields() {
    let raw = data("intmeth.dat");
    let m = Message::parse(&raw).unwrap();
    let r = m.as_request().unwrap();
    assert_eq!(
        r.method.as_str(),
        "!interesting-Method0123456789_*+`.%indeed'~"
    );
    let uri = r.uri().unwrap();
    assert_eq!(
        uri.user,
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        uri.password,
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(uri.host_str, "example.com");
    let to = r.headers.to().unwrap();
    assert_eq!(to.display_name().unwrap(), "BEL:\x07 NUL:\0 DEL:\x7f");
    assert_eq!(r.headers.from().unwrap().tag(), Some("_token~1'+`*%!-."));
    assert_eq!(r.headers.cseq().unwrap().method, r.method);
    assert!(r.headers.get_named("extensionHeader-!.%*+_`'~").is_some());
}

#[test]
fn escapes_decode() {
    let raw = data("esc01.dat");
    let m = Message::parse(&raw).unwrap();
    let r = m.as_request().unwrap();
    assert_eq!(
        r.uri().unwrap().user_decoded().unwrap(),
        "sips:user@example.com"
    );
    assert_eq!(r.headers.to().unwrap().uri.user_decoded().unwrap(), "user");
    assert_eq!(
        r.headers.from().unwrap().uri.user_decoded().unwrap(),
        "I have spaces"
    );
    let contact = r.headers.contacts().next().unwrap().unwrap();
    assert_eq!(contact.uri.user_decoded().unwrap(), "caller");
    assert!(contact.uri.params().has("%6C%72"));

    let raw = data("escnull.dat");
    let m = Message::parse(&raw).unwrap();
    let contacts: Vec<_> = m.headers().contacts().map(|c| c.unwrap()).collect();
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts[1].uri.user_decoded().unwrap(), "\0\0");

    let raw = data("esc02.dat");
    let m = Message::parse(&raw).unwrap();
    assert_eq!(
        m.as_request().unwrap().method,
        Method::Extension("RE%47IST%45R")
    );
    // C%6Fntact is an extension header, not Contact.
    assert_eq!(m.headers().count(HeaderName::Contact), 2);
    assert_eq!(m.headers().to().unwrap().display_name().unwrap(), "%Z%45");
}

#[test]
fn compact_forms_map_to_long_names() {
    let raw = data("dblreq.dat");
    let m = Message::parse(&raw).unwrap();
    assert_eq!(
        m.headers().call_id(),
        Some("dblreq.0ha0isndaksdj99sdfafnl3lk233412")
    );
    // Only the first message of the datagram, and its empty body.
    assert_eq!(m.body(), b"");
    assert_eq!(m.as_request().unwrap().method, Method::Register);

    let raw = data("semiuri.dat");
    let m = Message::parse(&raw).unwrap();
    let uri = m.as_request().unwrap().uri().unwrap();
    assert_eq!(uri.user, Some("user;par=u%40example.net"));
    assert_eq!(uri.host_str, "example.com");
    let accept: Vec<_> = m.headers().list(HeaderName::Accept).collect();
    assert_eq!(accept.len(), 6);
    assert_eq!(accept[5], "message/sipfrag");
}

#[test]
fn long_values_survive() {
    let raw = data("longreq.dat");
    let m = Message::parse(&raw).unwrap();
    let to = m.headers().to().unwrap();
    assert!(to.display_name().unwrap().len() > 90);
    assert_eq!(to.uri.port, Some(6000));
    assert!(m.headers().vias().count() > 10);
    for v in m.headers().vias() {
        v.unwrap();
    }
}

#[test]
fn transports_and_responses() {
    let raw = data("transports.dat");
    let m = Message::parse(&raw).unwrap();
    let t: Vec<String> = m
        .headers()
        .vias()
        .map(|v| format!("{:?}", v.unwrap().transport))
        .collect();
    assert_eq!(
        t,
        ["Udp", "Other(\"SCTP\")", "Tls", "Other(\"UNKNOWN\")", "Tcp"]
            .map(|s| s.replace("Other(\"SCTP\")", "Sctp"))
    );

    let raw = data("noreason.dat");
    let m = Message::parse(&raw).unwrap();
    let r = m.as_response().unwrap();
    assert_eq!((r.code, r.reason), (100, ""));

    let raw = data("unreason.dat");
    let m = Message::parse(&raw).unwrap();
    let r = m.as_response().unwrap();
    assert_eq!(r.code, 200);
    assert!(r.reason.starts_with("= 2**3 * 5**2 "));
    assert_eq!(r.body.len(), 154);
}

#[test]
fn rfc2543_and_multipart() {
    let raw = data("inv2543.dat");
    let m = Message::parse(&raw).unwrap();
    let via = m.headers().top_via().unwrap();
    assert_eq!(via.branch(), None);
    // No Content-Length over UDP: the body runs to the end of the datagram.
    assert!(m.body().starts_with(b"v=0"));
    let raw = data("mpart01.dat");
    let m = Message::parse(&raw).unwrap();
    assert!(m
        .headers()
        .content_type()
        .unwrap()
        .starts_with("multipart/mixed"));
}

#[test]
fn no_panic_on_any_truncation_or_corruption_of_the_corpus() {
    let caps = Capabilities::default();
    let tags = StatelessTags::new();
    let reply = StatelessReply {
        agent: "x",
        source: "192.0.2.1:5060".parse().unwrap(),
        tags: &tags,
    };
    for (file, _, _) in EXPECTED {
        let raw = data(file);
        for cut in (0..raw.len()).step_by(7) {
            let _ = screen_datagram(&raw[..cut], &ParseLimits::default(), &caps, &reply);
        }
        let mut flipped = raw.clone();
        for i in (0..flipped.len()).step_by(13) {
            flipped[i] ^= 0x5a;
            let _ = screen_datagram(&flipped, &ParseLimits::default(), &caps, &reply);
        }
    }
}
