//! Telephone numbers as they arrive, turned into E.164 once, before policy,
//! routing and call records look at them.
//!
//! A caller or called number reaches the switch as the user part of a
//! `sip:` or `tel:` URI, written however the provider likes: `+390212345678`,
//! `00390212345678`, `390212345678`, national `0212345678`, with visual
//! separators (`+39 02-1234.5678`, RFC 3966 §5.1.1), with a
//! `;phone-context=` (RFC 3966 §5.1.5), percent-escaped (`%2B39…`), or not a
//! number at all (`anonymous`, RFC 3323 §4.1.1.3; a SIP user name such as
//! `alice`). Policy (country prefixes, block lists), routing (DIDs,
//! customers) and records all compare numbers, so they must all see the same
//! canonical form: E.164 (`+390212345678`), worked out with the line's
//! country as the default for national numbers.
//!
//! The numbering plans come from the `phonenumber` crate, a port of
//! Google's libphonenumber with its metadata, not from prefix rules of our
//! own: which digits are a national prefix, which lengths are valid and
//! which country a `+1` number belongs to change more often than code
//! does.
//!
//! A user part that is not a number is an ordinary outcome
//! ([`Normalised::NotANumber`]), not an error: an anonymous or named caller
//! is still a call, and policy decides what happens to it.

use std::fmt;
use std::str::FromStr;

use phonenumber::country::Id as CountryId;
use phonenumber::metadata::DATABASE;

/// A telephone number as it arrived (`raw`) and in E.164.
///
/// The raw form is kept because a call record should show what the
/// provider actually sent; everything that compares numbers uses
/// [`e164`](Self::e164).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    raw: String,
    e164: String,
    country: Option<String>,
    country_code: u16,
}

impl PhoneNumber {
    /// The user part as received, before any normalisation.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The number in E.164: `+`, country code, national significant
    /// number, nothing else (`+390212345678`).
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// The ISO 3166-1 region the number belongs to (`"IT"`, `"US"`,
    /// `"GB"`), or `None` for non-geographic numbers (`+800`, `+882`).
    pub fn country(&self) -> Option<&str> {
        self.country.as_deref()
    }

    /// The ITU-T E.164 country calling code (39 for Italy, 1 for the NANP).
    pub fn country_code(&self) -> u16 {
        self.country_code
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.e164)
    }
}

/// Why a user part is not a telephone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotANumberKind {
    /// The caller withheld its identity (`anonymous`, `restricted`,
    /// `unavailable`, `private`, `withheld`, `unknown`; RFC 3323 §4.1.1.3
    /// recommends `anonymous`).
    Anonymous,
    /// Nothing was there.
    Empty,
    /// A name, not digits: a SIP user such as `alice` (letters other than
    /// in the URI parameters).
    Name,
    /// Digits, but not a valid number in the line's numbering plan nor as
    /// an international number (too short, unallocated range, a service
    /// code such as `*67`).
    Unrecognised,
}

impl NotANumberKind {
    /// A stable short word for logs, metrics labels and records.
    pub fn code(self) -> &'static str {
        match self {
            NotANumberKind::Anonymous => "anonymous",
            NotANumberKind::Empty => "empty",
            NotANumberKind::Name => "name",
            NotANumberKind::Unrecognised => "unrecognised",
        }
    }
}

/// A user part that is not a telephone number, and what it is instead.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NotANumber {
    /// The user part as received.
    pub raw: String,
    /// What it is.
    pub kind: NotANumberKind,
}

/// What a URI's user part turned out to be.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Normalised {
    /// A valid number, with its E.164 form.
    Number(PhoneNumber),
    /// Anything else; the call goes on and policy decides.
    NotANumber(NotANumber),
}

impl Normalised {
    /// The number, when it is one.
    pub fn number(&self) -> Option<&PhoneNumber> {
        match self {
            Normalised::Number(n) => Some(n),
            Normalised::NotANumber(_) => None,
        }
    }

    /// The user part as received.
    pub fn raw(&self) -> &str {
        match self {
            Normalised::Number(n) => n.raw(),
            Normalised::NotANumber(n) => &n.raw,
        }
    }

    /// Whether the caller withheld its identity.
    pub fn is_anonymous(&self) -> bool {
        matches!(
            self,
            Normalised::NotANumber(NotANumber {
                kind: NotANumberKind::Anonymous,
                ..
            })
        )
    }

    /// The E.164 form of a number, or the raw user part of anything else:
    /// the key a caller is known by (rate limiting, records).
    pub fn key(&self) -> &str {
        match self {
            Normalised::Number(n) => n.e164(),
            Normalised::NotANumber(n) => &n.raw,
        }
    }
}

impl From<&Normalised> for crate::record::Party {
    /// The call record's view of a party: the raw user part always, the
    /// E.164 form when it is a number (no display name: that comes from
    /// the signalling, not the number).
    fn from(n: &Normalised) -> Self {
        crate::record::Party {
            raw: n.raw().to_string(),
            e164: n.number().map(|p| p.e164().to_string()),
            name: None,
        }
    }
}

/// A region code that the numbering-plan metadata does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown country {0:?}: expected an ISO 3166-1 region code such as \"IT\", \"US\" or \"GB\""
)]
pub struct UnknownCountry(pub String);

/// Turns user parts into [`Normalised`] numbers, reading national numbers
/// in the numbering plan of one country: the line's.
#[derive(Debug, Clone)]
pub struct Normaliser {
    country: CountryId,
}

/// The most digits a user part may have to be read as a number.
const MAX_DIGITS: usize = 20;

/// User parts that mean "caller withheld": RFC 3323 §4.1.1.3's
/// `anonymous` and the words providers put there instead.
const ANONYMOUS_WORDS: [&str; 6] = [
    "anonymous",
    "restricted",
    "unavailable",
    "private",
    "withheld",
    "unknown",
];

impl Normaliser {
    /// A normaliser for lines in `country` (ISO 3166-1 region code, any
    /// case: `"IT"`, `"us"`).
    pub fn new(country: &str) -> Result<Self, UnknownCountry> {
        let upper = country.trim().to_ascii_uppercase();
        let id = CountryId::from_str(&upper).map_err(|_| UnknownCountry(country.to_string()))?;
        if DATABASE.by_id(id.as_ref()).is_none() {
            return Err(UnknownCountry(country.to_string()));
        }
        Ok(Normaliser { country: id })
    }

    /// The region code national numbers are read in (`"IT"`).
    pub fn country(&self) -> &str {
        self.country.as_ref()
    }

    /// Reads the user part of a `sip:`/`tel:` URI (already separated from
    /// the host; URI parameters after `;` may still be there).
    ///
    /// In order: a `+` number is international; a `phone-context` that is
    /// a global number prefix (`;phone-context=+39`) makes a local number
    /// international (RFC 3966 §5.1.5); otherwise the number is read in
    /// the line's plan (national prefix, the country's own international
    /// prefix such as `00` or `011`), and if that gives no valid number, as
    /// an international number written without `+` (`390212345678`) or
    /// after the `00` international prefix that most of the world and many
    /// SIP providers use even where the country's own is different.
    pub fn normalise(&self, user_part: &str) -> Normalised {
        let raw = user_part.to_string();
        let decoded = percent_decode(user_part);
        let mut pieces = decoded.split(';');
        let number_part = pieces.next().unwrap_or("").trim();
        let context = pieces.find_map(|p| {
            let (name, value) = p.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("phone-context")
                .then(|| value.trim().to_string())
        });

        let not = |kind| {
            Normalised::NotANumber(NotANumber {
                raw: raw.clone(),
                kind,
            })
        };
        if number_part.is_empty() {
            return not(NotANumberKind::Empty);
        }
        if ANONYMOUS_WORDS
            .iter()
            .any(|w| number_part.eq_ignore_ascii_case(w))
        {
            return not(NotANumberKind::Anonymous);
        }
        let Some((global, digits)) = dial_digits(number_part) else {
            return not(if number_part.chars().any(|c| c.is_alphabetic()) {
                NotANumberKind::Name
            } else {
                NotANumberKind::Unrecognised
            });
        };
        // E.164 allows 15 digits; an international prefix adds up to 4
        // (`0011`). Anything longer is not a number, and is not handed to
        // the parser.
        if digits.is_empty() || digits.len() > MAX_DIGITS {
            return not(NotANumberKind::Unrecognised);
        }

        let context_prefix = context
            .as_deref()
            .and_then(|c| dial_digits(c).filter(|(g, d)| *g && !d.is_empty()))
            .map(|(_, d)| d);
        let found = if global {
            valid_number(None, &format!("+{digits}"))
        } else if let Some(prefix) = context_prefix {
            valid_number(None, &format!("+{prefix}{digits}"))
        } else {
            valid_number(Some(self.country), &digits)
                .or_else(|| {
                    digits
                        .strip_prefix("00")
                        .and_then(|rest| valid_number(None, &format!("+{rest}")))
                })
                .or_else(|| valid_number(None, &format!("+{digits}")))
        };
        match found {
            Some(n) => Normalised::Number(PhoneNumber {
                raw,
                e164: n.format().mode(phonenumber::Mode::E164).to_string(),
                country: region_of(&n),
                country_code: n.code().value(),
            }),
            None => not(NotANumberKind::Unrecognised),
        }
    }

    /// Like [`normalise`](Self::normalise) for a number written in a
    /// setting (a DID, a block-list entry): anything but a valid number is
    /// refused with a sentence saying what it was.
    pub fn setting_number(&self, value: &str) -> Result<PhoneNumber, String> {
        match self.normalise(value) {
            Normalised::Number(n) => Ok(n),
            Normalised::NotANumber(n) => Err(format!(
                "{value:?} is not a valid telephone number in {} or in E.164 ({})",
                self.country(),
                n.kind.code()
            )),
        }
    }
}

/// Reads a setting that must be a whole number in E.164 (`"+390212345678"`,
/// separators allowed): a number that is valid wherever the switch runs.
pub fn e164_number_setting(text: &str) -> Result<PhoneNumber, String> {
    if !text.trim_start().starts_with('+') {
        return Err(format!(
            "{text:?} is not in E.164: write \"+\", the country code and the number"
        ));
    }
    // A `+` number does not depend on the country; any will do.
    Normaliser {
        country: CountryId::US,
    }
    .setting_number(text)
}

/// Parses with libphonenumber and keeps the result only when it is a valid
/// number (a known range of a known country).
fn valid_number(country: Option<CountryId>, text: &str) -> Option<phonenumber::PhoneNumber> {
    phonenumber::parse(country, text)
        .ok()
        .filter(phonenumber::is_valid)
}

/// The region a valid number belongs to, as libphonenumber's
/// `getRegionCodeForNumber` finds it among the regions sharing its country
/// code (`+39`: IT and VA; `+1`: US, CA and the rest of the NANP).
///
/// The crate's own `country().id()` looks the number up without its
/// leading zeros, so it misses Italian landlines (`02…`); this one keeps
/// them, as its validity check does.
fn region_of(number: &phonenumber::PhoneNumber) -> Option<String> {
    let national = number.national().to_string();
    let regions = DATABASE.region(&number.code().value())?;
    if let [only] = regions.as_slice() {
        return (*only != "001").then(|| only.to_string());
    }
    regions.into_iter().find_map(|region| {
        let meta = DATABASE.by_id(region)?;
        let belongs = match meta.leading_digits() {
            Some(pattern) => pattern.find(&national).is_some_and(|m| m.start() == 0),
            None => {
                let d = meta.descriptors();
                d.general().is_match(&national)
                    && [
                        d.fixed_line(),
                        d.mobile(),
                        d.toll_free(),
                        d.premium_rate(),
                        d.shared_cost(),
                        d.personal_number(),
                        d.voip(),
                        d.pager(),
                        d.uan(),
                        d.voicemail(),
                    ]
                    .into_iter()
                    .flatten()
                    .any(|t| t.is_match(&national))
            }
        };
        belongs.then(|| region.to_string())
    })
}

/// The digits of a telephone-subscriber (RFC 3966 §3): an optional leading
/// `+`, digits, and the visual separators `-`, `.`, `(`, `)` and spaces.
/// `None` when anything else is there (letters, `*`, `#`, a `+` inside).
fn dial_digits(text: &str) -> Option<(bool, String)> {
    let text = text.trim();
    let (global, rest) = match text.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '-' | '.' | '(' | ')' | ' ' => {}
            _ => return None,
        }
    }
    Some((global, digits))
}

/// Undoes `%XX` escapes (RFC 3261 §19.1.2 lets a user part escape `+`
/// and separators); a malformed escape is left as it is.
fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Whether `text` is an E.164 prefix as settings write it: `+` and 1 to
/// 15 digits.
pub fn is_e164_prefix(text: &str) -> bool {
    text.strip_prefix('+')
        .is_some_and(|d| !d.is_empty() && d.len() <= 15 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks a setting that is an E.164 prefix (`+39`, `+44 20`, `+1`): it
/// must start with a country calling code that the numbering plans know.
/// Returns the prefix without separators.
pub fn e164_prefix_setting(text: &str) -> Result<String, String> {
    let Some((true, digits)) = dial_digits(text) else {
        return Err(format!(
            "{text:?} is not an E.164 prefix: write \"+\" and the digits, e.g. \"+39\""
        ));
    };
    let prefix = format!("+{digits}");
    if !is_e164_prefix(&prefix) {
        return Err(format!(
            "{text:?} is not an E.164 prefix: write \"+\" and 1 to 15 digits"
        ));
    }
    let known = (1..=digits.len().min(3)).any(|n| {
        digits[..n]
            .parse::<u16>()
            .is_ok_and(|code| DATABASE.by_code(&code).is_some())
    });
    if !known {
        return Err(format!(
            "{text:?} does not start with a known country calling code"
        ));
    }
    Ok(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e164(country: &str, user: &str) -> String {
        match Normaliser::new(country).unwrap().normalise(user) {
            Normalised::Number(n) => n.e164().to_string(),
            other => panic!("{user:?} in {country}: {other:?}"),
        }
    }

    fn kind(country: &str, user: &str) -> NotANumberKind {
        match Normaliser::new(country).unwrap().normalise(user) {
            Normalised::NotANumber(n) => n.kind,
            other => panic!("{user:?} in {country} should not be a number: {other:?}"),
        }
    }

    // Milan landline 02 1234 5678 and a TIM mobile 347 123 4567.
    #[test]
    fn italian_numbers_in_every_form_the_provider_sends_become_e164() {
        for user in [
            "+390212345678",
            "00390212345678",
            "390212345678",
            "0212345678",
            "+39 02-1234.5678",
            "(02) 1234 5678",
            "%2B390212345678",
            "0212345678;phone-context=+39",
            "0212345678;phone-context=example.com",
        ] {
            assert_eq!(e164("IT", user), "+390212345678", "{user}");
        }
        assert_eq!(e164("IT", "3471234567"), "+393471234567");
        assert_eq!(e164("IT", "+393471234567"), "+393471234567");
        assert_eq!(e164("IT", "00393471234567"), "+393471234567");
    }

    #[test]
    fn us_numbers_in_every_form_the_provider_sends_become_e164() {
        for user in [
            "+12125550123",
            "12125550123",
            "2125550123",
            "(212) 555-0123",
            "212.555.0123",
            "1-212-555-0123",
            "2125550123;phone-context=+1",
        ] {
            assert_eq!(e164("US", user), "+12125550123", "{user}");
        }
        // International from a US line: its own 011 prefix, the 00 many
        // providers send anyway, and a bare country code.
        assert_eq!(e164("US", "011390212345678"), "+390212345678");
        assert_eq!(e164("US", "00390212345678"), "+390212345678");
        assert_eq!(e164("US", "390212345678"), "+390212345678");
    }

    // London 020 7946 0018 (an Ofcom drama range) and a mobile 07700 900123.
    #[test]
    fn uk_numbers_in_every_form_the_provider_sends_become_e164() {
        for user in [
            "+442079460018",
            "00442079460018",
            "442079460018",
            "02079460018",
            "020 7946 0018",
            "+44 20 7946 0018",
            "02079460018;phone-context=+44",
        ] {
            assert_eq!(e164("GB", user), "+442079460018", "{user}");
        }
        assert_eq!(e164("GB", "07911123456"), "+447911123456");
        assert_eq!(e164("GB", "0039 02 1234 5678"), "+390212345678");
    }

    #[test]
    fn numbers_keep_raw_form_and_country() {
        let n = Normaliser::new("it").unwrap().normalise("02 1234 5678");
        let n = n.number().unwrap();
        assert_eq!(n.raw(), "02 1234 5678");
        assert_eq!(n.e164(), "+390212345678");
        assert_eq!(n.country(), Some("IT"));
        assert_eq!(n.country_code(), 39);
        let us_on_it = Normaliser::new("IT").unwrap().normalise("+12125550123");
        assert_eq!(us_on_it.number().unwrap().country(), Some("US"));
        let toronto = Normaliser::new("US").unwrap().normalise("4165550123");
        assert_eq!(toronto.number().unwrap().country(), Some("CA"));
        let london = Normaliser::new("IT")
            .unwrap()
            .normalise("0044 20 7946 0018");
        assert_eq!(london.number().unwrap().country(), Some("GB"));
    }

    #[test]
    fn anonymous_names_and_junk_are_not_numbers_and_not_errors() {
        assert_eq!(kind("IT", "anonymous"), NotANumberKind::Anonymous);
        assert_eq!(kind("US", "Restricted"), NotANumberKind::Anonymous);
        assert_eq!(kind("GB", "withheld"), NotANumberKind::Anonymous);
        assert_eq!(kind("IT", "alice"), NotANumberKind::Name);
        assert_eq!(kind("IT", "alice.smith"), NotANumberKind::Name);
        assert_eq!(kind("IT", "1800FLOWERS"), NotANumberKind::Name);
        assert_eq!(kind("IT", ""), NotANumberKind::Empty);
        assert_eq!(kind("IT", ";phone-context=+39"), NotANumberKind::Empty);
        assert_eq!(kind("IT", "*67"), NotANumberKind::Unrecognised);
        assert_eq!(kind("IT", "12"), NotANumberKind::Unrecognised);
        assert_eq!(kind("IT", "+39"), NotANumberKind::Unrecognised);
        assert_eq!(kind("IT", "3+9"), NotANumberKind::Unrecognised);
        assert_eq!(kind("IT", "%ZZ"), NotANumberKind::Name);
        assert_eq!(kind("IT", "02%"), NotANumberKind::Unrecognised);
        let anon = Normaliser::new("IT").unwrap().normalise("anonymous");
        assert!(anon.is_anonymous());
        assert_eq!(anon.raw(), "anonymous");
        assert_eq!(anon.key(), "anonymous");
    }

    #[test]
    fn bare_country_code_before_an_italian_mobile_is_read_as_international() {
        assert_eq!(e164("IT", "393471234567"), "+393471234567");
        assert_eq!(e164("GB", "393471234567"), "+393471234567");
    }

    #[test]
    fn any_digit_string_is_a_verdict_never_a_panic() {
        // The parser has panicked on odd input in the past; every shape a
        // provider could send (prefixes, lengths up to and past the limit,
        // separators) must come back as a number or not-a-number.
        let normalisers = ["IT", "US", "GB", "CH", "VA", "CA"].map(|c| Normaliser::new(c).unwrap());
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let heads = [
            "", "+", "0", "00", "011", "+0", "39", "1", "44", "003", "+1", "(0)",
        ];
        let mut numbers = 0;
        for _ in 0..400 {
            let head = heads[(next() % heads.len() as u64) as usize];
            let len = (next() % 26) as usize;
            let mut user = head.to_string();
            for _ in 0..len {
                let r = next();
                user.push(char::from(b'0' + (r % 10) as u8));
                if r % 13 == 0 {
                    user.push(['-', '.', ' ', '(', ')'][(r % 5) as usize]);
                }
            }
            if next() % 7 == 0 {
                user.push_str(";phone-context=+39");
            }
            for n in &normalisers {
                if let Normalised::Number(p) = n.normalise(&user) {
                    numbers += 1;
                    assert!(is_e164_prefix(p.e164()), "{user:?} -> {}", p.e164());
                }
            }
        }
        assert!(
            numbers > 20,
            "the sweep should find some valid numbers, found {numbers}"
        );
        let long = "1".repeat(MAX_DIGITS + 1);
        assert_eq!(kind("US", &long), NotANumberKind::Unrecognised);
    }

    #[test]
    fn call_records_keep_the_raw_form_beside_e164() {
        let it = Normaliser::new("IT").unwrap();
        let party = crate::record::Party::from(&it.normalise("02 1234 5678"));
        assert_eq!(party.raw, "02 1234 5678");
        assert_eq!(party.e164.as_deref(), Some("+390212345678"));
        let anon = crate::record::Party::from(&it.normalise("anonymous"));
        assert_eq!((anon.raw.as_str(), anon.e164), ("anonymous", None));
    }

    #[test]
    fn unknown_country_is_refused() {
        assert!(Normaliser::new("XX").is_err());
        assert!(Normaliser::new("Italy").is_err());
        assert_eq!(Normaliser::new(" gb ").unwrap().country(), "GB");
    }

    #[test]
    fn e164_number_settings_need_a_plus_and_a_valid_number() {
        assert_eq!(
            e164_number_setting("+39 02 1234 5678").unwrap().e164(),
            "+390212345678"
        );
        assert!(e164_number_setting("0212345678").is_err());
        assert!(e164_number_setting("+39 02").is_err());
        assert!(e164_number_setting("+alice").is_err());
    }

    #[test]
    fn e164_prefix_settings_need_a_known_country_code() {
        assert_eq!(e164_prefix_setting("+39").unwrap(), "+39");
        assert_eq!(e164_prefix_setting("+44 20").unwrap(), "+4420");
        assert_eq!(e164_prefix_setting("+1").unwrap(), "+1");
        assert!(e164_prefix_setting("39").is_err());
        assert!(e164_prefix_setting("+").is_err());
        assert!(e164_prefix_setting("+999").is_err());
        assert!(e164_prefix_setting("+3a").is_err());
    }
}
