//! Calls as the application sees them: an [`IncomingCall`] to ring, accept,
//! reject or redirect, and an established [`Call`] whose events (ACK,
//! DTMF, re-INVITE, transfer progress, hang-up) arrive on a stream and
//! which can hang up, send DTMF and transfer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::queue;
use crate::util::LockExt;
use bytes::Bytes;
use tokio::sync::watch;
use tracing::{debug, info, info_span, warn, Span};

use crate::dialog::{Dialog, DialogError, DialogId};
use crate::message::{
    percent_decode, HeaderName, Message, MessageBuilder, Method, NameAddr, Request, ResponseHead,
    Uri,
};
use crate::resolve::{CallTarget, InvalidSetting, SipDestination};
use crate::sdp::{Direction, LocalMedia, NegotiatedMedia, SdpError, SdpSession};
use crate::transaction::{ClientEvent, OutgoingRequest, ServerKey, ServerTransaction};
use crate::transport::{Received, Transport, TransportError};
use crate::ua::{DialogUsage, InviteAnswer, PendingInvite, UaCore};
use crate::util;

/// Who is calling, from the headers a trunk uses to say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerId {
    /// The calling number or user (decoded user part), if any.
    pub number: Option<String>,
    /// The display name, if any.
    pub display_name: Option<String>,
    /// The URI the identity came from.
    pub uri: String,
    /// Which header the identity came from.
    pub source: IdentitySource,
    /// The caller withheld their number (anonymous URI or `Privacy: id`).
    pub anonymous: bool,
}

/// The header a [`CallerId`] was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    /// P-Asserted-Identity (RFC 3325), the trunk's assertion.
    PAssertedIdentity,
    /// Remote-Party-ID (the pre-standard form some carriers still send).
    RemotePartyId,
    /// From.
    From,
}

fn is_anonymous_uri(na: &NameAddr<'_>) -> bool {
    let user_anon = na.uri.user.is_some_and(|u| {
        u.eq_ignore_ascii_case("anonymous") || u.eq_ignore_ascii_case("restricted")
    });
    let host_anon = na.uri.host_str.eq_ignore_ascii_case("anonymous.invalid");
    let display_anon = na.display_name().is_some_and(|d| {
        d.eq_ignore_ascii_case("anonymous") || d.eq_ignore_ascii_case("restricted")
    });
    user_anon || host_anon || display_anon
}

impl CallerId {
    /// Reads the caller's identity: P-Asserted-Identity when present, then
    /// Remote-Party-ID, then From. `Privacy: id` (or `user`, `header`,
    /// `full`), an RPID `privacy=full|name|uri`, or an anonymous URI mark
    /// the call anonymous; the asserted number is still given when the
    /// trunk sent one, for records and fraud checks.
    pub fn from_request(req: &Request<'_>) -> CallerId {
        let h = &req.headers;
        let privacy_header = h.get(HeaderName::Privacy).is_some_and(|p| {
            p.split(';').any(|t| {
                let t = t.trim();
                ["id", "user", "header", "full"]
                    .iter()
                    .any(|x| t.eq_ignore_ascii_case(x))
            })
        });
        let candidates = [
            (
                HeaderName::PAssertedIdentity,
                IdentitySource::PAssertedIdentity,
            ),
            (HeaderName::RemotePartyId, IdentitySource::RemotePartyId),
            (HeaderName::From, IdentitySource::From),
        ];
        for (name, source) in candidates {
            // PAI may carry a sip: and a tel: URI; prefer the first usable.
            let Some(na) = h.list(name).find_map(|v| NameAddr::parse(v).ok()) else {
                continue;
            };
            let rpid_private = source == IdentitySource::RemotePartyId
                && na
                    .params
                    .get("privacy")
                    .is_some_and(|p| !p.eq_ignore_ascii_case("off"));
            let anon_uri = is_anonymous_uri(&na);
            let number = na
                .uri
                .user
                .map(|u| String::from_utf8_lossy(&percent_decode(u)).into_owned())
                .filter(|n| !n.eq_ignore_ascii_case("anonymous") && !n.is_empty());
            return CallerId {
                number,
                display_name: na
                    .display_name()
                    .map(|d| d.into_owned())
                    .filter(|d| !d.is_empty()),
                uri: na.uri.raw.to_string(),
                source,
                anonymous: privacy_header || rpid_private || anon_uri,
            };
        }
        CallerId {
            number: None,
            display_name: None,
            uri: String::new(),
            source: IdentitySource::From,
            anonymous: true,
        }
    }
}

/// The number that was dialled: the Request-URI's user part, else the
/// To URI's.
pub fn dialled_number(req: &Request<'_>) -> String {
    let from_uri = |u: &Uri<'_>| {
        u.user
            .map(|s| String::from_utf8_lossy(&percent_decode(s)).into_owned())
    };
    req.uri()
        .ok()
        .and_then(|u| from_uri(&u))
        .or_else(|| req.headers.to().ok().and_then(|t| from_uri(&t.uri)))
        .unwrap_or_default()
}

/// Why a call operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The caller cancelled (or the call was answered elsewhere) first.
    #[error("the call was cancelled before it could be answered")]
    Cancelled,
    /// The call has already ended.
    #[error("the call has ended")]
    Ended,
    /// The request could not form a dialog.
    #[error(transparent)]
    Dialog(#[from] DialogError),
    /// No final response came in time.
    #[error("no response from the far end")]
    Timeout,
    /// The far end refused the request.
    #[error("the far end answered {code} {reason}")]
    Rejected {
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: String,
    },
    /// The request could not be sent (no socket for the address family,
    /// a refused TCP connection, an OS send error).
    #[error(transparent)]
    Transport(Arc<TransportError>),
    /// The far end's response could not be read.
    #[error("the far end's response could not be read")]
    UnreadableResponse,
    /// A value we were given is not usable (bad URI, bad digit).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// A setting of the call cannot be used as it is; the error names it.
    #[error(transparent)]
    InvalidSetting(#[from] InvalidSetting),
    /// Offer/answer failed.
    #[error(transparent)]
    Sdp(#[from] SdpError),
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HangupCause {
    /// The far end sent BYE.
    RemoteBye,
    /// We hung up.
    LocalHangup,
    /// The caller cancelled before answer.
    Cancelled,
    /// The ACK for our 200 OK never came (RFC 3261 13.3.1.4).
    NoAck,
    /// In-dialog requests stopped reaching the far end.
    Failed(String),
    /// Our 200 OK carried the SDP offer (the INVITE or re-INVITE had
    /// none) and the ACK brought no usable answer: none at all, an
    /// unreadable one, or no codec in common. We acknowledged the 200 and
    /// ended the call with BYE (RFC 3261 13.2.1, RFC 6337 3.1); the text
    /// says what was wrong.
    UnusableAnswer(String),
}

/// What happens on an established call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// The ACK for our 200 OK arrived: media may flow both ways.
    Confirmed,
    /// A DTMF digit sent as SIP INFO (`application/dtmf-relay` or
    /// `application/dtmf`).
    Dtmf {
        /// `0`-`9`, `*`, `#`, `A`-`D`, or `F` for flash.
        digit: char,
        /// How long the key was pressed, when the far end said
        /// (`Duration=` of `application/dtmf-relay`, in milliseconds on
        /// the wire).
        duration: Option<Duration>,
    },
    /// The far end changed the session (re-INVITE or UPDATE with SDP):
    /// hold, resume, or a new media address.
    SessionModified {
        /// The new remote SDP.
        remote_sdp: String,
        /// The answer we sent.
        local_sdp: String,
        /// The media now in force, when the call negotiates through an
        /// [`SdpSession`] (see [`IncomingCall::accept_media`]).
        media: Option<NegotiatedMedia>,
    },
    /// A NOTIFY about our REFER: the transfer target's progress.
    TransferProgress {
        /// The status code of the target's response (sipfrag).
        code: u16,
        /// True when the subscription ended with this notification.
        last: bool,
    },
    /// The call ended.
    Hangup(HangupCause),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// 200 sent (or received), ACK not yet seen.
    Answered,
    /// ACK seen.
    Confirmed,
    /// Over.
    Terminated,
}

/// State shared between a call's handle and the endpoint's receive path.
pub(crate) struct CallShared {
    core: Arc<UaCore>,
    id: DialogId,
    dialog: Mutex<Dialog>,
    state: Mutex<CallState>,
    events: queue::Sender<CallEvent>,
    invite_tx: Mutex<Option<ServerTransaction>>,
    local_sdp: Mutex<String>,
    remote_sdp: Mutex<Option<String>>,
    /// Answers a re-INVITE offer with our SDP; set by the application
    /// (see [`Call::set_reoffer_answerer`]).
    answerer: Mutex<Option<Box<dyn ReofferAnswerer>>>,
    /// Offer/answer state when the call negotiates through us.
    sdp: Mutex<Option<SdpSession>>,
    /// For calls we placed: the ACK for the 2xx, re-sent on retransmissions.
    ack: AckCache,
    /// Our 2xx carried an offer (delayed offer): the next ACK must carry
    /// the answer.
    awaiting_answer: AtomicBool,
    /// False while our 2xx to an INVITE waits for its ACK; true once the
    /// ACK came or Timer L gave up on it. Our own requests wait for it, so
    /// none overtakes the 2xx on the wire or breaks RFC 3261 15 (no BYE
    /// before the ACK) and 14.1 (one INVITE transaction at a time).
    ack_settled: watch::Sender<bool>,
    span: Span,
}

/// Answers the SDP offer of a re-INVITE or UPDATE on a call that does not
/// negotiate through an [`SdpSession`] (see
/// [`Call::set_reoffer_answerer`]). A refusal is answered with the
/// error's status ([`SdpError::status`]: 488 for no common codec, 400 for
/// an unreadable offer). Any `Fn(&str) -> Result<String, SdpError>` is one.
pub trait ReofferAnswerer: Send + Sync {
    /// Our SDP answer to `offer`, or why it is refused.
    fn answer(&self, offer: &str) -> Result<String, SdpError>;
}

impl<F> ReofferAnswerer for F
where
    F: Fn(&str) -> Result<String, SdpError> + Send + Sync,
{
    fn answer(&self, offer: &str) -> Result<String, SdpError> {
        self(offer)
    }
}

/// Keeps the bytes and destination of the ACK for a 2xx to an INVITE we
/// sent, so it can be re-sent when the 2xx is retransmitted.
#[derive(Debug, Default)]
struct AckCache(Mutex<Option<(Bytes, SocketAddr)>>);

impl AckCache {
    fn set(&self, ack: Bytes, dest: SocketAddr) {
        *self.0.locked() = Some((ack, dest));
    }

    fn get(&self) -> Option<(Bytes, SocketAddr)> {
        self.0.locked().clone()
    }
}

impl std::fmt::Debug for CallShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A call arriving: ring it, answer it, refuse it or redirect it. Dropping
/// it without a final answer refuses the call with 480 Temporarily
/// Unavailable.
///
/// The INVITE is read once, when it arrives: the dialog it would form,
/// the header fields its responses copy, the caller and the offer are kept
/// and the request is not parsed again.
pub struct IncomingCall {
    core: Arc<UaCore>,
    answer: Arc<InviteAnswer>,
    key: ServerKey,
    /// The dialog answering forms (taken when answered).
    dialog: Option<Dialog>,
    /// Our Contact, in every response that carries one.
    contact: String,
    call_id: String,
    caller: CallerId,
    did: String,
    offer: Option<String>,
    invite: Bytes,
    source: SocketAddr,
    cancelled: watch::Receiver<bool>,
    span: Span,
}

impl std::fmt::Debug for IncomingCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingCall")
            .field("call_id", &self.call_id)
            .field("caller", &self.caller)
            .field("did", &self.did)
            .finish_non_exhaustive()
    }
}

fn sdp_body(msg: &Request<'_>) -> Option<String> {
    let ct = msg.headers.content_type()?;
    if msg.body.is_empty() {
        return None;
    }
    let mt = ct.split(';').next().unwrap_or("").trim();
    if mt.eq_ignore_ascii_case("application/sdp") {
        return Some(String::from_utf8_lossy(msg.body).into_owned());
    }
    if mt.eq_ignore_ascii_case("multipart/mixed") {
        return sdp_from_multipart(ct, msg.body);
    }
    None
}

/// Finds the `application/sdp` part of a multipart/mixed body (RFC 2046).
fn sdp_from_multipart(content_type: &str, body: &[u8]) -> Option<String> {
    let boundary = content_type.split(';').find_map(|p| {
        let (n, v) = p.split_once('=')?;
        n.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })?;
    let text = String::from_utf8_lossy(body);
    let delim = format!("--{boundary}");
    for part in text.split(delim.as_str()).skip(1) {
        let part = part.trim_start_matches(['\r', '\n']);
        let (headers, content) = part
            .split_once("\r\n\r\n")
            .or_else(|| part.split_once("\n\n"))?;
        let is_sdp = headers.lines().any(|l| {
            l.split_once(':').is_some_and(|(n, v)| {
                n.trim().eq_ignore_ascii_case("content-type")
                    && v.trim().to_ascii_lowercase().starts_with("application/sdp")
            })
        });
        if is_sdp {
            return Some(content.trim_end_matches(['\r', '\n']).to_string() + "\r\n");
        }
    }
    None
}

impl IncomingCall {
    pub(crate) fn new(
        core: &Arc<UaCore>,
        req: &Request<'_>,
        rx: &Received,
        tx: ServerTransaction,
    ) -> Result<IncomingCall, DialogError> {
        let call_id = req.headers.call_id().unwrap_or_default().to_string();
        if req.headers.contacts().next().is_none() {
            return Err(DialogError::Header("INVITE without a Contact".into()));
        }
        let span = info_span!("call", call_id = %call_id);
        let local_tag = util::new_tag();
        let contact = core.contact("", rx.source, rx.transport);
        let dialog = Dialog::as_uas(req, &local_tag, contact.clone(), rx.transport, rx.source)?;
        let head = ResponseHead::of(&req.headers, rx.source, Some(&local_tag));
        let key = tx.key().clone();
        let (answer, cancelled) = InviteAnswer::new(head, tx);
        core.add_pending(
            key.clone(),
            PendingInvite::new(local_tag, call_id.clone(), answer.clone()),
        );
        let caller = CallerId::from_request(req);
        let did = dialled_number(req);
        span.in_scope(|| {
            info!(caller = ?caller.number, anonymous = caller.anonymous, %did, source = %rx.source, "incoming call");
        });
        Ok(IncomingCall {
            core: core.clone(),
            answer,
            key,
            dialog: Some(dialog),
            contact,
            call_id,
            caller,
            did,
            offer: sdp_body(req),
            invite: rx.bytes.clone(),
            source: rx.source,
            cancelled,
            span,
        })
    }

    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Who is calling.
    pub fn caller(&self) -> &CallerId {
        &self.caller
    }

    /// The dialled number (DID).
    pub fn did(&self) -> &str {
        &self.did
    }

    /// The caller's SDP offer (absent for a late-offer INVITE).
    pub fn offer(&self) -> Option<&str> {
        self.offer.as_deref()
    }

    /// Where the INVITE came from.
    pub fn source(&self) -> SocketAddr {
        self.source
    }

    /// The raw INVITE, for applications that need a header we do not expose.
    pub fn invite(&self) -> &Bytes {
        &self.invite
    }

    /// The tracing span of this call (carries the Call-ID).
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// True once the caller has cancelled.
    pub fn is_cancelled(&self) -> bool {
        *self.cancelled.borrow()
    }

    /// Resolves when the caller cancels (CANCEL received).
    pub async fn cancelled(&mut self) {
        while !*self.cancelled.borrow() {
            if self.cancelled.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    fn provisional(&self, code: u16, sdp: Option<&str>) {
        if self.answer.is_finished() {
            return;
        }
        let mut b = self.answer.response(&self.core, code);
        b.header(HeaderName::Contact, &self.contact);
        let bytes = match sdp {
            Some(s) => b.body("application/sdp", s.as_bytes()),
            None => b.finish(),
        };
        self.answer.provisional(code, bytes);
    }

    /// Sends 180 Ringing.
    pub fn ring(&self) {
        self.provisional(180, None);
    }

    /// Sends 183 Session Progress with SDP (early media: announcements or
    /// ringback played by us before answering).
    pub fn progress(&self, sdp: &str) {
        self.provisional(183, Some(sdp));
    }

    /// Refuses the call with `code` (486 Busy Here, 603 Decline, 480...).
    pub fn reject(self, code: u16) {
        self.reject_with(code, None);
    }

    /// Refuses the call with `code` and a Reason header (RFC 3326 Q.850
    /// cause, e.g. `Q.850;cause=21`), which carriers pass on.
    pub fn reject_with(mut self, code: u16, reason: Option<&str>) {
        self.finish_non_2xx(code.clamp(300, 699), |b| {
            if let Some(r) = reason {
                b.header(HeaderName::Reason, r);
            }
        });
    }

    /// Redirects the call (302 Moved Temporarily, RFC 3261 21.3.3) to
    /// `target`, sent as the response's Contact.
    pub fn redirect(mut self, target: &CallTarget) {
        self.finish_non_2xx(302, |b| {
            b.header(HeaderName::Contact, format_args!("<{target}>"));
        });
    }

    fn finish_non_2xx(&mut self, code: u16, extra: impl FnOnce(&mut MessageBuilder)) {
        let mut b = self.answer.response(&self.core, code);
        extra(&mut b);
        if self.answer.finish(code, b.finish()) {
            self.core.call_ended();
            self.span.in_scope(|| info!(code, "call refused"));
        }
        self.core.take_pending(&self.key);
    }

    /// Answers with 200 OK carrying `answer_sdp` and returns the
    /// established call. Fails with [`CallError::Cancelled`] when the caller
    /// cancelled first.
    pub fn accept(mut self, answer_sdp: String) -> Result<Call, CallError> {
        self.accept_now(answer_sdp, None)
    }

    /// Negotiates the caller's offer against `local` (PCMU first, PCMA,
    /// `telephone-event`, the offered `ptime`, mirrored direction) and
    /// answers with 200 OK. Re-INVITEs on the call (hold, resume, a new
    /// media address) are then answered the same way and reported as
    /// [`CallEvent::SessionModified`] with the new [`NegotiatedMedia`].
    ///
    /// Without an offer in the INVITE (delayed offer), the 200 OK carries
    /// our offer and the media is known when the ACK brings the answer: it
    /// arrives as [`CallEvent::SessionModified`] and the returned media is
    /// `None`. When the offer has no codec in common the call is refused
    /// with 488 Not Acceptable Here (400 for an unreadable SDP) and the
    /// error is returned.
    pub fn accept_media(
        mut self,
        local: LocalMedia,
    ) -> Result<(Call, Option<NegotiatedMedia>), CallError> {
        let mut session = SdpSession::new(local);
        let (body, media) = match &self.offer {
            Some(offer) => match session.answer(offer) {
                Ok((answer, media)) => (answer, Some(media)),
                Err(e) => {
                    self.span
                        .in_scope(|| warn!(error = %e, "refusing the offer"));
                    let warning = format!("399 - \"{}\"", e.to_string().replace('"', "'"));
                    self.finish_non_2xx(e.status(), |b| {
                        b.header(HeaderName::Warning, &warning);
                    });
                    return Err(CallError::Sdp(e));
                }
            },
            None => (session.offer(), None),
        };
        let call = self.accept_now(body, Some(session))?;
        Ok((call, media))
    }

    fn accept_now(
        &mut self,
        answer_sdp: String,
        sdp: Option<SdpSession>,
    ) -> Result<Call, CallError> {
        let Some(dialog) = self.dialog.take() else {
            return Err(CallError::Ended);
        };
        let mut b = self.answer.response(&self.core, 200);
        b.header(HeaderName::Contact, &self.contact);
        b.header(HeaderName::Allow, self.core.caps().allow_header());
        b.header(HeaderName::Supported, self.core.caps().supported.join(", "));
        let bytes = b.body("application/sdp", answer_sdp.as_bytes());
        let (ev_tx, ev_rx) = queue::unbounded();
        let tx = self.answer.transaction().clone();
        let shared = Arc::new(CallShared {
            core: self.core.clone(),
            id: dialog.id(),
            dialog: Mutex::new(dialog),
            state: Mutex::new(CallState::Answered),
            events: ev_tx,
            invite_tx: Mutex::new(Some(tx.clone())),
            local_sdp: Mutex::new(answer_sdp),
            remote_sdp: Mutex::new(self.offer.clone()),
            answerer: Mutex::new(None),
            // Without an offer in the INVITE our 200 carries one.
            awaiting_answer: AtomicBool::new(self.offer.is_none()),
            ack_settled: watch::channel(false).0,
            sdp: Mutex::new(sdp),
            ack: Default::default(),
            span: self.span.clone(),
        });
        self.core.insert_dialog(shared.id.clone(), shared.clone());
        // Timer L without our 2xx acknowledged: end the call with BYE.
        let weak = Arc::downgrade(&shared);
        tx.on_no_ack(Box::new(move || {
            if let Some(s) = weak.upgrade() {
                s.ack_settled.send_replace(true);
                s.span
                    .in_scope(|| warn!("no ACK for our 200 OK; ending the call"));
                tokio::spawn(s.send_bye_and_end(HangupCause::NoAck));
            }
        }));
        if !self.answer.finish(200, bytes) {
            self.core.remove_dialog(&shared.id);
            return Err(CallError::Cancelled);
        }
        self.core.take_pending(&self.key);
        self.span.in_scope(|| info!("call answered"));
        Ok(Call {
            shared,
            events: ev_rx,
        })
    }
}

impl Drop for IncomingCall {
    fn drop(&mut self) {
        if !self.answer.is_finished() {
            self.finish_non_2xx(480, |_| {});
        }
    }
}

/// An established call (a confirmed or answered INVITE dialog).
#[derive(Debug)]
pub struct Call {
    shared: Arc<CallShared>,
    events: queue::Receiver<CallEvent>,
}

impl Call {
    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        &self.shared.id.call_id
    }

    /// The next event; `None` after the call has ended and all events were read.
    pub async fn next_event(&mut self) -> Option<CallEvent> {
        self.events.recv().await
    }

    /// The remote SDP currently in force.
    pub fn remote_sdp(&self) -> Option<String> {
        self.shared.remote_sdp.locked().clone()
    }

    /// Our SDP currently in force.
    pub fn local_sdp(&self) -> String {
        self.shared.local_sdp.locked().clone()
    }

    /// The tracing span of this call.
    pub fn span(&self) -> &Span {
        &self.shared.span
    }

    /// The media negotiated for the call (codec, payload types, remote RTP
    /// address, direction, ptime), when it negotiates through an
    /// [`SdpSession`]: answered with [`IncomingCall::accept_media`] or
    /// placed with [`DialOptions::with_media`](crate::outbound::DialOptions::with_media).
    pub fn media(&self) -> Option<NegotiatedMedia> {
        self.shared
            .sdp
            .locked()
            .as_ref()
            .and_then(|s| s.negotiated().cloned())
    }

    /// Puts the far end on hold (re-INVITE with `a=sendonly`) or takes it
    /// off hold (`a=sendrecv`). Needs a call that negotiates through an
    /// [`SdpSession`]. Returns the media now in force.
    pub async fn hold(&self, on: bool) -> Result<NegotiatedMedia, CallError> {
        let offer = {
            let mut guard = self.shared.sdp.locked();
            let session = guard
                .as_mut()
                .ok_or_else(|| CallError::Invalid("the call has no SDP session".into()))?;
            session.local_mut().direction = if on {
                Direction::SendOnly
            } else {
                Direction::SendRecv
            };
            session.offer()
        };
        let resp = self
            .shared
            .send_in_dialog(
                Method::Invite,
                |_| {},
                Some(("application/sdp", offer.as_bytes())),
            )
            .await?;
        expect_2xx(&resp)?;
        let answer = match Message::parse(&resp) {
            Ok(Message::Response(r)) => String::from_utf8_lossy(r.body).into_owned(),
            _ => String::new(),
        };
        let media = self
            .shared
            .sdp
            .locked()
            .as_mut()
            .ok_or_else(|| CallError::Invalid("the call has no SDP session".into()))?
            .accept_answer(&answer)
            .map_err(CallError::Sdp)?;
        *self.shared.local_sdp.locked() = offer;
        *self.shared.remote_sdp.locked() = Some(answer);
        Ok(media)
    }

    /// Sets how re-INVITE offers are answered (hold, resume, new media
    /// address). Without one, a re-INVITE is answered with our current SDP.
    pub fn set_reoffer_answerer(&self, answerer: impl ReofferAnswerer + 'static) {
        *self.shared.answerer.locked() = Some(Box::new(answerer));
    }

    /// True while the call is up.
    pub fn is_active(&self) -> bool {
        *self.shared.state.locked() != CallState::Terminated
    }

    /// Hangs up (BYE). Returns once the far end answered the BYE or the
    /// BYE transaction timed out; the call counts as ended at once.
    pub async fn hangup(&self) -> Result<(), CallError> {
        if !self.is_active() {
            return Err(CallError::Ended);
        }
        self.shared
            .clone()
            .send_bye_and_end(HangupCause::LocalHangup)
            .await;
        Ok(())
    }

    /// Sends a DTMF digit as SIP INFO (`application/dtmf-relay`), for
    /// peers that do not take RFC 4733 events in the media. The body says
    /// `duration` in whole milliseconds (rounded to the nearest).
    pub async fn send_dtmf_info(&self, digit: char, duration: Duration) -> Result<(), CallError> {
        let digit = digit.to_ascii_uppercase();
        if !matches!(digit, '0'..='9' | '*' | '#' | 'A'..='D') {
            return Err(CallError::Invalid(format!("{digit:?} is not a DTMF digit")));
        }
        let millis = (duration.as_micros() + 500) / 1000;
        let body = format!("Signal={digit}\r\nDuration={millis}\r\n");
        let resp = self
            .shared
            .send_in_dialog(
                Method::Info,
                |_| {},
                Some(("application/dtmf-relay", body.as_bytes())),
            )
            .await?;
        expect_2xx(&resp)
    }

    /// Blind transfer (RFC 3515): sends REFER with `Refer-To: target`.
    /// Returns once the far end accepted it (202); the target's progress
    /// then arrives as [`CallEvent::TransferProgress`].
    pub async fn transfer(&self, target: &CallTarget) -> Result<(), CallError> {
        let local_uri = self.shared.dialog.locked().local_uri.clone();
        let resp = self
            .shared
            .send_in_dialog(
                Method::Refer,
                |b| {
                    b.header(HeaderName::ReferTo, format_args!("<{target}>"));
                    b.header(HeaderName::ReferredBy, &local_uri);
                },
                None,
            )
            .await?;
        expect_2xx(&resp)
    }
}

fn expect_2xx(raw: &Bytes) -> Result<(), CallError> {
    match Message::parse(raw) {
        Ok(Message::Response(r)) if (200..300).contains(&r.code) => Ok(()),
        Ok(Message::Response(r)) => Err(CallError::Rejected {
            code: r.code,
            reason: r.reason.to_string(),
        }),
        _ => Err(CallError::UnreadableResponse),
    }
}

impl CallShared {
    /// The shared state of a call we placed, answered and about to be ACKed.
    pub(crate) fn new_uac(
        core: &Arc<UaCore>,
        dialog: Dialog,
        local_sdp: String,
        remote_sdp: Option<String>,
        sdp: Option<SdpSession>,
    ) -> (Call, Arc<CallShared>) {
        let (ev_tx, ev_rx) = queue::unbounded();
        let shared = Arc::new(CallShared {
            core: core.clone(),
            id: dialog.id(),
            dialog: Mutex::new(dialog),
            state: Mutex::new(CallState::Confirmed),
            events: ev_tx,
            invite_tx: Mutex::new(None),
            local_sdp: Mutex::new(local_sdp),
            remote_sdp: Mutex::new(remote_sdp),
            answerer: Mutex::new(None),
            sdp: Mutex::new(sdp),
            ack: Default::default(),
            awaiting_answer: AtomicBool::new(false),
            ack_settled: watch::channel(true).0,
            span: Span::current(),
        });
        core.insert_dialog(shared.id.clone(), shared.clone());
        (
            Call {
                shared: shared.clone(),
                events: ev_rx,
            },
            shared,
        )
    }

    /// Records the ACK for our 2xx.
    pub(crate) fn set_ack(&self, ack: Bytes, dest: SocketAddr) {
        self.ack.set(ack, dest);
    }

    /// Sends (again) the ACK for the 2xx we received.
    pub(crate) fn resend_ack(&self) {
        if let Some((ack, dest)) = self.ack.get() {
            let transport = self.dialog.locked().transport;
            self.core.layer().send_stateless(dest, transport, ack);
        }
    }

    /// Ends the call for the application (one Hangup event) and forgets
    /// the dialog. False when it had already ended.
    fn terminate(&self, cause: HangupCause) -> bool {
        let ended = self.end(cause);
        if ended {
            self.core.remove_dialog(&self.id);
        }
        ended
    }

    /// Marks the call ended and tells the application, leaving the dialog
    /// findable (for the ACK we may still wait for).
    fn end(&self, cause: HangupCause) -> bool {
        {
            let mut st = self.state.locked();
            if *st == CallState::Terminated {
                return false;
            }
            *st = CallState::Terminated;
        }
        self.core.call_ended();
        self.span.in_scope(|| info!(?cause, "call ended"));
        let _ = self.events.send(CallEvent::Hangup(cause));
        true
    }

    /// Waits until the ACK for our last 2xx to an INVITE arrived, or
    /// Timer L (64*T1) gave up on it.
    async fn ack_settled(&self) {
        let mut settled = self.ack_settled.subscribe();
        let limit = self.core.layer().timers().t1 * 64;
        let _ = tokio::time::timeout(limit, settled.wait_for(|s| *s)).await;
    }

    async fn send_bye_and_end(self: Arc<Self>, cause: HangupCause) {
        if !self.end(cause) {
            return;
        }
        // RFC 3261 15: no BYE before the ACK of our 2xx; the dialog stays
        // in the table until then so that the ACK finds it.
        self.ack_settled().await;
        self.core.remove_dialog(&self.id);
        if let Err(e) = self.send_in_dialog(Method::Bye, |_| {}, None).await {
            self.span
                .in_scope(|| debug!(error = %e, "BYE not answered"));
        }
    }

    /// Where in-dialog requests go: the dialog's peer for streams and
    /// symmetric signalling, else the route set's first hop or the remote
    /// target, resolved.
    pub(crate) async fn next_hop(&self) -> SocketAddr {
        let (uri, peer, transport, symmetric) = {
            let d = self.dialog.locked();
            (d.next_hop_uri(), d.peer, d.transport, d.symmetric)
        };
        if symmetric || transport == Transport::Tcp {
            return peer;
        }
        let dest = {
            let Ok(u) = Uri::parse(&uri) else { return peer };
            if let Some(ip) = u.host.and_then(|h| h.ip()) {
                return SocketAddr::new(ip, u.port_or_default());
            }
            SipDestination {
                host: u.host_str.to_string(),
                port: u.port,
                transport: Some(transport),
                secure: false,
            }
        };
        // A host name: located as RFC 3263 says, with the endpoint's
        // resolver, like the first request of the call.
        match self.core.resolver().resolve(&dest).await {
            Ok(targets) => targets.first().map_or(peer, |t| t.addr),
            Err(e) => {
                self.span
                    .in_scope(|| debug!(error = %e, "next hop does not resolve; using the peer"));
                peer
            }
        }
    }

    async fn send_in_dialog(
        &self,
        method: Method<'static>,
        extra: impl FnOnce(&mut MessageBuilder),
        body: Option<(&str, &[u8])>,
    ) -> Result<Bytes, CallError> {
        // Our 2xx first, and its ACK (see `ack_settled`).
        self.ack_settled().await;
        let dest = self.next_hop().await;
        let (bytes, branch, transport) = {
            let mut d = self.dialog.locked();
            let via_host = self.core.local_hostport(dest, d.transport);
            let (mut b, branch) = d.request(method, &via_host, None);
            b.header(HeaderName::UserAgent, self.core.user_agent());
            extra(&mut b);
            let bytes = match body {
                Some((ct, body)) => b.body(ct, body),
                None => b.finish(),
            };
            (bytes, branch, d.transport)
        };
        let mut rx = self.core.layer().send_request(OutgoingRequest {
            bytes: Bytes::from(bytes),
            branch,
            method,
            dest,
            transport,
        });
        while let Some(ev) = rx.recv().await {
            match ev {
                ClientEvent::Provisional(_) => continue,
                ClientEvent::Final(b) => return Ok(b),
                ClientEvent::Timeout => return Err(CallError::Timeout),
                ClientEvent::TransportError(e) => return Err(CallError::Transport(e)),
            }
        }
        Err(CallError::Timeout)
    }

    fn ack_received(self: &Arc<Self>, body: &[u8]) {
        if let Some(tx) = self.invite_tx.locked().as_ref() {
            tx.ack_2xx_received();
        }
        self.ack_settled.send_replace(true);
        // Only the first ACK after a 2xx that carried our offer brings the
        // answer; copies of it (for retransmitted 2xx) are ignored, as is
        // SDP in any other ACK (RFC 3264 5: no offer outstanding).
        if self.awaiting_answer.swap(false, Ordering::AcqRel) {
            let answer = if body.is_empty() {
                Err("the ACK carried no answer to the offer in our 200 OK".to_string())
            } else {
                self.on_late_answer(body)
            };
            if let Err(why) = answer {
                self.span.in_scope(
                    || warn!(reason = %why, "unusable answer in the ACK; ending the call"),
                );
                tokio::spawn(
                    self.clone()
                        .send_bye_and_end(HangupCause::UnusableAnswer(why)),
                );
                return;
            }
        }
        let mut st = self.state.locked();
        if *st == CallState::Answered {
            *st = CallState::Confirmed;
            drop(st);
            let _ = self.events.send(CallEvent::Confirmed);
        }
    }

    fn respond(&self, req: &Request<'_>, rx: &Received, tx: &ServerTransaction, code: u16) {
        let b = self.core.response(req, rx.source, code, None);
        tx.respond(code, b.finish());
    }

    fn in_dialog_request(
        self: &Arc<Self>,
        req: &Request<'_>,
        rx: &Received,
        tx: ServerTransaction,
    ) {
        let _g = self.span.enter();
        let Ok(cseq) = req.headers.cseq() else { return };
        {
            let mut d = self.dialog.locked();
            if !d.accept_remote_seq(cseq.seq, req.method) {
                drop(d);
                let mut b = self.core.response(req, rx.source, 500, None);
                b.header(HeaderName::RetryAfter, 1);
                tx.respond(500, b.finish());
                return;
            }
        }
        match req.method {
            Method::Bye => {
                self.respond(req, rx, &tx, 200);
                // A BYE before the ACK of our 2xx ends the dialog: the 2xx
                // is not retransmitted any more, and nothing of ours
                // waits for that ACK.
                if let Some(invite) = self.invite_tx.locked().as_ref() {
                    invite.dialog_ended();
                }
                self.ack_settled.send_replace(true);
                self.terminate(HangupCause::RemoteBye);
            }
            Method::Info => {
                self.respond(req, rx, &tx, 200);
                if let Some((digit, duration)) = parse_dtmf_info(req) {
                    debug!(%digit, "DTMF via INFO");
                    let _ = self.events.send(CallEvent::Dtmf { digit, duration });
                }
            }
            Method::Options => {
                let mut b = self.core.response(req, rx.source, 200, None);
                b.header(HeaderName::Allow, self.core.caps().allow_header());
                tx.respond(200, b.finish());
            }
            Method::Notify => {
                self.respond(req, rx, &tx, 200);
                let is_refer = req.headers.get(HeaderName::Event).is_some_and(|e| {
                    e.split(';')
                        .next()
                        .is_some_and(|t| t.trim().eq_ignore_ascii_case("refer"))
                });
                if is_refer {
                    let code = std::str::from_utf8(req.body)
                        .ok()
                        .and_then(|b| b.split_whitespace().nth(1))
                        .and_then(|c| c.parse::<u16>().ok());
                    let last = req
                        .headers
                        .get(HeaderName::SubscriptionState)
                        .is_some_and(|s| {
                            s.trim_start()
                                .to_ascii_lowercase()
                                .starts_with("terminated")
                        });
                    if let Some(code) = code {
                        let _ = self.events.send(CallEvent::TransferProgress { code, last });
                    }
                }
            }
            Method::Invite | Method::Update => self.on_reoffer(req, rx, tx),
            _ => self.respond(req, rx, &tx, 405),
        }
    }

    /// A re-INVITE or UPDATE: refresh the target, answer the offer (hold,
    /// resume, new address) and tell the application.
    fn on_reoffer(&self, req: &Request<'_>, rx: &Received, tx: ServerTransaction) {
        self.dialog
            .locked()
            .refresh_target(&Message::Request(req.clone()));
        let offer = sdp_body(req);
        // The status of a refused offer (488, or 400 when unreadable).
        let mut refusal = 488;
        // Our answer, and the media in force once it is sent.
        let (answer, media) = match &offer {
            Some(o) => {
                let answerer = self.answerer.locked();
                let mut sdp = self.sdp.locked();
                match (answerer.as_ref(), sdp.as_mut()) {
                    (Some(f), session) => match f.answer(o) {
                        Ok(answer) => (Some(answer), session.and_then(|s| s.negotiated().cloned())),
                        Err(e) => {
                            warn!(error = %e, "the application refuses the re-offer");
                            refusal = e.status();
                            (None, None)
                        }
                    },
                    (None, Some(session)) => match session.answer(o) {
                        Ok((answer, media)) => (Some(answer), Some(media)),
                        Err(e) => {
                            warn!(error = %e, "refusing the re-offer");
                            refusal = e.status();
                            (None, None)
                        }
                    },
                    (None, None) => (Some(self.local_sdp.locked().clone()), None),
                }
            }
            None if req.method == Method::Update => (None, None),
            // A re-INVITE without SDP asks for our offer (answered in the ACK).
            None => match self.sdp.locked().as_mut() {
                Some(session) => (Some(session.offer()), None),
                None => (Some(self.local_sdp.locked().clone()), None),
            },
        };
        if offer.is_some() && answer.is_none() {
            self.respond(req, rx, &tx, refusal);
            return;
        }
        let contact = self.dialog.locked().local_contact.clone();
        let mut b = self.core.response(req, rx.source, 200, None);
        b.header(HeaderName::Contact, contact);
        let bytes = match &answer {
            Some(a) => b.body("application/sdp", a.as_bytes()),
            None => b.finish(),
        };
        if req.method == Method::Invite {
            *self.invite_tx.locked() = Some(tx.clone());
            self.ack_settled.send_replace(false);
            if offer.is_none() {
                // Our 200 carries the offer; the ACK must answer it.
                self.awaiting_answer.store(true, Ordering::Release);
            }
        }
        tx.respond(200, bytes);
        if let (Some(o), Some(a)) = (offer, answer) {
            *self.remote_sdp.locked() = Some(o.clone());
            *self.local_sdp.locked() = a.clone();
            let _ = self.events.send(CallEvent::SessionModified {
                remote_sdp: o,
                local_sdp: a,
                media,
            });
        }
    }

    /// The ACK carried the answer to the offer we put in a 200 OK (delayed
    /// offer, RFC 3261 13.2.1). `Err` says why the answer is unusable.
    fn on_late_answer(&self, body: &[u8]) -> Result<(), String> {
        let answer = String::from_utf8_lossy(body).into_owned();
        let result = self.sdp.locked().as_mut().map(|s| s.accept_answer(&answer));
        match result {
            Some(Ok(media)) => {
                *self.remote_sdp.locked() = Some(answer.clone());
                let local_sdp = self.local_sdp.locked().clone();
                let _ = self.events.send(CallEvent::SessionModified {
                    remote_sdp: answer,
                    local_sdp,
                    media: Some(media),
                });
            }
            Some(Err(e)) => return Err(e.to_string()),
            None => {
                *self.remote_sdp.locked() = Some(answer);
            }
        }
        Ok(())
    }
}

impl DialogUsage for CallShared {
    fn remote_tag(&self) -> String {
        self.dialog.locked().remote_tag.clone()
    }

    fn on_request(self: Arc<Self>, req: &Request<'_>, rx: &Received, tx: ServerTransaction) {
        self.in_dialog_request(req, rx, tx);
    }

    fn on_ack(self: Arc<Self>, body: &[u8]) {
        self.ack_received(body);
    }

    fn on_2xx_retransmission(&self) {
        self.resend_ack();
    }
}

/// Reads a DTMF digit from an INFO body: `application/dtmf-relay`
/// (`Signal=5` / `Duration=160`, milliseconds) or `application/dtmf` (`5`,
/// no duration).
pub fn parse_dtmf_info(req: &Request<'_>) -> Option<(char, Option<Duration>)> {
    let ct = req.headers.content_type()?;
    let mt = ct.split(';').next()?.trim().to_ascii_lowercase();
    let body = std::str::from_utf8(req.body).ok()?;
    let valid = |c: char| {
        let c = c.to_ascii_uppercase();
        matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c)
    };
    match mt.as_str() {
        "application/dtmf-relay" => {
            let mut digit = None;
            let mut duration = None;
            for line in body.lines() {
                let Some((k, v)) = line.split_once('=') else {
                    continue;
                };
                match k.trim().to_ascii_lowercase().as_str() {
                    "signal" => {
                        let v = v.trim();
                        digit = match v {
                            "10" => Some('*'),
                            "11" => Some('#'),
                            "16" => Some('F'),
                            _ => v.chars().next().and_then(|c| {
                                if v.len() == 1 {
                                    valid(c)
                                } else {
                                    None
                                }
                            }),
                        };
                    }
                    "duration" => {
                        duration = v
                            .trim()
                            .parse::<u32>()
                            .ok()
                            .map(|ms| Duration::from_millis(u64::from(ms)))
                    }
                    _ => {}
                }
            }
            digit.map(|d| (d, duration))
        }
        "application/dtmf" => {
            let t = body.trim();
            match t {
                "10" => Some(('*', None)),
                "11" => Some(('#', None)),
                _ if t.len() == 1 => valid(t.chars().next()?).map(|d| (d, None)),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(raw: &[u8]) -> Message<'_> {
        Message::parse(raw).unwrap()
    }

    #[test]
    fn caller_id_prefers_pai_and_detects_privacy() {
        let raw = b"INVITE sip:+15550001111@us SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nFrom: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=1\r\nTo: <sip:+15550001111@us>\r\nP-Asserted-Identity: \"Alice\" <sip:+15551234567@carrier.example>\r\nPrivacy: id\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n";
        let m = req(raw);
        let c = CallerId::from_request(m.as_request().unwrap());
        assert_eq!(c.source, IdentitySource::PAssertedIdentity);
        assert_eq!(c.number.as_deref(), Some("+15551234567"));
        assert_eq!(c.display_name.as_deref(), Some("Alice"));
        assert!(c.anonymous);
        assert_eq!(dialled_number(m.as_request().unwrap()), "+15550001111");
    }

    #[test]
    fn caller_id_from_rpid_and_from() {
        let raw = b"INVITE sip:200@us SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nFrom: <sip:5551000@carrier>;tag=1\r\nTo: <sip:200@us>\r\nRemote-Party-ID: \"Bob\" <sip:5552000@carrier>;party=calling;privacy=full\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n";
        let m = req(raw);
        let c = CallerId::from_request(m.as_request().unwrap());
        assert_eq!(c.source, IdentitySource::RemotePartyId);
        assert_eq!(c.number.as_deref(), Some("5552000"));
        assert!(c.anonymous);

        let raw = b"INVITE sip:200@us SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nFrom: \"Carol\" <sip:5553000@carrier>;tag=1\r\nTo: <sip:200@us>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n";
        let m = req(raw);
        let c = CallerId::from_request(m.as_request().unwrap());
        assert_eq!(c.source, IdentitySource::From);
        assert_eq!(c.number.as_deref(), Some("5553000"));
        assert!(!c.anonymous);
    }

    #[test]
    fn dtmf_info_bodies() {
        let mk = |ct: &str, body: &str| {
            format!(
                "INFO sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: x\r\nCSeq: 2 INFO\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        let r = mk("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n");
        assert_eq!(
            parse_dtmf_info(req(r.as_bytes()).as_request().unwrap()),
            Some(('5', Some(Duration::from_millis(160))))
        );
        let r = mk("application/dtmf-relay", "Signal= #\nDuration= 250\n");
        assert_eq!(
            parse_dtmf_info(req(r.as_bytes()).as_request().unwrap()),
            Some(('#', Some(Duration::from_millis(250))))
        );
        let r = mk("application/dtmf", "11");
        assert_eq!(
            parse_dtmf_info(req(r.as_bytes()).as_request().unwrap()),
            Some(('#', None))
        );
        let r = mk("application/dtmf", "x");
        assert_eq!(
            parse_dtmf_info(req(r.as_bytes()).as_request().unwrap()),
            None
        );
    }

    #[test]
    fn multipart_sdp_is_found() {
        let body = "--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n--b1--\r\n";
        let sdp = sdp_from_multipart("multipart/mixed;boundary=b1", body.as_bytes()).unwrap();
        assert!(sdp.starts_with("v=0\r\no=- 1 1"));
        assert!(sdp_from_multipart("multipart/mixed", body.as_bytes()).is_none());
    }
}
