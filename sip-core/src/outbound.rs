//! Placing calls (the UAC side of INVITE): through the trunk with digest
//! authentication on 401/407, provisional responses surfaced (ringing,
//! early media), failures surfaced as a typed [`CallFailure`], CANCEL when
//! nobody answers in time, and the ACK for the 2xx (re-sent for every
//! retransmitted 2xx).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::queue;
use bytes::Bytes;
use tokio::sync::oneshot;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::auth::{Credentials, DigestSession};
use crate::call::{Call, CallError, CallShared};
use crate::dialog::{Dialog, SentInvite};
use crate::message::{HeaderName, Message, MessageBuilder, Method, Response};
pub use crate::resolve::CallTarget;
use crate::resolve::{HostPort, InvalidSetting, SipDestination, Target};
use crate::sdp::{LocalMedia, SdpSession};
use crate::transaction::{next_event_within, ClientEvent, OutgoingRequest};
use crate::transport::Transport;
use crate::ua::UaCore;
use crate::util;

/// What the INVITE offers.
#[derive(Debug, Clone)]
pub enum Offer {
    /// This SDP as it is; the answer is reported
    /// ([`Call::remote_sdp`]) but not negotiated ([`Call::media`] is
    /// `None`).
    Sdp(String),
    /// Media negotiated through us: an offer made from `LocalMedia`
    /// (PCMU, PCMA, `telephone-event`), the answer checked against it when
    /// the call is answered and available from [`Call::media`].
    Media(LocalMedia),
}

/// What to dial.
#[derive(Debug, Clone)]
pub struct DialOptions {
    /// Whom to call.
    pub to: CallTarget,
    /// Our identity in From (`sip:user@domain`); defaults to our address.
    /// See [`DialOptions::with_from`] to set it from text.
    pub from: Option<CallTarget>,
    /// Display name in From.
    pub display_name: Option<String>,
    /// What to offer.
    pub offer: Offer,
    /// Credentials for the trunk's 401/407 challenges.
    pub credentials: Option<Credentials>,
    /// The trunk's outbound proxy: the INVITE goes there, with a preloaded
    /// `Route: <sip:proxy;lr>` (RFC 3261 8.1.2), instead of to the host
    /// of `to`. A host name is resolved as RFC 3263 says (SRV, then
    /// A/AAAA) with failover to the next address, like the host of `to`
    /// when there is no proxy.
    pub outbound_proxy: Option<HostPort>,
    /// Transport.
    pub transport: Transport,
    /// How long to wait for an answer before sending CANCEL.
    pub ring_timeout: Duration,
    /// Extra headers (P-Asserted-Identity, Privacy, X- headers).
    pub headers: Vec<(String, String)>,
}

impl DialOptions {
    /// Options to call `to` (a SIP or tel URI) offering `offer`, over
    /// UDP, 60 s ring timeout. The error names `to` when it is not a URI.
    pub fn new(to: &str, offer: Offer) -> Result<Self, InvalidSetting> {
        Ok(DialOptions {
            to: CallTarget::parse(to)?,
            from: None,
            display_name: None,
            offer,
            credentials: None,
            outbound_proxy: None,
            transport: Transport::Udp,
            ring_timeout: Duration::from_secs(60),
            headers: Vec::new(),
        })
    }

    /// Options to call `to` offering `local` media (PCMU, PCMA,
    /// `telephone-event`); the answer is negotiated when the call is
    /// answered and is available from [`Call::media`].
    pub fn with_media(to: &str, local: LocalMedia) -> Result<Self, InvalidSetting> {
        DialOptions::new(to, Offer::Media(local))
    }

    /// Sets our identity in From from a SIP URI setting; the error names
    /// `from`.
    pub fn with_from(mut self, uri: &str) -> Result<Self, InvalidSetting> {
        self.from = Some(CallTarget::parse_setting("from", uri)?);
        Ok(self)
    }

    /// Sets the outbound proxy from a `host[:port]` setting; the error
    /// names `outbound_proxy`.
    pub fn with_outbound_proxy(mut self, proxy: &str) -> Result<Self, InvalidSetting> {
        self.outbound_proxy = Some(HostPort::parse_setting("outbound_proxy", proxy)?);
        Ok(self)
    }
}

/// Why a call we placed did not connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// 486 Busy Here, 600 Busy Everywhere.
    Busy,
    /// 603 Decline.
    Declined,
    /// 404, 604, 484: no such number.
    NotFound,
    /// 480, 408, 487 after our CANCEL: nobody answered.
    NoAnswer,
    /// 401/407 we could not satisfy, or 403.
    Unauthorized,
    /// 503, 500, 502, 504: the network failed.
    NetworkError,
    /// No response at all, or the destination was unreachable.
    Unreachable,
    /// Anything else.
    Other,
}

/// A failed outbound call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    /// The category.
    pub kind: FailureKind,
    /// The final status code, when one came.
    pub code: Option<u16>,
    /// The reason phrase or error text.
    pub reason: String,
}

impl CallFailure {
    fn from_code(code: u16, reason: &str) -> CallFailure {
        let kind = match code {
            486 | 600 => FailureKind::Busy,
            603 => FailureKind::Declined,
            404 | 604 | 484 | 410 => FailureKind::NotFound,
            480 | 408 | 487 => FailureKind::NoAnswer,
            401 | 407 | 403 => FailureKind::Unauthorized,
            500 | 502 | 503 | 504 => FailureKind::NetworkError,
            _ => FailureKind::Other,
        };
        CallFailure {
            kind,
            code: Some(code),
            reason: reason.to_string(),
        }
    }

    fn unreachable(why: impl Into<String>) -> CallFailure {
        CallFailure {
            kind: FailureKind::Unreachable,
            code: None,
            reason: why.into(),
        }
    }
}

/// Progress of a call we placed.
#[derive(Debug)]
pub enum Progress {
    /// 100 Trying from the next hop.
    Trying,
    /// 180 Ringing (or 183 without SDP).
    Ringing,
    /// 183 Session Progress with SDP: early media (announcements,
    /// ringback from the network).
    EarlyMedia {
        /// The far end's SDP answer for early media.
        sdp: String,
    },
    /// Answered: the call is up.
    Answered(Call),
    /// It failed.
    Failed(CallFailure),
}

/// A call being placed. Read [`Dialing::next`] until `Answered` or `Failed`.
#[derive(Debug)]
pub struct Dialing {
    call_id: String,
    progress: queue::Receiver<Progress>,
    cancel: Option<oneshot::Sender<()>>,
}

impl Dialing {
    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The next progress report; `None` after the final one.
    pub async fn next(&mut self) -> Option<Progress> {
        self.progress.recv().await
    }

    /// Gives up on the call (CANCEL if the far end is ringing).
    pub fn cancel(&mut self) {
        if let Some(c) = self.cancel.take() {
            let _ = c.send(());
        }
    }

    /// Waits until the call is answered or fails, ignoring provisional
    /// progress.
    pub async fn answered(mut self) -> Result<Call, CallFailure> {
        while let Some(p) = self.next().await {
            match p {
                Progress::Answered(c) => return Ok(c),
                Progress::Failed(f) => return Err(f),
                _ => {}
            }
        }
        Err(CallFailure::unreachable("call attempt ended"))
    }
}

/// Places a call. Returns at once; progress arrives on the [`Dialing`].
/// The destination (the outbound proxy, else the host of `to`) is looked
/// up as RFC 3263 says; an address that does not answer, cannot be
/// reached or answers 503 makes the call try the next one, each in a new
/// transaction (RFC 3263 4.3).
pub(crate) fn dial(core: &Arc<UaCore>, opts: DialOptions) -> Result<Dialing, CallError> {
    let destination = dial_destination(&opts)?;
    let call_id = util::new_call_id(None);
    let (ptx, prx) = queue::unbounded();
    let (ctx, crx) = oneshot::channel();
    let core = core.clone();
    let span = info_span!("call", call_id = %call_id);
    let cid = call_id.clone();
    // The offer is made once; its session (when negotiating) goes to the
    // call when it is answered.
    let (offer_sdp, session) = match &opts.offer {
        Offer::Sdp(sdp) => (sdp.clone(), None),
        Offer::Media(local) => {
            let mut session = SdpSession::new(local.clone());
            (session.offer(), Some(session))
        }
    };
    core.call_started();
    tokio::spawn(
        async move {
            let invitation = Invitation {
                opts: &opts,
                offer_sdp: &offer_sdp,
                session: &session,
            };
            let result = match core.resolver().resolve(&destination).await {
                Ok(targets) => run_invite(&core, &invitation, &targets, &cid, &ptx, crx).await,
                Err(e) => Err(CallFailure::unreachable(e.to_string())),
            };
            if let Err(f) = result {
                core.call_ended();
                info!(kind = ?f.kind, code = ?f.code, reason = %f.reason, "outbound call failed");
                let _ = ptx.send(Progress::Failed(f));
            }
        }
        .instrument(span),
    );
    Ok(Dialing {
        call_id,
        progress: prx,
        cancel: Some(ctx),
    })
}

/// The call to place, as decided once before the first INVITE: the
/// options, the offer's SDP and the offer/answer state behind it.
struct Invitation<'a> {
    opts: &'a DialOptions,
    offer_sdp: &'a str,
    session: &'a Option<SdpSession>,
}

/// What to look up for a call: the outbound proxy, else the host of the
/// Request-URI (with its port and `transport` parameter, RFC 3263 4.1).
fn dial_destination(opts: &DialOptions) -> Result<SipDestination, CallError> {
    if let Some(proxy) = &opts.outbound_proxy {
        return Ok(proxy.destination(opts.transport));
    }
    let Some((host, port)) = opts.to.host_port() else {
        return Err(CallError::InvalidSetting(InvalidSetting {
            setting: "to",
            value: opts.to.to_string(),
            reason: "names no host, and no outbound_proxy is set to send the call to".into(),
        }));
    };
    Ok(SipDestination {
        host: host.to_string(),
        port,
        transport: Some(opts.transport),
        // No TLS yet: a sips: URI is looked up as plain SIP.
        secure: false,
    })
}

/// Builds the INVITEs of a call to one server address, and their
/// CANCELs, from values decided once; our own requests are never parsed
/// again.
struct InviteBuilder<'a> {
    core: &'a Arc<UaCore>,
    opts: &'a DialOptions,
    offer_sdp: &'a str,
    dest: SocketAddr,
    transport: Transport,
    call_id: &'a str,
    from_tag: String,
    /// Our From header value without the tag (display name and URI).
    local_uri: String,
    contact: String,
}

/// One INVITE as sent, with the values its CANCEL repeats (RFC 3261 9.1).
struct Invite {
    bytes: Bytes,
    branch: String,
    /// The top (our only) Via header value.
    via: String,
    seq: u32,
}

impl<'a> InviteBuilder<'a> {
    fn new(
        core: &'a Arc<UaCore>,
        inv: &Invitation<'a>,
        dest: SocketAddr,
        transport: Transport,
        call_id: &'a str,
        from_tag: String,
    ) -> Self {
        let opts = inv.opts;
        let user = opts.credentials.as_ref().map(|c| c.username.as_str());
        let uri = match &opts.from {
            Some(f) => f.to_string(),
            None => format!(
                "sip:{}@{}",
                user.unwrap_or("ai-line"),
                core.local_hostport(dest, transport)
            ),
        };
        let local_uri = match &opts.display_name {
            Some(d) => format!("\"{}\" <{uri}>", d.replace('"', "")),
            None => format!("<{uri}>"),
        };
        InviteBuilder {
            core,
            opts,
            offer_sdp: inv.offer_sdp,
            dest,
            transport,
            call_id,
            from_tag,
            local_uri,
            contact: core.contact(user.unwrap_or(""), dest, transport),
        }
    }

    /// Headers the INVITE and its CANCEL share (RFC 3261 9.1): Request-URI,
    /// top Via, Route, From, To, Call-ID and the CSeq number.
    fn request(&self, method: Method<'_>, via: &str, seq: u32) -> MessageBuilder {
        let mut b = MessageBuilder::request(method, self.opts.to.as_str());
        b.header(HeaderName::Via, via);
        if let Some(proxy) = &self.opts.outbound_proxy {
            b.header(HeaderName::Route, format_args!("<sip:{proxy};lr>"));
        }
        b.header(HeaderName::MaxForwards, 70);
        b.header(
            HeaderName::From,
            format_args!("{};tag={}", self.local_uri, self.from_tag),
        );
        b.header(HeaderName::To, format_args!("<{}>", self.opts.to));
        b.header(HeaderName::CallId, self.call_id);
        b.header(HeaderName::CSeq, format_args!("{seq} {method}"));
        b
    }

    /// An INVITE with CSeq `seq`, a new branch, and an optional
    /// (Proxy-)Authorization header.
    fn build(&self, seq: u32, auth: Option<&(HeaderName, String)>) -> Invite {
        let branch = util::new_branch();
        let via_host = self.core.local_hostport(self.dest, self.transport);
        let via = format!(
            "SIP/2.0/{} {via_host};branch={branch};rport",
            self.transport
        );
        let mut b = self.request(Method::Invite, &via, seq);
        b.header(HeaderName::Contact, &self.contact);
        b.header(HeaderName::Allow, self.core.caps().allow_header());
        b.header(HeaderName::Supported, self.core.caps().supported.join(", "));
        b.header(HeaderName::UserAgent, self.core.user_agent());
        for (n, v) in &self.opts.headers {
            b.header_named(n, v);
        }
        if let Some((name, value)) = auth {
            b.header(*name, value);
        }
        let bytes = b.body("application/sdp", self.offer_sdp.as_bytes());
        Invite {
            bytes: Bytes::from(bytes),
            branch,
            via,
            seq,
        }
    }

    /// The CANCEL for `invite` (RFC 3261 9.1): same Request-URI, top Via
    /// (so the same branch), Route, From, To, Call-ID and CSeq number.
    fn cancel(&self, invite: &Invite) -> Vec<u8> {
        self.request(Method::Cancel, &invite.via, invite.seq)
            .finish()
    }

    /// What the dialog keeps of `invite` (RFC 3261 12.1.2).
    fn sent(&self, invite: &Invite) -> SentInvite {
        SentInvite {
            call_id: self.call_id.to_string(),
            local_tag: self.from_tag.clone(),
            local_uri: self.local_uri.clone(),
            request_uri: self.opts.to.as_str().to_string(),
            seq: invite.seq,
        }
    }
}

/// What one target made of the INVITE.
enum Attempt {
    /// The call is settled (answered and handed over, or failed for good).
    Done(Result<(), CallFailure>),
    /// This server did not answer, could not be reached or answered 503:
    /// try the next (RFC 3263 4.3).
    NextTarget(CallFailure),
}

/// State of the call attempt that carries over from one target to the
/// next: tags, CSeq, credentials, the ring deadline and the cancel signal.
struct InviteState {
    from_tag: String,
    seq: u32,
    digest: Option<DigestSession>,
    auth: Option<(HeaderName, String)>,
    ring_deadline: tokio::time::Instant,
    cancel: oneshot::Receiver<()>,
    cancelled: bool,
}

async fn run_invite(
    core: &Arc<UaCore>,
    inv: &Invitation<'_>,
    targets: &[Target],
    call_id: &str,
    progress: &queue::Sender<Progress>,
    cancel: oneshot::Receiver<()>,
) -> Result<(), CallFailure> {
    let mut st = InviteState {
        from_tag: util::new_tag(),
        seq: 1,
        digest: inv.opts.credentials.clone().map(DigestSession::new),
        auth: None,
        ring_deadline: tokio::time::Instant::now() + inv.opts.ring_timeout,
        cancel,
        cancelled: false,
    };
    let mut last = CallFailure::unreachable("the destination has no address");
    for target in targets {
        match invite_target(core, inv, *target, call_id, progress, &mut st).await {
            Attempt::Done(result) => return result,
            Attempt::NextTarget(f) => {
                warn!(target = %target.addr, reason = %f.reason, "server unavailable; trying the next one");
                last = f;
            }
        }
    }
    Err(last)
}

/// Places the call through one server address.
async fn invite_target(
    core: &Arc<UaCore>,
    inv: &Invitation<'_>,
    target: Target,
    call_id: &str,
    progress: &queue::Sender<Progress>,
    st: &mut InviteState,
) -> Attempt {
    let dest = target.addr;
    let transport = target.transport;
    let opts = inv.opts;
    let builder = InviteBuilder::new(core, inv, dest, transport, call_id, st.from_tag.clone());
    let silence = core.failover_timeout();
    info!(to = %opts.to, %dest, "placing call");
    loop {
        let invite = builder.build(st.seq, st.auth.as_ref());
        let mut events = core.layer().send_request(OutgoingRequest {
            bytes: invite.bytes.clone(),
            branch: invite.branch.clone(),
            method: Method::Invite,
            dest,
            transport,
        });
        let mut heard = false;
        let mut dialog_call: Option<Arc<CallShared>> = None;
        loop {
            let wait = if heard { None } else { silence };
            let ev = tokio::select! {
                ev = next_event_within(&mut events, wait) => ev,
                // Cancelled, or the Dialing handle dropped, before an
                // answer; after one there is nothing left to cancel.
                _ = &mut st.cancel, if !st.cancelled && dialog_call.is_none() => {
                    st.cancelled = true;
                    send_cancel(&builder, &invite);
                    continue;
                }
                _ = tokio::time::sleep_until(st.ring_deadline), if !st.cancelled && dialog_call.is_none() => {
                    st.cancelled = true;
                    debug!("ring timeout; cancelling");
                    send_cancel(&builder, &invite);
                    continue;
                }
            };
            let Some(ev) = ev else {
                // Transaction over: either answered (handled) or nothing.
                return Attempt::Done(match dialog_call {
                    Some(_) => Ok(()),
                    None => Err(CallFailure::unreachable(
                        "INVITE transaction ended without a final response",
                    )),
                });
            };
            heard = !matches!(ev, ClientEvent::Timeout | ClientEvent::TransportError(_));
            match ev {
                ClientEvent::Provisional(raw) => {
                    let Ok(Message::Response(r)) = Message::parse(&raw) else {
                        continue;
                    };
                    let p = match r.code {
                        100 => Progress::Trying,
                        183 if !r.body.is_empty() => Progress::EarlyMedia {
                            sdp: String::from_utf8_lossy(r.body).into_owned(),
                        },
                        _ => Progress::Ringing,
                    };
                    let _ = progress.send(p);
                }
                ClientEvent::Final(raw) => {
                    let Ok(Message::Response(r)) = Message::parse(&raw) else {
                        continue;
                    };
                    if (200..300).contains(&r.code) {
                        match &dialog_call {
                            Some(shared) => shared.resend_ack(),
                            None => {
                                let answered = answered(&builder, &invite, &r, inv.session.clone())
                                    .await
                                    .map_err(|e| match e {
                                        CallError::Sdp(e) => CallFailure {
                                            kind: FailureKind::Other,
                                            code: Some(488),
                                            reason: e.to_string(),
                                        },
                                        e => CallFailure::unreachable(e.to_string()),
                                    });
                                let (call, shared) = match answered {
                                    Ok(a) => a,
                                    Err(f) => return Attempt::Done(Err(f)),
                                };
                                dialog_call = Some(shared);
                                if st.cancelled {
                                    // Answered as we cancelled: hang up at once.
                                    let _ = call.hangup().await;
                                    return Attempt::Done(Ok(()));
                                }
                                let _ = progress.send(Progress::Answered(call));
                            }
                        }
                        continue;
                    }
                    let challenge = crate::auth::challenge_headers(r.code);
                    if let (Some((header, out)), false) = (challenge, st.cancelled) {
                        if let Some(d) = st.digest.as_mut() {
                            let challenges: Vec<&str> = r.headers.get_all(header).collect();
                            if let Some(value) =
                                d.respond(&challenges, "INVITE", opts.to.as_str(), None)
                            {
                                st.auth = Some((out, value));
                                st.seq += 1;
                                break; // resend with credentials
                            }
                        }
                    }
                    let failure = CallFailure::from_code(r.code, r.reason);
                    if r.code == 503 && !st.cancelled {
                        return Attempt::NextTarget(failure);
                    }
                    return Attempt::Done(Err(failure));
                }
                ClientEvent::Timeout => {
                    let f = CallFailure::unreachable(format!("no response to INVITE from {dest}"));
                    return if st.cancelled {
                        Attempt::Done(Err(f))
                    } else {
                        Attempt::NextTarget(f)
                    };
                }
                ClientEvent::TransportError(e) => {
                    let f = CallFailure::unreachable(e.to_string());
                    return if st.cancelled {
                        Attempt::Done(Err(f))
                    } else {
                        Attempt::NextTarget(f)
                    };
                }
            }
        }
    }
}

fn send_cancel(builder: &InviteBuilder<'_>, invite: &Invite) {
    // RFC 3261 9.1 waits for a provisional response before CANCEL; we send
    // it at once instead, and a far end with nothing to cancel answers 481
    // while the INVITE transaction's own timeout ends the attempt.
    let mut rx = builder.core.layer().send_request(OutgoingRequest {
        bytes: Bytes::from(builder.cancel(invite)),
        branch: invite.branch.clone(),
        method: Method::Cancel,
        dest: builder.dest,
        transport: builder.transport,
    });
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
}

/// The 2xx arrived: form the dialog, send the ACK, make the call.
async fn answered(
    builder: &InviteBuilder<'_>,
    invite: &Invite,
    resp: &Response<'_>,
    mut media: Option<SdpSession>,
) -> Result<(Call, Arc<CallShared>), CallError> {
    let (core, dest, transport) = (builder.core, builder.dest, builder.transport);
    let contact = builder.contact.clone();
    let mut dialog = Dialog::as_uac(&builder.sent(invite), resp, contact, transport, dest)?;
    // RFC 3261 13.2.2.4: the ACK is a new transaction-less request with the
    // INVITE's CSeq number.
    let seq = dialog.local_seq;
    let via_host = core.local_hostport(dest, transport);
    let (b, _branch) = dialog.request(Method::Ack, &via_host, Some(seq));
    let ack = Bytes::from(b.finish());
    let remote_sdp =
        (!resp.body.is_empty()).then(|| String::from_utf8_lossy(resp.body).into_owned());
    let local_sdp = builder.offer_sdp.to_string();
    let mut unusable = None;
    if let (Some(session), Some(answer)) = (media.as_mut(), remote_sdp.as_deref()) {
        if let Err(e) = session.accept_answer(answer) {
            unusable = Some(e);
        }
    }
    let (call, shared) = CallShared::new_uac(core, dialog, local_sdp, remote_sdp, media);
    // The ACK goes where in-dialog requests go: the first route, else the
    // remote target.
    let ack_dest = shared.next_hop().await;
    shared.set_ack(ack, ack_dest);
    shared.resend_ack();
    if let Some(e) = unusable {
        // RFC 3261 13.2.2.4: ACK the 2xx, then end the session with BYE.
        tracing::warn!(error = %e, "unusable SDP answer; hanging up");
        let _ = call.hangup().await;
        return Err(CallError::Sdp(e));
    }
    info!("call answered by the far end");
    Ok((call, shared))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(to: &str) -> DialOptions {
        DialOptions::new(to, Offer::Sdp("v=0\r\n".into())).unwrap()
    }

    #[test]
    fn a_call_goes_to_the_outbound_proxy_else_to_the_host_of_the_uri() {
        let d = dial_destination(&opts("sip:+15551234567@trunk.example.com:5070")).unwrap();
        assert_eq!((d.host.as_str(), d.port), ("trunk.example.com", Some(5070)));
        let o = opts("tel:+15551234567")
            .with_outbound_proxy("edge.example.net")
            .unwrap();
        let d = dial_destination(&o).unwrap();
        assert_eq!((d.host.as_str(), d.port), ("edge.example.net", None));
    }

    #[test]
    fn unusable_dial_settings_are_refused_with_the_setting_named() {
        let e = DialOptions::new("not a uri", Offer::Sdp(String::new())).unwrap_err();
        assert_eq!(e.setting, "to");
        let e = opts("sip:a@b")
            .with_outbound_proxy("host:port")
            .unwrap_err();
        assert_eq!(e.setting, "outbound_proxy");
        let e = opts("sip:a@b").with_from("alice at home").unwrap_err();
        assert_eq!(e.setting, "from");
        let e = CallTarget::parse_setting("transfer_target", "not a uri").unwrap_err();
        assert_eq!(e.setting, "transfer_target");
        match dial_destination(&opts("tel:+15551234567")) {
            Err(CallError::InvalidSetting(e)) => assert_eq!(e.setting, "to"),
            other => panic!("a tel: URI without a proxy must be refused: {other:?}"),
        }
    }
}
