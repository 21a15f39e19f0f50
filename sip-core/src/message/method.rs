//! Request methods (RFC 3261 7.1).

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
