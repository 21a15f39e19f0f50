//! Dialogs (RFC 3261 section 12): the state two user agents share for the
//! length of a call (Call-ID, tags, CSeq numbers, remote target and route
//! set) and the rules for building requests inside one.

use std::net::SocketAddr;

use crate::message::{HeaderName, Message, MessageBuilder, Method, NameAddr, Request, Response};
use crate::transport::Transport;
use crate::util;

/// Identifies a dialog from our side: Call-ID and our tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// The Call-ID.
    pub call_id: String,
    /// Our tag (To tag of requests we receive as UAS, From tag as UAC).
    pub local_tag: String,
}

/// What a UAC keeps of the INVITE it sent, to form the dialog from the
/// answer (RFC 3261 12.1.2) without parsing its own request again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentInvite {
    /// The Call-ID.
    pub call_id: String,
    /// Our tag, as sent in From.
    pub local_tag: String,
    /// Our From header value without its tag (display name and URI).
    pub local_uri: String,
    /// The Request-URI: the remote target until the answer's Contact
    /// names another.
    pub request_uri: String,
    /// The INVITE's CSeq number.
    pub seq: u32,
}

/// Errors building a dialog from a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// A header the dialog needs is missing or malformed.
    #[error("cannot form a dialog: {0}")]
    Header(String),
}

/// The state of one dialog.
#[derive(Debug, Clone)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
    /// Our URI as it appears in From (UAC) or To (UAS), without the tag.
    pub local_uri: String,
    /// The peer's URI, without the tag.
    pub remote_uri: String,
    /// Our next CSeq number.
    pub local_seq: u32,
    /// The highest CSeq number received from the peer.
    pub remote_seq: Option<u32>,
    /// Where requests go: the peer's Contact URI.
    pub remote_target: String,
    /// Route set, in the order requests carry it.
    pub route_set: Vec<String>,
    /// Our Contact header value.
    pub local_contact: String,
    /// The transport the dialog runs over.
    pub transport: Transport,
    /// The address the dialog-forming message came from; in-dialog
    /// requests go here when the next hop cannot be resolved (or when NAT
    /// handling is on).
    pub peer: SocketAddr,
    /// Whether in-dialog requests go to `peer` instead of the resolved
    /// next hop (symmetric signalling for peers behind NAT).
    pub symmetric: bool,
}

fn strip_tag(value: &str) -> String {
    // Keep the name-addr as written but without its tag parameter.
    match NameAddr::parse(value) {
        Ok(na) => {
            let mut out = String::new();
            if let Some(d) = na.display {
                out.push_str(d);
                out.push(' ');
            }
            out.push('<');
            out.push_str(na.uri.raw);
            out.push('>');
            for (n, v) in na.params.iter() {
                if n.eq_ignore_ascii_case("tag") {
                    continue;
                }
                out.push(';');
                out.push_str(n);
                if let Some(v) = v {
                    out.push('=');
                    out.push_str(v);
                }
            }
            out
        }
        Err(_) => value.to_string(),
    }
}

fn contact_uri(headers: &crate::message::Headers<'_>) -> Option<String> {
    headers
        .contacts()
        .next()
        .and_then(Result::ok)
        .map(|c| c.uri.raw.to_string())
}

impl Dialog {
    /// The dialog a UAS forms by answering `invite` (RFC 3261 12.1.1).
    pub fn as_uas(
        invite: &Request<'_>,
        local_tag: &str,
        local_contact: String,
        transport: Transport,
        peer: SocketAddr,
    ) -> Result<Dialog, DialogError> {
        let h = &invite.headers;
        let from = h
            .get(HeaderName::From)
            .ok_or_else(|| DialogError::Header("From".into()))?;
        let to = h
            .get(HeaderName::To)
            .ok_or_else(|| DialogError::Header("To".into()))?;
        let remote_tag = h
            .from()
            .ok()
            .and_then(|f| f.tag().map(str::to_string))
            .unwrap_or_default();
        let cseq = h.cseq().map_err(|e| DialogError::Header(e.to_string()))?;
        let remote_target = contact_uri(h).ok_or_else(|| DialogError::Header("Contact".into()))?;
        let route_set = h
            .list(HeaderName::RecordRoute)
            .map(str::to_string)
            .collect();
        Ok(Dialog {
            call_id: h.call_id().unwrap_or_default().to_string(),
            local_tag: local_tag.to_string(),
            remote_tag,
            local_uri: strip_tag(to),
            remote_uri: strip_tag(from),
            local_seq: (util::random_u64() % 10_000) as u32 + 1,
            remote_seq: Some(cseq.seq),
            remote_target,
            route_set,
            local_contact,
            transport,
            peer,
            symmetric: false,
        })
    }

    /// The dialog a UAC forms from a 2xx (or 1xx with a tag) to the
    /// INVITE it sent (RFC 3261 12.1.2).
    pub fn as_uac(
        invite: &SentInvite,
        response: &Response<'_>,
        local_contact: String,
        transport: Transport,
        peer: SocketAddr,
    ) -> Result<Dialog, DialogError> {
        let rh = &response.headers;
        let to = rh.to().map_err(|e| DialogError::Header(e.to_string()))?;
        let remote_target = contact_uri(rh).unwrap_or_else(|| invite.request_uri.clone());
        let mut route_set: Vec<String> = rh
            .list(HeaderName::RecordRoute)
            .map(str::to_string)
            .collect();
        route_set.reverse();
        Ok(Dialog {
            call_id: invite.call_id.clone(),
            local_tag: invite.local_tag.clone(),
            remote_tag: to.tag().unwrap_or_default().to_string(),
            local_uri: invite.local_uri.clone(),
            remote_uri: strip_tag(rh.get(HeaderName::To).unwrap_or_default()),
            local_seq: invite.seq,
            remote_seq: None,
            remote_target,
            route_set,
            local_contact,
            transport,
            peer,
            symmetric: false,
        })
    }

    /// Our identifier for this dialog.
    pub fn id(&self) -> DialogId {
        DialogId {
            call_id: self.call_id.clone(),
            local_tag: self.local_tag.clone(),
        }
    }

    /// Checks and records the CSeq of a request received in the dialog
    /// (RFC 3261 12.2.2): a lower number than seen before is out of order.
    pub fn accept_remote_seq(&mut self, seq: u32, method: Method<'_>) -> bool {
        if matches!(method, Method::Ack | Method::Cancel) {
            return true;
        }
        match self.remote_seq {
            Some(r) if seq < r => false,
            _ => {
                self.remote_seq = Some(seq);
                true
            }
        }
    }

    /// Updates the remote target from a target refresh (re-INVITE, UPDATE).
    pub fn refresh_target(&mut self, msg: &Message<'_>) {
        if let Some(c) = contact_uri(msg.headers()) {
            self.remote_target = c;
        }
    }

    /// The URI of the next hop for in-dialog requests: the first route
    /// (loose routing) or the remote target.
    pub fn next_hop_uri(&self) -> String {
        match self.route_set.first() {
            Some(r) => NameAddr::parse(r)
                .map(|n| n.uri.raw.to_string())
                .unwrap_or_else(|_| self.remote_target.clone()),
            None => self.remote_target.clone(),
        }
    }

    /// Starts a request inside the dialog (RFC 3261 12.2.1.1): Request-URI
    /// = remote target, Route = route set, From/To with tags, the next CSeq
    /// (ACK and CANCEL reuse the INVITE's number: pass `cseq`). Returns the
    /// builder and the new branch. `via_host` is our sent-by.
    pub fn request(
        &mut self,
        method: Method<'_>,
        via_host: &str,
        cseq: Option<u32>,
    ) -> (MessageBuilder, String) {
        let seq = match cseq {
            Some(s) => s,
            None => {
                self.local_seq = self.local_seq.wrapping_add(1) & 0x7fff_ffff;
                self.local_seq
            }
        };
        let branch = util::new_branch();
        let mut b = MessageBuilder::request(method, &self.remote_target);
        b.header(
            HeaderName::Via,
            format_args!(
                "SIP/2.0/{} {via_host};branch={branch};rport",
                self.transport
            ),
        );
        b.header(HeaderName::MaxForwards, 70);
        for r in &self.route_set {
            b.header(HeaderName::Route, r);
        }
        b.header(
            HeaderName::From,
            format_args!("{};tag={}", self.local_uri, self.local_tag),
        );
        if self.remote_tag.is_empty() {
            b.header(HeaderName::To, &self.remote_uri);
        } else {
            b.header(
                HeaderName::To,
                format_args!("{};tag={}", self.remote_uri, self.remote_tag),
            );
        }
        b.header(HeaderName::CallId, &self.call_id);
        b.header(HeaderName::CSeq, format_args!("{seq} {method}"));
        if !matches!(method, Method::Ack | Method::Cancel | Method::Bye) {
            b.header(HeaderName::Contact, &self.local_contact);
        }
        (b, branch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:100@10.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKa\r\n\
Record-Route: <sip:p1.example;lr>\r\n\
Record-Route: <sip:p2.example;lr>\r\n\
From: \"Carol\" <sip:carol@example.org>;tag=ft\r\n\
To: <sip:100@10.0.0.1>\r\n\
Call-ID: c1\r\n\
CSeq: 5 INVITE\r\n\
Contact: <sip:carol@192.0.2.9:5062>\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn uas_dialog_from_invite_and_bye_built_inside_it() {
        let m = Message::parse(INVITE).unwrap();
        let req = m.as_request().unwrap();
        let peer: SocketAddr = "192.0.2.9:5060".parse().unwrap();
        let mut d =
            Dialog::as_uas(req, "lt", "<sip:us@10.0.0.1>".into(), Transport::Udp, peer).unwrap();
        assert_eq!(d.remote_tag, "ft");
        assert_eq!(d.remote_target, "sip:carol@192.0.2.9:5062");
        assert_eq!(d.route_set, ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]);
        assert_eq!(d.next_hop_uri(), "sip:p1.example;lr");
        assert!(!d.accept_remote_seq(4, Method::Bye));
        assert!(d.accept_remote_seq(6, Method::Bye));
        let (b, branch) = d.request(Method::Bye, "10.0.0.1:5060", None);
        let bytes = b.finish();
        let bye = Message::parse(&bytes).unwrap();
        let r = bye.as_request().unwrap();
        assert_eq!(r.uri, "sip:carol@192.0.2.9:5062");
        let routes: Vec<_> = r.headers.get_all(HeaderName::Route).collect();
        assert_eq!(routes, ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]);
        assert_eq!(r.headers.from().unwrap().tag(), Some("lt"));
        assert_eq!(r.headers.to().unwrap().tag(), Some("ft"));
        assert_eq!(r.headers.to().unwrap().display_name().unwrap(), "Carol");
        assert_eq!(r.headers.top_via().unwrap().branch(), Some(branch.as_str()));
        assert_eq!(r.headers.cseq().unwrap().method, Method::Bye);
    }

    #[test]
    fn uac_dialog_reverses_record_route() {
        let inv = SentInvite {
            call_id: "c1".into(),
            local_tag: "ft".into(),
            local_uri: "\"Carol\" <sip:carol@example.org>".into(),
            request_uri: "sip:100@10.0.0.1".into(),
            seq: 5,
        };
        let resp = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKa\r\nRecord-Route: <sip:p2.example;lr>, <sip:p1.example;lr>\r\nFrom: \"Carol\" <sip:carol@example.org>;tag=ft\r\nTo: <sip:100@10.0.0.1>;tag=tt\r\nCall-ID: c1\r\nCSeq: 5 INVITE\r\nContact: <sip:100@10.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n";
        let r = Message::parse(resp).unwrap();
        let d = Dialog::as_uac(
            &inv,
            r.as_response().unwrap(),
            "<sip:carol@192.0.2.9:5062>".into(),
            Transport::Udp,
            "10.0.0.1:5060".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(d.route_set, ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]);
        assert_eq!(d.remote_tag, "tt");
        assert_eq!(d.local_tag, "ft");
        assert_eq!(d.remote_target, "sip:100@10.0.0.1:5070");
        assert_eq!(d.local_seq, 5);
        assert_eq!(d.local_uri, "\"Carol\" <sip:carol@example.org>");
        assert_eq!(d.call_id, "c1");
    }
}
