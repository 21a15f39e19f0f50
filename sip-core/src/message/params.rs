//! Parameters (`;name[=value]` after a URI or a header value, RFC 3261
//! 19.1.1 and 25.1) and quoted strings: the lexical layer that URIs and
//! header values both build on. Nothing here knows of URIs or headers;
//! their errors take [`ParamError`] in.

use std::borrow::Cow;

use super::lex::{is_token, token_byte, trim_lws};

/// Why a parameter list, or a quoted string in one, is malformed: `what`
/// was being read and `why` it is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {why}")]
pub struct ParamError {
    /// What was being read (`parameter`, `quoted string`).
    pub what: &'static str,
    /// What is wrong with it.
    pub why: &'static str,
}

impl ParamError {
    const fn new(what: &'static str, why: &'static str) -> ParamError {
        ParamError { what, why }
    }
}

/// Characters of an unquoted parameter value: a token, or a host, or the
/// `param-unreserved` set URI parameters allow. A table, as this runs over
/// every parameter of every message read.
static PARAM_VALUE_CHARS: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = token_byte(b)
            || matches!(
                b,
                // host and param-unreserved
                b':' | b'[' | b']' | b'/' | b'&' | b'$' | b'@' | b'?' | b'='
            );
        i += 1;
    }
    t
};

/// Header or URI parameters: `;name[=value]` pairs, kept raw. Values may be
/// tokens, quoted strings or host names; LWS is allowed around `;` and `=`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Params<'a> {
    raw: &'a str,
}

impl<'a> Params<'a> {
    /// Validates and wraps a parameter list (without its leading `;`).
    pub fn parse(raw: &'a str) -> Result<Params<'a>, ParamError> {
        let p = Params { raw };
        for item in p.raw_items() {
            let (name, value) = item?;
            if !is_token(name) {
                return Err(ParamError::new("parameter", "name is not a token"));
            }
            if let Some(v) = value {
                if v.is_empty() {
                    return Err(ParamError::new("parameter", "empty value after '='"));
                }
                if v.starts_with('"') {
                    let (_, rest) = read_quoted(v)?;
                    if !rest.is_empty() {
                        return Err(ParamError::new("parameter", "text after a quoted value"));
                    }
                } else if !v.bytes().all(|b| PARAM_VALUE_CHARS[b as usize]) {
                    return Err(ParamError::new("parameter", "value is not a token"));
                }
            }
        }
        Ok(p)
    }

    fn raw_items(&self) -> impl Iterator<Item = Result<(&'a str, Option<&'a str>), ParamError>> {
        let raw = self.raw;
        let mut rest = if trim_lws(raw).is_empty() {
            None
        } else {
            Some(raw)
        };
        std::iter::from_fn(move || {
            let r = rest?;
            // One pass to the next ';' outside quotes, noting the first '='.
            // Parameter lists are short, so a plain byte loop beats a
            // vectorised search and its setup.
            let b = r.as_bytes();
            let mut i = 0;
            let mut quoted = false;
            let mut eq = None;
            while i < b.len() {
                let c = b[i];
                if quoted {
                    match c {
                        b'\\' => i += 1,
                        b'"' => quoted = false,
                        b'=' if eq.is_none() => eq = Some(i),
                        _ => {}
                    }
                } else {
                    match c {
                        b';' => break,
                        b'"' => quoted = true,
                        b'=' if eq.is_none() => eq = Some(i),
                        _ => {}
                    }
                }
                i += 1;
            }
            let end = i.min(b.len());
            rest = if end < b.len() {
                Some(&r[end + 1..])
            } else {
                None
            };
            // An escape at the very end may have stepped past `end`.
            let eq = eq.filter(|&e| e < end);
            Some(match eq {
                Some(e) => Ok((trim_lws(&r[..e]), Some(trim_lws(&r[e + 1..end])))),
                None => {
                    let item = trim_lws(&r[..end]);
                    if item.is_empty() {
                        Err(ParamError::new("parameter", "empty parameter"))
                    } else {
                        Ok((item, None))
                    }
                }
            })
        })
    }

    /// Iterates `(name, value)` pairs; `value` is `None` for a flag.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> {
        self.raw_items().filter_map(Result::ok)
    }

    /// The value of `name` (case-insensitive); `Some("")` for a flag. Quoted
    /// values are returned with their quotes; see [`unquote`].
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.unwrap_or(""))
    }

    /// True when `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The raw text.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }
}

/// Reads a quoted string at the start of `s` (which must begin with `"`),
/// returning the content between the quotes (escapes kept) and the rest.
pub(super) fn read_quoted(s: &str) -> Result<(&str, &str), ParamError> {
    let b = s.as_bytes();
    debug_assert_eq!(b.first(), Some(&b'"'));
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Ok((&s[1..i], &s[i + 1..])),
            _ => i += 1,
        }
    }
    Err(ParamError::new(
        "quoted string",
        "unterminated quoted string",
    ))
}

/// Removes the quotes and backslash escapes of a quoted string; returns the
/// input unchanged when it is not quoted.
pub fn unquote(s: &str) -> Cow<'_, str> {
    let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return Cow::Borrowed(s);
    };
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}
