//! What an endpoint checks before it acts on a request (RFC 3261 8.2), and
//! the one place where each failure becomes a status code. RFC 4475's
//! torture messages are the test: each malformed request gets a 400 with
//! the reason in a `Warning`, an unknown version 505, an unknown method 501,
//! an unknown URI scheme 416, an unknown required extension 420, a body we
//! cannot read 415, an Accept we cannot satisfy 406.

use super::build::MessageBuilder;
use super::fields::{HeaderName, Headers};
use super::headers::{HeaderError, NameAddr, Via};
use super::lex::{is_lws, is_token, parse_small_int};
use super::method::Method;
use super::parse::{salvage_for_response, ParseError, ParseLimits};
use super::sip_message::{Message, Request, Response};
use super::uri::{Scheme, Uri};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;

/// A request the endpoint refuses, with the response to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The status code.
    pub code: u16,
    /// Why, in words; goes into a `Warning: 399` header.
    pub text: String,
    /// Headers the response must carry (Allow, Unsupported, Accept...).
    pub extra: Vec<(HeaderName, String)>,
}

impl Rejection {
    fn new(code: u16, text: impl Into<String>) -> Self {
        Rejection {
            code,
            text: text.into(),
            extra: Vec::new(),
        }
    }

    fn bad(text: impl Into<String>) -> Self {
        Rejection::new(400, text)
    }

    /// The rejection for a message that could not be parsed at all.
    pub fn unparseable(err: &ParseError) -> Self {
        let code = match err {
            ParseError::TooLarge { .. } => 513,
            _ => 400,
        };
        Rejection::new(code, err.to_string())
    }

    /// Appends the `Warning` and the extra headers to a response.
    /// `agent` names us in the Warning (host or product token).
    pub fn write_headers(&self, b: &mut MessageBuilder, agent: &str) {
        for (name, value) in &self.extra {
            b.header(*name, value);
        }
        if !self.text.is_empty() {
            let text = self.text.replace(['"', '\\', '\r', '\n'], " ");
            b.header(HeaderName::Warning, format_args!("399 {agent} \"{text}\""));
        }
    }
}

/// What this endpoint implements, so that requests for anything else are
/// answered as RFC 3261 says.
#[derive(Debug, Clone)]
pub struct Capabilities {
    /// Methods we accept (others we know get 405, unknown ones 501).
    pub allow: Vec<Method<'static>>,
    /// Option tags we support (`Require` of anything else gets 420).
    pub supported: Vec<&'static str>,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            allow: vec![
                Method::Invite,
                Method::Ack,
                Method::Bye,
                Method::Cancel,
                Method::Options,
                Method::Info,
                Method::Notify,
                Method::Update,
            ],
            supported: vec!["replaces", "norefersub"],
        }
    }
}

impl Capabilities {
    /// The value of our Allow header.
    pub fn allow_header(&self) -> String {
        let v: Vec<&str> = self.allow.iter().map(|m| m.as_str()).collect();
        v.join(", ")
    }

    fn content_types_for(method: &Method<'_>) -> &'static [&'static str] {
        match method {
            Method::Invite | Method::Ack | Method::Update | Method::Prack => {
                &["application/sdp", "multipart/mixed"]
            }
            Method::Info => &[
                "application/dtmf-relay",
                "application/dtmf",
                "application/sdp",
            ],
            Method::Notify => &["message/sipfrag"],
            Method::Refer => &[],
            _ => &["application/sdp"],
        }
    }
}

fn header_err(e: HeaderError) -> Rejection {
    Rejection::bad(e.to_string())
}

/// The media type of a Content-Type/Accept element, lower-cased
/// comparison done by the caller, parameters removed.
fn media_type(v: &str) -> &str {
    let v = v.split(';').next().unwrap_or("");
    v.trim_matches(|c: char| c.is_ascii() && is_lws(c as u8))
}

fn check_single(req_headers: &Headers<'_>, name: HeaderName, what: &str) -> Result<(), Rejection> {
    let lines = req_headers.count(name);
    if lines > 1 || (lines == 1 && req_headers.list(name).count() > 1) {
        return Err(Rejection::bad(format!("more than one {what} value")));
    }
    Ok(())
}

/// RFC 1123 date in GMT, as RFC 3261 20.17 requires:
/// `Sat, 13 Nov 2010 23:29:00 GMT`.
fn is_valid_sip_date(v: &str) -> bool {
    let parts: Vec<&str> = v.split_ascii_whitespace().collect();
    if parts.len() != 6 {
        return false;
    }
    const DAYS: [&str; 7] = ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let time_ok = {
        let t: Vec<&str> = parts[4].split(':').collect();
        t.len() == 3 && t.iter().all(|x| digits(x, 2))
    };
    DAYS.contains(&parts[0])
        && digits(parts[1], 2)
        && MONTHS.contains(&parts[2])
        && digits(parts[3], 4)
        && time_ok
        && parts[5] == "GMT"
}

/// Syntax and semantics every message (request or response) must satisfy:
/// the mandatory headers present once and well formed.
fn check_common(headers: &Headers<'_>) -> Result<(), Rejection> {
    for (name, what) in [
        (HeaderName::To, "To"),
        (HeaderName::From, "From"),
        (HeaderName::CallId, "Call-ID"),
        (HeaderName::CSeq, "CSeq"),
    ] {
        if headers.count(name) == 0 {
            return Err(Rejection::bad(format!("missing {what} header")));
        }
        check_single(headers, name, what)?;
    }
    if headers.count(HeaderName::Via) == 0 {
        return Err(Rejection::bad("missing Via header"));
    }
    for (name, what) in [
        (HeaderName::MaxForwards, "Max-Forwards"),
        (HeaderName::ContentLength, "Content-Length"),
        (HeaderName::ContentType, "Content-Type"),
        (HeaderName::Expires, "Expires"),
    ] {
        check_single(headers, name, what)?;
    }
    headers.to().map_err(header_err)?;
    headers.from().map_err(header_err)?;
    let call_id = headers.call_id().unwrap_or("");
    if call_id.is_empty() || call_id.bytes().any(is_lws) {
        return Err(Rejection::bad("Call-ID is empty or contains whitespace"));
    }
    headers.cseq().map_err(header_err)?;
    for via in headers.list(HeaderName::Via) {
        Via::parse(via).map_err(header_err)?;
    }
    headers.max_forwards().map_err(header_err)?;
    headers.expires().map_err(header_err)?;
    for name in [HeaderName::Route, HeaderName::RecordRoute] {
        for item in headers.list(name) {
            NameAddr::parse(item).map_err(header_err)?;
        }
    }
    if let Some(date) = headers.get(HeaderName::Date) {
        if !is_valid_sip_date(date) {
            return Err(Rejection::bad("Date is not an RFC 1123 date in GMT"));
        }
    }
    Ok(())
}

/// Checks a received request the way a user agent server does, in the
/// order of RFC 3261 8.2. `Ok` means the request may be processed.
pub fn check_request(req: &Request<'_>, caps: &Capabilities) -> Result<(), Rejection> {
    if !req.version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(Rejection::new(
            505,
            format!("SIP version {} is not supported", req.version),
        ));
    }
    let h = &req.headers;
    check_common(h)?;
    let uri = Uri::parse(req.uri).map_err(|e| Rejection::bad(format!("Request-URI: {e}")))?;
    if uri.is_sip() && uri.headers.is_some() {
        return Err(Rejection::bad("Request-URI must not carry headers"));
    }
    let cseq = h.cseq().map_err(header_err)?;
    if cseq.method != req.method {
        return Err(Rejection::bad(
            "CSeq method does not match the request method",
        ));
    }
    if h.get(HeaderName::Contact) != Some("*") {
        for c in h.list(HeaderName::Contact) {
            NameAddr::parse(c).map_err(header_err)?;
        }
    }

    // 8.2.1 method inspection.
    if let Method::Extension(m) = req.method {
        return Err(Rejection::new(
            501,
            format!("method {m} is not implemented"),
        ));
    }
    if !caps.allow.contains(&req.method) {
        let mut r = Rejection::new(405, format!("{} is not allowed here", req.method));
        r.extra.push((HeaderName::Allow, caps.allow_header()));
        return Err(r);
    }
    // 8.2.2.1 To and Request-URI.
    if !matches!(uri.scheme, Scheme::Sip | Scheme::Sips | Scheme::Tel) {
        return Err(Rejection::new(
            416,
            format!("URI scheme {} is not supported", uri.scheme_str),
        ));
    }
    // 8.2.2.3 Require (ignored on ACK and CANCEL).
    if !matches!(req.method, Method::Ack | Method::Cancel) {
        let unsupported: Vec<&str> = h
            .list(HeaderName::Require)
            .filter(|t| !t.is_empty() && !caps.supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .collect();
        if !unsupported.is_empty() {
            let mut r = Rejection::new(420, "required extension not supported");
            r.extra
                .push((HeaderName::Unsupported, unsupported.join(", ")));
            return Err(r);
        }
    }
    // 8.2.3 content processing.
    let accepted = Capabilities::content_types_for(&req.method);
    if let Some(ct) = h.content_type() {
        let mt = media_type(ct);
        if (!req.body.is_empty() || req.method == Method::Invite)
            && (!is_token(mt.split('/').next().unwrap_or(""))
                || !accepted.iter().any(|a| a.eq_ignore_ascii_case(mt)))
        {
            let mut r = Rejection::new(415, format!("content type {mt} is not supported"));
            if !accepted.is_empty() {
                r.extra.push((HeaderName::Accept, accepted.join(", ")));
            }
            return Err(r);
        }
    } else if !req.body.is_empty() && req.method == Method::Invite {
        let mut r = Rejection::new(415, "body without Content-Type");
        r.extra.push((HeaderName::Accept, accepted.join(", ")));
        return Err(r);
    }
    if let Some(enc) = h.get(HeaderName::ContentEncoding) {
        if !enc.eq_ignore_ascii_case("identity") && !req.body.is_empty() {
            let mut r = Rejection::new(415, format!("content encoding {enc} is not supported"));
            r.extra
                .push((HeaderName::AcceptEncoding, "identity".into()));
            return Err(r);
        }
    }
    // Accept: an INVITE's answer carries SDP.
    if req.method == Method::Invite && h.count(HeaderName::Accept) > 0 {
        let ok = h.list(HeaderName::Accept).any(|a| {
            let mt = media_type(a);
            mt.eq_ignore_ascii_case("application/sdp")
                || mt.eq_ignore_ascii_case("application/*")
                || mt == "*/*"
                || mt.is_empty()
        });
        if !ok {
            let mut r = Rejection::new(406, "our answer is application/sdp, which Accept excludes");
            r.extra.push((HeaderName::Accept, "application/sdp".into()));
            return Err(r);
        }
    }
    Ok(())
}

/// Checks a received response; a malformed one is discarded (responses
/// are never answered).
pub fn check_response(resp: &Response<'_>) -> Result<(), Rejection> {
    if !resp.version.eq_ignore_ascii_case("SIP/2.0") {
        return Err(Rejection::new(505, "unsupported SIP version"));
    }
    check_common(&resp.headers)?;
    if let Some(ra) = resp.headers.get(HeaderName::RetryAfter) {
        let secs = ra.split([';', '(']).next().unwrap_or("");
        if parse_small_int(secs, u32::MAX as u64).is_none() {
            return Err(Rejection::bad("Retry-After is not a number of seconds"));
        }
    }
    for w in resp.headers.list(HeaderName::Warning) {
        let code = w.split_ascii_whitespace().next().unwrap_or("");
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Rejection::bad("Warning code is not three digits"));
        }
    }
    Ok(())
}

/// Checks either kind of message.
pub fn check_message(msg: &Message<'_>, caps: &Capabilities) -> Result<(), Rejection> {
    match msg {
        Message::Request(r) => check_request(r, caps),
        Message::Response(r) => check_response(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(is_valid_sip_date("Sat, 13 Nov 2010 23:29:00 GMT"));
        assert!(!is_valid_sip_date("Fri, 01 Jan 2010 16:00:00 EST"));
        assert!(!is_valid_sip_date("Fri, 1 Jan 2010 16:00:00 GMT"));
    }

    #[test]
    fn a_retransmitted_request_is_refused_with_the_same_to_tag_and_a_finished_via() {
        let raw = b"OPTIONS sip:us@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKr1;rport\r\nFrom: <sip:a@a>;tag=f1\r\nTo: <sip:us@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nRequire: no-such-extension\r\nContent-Length: 0\r\n\r\n";
        let tags = StatelessTags::new();
        let reply = StatelessReply {
            agent: "test",
            source: "198.51.100.7:40123".parse().unwrap(),
            tags: &tags,
        };
        let limits = ParseLimits::default();
        let caps = Capabilities::default();
        let refuse = || match screen_datagram(raw, &limits, &caps, &reply) {
            Verdict::Reject { response, .. } => response,
            v => panic!("not refused: {v:?}"),
        };
        let (first, second) = (refuse(), refuse());
        let tag = |r: &[u8]| {
            let m = Message::parse(r).unwrap();
            m.headers().to().unwrap().tag().map(str::to_string)
        };
        assert!(tag(&first).is_some());
        assert_eq!(tag(&first), tag(&second));
        let m = Message::parse(&first).unwrap();
        assert_eq!(m.as_response().unwrap().code, 420);
        assert_eq!(
            m.headers().get(HeaderName::Via),
            Some("SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKr1;received=198.51.100.7;rport=40123")
        );
        // Another request (another branch) gets another tag.
        let other = String::from_utf8_lossy(raw).replace("z9hG4bKr1", "z9hG4bKr2");
        let Verdict::Reject { response, .. } =
            screen_datagram(other.as_bytes(), &limits, &caps, &reply)
        else {
            panic!("not refused")
        };
        assert_ne!(tag(&response), tag(&first));
    }

    #[test]
    fn warning_text_is_sanitised() {
        let r = Rejection::bad("a \"quoted\" reason");
        let mut b = MessageBuilder::response(400, None);
        r.write_headers(&mut b, "ai-line");
        let out = String::from_utf8(b.finish()).unwrap();
        assert!(out.contains("Warning: 399 ai-line \"a  quoted  reason\"\r\n"));
    }
}

/// What an endpoint does with one received datagram or stream message.
#[derive(Debug)]
pub enum Verdict<'a> {
    /// Well formed and acceptable: hand it to the transaction layer.
    Accept(Message<'a>),
    /// Refused: send `response` back to where the request came from.
    Reject {
        /// Why.
        rejection: Rejection,
        /// The response to send.
        response: Vec<u8>,
    },
    /// Dropped without an answer (a malformed response, an ACK, or a
    /// request too broken to address a response to).
    Discard(String),
}

/// Our To tag in stateless rejections, derived from the request: a keyed
/// hash of its Call-ID, From tag and top Via branch. A retransmitted
/// request is therefore refused with the same tag, as RFC 3261 8.2.7
/// asks of a stateless UAS, and nothing is drawn or stored per datagram.
/// The key is random per value, so a peer cannot predict our tags.
#[derive(Debug, Clone, Default)]
pub struct StatelessTags {
    key: RandomState,
}

impl StatelessTags {
    /// A new random key.
    pub fn new() -> Self {
        StatelessTags::default()
    }

    /// The tag for a request with this Call-ID, From header value and top
    /// Via value. The From tag and the branch are used when they can be
    /// read, the raw values otherwise; the same request always gets the
    /// same tag.
    pub fn tag_for(&self, call_id: &str, from: &str, top_via: &str) -> String {
        let from_tag = NameAddr::parse(from)
            .ok()
            .and_then(|f| f.tag().map(str::to_string));
        let branch = Via::parse(top_via)
            .ok()
            .and_then(|v| v.branch().map(str::to_string));
        let h = self.key.hash_one((
            call_id,
            from_tag.as_deref().unwrap_or(from),
            branch.as_deref().unwrap_or(top_via),
        ));
        crate::util::token_from_bits(h, 12)
    }
}

/// How [`screen_datagram`] addresses the rejections it builds.
#[derive(Debug, Clone, Copy)]
pub struct StatelessReply<'a> {
    /// Names us in the `Warning` (host or product token).
    pub agent: &'a str,
    /// Where the request came from: the response's top Via gets
    /// `received` and `rport` for it (RFC 3581 4), as every response does.
    pub source: SocketAddr,
    /// Our To tag, derived from the request.
    pub tags: &'a StatelessTags,
}

/// Parses and screens one datagram the way an endpoint does: a request is
/// parsed and checked ([`check_request`]); one that fails gets its error
/// response built here, addressed as `reply` says (our To tag derived
/// from the request, the top Via finished for the source). A request whose
/// start line is broken is still answered with a 400 when its Via, From,
/// To, Call-ID and CSeq can be read. Responses and ACKs are never
/// answered. Nothing is allocated for a message that is accepted.
pub fn screen_datagram<'a>(
    buf: &'a [u8],
    limits: &ParseLimits,
    caps: &Capabilities,
    reply: &StatelessReply<'_>,
) -> Verdict<'a> {
    match Message::parse_with(buf, limits) {
        Ok(Message::Request(req)) => match check_request(&req, caps) {
            Ok(()) => Verdict::Accept(Message::Request(req)),
            Err(rejection) if req.method == Method::Ack => Verdict::Discard(rejection.text),
            Err(rejection) => {
                let h = &req.headers;
                let tag = reply.tags.tag_for(
                    h.call_id().unwrap_or(""),
                    h.get(HeaderName::From).unwrap_or(""),
                    h.list(HeaderName::Via).next().unwrap_or(""),
                );
                let mut b =
                    MessageBuilder::response_to(h, reply.source, rejection.code, None, Some(&tag));
                rejection.write_headers(&mut b, reply.agent);
                Verdict::Reject {
                    response: b.finish(),
                    rejection,
                }
            }
        },
        Ok(Message::Response(resp)) => match check_response(&resp) {
            Ok(()) => Verdict::Accept(Message::Response(resp)),
            Err(r) => Verdict::Discard(format!("malformed response: {}", r.text)),
        },
        Err(err) => {
            let rejection = Rejection::unparseable(&err);
            match salvage_for_response(buf) {
                Some(s) if !s.is_ack => {
                    let top_via = s.vias.first().copied().unwrap_or("");
                    let tag = reply.tags.tag_for(s.call_id, s.from, top_via);
                    let mut b = MessageBuilder::response_to_salvaged(
                        &s,
                        reply.source,
                        rejection.code,
                        Some(&tag),
                    );
                    rejection.write_headers(&mut b, reply.agent);
                    Verdict::Reject {
                        response: b.finish(),
                        rejection,
                    }
                }
                _ => Verdict::Discard(format!("unparseable message: {err}")),
            }
        }
    }
}
