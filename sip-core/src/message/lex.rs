//! The lexical rules of RFC 3261 25.1 that every other part of the
//! message layer reads with: linear whitespace, tokens, small decimal
//! numbers. The leaf of the message modules: it uses none of them.

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
