//! URIs as SIP carries them (RFC 3261 19.1, RFC 3966 for `tel:`), parsed
//! without copying: every component is a slice of the original text, still
//! escaped. [`percent_decode`] unescapes on demand.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::params::{ParamError, Params};

/// Why a URI is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// No `scheme:` prefix.
    #[error("URI has no scheme")]
    NoScheme,
    /// The scheme has characters a scheme cannot have.
    #[error("URI scheme is malformed")]
    BadScheme,
    /// Whitespace, angle brackets or quotes inside the URI.
    #[error("URI contains a character that must be escaped ({0:?})")]
    BadCharacter(char),
    /// A `%` not followed by two hex digits in a SIP URI component.
    #[error("malformed %-escape in the {0} of the URI")]
    BadEscape(&'static str),
    /// The host part is empty or malformed.
    #[error("URI host is missing or malformed")]
    BadHost,
    /// The port is not a number from 0 to 65535.
    #[error("URI port is not a number from 0 to 65535")]
    BadPort,
    /// URI parameters are malformed.
    #[error("URI parameters are malformed")]
    BadParams,
    /// A `tel:` number is empty.
    #[error("tel URI has no number")]
    EmptyNumber,
}

impl From<ParamError> for UriError {
    fn from(_: ParamError) -> Self {
        UriError::BadParams
    }
}

/// The scheme of a URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966)
    Tel,
    /// Any other absolute URI (`http:`, `urn:`, ...), kept opaque.
    Other,
}

/// The host of a SIP URI or Via sent-by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    /// A host name (not resolved here).
    Name(&'a str),
    /// An IPv4 literal.
    V4(Ipv4Addr),
    /// An IPv6 literal (written in brackets).
    V6(Ipv6Addr),
}

impl<'a> Host<'a> {
    /// Parses a host: a bracketed IPv6 reference, an IPv4 literal or a
    /// host name made of letters, digits, `-` and `.`.
    pub fn parse(s: &'a str) -> Result<Host<'a>, UriError> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(UriError::BadHost)?;
            return inner
                .parse::<Ipv6Addr>()
                .map(Host::V6)
                .map_err(|_| UriError::BadHost);
        }
        if s.is_empty() {
            return Err(UriError::BadHost);
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            if let Ok(v4) = s.parse::<Ipv4Addr>() {
                return Ok(Host::V4(v4));
            }
        }
        if s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            Ok(Host::Name(s))
        } else {
            Err(UriError::BadHost)
        }
    }

    /// The IP address, when the host is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Name(_) => None,
            Host::V4(a) => Some(IpAddr::V4(*a)),
            Host::V6(a) => Some(IpAddr::V6(*a)),
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A parsed URI. For `sip:`/`sips:` every part is filled as present; for
/// `tel:` the number is in `user` and there is no host; other schemes keep
/// everything after the colon in `opaque`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri<'a> {
    /// The whole URI as written.
    pub raw: &'a str,
    /// The scheme.
    pub scheme: Scheme,
    /// The scheme as written.
    pub scheme_str: &'a str,
    /// The user part (still escaped), or the tel number.
    pub user: Option<&'a str>,
    /// The password (still escaped), rarely used and never by us.
    pub password: Option<&'a str>,
    /// The host (SIP URIs only).
    pub host: Option<Host<'a>>,
    /// The host as written.
    pub host_str: &'a str,
    /// The explicit port.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp;lr`), raw, without the first `;`.
    pub params: &'a str,
    /// URI headers after `?`, raw.
    pub headers: Option<&'a str>,
    /// For schemes other than sip, sips and tel: everything after the colon.
    pub opaque: &'a str,
}

fn check_escapes(s: &str, what: &'static str) -> Result<(), UriError> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok =
                b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                return Err(UriError::BadEscape(what));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn check_no_forbidden(s: &str) -> Result<(), UriError> {
    let forbidden = |c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"') || c.is_control();
    // URIs are ASCII in practice: check bytes, and decode chars only from
    // the first non-ASCII byte on.
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c >= 0x80 {
            return match s[i..].chars().find(|c| forbidden(*c)) {
                Some(c) => Err(UriError::BadCharacter(c)),
                None => Ok(()),
            };
        }
        if c <= b' ' || c == 0x7f || matches!(c, b'<' | b'>' | b'"') {
            return Err(UriError::BadCharacter(c as char));
        }
        i += 1;
    }
    Ok(())
}

impl<'a> Uri<'a> {
    /// Parses a URI as it appears in a Request-URI or inside `<...>`.
    pub fn parse(raw: &'a str) -> Result<Uri<'a>, UriError> {
        let colon = raw.find(':').ok_or(UriError::NoScheme)?;
        let scheme_str = &raw[..colon];
        let sb = scheme_str.as_bytes();
        if sb.is_empty()
            || !sb[0].is_ascii_alphabetic()
            || !sb
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return Err(UriError::BadScheme);
        }
        let rest = &raw[colon + 1..];
        check_no_forbidden(rest)?;
        let scheme = if scheme_str.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme_str.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if scheme_str.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            Scheme::Other
        };
        let mut uri = Uri {
            raw,
            scheme,
            scheme_str,
            user: None,
            password: None,
            host: None,
            host_str: "",
            port: None,
            params: "",
            headers: None,
            opaque: rest,
        };
        match scheme {
            Scheme::Other => {
                if rest.is_empty() {
                    return Err(UriError::BadHost);
                }
            }
            Scheme::Tel => {
                let (number, params) = rest.split_once(';').unwrap_or((rest, ""));
                if number.is_empty() {
                    return Err(UriError::EmptyNumber);
                }
                Params::parse(params)?;
                uri.user = Some(number);
                uri.params = params;
            }
            Scheme::Sip | Scheme::Sips => {
                let (userinfo, hostpart) = match rest.find('@') {
                    Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
                    None => (None, rest),
                };
                if let Some(ui) = userinfo {
                    let (user, password) = match ui.split_once(':') {
                        Some((u, p)) => (u, Some(p)),
                        None => (ui, None),
                    };
                    if user.is_empty() {
                        return Err(UriError::BadCharacter('@'));
                    }
                    check_escapes(user, "user")?;
                    if let Some(p) = password {
                        check_escapes(p, "password")?;
                    }
                    uri.user = Some(user);
                    uri.password = password;
                }
                let (hostport, headers) = match hostpart.split_once('?') {
                    Some((h, q)) => (h, Some(q)),
                    None => (hostpart, None),
                };
                let (hostport, params) = hostport.split_once(';').unwrap_or((hostport, ""));
                let (host_str, port) = split_host_port(hostport)?;
                uri.host = Some(Host::parse(host_str)?);
                uri.host_str = host_str;
                uri.port = port;
                if !params.is_empty() {
                    check_escapes(params, "parameters")?;
                    Params::parse(params)?;
                }
                uri.params = params;
                if let Some(h) = headers {
                    check_escapes(h, "headers")?;
                }
                uri.headers = headers;
            }
        }
        Ok(uri)
    }

    /// True for `sip:` and `sips:`.
    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }

    /// The URI parameters.
    pub fn params(&self) -> Params<'a> {
        // Validated in `parse`.
        Params::parse(self.params).unwrap_or_default()
    }

    /// The value of URI parameter `name` (`Some("")` for a flag such as `lr`).
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params().get(name)
    }

    /// The user part with %-escapes decoded.
    pub fn user_decoded(&self) -> Option<Cow<'a, str>> {
        self.user.map(|u| match percent_decode(u) {
            Cow::Borrowed(b) => String::from_utf8_lossy(b),
            Cow::Owned(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
        })
    }

    /// The explicit port or the default for the scheme (5060, 5061 for sips).
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(match self.scheme {
            Scheme::Sips => 5061,
            _ => 5060,
        })
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

/// Splits `host[:port]`, where host may be a bracketed IPv6 reference.
pub(crate) fn split_host_port(s: &str) -> Result<(&str, Option<u16>), UriError> {
    let (host, port) = if s.starts_with('[') {
        let close = s.find(']').ok_or(UriError::BadHost)?;
        let after = &s[close + 1..];
        match after.strip_prefix(':') {
            Some(p) => (&s[..=close], Some(p)),
            None if after.is_empty() => (&s[..=close], None),
            None => return Err(UriError::BadHost),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(UriError::BadPort);
            }
            Some(p.parse::<u16>().map_err(|_| UriError::BadPort)?)
        }
    };
    Ok((host, port))
}

/// Decodes `%HH` escapes. Malformed escapes are kept as written. Borrows
/// when there is nothing to decode.
pub fn percent_decode(s: &str) -> Cow<'_, [u8]> {
    let b = s.as_bytes();
    if !b.contains(&b'%') {
        return Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_components() {
        let u =
            Uri::parse("sip:alice:secret@[2001:db8::1]:5070;transport=tcp;lr?subject=hi").unwrap();
        assert_eq!(u.scheme, Scheme::Sip);
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.password, Some("secret"));
        assert_eq!(u.host, Some(Host::V6("2001:db8::1".parse().unwrap())));
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.param("transport"), Some("tcp"));
        assert_eq!(u.param("lr"), Some(""));
        assert_eq!(u.headers, Some("subject=hi"));
    }

    #[test]
    fn sips_default_port_and_ipv4() {
        let u = Uri::parse("sips:192.0.2.4").unwrap();
        assert_eq!(u.host.unwrap().ip(), Some("192.0.2.4".parse().unwrap()));
        assert_eq!(u.port_or_default(), 5061);
    }

    #[test]
    fn tel_uri() {
        let u = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(u.scheme, Scheme::Tel);
        assert_eq!(u.user, Some("+1-201-555-0123"));
        assert_eq!(u.param("phone-context"), Some("example.com"));
    }

    #[test]
    fn escaped_user_decodes() {
        let u = Uri::parse("sip:%75se%72@example.com").unwrap();
        assert_eq!(u.user_decoded().unwrap(), "user");
        let u = Uri::parse("sip:null-%00-null@example.com").unwrap();
        assert_eq!(u.user_decoded().unwrap(), "null-\0-null");
        assert!(Uri::parse("sip:bad%4@example.com").is_err());
    }

    #[test]
    fn rejects_malformed() {
        assert!(Uri::parse("<sip:user@example.com>").is_err());
        assert!(Uri::parse("sip:user@example.com; lr").is_err());
        assert!(Uri::parse("sip:user@exa mple.com").is_err());
        assert!(Uri::parse("sip:user@example.com:99999").is_err());
        assert!(Uri::parse("sip:@example.com").is_err());
        assert!(Uri::parse("nocolon").is_err());
        assert!(Uri::parse("1sip:x").is_err());
    }

    #[test]
    fn other_schemes_are_opaque() {
        let u = Uri::parse("soap.beep://192.0.2.103:3002").unwrap();
        assert_eq!(u.scheme, Scheme::Other);
        assert_eq!(u.scheme_str, "soap.beep");
        assert_eq!(u.opaque, "//192.0.2.103:3002");
    }

    #[test]
    fn percent_decode_keeps_malformed() {
        assert_eq!(&*percent_decode("a%41%zz%4"), b"aA%zz%4");
    }
}
