//! The zero-copy message parser: framing (start line, header lines with
//! folding, Content-Length and the body) over bytes from a datagram or a
//! stream. Interpretation of individual header values is left to the typed
//! views in `headers` and `uri`, and the endpoint's acceptance rules to
//! `validate`.

use super::fields::{Header, HeaderName, Headers};
use super::lex::{is_token_char, trim_lws};
use super::method::Method;
use super::sip_message::{Message, Request, Response};

/// Why a message could not be framed. Each variant says what was wrong in
/// words that can go into a `Warning` header of a 400 response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but line breaks.
    #[error("empty message")]
    Empty,
    /// The blank line that ends the header section never came (datagram).
    #[error("message ends before the end of its headers")]
    Incomplete,
    /// Larger than the configured limit.
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Size seen so far.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The request line or status line is malformed.
    #[error("malformed start line: {0}")]
    BadStartLine(&'static str),
    /// A header line is malformed.
    #[error("malformed header on line {line}: {reason}")]
    BadHeader {
        /// 1-based line number, the start line being line 1.
        line: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The header section is not UTF-8.
    #[error("header section is not valid UTF-8")]
    NotUtf8,
    /// More header fields than the configured limit.
    #[error("more than {0} header fields")]
    TooManyHeaders(usize),
    /// Content-Length is not a non-negative number.
    #[error("invalid Content-Length: {0}")]
    BadContentLength(&'static str),
    /// Content-Length says more octets than the datagram holds.
    #[error("Content-Length {declared} is larger than the {available} octets of body received")]
    BodyTruncated {
        /// The declared Content-Length.
        declared: usize,
        /// The octets that follow the headers.
        available: usize,
    },
}

/// Limits applied while parsing, so that a peer cannot make us buffer or
/// index without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Largest message (headers and body) accepted, in octets.
    pub max_message_size: usize,
    /// Most header lines accepted.
    pub max_headers: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_message_size: 65_535,
            max_headers: 256,
        }
    }
}

/// A stream has not yet delivered a whole message; read more and try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partial;

impl<'a> Message<'a> {
    /// Parses one message from a datagram with the default limits.
    ///
    /// Octets after the body (RFC 4475 `dblreq`) are ignored. Without a
    /// Content-Length, the body is the rest of the datagram (RFC 3261 18.3).
    pub fn parse(buf: &'a [u8]) -> Result<Message<'a>, ParseError> {
        Self::parse_with(buf, &ParseLimits::default())
    }

    /// Parses one message from a datagram with the given limits.
    pub fn parse_with(buf: &'a [u8], limits: &ParseLimits) -> Result<Message<'a>, ParseError> {
        match parse_impl(buf, false, limits)? {
            Ok((m, _)) => Ok(m),
            // Unreachable for datagrams: parse_impl reports Incomplete instead.
            Err(Partial) => Err(ParseError::Incomplete),
        }
    }

    /// Parses the first message of a stream buffer (TCP). Returns
    /// `Ok(Err(Partial))` when more bytes are needed, or the message and the
    /// number of octets it used (leading keep-alive CRLFs included), so the
    /// caller can drain them.
    pub fn parse_stream(
        buf: &'a [u8],
        limits: &ParseLimits,
    ) -> Result<Result<(Message<'a>, usize), Partial>, ParseError> {
        parse_impl(buf, true, limits)
    }
}

/// Finds the end of the header section in `buf`: returns (end of the last
/// header line including its line break, start of the body).
fn find_header_end(buf: &[u8], lines: &mut LineEnds) -> Option<(usize, usize)> {
    for nl in memchr::memchr_iter(b'\n', buf) {
        lines.push(nl);
        match buf.get(nl + 1) {
            Some(b'\n') => return Some((nl + 1, nl + 2)),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some((nl + 1, nl + 3)),
            _ => {}
        }
    }
    None
}

/// Where the header lines end, found while looking for the blank line, so
/// the header loop does not search for them a second time. Messages with
/// more lines than fit fall back to searching.
struct LineEnds {
    ends: [u32; 64],
    len: usize,
    overflow: bool,
}

impl LineEnds {
    fn new() -> Self {
        LineEnds {
            ends: [0; 64],
            len: 0,
            overflow: false,
        }
    }

    fn push(&mut self, at: usize) {
        match (self.ends.get_mut(self.len), u32::try_from(at)) {
            (Some(slot), Ok(v)) => {
                *slot = v;
                self.len += 1;
            }
            _ => self.overflow = true,
        }
    }
}

/// True when `v` is `SIP/<digits>.<digits>`.
fn is_sip_version(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() < 7 || !b[..4].eq_ignore_ascii_case(b"SIP/") {
        return false;
    }
    let rest = &v[4..];
    match rest.split_once('.') {
        Some((maj, min)) => {
            !maj.is_empty()
                && !min.is_empty()
                && maj.bytes().all(|c| c.is_ascii_digit())
                && min.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

fn strip_cr(line: &str) -> &str {
    line.strip_suffix('\r').unwrap_or(line)
}

type Parsed<'a> = Result<(Message<'a>, usize), Partial>;

fn parse_impl<'a>(
    buf: &'a [u8],
    stream: bool,
    limits: &ParseLimits,
) -> Result<Parsed<'a>, ParseError> {
    if !stream && buf.len() > limits.max_message_size {
        return Err(ParseError::TooLarge {
            size: buf.len(),
            limit: limits.max_message_size,
        });
    }
    // RFC 3261 7.5: CRLFs before the start line are ignored (keep-alives).
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    if start == buf.len() {
        return if stream {
            Ok(Err(Partial))
        } else {
            Err(ParseError::Empty)
        };
    }
    let rest = &buf[start..];
    let mut line_ends = LineEnds::new();
    let Some((head_len, body_off)) = find_header_end(rest, &mut line_ends) else {
        if stream {
            if rest.len() > limits.max_message_size {
                return Err(ParseError::TooLarge {
                    size: rest.len(),
                    limit: limits.max_message_size,
                });
            }
            return Ok(Err(Partial));
        }
        return Err(ParseError::Incomplete);
    };
    let head = std::str::from_utf8(&rest[..head_len]).map_err(|_| ParseError::NotUtf8)?;

    // Split off the start line.
    let first_nl = match line_ends.len {
        0 => None,
        _ => Some(line_ends.ends[0] as usize),
    };
    let (first, header_block) = match first_nl.filter(|&i| i < head.len()) {
        Some(i) => (strip_cr(&head[..i]), &head[i + 1..]),
        None => (strip_cr(head), ""),
    };
    let start_line = parse_start_line(first)?;

    // Header lines, with folding.
    let mut headers = Headers::with_capacity(24);
    let mut content_length: Option<usize> = None;
    // (name, value start offset, value end offset) of the header being built.
    let mut current: Option<(&'a str, usize, usize)> = None;
    let base = header_block.as_ptr() as usize;
    let finish = |cur: (&'a str, usize, usize),
                  headers: &mut Headers<'a>,
                  content_length: &mut Option<usize>|
     -> Result<(), ParseError> {
        let (name, vs, ve) = cur;
        let value = trim_lws(&header_block[vs..ve]);
        let known = HeaderName::from_wire(name);
        if known == Some(HeaderName::ContentLength) && content_length.is_none() {
            *content_length = Some(parse_content_length(value, limits)?);
        }
        if headers.len() >= limits.max_headers {
            return Err(ParseError::TooManyHeaders(limits.max_headers));
        }
        headers.push(Header { name, known, value });
        Ok(())
    };
    let mut pos = 0;
    let mut line_no = 1;
    // Offsets in `line_ends` are from the start of `rest`; the header
    // block starts after the first line.
    let block_off = head.len() - header_block.len();
    let mut next_end = 1;
    while pos < header_block.len() {
        line_no += 1;
        let known_end = if line_ends.overflow {
            None
        } else {
            line_ends.ends[..line_ends.len]
                .get(next_end)
                .map(|&e| e as usize - block_off)
        };
        next_end += 1;
        let end = match known_end {
            Some(e) if e >= pos => e.min(header_block.len()),
            _ => memchr::memchr(b'\n', &header_block.as_bytes()[pos..])
                .map_or(header_block.len(), |i| pos + i),
        };
        // `end` is at a '\n' (ASCII) or the end, so both are char boundaries.
        let line = strip_cr(&header_block[pos..end]);
        pos = end + 1;
        if line.is_empty() {
            break;
        }
        let line_start = line.as_ptr() as usize - base;
        let first_byte = line.as_bytes()[0];
        if first_byte == b' ' || first_byte == b'\t' {
            match current.as_mut() {
                Some(cur) => cur.2 = line_start + line.len(),
                None => {
                    return Err(ParseError::BadHeader {
                        line: line_no,
                        reason: "continuation line before any header",
                    })
                }
            }
            continue;
        }
        if let Some(cur) = current.take() {
            finish(cur, &mut headers, &mut content_length)?;
        }
        // One pass over the name: token characters, optional SP/HT, then ':'.
        let lb = line.as_bytes();
        let mut name_end = 0;
        while name_end < lb.len() && is_token_char(lb[name_end]) {
            name_end += 1;
        }
        let mut colon = name_end;
        while colon < lb.len() && (lb[colon] == b' ' || lb[colon] == b'\t') {
            colon += 1;
        }
        if name_end == 0 || colon >= lb.len() || lb[colon] != b':' {
            return Err(ParseError::BadHeader {
                line: line_no,
                reason: if memchr::memchr(b':', lb).is_none() {
                    "header line without a colon"
                } else {
                    "header name is not a token"
                },
            });
        }
        let name = &line[..name_end];
        current = Some((name, line_start + colon + 1, line_start + line.len()));
    }
    if let Some(cur) = current.take() {
        finish(cur, &mut headers, &mut content_length)?;
    }

    // The body.
    let body_start = start + body_off;
    let available = buf.len() - body_start;
    let body_len = match content_length {
        Some(n) => {
            if n > available {
                if stream {
                    if body_start + n > limits.max_message_size + start {
                        return Err(ParseError::TooLarge {
                            size: body_start - start + n,
                            limit: limits.max_message_size,
                        });
                    }
                    return Ok(Err(Partial));
                }
                return Err(ParseError::BodyTruncated {
                    declared: n,
                    available,
                });
            }
            n
        }
        // RFC 3261 18.3: over UDP the body runs to the end of the datagram;
        // on a stream Content-Length is mandatory, and we read none.
        None if stream => 0,
        None => available,
    };
    let body = &buf[body_start..body_start + body_len];
    let used = body_start + body_len;
    let msg = match start_line {
        StartLine::Request {
            method,
            uri,
            version,
        } => Message::Request(Request {
            method,
            uri,
            version,
            headers,
            body,
        }),
        StartLine::Response {
            version,
            code,
            reason,
        } => Message::Response(Response {
            version,
            code,
            reason,
            headers,
            body,
        }),
    };
    Ok(Ok((msg, used)))
}

fn parse_content_length(value: &str, limits: &ParseLimits) -> Result<usize, ParseError> {
    if value.starts_with('-') {
        return Err(ParseError::BadContentLength("negative"));
    }
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadContentLength("not a number"));
    }
    let digits = value.trim_start_matches('0');
    if digits.len() > 10 {
        return Err(ParseError::BadContentLength("too large"));
    }
    let n: u64 = digits.parse().unwrap_or(0);
    if n > limits.max_message_size as u64 {
        return Err(ParseError::TooLarge {
            size: n as usize,
            limit: limits.max_message_size,
        });
    }
    Ok(n as usize)
}

enum StartLine<'a> {
    Request {
        method: Method<'a>,
        uri: &'a str,
        version: &'a str,
    },
    Response {
        version: &'a str,
        code: u16,
        reason: &'a str,
    },
}

fn parse_start_line(line: &str) -> Result<StartLine<'_>, ParseError> {
    if line.len() >= 4 && line.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let (version, rest) = line.split_once(' ').ok_or(ParseError::BadStartLine(
            "status line without a status code",
        ))?;
        if !is_sip_version(version) {
            return Err(ParseError::BadStartLine("malformed SIP version"));
        }
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::BadStartLine("status code is not three digits"));
        }
        let code: u16 = code
            .parse()
            .map_err(|_| ParseError::BadStartLine("status code is not three digits"))?;
        if !(100..=699).contains(&code) {
            return Err(ParseError::BadStartLine("status code out of range"));
        }
        return Ok(StartLine::Response {
            version,
            code,
            reason,
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version
    let mut parts = line.splitn(3, ' ');
    let method = parts.next().unwrap_or("");
    let uri = parts.next().unwrap_or("");
    let version = parts.next().ok_or(ParseError::BadStartLine(
        "request line without a SIP version",
    ))?;
    if method.is_empty() || !method.bytes().all(is_token_char) {
        return Err(ParseError::BadStartLine("method is not a token"));
    }
    if uri.is_empty() {
        return Err(ParseError::BadStartLine(
            "empty Request-URI (more than one space between elements)",
        ));
    }
    if uri.bytes().any(|b| b == b'\t' || b == b' ') {
        return Err(ParseError::BadStartLine("whitespace in Request-URI"));
    }
    if !is_sip_version(version) {
        return Err(ParseError::BadStartLine(
            "malformed SIP version (or whitespace in the Request-URI or at the end of the line)",
        ));
    }
    Ok(StartLine::Request {
        method: Method::from_token(method),
        uri,
        version,
    })
}

/// The headers needed to answer a request, read line by line from a message
/// that failed to parse, so that an endpoint can still send a 400 with the
/// reason (RFC 4475 asks for one even when the request line is broken).
/// Returns `None` when the bytes do not look like a request or lack any of
/// Via, From, To, Call-ID and CSeq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salvaged<'a> {
    /// Every Via header value, in order.
    pub vias: Vec<&'a str>,
    /// The From value.
    pub from: &'a str,
    /// The To value.
    pub to: &'a str,
    /// The Call-ID value.
    pub call_id: &'a str,
    /// The CSeq value.
    pub cseq: &'a str,
    /// True when the method of the request line is ACK (never answered).
    pub is_ack: bool,
}

/// Reads what is needed to answer a request that failed to parse. Folded
/// header lines are not joined here: such a request is answered from its
/// first line of each header, which is enough to route the 400 back.
pub fn salvage_for_response(buf: &[u8]) -> Option<Salvaged<'_>> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let rest = &buf[start..];
    let end = find_header_end(rest, &mut LineEnds::new())
        .map(|(h, _)| h)
        .unwrap_or(rest.len());
    let head = std::str::from_utf8(&rest[..end]).ok()?;
    let mut lines = head.split('\n').map(strip_cr);
    let first = lines.next()?;
    if first.len() >= 4 && first.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/") {
        return None;
    }
    let is_ack = first.split(' ').next() == Some("ACK");
    let (mut from, mut to, mut call_id, mut cseq) = (None, None, None, None);
    let mut vias = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = trim_lws(value);
        match HeaderName::from_wire(name.trim_end_matches([' ', '\t'])) {
            Some(HeaderName::Via) => vias.push(value),
            Some(HeaderName::From) if from.is_none() => from = Some(value),
            Some(HeaderName::To) if to.is_none() => to = Some(value),
            Some(HeaderName::CallId) if call_id.is_none() => call_id = Some(value),
            Some(HeaderName::CSeq) if cseq.is_none() => cseq = Some(value),
            _ => {}
        }
    }
    if vias.is_empty() || vias.iter().any(|v| v.is_empty()) {
        return None;
    }
    Some(Salvaged {
        vias,
        from: from?,
        to: to?,
        call_id: call_id?,
        cseq: cseq?,
        is_ack,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    #[test]
    fn parses_request_line_headers_and_body() {
        let m = Message::parse(INVITE).unwrap();
        let r = m.as_request().unwrap();
        assert_eq!(r.method, Method::Invite);
        assert_eq!(r.uri, "sip:bob@biloxi.example.com");
        assert_eq!(r.version, "SIP/2.0");
        assert_eq!(r.headers.len(), 9);
        assert_eq!(r.headers.call_id(), Some("a84b4c76e66710"));
        assert_eq!(r.body, b"v=0\n");
    }

    #[test]
    fn stream_parse_reports_partial_then_complete() {
        let limits = ParseLimits::default();
        for cut in [0, 10, 100, INVITE.len() - 1] {
            assert_eq!(
                Message::parse_stream(&INVITE[..cut], &limits).unwrap(),
                Err(Partial),
                "cut at {cut}"
            );
        }
        let mut two = b"\r\n\r\n".to_vec();
        two.extend_from_slice(INVITE);
        two.extend_from_slice(INVITE);
        let (m, used) = Message::parse_stream(&two, &limits).unwrap().unwrap();
        assert_eq!(used, 4 + INVITE.len());
        assert_eq!(m.body(), b"v=0\n");
        let (_, used2) = Message::parse_stream(&two[used..], &limits)
            .unwrap()
            .unwrap();
        assert_eq!(used2, INVITE.len());
    }

    #[test]
    fn folded_header_keeps_whole_value() {
        let raw = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: one\r\n two\r\n\tthree\r\nl: 0\r\n\r\n";
        let m = Message::parse(raw).unwrap();
        assert_eq!(
            m.headers().get(HeaderName::Subject),
            Some("one\r\n two\r\n\tthree")
        );
    }

    #[test]
    fn accepts_bare_lf_line_ends() {
        let raw = b"OPTIONS sip:a@b SIP/2.0\nCall-ID: x\nl: 0\n\n";
        let m = Message::parse(raw).unwrap();
        assert_eq!(m.headers().call_id(), Some("x"));
    }

    #[test]
    fn rejects_oversized_datagram_and_stream() {
        let limits = ParseLimits {
            max_message_size: 100,
            max_headers: 10,
        };
        assert!(matches!(
            Message::parse_with(INVITE, &limits),
            Err(ParseError::TooLarge { .. })
        ));
        let junk = vec![b'a'; 200];
        assert!(matches!(
            Message::parse_stream(&junk, &limits),
            Err(ParseError::TooLarge { .. })
        ));
    }

    #[test]
    fn rejects_too_many_headers() {
        let mut raw = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        for i in 0..20 {
            raw.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        let limits = ParseLimits {
            max_message_size: 10_000,
            max_headers: 10,
        };
        assert_eq!(
            Message::parse_with(&raw, &limits),
            Err(ParseError::TooManyHeaders(10))
        );
    }

    #[test]
    fn status_line_variants() {
        let m = Message::parse(b"SIP/2.0 180 Ringing\r\nl: 0\r\n\r\n").unwrap();
        assert_eq!(m.as_response().unwrap().code, 180);
        let m = Message::parse(b"SIP/2.0 100\r\nl: 0\r\n\r\n").unwrap();
        assert_eq!(m.as_response().unwrap().reason, "");
        assert!(Message::parse(b"SIP/2.0 99 x\r\n\r\n").is_err());
        assert!(Message::parse(b"SIP/2.0 700 x\r\n\r\n").is_err());
        assert!(Message::parse(b"SIP/2.0 1000 x\r\n\r\n").is_err());
    }

    #[test]
    fn salvages_headers_of_broken_request() {
        let raw = b"INVITE  sip:a@b  SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: sip:a@b\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n";
        assert!(Message::parse(raw).is_err());
        let s = salvage_for_response(raw).unwrap();
        assert_eq!(s.vias, vec!["SIP/2.0/UDP h;branch=z9hG4bK1"]);
        assert_eq!(s.call_id, "c");
        assert!(!s.is_ack);
        assert!(salvage_for_response(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n").is_none());
    }

    #[test]
    fn never_panics_on_prefixes_of_a_message() {
        for cut in 0..INVITE.len() {
            let _ = Message::parse(&INVITE[..cut]);
            let _ = Message::parse_stream(&INVITE[..cut], &ParseLimits::default());
            let _ = salvage_for_response(&INVITE[..cut]);
        }
    }
}
