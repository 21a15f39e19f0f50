//! SIP messages (RFC 3261 section 7): zero-copy parsing, typed views of the
//! headers a user agent needs, and building messages to send.
//!
//! Parsing works the way `httparse` does: [`Message::parse`] borrows every
//! start-line element and header value from the received datagram and
//! allocates nothing but the header index. Typed interpretation
//! ([`NameAddr`], [`Via`], [`CSeq`], [`Uri`]) is computed on demand from
//! those slices, so a proxy-like fast path that only needs the Call-ID and
//! the top Via never pays for parsing a Contact.
//!
//! ```
//! use sip_core::message::{Message, HeaderName};
//!
//! let raw = b"OPTIONS sip:alice@example.com SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK776asdhds\r\n\
//!     To: <sip:alice@example.com>\r\n\
//!     f: \"Bob\" <sip:bob@example.org>;tag=1928301774\r\n\
//!     i: a84b4c76e66710\r\n\
//!     CSeq: 63104 OPTIONS\r\n\
//!     l: 0\r\n\r\n";
//! let msg = Message::parse(raw).unwrap();
//! let req = msg.as_request().unwrap();
//! assert_eq!(req.method.as_str(), "OPTIONS");
//! assert_eq!(msg.headers().get(HeaderName::CallId), Some("a84b4c76e66710"));
//! let from = msg.headers().from().unwrap();
//! assert_eq!(from.display_name().as_deref(), Some("Bob"));
//! assert_eq!(from.tag(), Some("1928301774"));
//! ```

mod build;
mod headers;
mod params;
mod parse;
mod uri;
pub mod validate;

pub use build::{MessageBuilder, ResponseBuilder, ResponseHead};
pub use headers::{
    split_list, CSeq, HeaderError, NameAddr, Via, ViaTransport, NAME_ADDR_LIST_LIMIT,
};
pub use params::{unquote, ParamError, Params};
pub use parse::{salvage_for_response, ParseError, ParseLimits, Partial, Salvaged};
pub use uri::{percent_decode, Host, Uri, UriError};

use std::fmt;

/// A SIP request method (RFC 3261 section 7.1 and the extensions a phone
/// line meets). Unknown methods are kept as [`Method::Extension`] so that an
/// endpoint can answer them with 501 instead of failing to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method<'a> {
    /// INVITE: establish a session (RFC 3261).
    Invite,
    /// ACK: confirm the final response to an INVITE.
    Ack,
    /// BYE: end a dialog.
    Bye,
    /// CANCEL: cancel a pending request.
    Cancel,
    /// OPTIONS: query capabilities; also used as keep-alive.
    Options,
    /// REGISTER: bind an address of record to a contact.
    Register,
    /// INFO: mid-dialog information (RFC 6086), e.g. DTMF relay.
    Info,
    /// REFER: ask the peer to contact a third party (RFC 3515).
    Refer,
    /// NOTIFY: event notification (RFC 6665).
    Notify,
    /// SUBSCRIBE: event subscription (RFC 6665).
    Subscribe,
    /// MESSAGE: instant message (RFC 3428).
    Message,
    /// UPDATE: session update before answer (RFC 3311).
    Update,
    /// PRACK: reliable provisional response acknowledgement (RFC 3262).
    Prack,
    /// PUBLISH: event state publication (RFC 3903).
    Publish,
    /// Any other token.
    Extension(&'a str),
}

impl<'a> Method<'a> {
    /// Interprets a method token (case-sensitive, as RFC 3261 says).
    pub fn from_token(token: &'a str) -> Method<'a> {
        match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "INFO" => Method::Info,
            "REFER" => Method::Refer,
            "NOTIFY" => Method::Notify,
            "SUBSCRIBE" => Method::Subscribe,
            "MESSAGE" => Method::Message,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "PUBLISH" => Method::Publish,
            other => Method::Extension(other),
        }
    }

    /// The method as written on the wire.
    pub fn as_str(&self) -> &'a str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Notify => "NOTIFY",
            Method::Subscribe => "SUBSCRIBE",
            Method::Message => "MESSAGE",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Publish => "PUBLISH",
            Method::Extension(s) => s,
        }
    }
}

impl fmt::Display for Method<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Header names a user agent looks up, with their compact forms
/// (RFC 3261 section 7.3.3 and later RFCs). Lookups are case-insensitive and
/// match both the long and the compact form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum HeaderName {
    Accept,
    AcceptEncoding,
    AcceptLanguage,
    AlertInfo,
    Allow,
    AllowEvents,
    Authorization,
    CallId,
    CallInfo,
    Contact,
    ContentDisposition,
    ContentEncoding,
    ContentLength,
    ContentType,
    CSeq,
    Date,
    Event,
    Expires,
    From,
    MaxForwards,
    MinExpires,
    PAssertedIdentity,
    PPreferredIdentity,
    Privacy,
    ProxyAuthenticate,
    ProxyAuthorization,
    ProxyRequire,
    Reason,
    RecordRoute,
    ReferTo,
    ReferredBy,
    RemotePartyId,
    Require,
    RetryAfter,
    Route,
    Server,
    SessionExpires,
    Subject,
    SubscriptionState,
    Supported,
    Timestamp,
    To,
    Unsupported,
    UserAgent,
    Via,
    Warning,
    WwwAuthenticate,
}

impl HeaderName {
    /// The canonical long form, used when we build messages.
    pub fn as_str(self) -> &'static str {
        use HeaderName::*;
        match self {
            Accept => "Accept",
            AcceptEncoding => "Accept-Encoding",
            AcceptLanguage => "Accept-Language",
            AlertInfo => "Alert-Info",
            Allow => "Allow",
            AllowEvents => "Allow-Events",
            Authorization => "Authorization",
            CallId => "Call-ID",
            CallInfo => "Call-Info",
            Contact => "Contact",
            ContentDisposition => "Content-Disposition",
            ContentEncoding => "Content-Encoding",
            ContentLength => "Content-Length",
            ContentType => "Content-Type",
            CSeq => "CSeq",
            Date => "Date",
            Event => "Event",
            Expires => "Expires",
            From => "From",
            MaxForwards => "Max-Forwards",
            MinExpires => "Min-Expires",
            PAssertedIdentity => "P-Asserted-Identity",
            PPreferredIdentity => "P-Preferred-Identity",
            Privacy => "Privacy",
            ProxyAuthenticate => "Proxy-Authenticate",
            ProxyAuthorization => "Proxy-Authorization",
            ProxyRequire => "Proxy-Require",
            Reason => "Reason",
            RecordRoute => "Record-Route",
            ReferTo => "Refer-To",
            ReferredBy => "Referred-By",
            RemotePartyId => "Remote-Party-ID",
            Require => "Require",
            RetryAfter => "Retry-After",
            Route => "Route",
            Server => "Server",
            SessionExpires => "Session-Expires",
            Subject => "Subject",
            SubscriptionState => "Subscription-State",
            Supported => "Supported",
            Timestamp => "Timestamp",
            To => "To",
            Unsupported => "Unsupported",
            UserAgent => "User-Agent",
            Via => "Via",
            Warning => "Warning",
            WwwAuthenticate => "WWW-Authenticate",
        }
    }

    /// The compact form (RFC 3261 7.3.3, RFC 3515, RFC 4028, RFC 6665), if any.
    pub fn compact(self) -> Option<char> {
        use HeaderName::*;
        Some(match self {
            CallId => 'i',
            Contact => 'm',
            ContentEncoding => 'e',
            ContentLength => 'l',
            ContentType => 'c',
            Event => 'o',
            From => 'f',
            Subject => 's',
            Supported => 'k',
            To => 't',
            Via => 'v',
            ReferTo => 'r',
            ReferredBy => 'b',
            SessionExpires => 'x',
            AllowEvents => 'u',
            _ => return None,
        })
    }

    /// Recognises a header name as written on the wire (either form, any case).
    pub fn from_wire(name: &str) -> Option<HeaderName> {
        use HeaderName::*;
        let b = name.as_bytes();
        if b.len() == 1 {
            return Some(match b[0].to_ascii_lowercase() {
                b'i' => CallId,
                b'm' => Contact,
                b'e' => ContentEncoding,
                b'l' => ContentLength,
                b'c' => ContentType,
                b'o' => Event,
                b'f' => From,
                b's' => Subject,
                b'k' => Supported,
                b't' => To,
                b'v' => Via,
                b'r' => ReferTo,
                b'b' => ReferredBy,
                b'x' => SessionExpires,
                b'u' => AllowEvents,
                _ => return None,
            });
        }
        // Dispatch on length and first letter to the one candidate (rarely
        // two) and compare that once, case-insensitively.
        let first = b.first()?;
        let candidate = match (b.len(), first.to_ascii_lowercase()) {
            (2, b't') => To,
            (3, b'v') => Via,
            (4, b'c') => CSeq,
            (4, b'd') => Date,
            (4, b'f') => From,
            (5, b'a') => Allow,
            (5, b'e') => Event,
            (5, b'r') => Route,
            (6, b'a') => Accept,
            (6, b'r') => Reason,
            (6, b's') => Server,
            (7, b'c') => {
                if b.eq_ignore_ascii_case(b"Call-ID") {
                    return Some(CallId);
                }
                if b.eq_ignore_ascii_case(b"Contact") {
                    return Some(Contact);
                }
                return None;
            }
            (7, b'e') => Expires,
            (7, b'p') => Privacy,
            (7, b'r') => Require,
            (7, b's') => Subject,
            (7, b'w') => Warning,
            (8, b'r') => ReferTo,
            (9, b'c') => CallInfo,
            (9, b's') => Supported,
            (9, b't') => Timestamp,
            (10, b'a') => AlertInfo,
            (10, b'u') => UserAgent,
            (11, b'm') => MinExpires,
            (11, b'r') => {
                if b.eq_ignore_ascii_case(b"Referred-By") {
                    return Some(ReferredBy);
                }
                if b.eq_ignore_ascii_case(b"Retry-After") {
                    return Some(RetryAfter);
                }
                return None;
            }
            (11, b'u') => Unsupported,
            (12, b'a') => AllowEvents,
            (12, b'c') => ContentType,
            (12, b'm') => MaxForwards,
            (12, b'r') => RecordRoute,
            (13, b'a') => Authorization,
            (13, b'p') => ProxyRequire,
            (14, b'c') => ContentLength,
            (15, b'a') => {
                if b.eq_ignore_ascii_case(b"Accept-Encoding") {
                    return Some(AcceptEncoding);
                }
                if b.eq_ignore_ascii_case(b"Accept-Language") {
                    return Some(AcceptLanguage);
                }
                return None;
            }
            (15, b'r') => RemotePartyId,
            (15, b's') => SessionExpires,
            (16, b'c') => ContentEncoding,
            (16, b'w') => WwwAuthenticate,
            (18, b'p') => ProxyAuthenticate,
            (18, b's') => SubscriptionState,
            (19, b'c') => ContentDisposition,
            (19, b'p') => {
                if b.eq_ignore_ascii_case(b"P-Asserted-Identity") {
                    return Some(PAssertedIdentity);
                }
                if b.eq_ignore_ascii_case(b"Proxy-Authorization") {
                    return Some(ProxyAuthorization);
                }
                return None;
            }
            (20, b'p') => PPreferredIdentity,
            _ => return None,
        };
        let canonical = candidate.as_str().as_bytes();
        // Most peers write the canonical case; compare bytes first.
        (b == canonical || b.eq_ignore_ascii_case(canonical)).then_some(candidate)
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header field as received: its name as written and its value with
/// leading and trailing whitespace removed. Folded lines (RFC 3261 7.3.1)
/// stay in the value as written; the typed views treat the CRLF + whitespace
/// of a fold as ordinary linear whitespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The name as written (`Call-ID`, `i`, `cAlL-iD`, ...).
    pub name: &'a str,
    /// The recognised name, when it is one we know.
    pub known: Option<HeaderName>,
    /// The raw value.
    pub value: &'a str,
}

impl<'a> Header<'a> {
    /// True when this header is `name` (either form, any case).
    pub fn is(&self, name: HeaderName) -> bool {
        self.known == Some(name)
    }

    /// True when the header's name equals `name` case-insensitively
    /// (for extension headers we have no [`HeaderName`] for).
    pub fn is_named(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// The header fields of a message, in the order received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers<'a> {
    list: Vec<Header<'a>>,
}

impl<'a> Headers<'a> {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Headers {
            list: Vec::with_capacity(n),
        }
    }

    pub(crate) fn push(&mut self, h: Header<'a>) {
        self.list.push(h);
    }

    /// All headers in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header<'a>> + '_ {
        self.list.iter()
    }

    /// Number of header fields (a folded or comma-joined field counts once).
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when there are no headers.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The value of the first header called `name`.
    pub fn get(&self, name: HeaderName) -> Option<&'a str> {
        self.list.iter().find(|h| h.is(name)).map(|h| h.value)
    }

    /// The value of the first header whose name is `name` (extension headers).
    pub fn get_named(&self, name: &str) -> Option<&'a str> {
        self.list.iter().find(|h| h.is_named(name)).map(|h| h.value)
    }

    /// Every value of header `name`, one per header line (not split on commas).
    pub fn get_all(&self, name: HeaderName) -> impl Iterator<Item = &'a str> + '_ {
        self.list
            .iter()
            .filter(move |h| h.is(name))
            .map(|h| h.value)
    }

    /// How many header lines carry `name`.
    pub fn count(&self, name: HeaderName) -> usize {
        self.list.iter().filter(|h| h.is(name)).count()
    }

    /// Every element of a comma-separated list header (Via, Contact, Route,
    /// Record-Route, Allow, Supported, Require...), across all its lines,
    /// in order. Commas inside quotes and angle brackets do not split.
    pub fn list(&self, name: HeaderName) -> impl Iterator<Item = &'a str> + '_ {
        self.get_all(name).flat_map(split_list)
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Option<&'a str> {
        self.get(HeaderName::CallId)
    }

    /// The From header as a name-addr.
    pub fn from(&self) -> Result<NameAddr<'a>, HeaderError> {
        NameAddr::parse(
            self.get(HeaderName::From)
                .ok_or(HeaderError::Missing("From"))?,
        )
    }

    /// The To header as a name-addr.
    pub fn to(&self) -> Result<NameAddr<'a>, HeaderError> {
        NameAddr::parse(self.get(HeaderName::To).ok_or(HeaderError::Missing("To"))?)
    }

    /// The CSeq header.
    pub fn cseq(&self) -> Result<CSeq<'a>, HeaderError> {
        CSeq::parse(
            self.get(HeaderName::CSeq)
                .ok_or(HeaderError::Missing("CSeq"))?,
        )
    }

    /// The topmost Via.
    pub fn top_via(&self) -> Result<Via<'a>, HeaderError> {
        let first = self
            .list(HeaderName::Via)
            .next()
            .ok_or(HeaderError::Missing("Via"))?;
        Via::parse(first)
    }

    /// Every Via, top first.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'a>, HeaderError>> + '_ {
        self.list(HeaderName::Via).map(Via::parse)
    }

    /// Every Contact value as a name-addr (a `*` Contact is an error here;
    /// check [`Headers::get`] for it first where it is allowed).
    pub fn contacts(&self) -> impl Iterator<Item = Result<NameAddr<'a>, HeaderError>> + '_ {
        self.list(HeaderName::Contact).map(NameAddr::parse)
    }

    /// Max-Forwards as a number (0..=255).
    pub fn max_forwards(&self) -> Result<Option<u8>, HeaderError> {
        match self.get(HeaderName::MaxForwards) {
            None => Ok(None),
            Some(v) => parse_small_int(v, 255)
                .map(|n| Some(n as u8))
                .ok_or(HeaderError::Invalid(
                    "Max-Forwards",
                    "not a number from 0 to 255",
                )),
        }
    }

    /// The Expires header in seconds.
    pub fn expires(&self) -> Result<Option<u32>, HeaderError> {
        match self.get(HeaderName::Expires) {
            None => Ok(None),
            Some(v) => parse_small_int(v, u32::MAX as u64)
                .map(|n| Some(n as u32))
                .ok_or(HeaderError::Invalid("Expires", "not a number of seconds")),
        }
    }

    /// The Content-Type media type, lower-cased comparison left to the caller.
    pub fn content_type(&self) -> Option<&'a str> {
        self.get(HeaderName::ContentType)
    }
}

/// Parses a decimal number made of digits only (no sign, no whitespace
/// inside), refusing values above `max`. Leading zeroes are allowed.
pub(crate) fn parse_small_int(s: &str, max: u64) -> Option<u64> {
    let s = trim_lws(s);
    if s.is_empty() || s.len() > 40 {
        return None;
    }
    let mut n: u64 = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        if n > max {
            return None;
        }
    }
    Some(n)
}

/// Linear whitespace: SP, HTAB, and the CR LF of a folded line.
#[inline]
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trims linear whitespace (including folds) on both ends.
#[inline]
pub(crate) fn trim_lws(s: &str) -> &str {
    let b = s.as_bytes();
    let mut i = 0;
    let mut j = b.len();
    while i < j && is_lws(b[i]) {
        i += 1;
    }
    while j > i && is_lws(b[j - 1]) {
        j -= 1;
    }
    // Only ASCII bytes were skipped, so both ends are char boundaries.
    &s[i..j]
}

/// RFC 3261 `token` characters.
#[inline]
pub(crate) fn is_token_char(b: u8) -> bool {
    TOKEN_CHARS[b as usize]
}

/// RFC 3261 `token` characters, the definition the tables are built from
/// (at compile time).
pub(crate) const fn token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// RFC 3261 `token` characters as a table: one load per byte in the
/// parser's hottest loops.
static TOKEN_CHARS: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = token_byte(i as u8);
        i += 1;
    }
    t
};

/// True when `s` is a non-empty RFC 3261 token.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method from the request line.
    pub method: Method<'a>,
    /// The Request-URI exactly as written.
    pub uri: &'a str,
    /// The protocol version as written (`SIP/2.0`).
    pub version: &'a str,
    /// Header fields.
    pub headers: Headers<'a>,
    /// The body (Content-Length octets).
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// The Request-URI parsed.
    pub fn uri(&self) -> Result<Uri<'a>, UriError> {
        Uri::parse(self.uri)
    }
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'a> {
    /// The protocol version as written.
    pub version: &'a str,
    /// The status code, 100..=699.
    pub code: u16,
    /// The reason phrase (may be empty).
    pub reason: &'a str,
    /// Header fields.
    pub headers: Headers<'a>,
    /// The body.
    pub body: &'a [u8],
}

/// A parsed SIP message borrowing from the received bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// A request.
    Request(Request<'a>),
    /// A response.
    Response(Response<'a>),
}

impl<'a> Message<'a> {
    /// The request, if this is one.
    pub fn as_request(&self) -> Option<&Request<'a>> {
        match self {
            Message::Request(r) => Some(r),
            Message::Response(_) => None,
        }
    }

    /// The response, if this is one.
    pub fn as_response(&self) -> Option<&Response<'a>> {
        match self {
            Message::Response(r) => Some(r),
            Message::Request(_) => None,
        }
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers<'a> {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// The body.
    pub fn body(&self) -> &'a [u8] {
        match self {
            Message::Request(r) => r.body,
            Message::Response(r) => r.body,
        }
    }

    /// The protocol version as written.
    pub fn version(&self) -> &'a str {
        match self {
            Message::Request(r) => r.version,
            Message::Response(r) => r.version,
        }
    }
}

/// The standard reason phrase for a status code (RFC 3261 21 and later).
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => match code / 100 {
            1 => "Session Progress",
            2 => "OK",
            3 => "Redirected",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}
