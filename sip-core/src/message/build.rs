//! Building messages to send: a writer that appends the start line, header
//! fields and body straight into one buffer, and the RFC 3261 8.2.6 rules
//! for a response to a received request.

use std::fmt::{self, Write as _};

use super::parse::Salvaged;
use super::{reason_phrase, HeaderName, Headers, Method};

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

    /// Starts a response to a received request (RFC 3261 8.2.6.2): copies
    /// every Via in order, From, Call-ID and CSeq, and To with `to_tag`
    /// added when the request's To has no tag yet.
    pub fn response_to(
        request: &Headers<'_>,
        code: u16,
        reason: Option<&str>,
        to_tag: Option<&str>,
    ) -> MessageBuilder {
        let mut b = MessageBuilder::response(code, reason);
        for via in request.get_all(HeaderName::Via) {
            b.header(HeaderName::Via, via);
        }
        if let Some(from) = request.get(HeaderName::From) {
            b.header(HeaderName::From, from);
        }
        if let Some(to) = request.get(HeaderName::To) {
            b.push_to_with_tag(to, to_tag);
        }
        if let Some(cid) = request.get(HeaderName::CallId) {
            b.header(HeaderName::CallId, cid);
        }
        if let Some(cseq) = request.get(HeaderName::CSeq) {
            b.header(HeaderName::CSeq, cseq);
        }
        b
    }

    /// Starts a response to a request that could only be salvaged
    /// (see [`super::parse::salvage_for_response`]).
    pub fn response_to_salvaged(
        s: &Salvaged<'_>,
        code: u16,
        to_tag: Option<&str>,
    ) -> MessageBuilder {
        let mut b = MessageBuilder::response(code, None);
        for via in &s.vias {
            b.header(HeaderName::Via, via);
        }
        b.header(HeaderName::From, s.from);
        b.push_to_with_tag(s.to, to_tag);
        b.header(HeaderName::CallId, s.call_id);
        b.header(HeaderName::CSeq, s.cseq);
        b
    }

    fn push_to_with_tag(&mut self, to: &str, to_tag: Option<&str>) {
        let has_tag = super::NameAddr::parse(to)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    #[test]
    fn response_copies_dialog_headers_and_adds_to_tag() {
        let req = b"INVITE sip:bob@b.example SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP p;branch=z9hG4bK0\r\nf: <sip:a@a>;tag=9\r\nt: <sip:bob@b.example>\r\ni: cid\r\nCSeq: 7 INVITE\r\nl: 0\r\n\r\n";
        let m = Message::parse(req).unwrap();
        let out = MessageBuilder::response_to(m.headers(), 486, None, Some("abc")).finish();
        let r = Message::parse(&out).unwrap();
        let resp = r.as_response().unwrap();
        assert_eq!(resp.code, 486);
        assert_eq!(resp.reason, "Busy Here");
        let vias: Vec<_> = r.headers().get_all(HeaderName::Via).collect();
        assert_eq!(
            vias,
            [
                "SIP/2.0/UDP a;branch=z9hG4bK1",
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
}
