//! Building messages to send: a writer that appends the start line, header
//! fields and body straight into one buffer, and the RFC 3261 8.2.6 rules
//! for a response to a received request.

use std::fmt::{self, Write as _};

use super::parse::Salvaged;
use std::net::SocketAddr;

use super::fields::{HeaderName, Headers};
use super::headers::{NameAddr, Via, ViaTransport};
use super::method::Method;
use super::sip_message::reason_phrase;

/// Writes a SIP message into one growing buffer. Content-Length is written
/// by [`MessageBuilder::body`] or [`MessageBuilder::finish`], so it is
/// always right.
///
/// ```
/// use sip_core::message::{Message, MessageBuilder, Method, HeaderName};
///
/// let mut b = MessageBuilder::request(Method::Options, "sip:carrier.example.com");
/// b.header(HeaderName::Via, "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9;rport")
///     .header(HeaderName::MaxForwards, 70)
///     .header(HeaderName::CallId, "ka-1");
/// let bytes = b.finish();
/// let parsed = Message::parse(&bytes).unwrap();
/// assert_eq!(parsed.headers().call_id(), Some("ka-1"));
/// ```
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    buf: String,
}

/// Builder for a response; the same writer, named for readability.
pub type ResponseBuilder = MessageBuilder;

impl MessageBuilder {
    /// Starts a request: `METHOD uri SIP/2.0`.
    pub fn request(method: Method<'_>, uri: &str) -> MessageBuilder {
        let mut buf = String::with_capacity(1024);
        buf.push_str(method.as_str());
        buf.push(' ');
        buf.push_str(uri);
        buf.push_str(" SIP/2.0\r\n");
        MessageBuilder { buf }
    }

    /// Starts a response with the given status code and reason phrase
    /// (the standard phrase when `reason` is `None`).
    pub fn response(code: u16, reason: Option<&str>) -> MessageBuilder {
        let mut buf = String::with_capacity(1024);
        let _ = write!(
            buf,
            "SIP/2.0 {code} {}\r\n",
            reason.unwrap_or_else(|| reason_phrase(code))
        );
        MessageBuilder { buf }
    }

    /// Starts a response to a received request (RFC 3261 8.2.6.2): every
    /// Via in order, the top one finished for `source` (see
    /// [`MessageBuilder::response_via`]), From, Call-ID and CSeq, and To
    /// with `to_tag` added when the request's To has no tag yet.
    pub fn response_to(
        request: &Headers<'_>,
        source: SocketAddr,
        code: u16,
        reason: Option<&str>,
        to_tag: Option<&str>,
    ) -> MessageBuilder {
        let mut b = MessageBuilder::response(code, reason);
        b.push_response_headers(request, source, to_tag);
        b
    }

    /// Starts a response to a request that could only be salvaged
    /// (see [`super::parse::salvage_for_response`]), its top Via finished
    /// for `source` like any other response's.
    pub fn response_to_salvaged(
        s: &Salvaged<'_>,
        source: SocketAddr,
        code: u16,
        to_tag: Option<&str>,
    ) -> MessageBuilder {
        let mut b = MessageBuilder::response(code, None);
        let mut vias = s.vias.iter();
        if let Some(top) = vias.next() {
            b.response_via(top, source);
        }
        for via in vias {
            b.header(HeaderName::Via, via);
        }
        b.header(HeaderName::From, s.from);
        b.push_to_with_tag(s.to, to_tag);
        b.header(HeaderName::CallId, s.call_id);
        b.header(HeaderName::CSeq, s.cseq);
        b
    }

    fn push_response_headers(
        &mut self,
        request: &Headers<'_>,
        source: SocketAddr,
        to_tag: Option<&str>,
    ) {
        let mut vias = request.list(HeaderName::Via);
        if let Some(top) = vias.next() {
            self.response_via(top, source);
        }
        for via in vias {
            self.header(HeaderName::Via, via);
        }
        if let Some(from) = request.get(HeaderName::From) {
            self.header(HeaderName::From, from);
        }
        if let Some(to) = request.get(HeaderName::To) {
            self.push_to_with_tag(to, to_tag);
        }
        if let Some(cid) = request.get(HeaderName::CallId) {
            self.header(HeaderName::CallId, cid);
        }
        if let Some(cseq) = request.get(HeaderName::CSeq) {
            self.header(HeaderName::CSeq, cseq);
        }
    }

    /// Appends the top Via of a response: the request's `via` with
    /// `received` set to the source address when it differs from the
    /// sent-by host (RFC 3261 18.2.1) or when the request asked for
    /// `rport`, and `rport` filled in with the source port (RFC 3581 4).
    /// A Via that does not parse is copied as it is. Every response we
    /// send, stateful or stateless, gets its top Via here.
    pub fn response_via(&mut self, via: &str, source: SocketAddr) -> &mut Self {
        let Ok(v) = Via::parse(via) else {
            return self.header(HeaderName::Via, via);
        };
        let buf = &mut self.buf;
        buf.push_str("Via: SIP/");
        buf.push_str(v.version);
        buf.push('/');
        match v.transport {
            ViaTransport::Udp => buf.push_str("UDP"),
            ViaTransport::Tcp => buf.push_str("TCP"),
            ViaTransport::Tls => buf.push_str("TLS"),
            ViaTransport::Sctp => buf.push_str("SCTP"),
            ViaTransport::Other(t) => buf.push_str(t),
        }
        buf.push(' ');
        buf.push_str(v.host_str);
        if let Some(p) = v.port {
            let _ = write!(buf, ":{p}");
        }
        let wants_rport = v.rport().is_some();
        let host_matches = v.host.ip() == Some(source.ip());
        for (n, val) in v.params.iter() {
            if n.eq_ignore_ascii_case("rport") || n.eq_ignore_ascii_case("received") {
                continue;
            }
            buf.push(';');
            buf.push_str(n);
            if let Some(val) = val {
                buf.push('=');
                buf.push_str(val);
            }
        }
        if !host_matches || wants_rport {
            let _ = write!(buf, ";received={}", source.ip());
        }
        if wants_rport {
            let _ = write!(buf, ";rport={}", source.port());
        }
        buf.push_str("\r\n");
        self
    }

    /// Appends header lines taken from a [`ResponseHead`].
    pub fn head(&mut self, head: &ResponseHead) -> &mut Self {
        self.buf.push_str(&head.0);
        self
    }

    fn push_to_with_tag(&mut self, to: &str, to_tag: Option<&str>) {
        let has_tag = NameAddr::parse(to)
            .map(|n| n.tag().is_some())
            .unwrap_or(true);
        match to_tag {
            Some(tag) if !has_tag => {
                let _ = write!(self.buf, "To: {to};tag={tag}\r\n");
            }
            _ => {
                self.header(HeaderName::To, to);
            }
        }
    }

    /// Appends a header field. Values must not contain bare line breaks;
    /// callers pass values they built or copied from a parsed message.
    pub fn header(&mut self, name: HeaderName, value: impl fmt::Display) -> &mut Self {
        let _ = write!(self.buf, "{}: {value}\r\n", name.as_str());
        self
    }

    /// Appends a header field with a name of our choosing (extension headers).
    pub fn header_named(&mut self, name: &str, value: impl fmt::Display) -> &mut Self {
        let _ = write!(self.buf, "{name}: {value}\r\n");
        self
    }

    /// Finishes with a body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: &[u8]) -> Vec<u8> {
        let _ = write!(
            self.buf,
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut out = self.buf.into_bytes();
        out.extend_from_slice(body);
        out
    }

    /// Finishes without a body (`Content-Length: 0`).
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push_str("Content-Length: 0\r\n\r\n");
        self.buf.into_bytes()
    }
}

/// The header fields every response to one request copies (RFC 3261
/// 8.2.6.2: the Vias, the top one finished for the source, From, To with
/// our tag, Call-ID and CSeq), kept as text so that the responses sent
/// later (ringing, the final answer, 487 after CANCEL) need neither the
/// request nor a second parse of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead(String);

impl ResponseHead {
    /// The head of responses to `request` received from `source`, with
    /// `to_tag` added to a To that has none.
    pub fn of(request: &Headers<'_>, source: SocketAddr, to_tag: Option<&str>) -> ResponseHead {
        let mut b = MessageBuilder {
            buf: String::with_capacity(512),
        };
        b.push_response_headers(request, source, to_tag);
        ResponseHead(b.buf)
    }

    /// Starts a response with this head.
    pub fn response(&self, code: u16, reason: Option<&str>) -> MessageBuilder {
        let mut b = MessageBuilder::response(code, reason);
        b.head(self);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn src() -> SocketAddr {
        "192.0.2.9:5060".parse().unwrap()
    }

    #[test]
    fn response_copies_dialog_headers_and_adds_to_tag() {
        let req = b"INVITE sip:bob@b.example SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP p;branch=z9hG4bK0\r\nf: <sip:a@a>;tag=9\r\nt: <sip:bob@b.example>\r\ni: cid\r\nCSeq: 7 INVITE\r\nl: 0\r\n\r\n";
        let m = Message::parse(req).unwrap();
        let out = MessageBuilder::response_to(m.headers(), src(), 486, None, Some("abc")).finish();
        let r = Message::parse(&out).unwrap();
        let resp = r.as_response().unwrap();
        assert_eq!(resp.code, 486);
        assert_eq!(resp.reason, "Busy Here");
        let vias: Vec<_> = r.headers().get_all(HeaderName::Via).collect();
        assert_eq!(
            vias,
            [
                "SIP/2.0/UDP a;branch=z9hG4bK1;received=192.0.2.9",
                "SIP/2.0/UDP p;branch=z9hG4bK0"
            ]
        );
        assert_eq!(r.headers().to().unwrap().tag(), Some("abc"));
        assert_eq!(r.headers().cseq().unwrap().seq, 7);
        assert_eq!(r.headers().call_id(), Some("cid"));
    }

    #[test]
    fn body_sets_length_and_type() {
        let mut b = MessageBuilder::response(200, None);
        b.header(HeaderName::CallId, "x");
        let out = b.body("application/sdp", b"v=0\r\n");
        let m = Message::parse(&out).unwrap();
        assert_eq!(m.body(), b"v=0\r\n");
        assert_eq!(m.headers().content_type(), Some("application/sdp"));
    }
    #[test]
    fn response_via_fills_in_received_and_rport() {
        let src: SocketAddr = "198.51.100.7:40123".parse().unwrap();
        let via = |raw: &str| {
            let mut b = MessageBuilder::response(200, None);
            b.response_via(raw, src);
            let out = String::from_utf8(b.finish()).unwrap();
            let line = out.lines().nth(1).unwrap().to_string();
            line.strip_prefix("Via: ").unwrap().to_string()
        };
        assert_eq!(
            via("SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKx;rport"),
            "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKx;received=198.51.100.7;rport=40123"
        );
        assert_eq!(
            via("SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKx"),
            "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKx"
        );
        assert_eq!(
            via("SIP/2.0/TCP host.example;branch=z9hG4bKx"),
            "SIP/2.0/TCP host.example;branch=z9hG4bKx;received=198.51.100.7"
        );
        // A stale received/rport from the request is replaced, not repeated.
        assert_eq!(
            via("SIP/2.0/UDP 10.0.0.5;rport=1;received=10.9.9.9;branch=z9hG4bKx"),
            "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx;received=198.51.100.7;rport=40123"
        );
    }

    #[test]
    fn a_response_head_rebuilds_the_same_response_without_the_request() {
        let req = b"INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP a:5060;branch=z9hG4bK1;rport\r\nf: <sip:a@a>;tag=9\r\nt: <sip:bob@b.example>\r\ni: cid\r\nCSeq: 7 INVITE\r\nl: 0\r\n\r\n";
        let m = Message::parse(req).unwrap();
        let direct =
            MessageBuilder::response_to(m.headers(), src(), 180, None, Some("t1")).finish();
        let head = ResponseHead::of(m.headers(), src(), Some("t1"));
        assert_eq!(head.response(180, None).finish(), direct);
    }
}
