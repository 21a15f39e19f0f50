//! The header fields of a message as the parser indexed them ([`Headers`],
//! [`Header`]) and the names a user agent looks them up by
//! ([`HeaderName`]), with accessors that read the common ones through the
//! typed views of `headers`.

use std::fmt;

use super::headers::{split_list, CSeq, HeaderError, NameAddr, Via};
use super::lex::parse_small_int;

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
