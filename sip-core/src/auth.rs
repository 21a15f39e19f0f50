//! HTTP digest authentication as SIP uses it (RFC 3261 22, RFC 2617,
//! RFC 7616, RFC 8760): reading `WWW-Authenticate`/`Proxy-Authenticate`
//! challenges, answering them with MD5 or SHA-256 (and their `-sess`
//! forms), `qop=auth` with client nonce and nonce count, `stale=true`
//! handling, and checking an `Authorization` on the server side.
//!
//! ```
//! use sip_core::auth::{Credentials, DigestSession};
//!
//! let mut session = DigestSession::new(Credentials {
//!     username: "1001".into(),
//!     password: "secret".into(),
//! });
//! let challenge = r#"Digest realm="trunk.example.com", nonce="abc123", algorithm=SHA-256, qop="auth""#;
//! let authorization = session.respond(&[challenge], "REGISTER", "sip:trunk.example.com", None).unwrap();
//! assert!(authorization.starts_with("Digest username=\"1001\""));
//! assert!(authorization.contains("algorithm=SHA-256"));
//! ```

use std::fmt::Write as _;

use md5::{Digest as _, Md5};

use crate::message::HeaderName;
use ring::digest;

/// Why a challenge cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not a `Digest` challenge (e.g. `Basic`, or an unknown scheme).
    #[error("unsupported authentication scheme {0:?}")]
    UnsupportedScheme(String),
    /// An algorithm we do not implement.
    #[error("unsupported digest algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// Required parameter missing.
    #[error("digest challenge without {0}")]
    Missing(&'static str),
    /// The header text does not follow the grammar.
    #[error("malformed digest header: {0}")]
    Malformed(&'static str),
    /// Only `qop=auth-int` offered, and no body given.
    #[error("the challenge requires qop=auth-int")]
    QopUnsupported,
}

/// A digest algorithm (RFC 7616 3.3, RFC 8760).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5 (RFC 2617), the default when unspecified.
    Md5,
    /// MD5-sess.
    Md5Sess,
    /// SHA-256 (RFC 8760).
    Sha256,
    /// SHA-256-sess.
    Sha256Sess,
    /// SHA-512-256 (RFC 8760).
    Sha512_256,
    /// SHA-512-256-sess.
    Sha512_256Sess,
}

impl Algorithm {
    /// Parses the `algorithm` token (case-insensitive).
    pub fn parse(s: &str) -> Result<Algorithm, AuthError> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "MD5" => Algorithm::Md5,
            "MD5-SESS" => Algorithm::Md5Sess,
            "SHA-256" => Algorithm::Sha256,
            "SHA-256-SESS" => Algorithm::Sha256Sess,
            "SHA-512-256" => Algorithm::Sha512_256,
            "SHA-512-256-SESS" => Algorithm::Sha512_256Sess,
            _ => return Err(AuthError::UnsupportedAlgorithm(s.to_string())),
        })
    }

    /// The token as written in headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
            Algorithm::Sha512_256 => "SHA-512-256",
            Algorithm::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    fn is_sess(self) -> bool {
        matches!(
            self,
            Algorithm::Md5Sess | Algorithm::Sha256Sess | Algorithm::Sha512_256Sess
        )
    }

    /// Preference when a server offers several (RFC 8760 2.4: the
    /// strongest first).
    fn strength(self) -> u8 {
        match self {
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => 3,
            Algorithm::Sha256 | Algorithm::Sha256Sess => 2,
            Algorithm::Md5 | Algorithm::Md5Sess => 1,
        }
    }

    /// Lower-case hex of the hash of `data`.
    pub fn hash_hex(self, data: &[u8]) -> String {
        let bytes: Vec<u8> = match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Md5::digest(data).to_vec(),
            Algorithm::Sha256 | Algorithm::Sha256Sess => {
                digest::digest(&digest::SHA256, data).as_ref().to_vec()
            }
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => {
                digest::digest(&digest::SHA512_256, data).as_ref().to_vec()
            }
        };
        let mut s = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

/// A parsed digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Protection space.
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Opaque value to echo.
    pub opaque: Option<String>,
    /// Algorithm (MD5 when absent).
    pub algorithm: Algorithm,
    /// Offered qop values (empty: RFC 2069 compatibility mode).
    pub qop: Vec<String>,
    /// The previous nonce was merely stale: retry without asking anew.
    pub stale: bool,
    /// `domain` parameter, if any.
    pub domain: Option<String>,
}

/// Splits `name=value` pairs separated by commas, values optionally
/// quoted with backslash escapes; LWS allowed around `=` and `,`.
fn auth_params(s: &str) -> Result<Vec<(String, String)>, AuthError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\r' | b'\n' | b',') {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !matches!(b[i], b',' | b' ' | b'\t') {
            i += 1;
        }
        let name = s[start..i].to_ascii_lowercase();
        if name.is_empty() {
            return Err(AuthError::Malformed("empty parameter name"));
        }
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            return Err(AuthError::Malformed("parameter without '='"));
        }
        i += 1;
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        let value = if i < b.len() && b[i] == b'"' {
            i += 1;
            let mut v = String::new();
            let mut closed = false;
            let mut seg = i;
            while i < b.len() {
                match b[i] {
                    b'\\' if i + 1 < b.len() => {
                        v.push_str(&s[seg..i]);
                        i += 1;
                        seg = i;
                        i += 1;
                    }
                    b'"' => {
                        v.push_str(&s[seg..i]);
                        i += 1;
                        closed = true;
                        break;
                    }
                    _ => i += 1,
                }
            }
            if !closed {
                return Err(AuthError::Malformed("unterminated quoted string"));
            }
            v
        } else {
            let start = i;
            while i < b.len() && !matches!(b[i], b',' | b' ' | b'\t' | b'\r' | b'\n') {
                i += 1;
            }
            s[start..i].to_string()
        };
        out.push((name, value));
    }
    Ok(out)
}

impl Challenge {
    /// Parses a `WWW-Authenticate` or `Proxy-Authenticate` value.
    pub fn parse(header: &str) -> Result<Challenge, AuthError> {
        let h = header.trim();
        let (scheme, rest) = h.split_once([' ', '\t']).unwrap_or((h, ""));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(AuthError::UnsupportedScheme(scheme.to_string()));
        }
        let mut realm = None;
        let mut nonce = None;
        let mut opaque = None;
        let mut algorithm = Algorithm::Md5;
        let mut qop = Vec::new();
        let mut stale = false;
        let mut domain = None;
        for (name, value) in auth_params(rest)? {
            match name.as_str() {
                "realm" => realm = Some(value),
                "nonce" => nonce = Some(value),
                "opaque" => opaque = Some(value),
                "algorithm" => algorithm = Algorithm::parse(&value)?,
                "qop" => {
                    qop = value
                        .split(',')
                        .map(|q| q.trim().to_ascii_lowercase())
                        .filter(|q| !q.is_empty())
                        .collect()
                }
                "stale" => stale = value.eq_ignore_ascii_case("true"),
                "domain" => domain = Some(value),
                _ => {}
            }
        }
        Ok(Challenge {
            realm: realm.ok_or(AuthError::Missing("realm"))?,
            nonce: nonce.ok_or(AuthError::Missing("nonce"))?,
            opaque,
            algorithm,
            qop,
            stale,
            domain,
        })
    }

    /// Picks the challenge to answer among several (RFC 8760 2.4: the
    /// strongest algorithm we support). Unusable ones are skipped.
    pub fn best<'a, I: IntoIterator<Item = &'a str>>(headers: I) -> Option<Challenge> {
        headers
            .into_iter()
            .filter_map(|h| Challenge::parse(h).ok())
            .max_by_key(|c| c.algorithm.strength())
    }
}

/// For a 401 or 407: the header its challenges come in and the header our
/// answer goes in (`WWW-Authenticate`/`Authorization` from a registrar or
/// UAS, `Proxy-Authenticate`/`Proxy-Authorization` from a proxy; RFC 3261
/// 22.2, 22.3). `None` for any other status.
pub(crate) fn challenge_headers(code: u16) -> Option<(HeaderName, HeaderName)> {
    match code {
        401 => Some((HeaderName::WwwAuthenticate, HeaderName::Authorization)),
        407 => Some((
            HeaderName::ProxyAuthenticate,
            HeaderName::ProxyAuthorization,
        )),
        _ => None,
    }
}

/// A user name and password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Digest user name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl Credentials {
    /// Credentials for `username` with `password`.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// The inputs of one digest response computation (RFC 7616 3.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestInput<'a> {
    /// Algorithm.
    pub algorithm: Algorithm,
    /// User name.
    pub username: &'a str,
    /// Realm.
    pub realm: &'a str,
    /// Password.
    pub password: &'a str,
    /// Method.
    pub method: &'a str,
    /// The digest-uri.
    pub uri: &'a str,
    /// Server nonce.
    pub nonce: &'a str,
    /// `Some(("auth"|"auth-int", nc, cnonce))`, or `None` for RFC 2069 mode.
    pub qop: Option<(&'a str, &'a str, &'a str)>,
    /// The body, for `auth-int`.
    pub body: &'a [u8],
}

/// Computes the `response` value.
pub fn digest_response(i: &DigestInput<'_>) -> String {
    let h = |s: &str| i.algorithm.hash_hex(s.as_bytes());
    let mut ha1 = h(&format!("{}:{}:{}", i.username, i.realm, i.password));
    let cnonce = i.qop.map(|q| q.2).unwrap_or("");
    if i.algorithm.is_sess() {
        ha1 = h(&format!("{ha1}:{}:{cnonce}", i.nonce));
    }
    let ha2 = match i.qop {
        Some(("auth-int", _, _)) => {
            let body_hash = i.algorithm.hash_hex(i.body);
            h(&format!("{}:{}:{body_hash}", i.method, i.uri))
        }
        _ => h(&format!("{}:{}", i.method, i.uri)),
    };
    match i.qop {
        Some((qop, nc, cnonce)) => h(&format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", i.nonce)),
        None => h(&format!("{ha1}:{}:{ha2}", i.nonce)),
    }
}

fn random_cnonce() -> String {
    let mut b = [0u8; 12];
    let rng = ring::rand::SystemRandom::new();
    if ring::rand::SecureRandom::fill(&rng, &mut b).is_err() {
        return crate::util::random_token(16);
    }
    b.iter().fold(String::with_capacity(24), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

/// Answers challenges for one set of credentials across requests: keeps
/// the nonce count per nonce and notices when the same nonce is
/// challenged again (wrong credentials) as opposed to `stale=true`.
#[derive(Debug, Clone)]
pub struct DigestSession {
    creds: Credentials,
    nonce: Option<String>,
    nc: u32,
    cnonce: Option<String>,
}

impl DigestSession {
    /// A session for these credentials.
    pub fn new(creds: Credentials) -> Self {
        DigestSession {
            creds,
            nonce: None,
            nc: 0,
            cnonce: None,
        }
    }

    /// Builds the `Authorization`/`Proxy-Authorization` value answering the
    /// best of `challenges` for `method` and `uri`; `body` is used for
    /// `qop=auth-int`. Returns `None` when no challenge is usable, or when
    /// the server challenges again for the nonce we just answered without
    /// saying it was stale, which means our credentials are wrong (so the
    /// caller stops instead of looping).
    pub fn respond(
        &mut self,
        challenges: &[&str],
        method: &str,
        uri: &str,
        body: Option<&[u8]>,
    ) -> Option<String> {
        let c = Challenge::best(challenges.iter().copied())?;
        if self.nonce.as_deref() == Some(c.nonce.as_str()) && !c.stale {
            // The nonce we answered, challenged again: the password is wrong.
            return None;
        }
        if self.nonce.as_deref() != Some(c.nonce.as_str()) {
            self.nonce = Some(c.nonce.clone());
            self.nc = 0;
            self.cnonce = None;
        }
        self.answer(&c, method, uri, body).ok()
    }

    /// Answers one challenge (incrementing the nonce count). Also used to
    /// pre-authorise later requests with a known challenge.
    pub fn answer(
        &mut self,
        c: &Challenge,
        method: &str,
        uri: &str,
        body: Option<&[u8]>,
    ) -> Result<String, AuthError> {
        let qop = if c.qop.is_empty() {
            None
        } else if c.qop.iter().any(|q| q == "auth") {
            Some("auth")
        } else if c.qop.iter().any(|q| q == "auth-int") && body.is_some() {
            Some("auth-int")
        } else {
            return Err(AuthError::QopUnsupported);
        };
        self.nc = self.nc.wrapping_add(1);
        let nc = format!("{:08x}", self.nc);
        let cnonce = self.cnonce.get_or_insert_with(random_cnonce).clone();
        let response = digest_response(&DigestInput {
            algorithm: c.algorithm,
            username: &self.creds.username,
            realm: &c.realm,
            password: &self.creds.password,
            method,
            uri,
            nonce: &c.nonce,
            qop: qop.map(|q| (q, nc.as_str(), cnonce.as_str())),
            body: body.unwrap_or(&[]),
        });
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut v = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={}",
            esc(&self.creds.username),
            esc(&c.realm),
            esc(&c.nonce),
            esc(uri),
            c.algorithm.as_str()
        );
        if let Some(q) = qop {
            let _ = write!(v, ", qop={q}, nc={nc}, cnonce=\"{cnonce}\"");
        }
        if let Some(o) = &c.opaque {
            let _ = write!(v, ", opaque=\"{}\"", esc(o));
        }
        Ok(v)
    }
}

/// The fields of a received `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Authorization {
    /// User name.
    pub username: String,
    /// Realm.
    pub realm: String,
    /// Nonce.
    pub nonce: String,
    /// digest-uri.
    pub uri: String,
    /// The response hash.
    pub response: String,
    /// Algorithm token.
    pub algorithm: Option<String>,
    /// qop.
    pub qop: Option<String>,
    /// Nonce count.
    pub nc: Option<String>,
    /// Client nonce.
    pub cnonce: Option<String>,
    /// Opaque.
    pub opaque: Option<String>,
}

impl Authorization {
    /// Parses an `Authorization`/`Proxy-Authorization` value.
    pub fn parse(header: &str) -> Result<Authorization, AuthError> {
        let h = header.trim();
        let (scheme, rest) = h.split_once([' ', '\t']).unwrap_or((h, ""));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(AuthError::UnsupportedScheme(scheme.to_string()));
        }
        let mut a = Authorization::default();
        for (n, v) in auth_params(rest)? {
            match n.as_str() {
                "username" => a.username = v,
                "realm" => a.realm = v,
                "nonce" => a.nonce = v,
                "uri" => a.uri = v,
                "response" => a.response = v,
                "algorithm" => a.algorithm = Some(v),
                "qop" => a.qop = Some(v),
                "nc" => a.nc = Some(v),
                "cnonce" => a.cnonce = Some(v),
                "opaque" => a.opaque = Some(v),
                _ => {}
            }
        }
        if a.username.is_empty() || a.nonce.is_empty() || a.response.is_empty() {
            return Err(AuthError::Missing("username, nonce or response"));
        }
        Ok(a)
    }

    /// Checks the response against `password` for `method` (server side).
    pub fn verify(&self, method: &str, password: &str, body: &[u8]) -> bool {
        let Ok(alg) = Algorithm::parse(self.algorithm.as_deref().unwrap_or("MD5")) else {
            return false;
        };
        let qop = match (&self.qop, &self.nc, &self.cnonce) {
            (Some(q), Some(nc), Some(cn)) => Some((q.as_str(), nc.as_str(), cn.as_str())),
            (None, _, _) => None,
            _ => return false,
        };
        let expected = digest_response(&DigestInput {
            algorithm: alg,
            username: &self.username,
            realm: &self.realm,
            password,
            method,
            uri: &self.uri,
            nonce: &self.nonce,
            qop,
            body,
        });
        // Compare without an early exit, so timing does not reveal how
        // much of a guess was right.
        let given = self.response.to_ascii_lowercase();
        expected.len() == given.len()
            && expected
                .bytes()
                .zip(given.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example() {
        // RFC 2617 3.5.
        let r = digest_response(&DigestInput {
            algorithm: Algorithm::Md5,
            username: "Mufasa",
            realm: "testrealm@host.com",
            password: "Circle Of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop: Some(("auth", "00000001", "0a4f113b")),
            body: b"",
        });
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc7616_examples_md5_and_sha256() {
        // RFC 7616 3.9.1.
        let base = DigestInput {
            algorithm: Algorithm::Md5,
            username: "Mufasa",
            realm: "http-auth@example.org",
            password: "Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            qop: Some((
                "auth",
                "00000001",
                "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            )),
            body: b"",
        };
        assert_eq!(digest_response(&base), "8ca523f5e9506fed4657c9700eebdbec");
        let sha = DigestInput {
            algorithm: Algorithm::Sha256,
            ..base
        };
        assert_eq!(
            digest_response(&sha),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn parses_odd_but_valid_challenges() {
        let c = Challenge::parse(
            "Digest realm = \"sip.example, with comma\" ,\r\n nonce=\"a\\\"b\", algorithm=sha-256, qop=\"auth,auth-int\", stale=TRUE, opaque=\"o\", unknown=x",
        )
        .unwrap();
        assert_eq!(c.realm, "sip.example, with comma");
        assert_eq!(c.nonce, "a\"b");
        assert_eq!(c.algorithm, Algorithm::Sha256);
        assert_eq!(c.qop, ["auth", "auth-int"]);
        assert!(c.stale);
        assert_eq!(c.opaque.as_deref(), Some("o"));
        assert!(matches!(
            Challenge::parse("Basic realm=\"x\""),
            Err(AuthError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            Challenge::parse("Digest realm=\"x\""),
            Err(AuthError::Missing("nonce"))
        ));
        assert!(Challenge::parse("Digest realm=\"x, nonce=y").is_err());
        assert!(matches!(
            Challenge::parse("Digest realm=\"x\", nonce=\"y\", algorithm=SHA-1"),
            Err(AuthError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn prefers_sha256_when_both_offered() {
        let md5 = "Digest realm=\"r\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"";
        let sha = "Digest realm=\"r\", nonce=\"n2\", algorithm=SHA-256, qop=\"auth\"";
        assert_eq!(
            Challenge::best([md5, sha]).unwrap().algorithm,
            Algorithm::Sha256
        );
        assert_eq!(Challenge::best([sha, md5]).unwrap().nonce, "n2");
    }

    #[test]
    fn session_counts_nonces_handles_stale_and_stops_on_wrong_password() {
        let mut s = DigestSession::new(Credentials {
            username: "1001".into(),
            password: "pw".into(),
        });
        let c1 = "Digest realm=\"r\", nonce=\"n1\", qop=\"auth\"";
        let a = s.respond(&[c1], "REGISTER", "sip:r", None).unwrap();
        assert!(a.contains("nc=00000001"));
        // The same nonce challenged again without stale: wrong password.
        assert!(s.respond(&[c1], "REGISTER", "sip:r", None).is_none());
        // A stale challenge with a new nonce: answer again, count restarts.
        let c2 = "Digest realm=\"r\", nonce=\"n2\", qop=\"auth\", stale=true";
        let a = s.respond(&[c2], "REGISTER", "sip:r", None).unwrap();
        assert!(a.contains("nc=00000001") && a.contains("nonce=\"n2\""));
        // Reusing a known challenge for a later request increments nc.
        let c = Challenge::parse(c2).unwrap();
        let a = s.answer(&c, "INVITE", "sip:x@r", None).unwrap();
        assert!(a.contains("nc=00000002"));
    }

    #[test]
    fn server_side_verification_round_trip() {
        for alg in ["MD5", "SHA-256", "MD5-sess", "SHA-256-sess", "SHA-512-256"] {
            let mut s = DigestSession::new(Credentials {
                username: "alice".into(),
                password: "wonderland".into(),
            });
            let ch = format!("Digest realm=\"atlanta.example.com\", nonce=\"84a4cc6f3082121f32b42a2187831a9e\", algorithm={alg}, qop=\"auth\", opaque=\"xyz\"");
            let v = s
                .respond(&[ch.as_str()], "INVITE", "sip:bob@biloxi.example.com", None)
                .unwrap();
            let a = Authorization::parse(&v).unwrap();
            assert_eq!(a.opaque.as_deref(), Some("xyz"));
            assert!(a.verify("INVITE", "wonderland", b""), "{alg}");
            assert!(!a.verify("INVITE", "wrong", b""), "{alg}");
            assert!(!a.verify("BYE", "wonderland", b""), "{alg}");
        }
    }

    #[test]
    fn rfc2069_mode_without_qop() {
        let mut s = DigestSession::new(Credentials {
            username: "u".into(),
            password: "p".into(),
        });
        let v = s
            .respond(
                &["Digest realm=\"r\", nonce=\"n\""],
                "REGISTER",
                "sip:r",
                None,
            )
            .unwrap();
        assert!(!v.contains("qop="));
        let a = Authorization::parse(&v).unwrap();
        assert!(a.verify("REGISTER", "p", b""));
    }
}
