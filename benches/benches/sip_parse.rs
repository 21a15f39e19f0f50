//! Parse and serialize a typical INVITE (about 950 bytes, as a carrier
//! sends it) and its 200 OK, with `sip-core` and with `rsip` on the same
//! input in the same run.
//!
//! `cargo bench -p benches --bench sip_parse`
//!
//! "parse" is what `rsip::SipMessage::try_from` does: split the start line,
//! the headers and the body, and frame the body by Content-Length.
//! "parse_read" adds what a stack then reads from every message: the Via
//! branch, From/To tags, Call-ID and CSeq, as typed values. "serialize"
//! writes the same message back to bytes from its parsed form.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sip_core::message::{HeaderName, Message, MessageBuilder, Method};

/// A carrier INVITE: two Vias, Record-Route, P-Asserted-Identity, an SDP
/// offer with PCMU, PCMA and telephone-event.
const INVITE: &str = "INVITE sip:+15551230000@203.0.113.5:5060;transport=udp SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bK-524287-1---8f0a5b2c1d3e4f56;rport\r\n\
Max-Forwards: 69\r\n\
Record-Route: <sip:198.51.100.20;lr;ftag=as7d3b2c1e>\r\n\
From: \"Alice Caller\" <sip:+15557654321@198.51.100.20>;tag=as7d3b2c1e\r\n\
To: <sip:+15551230000@203.0.113.5>\r\n\
Call-ID: 3c26b8a1f0d94e2c8a7b6d5e4f3a2b1c@198.51.100.20\r\n\
CSeq: 102 INVITE\r\n\
Contact: <sip:+15557654321@198.51.100.20:5060;transport=udp>\r\n\
P-Asserted-Identity: \"Alice Caller\" <sip:+15557654321@carrier.example.net>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, UPDATE\r\n\
User-Agent: Carrier-SBC/4.2\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 269\r\n\
\r\n\
v=0\r\n\
o=root 1785343717 1785343717 IN IP4 198.51.100.21\r\n\
s=Media Gateway\r\n\
c=IN IP4 198.51.100.21\r\n\
t=0 0\r\n\
m=audio 13762 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=rtcp:13763\r\n";

const OK: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bK-524287-1---8f0a5b2c1d3e4f56;rport=5060;received=198.51.100.20\r\n\
Record-Route: <sip:198.51.100.20;lr;ftag=as7d3b2c1e>\r\n\
From: \"Alice Caller\" <sip:+15557654321@198.51.100.20>;tag=as7d3b2c1e\r\n\
To: <sip:+15551230000@203.0.113.5>;tag=8f2d1c0b9a\r\n\
Call-ID: 3c26b8a1f0d94e2c8a7b6d5e4f3a2b1c@198.51.100.20\r\n\
CSeq: 102 INVITE\r\n\
Contact: <sip:203.0.113.5:5060>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, UPDATE\r\n\
Server: ai-line/0.1.0\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 200\r\n\
\r\n\
v=0\r\n\
o=- 1234 1235 IN IP4 203.0.113.5\r\n\
s=-\r\n\
c=IN IP4 203.0.113.5\r\n\
t=0 0\r\n\
m=audio 16384 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

/// What a transaction and dialog read from every message.
fn ours_parse(bytes: &[u8]) -> usize {
    let m = Message::parse(bytes).expect("parses");
    let h = m.headers();
    let via = h.top_via().expect("via");
    let from = h.from().expect("from");
    let to = h.to().expect("to");
    let cseq = h.cseq().expect("cseq");
    via.branch().map_or(0, str::len)
        + from.tag().map_or(0, str::len)
        + to.tag().map_or(0, str::len)
        + h.call_id().map_or(0, str::len)
        + cseq.seq as usize
        + m.body().len()
}

fn rsip_parse(bytes: &[u8]) -> usize {
    use rsip::prelude::*;
    let m = rsip::SipMessage::try_from(bytes).expect("rsip parses");
    let via = m.via_header().expect("via").typed().expect("typed via");
    let from = m.from_header().expect("from").typed().expect("typed from");
    let to = m.to_header().expect("to").typed().expect("typed to");
    let cseq = m.cseq_header().expect("cseq").typed().expect("typed cseq");
    let call_id = m.call_id_header().expect("call-id");
    via.branch().map_or(0, |b| b.to_string().len())
        + from.tag().map_or(0, |t| t.to_string().len())
        + to.tag().map_or(0, |t| t.to_string().len())
        + call_id.value().len()
        + cseq.seq as usize
        + m.body().len()
}

/// Writes a parsed message back to bytes.
fn ours_serialize(m: &Message<'_>) -> Vec<u8> {
    let mut b = match m {
        Message::Request(r) => MessageBuilder::request(r.method, r.uri),
        Message::Response(r) => MessageBuilder::response(r.code, Some(r.reason)),
    };
    let mut content_type = "";
    for h in m.headers().iter() {
        match h.known {
            Some(HeaderName::ContentLength) => {}
            Some(HeaderName::ContentType) => content_type = h.value,
            _ => {
                b.header_named(h.name, h.value);
            }
        }
    }
    if m.body().is_empty() {
        b.finish()
    } else {
        b.body(content_type, m.body())
    }
}

fn bench(c: &mut Criterion) {
    // Both parsers must agree on the input before they are timed.
    assert_eq!(ours_parse(INVITE.as_bytes()), rsip_parse(INVITE.as_bytes()));
    assert_eq!(ours_parse(OK.as_bytes()), rsip_parse(OK.as_bytes()));
    assert!(matches!(
        Message::parse(INVITE.as_bytes()).map(|m| m.as_request().map(|r| r.method)),
        Ok(Some(Method::Invite))
    ));

    for (name, msg) in [("invite", INVITE), ("200_ok", OK)] {
        let mut g = c.benchmark_group(format!("parse/{name}"));
        g.throughput(Throughput::Bytes(msg.len() as u64));
        g.bench_function("sip-core", |b| {
            b.iter(|| {
                Message::parse(black_box(msg.as_bytes()))
                    .expect("parses")
                    .headers()
                    .len()
            })
        });
        g.bench_function("rsip", |b| {
            use rsip::message::HasHeaders;
            b.iter(|| {
                rsip::SipMessage::try_from(black_box(msg.as_bytes()))
                    .expect("rsip parses")
                    .headers()
                    .iter()
                    .count()
            })
        });
        g.finish();

        let mut g = c.benchmark_group(format!("parse_read/{name}"));
        g.throughput(Throughput::Bytes(msg.len() as u64));
        g.bench_function("sip-core", |b| {
            b.iter(|| ours_parse(black_box(msg.as_bytes())))
        });
        g.bench_function("rsip", |b| b.iter(|| rsip_parse(black_box(msg.as_bytes()))));
        g.finish();

        let ours = Message::parse(msg.as_bytes()).expect("parses");
        let theirs = rsip::SipMessage::try_from(msg.as_bytes()).expect("rsip parses");
        // The round trip keeps the message.
        let again = ours_serialize(&ours);
        assert_eq!(
            Message::parse(&again).expect("reparses").headers().len(),
            ours.headers().len()
        );
        let mut g = c.benchmark_group(format!("serialize/{name}"));
        g.throughput(Throughput::Bytes(msg.len() as u64));
        g.bench_function("sip-core", |b| b.iter(|| ours_serialize(black_box(&ours))));
        g.bench_function("rsip", |b| b.iter(|| black_box(&theirs).to_string()));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
