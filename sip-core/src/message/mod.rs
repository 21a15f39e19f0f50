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
mod fields;
mod headers;
mod lex;
mod method;
mod params;
mod parse;
mod sip_message;
mod uri;
pub mod validate;

// The modules are layers; each uses only those before it in this list:
// lex (whitespace, tokens, numbers), method, params, uri, headers (typed
// views of values), fields (the header index, read through the typed
// views), sip_message, parse, build, validate. This file only re-exports.
pub use build::{MessageBuilder, ResponseBuilder, ResponseHead};
pub use fields::{Header, HeaderName, Headers};
pub use headers::{
    split_list, CSeq, HeaderError, NameAddr, Via, ViaTransport, NAME_ADDR_LIST_LIMIT,
};
pub use method::Method;
pub use params::{unquote, ParamError, Params};
pub use parse::{salvage_for_response, ParseError, ParseLimits, Partial, Salvaged};
pub use sip_message::{reason_phrase, Message, Request, Response};
pub use uri::{percent_decode, Host, Uri, UriError};
