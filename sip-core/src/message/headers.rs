//! Typed views of header values, computed on demand from the raw slices the
//! parser produced: parameters, name-addr (From, To, Contact, Route...),
//! Via and CSeq. Linear whitespace, including the CRLF of a folded line, is
//! accepted wherever RFC 3261 allows LWS.

use std::borrow::Cow;

use super::lex::{is_lws, is_token, is_token_char, parse_small_int, trim_lws};
use super::method::Method;
use super::params::{read_quoted, unquote, ParamError, Params};
use super::uri::{split_host_port, Host, Uri, UriError};

/// Why a header value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A header the operation needs is absent.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// A header value does not follow its grammar.
    #[error("invalid {0} header: {1}")]
    Invalid(&'static str, &'static str),
    /// A URI inside the header is malformed.
    #[error("invalid URI: {0}")]
    Uri(#[from] UriError),
}

impl From<ParamError> for HeaderError {
    /// A bad parameter list or quoted string makes the header invalid.
    fn from(e: ParamError) -> Self {
        HeaderError::Invalid(e.what, e.why)
    }
}

/// The most elements [`split_list`] is expected to yield for one header; a
/// guard for callers that collect.
pub const NAME_ADDR_LIST_LIMIT: usize = 64;

/// Splits a comma-separated header value into its elements, ignoring commas
/// inside double quotes and angle brackets. Elements are trimmed of LWS;
/// empty elements are returned as empty strings so that validation can see
/// them (RFC 4475 `badinv01`).
pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let bytes = value.as_bytes();
    let mut pos = 0usize;
    let mut done = value.is_empty();
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let start = pos;
        let mut in_quotes = false;
        let mut in_angle = false;
        let mut i = start;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if in_quotes => i += 1,
                b'"' => in_quotes = !in_quotes,
                b'<' if !in_quotes => in_angle = true,
                b'>' if !in_quotes => in_angle = false,
                b',' if !in_quotes && !in_angle => break,
                _ => {}
            }
            i += 1;
        }
        let end = i.min(bytes.len());
        if end >= bytes.len() {
            done = true;
        } else {
            pos = end + 1;
        }
        Some(trim_lws(&value[start..end]))
    })
}

/// A `name-addr` or `addr-spec` with header parameters: the value of From,
/// To, Contact, Route, Record-Route, P-Asserted-Identity, Refer-To...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name as written (quoted form keeps its quotes).
    pub display: Option<&'a str>,
    /// The URI.
    pub uri: Uri<'a>,
    /// Header parameters after the URI (`tag`, `expires`, `q`, ...).
    pub params: Params<'a>,
    /// Whether the URI was enclosed in `<>`.
    pub bracketed: bool,
}

impl<'a> NameAddr<'a> {
    /// Parses one element (split lists first with [`split_list`]).
    pub fn parse(value: &'a str) -> Result<NameAddr<'a>, HeaderError> {
        let v = trim_lws(value);
        if v.is_empty() {
            return Err(HeaderError::Invalid("address", "empty value"));
        }
        let (display, after_display) = if v.starts_with('"') {
            let (_, rest) = read_quoted(v)?;
            let quoted = &v[..v.len() - rest.len()];
            let rest = trim_lws(rest);
            if !rest.starts_with('<') {
                return Err(HeaderError::Invalid(
                    "address",
                    "quoted display name not followed by <URI>",
                ));
            }
            (Some(quoted), rest)
        } else if let Some(lt) = v.find('<') {
            let name = trim_lws(&v[..lt]);
            if !name.is_empty() && !name.bytes().all(|b| is_token_char(b) || is_lws(b)) {
                return Err(HeaderError::Invalid(
                    "address",
                    "display name has characters that need quoting",
                ));
            }
            (if name.is_empty() { None } else { Some(name) }, &v[lt..])
        } else {
            (None, v)
        };

        if let Some(inner) = after_display.strip_prefix('<') {
            let gt = inner
                .find('>')
                .ok_or(HeaderError::Invalid("address", "'<' without '>'"))?;
            let uri = Uri::parse(&inner[..gt])?;
            let after = trim_lws(&inner[gt + 1..]);
            let params = match after.strip_prefix(';') {
                Some(p) => Params::parse(p)?,
                None if after.is_empty() => Params::default(),
                None => {
                    return Err(HeaderError::Invalid(
                        "address",
                        "text after '>' that is not a parameter",
                    ))
                }
            };
            return Ok(NameAddr {
                display,
                uri,
                params,
                bracketed: true,
            });
        }

        // addr-spec: the URI ends at the first ';' or whitespace; what
        // follows belongs to the header.
        let end = v
            .find(|c: char| c == ';' || (c.is_ascii() && is_lws(c as u8)))
            .unwrap_or(v.len());
        let uri_str = &v[..end];
        if uri_str.contains('?') || uri_str.contains(',') {
            return Err(HeaderError::Invalid(
                "address",
                "a URI with headers or commas must be enclosed in <>",
            ));
        }
        let uri = Uri::parse(uri_str)?;
        let after = trim_lws(&v[end..]);
        let params = match after.strip_prefix(';') {
            Some(p) => Params::parse(p)?,
            None if after.is_empty() => Params::default(),
            None => {
                return Err(HeaderError::Invalid(
                    "address",
                    "whitespace inside an unbracketed URI",
                ))
            }
        };
        Ok(NameAddr {
            display: None,
            uri,
            params,
            bracketed: false,
        })
    }

    /// The display name without quotes and escapes.
    pub fn display_name(&self) -> Option<Cow<'a, str>> {
        self.display.map(unquote)
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&'a str> {
        self.params.get("tag").filter(|t| !t.is_empty())
    }
}

/// The transport named in a Via.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViaTransport<'a> {
    /// UDP
    Udp,
    /// TCP
    Tcp,
    /// TLS
    Tls,
    /// SCTP
    Sctp,
    /// WS / WSS and anything else, as written.
    Other(&'a str),
}

/// One Via value: `SIP/2.0/UDP host:port;branch=...;rport;received=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    /// The protocol version as written, normally `2.0`.
    pub version: &'a str,
    /// The transport.
    pub transport: ViaTransport<'a>,
    /// The sent-by host.
    pub host: Host<'a>,
    /// The sent-by host as written.
    pub host_str: &'a str,
    /// The sent-by port.
    pub port: Option<u16>,
    /// Via parameters.
    pub params: Params<'a>,
}

impl<'a> Via<'a> {
    /// Parses one Via element; LWS is allowed around each `/` (RFC 4475
    /// `wsinv`).
    pub fn parse(value: &'a str) -> Result<Via<'a>, HeaderError> {
        const BAD: HeaderError = HeaderError::Invalid("Via", "expected SIP/2.0/<transport> <host>");
        let v = trim_lws(value);
        let (proto, rest) = v.split_once('/').ok_or(BAD)?;
        if !trim_lws(proto).eq_ignore_ascii_case("SIP") {
            return Err(BAD);
        }
        let (version, rest) = rest.split_once('/').ok_or(BAD)?;
        let version = trim_lws(version);
        if !is_token(version) {
            return Err(BAD);
        }
        let rest = trim_lws(rest);
        let t_end = rest
            .find(|c: char| !(c.is_ascii() && is_token_char(c as u8)))
            .unwrap_or(rest.len());
        let transport_str = &rest[..t_end];
        if transport_str.is_empty() {
            return Err(BAD);
        }
        let transport = if transport_str.eq_ignore_ascii_case("UDP") {
            ViaTransport::Udp
        } else if transport_str.eq_ignore_ascii_case("TCP") {
            ViaTransport::Tcp
        } else if transport_str.eq_ignore_ascii_case("TLS") {
            ViaTransport::Tls
        } else if transport_str.eq_ignore_ascii_case("SCTP") {
            ViaTransport::Sctp
        } else {
            ViaTransport::Other(transport_str)
        };
        let rest = trim_lws(&rest[t_end..]);
        let sb_end = rest
            .find(|c: char| c == ';' || (c.is_ascii() && is_lws(c as u8)))
            .unwrap_or(rest.len());
        let sent_by = &rest[..sb_end];
        let (host_str, port) = split_host_port(sent_by)?;
        let host = Host::parse(host_str)?;
        let after = trim_lws(&rest[sb_end..]);
        let params = match after.strip_prefix(';') {
            Some(p) => Params::parse(p)?,
            None if after.is_empty() => Params::default(),
            None => return Err(HeaderError::Invalid("Via", "junk after sent-by")),
        };
        Ok(Via {
            version,
            transport,
            host,
            host_str,
            port,
            params,
        })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&'a str> {
        self.params.get("branch")
    }

    /// True when the branch carries the RFC 3261 magic cookie and something
    /// after it, so it can identify a transaction by itself (section 17.2.3).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.len() > 7 && b.starts_with("z9hG4bK"))
    }

    /// The `received` parameter.
    pub fn received(&self) -> Option<&'a str> {
        self.params.get("received")
    }

    /// The `rport` parameter: `None` when absent, `Some(None)` when present
    /// without a value (a request asking for it, RFC 3581).
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params.get("rport").map(|v| v.parse().ok())
    }
}

/// The CSeq header: sequence number and method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// Sequence number, below 2^31 (RFC 3261 8.1.1.5).
    pub seq: u32,
    /// The method.
    pub method: Method<'a>,
}

impl<'a> CSeq<'a> {
    /// Parses `<number> LWS <method>`.
    pub fn parse(value: &'a str) -> Result<CSeq<'a>, HeaderError> {
        let v = trim_lws(value);
        let split = v
            .find(|c: char| c.is_ascii() && is_lws(c as u8))
            .ok_or(HeaderError::Invalid("CSeq", "expected <number> <method>"))?;
        let num = &v[..split];
        let method = trim_lws(&v[split..]);
        let seq = parse_small_int(num, (1 << 31) - 1).ok_or(HeaderError::Invalid(
            "CSeq",
            "sequence number is not below 2^31",
        ))?;
        if !is_token(method) {
            return Err(HeaderError::Invalid("CSeq", "method is not a token"));
        }
        Ok(CSeq {
            seq: seq as u32,
            method: Method::from_token(method),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lists_outside_quotes_and_brackets() {
        let v = "\"a, b\" <sip:x@y;p=1,2>, <sip:z@w> ,sip:q@r";
        let items: Vec<_> = split_list(v).collect();
        assert_eq!(
            items,
            vec!["\"a, b\" <sip:x@y;p=1,2>", "<sip:z@w>", "sip:q@r"]
        );
        let items: Vec<_> = split_list("a;;,;,,").collect();
        assert_eq!(items, vec!["a;;", ";", "", ""]);
    }

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse(
            "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8",
        )
        .unwrap();
        assert_eq!(n.display_name().unwrap(), "J Rosenberg \\\"");
        assert_eq!(n.tag(), Some("98asjd8"));
        let n = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(n.display, Some("caller"));
        let n = NameAddr::parse("sip:caller@example.net;tag=384").unwrap();
        assert_eq!(n.uri.raw, "sip:caller@example.net");
        assert_eq!(n.tag(), Some("384"));
        assert!(!n.bracketed);
        let n = NameAddr::parse("Bob <tel:+15551234567>").unwrap();
        assert_eq!(n.uri.user, Some("+15551234567"));
    }

    #[test]
    fn name_addr_rejections() {
        assert!(NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>").is_err());
        assert!(NameAddr::parse("\"Watson\" < sip:t.watson@example.org >").is_err());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:x%3E").is_err());
        assert!(NameAddr::parse("\"Joe\" <sip:joe@example.org>;;;;").is_err());
    }

    #[test]
    fn via_with_lws_everywhere() {
        let v = Via::parse("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, ViaTransport::Udp);
        assert_eq!(v.host, Host::V4("192.0.2.2".parse().unwrap()));
        assert_eq!(v.branch(), Some("390skdjuw"));
        assert!(!v.has_rfc3261_branch());
        let v = Via::parse("SIP/2.0/TCP spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8")
            .unwrap();
        assert_eq!(v.branch(), Some("z9hG4bK9ikj8"));
        assert!(v.has_rfc3261_branch());
        let v = Via::parse("SIP/2.0/UDP [2001:db8::9]:5070;rport;branch=z9hG4bKx").unwrap();
        assert_eq!(v.port, Some(5070));
        assert_eq!(v.rport(), Some(None));
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(Via::parse("SIP/2.0/UDP").is_err());
    }

    #[test]
    fn cseq_limits() {
        let c = CSeq::parse("0009\r\n  INVITE").unwrap();
        assert_eq!(c.seq, 9);
        assert_eq!(c.method, Method::Invite);
        assert!(CSeq::parse("2147483648 INVITE").is_err());
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert_eq!(CSeq::parse("2147483647 BYE").unwrap().seq, 2147483647);
    }
}
